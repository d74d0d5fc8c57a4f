/* <mlos/group.h> -- shard groups on the master: group memory, members, group calls, failures.
 *
 * The SDK's name for mlos_group.h (installed beside it under <prefix>/include/mlos/).
 * Task code on the members uses <mlos/coll.h>. C and C++.
 */
#ifndef MLOS_SDK_GROUP_H
#define MLOS_SDK_GROUP_H

#include "mlos_group.h"

#endif
