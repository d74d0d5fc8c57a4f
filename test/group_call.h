/* group_call.h -- a group call's answers, kept past its callback so that
 * tests can check every rank's status, error and first result bytes
 * (test_groups.c, test_groups_master.c, cluster/test_cluster_groups.c),
 * and the small helpers of their failure cases.
 *
 *   struct gcall c;
 *   gcall_prepare(&c);
 *   rc = gcall_wait(loop, &c, mlos_group_call(&g, &c.req, task, arg, len, tmo, gcall_done));
 */
#ifndef MLOS_TEST_GROUP_CALL_H
#define MLOS_TEST_GROUP_CALL_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "mlos_endian.h"
#include "mlos_group.h"

struct gcall {
    mlos_group_call_t req;
    int done, status, failed_rank;
    char error[600];
    int rank_status[MLOS_GROUP_MAX_RANKS];
    char rank_error[MLOS_GROUP_MAX_RANKS][300];
    uint8_t rank_result[MLOS_GROUP_MAX_RANKS][64]; /* the first 64 bytes */
    size_t rank_len[MLOS_GROUP_MAX_RANKS];
    uint64_t t_done; /* uv_hrtime() when the callback ran */
};

static inline void gcall_done(mlos_group_call_t *req, int status)
{
    struct gcall *g = req->data;
    g->done = 1;
    g->status = status;
    g->t_done = uv_hrtime();
    g->failed_rank = req->failed_rank;
    snprintf(g->error, sizeof(g->error), "%s", req->error);
    for (unsigned r = 0; r < req->group->n; r++) {
        g->rank_status[r] = req->ranks[r].status;
        snprintf(g->rank_error[r], sizeof(g->rank_error[r]), "%s", req->ranks[r].error);
        g->rank_len[r] = req->ranks[r].result_len;
        memcpy(g->rank_result[r], req->ranks[r].result, req->ranks[r].result_len < 64 ? req->ranks[r].result_len : 64);
    }
}

static inline void gcall_prepare(struct gcall *g)
{
    memset(g, 0, sizeof(*g));
    g->req.data = g;
}

/* rc: what starting the call returned; then the call's status. */
static inline int gcall_wait(uv_loop_t *loop, struct gcall *g, int rc)
{
    if (rc)
        return rc;
    while (!g->done)
        uv_run(loop, UV_RUN_ONCE);
    return g->status;
}

/* A rank's 8-byte answer as a number (the check tasks' output length),
 * ~0 if it answered something else. */
static inline uint64_t gcall_u64(const struct gcall *g, unsigned r)
{
    return g->rank_len[r] == 8 ? mlos_get_le64(g->rank_result[r]) : ~0ull;
}

static inline uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

/* A signal for a member's process after a delay: a uv timer (uv_timer_init
 * it, start it with later_cb, close it when done). */
struct later {
    uv_timer_t t;
    int pid, sig;
};
static inline void later_cb(uv_timer_t *t)
{
    struct later *l = (struct later *)t;
    kill(l->pid, l->sig);
}

/* mlos_group_reform's completion, with group->data pointing at one. */
struct reformed {
    int done, st;
};
static inline void on_ref(mlos_group_t *gg, int st)
{
    struct reformed *r = gg->data;
    r->done = 1;
    r->st = st;
}

#endif
