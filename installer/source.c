/* Update sources: a file, stdin, or an HTTPS URL.
 *
 * A URL is fetched by a thread running libcurl that writes the body into
 * one end of a socketpair; the installer reads the other end exactly as it
 * reads a file, so the head parser and the slot writer see one stream.
 * The thread keeps the stream position: on a dropped connection it asks
 * for "Range: bytes=N-" and checks that the server answers 206 from N, so
 * the reader never notices (its hashing state lives in slot_write). */
#include "installer/installer.h"
#include "common/macro.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOCK_BUF (1 << 20)
#define LOW_SPEED_LIMIT 1024 /* bytes/s */
#define MAX_REDIRS 5

struct install_source {
	int fd;                 /* the reader's end */
	bool named_file, network;
	char *name;
	uint64_t total;         /* promised size, 0 until known */

	/* fetcher */
	char *url;
	const struct install_tls *tls;
	CURL *h;
	pthread_t thread;
	bool thread_started;
	int wfd;                /* the fetcher's end */
	pthread_mutex_t lock;
	uint64_t received;      /* body bytes handed to the reader */
	uint64_t attempt_start; /* offset this request started at */
	bool attempt_checked;
	long resp_code;
	int64_t resp_length, resp_range_start;
	int64_t first_length;   /* Content-Length of the first full response */
	bool abort;
	char err[INSTALL_MSG_MAX];
	char curl_err[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void set_msg(char msg[INSTALL_MSG_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(char msg[INSTALL_MSG_MAX], const char *fmt, ...)
{
	va_list ap;

	if (!msg)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, INSTALL_MSG_MAX, fmt, ap);
	va_end(ap);
}

/* Record the first failure; the reader reports it. Caller holds lock. */
static void fetch_fail_locked(struct install_source *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fetch_fail_locked(struct install_source *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

static size_t header_cb(char *line, size_t size, size_t n, void *userdata)
{
	struct install_source *s = userdata;
	size_t len = size * n;
	char buf[256];
	long long v;

	if (len >= sizeof(buf))
		return len; /* not one we care about */
	memcpy(buf, line, len);
	buf[len] = 0;
	pthread_mutex_lock(&s->lock);
	if (strncmp(buf, "HTTP/", 5) == 0) {
		/* a new response (redirects come one after the other) */
		s->resp_length = -1;
		s->resp_range_start = -1;
	} else if (strncasecmp(buf, "content-length:", 15) == 0 && sscanf(buf + 15, " %lld", &v) == 1 && v >= 0) {
		s->resp_length = v;
	} else if (strncasecmp(buf, "content-range:", 14) == 0 &&
	           sscanf(buf + 14, " bytes %lld-", &v) == 1 && v >= 0) {
		s->resp_range_start = v;
	}
	pthread_mutex_unlock(&s->lock);
	return len;
}

/* First body bytes of a response: is it the one we asked for? */
static bool check_response_locked(struct install_source *s, CURL *h)
{
	long code = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	s->resp_code = code;
	if (s->attempt_start == 0) {
		if (code != 200) {
			fetch_fail_locked(s, "unexpected HTTP status %ld", code);
			return false;
		}
		s->first_length = s->resp_length;
		if (s->total && s->first_length >= 0 && (uint64_t)s->first_length != s->total) {
			fetch_fail_locked(s, "server announces %lld bytes, the signed manifest promises %llu",
			                  (long long)s->first_length, (unsigned long long)s->total);
			return false;
		}
	} else if (code != 206 || s->resp_range_start != (int64_t)s->attempt_start) {
		fetch_fail_locked(s, "server cannot resume at byte %llu (HTTP status %ld)",
		                  (unsigned long long)s->attempt_start, code);
		return false;
	}
	return true;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata)
{
	struct install_source *s = userdata;
	size_t len = size * n, off = 0;

	pthread_mutex_lock(&s->lock);
	if (s->abort || (!s->attempt_checked && !check_response_locked(s, s->h))) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	s->attempt_checked = true;
	if (s->total && s->received + len > s->total) {
		/* endless data: never take more than the manifest promises */
		fetch_fail_locked(s, "server sends more than the %llu bytes the signed manifest promises",
		                  (unsigned long long)s->total);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);

	while (off < len) {
		ssize_t w = send(s->wfd, data + off, len - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 0; /* the reader went away */
		}
		off += (size_t)w;
		pthread_mutex_lock(&s->lock);
		s->received += (uint64_t)w;
		pthread_mutex_unlock(&s->lock);
	}
	return len;
}

/* Lets a reader that gives up stop a transfer that is waiting on the network. */
static int xfer_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct install_source *s = userdata;
	bool a;

	pthread_mutex_lock(&s->lock);
	a = s->abort;
	pthread_mutex_unlock(&s->lock);
	return a ? 1 : 0;
}

/* Transfer errors worth another Range request: the connection broke or
 * stalled, the server did not answer. Certificate and HTTP errors are not. */
static bool retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_COULDNT_CONNECT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static int setup_handle(struct install_source *s, CURL *h)
{
	const struct install_tls *tls = s->tls;
	const char *protos = tls->allow_http ? "https,http" : "https";
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_URL, s->url);
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FAILONERROR, 1L);
	SET(CURLOPT_ERRORBUFFER, s->curl_err);
	SET(CURLOPT_USERAGENT, "rootfs-install/1");
	SET(CURLOPT_BUFFERSIZE, 512L * 1024);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* TLS 1.2: forward-secret AEAD suites only; TLS 1.3 suites all qualify. */
	SET(CURLOPT_SSL_CIPHER_LIST, "ECDHE+AESGCM:ECDHE+CHACHA20");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (tls->ca) {
		SET(CURLOPT_CAINFO, tls->ca);
		/* only the configured CA, not the system store besides it */
		SET(CURLOPT_CAPATH, NULL);
	}
	if (tls->cert)
		SET(CURLOPT_SSLCERT, tls->cert);
	if (tls->key)
		SET(CURLOPT_SSLKEY, tls->key);
	if (tls->pin)
		SET(CURLOPT_PINNEDPUBLICKEY, tls->pin);
	SET(CURLOPT_CONNECTTIMEOUT, (long)tls->connect_timeout);
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_LIMIT);
	SET(CURLOPT_LOW_SPEED_TIME, (long)tls->low_speed_time);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, s);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, s);
	SET(CURLOPT_XFERINFOFUNCTION, xfer_cb);
	SET(CURLOPT_XFERINFODATA, s);
	SET(CURLOPT_NOPROGRESS, 0L);
#undef SET
	return rc == CURLE_OK ? 0 : -EINVAL;
}

static void *fetch_main(void *userdata)
{
	struct install_source *s = userdata;
	CURL *h = s->h;

	for (uint64_t attempt = 0;; attempt++) {
		char range[32];
		CURLcode rc;
		bool stop;

		pthread_mutex_lock(&s->lock);
		s->attempt_start = s->received;
		s->attempt_checked = false;
		stop = s->total && s->received == s->total;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break; /* everything promised arrived before the drop */
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)s->attempt_start);
		curl_easy_setopt(h, CURLOPT_RANGE, s->attempt_start ? range : NULL);
		s->curl_err[0] = 0;
		rc = curl_easy_perform(h);

		pthread_mutex_lock(&s->lock);
		if (rc == CURLE_OK || s->abort || s->err[0]) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		if (!retryable(rc) || attempt >= s->tls->retries) {
			long code = 0;
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
			if (rc == CURLE_HTTP_RETURNED_ERROR)
				fetch_fail_locked(s, "HTTP status %ld", code);
			else
				fetch_fail_locked(s, "%s%s", s->curl_err[0] ? s->curl_err : curl_easy_strerror(rc),
				                  retryable(rc) ? " (no retries left)" : "");
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		/* short back-off: 0.25, 0.5, 1, 2, 2... seconds */
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 250000000L };
		for (uint64_t i = 0; i < attempt && i < 3; i++)
			ts.tv_nsec *= 2;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec = ts.tv_nsec / 1000000000L, ts.tv_nsec %= 1000000000L;
		nanosleep(&ts, NULL);
	}
	/* EOF for the reader; err (if any) is already recorded. */
	shutdown(s->wfd, SHUT_WR);
	return NULL;
}

/* The URL as it may be logged: no user, password or query. */
static char *redact_url(const char *url)
{
	CURLU *u = curl_url();
	char *out = NULL, *c = NULL;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &c, 0) == CURLUE_OK)
		out = strdup(c);
	curl_free(c);
	curl_url_cleanup(u);
	return out;
}

static int url_scheme(const char *url, char **ret_scheme)
{
	CURLU *u = curl_url();
	char *c = NULL;
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &c, 0) == CURLUE_OK) {
		*ret_scheme = strdup(c);
		r = *ret_scheme ? 0 : -ENOMEM;
	}
	curl_free(c);
	curl_url_cleanup(u);
	return r;
}

static int open_url(struct install_source *s, const char *spec, char msg[INSTALL_MSG_MAX])
{
	_cleanup_free_ char *scheme = NULL;
	int sv[2], r, sz = SOCK_BUF;

	r = url_scheme(spec, &scheme);
	if (r < 0) {
		set_msg(msg, "not a valid URL");
		return r;
	}
	if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && s->tls->allow_http)) {
		set_msg(msg, strcmp(scheme, "http") == 0 ? "plain http is not allowed (see --allow-http)"
		                                         : "unsupported URL scheme '%s'", scheme);
		return -EPROTONOSUPPORT;
	}
	if (s->tls->pin && strncmp(s->tls->pin, "sha256//", 8) != 0) {
		set_msg(msg, "a TLS pin must look like sha256//BASE64");
		return -EINVAL;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		set_msg(msg, "cannot initialise libcurl");
		return -ENOMEM;
	}
	s->network = true;
	s->url = strdup(spec);
	s->name = redact_url(spec);
	s->h = curl_easy_init();
	if (!s->url || !s->name || !s->h)
		return -ENOMEM;
	r = setup_handle(s, s->h);
	if (r < 0) {
		set_msg(msg, "libcurl lacks a required TLS option");
		return r;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	s->fd = sv[0];
	s->wfd = sv[1];
	(void)setsockopt(s->wfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	r = -pthread_create(&s->thread, NULL, fetch_main, s);
	if (r < 0)
		return r;
	s->thread_started = true;
	return 0;
}

int install_source_open(const char *spec, const struct install_tls *tls,
                        struct install_source **ret, char msg[INSTALL_MSG_MAX])
{
	struct install_source *s;
	int r;

	if (!spec || !tls || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = s->wfd = -1;
	s->first_length = s->resp_length = s->resp_range_start = -1;
	s->tls = tls;
	pthread_mutex_init(&s->lock, NULL);

	if (strstr(spec, "://")) {
		r = open_url(s, spec, msg);
	} else if (strcmp(spec, "-") == 0) {
		s->name = strdup("stdin");
		s->fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
		r = !s->name ? -ENOMEM : s->fd < 0 ? -errno : 0;
	} else {
		s->named_file = true;
		s->name = strdup(spec);
		s->fd = open(spec, O_RDONLY | O_CLOEXEC);
		r = !s->name ? -ENOMEM : s->fd < 0 ? -errno : 0;
		if (r < 0)
			set_msg(msg, "%s: %s", spec, strerror(-r));
	}
	if (r < 0) {
		install_source_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int install_source_fd(const struct install_source *s)
{
	return s->fd;
}

int install_source_set_size(struct install_source *s, uint64_t total)
{
	struct stat st;
	int r = 0;

	if (total == 0)
		return -EINVAL;
	if (s->named_file) {
		if (fstat(s->fd, &st) < 0)
			return -errno;
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != total)
			return (uint64_t)st.st_size > total ? -EBADMSG : -EPROTO;
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	s->total = total;
	if (s->network && s->first_length >= 0 && (uint64_t)s->first_length != total) {
		fetch_fail_locked(s, "server announces %lld bytes, the signed manifest promises %llu",
		                  (long long)s->first_length, (unsigned long long)total);
		r = (uint64_t)s->first_length > total ? -EBADMSG : -EPROTO;
	} else if (s->received > total) {
		fetch_fail_locked(s, "server sends more than the %llu bytes the signed manifest promises",
		                  (unsigned long long)total);
		r = -EBADMSG;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

ssize_t install_source_read(void *source, void *buf, size_t len)
{
	struct install_source *s = source;

	for (;;) {
		ssize_t n = read(s->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 && install_source_error(s))
			return -ENETDOWN;
		return n;
	}
}

const char *install_source_error(const struct install_source *s)
{
	struct install_source *m = (struct install_source *)s;
	const char *e;

	if (!s->network)
		return NULL;
	pthread_mutex_lock(&m->lock);
	e = s->err[0] ? s->err : NULL;
	pthread_mutex_unlock(&m->lock);
	return e;
}

const char *install_source_name(const struct install_source *s)
{
	return s->name;
}

bool install_source_is_network(const struct install_source *s)
{
	return s->network;
}

void install_source_free(struct install_source *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->lock);
		s->abort = true;
		pthread_mutex_unlock(&s->lock);
		/* unblocks a send() into a full socket */
		if (s->fd >= 0)
			shutdown(s->fd, SHUT_RDWR);
		pthread_join(s->thread, NULL);
	}
	if (s->h)
		curl_easy_cleanup(s->h);
	if (s->fd >= 0)
		close(s->fd);
	if (s->wfd >= 0)
		close(s->wfd);
	pthread_mutex_destroy(&s->lock);
	free(s->url);
	free(s->name);
	free(s);
}
