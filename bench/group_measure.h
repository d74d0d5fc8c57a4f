/* group_measure.h -- one timed group.bench call (a built-in task: every
 * rank times each iteration of a collective on its own clock) and its
 * statistics: an iteration's time is its slowest rank's. Shared by
 * bench_group and bench_group_nodes, so their numbers mean the same. */
#ifndef MLOS_BENCH_GROUP_MEASURE_H
#define MLOS_BENCH_GROUP_MEASURE_H

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "mlos_endian.h"
#include "mlos_group.h"
#include "percentile.h"

struct group_times {
    double min, p50, p99, max; /* us */
};

struct group_run {
    mlos_group_call_t req;
    int done, status;
    uint64_t *t[MLOS_GROUP_MAX_RANKS];
    unsigned iters;
};

static void group_run_done(mlos_group_call_t *req, int status)
{
    struct group_run *r = req->data;
    r->done = 1;
    r->status = status;
    if (status) {
        fprintf(stderr, "group call: %s\n", req->error);
        return;
    }
    for (unsigned k = 0; k < req->group->n; k++) {
        if (req->ranks[k].result_len != r->iters * 8u) {
            r->status = MLOS_EPROTO;
            return;
        }
        for (unsigned i = 0; i < r->iters; i++)
            r->t[k][i] = mlos_get_le64(req->ranks[k].result + 8 * i);
    }
}

/* iters of collective which (group.bench's numbering) over bytes; with
 * master_fn, the group has the master at a rank and it runs master_fn. */
static int group_measure(uv_loop_t *loop, mlos_group_t *g, mlos_group_master_fn master_fn, uint32_t which,
                         uint64_t bytes, unsigned iters, struct group_times *out)
{
    struct group_run r = {.iters = iters};
    uint8_t arg[16];
    uint64_t *worst = calloc(iters, 8);
    for (unsigned k = 0; k < g->n; k++)
        r.t[k] = calloc(iters, 8);
    mlos_put_le32(arg, which);
    mlos_put_le32(arg + 4, iters);
    mlos_put_le64(arg + 8, bytes);
    r.req.data = &r;
    int rc = master_fn ? mlos_group_call_master(g, &r.req, "group.bench", master_fn, NULL, arg, sizeof(arg), 600000,
                                                group_run_done)
                       : mlos_group_call(g, &r.req, "group.bench", arg, sizeof(arg), 600000, group_run_done);
    while (rc == 0 && !r.done)
        uv_run(loop, UV_RUN_ONCE);
    if (rc == 0 && r.status == 0) {
        for (unsigned i = 0; i < iters; i++)
            for (unsigned k = 0; k < g->n; k++)
                if (r.t[k][i] > worst[i])
                    worst[i] = r.t[k][i];
        out->p50 = bench_pct(worst, (int)iters, 0.5) / 1000.0;
        out->p99 = bench_pct(worst, (int)iters, 0.99) / 1000.0;
        out->min = worst[0] / 1000.0; /* sorted by bench_pct */
        out->max = worst[iters - 1] / 1000.0;
    }
    for (unsigned k = 0; k < g->n; k++)
        free(r.t[k]);
    free(worst);
    return rc ? rc : r.status;
}

#endif
