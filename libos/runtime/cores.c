/* The library OS on several cores (cores.h) and the task-side
 * mlos_parallel_for (mlos_task_api.h). */
#include "cores.h"

#include <stdint.h>

#include "hal.h"
#include "mlos_error.h"
#include "spin.h"

static unsigned total = 1;
static unsigned active = 1;            /* cores 0 .. active-1 take work */
static int claimed[MLOS_CORES_MAX];    /* 1: someone handed it work; cleared when that returns */

/* What a core runs: fn(arg), then it frees itself. Embedded in the
 * caller's own struct (parallel_for: on its stack, waiting for done). */
struct job {
    void (*fn)(void *);
    void *arg;
    unsigned core;
    int detached; /* 1: nobody waits; do not touch the job after fn */
    volatile int done;
};

void mlos_cores_init(void)
{
    /* clamped to [1, MLOS_CORES_MAX] without branches: this runs before
     * HELLO, where each branch target costs a TCG translation */
    unsigned n = (unsigned)mlos_hal_core_count();
    n |= n == 0;
    total = n > MLOS_CORES_MAX ? MLOS_CORES_MAX : n;
    active = total;
}

unsigned mlos_cores_total(void) { return total; }

int mlos_cores_set_active(unsigned n)
{
    if (n < 1 || n > total)
        return MLOS_ERANGE;
    __atomic_store_n(&active, n, __ATOMIC_SEQ_CST);
    return (int)n;
}

static unsigned claim(void)
{
    unsigned n = __atomic_load_n(&active, __ATOMIC_SEQ_CST), me = mlos_hal_core_self();
    for (unsigned k = 1; k < n; k++) {
        int free = 0;
        if (k != me && __atomic_compare_exchange_n(&claimed[k], &free, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return k;
    }
    return 0;
}

static void job_entry(void *p)
{
    struct job *j = p;
    unsigned k = j->core;
    int detached = j->detached;

    j->fn(j->arg);
    if (!detached)
        __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE); /* the waiter may free j from here on */
    __atomic_store_n(&claimed[k], 0, __ATOMIC_RELEASE);
}

static void post(struct job *j)
{
    /* A claimed core has taken its previous function already (the claim
     * is released after it returned), so this does not spin in practice. */
    while (mlos_hal_core_run(j->core, job_entry, j) == MLOS_EAGAIN)
        mlos_cpu_relax();
}

/* Detached jobs live in the spawned work's own memory: the runtime gives
 * us the job storage through fn's arg wrapper below. */
struct detached {
    struct job job;
    void (*fn)(void *);
    void *arg;
};
static struct detached slots[MLOS_CORES_MAX]; /* one per core: a core runs one job at a time */

static void detached_entry(void *p)
{
    struct detached *d = p;
    d->fn(d->arg);
}

unsigned mlos_cores_spawn(void (*fn)(void *), void *arg)
{
    unsigned k = total > 1 ? claim() : 0;
    if (!k)
        return 0;
    /* The slot of core k is free: k was not claimed, so its last job returned. */
    struct detached *d = &slots[k];
    d->fn = fn;
    d->arg = arg;
    d->job = (struct job){.fn = detached_entry, .arg = d, .core = k, .detached = 1};
    post(&d->job);
    return k;
}

int mlos_cores_busy(void)
{
    for (unsigned k = 1; k < total; k++)
        if (__atomic_load_n(&claimed[k], __ATOMIC_ACQUIRE))
            return 1;
    return 0;
}

unsigned mlos_core_count(void) { return __atomic_load_n(&active, __ATOMIC_SEQ_CST); }
unsigned mlos_core_self(void) { return mlos_hal_core_self(); }

struct part {
    mlos_for_fn body;
    void *arg;
    size_t begin, end;
};

static void part_entry(void *p)
{
    struct part *pt = p;
    pt->body(pt->begin, pt->end, pt->arg);
}

int mlos_parallel_for(size_t n, mlos_for_fn body, void *arg)
{
    struct part parts[MLOS_CORES_MAX];
    struct job jobs[MLOS_CORES_MAX];
    unsigned m = 0; /* helpers claimed */

    if (!body)
        return MLOS_EINVAL;
    if (n == 0)
        return 1;
    while (total > 1 && m + 1 < MLOS_CORES_MAX && m + 1 < n) {
        unsigned k = claim();
        if (!k)
            break;
        jobs[m].core = k;
        m++;
    }
    /* contiguous chunks, the first ones one longer when n does not divide */
    size_t per = n / (m + 1), extra = n % (m + 1), at = 0;
    for (unsigned i = 0; i <= m; i++) {
        size_t len = per + (i < extra);
        parts[i] = (struct part){body, arg, at, at + len};
        at += len;
    }
    for (unsigned i = 0; i < m; i++) {
        unsigned k = jobs[i].core;
        jobs[i] = (struct job){.fn = part_entry, .arg = &parts[i + 1], .core = k};
        post(&jobs[i]);
    }
    part_entry(&parts[0]);
    for (unsigned i = 0; i < m; i++)
        while (!__atomic_load_n(&jobs[i].done, __ATOMIC_ACQUIRE))
            mlos_cpu_relax();
    return (int)(m + 1);
}
