/* <mlos/endian.h> -- explicit byte order: bswap, to/from big and little endian, get/put in byte buffers.
 *
 * The SDK's name for mlos_endian.h (installed beside it under <prefix>/include/mlos/;
 * compile with -I<prefix>/include, as `pkg-config --cflags mlos` does).
 * C and C++.
 */
#ifndef MLOS_SDK_ENDIAN_H
#define MLOS_SDK_ENDIAN_H

#ifdef __cplusplus
extern "C" {
#endif
#include "mlos_endian.h"
#ifdef __cplusplus
}
#endif

#endif
