/* Channel metadata (docs/FORMAT.md): a small signed text naming a
 * channel's newest update image, with a serial that only grows and an
 * expiry time, so a device can tell a fresh answer from a replayed or
 * frozen one (TUF "indefinite freeze", "rollback"). */
#include "verity/verity.h"
#include "verity/kv-internal.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PEM_NAME "CMS"
#define PEM_BEGIN "-----BEGIN " PEM_NAME "-----\n"

enum key_id {
	K_FORMAT, K_CHANNEL, K_COMPATIBLE, K_SERIAL, K_EXPIRES, K_VERSION, K_VERSION_STRING,
	K_URL, K_SIZE, K_SHA256, K_MAX
};

static const struct kv_key keys[K_MAX] = {
	KV_KEY("format"), KV_KEY("channel"), KV_KEY("compatible"), KV_KEY("serial"), KV_KEY("expires"),
	KV_KEY("version"), KV_KEY("version_string"), KV_KEY("url"), KV_KEY("size"), KV_KEY("sha256"),
};
static const struct kv_format channel_kv = {
	.max_size = CHANNEL_MAX_TEXT, .max_line = CHANNEL_MAX_LINE, .keys = keys, .nkeys = K_MAX,
	KV_MESSAGES("channel metadata", "4 KiB", "1024 bytes"),
};
static const char *const channel_sig_msgs[] = SIG_MESSAGES("channel signature");

static int bad(const char **ret_err, const char *msg, int r)
{
	if (ret_err)
		*ret_err = msg;
	return r;
}

int channel_time_format(uint64_t t, char ret[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t > (uint64_t)253402300799ULL /* 9999-12-31T23:59:59Z */ || !gmtime_r(&tt, &tm) ||
	    strftime(ret, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return -EINVAL;
	return 0;
}

int channel_time_parse(const char *s, uint64_t *ret)
{
	struct tm tm = { 0 };
	char back[32];
	time_t t;
	int n = 0;

	if (strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	           &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 20)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	/* the round trip refuses 02-30, 24:00, signs, spaces and other spellings */
	if (t < 0 || channel_time_format((uint64_t)t, back) < 0 || strcmp(back, s) != 0)
		return -EINVAL;
	*ret = (uint64_t)t;
	return 0;
}

static bool url_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= CHANNEL_MAX_URL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f)
			return false;
	return true;
}

static int parse_value(void *userdata, size_t key, const char *v, const char **ret_err)
{
	struct channel *c = userdata;
	uint64_t x;
	size_t n;
	int r = 0;

	switch ((enum key_id)key) {
	case K_FORMAT:
		if (parse_u64(v, &x) < 0)
			return -EINVAL;
		if (x != 1)
			return bad(ret_err, "unsupported channel metadata format (expected format=1)", -EBADMSG);
		c->format = 1;
		break;
	case K_CHANNEL:
		r = kv_text_ok(v, sizeof c->name, false) ? 0 : -EINVAL;
		if (r == 0)
			strcpy(c->name, v);
		break;
	case K_COMPATIBLE:
		r = kv_text_ok(v, sizeof c->compatible, false) ? 0 : -EINVAL;
		if (r == 0)
			strcpy(c->compatible, v);
		break;
	case K_SERIAL:
		r = parse_u64(v, &c->serial);
		break;
	case K_EXPIRES:
		r = channel_time_parse(v, &c->expires);
		break;
	case K_VERSION:
		r = parse_u64(v, &c->version);
		break;
	case K_VERSION_STRING:
		r = kv_text_ok(v, sizeof c->version_string, true) ? 0 : -EINVAL;
		if (r == 0)
			strcpy(c->version_string, v);
		break;
	case K_URL:
		r = url_ok(v) ? 0 : -EINVAL;
		if (r == 0)
			strcpy(c->url, v);
		break;
	case K_SIZE:
		r = parse_u64(v, &c->size);
		/* an update image has at least its header */
		if (r == 0 && c->size <= UPDATE_HEADER_SIZE)
			r = -EINVAL;
		break;
	case K_SHA256:
		r = kv_hex_value(v, c->sha256, sizeof c->sha256, &n);
		if (r == 0 && n != sizeof c->sha256)
			r = -EINVAL;
		break;
	case K_MAX:
		r = -EINVAL;
		break;
	}
	return r < 0 ? -EINVAL : 0;
}

int channel_parse(const char *text, size_t len, struct channel *ret, const char **ret_err)
{
	const char *err = NULL;
	struct channel c = { 0 };
	int r;

	r = kv_parse(&channel_kv, text, len, parse_value, &c, ret_err ? ret_err : &err);
	if (r < 0)
		return r;
	*ret = c;
	return 0;
}

int channel_format(const struct channel *c, char **ret_text, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	char sha[65], expires[32];
	struct channel check;
	int n;

	if (channel_time_format(c->expires, expires) < 0 || memchr(c->name, 0, sizeof c->name) == NULL ||
	    memchr(c->compatible, 0, sizeof c->compatible) == NULL ||
	    memchr(c->version_string, 0, sizeof c->version_string) == NULL || memchr(c->url, 0, sizeof c->url) == NULL)
		return -EINVAL;
	hex_encode(c->sha256, sizeof c->sha256, sha);
	n = asprintf(&buf,
	             "format=%" PRIu32 "\nchannel=%s\ncompatible=%s\nserial=%" PRIu64 "\nexpires=%s\n"
	             "version=%" PRIu64 "\nversion_string=%s\nurl=%s\nsize=%" PRIu64 "\nsha256=%s\n",
	             c->format, c->name, c->compatible, c->serial, expires, c->version, c->version_string,
	             c->url, c->size, sha);
	if (n < 0) {
		buf = NULL;
		return -ENOMEM;
	}
	/* never hand out a file our own strict parser would refuse */
	if (channel_parse(buf, (size_t)n, &check, NULL) < 0)
		return -EINVAL;
	*ret_text = TAKE_PTR(buf);
	*ret_len = (size_t)n;
	return 0;
}

static void biop(BIO **b) { BIO_free(*b); }

int channel_sign(const struct verity_signer *s, const struct channel *c, char **ret_file, size_t *ret_len)
{
	_cleanup_free_ char *text = NULL, *file = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	_cleanup_(biop) BIO *b = NULL;
	size_t text_len, der_len;
	char *pem;
	long pem_len;
	int r;

	r = channel_format(c, &text, &text_len);
	if (r < 0)
		return r;
	r = verity_cms_sign(s, text, text_len, &der, &der_len);
	if (r < 0)
		return r;
	b = BIO_new(BIO_s_mem());
	if (!b || der_len > INT32_MAX || PEM_write_bio(b, PEM_NAME, "", der, (long)der_len) <= 0)
		return -ENOMEM;
	pem_len = BIO_get_mem_data(b, &pem);
	if (pem_len <= 0)
		return -ENOMEM;
	file = malloc(text_len + (size_t)pem_len + 1);
	if (!file)
		return -ENOMEM;
	memcpy(file, text, text_len);
	memcpy(file + text_len, pem, (size_t)pem_len);
	file[text_len + (size_t)pem_len] = 0;
	*ret_file = TAKE_PTR(file);
	*ret_len = text_len + (size_t)pem_len;
	return 0;
}

/* The text ends where the first line "-----BEGIN CMS-----" starts. */
static int split(const char *file, size_t len, size_t *ret_text_len, uint8_t **ret_der, size_t *ret_der_len,
                 const char **ret_err)
{
	_cleanup_(biop) BIO *b = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long data_len = 0;
	const char *p = file;
	size_t text_len;
	int r = 0;

	if (len > CHANNEL_MAX_FILE)
		return bad(ret_err, "channel file larger than its limit", -EBADMSG);
	for (;;) {
		if ((size_t)(p - file) + strlen(PEM_BEGIN) <= len && memcmp(p, PEM_BEGIN, strlen(PEM_BEGIN)) == 0)
			break;
		p = memchr(p, '\n', len - (size_t)(p - file));
		if (!p)
			return bad(ret_err, "channel file has no signature (no -----BEGIN CMS----- line)", -EBADMSG);
		p++;
	}
	text_len = (size_t)(p - file);
	b = BIO_new_mem_buf(p, (int)(len - text_len));
	if (!b)
		return -ENOMEM;
	if (PEM_read_bio(b, &name, &header, &data, &data_len) != 1)
		r = bad(ret_err, "channel signature is not valid PEM", -EBADMSG);
	else if (strcmp(name, PEM_NAME) != 0 || header[0] != 0 || data_len <= 0)
		r = bad(ret_err, "channel signature is not one plain CMS PEM block", -EBADMSG);
	else if (BIO_pending(b) != 0)
		r = bad(ret_err, "bytes after the channel signature", -EBADMSG);
	if (r == 0) {
		*ret_der = malloc((size_t)data_len);
		if (!*ret_der)
			r = -ENOMEM;
		else {
			memcpy(*ret_der, data, (size_t)data_len);
			*ret_der_len = (size_t)data_len;
			*ret_text_len = text_len;
		}
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return r;
}

int channel_verify(const struct verity_keyring *kr, const char *file, size_t len, struct channel *ret,
                   char **ret_signer, const char **ret_err)
{
	_cleanup_free_ uint8_t *der = NULL;
	_cleanup_free_ char *signer = NULL;
	struct channel c;
	size_t text_len = 0, der_len = 0;
	int r;

	if (!kr || !file)
		return bad(ret_err, "nothing to verify", -EINVAL);
	r = split(file, len, &text_len, &der, &der_len, ret_err);
	if (r < 0)
		return r;
	/* the signature first: nothing unauthenticated reaches the parser */
	r = verity_cms_verify(kr, file, text_len, der, der_len, ret_signer ? &signer : NULL);
	if (r < 0)
		return bad(ret_err, sig_message(channel_sig_msgs, r), r);
	r = channel_parse(file, text_len, &c, ret_err);
	if (r < 0)
		return r;
	*ret = c;
	if (ret_signer)
		*ret_signer = TAKE_PTR(signer);
	return 0;
}
