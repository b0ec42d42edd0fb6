/* The HTTP side: libmicrohttpd, its threads, limits and headers (server.c). */
#ifndef API_SERVER_H
#define API_SERVER_H

#include <stddef.h>

#include "app.h"

struct server;

/* Listen on cfg's [api] listen with its limits. 0, or a negative errno with why in err. */
__attribute__((warn_unused_result)) int server__start(struct server **out, struct app *app,
						      const struct api_config *cfg, char *err,
						      size_t errlen);
/* Stop accepting connections (those open are served to the end). */
void server__quiesce(struct server *s);
void server__stop(struct server *s);

#endif
