/* The slave runtime loop: HELLO, then CALL -> task -> REPLY until STOP. */
#include "slave.h"

#include "shard_msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bpf/hooks.h"
#include "evloop.h"
#include "hal.h"
#include "mem.h"
#include "mlos.pb-c.h"
#include "mlos_endian.h"
#include "mlos_error.h"
#include "mlos_task.h"
#include "ring.h"
#include "taskmsg.h"
#include "window.h"

#define MLOS_ABI 1

struct slave {
    struct mlos_evloop loop;
    struct mlos_ring in, out; /* in: master -> shard, out: shard -> master */
    struct mlos_window_hdr *win;
    uint8_t *bulk;
    size_t bulk_len;
    uint32_t id;
    int exit_status;
    uint64_t spin_ns; /* polling budget before sleeping, 0: sleep at once */
    uint64_t calls_done; /* heartbeat statistic */
    size_t mem_bytes;    /* the allocator's, for HELLO */
};

static struct slave S;

void mlos_log(const char *fmt, ...)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "[shard %u] ", S.id);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    mlos_hal_console_write(buf, (size_t)n);
}

/* Room for a frame of len payload bytes in the ring to the master; waits
 * (asleep) while the master is slow to drain. */
static int reserve_out(size_t len, void **dst)
{
    int rc;
    while ((rc = mlos_ring_reserve(&S.out, (uint32_t)len, dst)) == MLOS_EAGAIN) {
        /* Ring full: sleep until the master frees room and rings us. */
        mlos_hal_doorbell_ring();
        if (!mlos_ring_producer_prepare_wait(&S.out, (uint32_t)len))
            mlos_hal_wait(UINT64_MAX);
        mlos_ring_producer_done_wait(&S.out);
    }
    return rc;
}

static void commit_out(uint8_t type, uint32_t id, size_t len)
{
    mlos_ring_commit(&S.out, type, id, (uint32_t)len);
    if (mlos_ring_consumer_waiting(&S.out))
        mlos_hal_doorbell_ring();
}

/* Send one protobuf message. */
static int send_msg(uint8_t type, uint32_t id, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    void *dst;
    int rc = reserve_out(len, &dst);
    if (rc < 0)
        return rc;
    protobuf_c_message_pack(msg, dst);
    commit_out(type, id, len);
    return 0;
}

/* ---- messages with the master's endpoint (libos/runtime/shard_msg.h) ---- */

static mlos_shard_msg_cb msg_cb;
static void *msg_user;

void mlos_shard_on_msg(mlos_shard_msg_cb cb, void *user)
{
    msg_cb = cb;
    msg_user = user;
}

int mlos_shard_send(uint32_t type, const void *data, size_t len)
{
    void *dst;
    int rc;
    if (len && !data)
        return MLOS_EINVAL;
    if (len > S.out.max_payload)
        return MLOS_ETOOBIG;
    if ((rc = reserve_out(len, &dst)) < 0)
        return rc;
    if (len)
        memcpy(dst, data, len);
    commit_out(MLOS_FRAME_MSG, type, len);
    return 0;
}

static const char *hello_task_name(size_t i, void *user)
{
    (void)user;
    return mlos_task_at(i)->name;
}

/* HELLO coded by hand straight into the ring (rpc/taskmsg.h): no heap and
 * no protobuf-c, which nothing before HELLO needs otherwise. */
static void send_hello(void)
{
    struct mlos_hello_fields h = {
        .arch = mlos_hal_arch(),
        .shard_id = S.id,
        .n_tasks = mlos_task_count(),
        .task_name = hello_task_name,
        .mem_bytes = S.mem_bytes,
        .boot_ns = mlos_hal_now_ns(),
        .abi = MLOS_ABI,
    };
    void *dst;
    size_t len;

    /* The ring is empty at boot: take all a frame may hold and commit what
     * the encoder wrote. */
    if (reserve_out(S.out.max_payload, &dst) < 0 || !(len = mlos_hello_encode(&h, dst, S.out.max_payload))) {
        mlos_log("HELLO does not fit in the ring (%zu tasks)", h.n_tasks);
        return; /* the master's HELLO timeout reports it, with this line */
    }
    mlos_ring_commit(&S.out, MLOS_FRAME_HELLO, 0, (uint32_t)len);
    mlos_hal_boot_mark("hello");
    if (mlos_ring_consumer_waiting(&S.out))
        mlos_hal_doorbell_ring();
}

/* Answer call id with a TaskReply encoded straight into the ring
 * (rpc/wire/taskmsg.h: no protobuf-c on the per-call path). */
static int send_reply(uint32_t id, const struct mlos_taskreply_fields *r)
{
    size_t len = mlos_taskreply_size(r);
    void *dst;
    int rc = reserve_out(len, &dst);
    if (rc < 0)
        return rc;
    mlos_taskreply_encode(r, dst);
    commit_out(MLOS_FRAME_REPLY, id, len);
    return 0;
}

static void reply_error(uint32_t id, int status, const char *why)
{
    struct mlos_taskreply_fields r = {.status = status, .error = why, .error_len = strlen(why)};
    send_reply(id, &r);
}

/* Decode a CALL in place and let the message filter judge it. Returns 0
 * with *c viewing the frame, or -1 after answering (undecodable, or
 * refused by the filter). */
static int accept_call(uint32_t id, const uint8_t *p, uint32_t len, struct mlos_taskcall_view *c)
{
    if (mlos_taskcall_decode(p, len, c) < 0) {
        reply_error(id, MLOS_EDECODE, "CALL payload is not a valid mlos.TaskCall");
        return -1;
    }
    /* Application-inserted message filter (libos/bpf/hooks.h). */
    if (mlos_hook_msg(MLOS_FRAME_CALL, id, p, len, c->task, c->task_len, c->arg, c->arg_len) ==
        MLOS_HOOK_MSG_DROP) {
        reply_error(id, MLOS_EACCES, "call refused by the shard's message filter");
        return -1;
    }
    return 0;
}

/* Run an accepted call to completion and answer it. */
static void run_call(uint32_t id, const struct mlos_taskcall_view *c)
{
    struct mlos_taskreply_fields r = {0};
    struct mlos_task_ctx ctx;
    uint64_t t0;

    mlos_task_ctx_init(&ctx, c->arg, c->arg_len, S.bulk, S.bulk_len);
    t0 = mlos_hal_now_ns();
    r.status = mlos_task_run(c->task, c->task_len, &ctx);
    r.run_ns = mlos_hal_now_ns() - t0;
    if (r.status >= 0) {
        r.status = 0;
        r.result = ctx.result;
        r.result_len = ctx.result_len;
    } else {
        r.error = ctx.error;
        r.error_len = strlen(ctx.error);
    }
    if (send_reply(id, &r) < 0) /* result too big for the ring: answer with the reason instead */
        reply_error(id, MLOS_ETOOBIG, "task result larger than the ring; write it to the bulk window");
    mlos_task_ctx_release(&ctx);
    S.calls_done++;
}

/* Scheduling policy (libos/bpf/hooks.h, MLOS_HOOK_SCHED): with a policy
 * installed, the calls found in one drain of the ring are queued by the
 * priority it gives (higher first, arrival order among equals) and run
 * after the drain; without one, calls run in arrival order at once. A
 * queued call owns a copy of its task name and argument: the ring slot is
 * released before it runs. */
struct queued_call {
    struct queued_call *next;
    int64_t prio;
    uint32_t id;
    struct mlos_taskcall_view c; /* views into the bytes after the struct */
};
static struct queued_call *runq;
static uint32_t runq_len;

static void queue_call(uint32_t id, const struct mlos_taskcall_view *c)
{
    struct queued_call *q = mlos_malloc(sizeof(*q) + c->task_len + c->arg_len), **pp = &runq;
    if (!q) {
        run_call(id, c); /* no memory to queue: run it now rather than lose it */
        return;
    }
    uint8_t *copy = (uint8_t *)(q + 1);
    memcpy(copy, c->task, c->task_len);
    if (c->arg_len)
        memcpy(copy + c->task_len, c->arg, c->arg_len);
    q->c = (struct mlos_taskcall_view){(const char *)copy, c->task_len, copy + c->task_len, c->arg_len};
    q->prio = mlos_hook_sched(c->task, c->task_len, c->arg_len, runq_len);
    q->id = id;
    while (*pp && (*pp)->prio >= q->prio)
        pp = &(*pp)->next;
    q->next = *pp;
    *pp = q;
    runq_len++;
}

static void run_queue(void)
{
    while (runq) {
        struct queued_call *q = runq;
        runq = q->next;
        runq_len--;
        run_call(q->id, &q->c);
        mlos_free(q);
    }
}

static void handle_call(uint32_t id, const uint8_t *p, uint32_t len)
{
    struct mlos_taskcall_view c;
    if (accept_call(id, p, len, &c) < 0)
        return;
    if (mlos_hook_installed(MLOS_HOOK_SCHED) && !(c.task_len == 8 && !memcmp(c.task, "bpf.load", 8)))
        queue_call(id, &c);
    else
        run_call(id, &c);
}

/* Heartbeat: answer a PING at once with a PONG of the same id.
 * Run to completion: a PING queued behind a task waits until it returns,
 * so a task that never returns reads as "stopped answering" on the master. */
static void handle_ping(uint32_t id, const uint8_t *p, uint32_t len)
{
    Mlos__Pong pong = MLOS__PONG__INIT;
    Mlos__Ping *ping = mlos__ping__unpack(NULL, len, p);
    if (ping) {
        pong.master_ns = ping->master_ns;
        mlos__ping__free_unpacked(ping, NULL);
    }
    pong.shard_ns = mlos_hal_now_ns();
    pong.calls_done = S.calls_done;
    send_msg(MLOS_FRAME_PONG, id, &pong.base);
}

static void set_state(uint32_t state) { __atomic_store_n(&S.win->state, mlos_to_le32(state), __ATOMIC_RELEASE); }

/* Drain every frame the master queued. */
static void drain_frames(struct mlos_evloop *loop);

static void drain(struct mlos_evloop *loop)
{
    drain_frames(loop);
    /* The master may be waiting for room to send more calls. */
    if (mlos_ring_producer_waiting(&S.in))
        mlos_hal_doorbell_ring();
}

static void drain_frames(struct mlos_evloop *loop)
{
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int rc;

    while ((rc = mlos_ring_peek(&S.in, &h, &p)) > 0) {
        switch (h.type) {
        case MLOS_FRAME_CALL:
            handle_call(h.request_id, p, h.length);
            break;
        case MLOS_FRAME_MSG: /* from the master's endpoint (mlos_shard_ep) */
            if (msg_cb)
                msg_cb(h.request_id, p, h.length, msg_user);
            else
                mlos_log("no handler for message type %u: dropped", h.request_id);
            break;
        case MLOS_FRAME_PING:
            handle_ping(h.request_id, p, h.length);
            break;
        case MLOS_FRAME_STOP: {
            Mlos__Stop *stop = mlos__stop__unpack(NULL, h.length, p);
            run_queue(); /* answer what is queued before leaving */
            S.exit_status = stop ? stop->exit_status : 0;
            if (stop)
                mlos__stop__free_unpacked(stop, NULL);
            mlos_evloop_stop(loop);
            mlos_ring_release(&S.in, &h);
            return;
        }
        default:
            mlos_log("ignoring frame type %u from master", h.type);
        }
        mlos_ring_release(&S.in, &h);
    }
    run_queue();
    if (rc < 0) {
        mlos_log("master broke the ring protocol: %s", mlos_strerror(rc));
        S.exit_status = MLOS_SHARD_EXIT_PROTO;
        mlos_evloop_stop(loop);
    }
}

/* Polling mode (mlos.spin_us=N): watch the ring for N us before sleeping,
 * trading a CPU for latency: a call that arrives meanwhile needs no
 * doorbell and no wake-up. */
static int before_sleep(struct mlos_evloop *loop)
{
    if (S.spin_ns) {
        uint64_t until = mlos_hal_now_ns() + S.spin_ns;
        do {
            if (!mlos_ring_empty(&S.in))
                return 1;
        } while (mlos_hal_now_ns() < until);
    }
    return mlos_ring_prepare_wait(&S.in);
}

/* Decimal value of key=N in the HAL's parameter string, or dflt. */
static uint64_t param_u64(const char *key, uint64_t dflt)
{
    const char *p = mlos_hal_cmdline();
    size_t klen = strlen(key);
    while (p && *p) {
        while (*p == ' ')
            p++;
        if (!strncmp(p, key, klen) && p[klen] == '=') {
            uint64_t v = 0;
            for (p += klen + 1; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (uint64_t)(*p - '0');
            return v;
        }
        while (*p && *p != ' ')
            p++;
    }
    return dflt;
}
static void after_sleep(struct mlos_evloop *loop) { mlos_ring_done_wait(&S.in); }

static int attach(void)
{
    void *base;
    size_t len;
    uint8_t *b;
    int rc = mlos_hal_window(&base, &len);

    if (rc < 0) {
        mlos_log("no window to the master: %s", mlos_strerror(rc));
        return rc;
    }
    if ((rc = mlos_window_check(base, len)) < 0) {
        mlos_log("window at %p (%zu bytes) is not valid", base, len);
        return rc;
    }
    S.win = base;
    b = base;
    S.id = mlos_from_le32(S.win->shard_id);
    rc = mlos_ring_attach(&S.in, b + mlos_from_le64(S.win->to_shard_off),
                          len - mlos_from_le64(S.win->to_shard_off));
    if (rc == 0)
        rc = mlos_ring_attach(&S.out, b + mlos_from_le64(S.win->to_master_off),
                              len - mlos_from_le64(S.win->to_master_off));
    S.bulk = b + mlos_from_le64(S.win->bulk_off);
    S.bulk_len = mlos_from_le64(S.win->bulk_size);
    return rc;
}

int mlos_shard_main(void)
{
    /* The allocator sets itself up on first use (after HELLO, as a rule). */
    if (mlos_mem_init_lazy(&S.mem_bytes) < 0) {
        mlos_log("memory service could not start");
        return MLOS_SHARD_EXIT_NOMEM;
    }
    mlos_hal_boot_mark("mem");
    if (attach() < 0)
        return MLOS_SHARD_EXIT_PROTO;
    mlos_hal_boot_mark("attach");
    S.spin_ns = param_u64("mlos.spin_us", 0) * 1000;
    mlos_evloop_init(&S.loop);
    S.loop.on_doorbell = drain;
    S.loop.before_sleep = before_sleep;
    S.loop.after_sleep = after_sleep;
    set_state(MLOS_WINDOW_READY);
    send_hello();
    mlos_hal_boot_report(); /* after HELLO: printing is not part of the boot */
    drain(&S.loop);
    mlos_evloop_run(&S.loop);
    set_state(MLOS_WINDOW_EXITED);
    return S.exit_status;
}
