/* The install log: one JSON object a line, so an agent can tail it. */
#include "installer/installer.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int install_record_format(const struct install_record *rec, time_t when, char **ret_line)
{
	char *buf = NULL, ts[32];
	size_t len = 0;
	struct tm tm;
	FILE *f;

	if (!gmtime_r(&when, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -EINVAL;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "{\"time\":\"%s\",\"source\":", ts);
	json_write_string(f, rec->source);
	fputs(",\"from_version\":", f);
	json_write_string(f, rec->from_version);
	fputs(",\"to_version\":", f);
	json_write_string(f, rec->to_version);
	fputs(",\"target\":", f);
	json_write_string(f, rec->target);
	fputs(",\"outcome\":", f);
	json_write_string(f, rec->outcome);
	fputs(",\"reason\":", f);
	json_write_string(f, rec->reason);
	fprintf(f, ",\"duration_ms\":%llu,\"bytes\":%llu}\n",
	        (unsigned long long)rec->duration_ms, (unsigned long long)rec->bytes);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret_line = buf;
	return 0;
}

int install_record_append(const char *path, const struct install_record *rec)
{
	_cleanup_free_ char *line = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = install_record_format(rec, time(NULL), &line);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	/* one write with O_APPEND: lines from concurrent writers never interleave */
	r = write_full(fd, line, strlen(line));
	if (r < 0)
		return r;
	return fsync(fd) < 0 ? -errno : 0;
}
