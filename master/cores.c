/* cores.c -- parking and unparking a shard's cores (mlos_shard_cores, mlos.h).
 * The CORES request travels like a call (in order, failed with the calls
 * when the shard dies); the shard's CORES_SET answer is checked: a count
 * beyond what it has, or than was asked for, is a broken shard. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"
#include "registry.h"
#include "mlos.pb-c.h"

static int refuse(mlos_cores_t *req, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(mlos_cores_t *req, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->msg, sizeof(req->msg), fmt, ap);
    va_end(ap);
    req->status = rc;
    req->error = req->msg;
    return rc;
}

static void finish(mlos_cores_t *req, int status)
{
    req->status = status;
    req->error = status ? req->msg : NULL;
    req->rtt_ns = uv_hrtime() - req->call.t0;
    req->cb(req, status);
}

static void carrier_done(mlos_call_t *c, int status)
{
    mlos_cores_t *req = c->data;
    if (status == 0)
        status = MLOS_EPROTO;
    snprintf(req->msg, sizeof(req->msg), "cores of shard %u: %.150s", req->shard->id,
             c->error ? c->error : mlos_strerror(status));
    finish(req, status);
}

int mlos_shard_cores(mlos_shard_t *shard, mlos_cores_t *req, unsigned active, mlos_cores_cb cb)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    Mlos__Cores msg = MLOS__CORES__INIT;
    void *frame;
    size_t len;

    if (!req)
        return MLOS_EINVAL;
    void *user = req->data;
    memset(req, 0, sizeof(*req));
    req->data = user;
    if (!shard || !cb || !im)
        return refuse(req, MLOS_EINVAL, "cores need a spawned shard and a callback");
    if (im->state != SHARD_READY || im->fenced)
        return refuse(req, mlos__not_running_err(im),
                      "shard %u is not running", shard->id);
    if (active < 1 || active > shard->cores)
        return refuse(req, MLOS_ERANGE, "shard %u has %u core%s: cannot use %u (1 to %u)", shard->id, shard->cores,
                      shard->cores == 1 ? "" : "s", active, shard->cores);
    msg.active = active;
    len = mlos__cores__get_packed_size(&msg);
    if (!(frame = malloc(len ? len : 1)))
        return refuse(req, MLOS_ENOMEM, "out of memory");
    mlos__cores__pack(&msg, frame);
    req->shard = shard;
    req->cb = cb;
    req->want = active;
    req->call.data = req;
    int rc = mlos__submit(im, &req->call, MLOS_FRAME_CORES, frame, len, carrier_done);
    if (rc < 0)
        return refuse(req, rc, "cores of shard %u: %s", shard->id, mlos_strerror(rc));
    return 0;
}

int mlos__on_cores_set(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len)
{
    mlos_call_t *c = mlos__take_pending(im, id, MLOS_FRAME_CORES);
    Mlos__CoresSet *r;
    mlos_cores_t *req;

    if (!c)
        return MLOS_EPROTO;
    req = c->data;
    mlos__hb_alive(im);
    r = mlos__cores_set__unpack(NULL, len, p);
    if (!r || r->status > 0 || r->cores != im->shard->cores || r->active < 1 || r->active > r->cores ||
        (r->status == 0 && r->active != req->want)) {
        mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: CORES_SET %s", im->shard->id,
                         r ? "does not match what it has or was asked" : "does not decode");
        if (r)
            mlos__cores_set__free_unpacked(r, NULL);
        snprintf(req->msg, sizeof(req->msg), "%.190s", im->death_msg);
        finish(req, MLOS_EPROTO);
        return 0;
    }
    req->active = r->active;
    req->cores = r->cores;
    im->shard->active_cores = r->active;
    mlos__registry_state(im->shard, "ready"); /* mlos ps shows the cores in use */
    if (r->status < 0)
        snprintf(req->msg, sizeof(req->msg), "shard %u refused %u cores: %s", im->shard->id, req->want,
                 mlos_strerror(r->status));
    int status = r->status;
    mlos__cores_set__free_unpacked(r, NULL);
    finish(req, status);
    return 0;
}

static void sync_cb(mlos_cores_t *req, int status) { *(int *)req->data = 1; }

int mlos_shard_cores_sync(mlos_shard_t *shard, mlos_cores_t *req, unsigned active)
{
    int done = 0, rc;
    if (!req)
        return MLOS_EINVAL;
    req->data = &done;
    rc = mlos_shard_cores(shard, req, active, sync_cb);
    if (rc < 0)
        return rc;
    uv_loop_t *loop = shard->impl->loop;
    while (!done)
        uv_run(loop, UV_RUN_ONCE);
    return req->status;
}
