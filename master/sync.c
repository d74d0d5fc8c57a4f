/* Blocking wrappers: run the caller's loop until one operation completes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"

struct sync_state {
    int done;
    int status;
    void *result;
    size_t result_len;
    char *err;
    size_t err_len;
};

static void run_until(uv_loop_t *loop, const int *done)
{
    while (!*done)
        uv_run(loop, UV_RUN_ONCE);
}

static void spawned(mlos_shard_t *shard, int status)
{
    struct sync_state *st = shard->data;
    st->status = status;
    st->done = 1;
}

int mlos_spawn_sync(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *opts)
{
    struct sync_state st = {0};
    void *user = shard->data;
    int rc;

    shard->data = &st;
    rc = mlos_spawn(loop, shard, opts, spawned);
    if (rc == 0) {
        run_until(loop, &st.done);
        rc = st.status;
    }
    shard->data = user;
    return rc;
}

static void called(mlos_call_t *req, int status)
{
    struct sync_state *st = req->data;
    st->status = status;
    st->done = 1;
    if (status == 0) {
        st->result = malloc(req->result_len ? req->result_len : 1);
        if (!st->result) {
            st->status = MLOS_ENOMEM;
            return;
        }
        if (req->result_len) /* an empty result may come without a buffer: memcpy(dst, NULL, 0) is UB */
            memcpy(st->result, req->result, req->result_len);
        st->result_len = req->result_len;
    } else if (st->err && st->err_len) {
        snprintf(st->err, st->err_len, "%s", req->error);
    }
}

int mlos_call_sync(mlos_shard_t *shard, const char *task, const void *arg, size_t arg_len, void **result,
                   size_t *result_len, char *err, size_t err_len)
{
    struct sync_state st = {0};
    mlos_call_t req;
    int rc;

    st.err = err;
    st.err_len = err_len;
    if (err && err_len)
        err[0] = 0;
    req.data = &st;
    rc = mlos_call(shard, &req, task, arg, arg_len, called);
    if (rc < 0) {
        /* a shard that is gone says why (e.g. "stopped by mlos stop") */
        const struct mlos_shard_impl *im = shard ? shard->impl : NULL;
        if (err && err_len)
            snprintf(err, err_len, "%s%s%s", mlos_strerror(rc), im && im->death_msg[0] ? ": " : "",
                     im && im->death_msg[0] ? im->death_msg : "");
        return rc;
    }
    run_until(shard->impl->loop, &st.done);
    if (st.status == 0) {
        if (result)
            *result = st.result;
        else
            free(st.result);
        if (result_len)
            *result_len = st.result_len;
    }
    return st.status;
}

static void closed(mlos_shard_t *shard)
{
    *(int *)shard->data = 1;
}

void mlos_shard_stop_sync(mlos_shard_t *shard)
{
    int done = 0;
    void *user = shard->data;
    uv_loop_t *loop = shard->impl ? shard->impl->loop : NULL;

    shard->data = &done;
    if (mlos_shard_stop(shard, closed) == 0)
        run_until(loop, &done);
    shard->data = user;
}
