/* The thin main of a tool: a table of subcommands and one dispatcher, so
 * every tool parses "TOOL COMMAND [ARGS]" and says "unknown command" alike. */
#pragma once

#include <stddef.h>

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);  /* argv[0] is the command name */
	const char *usage;                 /* arguments and a description, may span lines */
};

/* "Usage: PROG COMMAND [ARGS]" and one entry per command, on stdout. */
void subcommand_help(const char *prog, const struct subcommand *cmds, size_t n);

/* Runs argv[1]'s command and returns its exit code; "--help" and "-h" print
 * the help; a missing or unknown command gets one line on stderr and 2. */
int subcommand_dispatch(const char *prog, const struct subcommand *cmds, size_t n, int argc, char **argv);
