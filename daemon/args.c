/* The services' shared command line (pf_args.h). */
#include "pf_args.h"

#include <getopt.h>

int pf_service_args(struct pf_service_args *a, int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"test", no_argument, NULL, 't'},
					     {"version", no_argument, NULL, 'V'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config_path = optarg;
			break;
		case 't':
			a->test_only = true;
			break;
		case 'V':
			printf("%s %s\n", a->prog, a->version);
			return 0;
		case 'h':
			fputs(a->usage, stdout);
			return 0;
		default:
			fputs(a->usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument %s (see --help)\n", a->prog, argv[optind]);
		return 2;
	}
	if (!a->config_path) {
		fprintf(stderr, "%s: no configuration file: give -c FILE (e.g. -c %s)\n", a->prog,
			a->example);
		return 2;
	}
	return -1;
}
