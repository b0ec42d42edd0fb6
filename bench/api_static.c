/*
 * pf-api-static PORT BYTES THREADS: the ceiling of parkfeed-api's HTTP stack, for
 * bench/api_bench.sh. libmicrohttpd set up as parkfeed-api sets it up (internal thread pool,
 * epoll, suspend/resume allowed, answers on the second call), answering every GET with the
 * same BYTES-byte body and the headers parkfeed-api sends with data; no snapshot, no JSON,
 * no routing. What parkfeed-api does on top of this is the difference in the benchmark.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *body;
static size_t body_len;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static int first_call;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
	if (!*con_cls) {
		*con_cls = &first_call;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/geo+json");
	MHD_add_response_header(r, "ETag", "\"0123456789abcdef\"");
	MHD_add_response_header(r, "Cache-Control", "public, max-age=5");
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	if (argc != 4) {
		fprintf(stderr, "usage: pf-api-static PORT BYTES THREADS\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	body_len = (size_t)strtoul(argv[2], NULL, 10);
	body = malloc(body_len ? body_len : 1);
	if (!body)
		return 1;
	memset(body, 'x', body_len);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)atoi(argv[3]),
			     MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
	if (!d) {
		perror("pf-api-static: cannot listen");
		return 1;
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	free(body);
	return 0;
}
