/* --emit-lots-csv: the registry file for `parkfeedctl lots import`, same lots as the traffic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

/* RFC 4180: quote a field holding a comma, quote or line break, doubling inner quotes. */
static void put_field(const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	putchar(last ? '\n' : ',');
}

/* Streets for plausible addresses; the number makes each one distinct enough for a demo. */
static const char *const streets[] = {
	"人民路", "解放路", "塔南路", "民主路", "建设路", "丰收路", "中原路", "山阳路",
	"焦东路", "太行路", "迎宾路", "和平街", "站前路", "新华街", "工业路", "文化路",
};

static void make_address(const struct sim_lot *lot, uint64_t seed, int i, char *buf, size_t len)
{
	/* Its own stream: the other columns of the file stay what they were for a seed. */
	uint64_t rng = sim_mix(seed ^ sim_mix(0xadd7ULL + (uint64_t)i));
	const char *street = streets[sim_next(&rng) % (sizeof(streets) / sizeof(streets[0]))];

	snprintf(buf, len, "焦作市%s%s%d号", lot->district->name, street, sim_range(&rng, 1, 399));
}

static const char *const stage_names[] = {"planned", "upgrading", "upgraded", "connected",
					  "accepted"};
static const unsigned stage_weights[] = {20, 25, 20, 20, 15};

/* Days before today when a lot entered its current stage: later stages, more recent dates. */
static const int stage_age[][2] = {{300, 500}, {120, 299}, {60, 199}, {10, 119}, {1, 59}};

static int pick_stage(uint64_t *rng)
{
	unsigned r = (unsigned)(sim_next(rng) % 100);
	for (int i = 0; i < 5; i++) {
		if (r < stage_weights[i])
			return i;
		r -= stage_weights[i];
	}
	return 4;
}

int csv__emit(int n, uint64_t seed, bool with_stages, int64_t now_s)
{
	struct sim_lot *lots = lots__make(n, seed, 1u << FMT_NATIVE);
	int64_t local_now = now_s + SIM_TZ_OFFSET_S;
	time_t tt = (time_t)local_now;
	struct tm tm;
	char spaces[16], deadline[11], stage_at[11], lon[24], lat[24], address[160];

	if (!lots) {
		fprintf(stderr, "parkfeed-sim: out of memory for %d lots\n", n);
		return 1;
	}
	gmtime_r(&tt, &tm);
	/* Deadlines fall in this year (some passed already) or, for most lots, the next. */
	struct tm jan1 = {.tm_year = tm.tm_year, .tm_mon = 0, .tm_mday = 1};
	struct tm jan1_next = {.tm_year = tm.tm_year + 1, .tm_mon = 0, .tm_mday = 1};
	int64_t this_year = (int64_t)timegm(&jan1) / 86400;
	int64_t next_year = (int64_t)timegm(&jan1_next) / 86400;

	fputs(with_stages ? "lot_id,name,district,spaces,deadline,stage,stage_at,lon,lat,address\n"
			  : "lot_id,name,district,spaces,deadline,lon,lat,address\n",
	      stdout);
	for (int i = 0; i < n; i++) {
		const struct sim_lot *lot = &lots[i];
		uint64_t rng = sim_mix(seed ^ sim_mix(0xc5f1ULL + (uint64_t)i));

		int64_t year = sim_range(&rng, 0, 99) < 30 ? this_year : next_year;

		snprintf(spaces, sizeof(spaces), "%d", lot->spaces);
		payload__local_date((year + sim_range(&rng, 0, 364)) * 86400 - SIM_TZ_OFFSET_S,
				    deadline);
		put_field(lot->id, false);
		put_field(lot->name, false);
		put_field(lot->district->name, false);
		put_field(spaces, false);
		put_field(deadline, false);
		if (with_stages) {
			int st = pick_stage(&rng);
			int age = sim_range(&rng, stage_age[st][0], stage_age[st][1]);

			payload__local_date(now_s - (int64_t)age * 86400, stage_at);
			put_field(stage_names[st], false);
			put_field(stage_at, false);
		}
		snprintf(lon, sizeof(lon), "%.6f", lot->lon);
		snprintf(lat, sizeof(lat), "%.6f", lot->lat);
		make_address(lot, seed, i, address, sizeof(address));
		put_field(lon, false);
		put_field(lat, false);
		put_field(address, true);
	}
	free(lots);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("parkfeed-sim: writing the CSV");
		return 1;
	}
	return 0;
}
