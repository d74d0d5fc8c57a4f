/* mlos.h -- the master API: start slave shards, call their tasks, move data.
 *
 * The master is the application's own process (a process shard on the
 * Linux HAL). It drives everything from a caller-owned libuv loop, the way
 * libuv itself does: the caller owns every handle (mlos_shard_t) and request
 * (mlos_call_t) struct and keeps it alive until its callback has run.
 *
 *   uv_loop_t *loop = uv_default_loop();
 *   mlos_shard_t s;
 *   mlos_spawn(loop, &s, NULL, on_ready);        // boots an x86_64 slave
 *   ... in on_ready: mlos_put(&s, 0, buf, n); mlos_call(&s, &req, "sum_u64", ...);
 *   ... in on_reply: mlos_shard_stop(&s, on_closed);
 *
 * Errors: functions return 0 or a negative MLOS_E* code (mlos_error.h);
 * callbacks receive the same kind of status. A shard that exits, crashes or
 * breaks the protocol resolves all its pending calls with MLOS_ESHARDDIED or
 * MLOS_EPROTO; its QEMU process, memory file and sockets are released by
 * mlos_shard_stop(), which must be called once for every spawned shard,
 * dead or alive.
 *
 * Synchronous helpers (mlos_*_sync) run the loop until the operation
 * completes, for simple programs such as CGI scripts.
 */
#ifndef MLOS_H
#define MLOS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "mlos_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlos_shard_s mlos_shard_t;
typedef struct mlos_call_s mlos_call_t;

typedef void (*mlos_spawn_cb)(mlos_shard_t *shard, int status);
typedef void (*mlos_call_cb)(mlos_call_t *req, int status);
typedef void (*mlos_close_cb)(mlos_shard_t *shard);
typedef void (*mlos_console_cb)(mlos_shard_t *shard, const char *line, size_t len);

/* Options for mlos_spawn. Zero/NULL fields take the defaults shown. */
struct mlos_spawn_opts {
    const char *arch;          /* "x86_64" (bare metal, default), "ppc" (bare metal) or "process" */
    const char *image;         /* default: <image dir>/mlos-slave-<arch>.elf or mlos-shard-process */
    const char *qemu;          /* default: qemu-system-x86_64 / qemu-system-ppc from PATH */
    size_t mem_bytes;          /* memory for the shard's allocator: 64 MiB */
    size_t mem_max_bytes;      /* elastic memory: guest RAM (or arena) for this much, of which
                                * mem_bytes is granted at start; mlos_shard_resize moves the grant
                                * up to here. 0 (default): fixed at mem_bytes. Untouched RAM costs
                                * the host nothing (the memory file is sparse) */
    size_t bulk_bytes;         /* bulk window for put/get: 16 MiB */
    uint32_t ring_bytes;       /* each message ring: 1 MiB (power of two) */
    unsigned hello_timeout_ms; /* spawn fails if no HELLO by then: 10000 */
    int kvm;                   /* 1: KVM (spawn fails at once with MLOS_ESPAWN if it cannot run a
                                * guest here); MLOS_KVM_AUTO: KVM where a quick probe runs a guest,
                                * else TCG; 0 (default): TCG */
    mlos_console_cb on_console; /* shard console lines; default: stderr if MLOS_VERBOSE is set */
    unsigned spin_us;          /* polling mode: shard and master watch the rings this long after
                                * traffic before sleeping on a doorbell (latency for CPU); 0: off */
    unsigned cores;            /* CPU cores of an x86_64 shard (at most MLOS_MAX_CORES; under TCG
                                * one host thread each): 1 (default). Other kinds have one core:
                                * more is refused with MLOS_ENOTSUP */
    struct mlos_group_mem_s *group_mem; /* memory shared with group peers (mlos_group.h): a shard
                                * spawned with it can become a member of groups made in it;
                                * every kind; NULL: none */
    int prefault_bulk;         /* 1: fault the bulk window's memory in on a background thread while
                                * the shard boots, so that neither the master's writes into it nor
                                * the shard's first use pay the first-touch faults; 0: on first use */
};

#define MLOS_MAX_CORES 8

#define MLOS_KVM_AUTO (-1)

/* Can x86_64 shards run under KVM on this host? Runs a one-instruction
 * guest (in a child process, at most 1 s; the answer is kept). Returns 0,
 * or MLOS_ESPAWN with the reason in why (if given): "open /dev/kvm:
 * Permission denied", "KVM_RUN: ...". */
int mlos_kvm_usable(char *why, size_t cap);

/* Find a shard image or helper program by file name: each directory of
 * $MLOS_IMAGE_PATH (colon separated), then the install location
 * (<libdir>/mlos). A name with a '/' is used as is. Fills out with the path
 * and returns 0, or MLOS_ENOENT. */
int mlos_image_find(const char *name, char *out, size_t cap);
const char *mlos_image_dir(void); /* the install location */

struct mlos_shard_impl; /* private */

struct mlos_shard_s {
    void *data;               /* free for the caller */
    /* read-only, valid from the spawn callback on */
    uint32_t id;              /* unique within this master process */
    int pid;                  /* host process (QEMU or process shard), 0 once gone */
    char arch[16];            /* as reported by the shard's HELLO */
    uint64_t spawn_ns;        /* mlos_spawn() to HELLO, host clock */
    uint64_t shard_boot_ns;   /* shard's own clock at HELLO */
    uint64_t mem_bytes;       /* memory the shard's allocator may have in use (its grant) */
    uint64_t mem_max_bytes;   /* most mlos_shard_resize can grant; 0: fixed size */
    unsigned cores;           /* cores the shard runs on (started; mlos_shard_cores parks some) */
    unsigned active_cores;    /* of which in use: not parked */
    size_t ntasks;
    char **tasks;             /* task names the shard offers */
    char node[64];            /* "" on this host; else the node whose agent runs it (pid is there) */
    /* private */
    struct mlos_shard_impl *impl;
};

/* Start a shard. cb(shard, 0) runs once it said HELLO; cb(shard, <0) if it
 * could not start (the shard must still be released with mlos_shard_stop).
 * Returns 0 if the start is under way (cb will run), or an error
 * immediately (cb will not run; nothing to release). The image is checked
 * before anything starts (mlos_image_check, mlos_image.h): one built for
 * another arch fails at once with MLOS_ESPAWN, one of another ABI version
 * with MLOS_EVERSION, the reason on stderr unless $MLOS_QUIET is set. An
 * arch that is none of "x86_64", "ppc", "process" is MLOS_EINVAL, said on
 * stderr the same way. */
int mlos_spawn(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *opts, mlos_spawn_cb cb);

struct mlos_call_s {
    void *data;               /* free for the caller */
    /* results, valid inside the callback only */
    int status;               /* 0 or MLOS_E* (task's own or transport's) */
    const uint8_t *result;    /* reply bytes */
    size_t result_len;
    const char *error;        /* explanation when status != 0, never NULL then */
    uint64_t run_ns;          /* time the task ran, shard clock */
    uint64_t rtt_ns;          /* mlos_call() to reply, host clock */
    /* private */
    mlos_shard_t *shard;
    mlos_call_cb cb;
    mlos_call_t *next;
    uint32_t id;
    uint64_t t0;
    void *frame;              /* packed TaskCall waiting for ring room */
    size_t frame_len;
    void *reply;              /* decoded TaskReply during the callback */
    unsigned timeout_ms;      /* deadline (mlos_call_ex), 0: none */
    unsigned call_flags;      /* MLOS_CALL_* */
    uint64_t deadline_ms;     /* loop time the deadline falls, 0: none */
    int timed_out;            /* 1 in the callback of a call that overran its deadline */
    uint8_t frame_type;       /* CALL; another for protocol requests carried like a call */
};

/* Run `task` on the shard with arg bytes (copied; the caller may reuse arg
 * at once). cb runs exactly once, with the reply or an error. Returns 0, or
 * MLOS_ESTOPPED / MLOS_ESHARDDIED / MLOS_EINVAL / MLOS_ETOOBIG immediately
 * (cb will not run). */
int mlos_call(mlos_shard_t *shard, mlos_call_t *req, const char *task, const void *arg, size_t arg_len,
              mlos_call_cb cb);

/* Per-call options for mlos_call_ex. Zero fields mean what mlos_call does. */
#define MLOS_CALL_FENCE 1u /* a call past its deadline fences its shard (below) */
#define MLOS_CALL_CONCURRENT 2u /* on a multi-core shard: may run on any free core, beside other such
                                 * calls (its reply may overtake earlier ones); on one core, or with
                                 * every core busy, it runs in order as usual */
struct mlos_call_opts {
    unsigned timeout_ms; /* deadline, counted from mlos_call_ex (time waiting behind earlier calls
                          * included); 0: none, the call waits as long as the shard lives */
    unsigned flags;      /* MLOS_CALL_FENCE, MLOS_CALL_CONCURRENT, or 0 */
};

/* mlos_call with options (opts may be NULL: same as mlos_call). When a
 * call's deadline passes before its reply, cb runs with MLOS_ETIMEDOUT
 * (req->timed_out set, req->error "call N on shard M overran its T ms
 * deadline"). Then:
 *  - without MLOS_CALL_FENCE the shard stays up: the task may still be
 *    running there (a shard runs one task at a time, so later calls wait
 *    behind it) and its late reply is dropped. A shard with 64 overrun
 *    calls still unanswered is fenced as with MLOS_CALL_FENCE.
 *  - with MLOS_CALL_FENCE the shard is fenced at once: SIGKILL, no further
 *    frame accepted, its other calls fail with MLOS_ETIMEDOUT and the
 *    reason, it reads as dead (as a heartbeat timeout does, mlos_pool.h).
 *    Use it when nothing useful can follow a task that overran (pools do).
 * Returns what mlos_call returns. */
int mlos_call_ex(mlos_shard_t *shard, mlos_call_t *req, const char *task, const void *arg, size_t arg_len,
                 const struct mlos_call_opts *opts, mlos_call_cb cb);

/* One-sided copy into / out of the shard's bulk window at offset. Bounds
 * are checked: MLOS_ERANGE if [offset, offset+len) is outside the window.
 * The data is visible to tasks called afterwards. */
int mlos_put(mlos_shard_t *shard, size_t offset, const void *src, size_t len);
int mlos_get(mlos_shard_t *shard, size_t offset, void *dst, size_t len);

/* Direct pointer to the bulk window (zero-copy producers), and its size. */
void *mlos_shard_bulk(mlos_shard_t *shard, size_t *len);

/* Messaging with a shard (rpc/msg/msg.h): bind ep (caller-owned) to a READY
 * shard. Sends become messages the shard's runtime delivers to the handler
 * set with mlos_shard_on_msg (libos/runtime/shard_msg.h) from its event loop; its
 * messages arrive in ep->on_recv. One-sided put/get reach the shard's bulk
 * window, exported as a region by mlos_shard_rkey. One endpoint per shard;
 * it fails with MLOS_ECONNRESET when the shard dies or stops. */
struct mlos_domain_s;
struct mlos_ep_s;
struct mlos_rkey;
int mlos_shard_ep(struct mlos_domain_s *dom, mlos_shard_t *shard, struct mlos_ep_s *ep);
int mlos_shard_rkey(mlos_shard_t *shard, struct mlos_rkey *out);

/* ---- elastic memory ----
 * A shard spawned with mem_max_bytes can be granted more or less memory
 * while it runs. Growing raises the limit of what its allocator may have
 * in use at once, effective before any call made after the resize.
 * Shrinking lowers the limit as far as memory in use allows and makes the
 * shard give its free pages back: the shard reports them, the master
 * checks every range (page aligned, inside the shard's memory, clear of
 * the window and rings) and punches them out of the shard's memory file,
 * so the host process's resident memory falls. Data in use is never
 * touched. Memory given back is unusable by the shard until the resize's
 * callback has run (calls queued behind a shrink see only what the new
 * limit leaves free). */
typedef struct mlos_resize_s mlos_resize_t;
typedef void (*mlos_resize_cb)(mlos_resize_t *req, int status);

#define MLOS_RESIZE_MIN_BYTES (1u << 20)

struct mlos_resize_s {
    void *data;               /* free for the caller */
    /* results, valid inside the callback (error also after a refused call) */
    int status;               /* 0: met in full; MLOS_EBUSY: a shrink stopped at the memory in use
                               * (mem_bytes says where); else an MLOS_E* error */
    const char *error;        /* explanation when status != 0, never NULL then */
    uint64_t target_bytes;    /* as asked */
    uint64_t mem_bytes;       /* the shard's limit now (also in shard->mem_bytes) */
    uint64_t in_use_bytes;    /* memory in use on the shard when it answered */
    uint64_t released_bytes;  /* given back to the host (punched out of its memory file) */
    uint32_t ranges;          /* in how many ranges */
    uint64_t rtt_ns;          /* mlos_shard_resize() to callback, host clock */
    uint64_t punch_ns;        /* of which punching the ranges out */
    /* private */
    mlos_shard_t *shard;
    mlos_resize_cb cb;
    mlos_call_t call;         /* carries the request in call order */
    char msg[256];
};

/* Grant the shard `bytes` of memory (a multiple of 4 KiB, from
 * MLOS_RESIZE_MIN_BYTES to shard->mem_max_bytes). cb runs exactly once.
 * Returns 0, or at once (cb will not run; req->error says why):
 * MLOS_EINVAL (NULL arguments, bytes not a multiple of 4 KiB), MLOS_ERANGE
 * (bytes outside that range), MLOS_ENOTSUP (the shard was not spawned with
 * mem_max_bytes), MLOS_ESTOPPED / MLOS_ESHARDDIED. In cb: MLOS_EBUSY for a
 * shrink met in part, MLOS_EPROTO if the shard answered with ranges
 * outside its memory (it is fenced), MLOS_ESHARDDIED / MLOS_ESTOPPED if it
 * went away first. */
int mlos_shard_resize(mlos_shard_t *shard, mlos_resize_t *req, size_t bytes, mlos_resize_cb cb);

/* ---- cores ----
 * A shard spawned with cores > 1 runs tasks on all of them: calls with
 * MLOS_CALL_CONCURRENT on free cores, and each task's mlos_parallel_for on
 * the cores free at the time. Parking takes cores out of use while the
 * shard runs: a parked core finishes what it runs and takes nothing new
 * (under QEMU it sleeps in HLT and costs no host CPU); unparking puts it
 * back. Core 0 runs the shard's event loop and is never parked. */
typedef struct mlos_cores_s mlos_cores_t;
typedef void (*mlos_cores_cb)(mlos_cores_t *req, int status);

struct mlos_cores_s {
    void *data;            /* free for the caller */
    /* results, valid inside the callback (error also after a refused call) */
    int status;            /* 0 or MLOS_E* */
    const char *error;     /* explanation when status != 0, never NULL then */
    unsigned active;       /* cores in use now (also in shard->active_cores) */
    unsigned cores;        /* cores the shard has */
    uint64_t rtt_ns;
    /* private */
    mlos_shard_t *shard;
    mlos_cores_cb cb;
    unsigned want;
    mlos_call_t call;
    char msg[200];
};

/* Use `active` of the shard's cores (1 .. shard->cores), in call order.
 * cb runs exactly once. Returns 0, or at once (cb will not run;
 * req->error says why): MLOS_EINVAL (NULL arguments), MLOS_ERANGE (active
 * 0 or above shard->cores), MLOS_ESTOPPED / MLOS_ESHARDDIED. */
int mlos_shard_cores(mlos_shard_t *shard, mlos_cores_t *req, unsigned active, mlos_cores_cb cb);
int mlos_shard_cores_sync(mlos_shard_t *shard, mlos_cores_t *req, unsigned active);

/* 1 while the shard is up and answering, else 0. */
int mlos_shard_alive(const mlos_shard_t *shard);

/* The last console output of the shard (up to 4 KiB), e.g. a crash dump. */
const char *mlos_shard_console_tail(const mlos_shard_t *shard);

/* Ask the shard to exit (STOP), kill it if it has not exited within 2 s,
 * fail pending calls with MLOS_ESTOPPED, and release every resource.
 * cb (may be NULL) runs when all is released; then the struct may be
 * reused or freed. Returns 0 or MLOS_EINVAL (already stopping). */
int mlos_shard_stop(mlos_shard_t *shard, mlos_close_cb cb);

/* ---- synchronous helpers: run the loop until done ---- */

int mlos_spawn_sync(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *opts);

/* On success *result is malloc'ed (free it) and *result_len set. On task
 * failure, the shard's explanation is copied into err (if given). */
int mlos_call_sync(mlos_shard_t *shard, const char *task, const void *arg, size_t arg_len, void **result,
                   size_t *result_len, char *err, size_t err_len);

void mlos_shard_stop_sync(mlos_shard_t *shard);

/* mlos_shard_resize, run to completion; *req holds the results. Returns
 * the status (immediate refusals included). */
int mlos_shard_resize_sync(mlos_shard_t *shard, mlos_resize_t *req, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
