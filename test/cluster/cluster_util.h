/* Helpers shared by the cluster tests (test_cluster_local.c, cl_master.c,
 * test/verbs/test_node_verbs.c): an agent started by a launcher and its
 * exit, a shard spawned on a node, an agent's ps answer, running the loop
 * for a while, waiting for a process to be gone, the shared secret file. */
#ifndef MLOS_TEST_CLUSTER_UTIL_H
#define MLOS_TEST_CLUSTER_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "launcher.h"

/* An agent started with mlos_launch_start(..., on_exit_cb); la.data = it. */
struct agent {
    mlos_launch_t la;
    int exited, status;
    char err[1024];
};

static inline void on_exit_cb(mlos_launch_t *l, int status, const char *err)
{
    struct agent *a = l->data;
    a->exited = 1;
    a->status = status;
    snprintf(a->err, sizeof(a->err), "%s", err);
}

/* A spawn whose callback is spawned (shard->data = the state). */
struct spawn_state {
    int done, status;
};

static inline void spawned(mlos_shard_t *s, int status)
{
    struct spawn_state *st = s->data;
    st->done = 1;
    st->status = status;
}

/* mlos_node_spawn, waited for: 0 or the spawn's error. */
static inline int node_spawn_wait(uv_loop_t *loop, mlos_node_t *n, mlos_shard_t *s, const struct mlos_spawn_opts *o)
{
    struct spawn_state st = {0};
    s->data = &st;
    int rc = mlos_node_spawn(n, s, o, spawned);
    if (rc < 0)
        return rc;
    while (!st.done)
        uv_run(loop, UV_RUN_ONCE);
    return st.status;
}

/* An mlos_node_ps answer (arg = the state). */
struct ps_state {
    int done, status;
    char text[4096];
};

static inline void on_ps(mlos_node_t *n, int status, const char *text, size_t len, void *arg)
{
    struct ps_state *p = arg;
    (void)n;
    p->done = 1;
    p->status = status;
    snprintf(p->text, sizeof(p->text), "%.*s", (int)len, text);
}

/* Run the loop for ms milliseconds, whether or not anything happens. */
static inline void run_ms(uv_loop_t *loop, unsigned ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
}

/* 1 once pid is gone, within about tries x 10 ms of the loop running. */
static inline int pid_gone(uv_loop_t *loop, int pid, int tries)
{
    for (int i = 0; i < tries; i++) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return 1;
        run_ms(loop, 10);
    }
    return 0;
}

/* A secret file only its owner reads: "<fill>-0123456789abcdef0123456789".
 * 0, or -1 if it cannot be written. */
static inline int write_secret(const char *path, const char *fill)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%s-0123456789abcdef0123456789", fill);
    return (fclose(f) == 0 && chmod(path, 0600) == 0) ? 0 : -1;
}

#endif
