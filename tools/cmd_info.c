/* tools/cmd_info.c — placeholder until the 'info' subcommand lands. */
#include "tools/cli.h"

int cmd_info(int argc, char **argv)
{
    (void)argc; (void)argv;
    return as_cli_error(NULL, "'info' is not built yet");
}
