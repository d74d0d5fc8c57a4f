/* <mlos/error.h> -- the MLOS_E* error codes and mlos_strerror.
 *
 * The SDK's name for mlos_error.h (installed beside it under <prefix>/include/mlos/;
 * compile with -I<prefix>/include, as `pkg-config --cflags mlos` does).
 * C and C++.
 */
#ifndef MLOS_SDK_ERROR_H
#define MLOS_SDK_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif
#include "mlos_error.h"
#ifdef __cplusplus
}
#endif

#endif
