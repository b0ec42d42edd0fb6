/* The simulated lots: who they are (deterministic from the seed) and their daily occupancy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* Order and spelling as in the city's documents; weights favour the urban districts. Centres
 * are the districts' seats; the spread (degrees each way) is small for the city's districts
 * and larger for the counties, whose lots lie around their towns. */
const struct sim_district sim_districts[] = {
	{"QY", "沁阳市", 112.950, 35.088, 0.040, 10}, {"MZ", "孟州市", 112.791, 34.907, 0.040, 9},
	{"WX", "温县", 113.081, 34.941, 0.035, 8},    {"BA", "博爱县", 113.065, 35.171, 0.035, 8},
	{"WZ", "武陟县", 113.401, 35.099, 0.040, 9},  {"XW", "修武县", 113.447, 35.223, 0.035, 8},
	{"JF", "解放区", 113.226, 35.240, 0.015, 14}, {"SY", "山阳区", 113.255, 35.215, 0.018, 14},
	{"MC", "马村区", 113.322, 35.256, 0.018, 6},  {"ZZ", "中站区", 113.182, 35.237, 0.018, 7},
	{"GX", "高新区", 113.290, 35.262, 0.015, 9},
};
const int sim_n_districts = (int)(sizeof(sim_districts) / sizeof(sim_districts[0]));

struct type_info {
	const char *name;
	unsigned weight;
	int min_spaces, max_spaces;
	const char *const *places;
	int n_places;
};

static const char *const commercial_places[] = {
	"万达广场",	"摩登街",     "丹尼斯百货", "大商新玛特", "苏宁广场", "建业凯旋广场",
	"人民路商业街", "东方红商场", "宝龙广场",   "世纪联华",	  "步行街",   "国贸中心",
};
static const char *const residential_places[] = {
	"锦绣花园", "阳光小区", "幸福家园", "翰林苑",	"和谐家园", "森林半岛",
	"东方今典", "碧桂园",	"怡景苑",   "南苑小区", "龙源小区", "建业城",
};
static const char *const hospital_places[] = {
	"人民医院", "第二人民医院", "中医院",	    "妇幼保健院",
	"中心医院", "骨科医院",	    "第五人民医院", "眼科医院",
};
static const char *const office_places[] = {
	"市民之家", "行政服务中心", "税务大厦", "科技大厦",
	"金融中心", "城建大厦",	    "政务中心", "电力大厦",
};
static const char *const scenic_places[] = {
	"云台山", "青天河", "神农山", "缝山公园", "龙源湖公园", "圆融寺",
	"陈家沟", "嘉应观", "影视城", "月山寺",	  "人民公园",	"森林公园",
};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct type_info types[LOT__TYPES] = {
	[LOT_COMMERCIAL] = {"commercial", 30, 150, 1500, commercial_places,
			    N_OF(commercial_places)},
	[LOT_RESIDENTIAL] = {"residential", 30, 50, 800, residential_places,
			     N_OF(residential_places)},
	[LOT_HOSPITAL] = {"hospital", 10, 100, 600, hospital_places, N_OF(hospital_places)},
	[LOT_OFFICE] = {"office", 18, 20, 400, office_places, N_OF(office_places)},
	[LOT_SCENIC] = {"scenic", 12, 20, 1000, scenic_places, N_OF(scenic_places)},
};

static const char *const suffixes[] = {
	"停车场",     "停车场",	    "停车场",	  "地下停车场", "地面停车场",
	"立体停车库", "东门停车场", "西门停车场", "南区停车场", "北区停车场",
};

const char *lots__type_name(enum sim_lot_type t)
{
	return types[t].name;
}

static int pick_weighted(uint64_t *rng, const unsigned *weights, int n)
{
	unsigned total = 0;
	for (int i = 0; i < n; i++)
		total += weights[i];
	unsigned r = (unsigned)(sim_next(rng) % total);
	for (int i = 0; i < n; i++) {
		if (r < weights[i])
			return i;
		r -= weights[i];
	}
	return n - 1;
}

/* Names repeat across a city ("人民医院停车场"); a set of name hashes tells which need a 2号. */
struct name_set {
	uint64_t *slots;
	size_t mask;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h | 1; /* 0 marks an empty slot */
}

/* Adds the name; false if it was already there. */
static bool name_set_add(struct name_set *set, const char *name)
{
	uint64_t h = name_hash(name);
	for (size_t i = h & set->mask;; i = (i + 1) & set->mask) {
		if (set->slots[i] == h)
			return false;
		if (set->slots[i] == 0) {
			set->slots[i] = h;
			return true;
		}
	}
}

static void make_name(struct sim_lot *lot, uint64_t *rng, struct name_set *names)
{
	const struct type_info *ti = &types[lot->type];
	const char *place = ti->places[sim_next(rng) % (uint64_t)ti->n_places];
	const char *suffix = suffixes[sim_next(rng) % (uint64_t)N_OF(suffixes)];
	int quirk = sim_range(rng, 0, 99);
	char base[SIM_LOT_NAME_MAX - 16]; /* room for a "12号" */

	/* A few registry names carry ASCII commas or quotes, as hand-typed ledgers do. */
	if (quirk < 2)
		snprintf(base, sizeof(base), "%s %s（A区,B区）%s", lot->district->name, place,
			 suffix);
	else if (quirk < 4)
		snprintf(base, sizeof(base), "%s \"%s\"%s", lot->district->name, place, suffix);
	else
		snprintf(base, sizeof(base), "%s %s%s", lot->district->name, place, suffix);

	snprintf(lot->name, sizeof(lot->name), "%s", base);
	for (int n = 2; !name_set_add(names, lot->name); n++)
		snprintf(lot->name, sizeof(lot->name), "%s%d号", base, n);
}

static void make_hours(struct sim_lot *lot, uint64_t *rng)
{
	int r = sim_range(rng, 0, 99);

	lot->close_from = lot->close_to = -1;
	if (lot->type == LOT_SCENIC && r < 60) {
		lot->close_from = 18;
		lot->close_to = 7;
	} else if (lot->type == LOT_OFFICE && r < 40) {
		lot->close_from = 21;
		lot->close_to = 7;
	} else if (lot->type == LOT_COMMERCIAL && r < 15) {
		lot->close_from = 23;
		lot->close_to = 8;
	}
}

/*
 * Lot i depends only on the seed and the lots before it, so --lots 100 and --lots 1000 share
 * their first 100 lots, and the CSV and the traffic of one seed describe the same city.
 */
struct sim_lot *lots__make(int n, uint64_t seed, unsigned formats)
{
	struct sim_lot *lots = calloc((size_t)n, sizeof(*lots));
	int per_district[32] = {0};
	unsigned dweights[32], tweights[LOT__TYPES];
	int enabled[FMT__COUNT], n_enabled = 0;
	struct name_set names;
	size_t cap = 64;

	while (cap < (size_t)n * 2)
		cap <<= 1;
	names.slots = calloc(cap, sizeof(*names.slots));
	names.mask = cap - 1;
	if (!lots || !names.slots) {
		free(lots);
		free(names.slots);
		return NULL;
	}
	for (int i = 0; i < sim_n_districts; i++)
		dweights[i] = sim_districts[i].weight;
	for (int i = 0; i < LOT__TYPES; i++)
		tweights[i] = types[i].weight;
	for (int f = 0; f < FMT__COUNT; f++)
		if (formats & (1u << f))
			enabled[n_enabled++] = f;

	for (int i = 0; i < n; i++) {
		struct sim_lot *lot = &lots[i];
		uint64_t rng = sim_mix(seed * 0x100000001b3ULL + (uint64_t)i);
		int d = pick_weighted(&rng, dweights, sim_n_districts);

		lot->district = &sim_districts[d];
		snprintf(lot->id, sizeof(lot->id), "JZ-%s-%03d", lot->district->code,
			 ++per_district[d]);
		lot->type = (enum sim_lot_type)pick_weighted(&rng, tweights, LOT__TYPES);
		lot->spaces =
			sim_range(&rng, types[lot->type].min_spaces, types[lot->type].max_spaces);
		if (sim_range(&rng, 0, 99) < 30)
			lot->out_of_service = 1 + lot->spaces * sim_range(&rng, 0, 3) / 100;
		lot->peak = 0.8 + 0.3 * sim_unit(&rng);
		lot->shift_s = sim_range(&rng, -45, 45) * 60;
		make_hours(lot, &rng);
		make_name(lot, &rng, &names);
		lot->lon = lot->district->lon + 2 * lot->district->spread * (sim_unit(&rng) - 0.5);
		lot->lat = lot->district->lat + 2 * lot->district->spread * (sim_unit(&rng) - 0.5);
		/* Round robin in enum order, so a test knows which format lot i speaks. */
		lot->format = n_enabled ? (enum sim_format)enabled[i % n_enabled] : FMT_NATIVE;
		lot->variant = (int)(sim_next(&rng) % 4);
		lot->key = sim_next(&rng);
		lot->status_kind = (int)(sim_next(&rng) % 1000);
	}
	free(names.slots);
	return lots;
}

/* A daily curve: occupied fraction at hours 0..24, linearly interpolated. */
struct point {
	float hour, frac;
};

struct curve {
	const struct point *weekday, *weekend;
	int n_weekday, n_weekend;
};

static const struct point commercial_wd[] = {
	{0, .08f},  {7, .06f},	{9, .15f},  {11, .45f}, {13, .60f}, {15, .70f},
	{17, .72f}, {19, .88f}, {21, .80f}, {22, .50f}, {23, .20f}, {24, .08f},
};
static const struct point commercial_we[] = {
	{0, .10f},  {7, .06f},	{9, .25f},  {11, .65f}, {13, .80f}, {15, .90f},
	{17, .88f}, {19, .95f}, {21, .85f}, {22, .55f}, {23, .25f}, {24, .10f},
};
static const struct point residential_wd[] = {
	{0, .95f},  {6, .95f},	{7, .80f},  {9, .50f},	{12, .45f},
	{16, .48f}, {18, .70f}, {20, .88f}, {22, .94f}, {24, .95f},
};
static const struct point residential_we[] = {
	{0, .95f}, {8, .90f}, {10, .70f}, {14, .65f}, {18, .78f}, {21, .90f}, {24, .95f},
};
static const struct point hospital_wd[] = {
	{0, .20f},  {6, .25f},	{7, .55f},  {8, .90f},	{10, .98f}, {11, .92f},
	{12, .70f}, {14, .80f}, {16, .75f}, {18, .45f}, {20, .30f}, {24, .20f},
};
static const struct point hospital_we[] = {
	{0, .20f}, {7, .35f}, {9, .65f}, {11, .60f}, {14, .50f}, {17, .40f}, {20, .25f}, {24, .20f},
};
static const struct point office_wd[] = {
	{0, .05f},  {7, .08f},	{8, .40f},  {9, .88f},	{12, .80f}, {13, .85f},
	{17, .85f}, {18, .50f}, {19, .20f}, {21, .10f}, {24, .05f},
};
static const struct point office_we[] = {
	{0, .05f}, {9, .10f}, {12, .15f}, {16, .12f}, {20, .06f}, {24, .05f},
};
static const struct point scenic_wd[] = {
	{0, .02f},  {7, .03f},	{9, .20f},  {11, .35f}, {14, .40f},
	{16, .30f}, {18, .08f}, {20, .03f}, {24, .02f},
};
static const struct point scenic_we[] = {
	{0, .03f},  {7, .10f},	{9, .55f},  {11, .90f}, {14, .97f},
	{16, .80f}, {18, .25f}, {20, .06f}, {24, .03f},
};

#define CURVE(wd, we)                                                                              \
	{                                                                                          \
		wd, we, N_OF(wd), N_OF(we)                                                         \
	}
static const struct curve curves[LOT__TYPES] = {
	[LOT_COMMERCIAL] = CURVE(commercial_wd, commercial_we),
	[LOT_RESIDENTIAL] = CURVE(residential_wd, residential_we),
	[LOT_HOSPITAL] = CURVE(hospital_wd, hospital_we),
	[LOT_OFFICE] = CURVE(office_wd, office_we),
	[LOT_SCENIC] = CURVE(scenic_wd, scenic_we),
};

static double interpolate(const struct point *p, int n, double hour)
{
	for (int i = 1; i < n; i++) {
		if (hour <= p[i].hour) {
			double span = p[i].hour - p[i - 1].hour;
			double w = span > 0 ? (hour - p[i - 1].hour) / span : 0;
			return p[i - 1].frac + w * (p[i].frac - p[i - 1].frac);
		}
	}
	return p[n - 1].frac;
}

/* Smooth noise in [-1, 1]: hashed values every 10 minutes, interpolated (no state to keep). */
static double smooth_noise(uint64_t key, int64_t t_s)
{
	int64_t cell = t_s / 600;
	double w = (double)(t_s % 600) / 600.0;
	double a = (double)(sim_mix(key ^ (uint64_t)cell) >> 11) * 0x1.0p-53;
	double b = (double)(sim_mix(key ^ (uint64_t)(cell + 1)) >> 11) * 0x1.0p-53;
	return 2.0 * (a + w * (b - a)) - 1.0;
}

static bool closed_at(const struct sim_lot *lot, int hour)
{
	if (lot->close_from < 0)
		return false;
	if (lot->close_from > lot->close_to)
		return hour >= lot->close_from || hour < lot->close_to;
	return hour >= lot->close_from && hour < lot->close_to;
}

/*
 * Occupancy is a pure function of the lot and the time, so sequenced, shuffled and repeated
 * runs agree on what a lot reported at a given instant.
 */
void lots__occupancy(const struct sim_lot *lot, int64_t t_ms, struct sim_occupancy *out)
{
	int64_t t_s = t_ms / 1000;
	int64_t local = t_s + SIM_TZ_OFFSET_S + lot->shift_s;
	int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	int64_t sod = local - day * 86400;
	int wday = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; 0 = Monday */
	const struct curve *c = &curves[lot->type];
	double hour = (double)sod / 3600.0;
	double frac = wday >= 5 ? interpolate(c->weekend, c->n_weekend, hour)
				: interpolate(c->weekday, c->n_weekday, hour);
	int in_service = lot->spaces - lot->out_of_service;
	double jitter = (double)(sim_mix(lot->key + (uint64_t)t_ms) >> 11) * 0x1.0p-53 - 0.5;
	int occupied;

	frac = frac * lot->peak + 0.06 * smooth_noise(lot->key, t_s) + 0.01 * jitter;
	occupied = (int)lround(frac * in_service);
	if (occupied < 0)
		occupied = 0;

	out->total = lot->spaces;
	out->status = SIM_OPEN;
	if (occupied >= in_service) {
		occupied = in_service;
		out->status = SIM_FULL;
	}
	/* Hour of the real clock, not the shifted curve: gates close on time. */
	if (closed_at(lot, (int)(((t_s + SIM_TZ_OFFSET_S) % 86400 + 86400) % 86400 / 3600)))
		out->status = SIM_CLOSED;
	out->occupied = occupied;
	/* DATEX II: a closed site reports no vacant spaces, whatever is physically empty. */
	out->free = out->status == SIM_OPEN ? in_service - occupied : 0;
}

static const char *const systems[] = {
	"JieShun JSST", "KeyTop", "Fujica", "Hongmen", "Reformer", "Anjubao",
};
static const char *const versions[] = {"2.1", "3.0", "3.2", "4.1", "5.0"};
static const char *const other_protocols[] = {"vendor/2", "jieshun/1.0", "keytop-cloud/3"};

/* What the lot's controller says about itself; most already speak the city's protocol. */
void lots__status(const struct sim_lot *lot, const char **system, const char **version,
		  const char **protocol)
{
	int k = lot->status_kind;

	*system = systems[k % N_OF(systems)];
	*version = versions[(k / 7) % N_OF(versions)];
	*protocol = k % 100 < 75 ? "parkfeed/1" : other_protocols[(k / 11) % N_OF(other_protocols)];
}
