/* <mlos/image.h> -- what a slave image is (arch, ABI, tasks, components), read without booting it.
 *
 * The SDK's name for mlos_image.h (installed beside it under <prefix>/include/mlos/;
 * compile with -I<prefix>/include, as `pkg-config --cflags mlos` does).
 * C and C++.
 */
#ifndef MLOS_SDK_IMAGE_H
#define MLOS_SDK_IMAGE_H

#ifdef __cplusplus
extern "C" {
#endif
#include "mlos_image.h"
#ifdef __cplusplus
}
#endif

#endif
