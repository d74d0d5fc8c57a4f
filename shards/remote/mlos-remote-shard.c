/* mlos-remote-shard: a process shard on another host.
 *
 *   mlos-remote-shard --master tcp:HOST:PORT [--secret-file PATH | --insecure]
 *                     [--connect-timeout MS] [--mem BYTES] [--bulk BYTES] [--verbs]
 *
 * Instead of the shared window and doorbell of mlos-shard-process (which
 * need the master's host), it connects to the master through the messaging
 * layer (rpc/msg/msg.h: tcp:, or verbs: with an RDMA device), and master and
 * worker prove to each other that they know the shared secret (read from
 * --secret-file, $MLOS_REMOTE_SECRET_FILE or $MLOS_REMOTE_SECRET; never sent;
 * master/remote_auth.h says what this protects and what not). Only then
 * does it say HELLO (arch "remote-<machine>", its task list) and export a
 * bulk region the master may put into (tasks see it as ctx->bulk); it runs
 * the linked tasks (the same task_sources as every shard, through the libos
 * registry and mlos_task_run) for each CALL, answering with REPLY. Without
 * a secret it refuses to start unless --insecure (or MLOS_REMOTE_INSECURE=1)
 * is given. It exits 0 after STOP or when the master disconnects after
 * sending something; 2 if it cannot connect, has no secret, authentication
 * fails either way, or the master hangs up before sending anything.
 * Protocol: master/remote.h.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <uv.h>

#include "frame.h"
#include "hal.h"
#include "hal_linux.h"
#include "mem.h"
#include "mlos.pb-c.h"
#include "mlos_task.h"
#include "msg.h"
#include "remote.h"
#include "remote_auth.h"

static uv_loop_t loop;
static mlos_domain_t dom;
static mlos_ep_t ep;
static mlos_mr_t bulk_mr;
static int have_bulk, exit_code, connected, quitting;
static const char *master_addr, *secret_file;
static struct mlos_remote_secret secret;
static uint8_t nonce_w[MLOS_REMOTE_NONCE];
static int authed; /* the master proved itself (or insecure) */
static int heard;  /* a frame from the master after that */
static unsigned connect_timeout_ms = 30000;
static uint64_t t_start, calls_done;
static uv_timer_t retry;

struct out_msg {
    mlos_wr_t wr;
    uint8_t buf[];
};

static void out_done(mlos_wr_t *wr, int status) { free(wr->data); }

static int send_raw(uint32_t type, const void *p, size_t n)
{
    struct out_msg *o = malloc(sizeof(*o) + (n ? n : 1));
    int rc;
    if (!o)
        return MLOS_ENOMEM;
    memcpy(o->buf, p, n);
    o->wr.data = o;
    if ((rc = mlos_send(&ep, &o->wr, type, o->buf, n, out_done)) < 0)
        free(o);
    return rc;
}

static void quit(int code)
{
    if (quitting)
        return;
    quitting = 1;
    exit_code = code;
    if (connected)
        mlos_ep_close(&ep, NULL);
    uv_stop(&loop);
}

static void run_call(uint32_t id, const uint8_t *p, size_t n)
{
    Mlos__TaskCall *c = mlos__task_call__unpack(NULL, n, p);
    Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;
    struct mlos_task_ctx ctx;
    uint64_t t0;
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    if (!c) {
        r.status = MLOS_EDECODE;
        r.error = "TaskCall does not decode";
    } else {
        mlos_task_ctx_init(&ctx, c->arg.data, c->arg.len, have_bulk ? bulk_mr.addr : NULL,
                           have_bulk ? bulk_mr.len : 0);
        t0 = mlos_hal_now_ns();
        rc = mlos_task_run(c->task, strlen(c->task), &ctx);
        r.run_ns = mlos_hal_now_ns() - t0;
        r.status = rc;
        if (rc == 0) {
            r.result.data = ctx.result;
            r.result.len = ctx.result_len;
        } else
            r.error = ctx.error;
    }
    if ((rc = mlos_send_frame(&ep, MLOS_FRAME_REPLY, id, &r.base)) < 0) {
        /* e.g. a result too big for one message: say so instead */
        Mlos__TaskReply e = MLOS__TASK_REPLY__INIT;
        e.status = rc;
        e.error = "reply does not fit in one message (MLOS_EP_MAX_MSG)";
        if (mlos_send_frame(&ep, MLOS_FRAME_REPLY, id, &e.base) < 0)
            quit(1);
    }
    calls_done++;
    mlos_task_ctx_release(&ctx);
    if (c)
        mlos__task_call__free_unpacked(c, NULL);
}

static void say_hello(void);

/* The worker's half of the handshake: the master's RESPONSE. */
static void on_auth(uint32_t type, const uint8_t *p, size_t len)
{
    uint8_t proof[MLOS_REMOTE_AUTH_PROOF_SIZE];
    if (type != MLOS_REMOTE_MSG_AUTH || len != MLOS_REMOTE_AUTH_RESPONSE_SIZE || p[0] != MLOS_REMOTE_AUTH_RESPONSE ||
        p[1] != MLOS_REMOTE_AUTH_VERSION) {
        fprintf(stderr, "mlos-remote-shard: refusing the master at %s: it did not answer the authentication "
                        "challenge (not an mlos master, or one without a secret)\n", master_addr);
        quit(2);
        return;
    }
    if (!mlos_remote_mac_ok(&secret, MLOS_REMOTE_ROLE_MASTER, nonce_w, p + 2, p + 2 + MLOS_REMOTE_NONCE)) {
        fprintf(stderr, "mlos-remote-shard: refusing the master at %s: wrong proof of the shared secret\n",
                master_addr);
        quit(2);
        return;
    }
    proof[0] = MLOS_REMOTE_AUTH_PROOF;
    proof[1] = MLOS_REMOTE_AUTH_VERSION;
    if (mlos_remote_mac(&secret, MLOS_REMOTE_ROLE_WORKER, nonce_w, p + 2, proof + 2) < 0 ||
        send_raw(MLOS_REMOTE_MSG_AUTH, proof, sizeof(proof)) < 0) {
        quit(2);
        return;
    }
    authed = 1;
    say_hello(); /* behind the proof, in order */
}

static void on_recv(mlos_ep_t *e, uint32_t type, const void *data, size_t len)
{
    struct mlos_frame_hdr h;
    const uint8_t *payload;
    int rc;
    if (quitting)
        return;
    if (!authed) {
        on_auth(type, data, len);
        return;
    }
    heard = 1;
    rc = mlos_frame_decode(data, len, MLOS_EP_MAX_MSG, &h, &payload);
    if (rc < 0 || (size_t)rc != len) {
        fprintf(stderr, "mlos-remote-shard: malformed frame from master (%s)\n", mlos_strerror(rc < 0 ? rc : MLOS_ETRUNC));
        quit(1);
        return;
    }
    if (h.type == MLOS_FRAME_CALL)
        run_call(h.request_id, payload, h.length);
    else if (h.type == MLOS_FRAME_STOP)
        quit(0); /* calls before STOP were answered in order already */
    else if (h.type == MLOS_FRAME_PING) {
        Mlos__Ping *pi = mlos__ping__unpack(NULL, h.length, payload);
        Mlos__Pong po = MLOS__PONG__INIT;
        po.master_ns = pi ? pi->master_ns : 0;
        po.shard_ns = mlos_hal_now_ns();
        po.calls_done = calls_done;
        if (pi)
            mlos__ping__free_unpacked(pi, NULL);
        (void)mlos_send_frame(&ep, MLOS_FRAME_PONG, h.request_id, &po.base);
    }
}

static void on_fail(mlos_ep_t *e, int status)
{
    if (!authed) {
        fprintf(stderr, "mlos-remote-shard: the master at %s closed the connection during authentication "
                        "(refused: wrong or missing shared secret?)\n", master_addr);
        quit(2);
        return;
    }
    if (!heard) {
        /* e.g. a master with a secret refusing this insecure worker */
        fprintf(stderr, "mlos-remote-shard: the master at %s closed the connection before sending anything "
                        "(refused?)\n", master_addr);
        quit(2);
        return;
    }
    /* the master left: that is how a remote shard normally ends */
    quit(0);
}

static void say_hello(void)
{
    Mlos__Hello h = MLOS__HELLO__INIT;
    struct utsname u;
    char arch[80];
    size_t n = mlos_task_count();
    char **names = calloc(n ? n : 1, sizeof(char *));

    uname(&u);
    snprintf(arch, sizeof(arch), "remote-%s", u.machine);
    for (size_t i = 0; names && i < n; i++)
        names[i] = (char *)mlos_task_at(i)->name;
    h.arch = arch;
    h.tasks = names;
    h.n_tasks = names ? n : 0;
    h.mem_bytes = 0;
    {
        struct mlos_mem_stats st;
        mlos_mem_stats(&st);
        h.mem_bytes = st.total_bytes;
    }
    h.boot_ns = mlos_hal_now_ns();
    h.abi = 1;
    (void)mlos_send_frame(&ep, MLOS_FRAME_HELLO, 0, &h.base);
    if (have_bulk) {
        struct mlos_rkey k;
        uint8_t wire[MLOS_RKEY_WIRE_SIZE];
        mlos_mr_rkey(&bulk_mr, &k);
        mlos_rkey_encode(&k, wire);
        (void)send_raw(MLOS_REMOTE_MSG_RKEY, wire, sizeof(wire));
    }
    free(names);
}

static void try_connect(void);

static void on_connect(mlos_ep_t *e, int status)
{
    if (status == 0) {
        connected = 1;
        if (!secret.len) { /* insecure, as asked */
            authed = 1;
            say_hello();
            return;
        }
        uint8_t ch[MLOS_REMOTE_AUTH_CHALLENGE_SIZE] = {MLOS_REMOTE_AUTH_CHALLENGE, MLOS_REMOTE_AUTH_VERSION};
        if (mlos_remote_nonce(nonce_w) < 0) {
            quit(2);
            return;
        }
        memcpy(ch + 2, nonce_w, MLOS_REMOTE_NONCE);
        if (send_raw(MLOS_REMOTE_MSG_AUTH, ch, sizeof(ch)) < 0)
            quit(2);
        return;
    }
    /* the master may not listen yet: retry until the deadline */
    if (uv_hrtime() - t_start < connect_timeout_ms * 1000000ull) {
        uv_timer_start(&retry, (uv_timer_cb)try_connect, 200, 0);
        return;
    }
    fprintf(stderr, "mlos-remote-shard: cannot reach master at %s: %s\n", master_addr, mlos_strerror(status));
    quit(2);
}

static void try_connect(void)
{
    int rc;
    ep.on_recv = on_recv;
    ep.on_fail = on_fail;
    if ((rc = mlos_connect(&dom, &ep, master_addr, 3000, on_connect)) < 0) {
        fprintf(stderr, "mlos-remote-shard: connect %s: %s\n", master_addr, mlos_strerror(rc));
        quit(2);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mlos-remote-shard --master tcp:HOST:PORT|verbs:IP:PORT [--secret-file PATH | --insecure]\n"
                    "                         [--connect-timeout MS] [--mem BYTES] [--bulk BYTES] [--verbs]\n"
                    "  the shared secret: --secret-file, else $MLOS_REMOTE_SECRET_FILE (mode 0600), else\n"
                    "  $MLOS_REMOTE_SECRET; --insecure (or MLOS_REMOTE_INSECURE=1) runs without one\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"master", required_argument, 0, 'm'},
                                         {"secret-file", required_argument, 0, 's'},
                                         {"insecure", no_argument, 0, 'i'},
                                         {"connect-timeout", required_argument, 0, 'c'},
                                         {"mem", required_argument, 0, 'M'},
                                         {"bulk", required_argument, 0, 'b'},
                                         {"verbs", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    size_t mem = 64u << 20, bulk = 16u << 20;
    unsigned dflags = 0;
    struct mlos_hal_linux_cfg cfg = {.cmdline = "", .window_fd = -1, .doorbell_fd = -1};
    int c, rc, insecure = 0;
    char why[320];

    while ((c = getopt_long(argc, argv, "m:s:ic:M:b:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': master_addr = optarg; break;
        case 's': secret_file = optarg; break;
        case 'i': insecure = 1; break;
        case 'c': connect_timeout_ms = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'M': mem = strtoull(optarg, NULL, 0); break;
        case 'b': bulk = strtoull(optarg, NULL, 0); break;
        case 'v': dflags |= MLOS_DOMAIN_VERBS; break;
        default: usage(c == 'h' ? stdout : stderr); return c == 'h' ? 0 : 2;
        }
    }
    if (!master_addr) {
        usage(stderr);
        return 2;
    }
    if (mlos_remote_secret_load(&secret, NULL, secret_file, insecure, why, sizeof(why)) < 0) {
        fprintf(stderr, "mlos-remote-shard: %s\n", why);
        return 2;
    }
    if (!secret.len)
        fprintf(stderr, "mlos-remote-shard: WARNING: running without authentication (insecure): any master that "
                        "answers at %s can send tasks and write the bulk region\n", master_addr);
    if (strncmp(master_addr, "verbs:", 6) == 0)
        dflags |= MLOS_DOMAIN_VERBS;
    uv_loop_init(&loop);
    cfg.mem_bytes = mem;
    if ((rc = mlos_hal_linux_init(&loop, &cfg)) < 0 || (rc = mlos_mem_init_from_hal()) < 0) {
        fprintf(stderr, "mlos-remote-shard: HAL setup failed: %s\n", mlos_strerror(rc));
        return 2;
    }
    MLOS_TASKS_USE_LINKED();
    if ((rc = mlos_domain_init(&dom, &loop, dflags)) < 0) {
        fprintf(stderr, "mlos-remote-shard: messaging domain: %s%s\n", mlos_strerror(rc),
                dflags ? " (no RDMA device for verbs:)" : "");
        return 2;
    }
    if (bulk) {
        if ((rc = mlos_mr_alloc(&dom, &bulk_mr, bulk, MLOS_ACCESS_REMOTE_READ | MLOS_ACCESS_REMOTE_WRITE)) < 0) {
            fprintf(stderr, "mlos-remote-shard: bulk region of %zu bytes: %s\n", bulk, mlos_strerror(rc));
            return 2;
        }
        have_bulk = 1;
    }
    uv_timer_init(&loop, &retry);
    t_start = uv_hrtime();
    try_connect();
    uv_run(&loop, UV_RUN_DEFAULT);
    /* drain the close, then leave without tearing down the rest: the
     * process exit releases memory and sockets */
    uv_run(&loop, UV_RUN_NOWAIT);
    return exit_code;
}
