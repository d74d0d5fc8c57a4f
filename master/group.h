/* master/group.h -- what the rest of the master knows of groups (group.c). */
#ifndef MLOS_MASTER_GROUP_H
#define MLOS_MASTER_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "comm.h"
#include "group_wire.h"
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

/* ---- the master's own rank (group_master.c) ---- */
struct mlos__gmaster;
/* ring(arg, ranks) on the loop thread rings those members' doorbells;
 * done(arg) there when a run ends. NULL if out of memory. */
struct mlos__gmaster *mlos__gmaster_new(uv_loop_t *loop, void (*ring)(void *arg, uint64_t ranks),
                                        void (*done)(void *arg), void *arg);
/* Close (not while a run is on); frees it once libuv let go. */
void mlos__gmaster_free(struct mlos__gmaster *m);
/* (Re-)attach to the rings of a formatted slice as rank j->rank; why
 * explains an error. Not while a run is on. */
int mlos__gmaster_attach(struct mlos__gmaster *m, const struct mlos_group_join *j, uint8_t *slice, size_t slice_len,
                         const char **why);
/* Wake the master's rank if it sleeps in a collective; between calls,
 * answer peers' one-sided requests (loop thread). */
void mlos__gmaster_bell(struct mlos__gmaster *m);
/* Run fn(ctx, data) with a copy of arg on libuv's pool; done follows. */
int mlos__gmaster_run(struct mlos__gmaster *m, uv_loop_t *loop, mlos_group_master_fn fn, void *data, const void *arg,
                      size_t arg_len);
/* The finished run's status and answer (valid until release). */
int mlos__gmaster_result(struct mlos__gmaster *m, const uint8_t **result, size_t *len, const char **error,
                         uint64_t *run_ns);
void mlos__gmaster_release(struct mlos__gmaster *m);
int mlos__gmaster_busy(const struct mlos__gmaster *m);

#endif
