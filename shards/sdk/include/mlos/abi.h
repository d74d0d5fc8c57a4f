/* <mlos/abi.h> -- the ABI version a master and a slave image must share, and the image note.
 *
 * The SDK's name for mlos_abi.h (installed beside it under <prefix>/include/mlos/;
 * compile with -I<prefix>/include, as `pkg-config --cflags mlos` does).
 * C and C++.
 */
#ifndef MLOS_SDK_ABI_H
#define MLOS_SDK_ABI_H

#ifdef __cplusplus
extern "C" {
#endif
#include "mlos_abi.h"
#ifdef __cplusplus
}
#endif

#endif
