/* rootfs-install: stream a signed update into the inactive slot. */
#include "installer/installer.h"
#include "common/ini.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char usage_text[] =
"Usage: rootfs-install [OPTIONS] SOURCE\n"
"       rootfs-install [OPTIONS] --check URL | --channel URL [--json] [--state FILE]\n"
"Streams a signed update image (a file, - for stdin, or an https:// URL)\n"
"into the inactive slot, verifying it in the same pass, then tells the\n"
"bootloader to try it.\n"
"\n"
"  --config FILE        configuration (default " INSTALL_DEFAULT_CONFIG ")\n"
"  --disk IMAGE         install into a GPT disk image; its last confirmed\n"
"                       slot (ROOTFS_GOOD) counts as the booted one\n"
"  --keyring PATH       CA certificate file or directory ([device] keyring)\n"
"  --crl PATH           CRL file or directory ([device] crl)\n"
"  --compatible STR     this device's compatible string ([device] compatible)\n"
"  --attempts N         boot attempts for the new slot, 1-9 ([bootloader] attempts)\n"
"  --allow-downgrade    accept an older version if [install] allow_downgrade = yes\n"
"  --no-activate        write and verify the slot, leave the bootloader alone\n"
"  --progress=MODE      bar (default on a terminal), json (lines on stdout), none\n"
"  --tls-ca FILE        CA bundle for the server ([tls] ca; default: system store)\n"
"  --tls-cert FILE      client certificate for mutual TLS ([tls] cert)\n"
"  --tls-key FILE       its private key ([tls] key)\n"
"  --tls-pin sha256//B64  pin the server's public key ([tls] pin)\n"
"  --allow-http         allow plain http:// ([tls] allow_http)\n"
"  --check URL          fetch and verify the signed channel metadata at URL (same\n"
"                       TLS options); say whether it offers a newer version\n"
"  --channel URL        the same, then install the announced image if it is newer\n"
"                       than the booted slot's (its size and sha256 must match)\n"
"  --json               with --check/--channel: print what was found as JSON\n"
"  --state FILE         channel state (default " CHANNEL_DEFAULT_STATE ")\n"
"  -h, --help           this text\n"
"\n"
"Exit codes:\n"
"   0  installed (and activated unless --no-activate)\n"
"   1  other failure\n"
"   2  usage: bad option or source\n"
"   3  bad signature, tampered, truncated or malformed update image\n"
"   4  incompatible: the update is for another device\n"
"   5  downgrade refused\n"
"   6  no space: the update does not fit the slot\n"
"   7  I/O error reading the source or writing the slot\n"
"   8  network: TLS, HTTP or connection failure\n"
"   9  busy: another install holds the lock\n"
"  10  configuration, keyring, slots or boot environment problem\n"
"With --check / --channel (errors as above; a refused channel file is 3, or 4\n"
"for another compatible):\n"
"   0  --check: a newer version is available; --channel: it is installed\n"
"  20  up to date (nothing newer than the running version)\n"
"  21  an installed update waits for a reboot: nothing done\n"
"  22  backing off after failures: the server was not contacted\n"
"  23  stale channel metadata: expired, or a serial lower than the last accepted\n";

enum progress_mode { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_JSON, PROGRESS_NONE };

struct progress {
	enum progress_mode mode;
	uint64_t start_ns, last_ns;
	unsigned last_pct;
	bool drawn;
};

static void progress_cb(void *userdata, uint64_t done, uint64_t total)
{
	struct progress *p = userdata;
	uint64_t now = now_ns(), el = now - p->start_ns;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	double mbps = el ? (double)done / 1e6 / ((double)el / 1e9) : 0;
	double eta = mbps > 0 ? (double)(total - done) / 1e6 / mbps : 0;

	if (done < total && now - p->last_ns < 200000000ULL && pct == p->last_pct)
		return;
	if (p->drawn && done == total && p->last_pct == 100)
		return;
	p->last_ns = now;
	p->last_pct = pct;
	if (p->mode == PROGRESS_JSON) {
		printf("{\"event\":\"progress\",\"done\":%llu,\"total\":%llu,\"percent\":%u,\"mb_per_s\":%.1f,\"eta_s\":%.0f}\n",
		       (unsigned long long)done, (unsigned long long)total, pct, mbps, eta);
		fflush(stdout);
	} else if (p->mode == PROGRESS_BAR) {
		char bar[31];
		unsigned fill = pct * 30 / 100;
		memset(bar, '#', fill);
		memset(bar + fill, '.', 30 - fill);
		bar[30] = 0;
		fprintf(stderr, "\r%3u%% [%s] %7.1f MB/s  ETA %u:%02u ", pct, bar, mbps,
		        (unsigned)eta / 60, (unsigned)eta % 60);
	}
	p->drawn = true;
}

static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("rootfs-install: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return INSTALL_EXIT_USAGE;
}

enum {
	OPT_CONFIG = 256, OPT_DISK, OPT_KEYRING, OPT_CRL, OPT_COMPATIBLE, OPT_ATTEMPTS, OPT_DOWNGRADE,
	OPT_NO_ACTIVATE, OPT_PROGRESS, OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_PIN, OPT_ALLOW_HTTP,
	OPT_CHECK, OPT_CHANNEL, OPT_JSON, OPT_STATE,
};

static const struct option options[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "keyring", required_argument, NULL, OPT_KEYRING },
	{ "crl", required_argument, NULL, OPT_CRL },
	{ "compatible", required_argument, NULL, OPT_COMPATIBLE },
	{ "attempts", required_argument, NULL, OPT_ATTEMPTS },
	{ "allow-downgrade", no_argument, NULL, OPT_DOWNGRADE },
	{ "no-activate", no_argument, NULL, OPT_NO_ACTIVATE },
	{ "progress", required_argument, NULL, OPT_PROGRESS },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "tls-pin", required_argument, NULL, OPT_TLS_PIN },
	{ "allow-http", no_argument, NULL, OPT_ALLOW_HTTP },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "channel", required_argument, NULL, OPT_CHANNEL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* Options given on the command line, applied over the configuration. */
struct overrides {
	const char *config, *keyring, *crl, *compatible, *ca, *cert, *key, *pin;
	bool allow_http;
};

static int apply(struct install_config *c, const struct overrides *ov)
{
	const struct { char **dst; const char *src; } s[] = {
		{ &c->keyring, ov->keyring }, { &c->crl, ov->crl }, { &c->compatible, ov->compatible },
		{ &c->tls.ca, ov->ca }, { &c->tls.cert, ov->cert }, { &c->tls.key, ov->key }, { &c->tls.pin, ov->pin },
	};

	for (size_t i = 0; i < ARRAY_SIZE(s); i++)
		if (s[i].src && install_set_str(s[i].dst, s[i].src) < 0)
			return -ENOMEM;
	if (ov->allow_http)
		c->tls.allow_http = true;
	return 0;
}

static void log_result(const struct install_config *c, const struct install_report *rep, uint64_t ms)
{
	const char *lf = c->log_file ? c->log_file : INSTALL_DEFAULT_LOG;
	bool ok = rep->exit_code == INSTALL_EXIT_OK;
	char target[2] = { rep->target, 0 };
	struct install_record rec = {
		.source = rep->source,
		.from_version = rep->from_version[0] ? rep->from_version : NULL,
		.to_version = rep->to_version[0] ? rep->to_version : NULL,
		.target = rep->target ? target : NULL,
		.outcome = ok ? "success" : "failure",
		.reason = ok ? NULL : rep->reason,
		.duration_ms = ms,
		.bytes = rep->bytes,
	};
	int r;

	openlog("rootfs-install", LOG_PID, LOG_DAEMON);
	if (ok)
		syslog(LOG_NOTICE, "installed %s into slot %c from %s (%llu bytes, %llu ms)", rep->to_version,
		       rep->target, rep->source, (unsigned long long)rep->bytes, (unsigned long long)ms);
	else
		syslog(LOG_ERR, "install from %s failed: %s", rep->source, rep->reason);
	r = install_record_append(lf, &rec);
	if (r < 0)
		syslog(LOG_WARNING, "cannot append to %s: %s", lf, strerror(-r));
	closelog();
}

/* Channel checks are logged like installs: syslog and one JSON line. */
static void log_channel(const struct install_config *c, const struct channel_report *rep, uint64_t ms)
{
	const char *lf = c->log_file ? c->log_file : INSTALL_DEFAULT_LOG;
	bool bad = rep->exit_code != 0 && rep->exit_code != CHANNEL_EXIT_UP_TO_DATE &&
	           rep->exit_code != CHANNEL_EXIT_PENDING;
	struct install_record rec = {
		.source = rep->url,
		.from_version = rep->have_running ? rep->running_version_string : NULL,
		.to_version = rep->have_channel ? rep->ch.version_string : NULL,
		.outcome = rep->outcome,
		.reason = rep->reason,
		.duration_ms = ms,
	};
	int r;

	openlog("rootfs-install", LOG_PID, LOG_DAEMON);
	syslog(bad ? LOG_ERR : LOG_INFO, "channel %s: %s: %s", rep->url, rep->outcome, rep->reason);
	r = install_record_append(lf, &rec);
	if (r < 0)
		syslog(LOG_WARNING, "cannot append to %s: %s", lf, strerror(-r));
	closelog();
}

static int run_channel(const struct install_config *c, const struct bootctl_config *bc,
                       const struct channel_options *co, bool json, uint64_t start)
{
	_cleanup_free_ struct channel_report *rep = malloc(sizeof(*rep));
	_cleanup_free_ char *line = NULL;
	bool quiet_ok;

	if (!rep) {
		fputs("rootfs-install: out of memory\n", stderr);
		return INSTALL_EXIT_FAILURE;
	}
	(void)channel_run(c, bc, co, rep);
	if (rep->install_ran)
		log_result(c, &rep->install, (now_ns() - start) / 1000000);
	log_channel(c, rep, (now_ns() - start) / 1000000);
	if (json && channel_report_json(rep, &line) == 0) {
		fputs(line, stdout);
		fflush(stdout);
	}
	quiet_ok = rep->exit_code == 0 || rep->exit_code == CHANNEL_EXIT_UP_TO_DATE ||
	           rep->exit_code == CHANNEL_EXIT_PENDING;
	if (!quiet_ok)
		fprintf(stderr, "rootfs-install: %s\n", rep->reason);
	else if (!json)
		printf("rootfs-install: %s\n", rep->reason);
	return rep->exit_code;
}

/* A configuration that cannot be read is a failed install too: syslog it
 * (the log file may be what the configuration failed to name). */
static int config_failure(struct install_config *c, const char *msg)
{
	install_config_clear(c);
	fprintf(stderr, "rootfs-install: %s\n", msg);
	openlog("rootfs-install", LOG_PID, LOG_DAEMON);
	syslog(LOG_ERR, "install not started: %s", msg);
	closelog();
	return INSTALL_EXIT_CONFIG;
}

int main(int argc, char **argv)
{
	struct install_config cfg;
	struct bootctl_config bc;
	struct overrides ov = { 0 };
	struct install_options o = { 0 };
	struct install_report rep;
	struct progress prog = { .mode = PROGRESS_AUTO };
	struct channel_options co = { 0 };
	bool json = false;
	char msg[INSTALL_MSG_MAX] = "";
	struct ini_error ie = { 0 };
	uint64_t start = now_ns(), v;
	int opt, r;

	signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill an install midway */
	install_config_init(&cfg);
	bootctl_config_default(&bc);

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CONFIG: ov.config = optarg; break;
		case OPT_DISK: o.disk = optarg; break;
		case OPT_KEYRING: ov.keyring = optarg; break;
		case OPT_CRL: ov.crl = optarg; break;
		case OPT_COMPATIBLE: ov.compatible = optarg; break;
		case OPT_ATTEMPTS:
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > BOOTCTL_MAX_ATTEMPTS)
				return die_usage("--attempts: '%s' is not a number from 1 to 9", optarg);
			o.attempts = (unsigned)v;
			break;
		case OPT_DOWNGRADE: o.allow_downgrade = true; break;
		case OPT_NO_ACTIVATE: o.no_activate = true; break;
		case OPT_PROGRESS:
			if (!strcmp(optarg, "bar")) prog.mode = PROGRESS_BAR;
			else if (!strcmp(optarg, "json")) prog.mode = PROGRESS_JSON;
			else if (!strcmp(optarg, "none")) prog.mode = PROGRESS_NONE;
			else return die_usage("--progress: '%s' is not bar, json or none", optarg);
			break;
		case OPT_TLS_CA: ov.ca = optarg; break;
		case OPT_TLS_CERT: ov.cert = optarg; break;
		case OPT_TLS_KEY: ov.key = optarg; break;
		case OPT_TLS_PIN: ov.pin = optarg; break;
		case OPT_ALLOW_HTTP: ov.allow_http = true; break;
		case OPT_CHECK: co.url = optarg; co.do_install = false; break;
		case OPT_CHANNEL: co.url = optarg; co.do_install = true; break;
		case OPT_JSON: json = true; break;
		case OPT_STATE: co.state_file = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return die_usage("bad option (see --help)");
		}
	}
	if (co.url && optind != argc)
		return die_usage("--check and --channel take no SOURCE");
	/* an installed update must be tried at the next boot, or the client
	 * could not tell "waiting for the reboot" from "did not boot" */
	if (co.do_install && o.no_activate)
		return die_usage("--no-activate does not go with --channel");
	if (!co.url && (json || co.state_file))
		return die_usage("--json and --state go with --check or --channel");
	if (!co.url && optind != argc - 1)
		return die_usage("%s", optind == argc ? "missing SOURCE (see --help)" : "more than one SOURCE");
	o.source = co.url ? co.url : argv[optind];
	if (!!ov.cert != !!ov.key)
		return die_usage("--tls-cert and --tls-key go together");

	/* The default file may be absent (everything then comes from options). */
	r = install_config_load(&cfg, ov.config ? ov.config : INSTALL_DEFAULT_CONFIG, msg);
	if (r < 0 && !(r == -ENOENT && !ov.config))
		return config_failure(&cfg, msg);
	if (r == 0 || ov.config) {
		r = bootctl_config_load(ov.config ? ov.config : INSTALL_DEFAULT_CONFIG, &bc, &ie);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "%s: %s", ov.config ? ov.config : INSTALL_DEFAULT_CONFIG,
			         ie.msg[0] ? ie.msg : strerror(-r));
			return config_failure(&cfg, msg);
		}
	}
	if (apply(&cfg, &ov) < 0) {
		fputs("rootfs-install: out of memory\n", stderr);
		return INSTALL_EXIT_FAILURE;
	}
	if (!!cfg.tls.cert != !!cfg.tls.key) {
		return config_failure(&cfg, "a TLS client certificate needs its key and the other way round");
	}

	if (prog.mode == PROGRESS_AUTO)
		prog.mode = isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_NONE;
	prog.start_ns = now_ns();
	if (prog.mode != PROGRESS_NONE) {
		o.progress = progress_cb;
		o.progress_userdata = &prog;
	}

	if (co.url) {
		co.install = o;
		r = run_channel(&cfg, &bc, &co, json, start);
		install_config_clear(&cfg);
		return r;
	}
	r = install_run(&cfg, &bc, &o, &rep);
	if (prog.mode == PROGRESS_BAR && prog.drawn)
		fputc('\n', stderr);
	if (r < 0 && rep.exit_code == INSTALL_EXIT_OK)
		rep.exit_code = INSTALL_EXIT_FAILURE;
	log_result(&cfg, &rep, (now_ns() - start) / 1000000);
	if (prog.mode == PROGRESS_JSON) {
		printf("{\"event\":\"done\",\"outcome\":\"%s\",\"exit_code\":%d,\"target\":\"%c\"}\n",
		       rep.exit_code ? "failure" : "success", rep.exit_code, rep.target ? rep.target : '-');
		fflush(stdout);
	}
	if (rep.exit_code != INSTALL_EXIT_OK)
		fprintf(stderr, "rootfs-install: %s\n", rep.reason);
	install_config_clear(&cfg);
	return rep.exit_code;
}
