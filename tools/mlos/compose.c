/* mlos compose [--check] [--root DIR]... [--sources | --out FILE] FILE.mlos:
 * the composer (tools/compose/compose_cli.c). With --check: exit 0 and
 * "ok: ..." if the manifest composes, else exit 1 and the cause. */
#include "cli.h"
#include "compose.h"

int mlos_cli_compose(int argc, char **argv) { return mlos_compose_cli(argc, argv, "mlos compose"); }
