/* mlos_pool.h -- elastic shard pools, heartbeats and failure handling.
 *
 * A pool (mlos_pool_t, caller-owned, libuv style like mlos_shard_t) runs
 * calls on a set of identical shards that it starts and stops itself:
 *
 *   mlos_pool_t pool;
 *   struct mlos_pool_opts o = {.spawn = {.arch = "x86_64"}, .max_shards = 4, .min_warm = 1};
 *   mlos_pool_init(uv_default_loop(), &pool, &o);
 *   mlos_pool_call(&pool, &req, "echo", arg, len, MLOS_POOL_IDEMPOTENT, on_reply);
 *   ... mlos_pool_close(&pool, on_closed);
 *
 * Policy:
 *  - Nodes: shards start on this host, or over the nodes of a placement
 *    (opts.placement: a cluster of node agents, master/cluster.h), spread
 *    or packed, at most node_max and at least node_min per live node. A
 *    shard on another node takes calls and puts exactly like a local one;
 *    a node that is lost takes its shards with it (they fail as below).
 *  - Placement: a call goes to a READY shard with room (fewer than
 *    per_shard calls in flight; the most recently used first, so the rest
 *    stay idle and can be retired), else it waits in one FIFO queue.
 *  - Growth: when calls wait and the shards being started cannot absorb
 *    them, the pool starts more, up to max_shards.
 *  - Warm shards: the pool keeps min_warm idle READY (or starting) shards
 *    beyond current demand, so that a call does not pay a cold boot.
 *  - Paused spares (x86_64 and ppc shards): the pool keeps paused_spares
 *    QEMU processes started but paused before their guest runs a single
 *    instruction (QEMU -S). Growth takes a spare when there is one and lets
 *    its guest run (QMP "cont"), so a new shard costs its guest's boot, not
 *    QEMU's start (docs/guide/performance.rst, "Boot time"); a
 *    replacement spare starts in the background. A spare is not a shard: it
 *    counts neither in shards nor against max_shards, takes no CPU and no
 *    calls, and costs the host a QEMU process (its guest RAM untouched).
 *    The shard id and spawn options are fixed when the spare starts.
 *    Spares are local only: a pool with a placement keeps none.
 *  - Shrink: a READY shard idle for idle_timeout_ms is stopped, as long as
 *    at least min_shards shards and min_warm idle shards remain.
 *  - Failure: every pool shard has heartbeats (below). When a shard dies,
 *    crashes, breaks the protocol or stops answering, it is fenced and
 *    released and the pool reports MLOS_POOL_SHARD_FAILED. Each call that
 *    was on it is re-run on another shard if it was submitted with
 *    MLOS_POOL_IDEMPOTENT (at most max_retries times, at the head of the
 *    queue), else it fails with MLOS_ESHARDDIED and a message saying which
 *    shard failed, why, and that the task was not re-run (it may or may not
 *    have taken effect).
 *  - Deadlines: with call_timeout_ms, an attempt that has not answered
 *    in time fails with MLOS_ETIMEDOUT and its shard is fenced (killed and
 *    replaced, reported as MLOS_POOL_SHARD_FAILED): a shard runs one task
 *    at a time, so one that overran is of no use to the calls behind it,
 *    and killing it is the only way to stop a task that may never end. The
 *    call is then handled as any call that lost its shard: re-run elsewhere
 *    if MLOS_POOL_IDEMPOTENT (retries permitting), else it fails, with
 *    MLOS_ETIMEDOUT for the call that overran ("task 'T' overran its N ms
 *    deadline on shard S") and MLOS_ESHARDDIED for other calls on that shard.
 *  - Spawn failures: retried with backoff; after 3 in a row with no shard
 *    up, queued calls fail with the spawn error.
 *  - Memory (mem_idle_bytes, for elastic shards: spawn.mem_max_bytes): a
 *    shard idle for mem_idle_ms is shrunk to mem_idle_bytes, so that the
 *    host gets back what its calls used and freed (mlos_shard_resize); no
 *    call goes to it while the shrink runs, and before its next call it is
 *    grown back to spawn.mem_bytes (in call order: the call sees the
 *    memory). Reported as MLOS_POOL_SHARD_RESIZED.
 *  - Fixed membership (members > 0): exactly that many shards, ranks 0 ..
 *    members-1, started at init, never retired; a member that fails is
 *    replaced by a new shard of the same rank. Calls go to a given member
 *    (mlos_pool_call_member) or to any. For work split across shards that
 *    each hold their part of the data in their bulk window.
 *  - Prepare: with a prepare hook, a new shard (the first of its rank, or
 *    a replacement) takes calls only once the hook has brought it to the
 *    state the calls expect (its slab put, say) and said so with
 *    mlos_pool_prepared.
 *
 * Callbacks run from the loop, never inside mlos_pool_call/close/drain,
 * except the optional prep hook (mlos_pool_call_prep).
 */
#ifndef MLOS_POOL_H
#define MLOS_POOL_H

#include "mlos.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- heartbeats on one shard (pools turn them on for their shards) ---- */

#define MLOS_HEARTBEAT_MS 200
#define MLOS_HEARTBEAT_TIMEOUT_MS 600
#define MLOS_HEARTBEAT_STOPPED_MS 400 /* owed this long by a stopped host process: fenced */

/* Ping the shard every interval_ms while it is READY; if a PING stays
 * unanswered for timeout_ms (0: MLOS_HEARTBEAT_TIMEOUT_MS) the shard is
 * fenced: killed (SIGKILL), no more frames accepted, pending calls fail
 * with MLOS_ETIMEDOUT "shard N stopped answering (no heartbeat for X ms)".
 * Only a PONG carrying the id of an outstanding PING is an answer: LOG,
 * MSG or REPLY frames, or PONGs for other ids, do not keep a shard alive.
 * A shard answers between tasks only: a task running longer than
 * timeout_ms is taken for a hang. A local shard whose host process is
 * stopped (SIGSTOP, state T/t) is fenced as soon as it owes an answer for
 * MLOS_HEARTBEAT_STOPPED_MS, whatever timeout_ms. interval_ms 0 turns heartbeats
 * off (the default for mlos_spawn). For a shard on another node (master/cluster.h)
 * its agent pings it with these settings, where it runs, and reports a
 * fenced slave to the master. May be called any time after mlos_spawn
 * returned 0. Returns 0 or MLOS_EINVAL. */
int mlos_shard_heartbeat(mlos_shard_t *shard, unsigned interval_ms, unsigned timeout_ms);

/* Last PING -> PONG round trip in ns (0 before the first). */
uint64_t mlos_shard_heartbeat_rtt(const mlos_shard_t *shard);

/* ---- pools ---- */

typedef struct mlos_pool_s mlos_pool_t;
typedef struct mlos_pool_call_s mlos_pool_call_t;

typedef void (*mlos_pool_call_cb)(mlos_pool_call_t *req, int status);
typedef int (*mlos_pool_prep_cb)(mlos_pool_call_t *req, mlos_shard_t *shard);
typedef void (*mlos_pool_close_cb)(mlos_pool_t *pool);
/* A new shard said HELLO (rank: its member rank, 0 in an elastic pool).
 * Bring it to the state calls expect -- mlos_put, mlos_call on the shard
 * directly -- then call mlos_pool_prepared exactly once, at once or later
 * (from a callback of those calls, say), also when they failed. */
typedef void (*mlos_pool_prepare_cb)(mlos_pool_t *pool, mlos_shard_t *shard, unsigned rank);

enum mlos_pool_event {
    MLOS_POOL_SHARD_UP,           /* a shard said HELLO and takes calls */
    MLOS_POOL_SHARD_SPAWN_FAILED, /* a shard could not start (status, why) */
    MLOS_POOL_SHARD_FAILED,       /* a READY shard died or was fenced (status, why) */
    MLOS_POOL_SHARD_RETIRED,      /* an idle shard is being stopped (shrink) */
    MLOS_POOL_SHARD_RESIZED,      /* a shard's memory was shrunk when idle or grown for a call
                                   * (status: the resize's, why: what happened) */
};
/* shard is NULL for SPAWN_FAILED when mlos_spawn refused at once (e.g. no image). */
typedef void (*mlos_pool_event_cb)(mlos_pool_t *pool, const mlos_shard_t *shard, enum mlos_pool_event ev,
                                   int status, const char *why);

/* Placement over nodes: where a pool starts its shards when they are not
 * all on this host. A cluster of node agents provides one
 * (mlos_cluster_placement, master/cluster.h); any other source of nodes
 * can. Node ids are the provider's, stable while the node lives; a node
 * that leaves the list takes its shards with it (they die and are handled
 * as any failed shard). Both functions run on the pool's loop. */
struct mlos_pool_placement {
    void *ctx;
    /* the live nodes: fills up to cap ids, returns how many there are */
    size_t (*nodes)(void *ctx, uint32_t *ids, size_t cap);
    /* start a shard on node `node` with mlos_spawn's contract */
    int (*spawn)(void *ctx, uint32_t node, uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *o,
                 mlos_spawn_cb cb);
};

enum mlos_pool_spread {
    MLOS_POOL_SPREAD = 0, /* a new shard goes to the node with the fewest shards of this pool */
    MLOS_POOL_PACK = 1,   /* to the fullest node still below node_max (then the next node) */
};

/* Pool options. Zero fields take the defaults shown. */
struct mlos_pool_opts {
    struct mlos_spawn_opts spawn; /* for every shard (arch, image, memory...); copied at init */
    unsigned min_shards;          /* never shrink below: 0 */
    unsigned max_shards;          /* never grow above: 4 */
    unsigned min_warm;            /* idle READY shards kept in reserve: 0 */
    unsigned idle_timeout_ms;     /* retire an idle shard after: 5000 */
    unsigned per_shard;           /* calls in flight on one shard: 1 (several share its bulk window) */
    int max_retries;              /* re-runs of an idempotent call: 3; < 0: never */
    int heartbeat_ms;             /* PING interval: MLOS_HEARTBEAT_MS; < 0: no heartbeats */
    unsigned heartbeat_timeout_ms; /* MLOS_HEARTBEAT_TIMEOUT_MS */
    mlos_pool_event_cb on_event;  /* shard lifecycle notifications (optional) */
    unsigned call_timeout_ms;     /* deadline of each attempt of a call, from when it goes to a
                                   * shard (time queued in the pool not counted; with per_shard > 1,
                                   * time behind other calls on that shard is); 0: none */
    unsigned paused_spares;       /* QEMUs kept started and paused, taken first when the pool grows:
                                   * 0 (ignored for process shards and with a
                                   * placement: spares are QEMUs on this host) */
    size_t mem_idle_bytes;        /* shrink idle shards to this (needs spawn.mem_max_bytes; at most
                                   * spawn.mem_bytes, a multiple of 4 KiB >= 1 MiB); 0: off */
    unsigned mem_idle_ms;         /* idle this long before the shrink: idle_timeout_ms / 2 */
    /* placement: NULL (default) starts every shard on this host with
     * mlos_spawn; else over the provider's nodes, within the limits below
     * on top of the totals above */
    const struct mlos_pool_placement *placement;
    unsigned node_max;            /* shards on one node at most: 0, no limit */
    unsigned node_min;            /* shards kept on every live node: 0 */
    enum mlos_pool_spread spread; /* which node gets a new shard: MLOS_POOL_SPREAD */
    unsigned members;             /* > 0: fixed membership of this many ranks (min_shards,
                                   * max_shards, min_warm, idle_timeout_ms are then ignored) */
    mlos_pool_prepare_cb prepare; /* run on every new shard before it takes calls (optional) */
};

struct mlos_pool_impl; /* private */

struct mlos_pool_s {
    void *data; /* free for the caller */
    /* read-only, current */
    unsigned shards;   /* starting + ready */
    unsigned starting;
    unsigned ready;
    unsigned busy;     /* ready shards with at least one call in flight */
    unsigned queued;   /* calls waiting for a shard */
    unsigned inflight; /* calls on shards */
    unsigned paused;   /* paused spares (paused_spares), not counted in shards */
    /* read-only, totals since init */
    unsigned peak_shards;
    uint64_t spawned, spawn_failed, failed, retired, retries, calls_done;
    uint64_t resumed;  /* shards started from a paused spare (included in spawned once UP) */
    uint64_t mem_shrinks, mem_grows; /* idle shrinks done, grows before a call */
    uint64_t mem_released;           /* bytes those shrinks gave back to the host */
    /* private */
    struct mlos_pool_impl *impl;
    int *sync_done;
};

#define MLOS_POOL_IDEMPOTENT 1u /* safe to run again on another shard after a shard failure */

struct mlos_pool_call_s {
    void *data;             /* free for the caller */
    /* results, valid inside the callback only */
    int status;             /* 0, the task's or transport's MLOS_E*, MLOS_ESHARDDIED, MLOS_ESTOPPED */
    const uint8_t *result;
    size_t result_len;
    const char *error;      /* explanation when status != 0, never NULL then */
    uint64_t run_ns;        /* task run time, shard clock */
    uint64_t rtt_ns;        /* mlos_pool_call() to callback, host clock */
    uint64_t queue_ns;      /* of which waiting for a shard (all attempts) */
    unsigned attempts;      /* shards the call was sent to */
    uint32_t shard_id;      /* shard of the last attempt */
    /* private */
    mlos_pool_t *pool;
    mlos_pool_call_cb cb;
    mlos_pool_prep_cb prep;
    char *task;
    void *arg;
    size_t arg_len;
    unsigned flags;
    int rank;               /* member the call must run on, -1: any */
    mlos_pool_call_t *next;
    void *slot;
    uint64_t t0, t_queued;
    mlos_call_t call;
    char msg[400];
};

/* Start the pool: validates options, spawns min_shards / min_warm shards
 * in the background. Returns 0 or MLOS_EINVAL (nothing to release then). */
int mlos_pool_init(uv_loop_t *loop, mlos_pool_t *pool, const struct mlos_pool_opts *opts);

/* Run `task` with arg (copied) on some shard of the pool. flags:
 * MLOS_POOL_IDEMPOTENT or 0. cb runs exactly once. Returns 0, or
 * MLOS_EINVAL / MLOS_ENOMEM / MLOS_ESTOPPED (draining or closing)
 * immediately (cb will not run). */
int mlos_pool_call(mlos_pool_t *pool, mlos_pool_call_t *req, const char *task, const void *arg, size_t arg_len,
                   unsigned flags, mlos_pool_call_cb cb);

/* The same with a prep hook: prep(req, shard) runs each time the call is
 * about to go to a shard (again on a re-run), e.g. to mlos_put its input
 * into that shard's bulk window (with per_shard 1 the window is the call's
 * alone). It may run inside this function. A nonzero return fails the call
 * with that status (MLOS_EINVAL if positive). */
int mlos_pool_call_prep(mlos_pool_t *pool, mlos_pool_call_t *req, const char *task, const void *arg, size_t arg_len,
                        unsigned flags, mlos_pool_prep_cb prep, mlos_pool_call_cb cb);

/* The same for a pool with fixed membership, on member `rank` only (its
 * current shard: a re-run after the member failed goes to its replacement,
 * once prepared). prep may be NULL. MLOS_EINVAL for a rank outside
 * 0..members-1 or a pool without members. If the member's replacements
 * keep failing to start or prepare (3 in a row), its calls fail with that
 * error. */
int mlos_pool_call_member(mlos_pool_t *pool, mlos_pool_call_t *req, unsigned rank, const char *task, const void *arg,
                          size_t arg_len, unsigned flags, mlos_pool_prep_cb prep, mlos_pool_call_cb cb);

/* The prepare hook's verdict on shard: 0, it takes calls from now on; a
 * negative MLOS_E*, it is released and replaced (counted as a failed
 * start: after 3 in a row, calls waiting for it fail). Returns 0,
 * MLOS_ESTOPPED if the shard failed or the pool closed meanwhile (nothing
 * to do: a replacement gets prepared in its turn), or MLOS_EINVAL if no
 * preparation of that shard was pending. */
int mlos_pool_prepared(mlos_pool_t *pool, mlos_shard_t *shard, int status);

/* The current, prepared shard of member rank, or NULL (starting,
 * preparing, being replaced). Valid until the loop runs again. */
mlos_shard_t *mlos_pool_member(mlos_pool_t *pool, unsigned rank);

/* The member rank of one of the pool's shards (0 in an elastic pool), e.g.
 * of the shard an event reports, also one that failed before its HELLO;
 * MLOS_EINVAL if shard is not the pool's. */
int mlos_pool_rank_of(mlos_pool_t *pool, const mlos_shard_t *shard);

/* READY shards of the pool (e.g. to mlos_put shared data or inspect pids):
 * fills up to cap pointers, returns how many there are. Valid until the
 * loop runs again. */
size_t mlos_pool_shards(mlos_pool_t *pool, mlos_shard_t **out, size_t cap);

/* Refuse new calls (MLOS_ESTOPPED); cb runs once every queued and running
 * call has completed. Shards stay up until mlos_pool_close. */
int mlos_pool_drain(mlos_pool_t *pool, mlos_pool_close_cb cb);

/* Fail queued and running calls with MLOS_ESTOPPED, stop every shard and
 * release everything; cb (may be NULL) runs when all is released, then the
 * struct may be reused or freed. Returns 0 or MLOS_EINVAL (closing). */
int mlos_pool_close(mlos_pool_t *pool, mlos_pool_close_cb cb);

/* Synchronous helpers: run the loop until done. */
void mlos_pool_drain_sync(mlos_pool_t *pool);
void mlos_pool_close_sync(mlos_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif
