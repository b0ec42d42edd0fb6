/* libFuzzer target: pf_config_load on a file holding the input (a memfd, no disk traffic). */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "pf_config.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("parkfeed-fuzz.conf", 0);
	if (fd < 0) {
		perror("fuzz_config: memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct pf_config cfg, def;
	char err[512];
	int rc;

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	pf_config_init(&def);
	pf_config_init(&cfg);
	err[0] = '\0';
	rc = pf_config_load(&cfg, path, err, sizeof(err));
	if (rc < 0) {
		FUZZ_CHECK(err[0] != '\0'); /* every refusal says why */
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	} else {
		FUZZ_CHECK(cfg.n_aliases <= PF_MAX_ALIASES);
		FUZZ_CHECK(cfg.n_protocols <= PF_MAX_PROTOCOLS);
		FUZZ_CHECK(cfg.mqtt.port >= 1 && cfg.mqtt.port <= 65535);
		(void)pf_config_diff_nonreloadable(&def, &cfg, err, sizeof(err));
		(void)config__diff(&def, &cfg, true, err, sizeof(err));
	}
	pf_config_free(&cfg);
	pf_config_free(&def);
	return 0;
}
