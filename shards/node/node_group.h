/* shards/node/node_group.h -- the agent's group memories (node_group.c):
 * one node-local copy of each group memory of its master that shards here
 * were spawned with, and the GROUP_* messages (rpc/wire/group_node.h). */
#ifndef MLOS_NODE_GROUP_H
#define MLOS_NODE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "mlos.h"

#include <uv.h>

struct node_gm;

/* How messages reach the master (mlos-node.c's send_msg). */
typedef int (*node_group_send)(uint32_t type, uint32_t shard, uint32_t req, uint32_t aux, const void *p1, size_t l1,
                               const void *p2, size_t l2);
void node_group_init(uv_loop_t *loop, node_group_send send);

/* SPAWN text with "group_mem=" and "group_key=": point o->group_mem at the
 * node's copy of that memory (created on first use) and take a reference
 * (*ref; NULL without group memory). 0, or MLOS_EINVAL / MLOS_EIO /
 * MLOS_ENOMEM with why filled. */
int node_group_spawn(const uint8_t *kv, size_t len, struct mlos_spawn_opts *o, struct node_gm **ref, char *why,
                     size_t cap);
/* A shard spawned with ref is gone (ref may be NULL). */
void node_group_unref(struct node_gm *ref);

/* The agent's shard with the master's id if it is ready and was spawned
 * with gm, else NULL. */
typedef mlos_shard_t *(*node_group_lookup)(uint32_t id, const struct node_gm *gm);

/* If sh (the master's shard id) was fenced for corrupting a ring its group
 * relay drains, write why into out (naming it by id on node) and return
 * 1; else 0. */
int node_group_fenced(const mlos_shard_t *sh, uint32_t id, const char *node, char *out, size_t cap);

/* A message from the master: 1 if it was a GROUP_* message (handled or
 * refused with a line on stderr), 0 if it is none. */
int node_group_msg(uint32_t type, const uint8_t *p, size_t len, node_group_lookup lookup, const char *node_name);

#endif
