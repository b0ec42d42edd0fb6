/* The shared settings object and the clocks every module reads. */
#include "app.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void settings_destroy(struct rc *r)
{
	struct api_settings *s = rc__of(r, struct api_settings, rc);

	apiconf__free(&s->cfg);
	free(s);
}

struct api_settings *app__settings_new(struct api_config *cfg)
{
	struct api_settings *s = calloc(1, sizeof(*s));

	if (!s) {
		apiconf__free(cfg);
		return NULL;
	}
	rc__init(&s->rc, settings_destroy);
	s->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	return s;
}

struct api_settings *app__settings(struct app *a)
{
	struct rc *r = rc__get(&a->settings);

	return r ? rc__of(r, struct api_settings, rc) : NULL;
}

void app__settings_unref(struct api_settings *s)
{
	if (s)
		rc__unref(&s->rc);
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t app__mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t app__real_us(void)
{
	return clock_us(CLOCK_REALTIME);
}
