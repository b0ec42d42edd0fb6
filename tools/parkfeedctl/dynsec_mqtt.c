/* A blocking MQTT client for mosquitto's dynamic-security API ($CONTROL/dynamic-security/v1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "ctl.h"

#define CONTROL_TOPIC "$CONTROL/dynamic-security/v1"
#define RESPONSE_TOPIC CONTROL_TOPIC "/response"
#define KEEPALIVE 60

struct ctl_dynsec {
	struct mosquitto *mosq;
	int connack;	    /* -1 until CONNACK, then its reason code */
	int suback;	    /* -1 until SUBACK, then the granted QoS (or a reason >= 0x80) */
	int pub_mid;	    /* the request in flight */
	int puback;	    /* -1 until its PUBACK, then its reason code */
	json_t *response;   /* the latest message on the response topic */
	bool disconnected;  /* the broker closed the connection */
	int disconnect_rc;  /* and why */
	char bad_json[200]; /* a response that was not JSON */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags,
		       const mosquitto_property *props)
{
	((struct ctl_dynsec *)obj)->connack = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	struct ctl_dynsec *d = obj;

	d->disconnected = true;
	d->disconnect_rc = rc;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
			 const mosquitto_property *props)
{
	((struct ctl_dynsec *)obj)->suback = n > 0 ? granted[0] : 0x80;
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason,
		       const mosquitto_property *props)
{
	struct ctl_dynsec *d = obj;

	if (mid == d->pub_mid)
		d->puback = reason;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	struct ctl_dynsec *d = obj;
	json_error_t err;

	if (strcmp(msg->topic, RESPONSE_TOPIC) != 0)
		return;
	json_decref(d->response);
	d->response = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, &err);
	if (!d->response)
		snprintf(d->bad_json, sizeof(d->bad_json), "%s", err.text);
}

/* Run the network loop until *flag leaves -1 (or the response arrives), or the deadline. */
static int wait_for(struct ctl_dynsec *d, const int *flag, int64_t deadline, const char *what,
		    char *err, size_t errlen)
{
	while ((flag ? *flag == -1 : !d->response && !d->bad_json[0])) {
		int rc;

		if (d->disconnected) {
			snprintf(err, errlen, "the broker closed the connection while %s (%s)",
				 what, mosquitto_reason_string(d->disconnect_rc));
			return -ECONNRESET;
		}
		if (now_ms() >= deadline) {
			snprintf(err, errlen, "no answer from the broker within %d s while %s",
				 CTL_DYNSEC_TIMEOUT_S, what);
			return -ETIMEDOUT;
		}
		rc = mosquitto_loop(d->mosq, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST) {
			snprintf(err, errlen, "broker connection failed while %s: %s", what,
				 mosquitto_strerror(rc));
			return -EIO;
		}
		if (rc != MOSQ_ERR_SUCCESS)
			d->disconnected = true;
	}
	return 0;
}

static int configure(struct ctl_dynsec *d, const struct ctl_broker *b, char *err, size_t errlen)
{
	int rc;

	mosquitto_int_option(d->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_connect_v5_callback_set(d->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(d->mosq, on_disconnect);
	mosquitto_subscribe_v5_callback_set(d->mosq, on_subscribe);
	mosquitto_publish_v5_callback_set(d->mosq, on_publish);
	mosquitto_message_v5_callback_set(d->mosq, on_message);
	rc = mosquitto_username_pw_set(d->mosq, b->username, b->password);
	if (rc == MOSQ_ERR_SUCCESS && b->cafile && b->cafile[0])
		rc = mosquitto_tls_set(d->mosq, b->cafile, NULL,
				       b->certfile && b->certfile[0] ? b->certfile : NULL,
				       b->keyfile && b->keyfile[0] ? b->keyfile : NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen,
			 "cannot set up the broker connection: %s (check the TLS files)",
			 mosquitto_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

static int connect_and_subscribe(struct ctl_dynsec *d, const struct ctl_broker *b, char *err,
				 size_t errlen)
{
	int64_t deadline = now_ms() + CTL_DYNSEC_TIMEOUT_S * 1000;
	int rc = mosquitto_connect(d->mosq, b->host, b->port, KEEPALIVE);

	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "cannot connect to the broker at %s:%d: %s", b->host, b->port,
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return -EIO;
	}
	if ((rc = wait_for(d, &d->connack, deadline, "connecting", err, errlen)) < 0)
		return rc;
	if (d->connack != 0) {
		snprintf(err, errlen,
			 "the broker at %s:%d refused the admin account %s: %s (check [broker] "
			 "username and password_file)",
			 b->host, b->port, b->username, mosquitto_reason_string(d->connack));
		return -EACCES;
	}
	rc = mosquitto_subscribe(d->mosq, NULL, RESPONSE_TOPIC, 1);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = wait_for(d, &d->suback, deadline, "subscribing", err, errlen);
	else
		snprintf(err, errlen, "cannot subscribe: %s", mosquitto_strerror(rc));
	if (rc == 0 && d->suback >= 0x80) {
		snprintf(err, errlen,
			 "the broker refused %s a subscription to %s: is the dynamic-security "
			 "plugin loaded, and does the account have its admin role?",
			 b->username, RESPONSE_TOPIC);
		return -EACCES;
	}
	return rc < 0 ? rc : 0;
}

int ctl__dynsec_open(struct ctl_dynsec **out, const struct ctl_broker *b, char *err, size_t errlen)
{
	struct ctl_dynsec *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	mosquitto_lib_init();
	d->connack = d->suback = -1;
	d->mosq = mosquitto_new(NULL, true, d);
	if (!d->mosq) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = configure(d, b, err, errlen)) < 0 ||
	    (rc = connect_and_subscribe(d, b, err, errlen)) < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	ctl__dynsec_close(d);
	return rc;
}

int ctl__dynsec_call(struct ctl_dynsec *d, json_t *commands, json_t **responses, char *err,
		     size_t errlen)
{
	int64_t deadline = now_ms() + CTL_DYNSEC_TIMEOUT_S * 1000;
	json_t *req = json_pack("{s:O}", "commands", commands), *arr;
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	int rc;

	*responses = NULL;
	json_decref(req);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	json_decref(d->response);
	d->response = NULL;
	d->bad_json[0] = '\0';
	d->puback = -1;
	rc = mosquitto_publish(d->mosq, &d->pub_mid, CONTROL_TOPIC, (int)strlen(text), text, 1,
			       false);
	free(text);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "cannot send to %s: %s", CONTROL_TOPIC,
			 mosquitto_strerror(rc));
		return -EIO;
	}
	if ((rc = wait_for(d, &d->puback, deadline, "sending commands", err, errlen)) < 0)
		return rc;
	if (d->puback >= 0x80) {
		snprintf(err, errlen,
			 "the broker refused the commands: %s (the admin account needs its admin "
			 "role; a message over the broker's message_size_limit is refused too)",
			 mosquitto_reason_string(d->puback));
		return -EACCES;
	}
	if ((rc = wait_for(d, NULL, deadline, "waiting for the answer", err, errlen)) < 0)
		return rc;
	arr = json_object_get(d->response, "responses");
	if (!json_is_array(arr) || json_array_size(arr) != json_array_size(commands)) {
		snprintf(err, errlen, "unexpected answer from the dynamic-security plugin%s%s",
			 d->bad_json[0] ? ": " : "", d->bad_json);
		return -EPROTO;
	}
	*responses = json_incref(arr);
	return 0;
}

void ctl__dynsec_close(struct ctl_dynsec *d)
{
	if (!d)
		return;
	if (d->mosq) {
		if (d->connack == 0 && !d->disconnected) {
			mosquitto_disconnect(d->mosq);
			mosquitto_loop(d->mosq, 100, 1);
		}
		mosquitto_destroy(d->mosq);
	}
	json_decref(d->response);
	free(d);
	mosquitto_lib_cleanup();
}
