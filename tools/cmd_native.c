/* tools/cmd_native.c — placeholder until the 'native' subcommand lands. */
#include "tools/cli.h"

int cmd_native(int argc, char **argv)
{
    (void)argc; (void)argv;
    return as_cli_error(NULL, "'native' is not built yet");
}
