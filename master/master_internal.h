/* Private state of the master: one mlos_shard_impl per spawned shard. */
#ifndef MLOS_MASTER_INTERNAL_H
#define MLOS_MASTER_INTERNAL_H

#include "mlos.h"
#include "msg.h"
#include "ring.h"

#define MLOS_CONSOLE_TAIL 4096
#define MLOS_STOP_GRACE_MS 2000
/* Largest packed TaskCall for a shard behind an agent: one message (rpc/msg.h)
 * holds it with the node header. */
#define MLOS__REMOTE_MAX_CALL ((1u << 20) - 4096)

enum shard_state {
    SHARD_STARTING, /* process launched, waiting for HELLO */
    SHARD_READY,    /* answering calls */
    SHARD_STOPPING, /* STOP sent or kill pending; waiting for exit */
    SHARD_DEAD,     /* process gone; waiting for mlos_shard_stop */
    SHARD_CLOSING,  /* handles closing; impl freed when all closed */
};

struct mlos_shard_impl {
    uv_loop_t *loop;
    mlos_shard_t *shard;
    enum shard_state state;
    const struct mlos_kind *kind; /* x86_64, ppc, process: what differs (kinds/kind.h) */

    uv_process_t proc;
    int proc_running;
    uv_pipe_t out, err; /* shard console (stdout) and launcher/QEMU errors (stderr) */
    uv_poll_t bell;
    int bell_fd;
    uv_poll_t qmp;    /* paused spawns: QEMU's QMP monitor (output drained and dropped) */
    int qmp_fd;       /* -1 unless spawned paused */
    int paused;       /* spawned paused, not resumed yet (still SHARD_STARTING) */
    unsigned hello_timeout_ms;
    uv_timer_t timer; /* hello timeout, then stop grace period */
    uv_work_t unmap_req;   /* releases a big window off the loop thread */
    uv_work_t populate_req; /* prefault_bulk: faults the bulk window in off the loop */
    int populating;        /* populate_req queued and not done yet */
    int populate_stop;     /* release began: the populate work stops at its next chunk */
    int release_waiting;   /* the handles are closed, the window waits for populate_req */
    uint64_t hello_deadline_ms; /* loop time the HELLO timeout falls */
    unsigned stopped_ticks; /* startup checks in a row that found the process stopped */
    uv_idle_t spin;   /* polling mode: drains to_master while calls are in flight */
    uint64_t spin_ns, spin_until;
    int open_handles;

    int mem_fd;       /* guest RAM (bare metal) or window (process) */
    void *map;        /* window mapping in this process */
    size_t map_len;
    struct mlos_ring to_shard, to_master;
    uint8_t *bulk;
    size_t bulk_len;
    uint32_t bulk_rkey;  /* key of the bulk window as a remote region (shard_ep.c) */
    mlos_ep_t *ep;       /* messaging endpoint bound with mlos_shard_ep, or NULL */
    uint8_t *rx_shadow;  /* private copy of each frame from the shard (ring.h: set_shadow) */

    mlos_call_t *pending;               /* sent or queued, awaiting REPLY */
    mlos_call_t *backlog, *backlog_end; /* packed, waiting for ring room (subset of order) */
    uint32_t next_id;

    mlos_spawn_cb spawn_cb;
    mlos_close_cb close_cb;
    mlos_console_cb on_console;
    uint64_t t_spawn;

    int death_err;       /* why calls fail once the shard is gone */
    char death_msg[512];
    char console[MLOS_CONSOLE_TAIL];
    size_t console_len;
    char line[512]; /* partial console line */
    size_t line_len;

    /* ---- heartbeat and fencing (heartbeat.c) ---- */
    uv_timer_t hb_timer;         /* next PING or deadline check */
    unsigned hb_interval_ms;     /* 0: no heartbeats */
    unsigned hb_timeout_ms;      /* a PING unanswered this long fences the shard */
    uint64_t hb_last_ms;         /* loop time of the last proof of progress (matching PONG or REPLY) */
    uint64_t hb_sent_ms;         /* loop time of the last PING */
    uint64_t hb_wait_ms;         /* first PING sent after the last matching PONG, 0: none outstanding */
    uint32_t hb_seq;             /* id of the last PING sent */
    uint32_t hb_acked;           /* id of the last PING answered; (hb_acked, hb_seq] are outstanding */
    uint64_t hb_rtt_ns;          /* last PING -> PONG round trip */
    int fenced;                  /* no more frames accepted; process killed */
    void (*on_dead)(mlos_shard_t *shard); /* a READY shard died or was fenced (pool.c) */

    unsigned cores_asked;        /* mlos_spawn_opts.cores (at least 1) */

    /* ---- elastic memory (resize.c) ---- */
    uint64_t mem_max;            /* as spawned (mem_max_bytes), 0: fixed size */
    uint64_t give_lo, give_hi;   /* memory-file offsets a shard may give back: its allocator's memory */
#define MLOS_MAX_RELEASED 64
    uint32_t released[MLOS_MAX_RELEASED]; /* RELEASED acknowledgements waiting for ring room */
    unsigned n_released;
    unsigned punching;           /* punches running on the thread pool: they use mem_fd */
    int release_waits;           /* the release waits for them (mlos__release_memory) */

    /* ---- call deadlines (call.c; the same timer as the heartbeat) ---- */
#define MLOS_MAX_ABANDONED 64
    uint32_t abandoned[MLOS_MAX_ABANDONED]; /* ids of sent calls that overran: their late replies are dropped */
    unsigned n_abandoned;

    /* ---- a shard on another node, behind its agent (shard_remote.c) ---- */
    const struct mlos__remote_ops *rops; /* NULL: a shard of this host */
    void *rctx;                          /* the node's own state for this shard */
    /* ---- groups (group.c) ---- */
    const struct mlos_group_mem_s *group_mem; /* spawned with this group memory, or NULL */
    struct mlos__group_link *groups;          /* memberships */
};

/* How the master reaches a shard that runs on another node: the node layer
 * (master/cluster.c, outside this library) implements these; shard.c and
 * call.c use them instead of the ring and the process. Each returns 0 or a
 * negative MLOS_E*; none calls back into the shard synchronously. */
struct mlos__remote_ops {
    /* send a packed TaskCall with request id (ordered after earlier puts) */
    int (*call)(struct mlos_shard_impl *im, uint32_t id, const void *packed, size_t len);
    /* copy into the shard's bulk window at off (bounds checked already) */
    int (*put)(struct mlos_shard_impl *im, size_t off, const void *src, size_t len);
    /* ask the agent to stop the shard; it answers with mlos__remote_gone(im, 0, ..) */
    void (*stop)(struct mlos_shard_impl *im);
    /* the master gave up on the shard (deadline, protocol): the agent kills it */
    void (*fence)(struct mlos_shard_impl *im);
    /* the shard's resources are released on the master: forget it */
    void (*release)(struct mlos_shard_impl *im);
    /* watch the slave with these heartbeats on its node (0: off) */
    void (*heartbeat)(struct mlos_shard_impl *im, unsigned interval_ms, unsigned timeout_ms);
    /* a group-memory message for the shard's agent (rpc/wire/group_node.h); NULL: no groups */
    int (*group_msg)(struct mlos_shard_impl *im, uint32_t type, const void *p, size_t len);
    /* the shard's node: the same pointer for every shard behind one agent */
    const void *(*node_of)(const struct mlos_shard_impl *im);
};

/* shard.c */
void mlos__shard_fail(struct mlos_shard_impl *im, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void mlos__shard_ready(struct mlos_shard_impl *im);
/* Last step of a release: unmap, close, free; deferred while punching. */
void mlos__release_memory(struct mlos_shard_impl *im);

/* mlos_spawn, optionally paused (QEMU kinds only, else MLOS_EINVAL): QEMU
 * starts with -S and a QMP monitor; no guest code runs and no HELLO timeout
 * runs until mlos__shard_resume. cb runs at HELLO as for any spawn (or on
 * failure, also while paused: QEMU died). spawn_ns then counts from the
 * resume. */
int mlos__spawn(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *opts, mlos_spawn_cb cb, int paused);
/* Let a paused shard's guest run ("cont" over QMP). Returns 0, MLOS_EINVAL
 * (not paused, or gone), or MLOS_ESPAWN (cannot reach QEMU; the shard is
 * failed and cb reports it). */
int mlos__shard_resume(mlos_shard_t *shard);

/* call.c */
/* Queue frame (malloc'ed; owned from now on, also on failure) as request
 * type, in call order behind queued calls, answered by the same id. */
int mlos__submit(struct mlos_shard_impl *im, mlos_call_t *req, uint8_t type, void *frame, size_t len, mlos_call_cb cb);
/* The sent request with this id if it is of this type, taken out of pending; else NULL. */
mlos_call_t *mlos__take_pending(struct mlos_shard_impl *im, uint32_t id, uint8_t type);
void mlos__complete(mlos_call_t *req, int status, const char *error);
void mlos__queue_released(struct mlos_shard_impl *im, uint32_t id); /* RELEASED frame, ahead of queued calls */
void mlos__drain(struct mlos_shard_impl *im);
void mlos__fail_calls(struct mlos_shard_impl *im, int err, const char *msg);
void mlos__ring_shard(struct mlos_shard_impl *im); /* doorbell if the shard sleeps */
void mlos__ring_bell(struct mlos_shard_impl *im);  /* doorbell, unconditionally */
void mlos__spin(struct mlos_shard_impl *im);       /* polling mode: keep watching the ring a while */
uint64_t mlos__next_deadline(const struct mlos_shard_impl *im); /* earliest call deadline (loop ms), 0: none */
/* Settle calls whose deadline is <= now; 1 if the shard was fenced or released meanwhile. */
int mlos__expire_calls(struct mlos_shard_impl *im, uint64_t now);

/* cores.c: a CORES_SET frame (untrusted) */
int mlos__on_cores_set(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len);

/* resize.c: a RESIZED frame (untrusted) */
int mlos__on_resized(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len);

/* heartbeat.c */
void mlos__hb_init(struct mlos_shard_impl *im);  /* in mlos_spawn, before any release() */
void mlos__hb_ready(struct mlos_shard_impl *im); /* shard said HELLO: start pinging if enabled */
void mlos__hb_alive(struct mlos_shard_impl *im); /* a REPLY arrived: progress on calls, not an answer to PING */
int mlos__hb_pong(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len);
void mlos__hb_arm(struct mlos_shard_impl *im);   /* re-plan the timer (a call with a deadline was added) */
/* Is local host process pid stopped (SIGSTOP, tracing: state T/t)? (heartbeat.c) */
int mlos__proc_stopped(int pid);

/* What a request to a shard that is not running fails with at once: a
 * dead shard that was stopped (`mlos stop`, its cluster closed) reads
 * MLOS_ESTOPPED, as its pending calls did; one that died MLOS_ESHARDDIED. */
static inline int mlos__not_running_err(const struct mlos_shard_impl *im)
{
    if (im->state != SHARD_DEAD && !im->fenced)
        return MLOS_ESTOPPED;
    return im->death_err == MLOS_ESTOPPED ? MLOS_ESTOPPED : MLOS_ESHARDDIED;
}

/* After mlos__shard_fail: the shard reads as dead, its calls fail, the pool hears of it. */
void mlos__fence(struct mlos_shard_impl *im);
/* The stop socket of `mlos stop` (control.c): a shard is served from its
 * spawn until its release begins. add returns 1 if the socket serves im
 * (a shard of the loop it is served on), 0 if not: im's record must not
 * name the socket then. */
int mlos__control_add(struct mlos_shard_impl *im);
void mlos__control_remove(struct mlos_shard_impl *im);

/* shard_ep.c */
uint32_t mlos__shard_new_rkey(void);
void mlos__shard_ep_drain(struct mlos_shard_impl *im); /* ring room: flush queued sends */
void mlos__shard_ep_gone(struct mlos_shard_impl *im);  /* shard dead or stopping */

/* shard_env.c: the environment of a process shard, shard_args first;
 * malloc'ed array (free it) pointing into environ, or NULL. */
char **mlos__shard_env(char *shard_args);

/* shard_remote.c: the master side of a shard behind a node agent */
/* Create the handle (state STARTING, hello timer armed); 0 or MLOS_ENOMEM. */
int mlos__remote_shard_new(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *o,
                           const struct mlos__remote_ops *ops, void *rctx, const char *node, mlos_spawn_cb cb);
/* The agent's answer to the spawn: the shard's HELLO (mlos.Hello bytes), its
 * bulk window size and host pid on the node. MLOS_EDECODE for a bad HELLO. */
int mlos__remote_hello(struct mlos_shard_impl *im, const uint8_t *hello, size_t len, uint64_t bulk_len, int pid);
/* A REPLY (mlos.TaskReply bytes) for request id; < 0: protocol breach. */
int mlos__remote_reply(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, size_t len);
/* The shard is gone on its node (err 0: stopped as asked), or its node is
 * lost (err < 0, msg says why): calls fail, the pool hears of it. */
void mlos__remote_gone(struct mlos_shard_impl *im, int err, const char *msg);
int mlos__remote_stop(struct mlos_shard_impl *im);

/* call.c, for shard_remote.c */
int mlos__on_hello(struct mlos_shard_impl *im, const uint8_t *p, uint32_t len);
int mlos__on_reply(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len);

/* master.c */
uint32_t mlos__next_shard_id(void);

#endif
