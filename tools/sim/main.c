/* parkfeed-sim: command line. Simulates Jiaozuo's lot controllers publishing occupancy. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#ifndef PF_SIM_VERSION
#define PF_SIM_VERSION "dev"
#endif

#define EXIT_USAGE 2

static const char usage_text[] =
	"Usage: parkfeed-sim [OPTION]...\n"
	"Simulates parking-lot controllers in Jiaozuo's 11 districts publishing occupancy over MQTT\n"
	"(topics <prefix>/<lot_id>/occupancy and /status), for demos, tests and load.\n"
	"\n"
	"Broker:\n"
	"  --host H             broker address (default 127.0.0.1)\n"
	"  --port P             broker port (default 1883)\n"
	"  --prefix P           topic prefix (default parking)\n"
	"  --qos 0|1            QoS of every publish (default 1)\n"
	"  --client-id ID       MQTT client id (default parkfeed-sim-<pid>)\n"
	"  --username U         MQTT user name\n"
	"  --password-file F    file whose first line is the MQTT password\n"
	"  --keepalive S        MQTT keepalive in seconds (default 60)\n"
	"\n"
	"Lots (deterministic from the seed; lot i is the same whatever --lots says):\n"
	"  --lots N             number of lots JZ-<district>-<nnn> (default 100)\n"
	"  --seed S             seed of the whole simulation (default 1)\n"
	"  --formats LIST       comma-separated native,vendor,fiware,ngsi-ld, or mixed (all four);\n"
	"                       lot i speaks the (i mod n)-th chosen one, counted in the order\n"
	"                       native, vendor, fiware, ngsi-ld (default native)\n"
	"  --emit-lots-csv N    print the CSV for `parkfeedctl lots import` for N lots and exit\n"
	"                       (positions lon,lat in WGS-84 around each district's seat, and\n"
	"                       addresses, included)\n"
	"  --with-stages        with --emit-lots-csv: add stage,stage_at columns\n"
	"\n"
	"Traffic (lots report in turn; occupancy follows each lot type's day in Asia/Shanghai):\n"
	"  --interval S         seconds between two reports of one lot (default 30)\n"
	"  --rate R             occupancy publishes per second overall, duplicates included\n"
	"                       (default: lots / interval)\n"
	"  --burst              publish as fast as the broker acknowledges (load test); packs\n"
	"                       many PUBLISH packets per write instead of going through libmosquitto\n"
	"  --unbatched          with --burst: publish through libmosquitto, one write per message\n"
	"  --duration S         stop after S seconds\n"
	"  --count N            stop after exactly N occupancy messages (good + bad, duplicates\n"
	"                       not counted)\n"
	"  --window N           most QoS 1 messages unacknowledged at once (default 20000, max 60000)\n"
	"  --seq                exact traffic: a lot's k-th message has seq k and is observed at\n"
	"                       base time + k seconds, so every (lot_id, observed_at) is distinct\n"
	"  --base-time EPOCH_S  base time for --seq (default: now - 1 day, or earlier so that no\n"
	"                       observation lies in the future)\n"
	"  --stamp              ts = publish wall-clock time in epoch ms (latency measurement)\n"
	"  --status             first publish each lot's retained status {\"online\":true,...}\n"
	"  --offline-on-exit    at the end publish a retained {\"online\":false} for each lot\n"
	"\n"
	"Faults:\n"
	"  --bad-ratio F        fraction 0..1 of messages that are bad (json syntax, free > total,\n"
	"                       missing ts, future ts, bad UTF-8, wrong id, bad topic, too large)\n"
	"  --max-payload B      the daemon's max_payload: enables too-large messages of > B bytes\n"
	"  --duplicates F       fraction 0..1 of good messages published a second time, identically\n"
	"  --shuffle            publish in random order within a window (out-of-order arrival)\n"
	"  --shuffle-window N   messages the shuffle draws from (default 1000)\n"
	"\n"
	"  -h, --help           show this help and exit\n"
	"  --version            show the version and exit\n"
	"\n"
	"At the end stdout has one line:\n"
	"  published N good G bad B duplicates D in T s (R msg/s)\n"
	"after every publish was acknowledged (QoS 1: PUBACK). Exit status: 0 on success, 1 if the\n"
	"broker could not be reached or did not acknowledge everything, 2 for a usage error.\n";

enum opt_id {
	OPT_HOST = 256,
	OPT_PORT,
	OPT_PREFIX,
	OPT_QOS,
	OPT_CLIENT_ID,
	OPT_USERNAME,
	OPT_PASSWORD_FILE,
	OPT_KEEPALIVE,
	OPT_LOTS,
	OPT_SEED,
	OPT_FORMATS,
	OPT_EMIT_CSV,
	OPT_WITH_STAGES,
	OPT_INTERVAL,
	OPT_RATE,
	OPT_BURST,
	OPT_DURATION,
	OPT_COUNT,
	OPT_WINDOW,
	OPT_SEQ,
	OPT_BASE_TIME,
	OPT_STAMP,
	OPT_STATUS,
	OPT_OFFLINE,
	OPT_BAD_RATIO,
	OPT_MAX_PAYLOAD,
	OPT_DUPLICATES,
	OPT_SHUFFLE,
	OPT_SHUFFLE_WINDOW,
	OPT_VERSION,
	OPT_UNBATCHED,
};

static const struct option long_options[] = {
	{"host", required_argument, NULL, OPT_HOST},
	{"port", required_argument, NULL, OPT_PORT},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"qos", required_argument, NULL, OPT_QOS},
	{"client-id", required_argument, NULL, OPT_CLIENT_ID},
	{"username", required_argument, NULL, OPT_USERNAME},
	{"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
	{"keepalive", required_argument, NULL, OPT_KEEPALIVE},
	{"lots", required_argument, NULL, OPT_LOTS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"formats", required_argument, NULL, OPT_FORMATS},
	{"emit-lots-csv", required_argument, NULL, OPT_EMIT_CSV},
	{"with-stages", no_argument, NULL, OPT_WITH_STAGES},
	{"interval", required_argument, NULL, OPT_INTERVAL},
	{"rate", required_argument, NULL, OPT_RATE},
	{"burst", no_argument, NULL, OPT_BURST},
	{"unbatched", no_argument, NULL, OPT_UNBATCHED},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"count", required_argument, NULL, OPT_COUNT},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"seq", no_argument, NULL, OPT_SEQ},
	{"base-time", required_argument, NULL, OPT_BASE_TIME},
	{"stamp", no_argument, NULL, OPT_STAMP},
	{"status", no_argument, NULL, OPT_STATUS},
	{"offline-on-exit", no_argument, NULL, OPT_OFFLINE},
	{"bad-ratio", required_argument, NULL, OPT_BAD_RATIO},
	{"max-payload", required_argument, NULL, OPT_MAX_PAYLOAD},
	{"duplicates", required_argument, NULL, OPT_DUPLICATES},
	{"shuffle", no_argument, NULL, OPT_SHUFFLE},
	{"shuffle-window", required_argument, NULL, OPT_SHUFFLE_WINDOW},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("parkfeed-sim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'parkfeed-sim --help' for the options.\n", stderr);
	exit(EXIT_USAGE);
}

static long long parse_int(const char *opt, const char *arg, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		usage_error("--%s wants an integer in %lld..%lld, not '%s'", opt, min, max, arg);
	return v;
}

static double parse_num(const char *opt, const char *arg, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < min || v > max)
		usage_error("--%s wants a number in %g..%g, not '%s'", opt, min, max, arg);
	return v;
}

static unsigned parse_formats(const char *arg)
{
	char buf[256], *save = NULL;
	unsigned mask = 0;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int f = payload__format_from_name(tok);

		if (strcmp(tok, "mixed") == 0)
			mask |= (1u << FMT__COUNT) - 1;
		else if (f < 0)
			usage_error("--formats: unknown format '%s' (use native, vendor, fiware, "
				    "ngsi-ld or mixed)",
				    tok);
		else
			mask |= 1u << f;
	}
	if (!mask)
		usage_error("--formats: name one or more of native, vendor, fiware, ngsi-ld, "
			    "mixed");
	return mask;
}

static void defaults(struct sim_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 1883;
	o->prefix = "parking";
	o->qos = 1;
	snprintf(o->client_id, sizeof(o->client_id), "parkfeed-sim-%ld", (long)getpid());
	o->keepalive = 60;
	o->lots = 100;
	o->seed = 1;
	o->formats = 1u << FMT_NATIVE;
	o->interval = 30;
	o->window = 20000;
	o->shuffle_window = 1000;
}

static void parse_option(struct sim_opts *o, int c, const char *arg)
{
	const char *name = "";

	for (const struct option *lo = long_options; lo->name; lo++)
		if (lo->val == c)
			name = lo->name;
	switch (c) {
	case OPT_HOST:
		o->host = arg;
		break;
	case OPT_PORT:
		o->port = (int)parse_int(name, arg, 1, 65535);
		break;
	case OPT_PREFIX:
		if (!*arg || strpbrk(arg, "+#"))
			usage_error("--prefix must be a non-empty topic without + or #");
		o->prefix = arg;
		break;
	case OPT_QOS:
		o->qos = (int)parse_int(name, arg, 0, 1);
		break;
	case OPT_CLIENT_ID:
		if (!*arg || strlen(arg) >= sizeof(o->client_id))
			usage_error("--client-id must be 1..%zu bytes", sizeof(o->client_id) - 1);
		snprintf(o->client_id, sizeof(o->client_id), "%s", arg);
		break;
	case OPT_USERNAME:
		o->username = arg;
		break;
	case OPT_PASSWORD_FILE:
		o->password_file = arg;
		break;
	case OPT_KEEPALIVE:
		o->keepalive = (int)parse_int(name, arg, 5, 65535);
		break;
	case OPT_LOTS:
		o->lots = (int)parse_int(name, arg, 1, 1000000);
		break;
	case OPT_SEED:
		o->seed = (uint64_t)parse_int(name, arg, 0, INT64_MAX);
		break;
	case OPT_FORMATS:
		o->formats = parse_formats(arg);
		break;
	case OPT_EMIT_CSV:
		o->emit_csv = (int)parse_int(name, arg, 1, 1000000);
		break;
	case OPT_WITH_STAGES:
		o->with_stages = true;
		break;
	case OPT_INTERVAL:
		o->interval = parse_num(name, arg, 0.001, 86400);
		break;
	case OPT_RATE:
		o->rate = parse_num(name, arg, 0.001, 1e9);
		break;
	case OPT_BURST:
		o->burst = true;
		break;
	case OPT_UNBATCHED:
		o->unbatched = true;
		break;
	case OPT_DURATION:
		o->duration = parse_num(name, arg, 0.001, 1e9);
		break;
	case OPT_COUNT:
		o->count = parse_int(name, arg, 1, INT64_MAX / 2);
		break;
	case OPT_WINDOW:
		o->window = (int)parse_int(name, arg, 1, 60000);
		break;
	case OPT_SEQ:
		o->seq = true;
		break;
	case OPT_BASE_TIME:
		o->base_time = parse_int(name, arg, 0, 32503680000LL);
		o->base_time_set = true;
		break;
	case OPT_STAMP:
		o->stamp = true;
		break;
	case OPT_STATUS:
		o->status = true;
		break;
	case OPT_OFFLINE:
		o->offline_on_exit = true;
		break;
	case OPT_BAD_RATIO:
		o->bad_ratio = parse_num(name, arg, 0, 1);
		break;
	case OPT_MAX_PAYLOAD:
		o->max_payload = (size_t)parse_int(name, arg, 64, 64 << 20);
		break;
	case OPT_DUPLICATES:
		o->duplicates = parse_num(name, arg, 0, 1);
		break;
	case OPT_SHUFFLE:
		o->shuffle = true;
		break;
	case OPT_SHUFFLE_WINDOW:
		o->shuffle_window = (int)parse_int(name, arg, 2, 1000000);
		break;
	default:
		usage_error("unknown option");
	}
}

static void check(const struct sim_opts *o)
{
	if (o->burst && o->rate > 0)
		usage_error("--burst and --rate contradict each other: use one");
	if (o->unbatched && !o->burst)
		usage_error("--unbatched only applies with --burst");
	if (o->stamp && o->seq)
		usage_error("--stamp and --seq both set the observation time: use one");
	if (o->base_time_set && !o->seq)
		usage_error("--base-time only applies with --seq");
	if (o->with_stages && !o->emit_csv)
		usage_error("--with-stages only applies with --emit-lots-csv N");
	if (o->seq && o->base_time_set && o->count > 0) {
		int64_t last = o->base_time + (o->count + o->lots - 1) / o->lots - 1;
		if (last > (int64_t)time(NULL))
			fprintf(stderr,
				"parkfeed-sim: warning: with --base-time %lld the last "
				"observations lie in the future (up to %lld)\n",
				(long long)o->base_time, (long long)last);
	}
}

int main(int argc, char **argv)
{
	struct sim_opts o;
	int c;

	defaults(&o);
	while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		if (c == OPT_VERSION) {
			printf("parkfeed-sim %s\n", PF_SIM_VERSION);
			return 0;
		}
		if (c == '?')
			usage_error("bad option (see above)");
		parse_option(&o, c, optarg);
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	check(&o);
	if (o.emit_csv)
		return csv__emit(o.emit_csv, o.seed, o.with_stages, (int64_t)time(NULL));
	return pub__run(&o);
}
