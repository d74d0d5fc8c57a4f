/* The master's own rank in a shard group (mlos_group.h): a membership of
 * the runtime's collective code (libos/runtime/comm.h) that runs on a
 * thread of libuv's pool, with this file's environment -- the C heap, a
 * futex it sleeps on and the loop's doorbell relay for waking peers. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "group.h"
#include "hal.h"
#include "mlos_task.h"

struct mlos__gmaster {
    struct mlos_comm comm;
    uint8_t *shadow; /* one private copy per receiving ring: peers' frames are copied before they are read */
    size_t shadow_len;
    uint32_t bell;   /* futex word: wake-ups so far, rung by the loop thread */
    uint32_t seen;   /* bell at the last done_wait (the waiting thread's own) */
    uint64_t wake_out; /* ranks the waiting thread asks the loop to ring */
    uv_async_t async;
    void (*ring)(void *arg, uint64_t ranks);
    void (*done)(void *arg);
    void *arg;
    /* the running call */
    uv_work_t work;
    int busy;
    mlos_group_master_fn fn;
    void *fn_data;
    uint8_t *call_arg;
    size_t call_arg_len;
    struct mlos_task_ctx ctx;
    int status;
    uint64_t run_ns;
};

/* ---- the environment of the master's rank (struct mlos_comm_env) ---- */

static void m_service(struct mlos_comm *c) { (void)c; } /* nobody pings the master */
static int m_prepare_wait(struct mlos_comm *c) { (void)c; return 0; } /* no ring of its own besides the group's */

static void m_done_wait(struct mlos_comm *c)
{
    struct mlos__gmaster *m = c->env_arg;
    m->seen = __atomic_load_n(&m->bell, __ATOMIC_ACQUIRE);
}

/* A bell rung any time since the last done_wait returns at once: the
 * shard that filled a ring after arm() announced the wait sends its WAKE
 * after, and the loop rings only then. */
static void m_sleep(struct mlos_comm *c, uint64_t deadline_ns)
{
    struct mlos__gmaster *m = c->env_arg;
    uint64_t now = mlos_hal_now_ns();
    if (__atomic_load_n(&m->bell, __ATOMIC_ACQUIRE) != m->seen || now >= deadline_ns)
        return;
    uint64_t d = deadline_ns - now;
    struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
    (void)syscall(SYS_futex, &m->bell, FUTEX_WAIT_PRIVATE, m->seen, &ts, NULL, 0);
}

/* Peers' doorbells belong to the loop (their descriptors close with the
 * shard there): hand the ranks over and let the loop ring them. */
static void m_wake(struct mlos_comm *c, uint64_t ranks)
{
    struct mlos__gmaster *m = c->env_arg;
    __atomic_or_fetch(&m->wake_out, ranks, __ATOMIC_RELEASE);
    uv_async_send(&m->async);
}

static const struct mlos_comm_env master_env = {malloc, free, m_service, m_prepare_wait, m_done_wait, m_sleep, m_wake};

static void async_cb(uv_async_t *a)
{
    struct mlos__gmaster *m = a->data;
    uint64_t ranks = __atomic_exchange_n(&m->wake_out, 0, __ATOMIC_ACQUIRE);
    if (ranks)
        m->ring(m->arg, ranks);
}

/* ---- between calls ---- */

/* Ask the peers to ring when they send a one-sided request (or, for a
 * reply that did not fit, make room); 1 if one is there already. */
static int idle_arm(struct mlos_comm *c)
{
    int ready = 0;
    for (uint32_t p = 0; p < c->n; p++)
        if (p != c->rank) {
            ready |= mlos_ring_prepare_wait(&c->rx[MLOS_GROUP_RING_RMA][p]);
            if (c->want[MLOS_GROUP_RING_RMA][p])
                ready |= mlos_ring_producer_prepare_wait(&c->tx[MLOS_GROUP_RING_RMA][p],
                                                         c->want[MLOS_GROUP_RING_RMA][p]);
        }
    return ready;
}

static void idle_disarm(struct mlos_comm *c)
{
    for (uint32_t p = 0; p < c->n; p++)
        if (p != c->rank) {
            mlos_ring_done_wait(&c->rx[MLOS_GROUP_RING_RMA][p]);
            mlos_ring_producer_done_wait(&c->tx[MLOS_GROUP_RING_RMA][p]);
        }
}

/* Between calls the loop thread answers peers' one-sided requests, as a
 * shard's idle loop does: the regions went with the last call, so a late
 * request is refused (MLOS_EKEY) at once instead of waiting for the next
 * call. A few passes per wake-up: a peer that keeps sending is served at
 * its next one, it cannot hold the loop. A protocol error is left for the
 * next call's collectives to report. */
static void idle_serve(struct mlos__gmaster *m)
{
    struct mlos_comm *c = &m->comm;
    if (m->busy || !c->n)
        return;
    for (int pass = 0; pass < 4; pass++) {
        idle_disarm(c);
        (void)mlos__comm_serve(c);
        mlos__comm_flush_wakes(c);
        if (!idle_arm(c))
            return;
    }
}

/* ---- life cycle ---- */

struct mlos__gmaster *mlos__gmaster_new(uv_loop_t *loop, void (*ring)(void *, uint64_t), void (*done)(void *),
                                        void *arg)
{
    struct mlos__gmaster *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (uv_async_init(loop, &m->async, async_cb) < 0) {
        free(m);
        return NULL;
    }
    uv_unref((uv_handle_t *)&m->async); /* a group does not keep the loop running */
    m->async.data = m;
    m->ring = ring;
    m->done = done;
    m->arg = arg;
    m->comm.env = &master_env;
    m->comm.env_arg = m;
    return m;
}

static void free_gmaster(uv_handle_t *h)
{
    struct mlos__gmaster *m = h->data;
    free(m->shadow);
    free(m);
}

void mlos__gmaster_free(struct mlos__gmaster *m)
{
    if (m)
        uv_close((uv_handle_t *)&m->async, free_gmaster);
}

int mlos__gmaster_attach(struct mlos__gmaster *m, const struct mlos_group_join *j, uint8_t *slice, size_t slice_len,
                         const char **why)
{
    struct mlos_comm *c = &m->comm;
    memset(c, 0, sizeof(*c));
    c->env = &master_env;
    c->env_arg = m;
    *why = c->error;
    int rc = mlos__comm_attach(c, j, slice, slice_len);
    if (rc < 0)
        return rc;
    size_t need = 0;
    for (uint32_t p = 0; p < c->n; p++)
        for (int k = 0; p != c->rank && k < 3; k++)
            need += c->rx[k][p].max_payload;
    if (need > m->shadow_len) {
        uint8_t *s = realloc(m->shadow, need);
        if (!s)
            return mlos__comm_fail(c, MLOS_ENOMEM, "no memory for %zu bytes of frame copies", need);
        m->shadow = s;
        m->shadow_len = need;
    }
    size_t at = 0;
    for (uint32_t p = 0; p < c->n; p++)
        for (int k = 0; p != c->rank && k < 3; k++) {
            mlos_ring_set_shadow(&c->rx[k][p], m->shadow + at);
            at += c->rx[k][p].max_payload;
        }
    idle_serve(m);
    return 0;
}

void mlos__gmaster_bell(struct mlos__gmaster *m)
{
    if (!m)
        return;
    __atomic_add_fetch(&m->bell, 1, __ATOMIC_RELEASE);
    (void)syscall(SYS_futex, &m->bell, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    idle_serve(m); /* no call running: the bell was for the loop */
}

/* ---- one group call ---- */

static void work_cb(uv_work_t *w)
{
    struct mlos__gmaster *m = w->data;
    struct mlos_comm *c = &m->comm;
    mlos_task_ctx_init(&m->ctx, m->call_arg, m->call_arg_len, NULL, 0);
    c->error[0] = 0;
    mlos__comm_set_current(c);
    uint64_t t0 = mlos_hal_now_ns();
    int rc = m->fn(&m->ctx, m->fn_data);
    m->run_ns = mlos_hal_now_ns() - t0;
    if (rc < 0 && !m->ctx.error[0])
        mlos_task_fail(&m->ctx, rc, "the master's rank failed: %s", mlos_strerror(rc));
    /* Like a shard's task: its regions go with the call. */
    memset(c->regions, 0, sizeof(c->regions));
    mlos__comm_set_current(NULL);
    m->status = rc > 0 ? MLOS_ETASK : rc;
}

static void after_cb(uv_work_t *w, int status)
{
    struct mlos__gmaster *m = w->data;
    if (status == UV_ECANCELED) {
        m->status = MLOS_ESTOPPED;
        snprintf(m->ctx.error, sizeof(m->ctx.error), "the master's rank was cancelled before it ran");
    }
    m->busy = 0;
    idle_serve(m); /* what came meanwhile, and armed for what follows */
    m->done(m->arg);
}

int mlos__gmaster_run(struct mlos__gmaster *m, uv_loop_t *loop, mlos_group_master_fn fn, void *data, const void *arg,
                      size_t arg_len)
{
    if (m->busy)
        return MLOS_EINVAL;
    uint8_t *copy = malloc(arg_len ? arg_len : 1);
    if (!copy)
        return MLOS_ENOMEM;
    if (arg_len)
        memcpy(copy, arg, arg_len);
    free(m->call_arg);
    m->call_arg = copy;
    m->call_arg_len = arg_len;
    m->fn = fn;
    m->fn_data = data;
    m->status = 0;
    m->run_ns = 0;
    m->ctx.result = NULL;
    m->ctx.result_len = 0;
    m->ctx.error[0] = 0;
    m->work.data = m;
    idle_disarm(&m->comm); /* the call's wait loop arms what it waits for */
    if (uv_queue_work(loop, &m->work, work_cb, after_cb) < 0)
        return MLOS_ENOMEM;
    m->busy = 1;
    return 0;
}

int mlos__gmaster_result(struct mlos__gmaster *m, const uint8_t **result, size_t *len, const char **error,
                         uint64_t *run_ns)
{
    *result = m->ctx.result;
    *len = m->ctx.result_len;
    *error = m->ctx.error;
    *run_ns = m->run_ns;
    return m->status;
}

void mlos__gmaster_release(struct mlos__gmaster *m)
{
    /* mlos_task_result took it from the master environment's heap. */
    if (m->ctx.result && m->ctx.result != (void *)m->ctx.small_result)
        free(m->ctx.result);
    m->ctx.result = NULL;
    m->ctx.result_len = 0;
    free(m->call_arg);
    m->call_arg = NULL;
}

int mlos__gmaster_busy(const struct mlos__gmaster *m) { return m && m->busy; }
