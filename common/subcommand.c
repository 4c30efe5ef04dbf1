#include "common/subcommand.h"

#include <stdio.h>
#include <string.h>

void subcommand_help(const char *prog, const struct subcommand *cmds, size_t n)
{
	printf("Usage: %s COMMAND [ARGS]\n\n", prog);
	for (size_t i = 0; i < n; i++)
		printf("  %s %s\n", cmds[i].name, cmds[i].usage);
}

int subcommand_dispatch(const char *prog, const struct subcommand *cmds, size_t n, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "%s: missing command (try '%s help')\n", prog, prog);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		subcommand_help(prog, cmds, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s' (try '%s help')\n", prog, argv[1], prog);
	return 2;
}
