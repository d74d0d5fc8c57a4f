/* mlos noise ...: OS-noise measurement, mlos_noise_main() of tools/noise
 * (noise.h), when it was built alongside (MLOS_HAVE_NOISE). */
#include <stdio.h>

#include "cli.h"
#ifdef MLOS_HAVE_NOISE
#include "noise.h"
#endif

int mlos_cli_noise(int argc, char **argv)
{
#ifdef MLOS_HAVE_NOISE
    return mlos_noise_main(argc, argv);
#else
    (void)argc;
    (void)argv;
    fprintf(stderr, "mlos noise: not built (tools/noise was not part of this build)\n");
    return 1;
#endif
}
