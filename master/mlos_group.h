/* mlos_group.h -- shard groups: N shards that talk to each other directly
 * and run collectives (installed as <mlos/group.h>).
 *
 * A group is a fixed membership of N ranks 0..N-1: shards (any mix of
 * x86_64, ppc and process shards) and, optionally, the master itself at
 * one rank (a NULL entry in opts->members). The members exchange data
 * through a group memory: a sealed memfd this master creates and every
 * member maps (a process shard mmaps it, an x86_64 guest gets it as a
 * second RAM range above its own, a PowerPC guest as an ivshmem PCI
 * device's memory BAR; the master has it mapped already), so data between
 * local slaves never passes through the
 * master. Each ordered pair of members has its own rings in it; a member
 * that would sleep is woken through its doorbell by the master (a 16-byte
 * WAKE frame names the ranks), or polls for spin_us first.
 *
 *   mlos_group_mem_t gm;
 *   mlos_group_mem_init(&gm, 64 << 20);                  // before the members are spawned
 *   struct mlos_spawn_opts so = {.arch = "process", .group_mem = &gm};
 *   ... mlos_spawn each member with so (or a pool with .spawn = so, then mlos_pool_shards) ...
 *   mlos_shard_t *m[3] = {&a, &b, &c};
 *   struct mlos_group_opts go = {.mem = &gm, .members = m, .n = 3};
 *   mlos_group_create(loop, &g, &go, on_ready);          // members join: rank = index in m
 *   mlos_group_call(&g, &req, "my_step", arg, len, 0, on_step);  // runs on every rank at once
 *   mlos_group_close(&g, on_closed); ... mlos_group_mem_close(&gm) once no group is left
 *
 * Task code on the members uses <mlos/coll.h> (rank, size, send/recv,
 * put/get, barrier, broadcast, reduce, allreduce, gather, allgather).
 *
 * The master as a member: put NULL at its rank in opts->members and call
 * the group with mlos_group_call_master, naming a function of this
 * program for that rank. It runs on a thread of libuv's pool (while the
 * loop goes on) with the same collective code the shards run: it finds
 * its membership with mlos_comm_self() and answers with mlos_task_result
 * and mlos_task_fail (<mlos/task.h>), like a shard's task; its
 * ranks[] entry is what it answered. Its waits sleep on a futex that the
 * master's own doorbell handling rings, so it spins no more than a shard
 * would (spin_us). Everything the shards write in the group memory is
 * untrusted there too: the master copies each frame before it looks at
 * it and takes the layout from its own records. Limits: the master holds
 * one rank of a group (it may be a member of several groups); between
 * calls the loop answers peers' one-sided requests to it as a shard's
 * idle loop does (refused: its regions go with each call);
 * MLOS_COLL_USER reductions need the reduction hook, which the master
 * does not have (MLOS_ENOENT).
 *
 * Ownership: the caller owns mlos_group_mem_t, mlos_group_t and
 * mlos_group_call_t and keeps them alive until their callbacks have run;
 * members stay the caller's shards (a group never stops one). Callbacks
 * never run inside the call that queued them.
 *
 * Failure: when a member dies, is fenced (heartbeats: a frozen member is
 * killed within the heartbeat bound) or stops, the master marks its rank
 * down in the group memory and wakes every member: collectives pending or
 * started later fail there with MLOS_ESHARDDIED naming the rank, so the
 * group call completes with status MLOS_ESHARDDIED and failed_rank set.
 * The group is then broken (later calls fail at once with
 * MLOS_ESHARDDIED) until mlos_group_reform puts a replacement at that rank;
 * an idempotent step is then simply called again.
 * A rank whose task fails while others are still running the call (they
 * may wait for it in a collective, for ever without a deadline) ends
 * theirs: their collectives fail MLOS_ECANCELED, and the call completes
 * with that rank's status and failed_rank. If a collective was so ended,
 * the group is broken as after a deadline (frames may be left in the
 * rings) until re-formed, the same shard may be put back in place; ranks
 * that all fail on their own leave it whole.
 *
 * Nodes: members may also be shards behind node agents (mlos_node_spawn
 * with .group_mem, master/cluster.h), mixed with local ones and spread
 * over nodes. Each agent keeps a node-local copy of the group memory;
 * members on one node share rings there, pairs that cross nodes are
 * relayed (the master forwards between agents). A lost node marks all its
 * ranks down within the node-fencing bound.
 *
 * Errors: negative MLOS_E* codes (mlos_error.h).
 */
#ifndef MLOS_GROUP_H
#define MLOS_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "mlos.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLOS_GROUP_MAX_RANKS 64

typedef struct mlos_group_mem_s mlos_group_mem_t;
typedef struct mlos_group_s mlos_group_t;
typedef struct mlos_group_call_s mlos_group_call_t;

typedef void (*mlos_group_cb)(mlos_group_t *group, int status);
typedef void (*mlos_group_call_cb)(mlos_group_call_t *req, int status);
typedef void (*mlos_group_close_cb)(mlos_group_t *group);

struct mlos_task_ctx; /* mlos_task_api.h */
/* The master's rank of a group call: ctx->arg and arg_len are the call's
 * argument, ctx->bulk is NULL; data is mlos_group_call_master's. Runs on
 * a thread of libuv's pool: it may touch nothing of the loop. Returns 0
 * or a negative MLOS_E* code (with mlos_task_fail), like a task. */
typedef int (*mlos_group_master_fn)(struct mlos_task_ctx *ctx, void *data);

struct mlos_group_mem_impl; /* private */
struct mlos_group_mem_s {
    void *data;  /* free for the caller */
    size_t size; /* read-only: bytes */
    /* private */
    struct mlos_group_mem_impl *impl;
};

/* Create a group memory of bytes (rounded up to a power of two -- a PCI
 * BAR on PowerPC members; the memfd is sparse --, at least 1 MiB, at most
 * 1 GiB): a sealed memfd, mapped here too. Spawn members with
 * .group_mem pointing at it. 0, MLOS_EINVAL, MLOS_EIO or MLOS_ENOMEM. */
int mlos_group_mem_init(mlos_group_mem_t *gm, size_t bytes);

/* Bytes a group of n ranks with collective rings of ring_bytes takes in a
 * group memory (0 if n or ring_bytes is invalid). */
size_t mlos_group_mem_needed(unsigned n, uint32_t ring_bytes);

/* Release the master's mapping and descriptor (shards keep their own until
 * they exit). MLOS_EINVAL while groups still use it. */
int mlos_group_mem_close(mlos_group_mem_t *gm);

/* Options for mlos_group_create. Zero fields take the defaults shown. */
struct mlos_group_opts {
    mlos_group_mem_t *mem;    /* required: the members' group memory */
    mlos_shard_t **members;   /* n in rank order: READY shards spawned with .group_mem = mem, or
                               * NULL at most once: the master's own rank */
    unsigned n;               /* 1..MLOS_GROUP_MAX_RANKS */
    uint32_t ring_bytes;      /* collective ring per ordered pair: 64 KiB (power of two, >= 4 KiB) */
    unsigned spin_us;         /* members poll this long before sleeping: 0 (sleep at once) */
    unsigned heartbeat_ms;    /* > 0: turn heartbeats on for every member (mlos_shard_heartbeat),
                               * so a frozen member is fenced; 0: leave the members' setting */
    unsigned heartbeat_timeout_ms; /* with heartbeat_ms: fence after this long; 0: the default */
};

struct mlos_group_impl; /* private */
struct mlos_group_s {
    void *data;          /* free for the caller */
    /* read-only */
    uint32_t id;         /* unique in this master */
    unsigned n;
    uint32_t generation; /* 1, incremented by each mlos_group_reform */
    int failed_rank;     /* the rank that went down, -1 while the group is whole */
    const char *error;   /* why the group is broken, "" while whole */
    /* private */
    struct mlos_group_impl *impl;
};

/* Make a group of opts->members: each member joins (a built-in task on
 * the shard attaches it to its rings). cb(group, 0) once every member has
 * joined; cb(group, <0) if one could not (then mlos_group_close it). A
 * shard may be a member of several groups. The master's rank (a NULL
 * member) joins here, at once. Returns 0 (cb will run) or at
 * once MLOS_EINVAL (bad options, a member not READY or spawned without
 * this group memory, more than one NULL member), MLOS_ENOMEM (no room
 * left in the group memory), MLOS_ENOTSUP (a member of a remote kind that
 * carries no group memory). */
int mlos_group_create(uv_loop_t *loop, mlos_group_t *group, const struct mlos_group_opts *opts, mlos_group_cb cb);

/* Result of one rank in a group call. */
struct mlos_group_rank_result {
    int status;             /* the task's status, MLOS_ESHARDDIED, MLOS_ETIMEDOUT, ... */
    const uint8_t *result;  /* reply bytes */
    size_t result_len;
    const char *error;      /* explanation when status != 0, else "" */
    uint64_t run_ns;        /* task time, that shard's clock */
};

struct mlos_group_call_s {
    void *data;                    /* free for the caller */
    /* results, valid inside the callback only */
    int status;                    /* 0 if every rank returned 0; MLOS_ESHARDDIED if a member went
                                    * down (failed_rank); else the first failing rank's status */
    int failed_rank;               /* rank that went down or failed first, -1 if none */
    const char *error;             /* explanation when status != 0, else "" */
    struct mlos_group_rank_result *ranks; /* [n], rank order */
    uint64_t rtt_ns;               /* mlos_group_call to callback, host clock */
    /* private */
    mlos_group_t *group;
    mlos_group_call_cb cb;
    void *priv;
};

/* Run task on every rank at once with the same arg (copied); inside, the
 * task reaches its group with mlos_comm_self() (<mlos/coll.h>). One group
 * call at a time per group. A group with the master as a member is
 * called with mlos_group_call_master (here: MLOS_EINVAL). timeout_ms > 0: a rank not done by then fails
 * with MLOS_ETIMEDOUT and the others' pending collectives are aborted
 * (MLOS_ETIMEDOUT) so the call completes; the group is then broken
 * (failed_rank: the rank that overran) until re-formed, since cut-short
 * collectives may leave data in the rings (the same shard may be put back
 * at its rank). Returns 0 (cb will run) or at
 * once MLOS_EINVAL (a call is running, closing), MLOS_ESHARDDIED (the
 * group is broken: mlos_group_reform it), MLOS_ETOOBIG, MLOS_ENOMEM. */
int mlos_group_call(mlos_group_t *group, mlos_group_call_t *req, const char *task, const void *arg, size_t arg_len,
                    unsigned timeout_ms, mlos_group_call_cb cb);

/* mlos_group_call where the master holds a rank: the shards run task,
 * the master's rank runs fn(ctx, data) on libuv's thread pool; ranks[] of
 * the call has its answer at its rank (run_ns: the host clock). A member
 * that goes down makes the master's pending and later collectives fail
 * with MLOS_ESHARDDIED naming the rank, as on the shards. timeout_ms > 0:
 * at the deadline every rank's collectives are aborted (MLOS_ETIMEDOUT);
 * the master's function cannot be stopped, so the call completes when it
 * returns. Returns what mlos_group_call does, and MLOS_EINVAL if fn is
 * NULL or the group has no master rank. */
int mlos_group_call_master(mlos_group_t *group, mlos_group_call_t *req, const char *task, mlos_group_master_fn fn,
                           void *data, const void *arg, size_t arg_len, unsigned timeout_ms, mlos_group_call_cb cb);

/* The master's rank in group, or -1 if the master is no member. */
int mlos_group_master_rank(const mlos_group_t *group);

/* Put replacement (READY, spawned with the group's memory) at rank in
 * place of the member there (normally the one that went down), in a new
 * generation: fresh rings, every member joins again. cb(group, 0) when the
 * group is whole again; the replacement may be on another node. The
 * master's own rank is not replaced: it stays where it is and re-attaches
 * to the new rings. Returns 0 or at once MLOS_EINVAL (a call is running,
 * bad rank or shard, rank is the master's own: the master cannot be
 * re-formed), MLOS_ENOTSUP (as for create), MLOS_ENOMEM. */
int mlos_group_reform(mlos_group_t *group, unsigned rank, mlos_shard_t *replacement, mlos_group_cb cb);

/* Leave: live members drop the group, its part of the group memory is
 * freed; cb (may be NULL) runs when done; then the struct may be reused.
 * A running group call is aborted first (its callback runs, with
 * MLOS_ESTOPPED where a rank had not answered). Returns 0 or MLOS_EINVAL. */
int mlos_group_close(mlos_group_t *group, mlos_group_close_cb cb);

/* Synchronous helpers: run the loop until done. */
int mlos_group_create_sync(uv_loop_t *loop, mlos_group_t *group, const struct mlos_group_opts *opts);
void mlos_group_close_sync(mlos_group_t *group);

#ifdef __cplusplus
}
#endif

#endif
