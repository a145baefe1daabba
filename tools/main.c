/*
 * tools/main.c — the allocsim command: a table of subcommands (git, memray).
 * Each lives in tools/cmd_<name>.c; this file only dispatches and prints the
 * overview.
 */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"record", cmd_record, "run a program and record every heap call it makes"},
    {"info", cmd_info, "summarize trace files: header, event counts, peaks, damage"},
    {"replay", cmd_replay, "replay traces through allocator models: peak RSS, fragmentation"},
    {"native", cmd_native, "replay a trace against a real allocator and measure RSS"},
};

static void usage(FILE *f)
{
    fputs("usage: allocsim COMMAND [ARGS...]\n\n"
          "Record a program's heap calls once; replay them through allocator models\n"
          "to predict peak RSS and fragmentation under any allocator settings.\n\n"
          "commands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'allocsim COMMAND --help' describes one command.\n"
          "Exit status: 0 ok, 1 check failed, 2 usage or input error.\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return AS_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return AS_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("allocsim 0.1.0");
        return AS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    as_cli_error(NULL, "unknown command '%s' (try 'allocsim --help')", argv[1]);
    return AS_EXIT_USAGE;
}
