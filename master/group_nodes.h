/* master/group_nodes.h -- groups whose members run behind node agents
 * (group_nodes.c: the master's side; group_mirror.c: the agent's side).
 * Wire messages: rpc/wire/group_node.h. */
#ifndef MLOS_MASTER_GROUP_NODES_H
#define MLOS_MASTER_GROUP_NODES_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "mlos_group.h"

struct mlos_shard_impl;
struct mlos__gmaster;

/* ---- master: members behind agents ---- */

/* Can members m[0..n) form a group (with m[rank] replaced by repl if repl
 * is not NULL)? 0 if all run on this host or all behind one agent;
 * MLOS_ENOTSUP if they are spread over nodes (not carried yet). */
int mlos__group_nodes_check(mlos_shard_t *const *m, unsigned n, unsigned rank, mlos_shard_t *repl);

/* Tell the agent of every remote member to format the group's slice at
 * off in its node's group memory (before the members are asked to join);
 * with members on this host too, relay the pairs that cross between the
 * master's slice (at slice) and the nodes. A NULL member is the master's
 * own rank (mr rings it). */
void mlos__group_nodes_format(uv_loop_t *loop, const mlos_group_mem_t *gm, mlos_shard_t *const *m, unsigned n,
                              uint32_t id, uint32_t gen, uint8_t *slice, uint64_t off, uint64_t len,
                              uint32_t ring_bytes, struct mlos__gmaster *mr);

/* The member of rank on this host sent a WAKE naming mask: peers
 * elsewhere are the relay's to serve. */
void mlos__group_nodes_kick(uint32_t id, uint32_t gen, unsigned rank, uint64_t mask);

/* A GROUP_DATA or GROUP_CREDIT from the agent of node (the node_of
 * pointer): into this host's slice or on to the destination's node.
 * Refused (counted) unless it is about a pair of the sender's ranks. */
void mlos__group_nodes_recv(const void *node, uint32_t type, const uint8_t *p, size_t len);
/* Relayed frames and credits the master refused so far. */
uint64_t mlos__group_nodes_refused(void);

/* Write a header word (a rank's down mark, or MLOS_GROUP_WORD_ABORT) in
 * the slices of the remote members' nodes. */
void mlos__group_nodes_mark(mlos_shard_t *const *m, unsigned n, uint32_t id, uint32_t gen, uint32_t word,
                            uint32_t value);

/* The group is gone: its agents forget its slices. */
void mlos__group_nodes_close(mlos_shard_t *const *m, unsigned n, uint32_t id);

/* The name agents know gm by (SPAWN's group_key, GROUP_FORMAT's key). */
uint64_t mlos__group_mem_key(const mlos_group_mem_t *gm);

/* The SPAWN lines ("group_mem=..\ngroup_key=..\n") that make an agent map
 * its node's copy of gm into a shard; 0 bytes without gm. */
size_t mlos__group_spawn_kv(const mlos_group_mem_t *gm, char *out, size_t cap);

/* ---- agent: slices mirrored for the master's groups ---- */

/* A slice this agent formatted for one of its master's groups. */
struct mlos__mirror_slice {
    uint32_t id, gen, n, ring_bytes;
    uint8_t *slice;
    size_t slice_len;
};

/* Track the slice; local[r] is the shard of rank r on this node or NULL
 * (then a relay carries its pairs with the local ranks, sending with
 * send). Replaces the group's older slice. release(owner) runs when this
 * slice is no longer tracked: replaced, dropped, or its last local member
 * gone. 0, MLOS_EINVAL or MLOS_ENOMEM (then release is not called). */
int mlos__group_mirror_set(uv_loop_t *loop, const struct mlos__mirror_slice *sl, mlos_shard_t *const *local,
                           int (*send)(uint32_t type, const uint8_t *p, size_t len), void (*release)(void *owner),
                           void *owner);

/* A GROUP_DATA or GROUP_CREDIT from the master: to the group's relay.
 * 0, or MLOS_EPROTO if refused (counted). */
int mlos__group_mirror_recv(uint32_t type, const uint8_t *p, size_t len);
/* Relayed frames and credits refused by this agent so far. */
uint64_t mlos__group_mirror_refused(void);

/* A GROUP_MARK: write the word, wake the local members. */
void mlos__group_mirror_mark(uint32_t id, uint32_t gen, uint32_t word, uint32_t value);

/* Forget group id (a GROUP_CLOSE). */
void mlos__group_mirror_drop(uint32_t id);

/* A WAKE from im that no group of this process claimed: ring its mirror
 * peers on this node. Always 0 (the payload was checked). */
int mlos__group_mirror_wake(struct mlos_shard_impl *im, uint32_t id, uint32_t gen, uint64_t mask);

/* A local member died, was fenced or is stopping: mark its rank down in
 * its mirrored slices at once and wake its local peers. */
void mlos__group_mirror_down(struct mlos_shard_impl *im, int reason);

#endif
