/*
 * tools/cli.h — what every subcommand shares: the one-line error convention,
 * human-readable sizes, output formats, JSON string escaping.
 *
 * Conventions (DESIGN.md "The command line"): -h/--help to stdout and exit 0;
 * diagnostics to stderr as "allocsim: ..."; exit 0 ok, 1 check failed, 2 usage
 * or input error.
 */
#ifndef AS_CLI_H
#define AS_CLI_H

#include <stdint.h>
#include <stdio.h>

#define AS_EXIT_OK 0
#define AS_EXIT_CHECK 1
#define AS_EXIT_USAGE 2

typedef enum as_format { AS_FMT_TEXT, AS_FMT_JSON, AS_FMT_CSV } as_format_t;

/* Prints "allocsim: <file>: <message>\n" (file may be NULL) to stderr and
 * returns AS_EXIT_USAGE, so callers can `return as_cli_error(...)`. */
int as_cli_error(const char *file, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "text", "json" or "csv" (those the command allows, a mask of 1 << as_format_t). */
int as_cli_parse_format(const char *s, unsigned allowed, as_format_t *out);
/* "58.3 MiB" style, exact below 1 KiB. Returns buf. */
char *as_cli_human(char *buf, size_t len, uint64_t bytes);
/* "64K", "1M", "2G", "4096": powers of 1024. 0 on success, -1 if malformed. */
int as_cli_parse_size(const char *s, uint64_t *out);
/* Writes s as a JSON string literal, quotes included. */
void as_cli_json_str(FILE *f, const char *s);
/* True if stderr is a terminal (progress bars are drawn only then). */
int as_cli_stderr_tty(void);
/* 1 if process pid has path open (a trace still being written), else 0. */
int as_cli_writing(const char *path, int64_t pid);
/* Appended to a reader's problem for such a trace. */
#define AS_CLI_WRITING_NOTE "; process still running: read up to now"
/* Directory that holds the running allocsim binary (for the preload library). */
int as_cli_self_dir(char *buf, size_t len);

/* Subcommands: tools/cmd_<name>.c */
int cmd_record(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_native(int argc, char **argv);

#endif /* AS_CLI_H */
