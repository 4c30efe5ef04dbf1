/* rootfs-verity: build and verify dm-verity hash trees, sign and check
 * root hashes. A thin dispatcher over libverity; every subcommand is one
 * cmd_X(argc, argv) in the table at the bottom. */
#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *prog = "rootfs-verity";

/* One line on stderr, "rootfs-verity: ...", and the exit code to use. */
static int _unused_ fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int cmd_help(int argc, char **argv);

static const struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} subcommands[] = {
	{ "help", cmd_help, "" },
};

static int cmd_help(int argc, char **argv)
{
	printf("Usage: %s COMMAND [ARGS]\n", prog);
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		printf("  %s %s\n", subcommands[i].name, subcommands[i].usage);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "%s: missing command (try '%s help')\n", prog, prog);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s' (try '%s help')\n", prog, argv[1], prog);
	return 2;
}
