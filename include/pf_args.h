/*
 * The command line the two services share (parkfeedd, parkfeed-api): -c FILE, -t, -V, -h, as
 * their man pages give it, parsed once for both.
 */
#ifndef PF_ARGS_H
#define PF_ARGS_H

#include <stdbool.h>
#include <stdio.h>

struct pf_service_args {
	const char *prog;	 /* the name in messages: "parkfeedd" */
	const char *version;	 /* what --version prints after it */
	const char *example;	 /* the packaged configuration, named when -c is missing */
	const char *usage;	 /* the --help text */
	const char *config_path; /* out: -c FILE */
	bool test_only;		 /* out: -t */
};

/* Parse argv into a: -1 when the service is to go on, otherwise the exit status (0 after -V
 * or -h, 2 for a usage error, told on stderr). */
int pf_service_args(struct pf_service_args *a, int argc, char **argv);

#endif
