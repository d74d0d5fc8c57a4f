/* The slave runtime loop: HELLO, then CALL -> task -> REPLY until STOP. */
#include "slave.h"

#include "shard_msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bpf/hooks.h"
#include "comm.h"
#include "cores.h"
#include "evloop.h"
#include "hal.h"
#include "mem.h"
#include "mlos.pb-c.h"
#include "mlos_endian.h"
#include "mlos_error.h"
#include "mlos_task.h"
#include "ring.h"
#include "spin.h"
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
    size_t mem_bytes;    /* the allocator's (its limit when elastic), for HELLO */
    int elastic;         /* started with mlos.mem_max: the master may resize its memory */
    uint64_t mem_max;    /* mlos.mem_max: the most it may be granted (its allocator manages a
                          * little less: the bookkeeping comes out of the same RAM) */
};

static struct slave S;

/* With several cores, calls run on other cores send their replies
 * themselves: the ring to the master has one producer at a time. */
static int smp;
static volatile int out_lock;

static void out_take(void)
{
    if (smp)
        mlos_spin_lock(&out_lock);
}

static void out_drop(void)
{
    if (smp)
        mlos_spin_unlock(&out_lock);
}

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
        /* Ring full: sleep until the master frees room and rings us. Only
         * core 0 gets doorbells: another core polls. */
        mlos_hal_doorbell_ring();
        if (mlos_hal_core_self() != 0) {
            /* a doorbell per 10 us at most: each is an I/O exit */
            uint64_t until = mlos_hal_now_ns() + 10000;
            while (mlos_hal_now_ns() < until)
                mlos_cpu_relax();
            continue;
        }
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
    out_take();
    int rc = reserve_out(len, &dst);
    if (rc == 0) {
        protobuf_c_message_pack(msg, dst);
        commit_out(type, id, len);
    }
    out_drop();
    return rc;
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
    out_take();
    if ((rc = reserve_out(len, &dst)) == 0) {
        if (len)
            memcpy(dst, data, len);
        commit_out(MLOS_FRAME_MSG, type, len);
    }
    out_drop();
    return rc;
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
    /* Static and filled field by field: a zeroed local would be a memset
     * call on 32-bit targets, one more piece of code translated before
     * HELLO under TCG. Sent once. */
    static struct mlos_hello_fields h;
    h.arch = mlos_hal_arch();
    h.shard_id = S.id;
    h.n_tasks = mlos_task_count();
    h.task_name = hello_task_name;
    h.user = NULL;
    h.mem_bytes = S.mem_bytes;
    h.boot_ns = mlos_hal_now_ns();
    h.abi = MLOS_ABI;
    h.mem_max_bytes = S.mem_max;
    h.cores = mlos_cores_total();
    h.active_cores = mlos_core_count();
    void *dst;
    size_t len;

    /* The ring is empty at boot: take all a frame may hold and commit what
     * the encoder wrote. Other cores may be up (idle): the ring still has
     * one producer at a time. */
    out_take();
    if (mlos_ring_reserve(&S.out, (uint32_t)S.out.max_payload, &dst) < 0 ||
        !(len = mlos_hello_encode(&h, dst, S.out.max_payload))) {
        out_drop();
        mlos_log("HELLO does not fit in the ring (%zu tasks)", h.n_tasks);
        return; /* the master's HELLO timeout reports it, with this line */
    }
    mlos_ring_commit(&S.out, MLOS_FRAME_HELLO, 0, (uint32_t)len);
    out_drop();
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
    out_take();
    int rc = reserve_out(len, &dst);
    if (rc == 0) {
        mlos_taskreply_encode(r, dst);
        commit_out(MLOS_FRAME_REPLY, id, len);
    }
    out_drop();
    return rc;
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
    mlos_hal_task_begin();
    r.status = mlos_task_run(c->task, c->task_len, &ctx);
    mlos_hal_task_end();
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
#if UINTPTR_MAX > 0xffffffffu
    __atomic_fetch_add(&S.calls_done, 1, __ATOMIC_RELAXED); /* several cores answer calls */
#else
    S.calls_done++; /* 32-bit targets have one core (and no 64-bit atomics without libatomic) */
#endif
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
    q->c = (struct mlos_taskcall_view){(const char *)copy, c->task_len, copy + c->task_len, c->arg_len, c->flags};
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

/* A call the master marked concurrent, on another core: it owns a copy
 * of its task name and argument (the ring slot is released meanwhile). */
static void concurrent_entry(void *p)
{
    struct queued_call *q = p;
    run_call(q->id, &q->c);
    mlos_free(q);
}

/* Hand a concurrent call to a free core; 0 if it went, else the caller
 * runs it here (no free core, or no memory for the copy). */
static int spawn_call(uint32_t id, const struct mlos_taskcall_view *c)
{
    struct queued_call *q = mlos_malloc(sizeof(*q) + c->task_len + c->arg_len);
    if (!q)
        return -1;
    uint8_t *copy = (uint8_t *)(q + 1);
    memcpy(copy, c->task, c->task_len);
    if (c->arg_len)
        memcpy(copy + c->task_len, c->arg, c->arg_len);
    q->c = (struct mlos_taskcall_view){(const char *)copy, c->task_len, copy + c->task_len, c->arg_len, c->flags};
    q->id = id;
    if (mlos_cores_spawn(concurrent_entry, q))
        return 0;
    run_call(id, &q->c);
    mlos_free(q);
    return 0;
}

/* A group run (libos/runtime/comm.c) may wait a long time for its peers
 * and answers heartbeats meanwhile: its CALL frame leaves the ring first
 * (the task runs on a private copy), so the PINGs behind it can be taken.
 * Returns 1 if the frame was released here. */
static int run_released(uint32_t id, const struct mlos_taskcall_view *c, const struct mlos_frame_hdr *h)
{
    static const char name[] = "mlos.group.run";
    if (c->task_len != sizeof(name) - 1 || memcmp(c->task, name, sizeof(name) - 1))
        return 0;
    uint8_t *copy = mlos_malloc(c->task_len + c->arg_len + 1);
    if (!copy)
        return 0; /* run it in place: heartbeats then wait for it, as for any task */
    memcpy(copy, c->task, c->task_len);
    if (c->arg_len)
        memcpy(copy + c->task_len, c->arg, c->arg_len);
    struct mlos_taskcall_view v = {(const char *)copy, c->task_len, copy + c->task_len, c->arg_len};
    mlos_ring_release(&S.in, h);
    run_call(id, &v);
    mlos_free(copy);
    return 1;
}

static int handle_call(const struct mlos_frame_hdr *h, const uint8_t *p)
{
    struct mlos_taskcall_view c;
    uint32_t id = h->request_id;
    if (accept_call(id, p, h->length, &c) < 0)
        return 0;
    /* bpf.load changes what every call sees: never beside other calls. */
    if (smp && (c.flags & MLOS_TASKCALL_CONCURRENT) && !mlos_hook_installed(MLOS_HOOK_SCHED) &&
        !(c.task_len == 8 && !memcmp(c.task, "bpf.load", 8)) && spawn_call(id, &c) == 0)
        return 0;
    if (mlos_hook_installed(MLOS_HOOK_SCHED) && !(c.task_len == 8 && !memcmp(c.task, "bpf.load", 8)))
        queue_call(id, &c);
    else if (!run_released(id, &c, h))
        run_call(id, &c);
    else
        return 1;
    return 0;
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

/* ---- elastic memory (mlos.Resize / RESIZED / RELEASED) ----
 * A shrink holds the free runs it gives back (libos/mem.h) until the
 * master says they have left host memory: the master punches them out of
 * the memory file after the reply, so a page reused before that would
 * lose its new contents. Everything here is static: a shrink runs when
 * memory is scarce, and its limit may leave nothing to allocate from. */
#define MAX_HELD 512
static struct held_run {
    struct mlos_page_run run;
    uint32_t id; /* of the RESIZE that gave it back */
} held[MAX_HELD];
static size_t nheld;
static struct mlos_page_run reclaimed[MAX_HELD];
static uint64_t range_words[2 * MAX_HELD];

static void send_resized(uint32_t id, int status, size_t nranges)
{
    Mlos__Resized r = MLOS__RESIZED__INIT;
    struct mlos_mem_stats st;

    mlos_mem_stats(&st);
    r.status = status;
    r.limit_bytes = st.limit_bytes;
    r.in_use_bytes = st.in_use_bytes;
    r.max_bytes = S.mem_max;
    r.n_ranges = 2 * nranges;
    r.ranges = range_words;
    send_msg(MLOS_FRAME_RESIZED, id, &r.base);
}

static void handle_resize(uint32_t id, const uint8_t *p, uint32_t len)
{
    Mlos__Resize *rq = mlos__resize__unpack(NULL, len, p);
    struct mlos_mem_stats st;
    uint64_t target;
    size_t max_runs, n, nranges = 0, in_use;

    if (!rq) {
        send_resized(id, MLOS_EDECODE, 0);
        return;
    }
    target = rq->limit_bytes;
    max_runs = rq->max_ranges;
    mlos__resize__free_unpacked(rq, NULL);
    mlos_mem_stats(&st);
    if (!S.elastic) {
        send_resized(id, MLOS_ENOTSUP, 0);
        return;
    }
    if (target < MLOS_PAGE_SIZE || target > S.mem_max) {
        send_resized(id, MLOS_ERANGE, 0);
        return;
    }
    mlos_mem_set_limit((size_t)target);
    if (target > st.limit_bytes) { /* growth: nothing to give back */
        send_resized(id, 0, 0);
        return;
    }
    /* Shrink (or trim at the same limit): keep free what the new limit
     * still grants, give back the rest of the free memory. */
    mlos_mem_stats(&st);
    in_use = st.in_use_bytes;
    if (max_runs > MAX_HELD - nheld)
        max_runs = MAX_HELD - nheld;
    /* a pair takes at most 20 bytes packed; stay well inside a frame */
    if (max_runs > (S.out.max_payload - 64) / 20)
        max_runs = (S.out.max_payload - 64) / 20;
    n = mlos_mem_reclaim(st.limit_bytes - in_use, reclaimed, max_runs, NULL);
    for (size_t i = 0; i < n; i++) {
        uint64_t off;
        if (mlos_hal_mem_offset(reclaimed[i].base, &off) < 0) {
            mlos_mem_return(&reclaimed[i]); /* not the master's memory: nothing to give back */
            continue;
        }
        range_words[2 * nranges] = off;
        range_words[2 * nranges + 1] = (uint64_t)reclaimed[i].npages * MLOS_PAGE_SIZE;
        held[nheld++] = (struct held_run){reclaimed[i], id};
        nranges++;
    }
    send_resized(id, st.limit_bytes > target ? MLOS_EBUSY : 0, nranges);
}

/* ---- cores (mlos.Cores / CORES_SET) ---- */
static void handle_cores(uint32_t id, const uint8_t *p, uint32_t len)
{
    Mlos__CoresSet r = MLOS__CORES_SET__INIT;
    Mlos__Cores *rq = mlos__cores__unpack(NULL, len, p);

    if (!rq) {
        r.status = MLOS_EDECODE;
    } else {
        int rc = mlos_cores_set_active(rq->active);
        r.status = rc < 0 ? rc : 0;
        mlos__cores__free_unpacked(rq, NULL);
    }
    r.active = mlos_core_count();
    r.cores = mlos_cores_total();
    send_msg(MLOS_FRAME_CORES_SET, id, &r.base);
}

static void handle_released(uint32_t id)
{
    size_t k = 0;
    for (size_t i = 0; i < nheld; i++) {
        if (held[i].id == id)
            mlos_mem_return(&held[i].run);
        else
            held[k++] = held[i];
    }
    nheld = k;
}

static void set_state(uint32_t state) { __atomic_store_n(&S.win->state, mlos_to_le32(state), __ATOMIC_RELEASE); }

/* Drain every frame the master queued. */
static void drain_frames(struct mlos_evloop *loop);

static void drain(struct mlos_evloop *loop)
{
    drain_frames(loop);
    mlos__comm_idle(); /* group peers' one-sided requests (libos/runtime/comm.h) */
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
            if (handle_call(&h, p))
                continue; /* released already */
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
        case MLOS_FRAME_RESIZE:
            handle_resize(h.request_id, p, h.length);
            break;
        case MLOS_FRAME_RELEASED:
            handle_released(h.request_id);
            break;
        case MLOS_FRAME_CORES:
            handle_cores(h.request_id, p, h.length);
            break;
        case MLOS_FRAME_STOP: {
            Mlos__Stop *stop = mlos__stop__unpack(NULL, h.length, p);
            run_queue(); /* answer what is queued before leaving */
            while (mlos_cores_busy()) /* and what runs on other cores */
                mlos_cpu_relax();
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
    /* Group peers ring us (through the master) for their requests too. */
    return mlos__comm_idle_arm() | mlos_ring_prepare_wait(&S.in);
}

/* Value of key=N in the HAL's parameters, or dflt. The HAL's parser, not
 * one of ours: read before HELLO, where a bare-metal shard under TCG pays
 * for every distinct piece of code it runs. */
static uint64_t param_u64(const char *key, uint64_t dflt)
{
    uint64_t v;
    return mlos_hal_param_u64(key, 0, &v) == 0 ? v : dflt;
}

static void after_sleep(struct mlos_evloop *loop)
{
    mlos_ring_done_wait(&S.in);
    mlos__comm_idle_disarm();
}

/* ---- for the group wait loop (libos/runtime/comm.h) ---- */

/* A member blocked in a collective still answers heartbeats, or a healthy
 * member waiting for a slow peer would be taken for a hung one. Only PINGs
 * at the head are taken: anything else waits for the task to end, in order. */
void mlos__slave_service(void)
{
    struct mlos_frame_hdr h;
    const uint8_t *p;
    while (mlos_ring_peek(&S.in, &h, &p) > 0 && h.type == MLOS_FRAME_PING) {
        handle_ping(h.request_id, p, h.length);
        mlos_ring_release(&S.in, &h);
    }
    if (mlos_ring_producer_waiting(&S.in))
        mlos_hal_doorbell_ring();
}

/* A non-PING frame at the head stays there until the task ends: only new
 * frames are a reason not to sleep. */
int mlos__slave_prepare_wait(void) { return mlos_ring_prepare_wait_new(&S.in, NULL); }
void mlos__slave_done_wait(void) { mlos_ring_done_wait(&S.in); }

int mlos__slave_frame(uint8_t type, const void *data, size_t len)
{
    void *dst;
    int rc = reserve_out(len, &dst);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(dst, data, len);
    commit_out(type, 0, len);
    return 0;
}

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
    mlos_cores_init();
    if (mlos_cores_total() > 1) { /* from here on other cores may allocate and reply */
        smp = 1;
        mlos_mem_share();
    }
    /* One core: the allocator sets itself up on first use (after HELLO, as
     * a rule). Several: set it up now, so that no call on another core
     * waits on the shared heap's lock behind a whole allocator set-up (the
     * other cores' start-up already made this boot the slow kind). */
    if ((smp ? mlos_mem_init_from_hal() : 0) < 0 || mlos_mem_init_lazy(&S.mem_bytes) < 0) {
        mlos_log("memory service could not start");
        return MLOS_SHARD_EXIT_NOMEM;
    }
    mlos_hal_boot_mark("mem");
    if (attach() < 0)
        return MLOS_SHARD_EXIT_PROTO;
    mlos_hal_boot_mark("attach");
    /* Elastic: RAM for mlos.mem_max, of which mlos.mem is granted now (with
     * a deferred set-up the limit waits for it; HELLO reports it either way). */
    if ((S.mem_max = param_u64("mlos.mem_max", 0))) {
        S.elastic = 1;
        S.mem_bytes = mlos_mem_set_limit((size_t)param_u64("mlos.mem", param_u64("mlos.mem_max", 0)));
    }
    set_state(MLOS_WINDOW_READY);
    send_hello();
    /* What HELLO did not wait for (the HAL's memory map, the event loop),
     * before the first call; the trace then shows it after "hello". A
     * doorbell meanwhile waits in the HAL (latched) for the drain below. */
    mlos_hal_boot_finish();
    S.spin_ns = param_u64("mlos.spin_us", 0) * 1000;
    mlos_evloop_init(&S.loop);
    S.loop.on_doorbell = drain;
    S.loop.before_sleep = before_sleep;
    S.loop.after_sleep = after_sleep;
    mlos_hal_boot_report(); /* after HELLO: printing is not part of the boot */
    drain(&S.loop);
    mlos_evloop_run(&S.loop);
    set_state(MLOS_WINDOW_EXITED);
    return S.exit_status;
}
