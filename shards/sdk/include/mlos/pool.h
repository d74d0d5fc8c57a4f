/* <mlos/pool.h> -- pools of shards: a fixed set of slaves, heartbeats, fencing, replacement.
 *
 * The SDK's name for mlos_pool.h (installed beside it under <prefix>/include/mlos/;
 * compile with -I<prefix>/include, as `pkg-config --cflags mlos` does).
 * C and C++.
 */
#ifndef MLOS_SDK_POOL_H
#define MLOS_SDK_POOL_H

#ifdef __cplusplus
extern "C" {
#endif
#include "mlos_pool.h"
#ifdef __cplusplus
}
#endif

#endif
