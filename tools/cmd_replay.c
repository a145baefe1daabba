/* tools/cmd_replay.c — placeholder until the 'replay' subcommand lands. */
#include "tools/cli.h"

int cmd_replay(int argc, char **argv)
{
    (void)argc; (void)argv;
    return as_cli_error(NULL, "'replay' is not built yet");
}
