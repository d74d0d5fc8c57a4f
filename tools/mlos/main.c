/* mlos: the command-line tool (cli.h lists the subcommands). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_sdk.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"spawn", mlos_cli_spawn, "spawn [--arch x86_64|ppc|process] [--mem SIZE]   start a shard"},
    {"ps", mlos_cli_ps, "ps                       list shards (all masters)"},
    {"stop", mlos_cli_stop, "stop ID|PID|--all        stop shards started by mlos spawn"},
    {"compose", mlos_cli_compose, "compose [--check] [--root DIR] FILE.mlos   resolve a manifest"},
    {"noise", mlos_cli_noise, "noise ...                OS-noise measurement (mlos noise --help)"},
    {"build", mlos_cli_build, "build --arch x86_64|ppc|process -o IMAGE [--manifest APP.mlos] [CFLAGS...] SOURCE...   build a slave image"},
    {"image", mlos_cli_image, "image info IMAGE [--json]   arch, ABI, components and tasks of an image"},
};

static int usage(FILE *f)
{
    fprintf(f, "usage: mlos COMMAND [ARGS]\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(f, "  mlos %s\n", cmds[i].help);
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
        return usage(stdout);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "mlos: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
