/* master/remote.h -- remote workers: shards on other hosts, over msg.h.
 *
 * A remote worker is a process shard (shards/remote/mlos-remote-shard) that
 * runs on another machine and reaches the master through the messaging layer
 * (rpc/msg/msg.h: "tcp:HOST:PORT", or "verbs:IPV4:PORT" with an RDMA NIC)
 * instead of the shared window and doorbell that mlos_spawn() uses on the
 * master's own host. How the worker gets started (by hand, ssh, Slurm) is the
 * launcher's business (master/launcher.h); this API only accepts workers
 * and calls their tasks.
 *
 *   mlos_remote_t r;
 *   mlos_remote_listen(&r, loop, "tcp:0.0.0.0:7000", &(struct mlos_remote_opts){.secret_file = path}, on_worker);
 *   ... on_worker(r, w): mlos_remote_call(w, &req, "echo", "hi", 2, on_reply);
 *   ... mlos_remote_close(&r, NULL);
 *
 * Wire protocol, one msg.h two-sided message per frame (msg type = frame
 * type), each message a whole rpc/wire/frame.h frame (16-byte header + protobuf):
 *   worker <-> master AUTH  (msg type MLOS_REMOTE_MSG_AUTH): mutual
 *                     challenge-response over a shared secret, see
 *                     remote_auth.h (what it protects, and what not: data
 *                     in flight is not encrypted)
 *   worker -> master  HELLO (mlos.Hello: arch, tasks, mem_bytes, boot_ns)
 *   worker -> master  MSG type MLOS_REMOTE_MSG_RKEY: the worker's bulk region
 *   master -> worker  CALL  (mlos.TaskCall, request id)  ... REPLY (mlos.TaskReply)
 *   master -> worker  STOP  (the worker answers what is queued and exits)
 * A worker that fails authentication, sends a malformed frame, or does not
 * get through to HELLO within hello_timeout_ms is disconnected (and counted
 * in r->rejected). Without a secret the master refuses to listen
 * (MLOS_EAUTH) unless opts.insecure (or MLOS_REMOTE_INSECURE=1) says to
 * accept unauthenticated workers; such a master also refuses workers that
 * try to authenticate (they would believe they reached a trusted master).
 *
 * Not merged with mlos_spawn/mlos_call (master/mlos.h) today: a remote
 * worker is an mlos_remote_worker_t, not an mlos_shard_t, so pools,
 * heartbeats and the shard registry do not see it yet.
 *
 * Callbacks run on the loop; structs marked caller-owned stay alive until
 * their callback has run. Errors are negative MLOS_E* codes.
 */
#ifndef MLOS_REMOTE_H
#define MLOS_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "msg.h"
#include "mlos_error.h"
#include "remote_auth.h"

#define MLOS_REMOTE_MSG_AUTH 0x41555448u /* "AUTH": handshake steps (remote_auth.h) */
#define MLOS_REMOTE_MSG_RKEY 0x524b4559u /* "RKEY": struct mlos_rkey of the worker's bulk region */
/* Largest task argument: one message holds frame header + TaskCall. */
#define MLOS_REMOTE_MAX_ARG (MLOS_EP_MAX_MSG - 4096)

typedef struct mlos_remote_s mlos_remote_t;
typedef struct mlos_remote_worker_s mlos_remote_worker_t;
typedef struct mlos_remote_call_s mlos_remote_call_t;

typedef void (*mlos_remote_worker_cb)(mlos_remote_t *r, mlos_remote_worker_t *w);
typedef void (*mlos_remote_gone_cb)(mlos_remote_worker_t *w, int status);
typedef void (*mlos_remote_call_cb)(mlos_remote_call_t *req, int status);
typedef void (*mlos_remote_close_cb)(mlos_remote_t *r);

struct mlos_remote_opts {
    const char *secret;        /* shared secret (>= 16 bytes); else secret_file, else the environment */
    const char *secret_file;   /* file holding it: yours, mode 0600 (remote_auth.h) */
    int insecure;              /* no secret found: accept every worker instead of failing */
    unsigned hello_timeout_ms; /* connection to HELLO: 10000 */
    mlos_remote_gone_cb on_gone; /* a worker disconnected or broke the protocol (optional) */
};

/* A connected worker, allocated by the library; valid from on_worker until
 * on_gone has returned (or mlos_remote_close). */
struct mlos_remote_worker_s {
    void *data;          /* free for the caller */
    uint32_t id;         /* 1, 2, ... per listener */
    char transport[8];   /* "tcp" or "verbs" */
    char arch[16];       /* from HELLO */
    size_t ntasks;
    char **tasks;
    uint64_t mem_bytes, boot_ns;
    uint64_t bulk_len;   /* worker's bulk region (mlos_remote_put target), 0 if none */
    uint64_t calls_done;
    /* private */
    mlos_remote_t *r;
    mlos_ep_t ep;
    int state;
    uint8_t authed;
    uint8_t has_rkey;
    uint8_t nonce_w[MLOS_REMOTE_NONCE], nonce_m[MLOS_REMOTE_NONCE];
    uint64_t t_accept;
    struct mlos_rkey bulk;
    mlos_remote_call_t *pending;
    uint32_t next_req;
    mlos_remote_worker_t *next;
};

struct mlos_remote_s {
    void *data;
    uv_loop_t *loop;
    unsigned nworkers;   /* workers that said HELLO and are still connected */
    unsigned rejected;   /* connections refused (authentication, protocol, timeout) */
    unsigned auth_failed; /* of which failed authentication */
    /* private */
    mlos_domain_t dom;
    mlos_listener_t lis;
    uv_timer_t sweep;
    struct mlos_remote_secret secret; /* len 0: insecure */
    unsigned hello_timeout_ms;
    mlos_remote_worker_cb on_worker;
    mlos_remote_gone_cb on_gone;
    mlos_remote_close_cb on_close;
    mlos_remote_worker_t *workers;
    uint32_t next_id;
    int closing, handles_open;
};

/* Caller-owned, like mlos_call_t. */
struct mlos_remote_call_s {
    void *data;
    /* results, valid inside the callback only */
    int status;               /* 0 or MLOS_E* (task's own, or MLOS_ESHARDDIED if the worker left) */
    const uint8_t *result;
    size_t result_len;
    const char *error;        /* never NULL when status != 0 */
    uint64_t run_ns;          /* task time, worker clock */
    uint64_t rtt_ns;          /* mlos_remote_call() to reply, master clock */
    /* private */
    mlos_remote_worker_t *w;
    mlos_remote_call_cb cb;
    mlos_remote_call_t *next;
    uint32_t id;
    uint64_t t0;
};

/* Listen on addr ("tcp:0.0.0.0:0" picks a port: see mlos_remote_addr).
 * on_worker runs for each worker once it authenticated and said HELLO.
 * MLOS_EAUTH (reason on stderr) without a usable secret unless insecure. */
int mlos_remote_listen(mlos_remote_t *r, uv_loop_t *loop, const char *addr, const struct mlos_remote_opts *opts,
                       mlos_remote_worker_cb on_worker);
/* The address workers connect to, e.g. "tcp:0.0.0.0:41234". */
int mlos_remote_addr(const mlos_remote_t *r, char *out, size_t cap);

/* Run task on the worker with arg (copied). cb runs exactly once. Returns 0,
 * or MLOS_EINVAL / MLOS_ETOOBIG / MLOS_ESHARDDIED at once (cb will not run). */
int mlos_remote_call(mlos_remote_worker_t *w, mlos_remote_call_t *req, const char *task, const void *arg,
                     size_t len, mlos_remote_call_cb cb);

/* One-sided copy into the worker's bulk region (what tasks see as
 * ctx->bulk), through msg.h put (tcp: the worker's progress engine; verbs:
 * RDMA WRITE). Synchronous: runs the loop until done. MLOS_ERANGE outside
 * the region, MLOS_ENOTSUP if the worker has none. */
int mlos_remote_put_sync(mlos_remote_worker_t *w, uint64_t offset, const void *src, size_t len);

/* Ask the worker to exit (STOP) and drop it; pending calls fail with
 * MLOS_ESTOPPED; on_gone is not called for it. */
void mlos_remote_worker_stop(mlos_remote_worker_t *w);

/* Stop listening, stop every worker, release everything; cb (may be NULL)
 * when done. */
void mlos_remote_close(mlos_remote_t *r, mlos_remote_close_cb cb);

/* ---- synchronous helpers (run the loop) ---- */

/* Wait until at least n workers are connected, or timeout_ms: 0 or MLOS_ETIMEDOUT. */
int mlos_remote_wait_workers(mlos_remote_t *r, unsigned n, unsigned timeout_ms);
/* The i-th connected worker (oldest first), or NULL. */
mlos_remote_worker_t *mlos_remote_worker_at(mlos_remote_t *r, unsigned i);
/* As mlos_call_sync: *result malloc'ed on success; err gets the worker's
 * explanation on failure. rtt_ns (may be NULL) gets the round trip. */
int mlos_remote_call_sync(mlos_remote_worker_t *w, const char *task, const void *arg, size_t len, void **result,
                          size_t *result_len, char *err, size_t err_len, uint64_t *rtt_ns);
void mlos_remote_close_sync(mlos_remote_t *r);

#endif
