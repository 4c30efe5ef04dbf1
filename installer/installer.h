/* installer: what rootfs-install is made of. The configuration, the update
 * source (file, stdin or HTTPS with resume), the JSON log line and the
 * install steps themselves.
 *
 * Conventions as in verity/verity.h: int functions return 0 (or a
 * documented non-negative value) or a negative errno; ret_ parameters are
 * written only on success; nothing here prints. Where a failure needs more
 * than an errno to be understood (a TLS problem, a config line), a
 * caller-provided message buffer is filled, and that is the one output
 * written on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "bootctl/bootctl.h"
#include "verity/verity.h"

#define INSTALL_DEFAULT_CONFIG "/etc/rootfs-install.conf"
#define INSTALL_DEFAULT_LOCK "/run/rootfs-install.lock"
#define INSTALL_DEFAULT_LOG "/var/log/rootfs-install.log"
#define INSTALL_MSG_MAX 512

/* Exit codes of rootfs-install, one per class of failure. */
enum install_exit {
	INSTALL_EXIT_OK = 0,
	INSTALL_EXIT_FAILURE = 1,     /* anything not listed below */
	INSTALL_EXIT_USAGE = 2,
	INSTALL_EXIT_BADSIG = 3,      /* bad signature, tampered or malformed image */
	INSTALL_EXIT_INCOMPATIBLE = 4,
	INSTALL_EXIT_DOWNGRADE = 5,
	INSTALL_EXIT_NOSPACE = 6,
	INSTALL_EXIT_IO = 7,          /* reading the source or writing the slot */
	INSTALL_EXIT_NETWORK = 8,
	INSTALL_EXIT_BUSY = 9,        /* another install holds the lock */
	INSTALL_EXIT_CONFIG = 10,     /* configuration, keyring, slots, environment */
};

/* ------------------------------------------------------------------ */
/* Configuration: /etc/rootfs-install.conf, [device] [install] [tls]    */

struct install_tls {
	char *ca, *cert, *key, *pin;   /* NULL = unset; ca NULL = system store */
	bool allow_http;
	uint64_t connect_timeout;      /* seconds */
	uint64_t low_speed_time;       /* seconds below 1 KiB/s before giving up */
	uint64_t retries;              /* resumes after a dropped connection */
};

struct install_config {
	char *compatible, *keyring, *crl;
	bool allow_downgrade;
	char *log_file, *lock_file;
	struct install_tls tls;
};

/* Defaults (no strings set, 10 s connect, 30 s low speed,
 * 5 retries, no downgrade, no plain HTTP). */
void install_config_init(struct install_config *c);
/* Parses path into c (keys present override what c holds). Sections owned
 * by the boot-control library ([slots], [bootloader]: labels, backend,
 * environment, attempts) are skipped; any other unknown section or key is
 * an error. -ENOENT when path does not exist; -EBADMSG with a "line N: ..."
 * message in msg for bad content. */
int install_config_load(struct install_config *c, const char *path, char msg[INSTALL_MSG_MAX]);
void install_config_clear(struct install_config *c);
/* Replace *dst with a copy of src (NULL clears). */
int install_set_str(char **dst, const char *src);

/* ------------------------------------------------------------------ */
/* Sources: a file, "-" for stdin, or an https:// (http://) URL         */

struct install_source;

/* Opens spec. URLs start a fetcher thread that feeds a socket, so the
 * head is read from install_source_fd() like from a file, and payload
 * reads continue on it. On a dropped connection the fetcher resumes with
 * a Range request (tls->retries times, short back-off). -EPROTONOSUPPORT
 * for http:// without allow_http or another scheme; msg says why. */
int install_source_open(const char *spec, const struct install_tls *tls,
                        struct install_source **ret, char msg[INSTALL_MSG_MAX]);
int install_source_fd(const struct install_source *s);
/* The image size the verified head promises (payload offset + stored
 * size): the fetcher aborts a server that sends more, and a regular file
 * or a known Content-Length must match it. -EBADMSG when longer,
 * -EPROTO when shorter. */
int install_source_set_size(struct install_source *s, uint64_t total);
/* slot_read_fn: reads payload bytes; on a fetch failure returns -ENETDOWN
 * style errnos (see install_source_error). */
ssize_t install_source_read(void *source, void *buf, size_t len);
/* The fetcher's one-line failure ("SSL certificate problem: ...",
 * "HTTP status 404"), or NULL when the network is not at fault. */
const char *install_source_error(const struct install_source *s);
/* The source as it may be logged: URLs lose their user, password and
 * query (which often carries a token). */
const char *install_source_name(const struct install_source *s);
bool install_source_is_network(const struct install_source *s);
void install_source_free(struct install_source *s);

/* ------------------------------------------------------------------ */
/* Log: one JSON object a line, appended to the log file                */

struct install_record {
	const char *source;          /* as install_source_name */
	const char *from_version;    /* version_string of the running slot, or NULL */
	const char *to_version;      /* NULL when the head could not be read */
	const char *target;          /* slot name, or NULL */
	const char *outcome;         /* "success" or "failure" */
	const char *reason;          /* NULL on success */
	uint64_t duration_ms, bytes;
};
/* Formats the record as one JSON line (time in ISO-8601 UTC, strings
 * escaped); malloc'ed, ends with '\n'. */
int install_record_format(const struct install_record *rec, time_t when, char **ret_line);
/* Appends the line with O_APPEND (one write) and fsyncs. */
int install_record_append(const char *path, const struct install_record *rec);

/* ------------------------------------------------------------------ */
/* The install itself                                                   */

struct install_options {
	const char *source;            /* path, "-" or URL */
	const char *disk;              /* --disk IMAGE: slots inside a GPT disk image */
	unsigned attempts;             /* 0: the [bootloader] attempts */
	bool allow_downgrade;          /* needs [install] allow_downgrade too */
	bool no_activate;
	const char *cmdline;           /* NULL: /proc/cmdline */
	const char *mountinfo;         /* NULL: /proc/self/mountinfo */
	slot_progress_fn progress;     /* called in the caller's thread */
	void *progress_userdata;
};

/* What happened, for the message, the log and the exit code. */
struct install_report {
	enum install_exit exit_code;
	char reason[INSTALL_MSG_MAX];  /* one line, empty on success */
	char source[1024];
	char from_version[MANIFEST_MAX_STR], to_version[MANIFEST_MAX_STR]; /* empty = unknown */
	char target;                   /* 'A', 'B' or 0 */
	uint64_t bytes;                /* payload bytes written */
};

/* The steps of rootfs-install: lock; open the source; read and verify the
 * head (signature, compatible, version against the running slot's footer
 * and the rollback floor) before writing anything; find the slots and the
 * booted one (never the target); check the fit; invalidate the target in
 * the environment and erase its footer; slot_write; then try the target
 * with its attempts unless no_activate. c->keyring etc. are used as given
 * (the tool merges its options into c first). Returns 0 or a negative
 * errno; rep is filled in both cases (the documented exception to the
 * ret_ rule: the reason is the output of a failure). */
int install_run(const struct install_config *c, const struct bootctl_config *bc,
                const struct install_options *o, struct install_report *rep);
/* The step that opens the boot environment (also used by channel.c): the
 * configured backend, or GRUB on the ESP of o->disk. On failure rep has
 * the reason and a configuration exit code. */
int install_open_env(const struct bootctl_config *bc, const struct install_options *o,
                     const struct bootctl_parts *parts, struct bootctl **ret, struct install_report *rep);

/* ------------------------------------------------------------------ */
/* Channel client (channel.c): rootfs-install --check / --channel URL   */

#define CHANNEL_DEFAULT_STATE "/var/lib/rootfs-install/channel.state"
/* Back-off after consecutive failures: 15 min, doubling, at most a day. */
#define CHANNEL_BACKOFF_BASE 900
#define CHANNEL_BACKOFF_MAX 86400

/* Exit codes of --check and --channel; errors use enum install_exit. */
enum channel_exit {
	CHANNEL_EXIT_AVAILABLE = 0,   /* --check: a newer release; --channel: installed it */
	CHANNEL_EXIT_UP_TO_DATE = 20, /* nothing newer than the running version */
	CHANNEL_EXIT_PENDING = 21,    /* an update is installed and waits for a reboot */
	CHANNEL_EXIT_BACKOFF = 22,    /* not attempted: backing off after failures */
	CHANNEL_EXIT_STALE = 23,      /* refused: expired metadata or a lower serial */
};

/* The small state file, written atomically after every check. */
struct channel_state {
	uint64_t last_serial, last_version;  /* of the last accepted metadata */
	bool accepted;                       /* any metadata accepted yet */
	uint64_t failures;                   /* consecutive failed checks or installs */
	uint64_t next_attempt;               /* epoch seconds: no network before this */
	uint64_t last_attempt, last_success; /* epoch seconds, 0 = never */
	uint64_t pending_version;            /* installed, waiting for a reboot ... */
	int pending_slot;                    /* ... into this slot; BOOTCTL_SLOT_NONE = nothing pending */
	uint64_t failed_version;             /* a release that was installed and did not stick */
};

void channel_state_init(struct channel_state *s);
/* Strict key=value text (all keys, docs/FORMAT.md); -EBADMSG with ret_err. */
int channel_state_parse(const char *text, size_t len, struct channel_state *ret, const char **ret_err);
int channel_state_format(const struct channel_state *s, char **ret_text, size_t *ret_len);
/* A missing file is a fresh state (0); a damaged one is -EBADMSG (never
 * silently reset: the last serial guards against replays). */
int channel_state_load(const char *path, struct channel_state *ret, const char **ret_err);
int channel_state_save(const char *path, const struct channel_state *s);

/* Seconds to wait after `failures` consecutive failures: base * 2^(failures-1)
 * capped at max, less up to a quarter chosen by rnd so a fleet that failed
 * together does not come back together. 0 for no failures. */
uint64_t channel_backoff(uint64_t failures, uint64_t base, uint64_t max, uint32_t rnd);
/* Records one failure at time now: failures+1, next_attempt, last_attempt. */
void channel_state_failed(struct channel_state *s, uint64_t now, uint32_t rnd);

/* The checks on verified metadata: -EMEDIUMTYPE another compatible, -ETIME
 * expired (now >= expires), -ESTALE serial lower than the last accepted, or
 * the same serial announcing another version. msg says which. */
int channel_check(const struct channel *ch, const struct channel_state *s, const char *compatible,
                  uint64_t now, char msg[INSTALL_MSG_MAX]);

/* The image URL: ch_url resolved against the channel's URL (RFC 3986). */
int channel_resolve_url(const char *channel_url, const char *ch_url, char **ret);

struct channel_options {
	const char *url;                /* the channel file */
	bool do_install;                /* --channel: install a newer release */
	const char *state_file;         /* NULL: CHANNEL_DEFAULT_STATE */
	uint64_t now;                   /* 0: time(NULL) */
	struct install_options install; /* disk, attempts, cmdline, progress; source is set here */
};

struct channel_report {
	int exit_code;                  /* enum channel_exit or enum install_exit */
	const char *outcome;            /* "update-available", "installed", "up-to-date", "pending-reboot",
	                                 * "backoff", "refused", "failure" */
	char reason[INSTALL_MSG_MAX];   /* one line saying why (also for the good outcomes) */
	char url[1024];                 /* the channel URL as it may be logged */
	bool have_channel;
	struct channel ch;              /* verified metadata */
	char image_url[1024];
	bool have_running;
	uint64_t running_version;
	char running_version_string[MANIFEST_MAX_STR];
	struct channel_state state;     /* as saved */
	bool install_ran;
	struct install_report install;  /* when install_ran */
};

/* Lock the state; refuse while backing off or while an installed update
 * waits for its reboot (both without touching the network); read the
 * running slot's version; fetch the channel with the installer's fetcher
 * and TLS rules; verify it with the keyring; channel_check; save the new
 * serial. Then decide against the running version and, with o->install,
 * install the announced image through install_run, reading never more
 * than the channel's size and comparing the sha256 of the whole image
 * before its last byte is handed to the installer (so a substituted
 * image never becomes bootable). Every failure that involves the server
 * counts for the back-off. Returns 0 or a negative errno; rep is filled
 * in both cases (as install_run's). */
int channel_run(const struct install_config *c, const struct bootctl_config *bc,
                const struct channel_options *o, struct channel_report *rep);
/* rep as one JSON object and a newline (malloc'ed), for --json. */
int channel_report_json(const struct channel_report *rep, char **ret_line);
