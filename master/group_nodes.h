/* master/group_nodes.h -- groups whose members run behind node agents
 * (group_nodes.c: the master's side; group_mirror.c: the agent's side).
 * Wire messages: rpc/wire/group_node.h. */
#ifndef MLOS_MASTER_GROUP_NODES_H
#define MLOS_MASTER_GROUP_NODES_H

#include <stddef.h>
#include <stdint.h>

#include "mlos_group.h"

struct mlos_shard_impl;

/* ---- master: members behind agents ---- */

/* Can members m[0..n) form a group (with m[rank] replaced by repl if repl
 * is not NULL)? 0 if all run on this host or all behind one agent;
 * MLOS_ENOTSUP if they are spread over nodes (not carried yet). */
int mlos__group_nodes_check(mlos_shard_t *const *m, unsigned n, unsigned rank, mlos_shard_t *repl);

/* Tell the agent of every remote member to format the group's slice at
 * off in its node's group memory (before the members are asked to join). */
void mlos__group_nodes_format(const mlos_group_mem_t *gm, mlos_shard_t *const *m, unsigned n, uint32_t id,
                              uint32_t gen, uint64_t off, uint64_t len, uint32_t ring_bytes);

/* Write a header word (a rank's down mark, or MLOS_GROUP_WORD_ABORT) in
 * the slices of the remote members' nodes. */
void mlos__group_nodes_mark(mlos_shard_t *const *m, unsigned n, uint32_t id, uint32_t gen, uint32_t word,
                            uint32_t value);

/* The group is gone: its agents forget its slices. */
void mlos__group_nodes_close(mlos_shard_t *const *m, unsigned n, uint32_t id);

/* The SPAWN lines ("group_mem=..\ngroup_key=..\n") that make an agent map
 * its node's copy of gm into a shard; 0 bytes without gm. */
size_t mlos__group_spawn_kv(const mlos_group_mem_t *gm, char *out, size_t cap);

/* ---- agent: slices mirrored for the master's groups ---- */

/* Track the slice of group id (generation gen, n ranks) at slice, formatted
 * by the caller; local[r] is the shard of rank r on this node or NULL.
 * Replaces the group's older slice. release(owner) runs when this slice is
 * no longer tracked: replaced, dropped, or its last local member gone.
 * 0, MLOS_EINVAL or MLOS_ENOMEM (then release is not called). */
int mlos__group_mirror_set(uint32_t id, uint32_t gen, uint32_t n, void *slice, mlos_shard_t *const *local,
                           void (*release)(void *owner), void *owner);

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
