/* Passwords as mosquitto 2.0's dynamic-security plugin stores them, made and checked offline. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "pf_dynsec.h"

/*
 * The plugin (plugins/dynamic-security/auth.c) keeps PBKDF2-HMAC-SHA512 of the password over a
 * random 12-byte salt, 64 bytes of it, and writes hash and salt in standard base64 with
 * padding and no line breaks, next to the iteration count: "password", "salt", "iterations".
 * A client whose three fields are there but do not decode to these sizes is dropped when the
 * plugin loads the file, without a word.
 */

int pf_dynsec_pw_hash(const char *password, const unsigned char *salt, size_t salt_len,
		      int iterations, unsigned char *out)
{
	const EVP_MD *sha512 = EVP_sha512();

	if (iterations < 1 || salt_len > (size_t)INT32_MAX || strlen(password) > (size_t)INT32_MAX)
		return -EINVAL;
	if (!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iterations,
			       sha512, PF_DYNSEC_HASH_LEN, out))
		return -ENOMEM;
	return 0;
}

/* Standard base64 of exactly `want` bytes into out; false if it is anything else. */
static bool b64_decode(const char *in, unsigned char *out, size_t want)
{
	unsigned char buf[3 * 128 / 4];
	size_t len = strlen(in), pad = 0;
	int n;

	if (len == 0 || len % 4 != 0 || len > 128)
		return false;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n - pad != want)
		return false;
	memcpy(out, buf, want);
	return true;
}

static json_t *b64_encode(const unsigned char *in, size_t len)
{
	char out[4 * ((PF_DYNSEC_HASH_LEN + 2) / 3) + 1];

	if (len > PF_DYNSEC_HASH_LEN)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return json_string(out);
}

int pf_dynsec_pw_set(json_t *client, const char *password, pf_dynsec_random_fn random, void *arg)
{
	unsigned char salt[PF_DYNSEC_SALT_LEN], hash[PF_DYNSEC_HASH_LEN];
	int rc = random(salt, sizeof(salt), arg);

	if (rc == 0)
		rc = pf_dynsec_pw_hash(password, salt, sizeof(salt), PF_DYNSEC_ITERATIONS, hash);
	if (rc == 0 &&
	    (json_object_set_new(client, "password", b64_encode(hash, sizeof(hash))) < 0 ||
	     json_object_set_new(client, "salt", b64_encode(salt, sizeof(salt))) < 0 ||
	     json_object_set_new(client, "iterations", json_integer(PF_DYNSEC_ITERATIONS)) < 0))
		rc = -ENOMEM;
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

/* The fields as the plugin reads them: false when it would not use them as a password. */
static bool pw_fields(const json_t *client, const char **hash, const char **salt, int *iterations)
{
	const json_t *it = json_object_get(client, "iterations");

	*hash = json_string_value(json_object_get(client, "password"));
	*salt = json_string_value(json_object_get(client, "salt"));
	*iterations = json_is_integer(it) && json_integer_value(it) <= INT32_MAX
			      ? (int)json_integer_value(it)
			      : 0;
	return *hash && *salt && json_is_number(it);
}

const char *pf_dynsec_pw_problem(const json_t *client)
{
	unsigned char salt[PF_DYNSEC_SALT_LEN], hash[PF_DYNSEC_HASH_LEN];
	const char *h, *s;
	int iterations;

	if (!pw_fields(client, &h, &s, &iterations))
		return NULL; /* no password: the plugin keeps the client, nobody logs in with one */
	if (iterations < 1)
		return "\"iterations\" is not a whole number from 1";
	if (!b64_decode(s, salt, sizeof(salt)))
		return "\"salt\" is not 12 bytes in base64";
	if (!b64_decode(h, hash, sizeof(hash)))
		return "\"password\" is not a 64-byte hash in base64";
	return NULL;
}

int pf_dynsec_pw_check(const json_t *client, const char *password)
{
	unsigned char salt[PF_DYNSEC_SALT_LEN], want[PF_DYNSEC_HASH_LEN], got[PF_DYNSEC_HASH_LEN];
	const char *h, *s;
	int iterations, rc;

	if (!pw_fields(client, &h, &s, &iterations) || pf_dynsec_pw_problem(client) ||
	    !b64_decode(s, salt, sizeof(salt)) || !b64_decode(h, want, sizeof(want)))
		return -EINVAL;
	rc = pf_dynsec_pw_hash(password, salt, sizeof(salt), iterations, got);
	if (rc == 0)
		rc = CRYPTO_memcmp(got, want, sizeof(got)) == 0;
	explicit_bzero(got, sizeof(got));
	return rc;
}
