/* master/group.h -- what the rest of the master knows of groups (group.c). */
#ifndef MLOS_MASTER_GROUP_H
#define MLOS_MASTER_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "mlos_group.h"

struct mlos_shard_impl;
struct mlos_group_impl;

/* One membership of a shard: kept on the shard (im->groups) while it is a member. */
struct mlos__group_link {
    struct mlos__group_link *next;
    struct mlos_group_impl *g;
    unsigned rank;
};

/* Size and descriptor of a group memory for mlos_spawn; fd -1 if closed or not initialised. */
size_t mlos__group_mem_bytes(const struct mlos_group_mem_s *gm);
int mlos__group_mem_fd(const struct mlos_group_mem_s *gm);

/* A member died, was fenced or is stopping (reason: enum mlos_group_down):
 * mark its rank down in each of its groups and wake their other members. */
void mlos__group_shard_down(struct mlos_shard_impl *im, int reason);

/* A WAKE frame from im (group_wire.h): ring the named peers of a group im
 * belongs to. 0, or MLOS_EDECODE for a malformed payload. */
int mlos__group_wake(struct mlos_shard_impl *im, const uint8_t *p, uint32_t len);

/* The master's view of a group's slice (tests play a hostile member with it). */
uint8_t *mlos__group_slice(const struct mlos_group_s *g, size_t *len, uint32_t *ring_bytes);

#endif
