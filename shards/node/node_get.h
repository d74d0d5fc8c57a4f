/* shards/node/node_get.h -- the agent's answer to the master's GET: the
 * bytes of a slave's bulk window (protocol: rpc/abi/node_proto.h). */
#ifndef MLOS_NODE_GET_H
#define MLOS_NODE_GET_H

#include <stddef.h>
#include <stdint.h>

#include "mlos.h"
#include "node_verbs.h"

/* Answer the GET (p, len: its payload) for shard id, req: sh is the
 * slave's handle if it is up here, else NULL. GET_DATA pieces of the
 * window, or one GET_DATA with the error. */
void node_get_serve(mlos_shard_t *sh, uint32_t id, uint32_t req, const uint8_t *p, size_t len, node_send_fn send);

#endif
