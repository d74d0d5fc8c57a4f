/* Group memberships of a shard: join/leave/run tasks, the wait loop and
 * wake-ups (comm.h). Messages and one-sided access are in comm_peer.c. */
#include "comm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "hal.h"
#include "mem.h"
#include "mlos_endian.h"
#include "mlos_error.h"
#include "mlos_task.h"

/* A HAL without group memory need not implement it (hal.h). */
__attribute__((weak)) int mlos_hal_group_mem(void **base, size_t *len)
{
    (void)base;
    (void)len;
    return MLOS_ENOENT;
}

#define RELAX_AFTER_NS 1000u /* polling this long in vain, start yielding the CPU (hal.h) */

/* Bare metal has its CPU to itself: nothing to give up while polling. */
__attribute__((weak)) void mlos_hal_relax(void) {}

static struct mlos_comm *comms[MLOS_COMM_MAX_GROUPS];
/* Group of the running group call. Per thread where there are threads:
 * the master runs its own ranks of several groups at once. */
#if __STDC_HOSTED__
static _Thread_local struct mlos_comm *current;
#else
static struct mlos_comm *current;
#endif

void mlos__comm_set_current(struct mlos_comm *c) { current = c; }

void *mlos__comm_alloc(struct mlos_comm *c, size_t n) { return c ? c->env->alloc(n) : mlos_malloc(n); }
void mlos__comm_free(struct mlos_comm *c, void *p)
{
    if (c)
        c->env->free(p);
    else
        mlos_free(p);
}

/* ---- a shard's environment: its heap, HAL and the master's ring ---- */

static void slave_service(struct mlos_comm *c) { mlos__slave_service(); }
static int slave_prepare_wait(struct mlos_comm *c) { return mlos__slave_prepare_wait(); }
static void slave_done_wait(struct mlos_comm *c) { mlos__slave_done_wait(); }
static void slave_sleep(struct mlos_comm *c, uint64_t deadline_ns) { (void)mlos_hal_wait(deadline_ns); }

/* Sleeping peers are rung through the master: one small frame for all of
 * them (the doorbell is the only thing a guest can be woken by). */
static void slave_wake(struct mlos_comm *c, uint64_t ranks)
{
    uint8_t w[MLOS_GROUP_WAKE_BYTES];
    mlos_put_le32(w, c->id);
    mlos_put_le32(w + 4, c->gen);
    mlos_put_le64(w + 8, ranks);
    mlos__slave_frame(MLOS_FRAME_WAKE, w, sizeof(w));
}

static const struct mlos_comm_env slave_env = {mlos_malloc,        mlos_free,       slave_service, slave_prepare_wait,
                                               slave_done_wait, slave_sleep, slave_wake};


int mlos__comm_fail(struct mlos_comm *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return err;
}

struct mlos_comm *mlos_comm_self(void) { return current; }
int mlos_comm_rank(const struct mlos_comm *c) { return c ? (int)c->rank : MLOS_EINVAL; }
int mlos_comm_size(const struct mlos_comm *c) { return c ? (int)c->n : MLOS_EINVAL; }
const char *mlos_comm_error(const struct mlos_comm *c) { return c ? c->error : "no group"; }
int mlos_comm_failed_rank(const struct mlos_comm *c) { return c ? c->failed_rank : -1; }

/* ---- wake-ups ---- */

void mlos__comm_note_tx(struct mlos_comm *c, int kind, int peer)
{
    if (mlos_ring_consumer_waiting(&c->tx[kind][peer]))
        c->wake |= 1ull << peer;
}

void mlos__comm_note_rx(struct mlos_comm *c, int kind, int peer)
{
    if (mlos_ring_producer_waiting(&c->rx[kind][peer]))
        c->wake |= 1ull << peer;
}

void mlos__comm_flush_wakes(struct mlos_comm *c)
{
    uint64_t w = c->wake;
    if (!w)
        return;
    c->wake = 0;
    c->env->wake(c, w);
}

/* ---- the wait loop ---- */

/* A down rank or an abort, as written by the master. */
static int check_down(struct mlos_comm *c)
{
    uint32_t ab = mlos_from_le32(__atomic_load_n(&c->hdr->abort, __ATOMIC_ACQUIRE));
    for (uint32_t r = 0; r < c->n; r++) {
        uint32_t d = mlos_from_le32(__atomic_load_n(&c->hdr->dead[r], __ATOMIC_ACQUIRE));
        if (d != MLOS_GROUP_UP && r != c->rank) {
            c->failed_rank = (int)r;
            return mlos__comm_fail(c, MLOS_ESHARDDIED, "group %u: rank %u %s", c->id, r,
                                   d == MLOS_GROUP_DOWN_FENCED ? "stopped answering and was fenced"
                                   : d == MLOS_GROUP_DOWN_LEFT ? "left the group"
                                                               : "died");
        }
    }
    if (ab == MLOS_GROUP_ABORT_TIMEOUT)
        return mlos__comm_fail(c, MLOS_ETIMEDOUT, "group %u: the master aborted the call (deadline)", c->id);
    if (ab == MLOS_GROUP_ABORT_FAILED)
        return mlos__comm_fail(c, MLOS_ECANCELED, "group %u: another rank's task failed, so this collective cannot end",
                               c->id);
    if (ab)
        return mlos__comm_fail(c, MLOS_ESTOPPED, "group %u: the master is closing the group", c->id);
    return 0;
}

/* Announce, on every ring this member could be woken for, that it sleeps.
 * 1 if something is there it has not looked at yet. A frame the last pass
 * left in its ring (a later rank's chunk of a fold, a peer's first frame
 * of the next collective) is no reason to stay awake: it becomes usable
 * only once this member moves on, and what lets it move on (a frame, room
 * in a ring) rings its doorbell. Were it counted, the loop would spin
 * without sleeping or yielding until the awaited peer sends, keeping that
 * peer off a shared CPU meanwhile. */
static int arm(struct mlos_comm *c, int *held)
{
    int ready = 0;
    for (uint32_t p = 0; p < c->n; p++) {
        if (p == c->rank)
            continue;
        for (int k = 0; k < 3; k++) {
            ready |= mlos_ring_prepare_wait_new(&c->rx[k][p], held);
            if (c->want[k][p])
                ready |= mlos_ring_producer_prepare_wait(&c->tx[k][p], c->want[k][p]);
        }
    }
    return ready;
}

static void disarm(struct mlos_comm *c)
{
    for (uint32_t p = 0; p < c->n; p++) {
        if (p == c->rank)
            continue;
        for (int k = 0; k < 3; k++) {
            mlos_ring_done_wait(&c->rx[k][p]);
            mlos_ring_producer_done_wait(&c->tx[k][p]);
        }
    }
}

int mlos__comm_wait(struct mlos_comm *c, int (*step)(struct mlos_comm *c, void *arg), void *arg)
{
    /* Polling starts at once: a peer a few hundred ns behind should not
     * cost a sleep and a wake-up through the master. */
    uint64_t spin_until = c->spin_ns ? mlos_hal_now_ns() + c->spin_ns : 0, empty_since = 0;
    int rc;
    for (;;) {
        c->progressed = 0;
        rc = step(c, arg);
        if (rc == 0 && (rc = mlos__comm_serve(c)) == 0)
            rc = 0;
        if (rc != 0) {
            mlos__comm_flush_wakes(c);
            return rc < 0 ? rc : 0;
        }
        if ((rc = check_down(c)) < 0) {
            mlos__comm_flush_wakes(c);
            return rc;
        }
        mlos__comm_flush_wakes(c);
        c->env->service(c); /* heartbeats: a member in a long collective is not hung */
        uint64_t now = mlos_hal_now_ns();
        if (c->progressed) {
            spin_until = now + c->spin_ns;
            empty_since = 0;
            continue;
        }
        if (now < spin_until) {
            /* Polled in vain for a while: the peer may be waiting for this
             * very CPU; let it run now rather than at the next time slice.
             * Not at once: a peer on another core answers within a few us. */
            if (!empty_since)
                empty_since = now;
            else if (now - empty_since > RELAX_AFTER_NS)
                mlos_hal_relax();
            continue;
        }
        int held = 0, ready = arm(c, &held);
        ready |= c->env->prepare_wait(c);
        /* A polling member keeps polling while peers' frames wait for its
         * later steps: they are busy with this collective, and what it
         * waits for is likely close; a doorbell through the master would
         * cost more than polling (which yields the CPU) in the meantime. */
        if (held && c->spin_ns)
            ready = 1;
        if (!ready && check_down(c) == 0)
            c->env->sleep(c, now + 200000000ull); /* doorbell; the timeout only bounds a lost one */
        c->env->done_wait(c);
        disarm(c);
        spin_until = mlos_hal_now_ns() + c->spin_ns; /* woken: poll a while for what follows */
        empty_since = 0;
    }
}

/* ---- slave idle hooks ---- */

void mlos__comm_idle(void)
{
    for (int i = 0; i < MLOS_COMM_MAX_GROUPS; i++)
        if (comms[i]) {
            mlos__comm_serve(comms[i]);
            mlos__comm_flush_wakes(comms[i]);
        }
}

int mlos__comm_idle_arm(void)
{
    int ready = 0;
    for (int i = 0; i < MLOS_COMM_MAX_GROUPS; i++) {
        struct mlos_comm *c = comms[i];
        for (uint32_t p = 0; c && p < c->n; p++)
            if (p != c->rank) {
                ready |= mlos_ring_prepare_wait(&c->rx[MLOS_GROUP_RING_RMA][p]);
                if (c->want[MLOS_GROUP_RING_RMA][p])
                    ready |= mlos_ring_producer_prepare_wait(&c->tx[MLOS_GROUP_RING_RMA][p],
                                                             c->want[MLOS_GROUP_RING_RMA][p]);
            }
    }
    return ready;
}

void mlos__comm_idle_disarm(void)
{
    for (int i = 0; i < MLOS_COMM_MAX_GROUPS; i++) {
        struct mlos_comm *c = comms[i];
        for (uint32_t p = 0; c && p < c->n; p++)
            if (p != c->rank) {
                mlos_ring_done_wait(&c->rx[MLOS_GROUP_RING_RMA][p]);
                mlos_ring_producer_done_wait(&c->tx[MLOS_GROUP_RING_RMA][p]);
            }
    }
}

/* ---- attaching to a group's rings ---- */

int mlos__comm_attach(struct mlos_comm *c, const struct mlos_group_join *j, uint8_t *slice, size_t slice_len)
{
    c->id = j->group_id;
    c->gen = j->generation;
    c->n = j->n;
    c->rank = j->rank;
    c->slice = slice;
    c->slice_len = slice_len;
    c->hdr = (struct mlos_group_hdr *)slice;
    c->spin_ns = (uint64_t)j->spin_us * 1000;
    c->failed_rank = -1;
    c->rma_peer = -1;
    for (uint32_t p = 0; p < c->n; p++) {
        if (p == c->rank)
            continue;
        for (int k = 0; k < 3; k++) {
            size_t to = mlos_group_ring_off(c->n, j->ring_bytes, c->rank, p, k);
            size_t from = mlos_group_ring_off(c->n, j->ring_bytes, p, c->rank, k);
            if (mlos_ring_attach(&c->tx[k][p], c->slice + to, c->slice_len - to) < 0 ||
                mlos_ring_attach(&c->rx[k][p], c->slice + from, c->slice_len - from) < 0 ||
                c->tx[k][p].size != mlos_group_ring_size(j->ring_bytes, k) ||
                c->rx[k][p].size != mlos_group_ring_size(j->ring_bytes, k))
                return mlos__comm_fail(c, MLOS_EPROTO, "group %u: ring %d between ranks %u and %u is not formatted",
                                       j->group_id, k, c->rank, p);
        }
    }
    c->chunk = (j->ring_bytes / 4) & ~63u;
    return 0;
}

/* ---- membership tasks ---- */

static struct mlos_comm **slot_of(uint32_t id)
{
    for (int i = 0; i < MLOS_COMM_MAX_GROUPS; i++)
        if (comms[i] && comms[i]->id == id)
            return &comms[i];
    return NULL;
}

static void drop(uint32_t id)
{
    struct mlos_comm **s = slot_of(id);
    if (s) {
        if (current == *s)
            current = NULL;
        mlos_free(*s);
        *s = NULL;
    }
}

static int group_join(struct mlos_task_ctx *ctx)
{
    struct mlos_group_join j;
    void *mem;
    size_t mem_len;
    if (mlos_hal_group_mem(&mem, &mem_len) < 0)
        return mlos_task_fail(ctx, MLOS_ENOENT, "this shard was started without group memory");
    if (mlos_group_join_decode(ctx->arg, ctx->arg_len, mem_len, &j) < 0)
        return mlos_task_fail(ctx, MLOS_EINVAL, "malformed or out-of-range group join (%zu bytes)", ctx->arg_len);
    drop(j.group_id); /* a re-formed group: the old rings are gone */
    struct mlos_comm **slot = NULL;
    for (int i = 0; i < MLOS_COMM_MAX_GROUPS && !slot; i++)
        if (!comms[i])
            slot = &comms[i];
    if (!slot)
        return mlos_task_fail(ctx, MLOS_ENOMEM, "member of %d groups already", MLOS_COMM_MAX_GROUPS);
    struct mlos_comm *c = mlos_calloc(1, sizeof(*c));
    if (!c)
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory for a group membership");
    c->env = &slave_env;
    if (mlos__comm_attach(c, &j, (uint8_t *)mem + j.offset, (size_t)j.slice_len) < 0) {
        int rc = mlos_task_fail(ctx, MLOS_EPROTO, "%s", c->error);
        mlos_free(c);
        return rc;
    }
    *slot = c;
    return 0;
}
MLOS_TASK("mlos.group.join", group_join);

static int group_leave(struct mlos_task_ctx *ctx)
{
    if (ctx->arg_len != 8)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group leave takes 8 bytes, got %zu", ctx->arg_len);
    drop(mlos_get_le32(ctx->arg));
    return 0;
}
MLOS_TASK("mlos.group.leave", group_leave);

/* Run a task as this member of a group: the task finds the group with
 * mlos_comm_self(). Its regions are withdrawn when it returns. */
static int group_run(struct mlos_task_ctx *ctx)
{
    if (ctx->arg_len < MLOS_GROUP_RUN_HDR)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group run takes at least %u bytes", MLOS_GROUP_RUN_HDR);
    uint32_t id = mlos_get_le32(ctx->arg), gen = mlos_get_le32(ctx->arg + 4), tl = mlos_get_le32(ctx->arg + 8);
    if (tl == 0 || tl > ctx->arg_len - MLOS_GROUP_RUN_HDR)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group run: task name of %u bytes does not fit", tl);
    struct mlos_comm **s = slot_of(id);
    if (!s || (*s)->gen != gen)
        return mlos_task_fail(ctx, MLOS_EINVAL, "not a member of group %u generation %u", id, gen);
    const char *name = (const char *)ctx->arg + MLOS_GROUP_RUN_HDR;
    struct mlos_comm *c = *s;
    c->error[0] = 0;
    current = c;
    ctx->arg += MLOS_GROUP_RUN_HDR + tl;
    ctx->arg_len -= MLOS_GROUP_RUN_HDR + tl;
    int rc = mlos_task_run(name, tl, ctx);
    current = NULL;
    if ((s = slot_of(id)) != NULL) /* the task may not leave regions behind */
        memset((*s)->regions, 0, sizeof((*s)->regions));
    return rc;
}
MLOS_TASK("mlos.group.run", group_run);
