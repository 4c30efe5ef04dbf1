/* Unit tests for the channel metadata (verity/channel.c: strict parser,
 * formatter, signed file, times) and the client's pure parts
 * (installer/channel.c: state file, back-off arithmetic, freshness and
 * identity checks, URL resolution). Certificates come from
 * tests/lib/testkeys.sh, cached in $B/testkeys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "installer/installer.h"
#include "verity/verity.h"

static const char base[] =
	"format=1\n"
	"channel=stable\n"
	"compatible=acme-gw-1\n"
	"serial=17\n"
	"expires=2026-12-15T12:00:00Z\n"
	"version=42\n"
	"version_string=1.4.2 (gr\xc3\xbcn)\n"
	"url=images/acme-42.upd\n"
	"size=123456789\n"
	"sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

static const char *const all_keys[] = {
	"format", "compatible", "channel", "serial", "expires", "version", "version_string", "url", "size", "sha256",
};

static char buf[2 * CHANNEL_MAX_TEXT];
static char tk[PATH_MAX];

/* base with the line of `key` replaced by `line` ("" drops it) */
static const char *with(const char *key, const char *line)
{
	const char *p = base;
	size_t kl = strlen(key);

	buf[0] = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			strcat(buf, line);
		else
			strncat(buf, p, (size_t)(nl - p + 1));
		p = nl + 1;
	}
	return buf;
}

static void assert_rejected(const char *text, const char *msg)
{
	struct channel c;
	const char *err = NULL;

	assert_int_equal(channel_parse(text, strlen(text), &c, &err), -EBADMSG);
	assert_non_null(err);
	assert_string_equal(err, msg);
}

static void test_parse_base(void **state)
{
	struct channel c;
	const char *err = NULL;

	assert_int_equal(channel_parse(base, strlen(base), &c, &err), 0);
	assert_int_equal(c.format, 1);
	assert_string_equal(c.name, "stable");
	assert_string_equal(c.compatible, "acme-gw-1");
	assert_int_equal(c.serial, 17);
	assert_int_equal(c.expires, 1797336000);
	assert_int_equal(c.version, 42);
	assert_string_equal(c.version_string, "1.4.2 (gr\xc3\xbcn)");
	assert_string_equal(c.url, "images/acme-42.upd");
	assert_int_equal(c.size, 123456789);
	assert_int_equal(c.sha256[0], 0x00);
	assert_int_equal(c.sha256[31], 0xff);
}

static void test_format_round_trip(void **state)
{
	_cleanup_free_ char *text = NULL;
	struct channel c, back;
	size_t len;

	assert_int_equal(channel_parse(base, strlen(base), &c, NULL), 0);
	assert_int_equal(channel_format(&c, &text, &len), 0);
	/* base is canonical: the formatter gives the same bytes */
	assert_int_equal(len, strlen(base));
	assert_memory_equal(text, base, len);
	assert_int_equal(channel_parse(text, len, &back, NULL), 0);
	assert_memory_equal(&c, &back, sizeof c);
	/* something the parser would refuse is never formatted */
	c.url[0] = 0;
	assert_int_equal(channel_format(&c, &text, &len), -EINVAL);
	c = back;
	c.size = 10;
	assert_int_equal(channel_format(&c, &text, &len), -EINVAL);
}

static void test_keys(void **state)
{
	char msg[64];

	for (size_t i = 0; i < ARRAY_SIZE(all_keys); i++) {
		snprintf(msg, sizeof msg, "missing key '%s'", all_keys[i]);
		assert_rejected(with(all_keys[i], ""), msg);
	}
	snprintf(buf, sizeof buf, "%sserial=18\n", base);
	assert_rejected(buf, "duplicate key 'serial'");
	snprintf(buf, sizeof buf, "%smirror=https://x/\n", base);
	assert_rejected(buf, "unknown key in channel metadata");
	assert_rejected(with("serial", "Serial=17\n"), "bad key in channel metadata");
	/* x-* extensions are skipped */
	snprintf(buf, sizeof buf, "x-note=hello\n%s", base);
	struct channel c;
	assert_int_equal(channel_parse(buf, strlen(buf), &c, NULL), 0);
}

static void test_values(void **state)
{
	static const struct { const char *key, *line, *msg; } bad[] = {
		{ "format", "format=2\n", "unsupported channel metadata format (expected format=1)" },
		{ "format", "format=01\n", "bad value for 'format'" },
		{ "channel", "channel=\n", "bad value for 'channel'" },
		{ "channel", "channel=a\tb\n", "bad value for 'channel'" },
		{ "compatible", "compatible=\n", "bad value for 'compatible'" },
		{ "serial", "serial=-1\n", "bad value for 'serial'" },
		{ "serial", "serial=017\n", "bad value for 'serial'" },
		{ "serial", "serial=18446744073709551616\n", "bad value for 'serial'" },
		{ "serial", "serial= 17\n", "bad value for 'serial'" },
		{ "expires", "expires=1797336000\n", "bad value for 'expires'" },
		{ "expires", "expires=2026-12-15 12:00:00Z\n", "bad value for 'expires'" },
		{ "expires", "expires=2026-12-15T12:00:00\n", "bad value for 'expires'" },
		{ "expires", "expires=2026-12-15T12:00:00+00:00\n", "bad value for 'expires'" },
		{ "expires", "expires=2026-02-30T12:00:00Z\n", "bad value for 'expires'" },
		{ "expires", "expires=2026-12-15T24:00:00Z\n", "bad value for 'expires'" },
		{ "expires", "expires=1969-12-31T23:59:59Z\n", "bad value for 'expires'" },
		{ "expires", "expires=+026-12-15T12:00:00Z\n", "bad value for 'expires'" },
		{ "version", "version=4x\n", "bad value for 'version'" },
		{ "url", "url=\n", "bad value for 'url'" },
		{ "url", "url=a b.upd\n", "bad value for 'url'" },
		{ "url", "url=caf\xc3\xa9.upd\n", "bad value for 'url'" },
		{ "size", "size=64\n", "bad value for 'size'" },
		{ "size", "size=\n", "bad value for 'size'" },
		{ "sha256", "sha256=00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",
		  "bad value for 'sha256'" },
		{ "sha256", "sha256=0011\n", "bad value for 'sha256'" },
		{ "sha256", "sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\n",
		  "bad value for 'sha256'" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_rejected(with(bad[i].key, bad[i].line), bad[i].msg);
}

static void test_text_rules(void **state)
{
	struct channel c;
	const char *err = NULL;
	char line[CHANNEL_MAX_LINE + 16];
	size_t n;

	assert_int_equal(channel_parse("", 0, &c, &err), -EBADMSG);
	assert_string_equal(err, "empty channel metadata");
	assert_rejected(with("serial", "serial=17\r\n"), "CR in channel metadata (lines end with LF only)");
	assert_rejected(with("version_string", "version_string=caf\xe9\n"), "channel metadata is not valid UTF-8");
	assert_rejected(with("serial", "\nserial=17\n"), "empty line in channel metadata");
	assert_rejected(with("serial", "serial\n"), "channel metadata line without '='");
	n = strlen(base);
	memcpy(buf, base, n);
	assert_int_equal(channel_parse(buf, n - 1, &c, &err), -EBADMSG);
	assert_string_equal(err, "channel metadata does not end with a newline");
	buf[10] = 0;
	assert_int_equal(channel_parse(buf, n, &c, &err), -EBADMSG);
	assert_string_equal(err, "NUL byte in channel metadata");
	/* a line of exactly 1024 bytes (newline included) is fine, 1025 is not */
	memset(line, 'a', sizeof line);
	memcpy(line, "x-pad=", 6);
	line[CHANNEL_MAX_LINE - 1] = '\n';
	line[CHANNEL_MAX_LINE] = 0;
	snprintf(buf, sizeof buf, "%s%s", line, base);
	assert_int_equal(channel_parse(buf, strlen(buf), &c, NULL), 0);
	line[CHANNEL_MAX_LINE - 1] = 'a';
	line[CHANNEL_MAX_LINE] = '\n';
	line[CHANNEL_MAX_LINE + 1] = 0;
	snprintf(buf, sizeof buf, "%s%s", line, base);
	assert_rejected(buf, "channel metadata line longer than 1024 bytes");
	/* more than 4 KiB, in lines that are each fine */
	line[CHANNEL_MAX_LINE - 1] = '\n';
	line[CHANNEL_MAX_LINE] = 0;
	buf[0] = 0;
	for (int i = 0; i < 4; i++)
		strcat(buf, line);
	strcat(buf, base);
	assert_rejected(buf, "channel metadata larger than 4 KiB");
}

static void test_times(void **state)
{
	char t[32];
	uint64_t v;

	assert_int_equal(channel_time_parse("1970-01-01T00:00:00Z", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(channel_time_parse("2024-02-29T23:59:59Z", &v), 0);
	assert_int_equal(v, 1709251199);
	assert_int_equal(channel_time_parse("2023-02-29T00:00:00Z", &v), -EINVAL);
	assert_int_equal(channel_time_parse("2024-02-29T23:59:60Z", &v), -EINVAL);
	assert_int_equal(channel_time_parse("2024-2-29T23:59:59Z", &v), -EINVAL);
	assert_int_equal(channel_time_parse("2024-02-29t23:59:59z", &v), -EINVAL);
	assert_int_equal(channel_time_parse("", &v), -EINVAL);
	assert_int_equal(channel_time_format(1709251199, t), 0);
	assert_string_equal(t, "2024-02-29T23:59:59Z");
	assert_int_equal(channel_time_format(253402300799ULL, t), 0);
	assert_string_equal(t, "9999-12-31T23:59:59Z");
	assert_int_equal(channel_time_format(253402300800ULL, t), -EINVAL);
}

/* ------------------------------------------------------------ signed file */

static const char *tkpath(const char *name)
{
	static char p[PATH_MAX + 64];

	snprintf(p, sizeof p, "%s/%s", tk, name);
	return p;
}

static int setup(void **state)
{
	const char *b = getenv("B");
	char cmd[PATH_MAX + 128];

	snprintf(tk, sizeof tk, "%s/testkeys", b && *b ? b : "build");
	snprintf(cmd, sizeof cmd, "bash -c '. tests/lib/testkeys.sh && testkeys \"$0\"' '%s'", tk);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_channel: %s failed (run from the source tree)\n", cmd);
		return -1;
	}
	return 0;
}

static char *signed_file(const char *key, const char *cert, size_t *ret_len)
{
	struct verity_signer *s = NULL;
	struct channel c;
	char *file = NULL, k[PATH_MAX + 64];

	snprintf(k, sizeof k, "%s", tkpath(key));
	assert_int_equal(verity_signer_load(k, tkpath(cert), &s), 0);
	assert_int_equal(channel_parse(base, strlen(base), &c, NULL), 0);
	assert_int_equal(channel_sign(s, &c, &file, ret_len), 0);
	verity_signer_free(s);
	return file;
}

static void test_signed(void **state)
{
	struct verity_keyring *kr = NULL;
	_cleanup_free_ char *file = NULL, *signer = NULL, *copy = NULL;
	struct channel c;
	const char *err = NULL;
	size_t len, tl = strlen(base);

	assert_int_equal(verity_keyring_load(tkpath("keyring"), NULL, &kr), 0);
	file = signed_file("dev-signing.key", "dev-signing.pem", &len);
	/* text first, byte for byte, then one PEM block */
	assert_memory_equal(file, base, tl);
	assert_memory_equal(file + tl, "-----BEGIN CMS-----\n", 20);
	assert_int_equal(channel_verify(kr, file, len, &c, &signer, &err), 0);
	assert_int_equal(c.serial, 17);
	assert_non_null(strstr(signer, "CN="));

	copy = malloc(len + 64);
	assert_non_null(copy);
	/* an edited text no longer matches the signature */
	memcpy(copy, file, len);
	copy[strlen("format=1\nchannel=stable\ncompatible=acme-gw-1\nserial=")] = '9';
	assert_int_equal(channel_verify(kr, copy, len, &c, NULL, &err), -EBADMSG);
	assert_string_equal(err, "channel signature: does not match the signed data");
	/* no signature at all */
	assert_int_equal(channel_verify(kr, base, tl, &c, NULL, &err), -EBADMSG);
	assert_string_equal(err, "channel file has no signature (no -----BEGIN CMS----- line)");
	/* bytes after the PEM block */
	memcpy(copy, file, len);
	memcpy(copy + len, "x\n", 3);
	assert_int_equal(channel_verify(kr, copy, len + 2, &c, NULL, &err), -EBADMSG);
	assert_string_equal(err, "bytes after the channel signature");
	/* a damaged PEM body */
	memcpy(copy, file, len);
	copy[tl + 30] = '*';
	assert_int_equal(channel_verify(kr, copy, len, &c, NULL, &err), -EBADMSG);
	/* another PEM type */
	memcpy(copy, file, len);
	memcpy(copy + tl, "-----BEGIN CMS-----\n-----END CERTIFICATE-----\n", 47);
	assert_int_equal(channel_verify(kr, copy, tl + 47, &c, NULL, &err), -EBADMSG);
	/* far too large */
	assert_int_equal(channel_verify(kr, file, CHANNEL_MAX_FILE + 1, &c, NULL, &err), -EBADMSG);
	free(file);

	/* a signer nobody trusts */
	file = signed_file("other-signing.key", "other-signing.pem", &len);
	assert_int_equal(channel_verify(kr, file, len, &c, NULL, &err), -EKEYREJECTED);
	assert_string_equal(err, "channel signature: not signed by a trusted CA");
	verity_keyring_free(kr);
}

/* ------------------------------------------------------------ client */

static void test_backoff(void **state)
{
	/* no failure, no wait; then base * 2^(n-1), capped */
	assert_int_equal(channel_backoff(0, 900, 86400, 0), 0);
	assert_int_equal(channel_backoff(1, 900, 86400, 0), 900);
	assert_int_equal(channel_backoff(2, 900, 86400, 0), 1800);
	assert_int_equal(channel_backoff(3, 900, 86400, 0), 3600);
	assert_int_equal(channel_backoff(7, 900, 86400, 0), 57600);
	assert_int_equal(channel_backoff(8, 900, 86400, 0), 86400);
	assert_int_equal(channel_backoff(1000, 900, 86400, 0), 86400);
	assert_int_equal(channel_backoff(UINT64_MAX, 900, 86400, 0), 86400);
	/* no overflow with huge bases */
	assert_int_equal(channel_backoff(200, UINT64_MAX / 3, UINT64_MAX, 0), UINT64_MAX);
	/* jitter takes off at most a quarter */
	assert_int_equal(channel_backoff(1, 900, 86400, 225), 675);
	assert_int_equal(channel_backoff(1, 900, 86400, 226), 900);
	for (uint32_t r = 0; r < 5000; r += 7) {
		uint64_t d = channel_backoff(4, 900, 86400, r);
		assert_true(d >= 5400 && d <= 7200);
	}
	assert_int_equal(channel_backoff(3, 0, 86400, 5), 0);
}

static void test_state_failed(void **state)
{
	struct channel_state s;

	channel_state_init(&s);
	channel_state_failed(&s, 1000, 0);
	assert_int_equal(s.failures, 1);
	assert_int_equal(s.last_attempt, 1000);
	assert_int_equal(s.next_attempt, 1000 + CHANNEL_BACKOFF_BASE);
	channel_state_failed(&s, 2000, 0);
	assert_int_equal(s.failures, 2);
	assert_int_equal(s.next_attempt, 2000 + 2 * CHANNEL_BACKOFF_BASE);
	/* the end of time does not wrap around */
	channel_state_failed(&s, UINT64_MAX - 5, 0);
	assert_int_equal(s.next_attempt, UINT64_MAX);
}

static void test_state_file(void **state)
{
	_cleanup_free_ char *text = NULL;
	struct channel_state s, back;
	const char *err = NULL;
	size_t len;

	channel_state_init(&s);
	s.accepted = true;
	s.last_serial = 17;
	s.last_version = 42;
	s.failures = 3;
	s.next_attempt = 1797336000;
	s.pending_version = 42;
	s.pending_slot = 1;
	s.failed_version = 41;
	assert_int_equal(channel_state_format(&s, &text, &len), 0);
	assert_non_null(strstr(text, "pending_slot=B\n"));
	assert_int_equal(channel_state_parse(text, len, &back, &err), 0);
	assert_memory_equal(&s, &back, sizeof s);

	assert_int_equal(channel_state_parse("format=1\n", 9, &back, &err), -EBADMSG);
	assert_string_equal(err, "missing key 'accepted'");
	{
		char t[1024];
		snprintf(t, sizeof t, "%s", text);
		*strstr(t, "pending_slot=B") = 'q';
		assert_int_equal(channel_state_parse(t, strlen(t), &back, &err), -EBADMSG);
		assert_string_equal(err, "unknown key in state file");
		snprintf(t, sizeof t, "%s", text);
		strstr(t, "pending_slot=B")[13] = '-';
		assert_int_equal(channel_state_parse(t, strlen(t), &back, &err), -EBADMSG);
		assert_string_equal(err, "pending_slot and pending_version disagree");
		snprintf(t, sizeof t, "%s", text);
		strstr(t, "accepted=1")[9] = '2';
		assert_int_equal(channel_state_parse(t, strlen(t), &back, &err), -EBADMSG);
		assert_string_equal(err, "bad value for 'accepted'");
	}
}

static void test_state_load_save(void **state)
{
	char dir[] = "/tmp/test_channel.XXXXXX", path[64], cmd[128];
	struct channel_state s, back;
	const char *err = NULL;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state", dir);
	/* missing: a fresh state */
	assert_int_equal(channel_state_load(path, &back, &err), 0);
	assert_int_equal(back.accepted, false);
	assert_int_equal(back.pending_slot, BOOTCTL_SLOT_NONE);
	channel_state_init(&s);
	s.accepted = true;
	s.last_serial = 99;
	assert_int_equal(channel_state_save(path, &s), 0);
	assert_int_equal(channel_state_load(path, &back, &err), 0);
	assert_memory_equal(&s, &back, sizeof s);
	/* damaged: refused, never reset */
	f = fopen(path, "we");
	assert_non_null(f);
	fputs("format=1\nlast_serial=1\n", f);
	fclose(f);
	assert_int_equal(channel_state_load(path, &back, &err), -EBADMSG);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_check(void **state)
{
	struct channel c;
	struct channel_state s;
	char msg[INSTALL_MSG_MAX];
	const uint64_t now = 1797336000 - 10; /* 10 s before base expires */

	assert_int_equal(channel_parse(base, strlen(base), &c, NULL), 0);
	channel_state_init(&s);
	/* a fresh device accepts any serial */
	assert_int_equal(channel_check(&c, &s, "acme-gw-1", now, msg), 0);
	assert_int_equal(channel_check(&c, &s, "acme-gw-2", now, msg), -EMEDIUMTYPE);
	assert_string_equal(msg, "channel 'stable' is for 'acme-gw-1', this device is 'acme-gw-2'");
	assert_int_equal(channel_check(&c, &s, "acme-gw-1", now + 10, msg), -ETIME);
	assert_string_equal(msg, "channel metadata expired at 2026-12-15T12:00:00Z (0 s ago): refusing a possibly frozen channel");
	s.accepted = true;
	s.last_serial = 18;
	s.last_version = 43;
	assert_int_equal(channel_check(&c, &s, "acme-gw-1", now, msg), -ESTALE);
	assert_string_equal(msg, "channel serial 17 is lower than the last accepted 18: refusing replayed metadata");
	s.last_serial = 17;
	assert_int_equal(channel_check(&c, &s, "acme-gw-1", now, msg), -ESTALE);
	s.last_version = 42;
	assert_int_equal(channel_check(&c, &s, "acme-gw-1", now, msg), 0);
	s.last_serial = 16;
	s.last_version = 1;
	assert_int_equal(channel_check(&c, &s, "acme-gw-1", now, msg), 0);
}

static void test_resolve(void **state)
{
	static const struct { const char *base, *rel, *want; } t[] = {
		{ "https://u.example/ch/stable.channel", "b.upd", "https://u.example/ch/b.upd" },
		{ "https://u.example/ch/stable.channel", "../img/b.upd", "https://u.example/img/b.upd" },
		{ "https://u.example/ch/stable.channel", "/b.upd", "https://u.example/b.upd" },
		{ "https://u.example:8443/ch/stable.channel?x=1", "b.upd", "https://u.example:8443/ch/b.upd" },
		{ "https://u.example/ch/stable.channel", "https://cdn.example/b.upd", "https://cdn.example/b.upd" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		_cleanup_free_ char *u = NULL;
		assert_int_equal(channel_resolve_url(t[i].base, t[i].rel, &u), 0);
		assert_string_equal(u, t[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_base),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_text_rules),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_state_failed),
		cmocka_unit_test(test_state_file),
		cmocka_unit_test(test_state_load_save),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
