/* tools/cmd_record.c — placeholder until the 'record' subcommand lands. */
#include "tools/cli.h"

int cmd_record(int argc, char **argv)
{
    (void)argc; (void)argv;
    return as_cli_error(NULL, "'record' is not built yet");
}
