/* mlos-compose: resolve an application manifest (*.mlos) against the
 * component manifests; see compose_cli.c for the options. */
#include "compose.h"

int main(int argc, char **argv) { return mlos_compose_cli(argc, argv, "mlos-compose"); }
