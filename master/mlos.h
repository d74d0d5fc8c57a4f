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
    size_t bulk_bytes;         /* bulk window for put/get: 16 MiB */
    uint32_t ring_bytes;       /* each message ring: 1 MiB (power of two) */
    unsigned hello_timeout_ms; /* spawn fails if no HELLO by then: 10000 */
    int kvm;                   /* 1: KVM (spawn fails at once with MLOS_ESPAWN if it cannot run a
                                * guest here); MLOS_KVM_AUTO: KVM where a quick probe runs a guest,
                                * else TCG; 0 (default): TCG */
    mlos_console_cb on_console; /* shard console lines; default: stderr if MLOS_VERBOSE is set */
    unsigned spin_us;          /* polling mode: shard and master watch the rings this long after
                                * traffic before sleeping on a doorbell (latency for CPU); 0: off */
};

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
    uint64_t mem_bytes;       /* memory the shard's allocator manages */
    size_t ntasks;
    char **tasks;             /* task names the shard offers */
    /* private */
    struct mlos_shard_impl *impl;
};

/* Start a shard. cb(shard, 0) runs once it said HELLO; cb(shard, <0) if it
 * could not start (the shard must still be released with mlos_shard_stop).
 * Returns 0 if the start is under way (cb will run), or an error
 * immediately (cb will not run; nothing to release). The image is checked
 * before anything starts (mlos_image_check, mlos_image.h): one built for
 * another arch fails at once with MLOS_ESPAWN, one of another ABI version
 * with MLOS_EVERSION, the reason on stderr unless $MLOS_QUIET is set. */
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
};

/* Run `task` on the shard with arg bytes (copied; the caller may reuse arg
 * at once). cb runs exactly once, with the reply or an error. Returns 0, or
 * MLOS_ESTOPPED / MLOS_ESHARDDIED / MLOS_EINVAL / MLOS_ETOOBIG immediately
 * (cb will not run). */
int mlos_call(mlos_shard_t *shard, mlos_call_t *req, const char *task, const void *arg, size_t arg_len,
              mlos_call_cb cb);

/* Per-call options for mlos_call_ex. Zero fields mean what mlos_call does. */
#define MLOS_CALL_FENCE 1u /* a call past its deadline fences its shard (below) */
struct mlos_call_opts {
    unsigned timeout_ms; /* deadline, counted from mlos_call_ex (time waiting behind earlier calls
                          * included); 0: none, the call waits as long as the shard lives */
    unsigned flags;      /* MLOS_CALL_FENCE or 0 */
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

#ifdef __cplusplus
}
#endif

#endif
