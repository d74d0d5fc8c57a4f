/* mlos: the command-line tool (cli.h lists the subcommands).
 *
 * One table row per subcommand: name, entry point, one-line summary. Every
 * entry point answers `--help` with its usage on stdout, so `mlos help CMD`
 * is `mlos CMD --help`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_sdk.h"

#ifndef MLOS_VERSION
#define MLOS_VERSION "unknown"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"spawn", mlos_cli_spawn, "spawn [--arch A] [--mem SIZE] [--image PATH] [-n N]   start shards"},
    {"ps", mlos_cli_ps, "ps [--json | -q]         list shards (all masters)"},
    {"stop", mlos_cli_stop, "stop ID|PID|--all        stop shards started by mlos spawn"},
    {"call", mlos_cli_call, "call [--raw] ID TASK [ARG|@FILE|--hex HEX]   run a task, print its result"},
    {"put", mlos_cli_put, "put ID OFFSET FILE       copy a file into a shard's bulk window"},
    {"get", mlos_cli_get, "get [-o FILE] ID OFFSET LEN   copy bytes out of a shard's bulk window"},
    {"console", mlos_cli_console, "console [-f] ID          a shard's console output"},
    {"compose", mlos_cli_compose, "compose [--check] [--root DIR] FILE.mlos   resolve a manifest"},
    {"noise", mlos_cli_noise, "noise ...                OS-noise measurement (mlos noise --help)"},
    {"build", mlos_cli_build, "build --arch x86_64|ppc|process -o IMAGE [--manifest APP.mlos] [CFLAGS...] SOURCE...   build a slave image"},
    {"image", mlos_cli_image, "image info IMAGE [--json]   arch, ABI, components and tasks of an image"},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static int usage(FILE *f)
{
    fprintf(f, "usage: mlos [--version] COMMAND [ARGS]\n");
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(f, "  mlos %s\n", cmds[i].help);
    fprintf(f, "'mlos help COMMAND' or 'mlos COMMAND --help' shows a command's options.\n");
    return f == stdout ? 0 : 2;
}

static int find(const char *name)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (!strcmp(name, cmds[i].name))
            return (int)i;
    return -1;
}

int main(int argc, char **argv)
{
    int k;
    if (argc < 2)
        return usage(stderr);
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("mlos %s\n", MLOS_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || (!strcmp(argv[1], "help") && argc == 2))
        return usage(stdout);
    if (!strcmp(argv[1], "help")) {
        char help[] = "--help";
        if (argc > 3 || (k = find(argv[2])) < 0) {
            fprintf(stderr, "mlos: no command '%s'\n", argv[2]);
            return usage(stderr);
        }
        char *args[] = {argv[2], help, NULL};
        return cmds[k].fn(2, args);
    }
    if ((k = find(argv[1])) >= 0)
        return cmds[k].fn(argc - 1, argv + 1);
    fprintf(stderr, "mlos: unknown %s '%s'\n", argv[1][0] == '-' ? "option" : "command", argv[1]);
    return usage(stderr);
}
