/* libFuzzer target: pf_normalize on "TOPIC\nPAYLOAD", with the daemon's defaults and aliases. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "pf_config.h"
#include "pf_normalize.h"
#include "pf_record.h"
#include "pf_tz.h"

#define RECEIVED_AT INT64_C(1687133400000000) /* 2023-06-19T00:10:00Z */

static struct pf_config conf; /* built-in aliases and compliant protocols */
static struct pf_norm_config norm;
static struct pf_tz *shanghai;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	pf_config_init(&conf);
	if (pf_tz_load("Asia/Shanghai", &shanghai, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_normalize: %s\n", err);
		abort();
	}
	norm = (struct pf_norm_config){
		.topic_prefix = "parking",
		.max_payload = (size_t)conf.ingest.max_payload,
		.clock_skew_us = (int64_t)conf.ingest.clock_skew * 1000000,
		.tz = shanghai,
		.max_depth = conf.ingest.max_depth,
		.max_topic_len = (size_t)conf.ingest.max_topic_len,
		.aliases = conf.aliases,
		.n_aliases = conf.n_aliases,
		.compliant_protocols = conf.protocols,
		.n_compliant = conf.n_protocols,
	};
	return 0;
}

/* Every record the normalizer makes must be one the spool can store and give back unchanged. */
static void check_spoolable(const struct pf_record *rec)
{
	static uint8_t buf[PF_RECORD_MAX];
	struct pf_record back;
	int n = pf_record_encode(rec, buf, sizeof(buf));

	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(pf_record_decode(&back, buf, (size_t)n) == 0);
	FUZZ_CHECK(back.kind == rec->kind && back.received_at == rec->received_at);
	if (rec->kind == PF_REC_OCCUPANCY) {
		const struct pf_observation *o = &rec->u.obs;

		FUZZ_CHECK(o->free + o->occupied <= o->total);
		FUZZ_CHECK(o->observed_at <= rec->received_at + norm.clock_skew_us);
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char default_topic[] = "parking/JZ-SY-001/occupancy";
	const unsigned char *nl = memchr(data, '\n', size < 1024 ? size : 1024);
	size_t tlen = nl ? (size_t)(nl - data) : strlen(default_topic);
	size_t plen = nl ? size - tlen - 1 : size;
	char *topic = malloc(tlen + 1);
	/* an exact-size copy, so reading one byte past the payload is caught */
	uint8_t *payload = malloc(plen ? plen : 1);
	struct pf_record rec;

	if (!topic || !payload)
		abort();
	/* no newline in the first 1024 bytes: all of it is an occupancy payload */
	memcpy(topic, nl ? (const char *)data : default_topic, tlen);
	topic[tlen] = '\0'; /* an inner NUL just shortens it: MQTT topics hold none */
	memcpy(payload, nl ? nl + 1 : data, plen);
	pf_normalize(&norm, topic, payload, plen, RECEIVED_AT, &rec);
	FUZZ_CHECK(rec.kind == PF_REC_OCCUPANCY || rec.kind == PF_REC_STATUS ||
		   rec.kind == PF_REC_REJECT);
	check_spoolable(&rec);
	free(payload);
	free(topic);
	return 0;
}
