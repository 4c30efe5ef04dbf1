/* Unit tests for installer/: configuration, log records and sources
 * (files, scheme policy, size promises, URL redaction). The HTTPS paths
 * are tested against a real nginx in tests/integration/install-https.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ini.h"
#include "common/util.h"
#include "installer/installer.h"

static char *write_tmp(const char *text)
{
	char *p = strdup("/tmp/test_install.XXXXXX");
	int fd = mkostemp(p, O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, text, strlen(text)), 0);
	close(fd);
	return p;
}

static void test_config_example(void **state)
{
	struct install_config c;
	struct bootctl_config bc;
	struct ini_error e = { 0 };
	char msg[INSTALL_MSG_MAX] = "";

	/* the shipped example must stay valid for both readers */
	install_config_init(&c);
	assert_int_equal(install_config_load(&c, "installer/rootfs-install.conf.example", msg), 0);
	assert_string_equal(c.compatible, "acme-gw-x86");
	assert_string_equal(c.keyring, "/etc/rootfs-update/keyring");
	assert_null(c.crl);
	assert_false(c.allow_downgrade);
	assert_string_equal(c.lock_file, "/run/rootfs-install.lock");
	assert_false(c.tls.allow_http);
	assert_true(c.tls.retries == 5 && c.tls.connect_timeout == 10 && c.tls.low_speed_time == 30);
	install_config_clear(&c);
	assert_int_equal(bootctl_config_load("installer/rootfs-install.conf.example", &bc, &e), 0);
	assert_int_equal(bc.backend, BOOTCTL_BACKEND_GRUB);
	assert_int_equal(bc.attempts, 3);
}

static void test_config_values(void **state)
{
	struct install_config c;
	char msg[INSTALL_MSG_MAX] = "";
	char *p = write_tmp("[device]\ncompatible = board-1\n[slots]\na = x\n[install]\nallow_downgrade = yes\n"
	                    "[tls]\nallow_http = true\nretries = 0\npin = sha256//abc\n");

	install_config_init(&c);
	assert_int_equal(install_config_load(&c, p, msg), 0);
	assert_string_equal(c.compatible, "board-1");
	assert_true(c.allow_downgrade && c.tls.allow_http);
	assert_true(c.tls.retries == 0);
	assert_string_equal(c.tls.pin, "sha256//abc");
	install_config_clear(&c);
	unlink(p);
	free(p);
}

static void expect_bad(const char *text, const char *needle)
{
	struct install_config c;
	char msg[INSTALL_MSG_MAX] = "";
	char *p = write_tmp(text);

	install_config_init(&c);
	assert_int_equal(install_config_load(&c, p, msg), -EBADMSG);
	if (!strstr(msg, needle))
		fail_msg("'%s' does not mention '%s'", msg, needle);
	install_config_clear(&c);
	unlink(p);
	free(p);
}

static void test_config_errors(void **state)
{
	struct install_config c;
	char msg[INSTALL_MSG_MAX] = "";

	expect_bad("[device]\ncompatibel = x\n", "line 2: unknown key");
	expect_bad("[devices]\ncompatible = x\n", "unknown section");
	expect_bad("[install]\nallow_downgrade = maybe\n", "yes or no");
	expect_bad("[tls]\nretries = 1000\n", "out of range");
	expect_bad("[tls]\nconnect_timeout = 0\n", "out of range");
	expect_bad("[tls]\nconnect_timeout = -1\n", "out of range");
	expect_bad("[device]\nkeyring =\n", "empty value");
	expect_bad("[device]\nkeyring = a\nkeyring = b\n", "duplicate");
	install_config_init(&c);
	assert_int_equal(install_config_load(&c, "/nonexistent/rootfs-install.conf", msg), -ENOENT);
	install_config_clear(&c);
}

static void test_record(void **state)
{
	struct install_record rec = {
		.source = "https://h/x\"y\\z", .from_version = "1.0", .to_version = NULL, .target = "B",
		.outcome = "failure", .reason = "bad\nline\x01", .duration_ms = 12, .bytes = 4096,
	};
	char *line = NULL;

	assert_int_equal(install_record_format(&rec, 1700000000, &line), 0);
	assert_string_equal(line,
	        "{\"time\":\"2023-11-14T22:13:20Z\",\"source\":\"https://h/x\\\"y\\\\z\",\"from_version\":\"1.0\","
	        "\"to_version\":null,\"target\":\"B\",\"outcome\":\"failure\",\"reason\":\"bad\\nline\\u0001\","
	        "\"duration_ms\":12,\"bytes\":4096}\n");
	free(line);
}

static void test_record_append(void **state)
{
	struct install_record rec = { .source = "a", .outcome = "success" };
	char *p = write_tmp("");
	uint8_t *data;
	size_t len;

	assert_int_equal(install_record_append(p, &rec), 0);
	assert_int_equal(install_record_append(p, &rec), 0);
	assert_int_equal(read_file_bounded(p, 4096, &data, &len), 0);
	assert_int_equal(strchr((char *)data, '\n') - (char *)data + 1, len / 2);
	assert_int_equal(((char *)data)[len - 1], '\n');
	free(data);
	unlink(p);
	free(p);
}

static void test_source_file(void **state)
{
	struct install_tls tls = { .retries = 1, .connect_timeout = 1, .low_speed_time = 1 };
	struct install_source *s;
	char msg[INSTALL_MSG_MAX] = "";
	char *p = write_tmp("0123456789");
	char buf[16];

	assert_int_equal(install_source_open(p, &tls, &s, msg), 0);
	assert_false(install_source_is_network(s));
	assert_string_equal(install_source_name(s), p);
	/* a regular file must be exactly as long as the head promises */
	assert_int_equal(install_source_set_size(s, 11), -EPROTO);
	assert_int_equal(install_source_set_size(s, 9), -EBADMSG);
	assert_int_equal(install_source_set_size(s, 10), 0);
	assert_int_equal(install_source_read(s, buf, sizeof(buf)), 10);
	assert_int_equal(install_source_read(s, buf, sizeof(buf)), 0);
	assert_null(install_source_error(s));
	install_source_free(s);
	unlink(p);
	assert_int_equal(install_source_open(p, &tls, &s, msg), -ENOENT);
	assert_non_null(strstr(msg, p));
	free(p);
}

static void test_source_schemes(void **state)
{
	struct install_tls tls = { .retries = 0, .connect_timeout = 1, .low_speed_time = 1 };
	struct install_source *s = NULL;
	char msg[INSTALL_MSG_MAX] = "";

	assert_int_equal(install_source_open("http://127.0.0.1:1/x", &tls, &s, msg), -EPROTONOSUPPORT);
	assert_non_null(strstr(msg, "--allow-http"));
	assert_int_equal(install_source_open("ftp://127.0.0.1/x", &tls, &s, msg), -EPROTONOSUPPORT);
	assert_int_equal(install_source_open("file:///etc/passwd", &tls, &s, msg), -EPROTONOSUPPORT);
	tls.pin = "md5//abc";
	assert_int_equal(install_source_open("https://127.0.0.1:1/x", &tls, &s, msg), -EINVAL);
	tls.pin = NULL;
	assert_null(s);
}

static void test_source_network_failure(void **state)
{
	struct install_tls tls = { .retries = 0, .connect_timeout = 2, .low_speed_time = 2 };
	struct install_source *s;
	char msg[INSTALL_MSG_MAX] = "";
	char buf[16];

	/* nothing listens on port 1: the reader sees an error, not an empty image */
	assert_int_equal(install_source_open("https://user:secret@127.0.0.1:1/u.img?token=t", &tls, &s, msg), 0);
	assert_true(install_source_is_network(s));
	assert_string_equal(install_source_name(s), "https://127.0.0.1:1/u.img");
	assert_int_equal(install_source_read(s, buf, sizeof(buf)), -ENETDOWN);
	assert_non_null(install_source_error(s));
	install_source_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_example),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_record_append),
		cmocka_unit_test(test_source_file),
		cmocka_unit_test(test_source_schemes),
		cmocka_unit_test(test_source_network_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
