/* pool.h -- private state of a shard pool (pool.c; public API in mlos_pool.h).
 *
 * Slot life:  STARTING --HELLO--> [PREPARING --prepared-->] READY --died/fenced--> FAILED --stop--> STOPPING --closed--> freed
 *                 \--spawn failed--> FAILED           \--idle/close--> STOPPING
 * A slot whose prepare hook has not answered yet (prep_owed) is kept,
 * stopped, until mlos_pool_prepared: the hook holds its shard pointer.
 * A paused spare (paused_spares) starts as PAUSED --resumed--> STARTING;
 * one whose QEMU dies while paused goes to FAILED like a failed spawn.
 * A slot owns its mlos_shard_t (shard.data points back at the slot); it is
 * freed in the shard's close callback, never earlier.
 */
#ifndef MLOS_POOL_PRIVATE_H
#define MLOS_POOL_PRIVATE_H

#include "master_internal.h"
#include "mlos_pool.h"

enum slot_state { SLOT_STARTING, SLOT_PREPARING, SLOT_READY, SLOT_FAILED, SLOT_STOPPING, SLOT_PAUSED };

struct pool_slot {
    mlos_shard_t shard;
    struct mlos_pool_impl *pi;
    struct pool_slot *prev, *next;
    enum slot_state state;
    unsigned inflight;
    uint64_t idle_since_ms; /* loop time it last became idle */
    uint64_t last_use;      /* pool use sequence: most recent wins placement */
    int resizing;           /* an idle shrink is under way: no calls until it is done */
    int shrunk;             /* below spawn.mem_bytes: grow before the next call */
    int growing;            /* that grow is under way (resize below is in use) */
    mlos_resize_t resize;
    uint32_t node;          /* placement node id (0 with no placement) */
    unsigned rank;          /* member rank (fixed membership), else 0 */
    int prep_owed;          /* the prepare hook has not called mlos_pool_prepared yet */
    int closed;             /* its shard is released; freed once prep_owed is 0 */
};

struct node_count; /* pool.c */

struct mlos_pool_impl {
    uv_loop_t *loop;
    mlos_pool_t *pool;
    struct mlos_pool_opts o; /* defaults filled in; strings point at arch/image/qemu below */
    char *arch, *image, *qemu;
    uint64_t use_seq;
    struct pool_slot *slots;
    mlos_pool_call_t *head, *tail; /* waiting calls, FIFO (re-runs go first) */
    mlos_pool_call_t *done, *done_tail; /* completed early, callback pending */
    uv_timer_t tick;  /* shrink checks, spawn backoff */
    uv_timer_t kick;  /* 0 ms: deferred service() */
    int kicked;
    int draining, closing, timers_closing, open_timers;
    mlos_pool_close_cb drain_cb, close_cb;
    unsigned spawn_streak;    /* spawn failures in a row */
    int spawn_refused;        /* the last one was mlos_spawn refusing at once */
    int spawn_err;            /* last one */
    char spawn_msg[256];
    uint64_t spawn_not_before_ms;
    uint32_t *node_ids;          /* placement: scratch for node_table (pool.c) */
    struct node_count *node_tab;
    size_t node_cap;
    unsigned *rank_streak;    /* fixed membership: failed starts in a row, per rank */
    int *rank_err;            /* and the last one's status */
};

#endif
