/* The channel client behind rootfs-install --check and --channel: fetch
 * the signed channel metadata with the installer's HTTPS fetcher, refuse
 * stale, replayed or foreign metadata, and install the announced image
 * through install_run while holding it to the channel's size and sha256.
 *
 * A small state file (docs/FORMAT.md) remembers the last accepted serial
 * (replays), the consecutive failures and the time before which the server
 * is left alone (back-off), and an installed update that waits for its
 * reboot (never install twice). */
#include "installer/installer.h"
#include "common/macro.h"
#include "common/util.h"
#include "verity/kv-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#define STATE_MAX 4096
#define RELAY_CHUNK (1024 * 1024)

/* One line into a message buffer; long names are cut, which is fine. */
static void msgf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* State file                                                           */

enum state_key {
	S_FORMAT, S_ACCEPTED, S_LAST_SERIAL, S_LAST_VERSION, S_FAILURES, S_NEXT_ATTEMPT, S_LAST_ATTEMPT,
	S_LAST_SUCCESS, S_PENDING_VERSION, S_PENDING_SLOT, S_FAILED_VERSION, S_MAX
};
static const struct kv_key state_keys[S_MAX] = {
	KV_KEY("format"), KV_KEY("accepted"), KV_KEY("last_serial"), KV_KEY("last_version"),
	KV_KEY("failures"), KV_KEY("next_attempt"), KV_KEY("last_attempt"), KV_KEY("last_success"),
	KV_KEY("pending_version"), KV_KEY("pending_slot"), KV_KEY("failed_version"),
};
static const struct kv_format state_kv = {
	.max_size = STATE_MAX, .max_line = 256, .keys = state_keys, .nkeys = S_MAX,
	KV_MESSAGES("state file", "4 KiB", "256 bytes"),
};

void channel_state_init(struct channel_state *s)
{
	*s = (struct channel_state){ .pending_slot = BOOTCTL_SLOT_NONE };
}

static int state_value(void *userdata, size_t key, const char *v, const char **ret_err)
{
	struct channel_state *s = userdata;
	uint64_t *const u64s[S_MAX] = {
		[S_LAST_SERIAL] = &s->last_serial, [S_LAST_VERSION] = &s->last_version,
		[S_FAILURES] = &s->failures, [S_NEXT_ATTEMPT] = &s->next_attempt,
		[S_LAST_ATTEMPT] = &s->last_attempt, [S_LAST_SUCCESS] = &s->last_success,
		[S_PENDING_VERSION] = &s->pending_version, [S_FAILED_VERSION] = &s->failed_version,
	};
	uint64_t x;

	switch ((enum state_key)key) {
	case S_FORMAT:
		return parse_u64(v, &x) == 0 && x == 1 ? 0 : -EINVAL;
	case S_ACCEPTED:
		if (strcmp(v, "0") && strcmp(v, "1"))
			return -EINVAL;
		s->accepted = v[0] == '1';
		return 0;
	case S_PENDING_SLOT:
		if (strcmp(v, "-") == 0) {
			s->pending_slot = BOOTCTL_SLOT_NONE;
			return 0;
		}
		return strlen(v) == 1 && bootctl_slot_parse(v, &s->pending_slot) == 0 ? 0 : -EINVAL;
	default:
		if (key >= S_MAX || !u64s[key])
			return -EINVAL;
		return parse_u64(v, u64s[key]) < 0 ? -EINVAL : 0;
	}
}

int channel_state_parse(const char *text, size_t len, struct channel_state *ret, const char **ret_err)
{
	const char *err = NULL;
	struct channel_state s;
	int r;

	channel_state_init(&s);
	r = kv_parse(&state_kv, text, len, state_value, &s, ret_err ? ret_err : &err);
	if (r < 0)
		return r;
	if ((s.pending_slot == BOOTCTL_SLOT_NONE) != (s.pending_version == 0)) {
		if (ret_err)
			*ret_err = "pending_slot and pending_version disagree";
		return -EBADMSG;
	}
	*ret = s;
	return 0;
}

int channel_state_format(const struct channel_state *s, char **ret_text, size_t *ret_len)
{
	char slot[2] = { s->pending_slot == BOOTCTL_SLOT_NONE ? '-' : bootctl_slot_upper(s->pending_slot), 0 };
	char *buf = NULL;
	int n;

	n = asprintf(&buf,
	             "format=1\naccepted=%d\nlast_serial=%" PRIu64 "\nlast_version=%" PRIu64 "\nfailures=%" PRIu64
	             "\nnext_attempt=%" PRIu64 "\nlast_attempt=%" PRIu64 "\nlast_success=%" PRIu64
	             "\npending_version=%" PRIu64 "\npending_slot=%s\nfailed_version=%" PRIu64 "\n",
	             s->accepted ? 1 : 0, s->last_serial, s->last_version, s->failures, s->next_attempt,
	             s->last_attempt, s->last_success, s->pending_version, slot, s->failed_version);
	if (n < 0)
		return -ENOMEM;
	*ret_text = buf;
	*ret_len = (size_t)n;
	return 0;
}

int channel_state_load(const char *path, struct channel_state *ret, const char **ret_err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r;

	r = read_file_bounded(path, STATE_MAX, &data, &len);
	if (r == -ENOENT) {
		channel_state_init(ret);
		return 0;
	}
	if (r == -EFBIG) {
		if (ret_err)
			*ret_err = "state file larger than 4 KiB";
		return -EBADMSG;
	}
	if (r < 0)
		return r;
	return channel_state_parse((const char *)data, len, ret, ret_err);
}

int channel_state_save(const char *path, const struct channel_state *s)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = channel_state_format(s, &text, &len);
	if (r < 0)
		return r;
	return write_file_atomic(path, text, len, 0644);
}

/* ------------------------------------------------------------------ */
/* Back-off and checks                                                  */

uint64_t channel_backoff(uint64_t failures, uint64_t base, uint64_t max, uint32_t rnd)
{
	uint64_t d = base;

	if (failures == 0 || base == 0)
		return 0;
	for (uint64_t i = 1; i < failures && d < max; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	if (d > max)
		d = max;
	return d - (d / 4 ? rnd % (d / 4 + 1) : 0);
}

void channel_state_failed(struct channel_state *s, uint64_t now, uint32_t rnd)
{
	uint64_t next;

	if (s->failures < UINT64_MAX)
		s->failures++;
	s->last_attempt = now;
	if (u64_add(now, channel_backoff(s->failures, CHANNEL_BACKOFF_BASE, CHANNEL_BACKOFF_MAX, rnd), &next) < 0)
		next = UINT64_MAX;
	s->next_attempt = next;
}

static void when(uint64_t t, char buf[32])
{
	if (channel_time_format(t, buf) < 0)
		snprintf(buf, 32, "%" PRIu64, t);
}

int channel_check(const struct channel *ch, const struct channel_state *s, const char *compatible,
                  uint64_t now, char msg[INSTALL_MSG_MAX])
{
	char t[32];

	if (strcmp(ch->compatible, compatible) != 0) {
		msgf(msg, INSTALL_MSG_MAX, "channel '%s' is for '%s', this device is '%s'", ch->name,
		         ch->compatible, compatible);
		return -EMEDIUMTYPE;
	}
	if (now >= ch->expires) {
		when(ch->expires, t);
		msgf(msg, INSTALL_MSG_MAX,
		         "channel metadata expired at %s (%" PRIu64 " s ago): refusing a possibly frozen channel", t,
		         now - ch->expires);
		return -ETIME;
	}
	if (s->accepted && ch->serial < s->last_serial) {
		msgf(msg, INSTALL_MSG_MAX,
		         "channel serial %" PRIu64 " is lower than the last accepted %" PRIu64 ": refusing replayed metadata",
		         ch->serial, s->last_serial);
		return -ESTALE;
	}
	if (s->accepted && ch->serial == s->last_serial && ch->version != s->last_version) {
		msgf(msg, INSTALL_MSG_MAX,
		         "channel serial %" PRIu64 " announced version %" PRIu64 " before and now %" PRIu64
		         ": a new file needs a new serial", ch->serial, s->last_version, ch->version);
		return -ESTALE;
	}
	return 0;
}

int channel_resolve_url(const char *channel_url, const char *ch_url, char **ret)
{
	CURLU *u = curl_url();
	char *c = NULL;
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	/* setting a relative URL on a handle holding the base resolves it */
	if (curl_url_set(u, CURLUPART_URL, channel_url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, ch_url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &c, 0) == CURLUE_OK) {
		*ret = strdup(c);
		r = *ret ? 0 : -ENOMEM;
	}
	curl_free(c);
	curl_url_cleanup(u);
	return r;
}

/* ------------------------------------------------------------------ */
/* The device: booted slot, its signed version, the boot state          */

struct device {
	struct bootctl_state bs;
	int booted;
	bool have_running;
	uint64_t version;
	char version_string[MANIFEST_MAX_STR];
};

static void bootctlp(struct bootctl **b) { bootctl_free(*b); }

static int device_status(const struct bootctl_config *bc, const struct install_options *io,
                         const struct verity_keyring *kr, struct device *ret, struct install_report *irep)
{
	_cleanup_(bootctlp) struct bootctl *env = NULL;
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_close_ int fd = -1;
	struct bootctl_parts parts;
	struct device d = { 0 };
	const struct bootctl_part *p;
	int r;

	r = io->disk ? bootctl_discover_disk(io->disk, bc, &parts) : bootctl_discover_system(NULL, NULL, bc, &parts);
	if (r < 0) {
		msgf(irep->reason, sizeof irep->reason, "cannot find the slots: %s", strerror(-r));
		return r;
	}
	for (int i = 0; i < BOOTCTL_NSLOTS; i++)
		if (!parts.slot[i].found) {
			msgf(irep->reason, sizeof irep->reason, "no partition labelled '%s'", bc->label[i]);
			return -ENOENT;
		}
	r = install_open_env(bc, io, &parts, &env, irep);
	if (r < 0)
		return r;
	r = bootctl_load(env, &d.bs);
	if (r < 0) {
		msgf(irep->reason, sizeof irep->reason, "%s: %s", bootctl_location(env),
		         bootctl_why(env) ? bootctl_why(env) : strerror(-r));
		return r;
	}
	if (io->disk) {
		/* as install_run: an image's last confirmed slot stands in for the booted one */
		d.booted = d.bs.good;
		r = d.booted == BOOTCTL_SLOT_NONE ? -ENOENT : 0;
	} else
		r = bootctl_booted_slot(io->cmdline, &d.booted);
	if (r < 0) {
		msgf(irep->reason, sizeof irep->reason, "cannot tell the booted slot%s",
		         io->disk ? " (ROOTFS_GOOD unset)" : " (rootfs.slot= on the kernel command line)");
		return r;
	}
	p = &parts.slot[d.booted];
	fd = open(p->device, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && footer_read(fd, p->offset, p->size, &sm) == 0 && signed_manifest_verify(kr, &sm, NULL) == 0) {
		d.have_running = true;
		d.version = sm.m.version;
		snprintf(d.version_string, sizeof d.version_string, "%s", sm.m.version_string);
	}
	*ret = d;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Fetching                                                             */

static void sourcep(struct install_source **s) { install_source_free(*s); }
static void keyringp(struct verity_keyring **k) { verity_keyring_free(*k); }

/* The whole channel file, at most CHANNEL_MAX_FILE bytes (no endless data). */
static int fetch_channel(const struct install_config *c, const char *url, char **ret, size_t *ret_len,
                         char name[1024], char msg[INSTALL_MSG_MAX])
{
	_cleanup_(sourcep) struct install_source *src = NULL;
	_cleanup_free_ char *buf = malloc(CHANNEL_MAX_FILE + 1);
	size_t len = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	r = install_source_open(url, &c->tls, &src, msg);
	if (r < 0)
		return r;
	msgf(name, 1024, "%s", install_source_name(src));
	while (len <= CHANNEL_MAX_FILE) {
		ssize_t n = install_source_read(src, buf + len, CHANNEL_MAX_FILE + 1 - len);
		if (n <= 0) {
			r = (int)n;
			break;
		}
		len += (size_t)n;
	}
	if (install_source_error(src)) {
		msgf(msg, INSTALL_MSG_MAX, "%s: %s", install_source_name(src), install_source_error(src));
		return -ENETDOWN;
	}
	if (r < 0) {
		msgf(msg, INSTALL_MSG_MAX, "%s: %s", install_source_name(src), strerror(-r));
		return r;
	}
	if (len > CHANNEL_MAX_FILE) {
		msgf(msg, INSTALL_MSG_MAX, "%s: channel file larger than %u bytes", install_source_name(src),
		         (unsigned)CHANNEL_MAX_FILE);
		return -EFBIG;
	}
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* Sits between the HTTPS fetcher and install_run: hashes every byte of
 * the image and holds back the last one until the sha256 matches, so a
 * substituted image reaches the slot writer one byte short and fails
 * before its footer is written or the bootloader hears of it. */
struct relay {
	struct install_source *src;
	int wfd;
	uint64_t size, got;
	uint8_t want[32];
	bool mismatch;
	char neterr[INSTALL_MSG_MAX];
};

static void *relay_main(void *userdata)
{
	struct relay *rl = userdata;
	_cleanup_free_ uint8_t *buf = malloc(RELAY_CHUNK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	sigset_t pipe_set;

	/* a reader that gave up makes write() fail with EPIPE, not kill us */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	if (buf && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
		while (rl->got < rl->size) {
			size_t want = rl->size - rl->got < RELAY_CHUNK ? (size_t)(rl->size - rl->got) : RELAY_CHUNK;
			ssize_t n = install_source_read(rl->src, buf, want);
			size_t pass;

			if (n <= 0) {
				if (install_source_error(rl->src))
					msgf(rl->neterr, sizeof rl->neterr, "%s", install_source_error(rl->src));
				break;
			}
			if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
				break;
			rl->got += (uint64_t)n;
			pass = (size_t)n;
			if (rl->got == rl->size) {
				uint8_t sha[32];
				unsigned l = 0;
				if (EVP_DigestFinal_ex(md, sha, &l) != 1 || l != 32 || memcmp(sha, rl->want, 32) != 0) {
					rl->mismatch = true;
					pass--;
				}
			}
			if (write_full(rl->wfd, buf, pass) < 0)
				break;
		}
	}
	EVP_MD_CTX_free(md);
	close(rl->wfd);
	rl->wfd = -1;
	return NULL;
}

static int install_image(const struct install_config *c, const struct bootctl_config *bc,
                         const struct channel_options *o, struct channel_report *rep)
{
	_cleanup_(sourcep) struct install_source *src = NULL;
	struct install_report *irep = &rep->install;
	struct install_options io = o->install;
	struct relay rl = { .wfd = -1, .size = rep->ch.size };
	char msg[INSTALL_MSG_MAX] = "", path[64];
	pthread_t th;
	int pfd[2], r;

	rep->install_ran = true;
	*irep = (struct install_report){ .exit_code = INSTALL_EXIT_OK };
	snprintf(irep->source, sizeof irep->source, "%s", rep->image_url);
	memcpy(rl.want, rep->ch.sha256, 32);
	r = install_source_open(rep->image_url, &c->tls, &src, msg);
	if (r < 0) {
		irep->exit_code = r == -EPROTONOSUPPORT || r == -EINVAL ? INSTALL_EXIT_USAGE : INSTALL_EXIT_IO;
		msgf(irep->reason, sizeof irep->reason, "%s", msg[0] ? msg : strerror(-r));
		return r;
	}
	snprintf(irep->source, sizeof irep->source, "%s", install_source_name(src));
	/* the fetcher never takes more than the channel promises */
	(void)install_source_set_size(src, rep->ch.size);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		irep->exit_code = INSTALL_EXIT_IO;
		msgf(irep->reason, sizeof irep->reason, "pipe: %s", strerror(errno));
		return -errno;
	}
	(void)fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
	rl.src = src;
	rl.wfd = pfd[1];
	r = -pthread_create(&th, NULL, relay_main, &rl);
	if (r < 0) {
		close(pfd[0]);
		close(pfd[1]);
		irep->exit_code = INSTALL_EXIT_FAILURE;
		msgf(irep->reason, sizeof irep->reason, "cannot start a thread: %s", strerror(-r));
		return r;
	}
	snprintf(path, sizeof path, "/dev/fd/%d", pfd[0]);
	io.source = path;
	r = install_run(c, bc, &io, irep);
	/* stop the relay wherever it is: no reader, no more network */
	close(pfd[0]);
	shutdown(install_source_fd(src), SHUT_RDWR);
	pthread_join(th, NULL);
	snprintf(irep->source, sizeof irep->source, "%s", install_source_name(src));
	if (r < 0 && rl.mismatch) {
		irep->exit_code = INSTALL_EXIT_BADSIG;
		msgf(irep->reason, sizeof irep->reason,
		         "%s: the image's sha256 differs from the channel's: refusing a substituted image",
		         install_source_name(src));
	} else if (r < 0 && rl.neterr[0]) {
		irep->exit_code = INSTALL_EXIT_NETWORK;
		msgf(irep->reason, sizeof irep->reason, "%s: %s", install_source_name(src), rl.neterr);
	} else if (r == 0 && (rl.mismatch || rl.got != rl.size)) {
		/* cannot happen (the last byte is withheld), but never report it as good */
		irep->exit_code = INSTALL_EXIT_BADSIG;
		msgf(irep->reason, sizeof irep->reason, "image does not match the channel");
		r = -EBADMSG;
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* The run                                                              */

static int done(struct channel_report *rep, int exit_code, const char *outcome, int r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int done(struct channel_report *rep, int exit_code, const char *outcome, int r, const char *fmt, ...)
{
	va_list ap;

	rep->exit_code = exit_code;
	rep->outcome = outcome;
	va_start(ap, fmt);
	vsnprintf(rep->reason, sizeof rep->reason, fmt, ap);
	va_end(ap);
	return r;
}

static uint32_t jitter(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
		v = (uint32_t)now_ns();
	return v;
}

/* A failure that involved the server: count it, back off, save. */
static int server_failed(const char *state_path, struct channel_report *rep, uint64_t now, int exit_code,
                         int r, const char *why)
{
	int s;

	channel_state_failed(&rep->state, now, jitter());
	s = channel_state_save(state_path, &rep->state);
	if (s < 0)
		return done(rep, exit_code, "failure", r, "%s (and cannot save %s: %s)", why, state_path, strerror(-s));
	return done(rep, exit_code, exit_code == CHANNEL_EXIT_STALE || exit_code == INSTALL_EXIT_BADSIG ||
	            exit_code == INSTALL_EXIT_INCOMPATIBLE ? "refused" : "failure", r, "%s", why);
}

static int save(const char *state_path, struct channel_report *rep)
{
	int r = channel_state_save(state_path, &rep->state);

	if (r < 0)
		done(rep, INSTALL_EXIT_IO, "failure", r, "cannot save %s: %s", state_path, strerror(-r));
	return r;
}

int channel_run(const struct install_config *c, const struct bootctl_config *bc,
                const struct channel_options *o, struct channel_report *rep)
{
	_cleanup_(keyringp) struct verity_keyring *kr = NULL;
	_cleanup_free_ char *file = NULL, *lock_path = NULL, *image_url = NULL;
	_cleanup_close_ int lock_fd = -1;
	const char *sp = o->state_file ? o->state_file : CHANNEL_DEFAULT_STATE, *why = NULL;
	struct channel_state *st = &rep->state;
	char msg[INSTALL_MSG_MAX] = "", t[32];
	uint64_t now = o->now ? o->now : (uint64_t)time(NULL);
	struct device dev;
	size_t len = 0;
	int r;

	*rep = (struct channel_report){ .exit_code = INSTALL_EXIT_OK, .outcome = "failure" };
	channel_state_init(st);
	msgf(rep->url, sizeof rep->url, "%s", o->url);

	/* one client at a time: the state is read, decided on, and written */
	if (asprintf(&lock_path, "%s.lock", sp) < 0) {
		lock_path = NULL;
		return done(rep, INSTALL_EXIT_FAILURE, "failure", -ENOMEM, "out of memory");
	}
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0)
		return done(rep, INSTALL_EXIT_IO, "failure", -errno, "%s: %s", lock_path, strerror(errno));
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? done(rep, INSTALL_EXIT_BUSY, "failure", -EBUSY,
		                                   "another check is running (%s is locked)", lock_path)
		                            : done(rep, INSTALL_EXIT_IO, "failure", -errno, "cannot lock %s", lock_path);
	r = channel_state_load(sp, st, &why);
	if (r < 0)
		return done(rep, INSTALL_EXIT_CONFIG, "failure", r, "state file %s: %s", sp,
		            r == -EBADMSG ? why : strerror(-r));

	if (st->next_attempt > now) {
		when(st->next_attempt, t);
		return done(rep, CHANNEL_EXIT_BACKOFF, "backoff", -EAGAIN,
		            "backing off after %" PRIu64 " failed attempt%s: next attempt at %s (in %" PRIu64 " s)",
		            st->failures, st->failures == 1 ? "" : "s", t, st->next_attempt - now);
	}
	if (!c->keyring)
		return done(rep, INSTALL_EXIT_CONFIG, "failure", -EINVAL, "no keyring configured (--keyring or [device] keyring)");
	if (!c->compatible)
		return done(rep, INSTALL_EXIT_CONFIG, "failure", -EINVAL,
		            "no compatible string configured (--compatible or [device] compatible)");
	r = verity_keyring_load(c->keyring, c->crl, &kr);
	if (r < 0)
		return done(rep, INSTALL_EXIT_CONFIG, "failure", r, "keyring %s: %s", c->keyring, verity_strerror(r));

	r = device_status(bc, &o->install, kr, &dev, &rep->install);
	if (r < 0)
		return done(rep, INSTALL_EXIT_CONFIG, "failure", r, "%s", rep->install.reason);
	rep->have_running = dev.have_running;
	rep->running_version = dev.version;
	snprintf(rep->running_version_string, sizeof rep->running_version_string, "%s", dev.version_string);

	/* installed before: wait while the bootloader still tries that slot */
	if (st->pending_slot != BOOTCTL_SLOT_NONE) {
		int p = st->pending_slot;
		if (dev.bs.norder > 0 && dev.bs.order[0] == p && dev.bs.left[p] > 0 && dev.bs.good != p)
			return done(rep, CHANNEL_EXIT_PENDING, "pending-reboot", 0,
			            "version %" PRIu64 " is installed in slot %c and waits for a reboot", st->pending_version,
			            bootctl_slot_upper(p));
		/* booted and confirmed, or given up by the bootloader */
		if (!dev.have_running || dev.version < st->pending_version)
			st->failed_version = st->pending_version;
		st->pending_slot = BOOTCTL_SLOT_NONE;
		st->pending_version = 0;
	}

	r = fetch_channel(c, o->url, &file, &len, rep->url, msg);
	if (r == -EPROTONOSUPPORT || r == -EINVAL)
		return done(rep, INSTALL_EXIT_USAGE, "failure", r, "%s", msg[0] ? msg : strerror(-r));
	if (r < 0)
		return server_failed(sp, rep, now, INSTALL_EXIT_NETWORK, r, msg[0] ? msg : strerror(-r));
	r = channel_verify(kr, file, len, &rep->ch, NULL, &why);
	if (r < 0) {
		msgf(msg, sizeof msg, "%s: %s", rep->url, why ? why : verity_strerror(r));
		return server_failed(sp, rep, now, INSTALL_EXIT_BADSIG, r, msg);
	}
	rep->have_channel = true;
	r = channel_check(&rep->ch, st, c->compatible, now, msg);
	if (r < 0)
		return server_failed(sp, rep, now, r == -EMEDIUMTYPE ? INSTALL_EXIT_INCOMPATIBLE : CHANNEL_EXIT_STALE,
		                     r, msg);
	r = channel_resolve_url(rep->url, rep->ch.url, &image_url);
	if (r < 0) {
		msgf(msg, sizeof msg, "%s: cannot resolve the image URL '%s'", rep->url, rep->ch.url);
		return server_failed(sp, rep, now, INSTALL_EXIT_BADSIG, r, msg);
	}
	snprintf(rep->image_url, sizeof rep->image_url, "%s", image_url);

	/* accepted: a replay of anything older is refused from now on */
	st->accepted = true;
	st->last_serial = rep->ch.serial;
	st->last_version = rep->ch.version;
	st->failures = 0;
	st->next_attempt = 0;
	st->last_attempt = st->last_success = now;

	if (dev.have_running && rep->ch.version <= dev.version) {
		r = save(sp, rep);
		return r < 0 ? r : done(rep, CHANNEL_EXIT_UP_TO_DATE, "up-to-date", 0,
		                        "up to date: version %" PRIu64 " is running, the channel offers %" PRIu64,
		                        dev.version, rep->ch.version);
	}
	if (rep->ch.version == st->failed_version) {
		r = save(sp, rep);
		return r < 0 ? r : done(rep, CHANNEL_EXIT_UP_TO_DATE, "up-to-date", 0,
		                        "version %" PRIu64 " was installed before and did not stay booted; "
		                        "waiting for a newer release", rep->ch.version);
	}
	if (!o->do_install) {
		r = save(sp, rep);
		return r < 0 ? r : done(rep, CHANNEL_EXIT_AVAILABLE, "update-available", 0,
		                        "update available: version %" PRIu64 " (running %" PRIu64 ")", rep->ch.version,
		                        dev.version);
	}

	r = install_image(c, bc, o, rep);
	if (r < 0) {
		/* local trouble is not the server's fault: no back-off for it */
		if (rep->install.exit_code == INSTALL_EXIT_BUSY || rep->install.exit_code == INSTALL_EXIT_CONFIG) {
			int s = save(sp, rep);
			return s < 0 ? s : done(rep, rep->install.exit_code, "failure", r, "%s", rep->install.reason);
		}
		return server_failed(sp, rep, now, rep->install.exit_code ? rep->install.exit_code : INSTALL_EXIT_FAILURE,
		                     r, rep->install.reason);
	}
	st->pending_version = rep->ch.version;
	st->pending_slot = rep->install.target == 'A' ? 0 : 1;
	r = save(sp, rep);
	return r < 0 ? r : done(rep, CHANNEL_EXIT_AVAILABLE, "installed", 0,
	                        "installed version %" PRIu64 " into slot %c; it boots after a reboot", rep->ch.version,
	                        rep->install.target);
}

int channel_report_json(const struct channel_report *rep, char **ret_line)
{
	char *buf = NULL, sha[65], t[32], n[32];
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputs("{\"url\":", f);
	json_write_string(f, rep->url);
	fputs(",\"outcome\":", f);
	json_write_string(f, rep->outcome);
	fprintf(f, ",\"exit_code\":%d,\"reason\":", rep->exit_code);
	json_write_string(f, rep->reason);
	fputs(",\"running_version\":", f);
	if (rep->have_running)
		fprintf(f, "%" PRIu64 ",\"running_version_string\":", rep->running_version);
	else
		fputs("null,\"running_version_string\":", f);
	json_write_string(f, rep->have_running ? rep->running_version_string : NULL);
	fputs(",\"channel\":", f);
	if (rep->have_channel) {
		const struct channel *ch = &rep->ch;
		hex_encode(ch->sha256, 32, sha);
		when(ch->expires, t);
		fputs("{\"name\":", f);
		json_write_string(f, ch->name);
		fputs(",\"compatible\":", f);
		json_write_string(f, ch->compatible);
		fprintf(f, ",\"serial\":%" PRIu64 ",\"expires\":\"%s\",\"version\":%" PRIu64 ",\"version_string\":",
		        ch->serial, t, ch->version);
		json_write_string(f, ch->version_string);
		fputs(",\"url\":", f);
		json_write_string(f, rep->image_url[0] ? rep->image_url : ch->url);
		fprintf(f, ",\"size\":%" PRIu64 ",\"sha256\":\"%s\"}", ch->size, sha);
	} else
		fputs("null", f);
	when(rep->state.next_attempt, n);
	fprintf(f, ",\"state\":{\"last_serial\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"next_attempt\":",
	        rep->state.last_serial, rep->state.failures);
	json_write_string(f, rep->state.next_attempt ? n : NULL);
	fputs(",\"pending_version\":", f);
	if (rep->state.pending_slot != BOOTCTL_SLOT_NONE)
		fprintf(f, "%" PRIu64 "}", rep->state.pending_version);
	else
		fputs("null}", f);
	if (rep->install_ran)
		fprintf(f, ",\"target\":\"%c\"", rep->install.target ? rep->install.target : '-');
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret_line = buf;
	return 0;
}
