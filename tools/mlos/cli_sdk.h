/* tools/mlos/cli_sdk.h -- the SDK's subcommands of `mlos` (see cli.h):
 *
 *   mlos build --arch A -o IMAGE [--manifest APP.mlos] [CFLAGS...] SOURCE...
 *                                     build a slave image with the installed SDK (build.c)
 *   mlos image info IMAGE [--json]    arch, ABI, components and tasks of an image (image.c)
 */
#ifndef MLOS_CLI_SDK_H
#define MLOS_CLI_SDK_H

int mlos_cli_build(int argc, char **argv);
int mlos_cli_image(int argc, char **argv);

#endif
