/* <mlos/coll.h> -- for tasks on group members: rank and size, send/recv,
 * one-sided put/get, barrier, broadcast, reduce, allreduce, gather, allgather.
 *
 * The SDK's name for mlos_coll.h (the shard runtime's header, installed
 * beside it). The master side is <mlos/group.h>. C and C++.
 */
#ifndef MLOS_SDK_COLL_H
#define MLOS_SDK_COLL_H

#include "mlos_coll.h"

#endif
