/* Calls, replies and one-sided bulk copies between the master and a shard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "group.h"
#include "group_wire.h"
#include "master_internal.h"
#include "mlos.pb-c.h"
#include "msg_transport.h"

/* Wake the shard if it sleeps on its doorbell. */
void mlos__ring_bell(struct mlos_shard_impl *im)
{
    char b = 1;
    /* EAGAIN means unread doorbells are pending already: enough. Other
     * errors mean the shard is going away; its exit callback reports it. */
    (void)send(im->bell_fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Polling mode: watch the reply ring from the loop (an idle handle) for
 * spin_ns after the last traffic; the shard need not ring while we watch.
 * When the budget is spent, ask for doorbells again and re-check once, so
 * a reply committed meanwhile is not missed. */
static void spin_cb(uv_idle_t *h)
{
    struct mlos_shard_impl *im = h->data;
    /* Watch the ring for a short burst before going back to libuv: each
     * loop turn costs an epoll_wait, longer than a shard's reply takes. */
    uint64_t burst_end = uv_hrtime() + 20000;
    while (mlos_ring_empty(&im->to_master) && uv_hrtime() < burst_end) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause(); /* be kind to the sibling hyperthread */
#endif
    }
    mlos__drain(im);
    if (im->state == SHARD_CLOSING || uv_hrtime() < im->spin_until)
        return;
    uv_idle_stop(h);
    if (mlos_ring_prepare_wait(&im->to_master))
        mlos__drain(im);
}

void mlos__spin(struct mlos_shard_impl *im)
{
    if (!im->spin_ns || im->state == SHARD_CLOSING)
        return;
    im->spin_until = uv_hrtime() + im->spin_ns;
    if (!uv_is_active((uv_handle_t *)&im->spin)) {
        mlos_ring_done_wait(&im->to_master);
        uv_idle_start(&im->spin, spin_cb);
    }
}

void mlos__ring_shard(struct mlos_shard_impl *im)
{
    if (mlos_ring_consumer_waiting(&im->to_shard))
        mlos__ring_bell(im);
}

static void unlink_pending(struct mlos_shard_impl *im, mlos_call_t *req)
{
    for (mlos_call_t **pp = &im->pending; *pp; pp = &(*pp)->next) {
        if (*pp == req) {
            *pp = req->next;
            req->next = NULL;
            return;
        }
    }
}

static void complete(mlos_call_t *req, int status, const char *error)
{
    req->status = status;
    req->error = status ? (error && error[0] ? error : mlos_strerror(status)) : NULL;
    req->rtt_ns = uv_hrtime() - req->t0;
    req->cb(req, status);
}

void mlos__fail_calls(struct mlos_shard_impl *im, int err, const char *msg)
{
    mlos_call_t *list = im->pending;
    im->pending = NULL;
    im->backlog = im->backlog_end = NULL;
    while (list) {
        mlos_call_t *req = list;
        list = req->next;
        req->next = NULL;
        free(req->frame);
        req->frame = NULL;
        req->result = NULL;
        req->result_len = 0;
        complete(req, err, msg);
    }
}

static uint8_t frame_type_of(const mlos_call_t *req)
{
    return req->frame_type ? req->frame_type : MLOS_FRAME_CALL;
}

/* RELEASED acknowledgements that found the ring full (resize.c): they
 * jump the call backlog, since the shard cannot use those pages until it
 * has them. */
static int flush_released(struct mlos_shard_impl *im)
{
    int sent = 0;
    while (im->n_released) {
        int prc = mlos_ring_push(&im->to_shard, MLOS_FRAME_RELEASED, im->released[0], NULL, 0);
        if (prc < 0)
            break;
        memmove(im->released, im->released + 1, (im->n_released - 1) * sizeof(im->released[0]));
        im->n_released--;
        sent = 1;
    }
    return sent;
}

/* Move packed calls from the backlog into the ring while there is room. */
static void flush_backlog(struct mlos_shard_impl *im)
{
    int sent = flush_released(im);
    while (im->backlog && !im->n_released) {
        mlos_call_t *req = im->backlog;
        int prc = mlos_ring_push(&im->to_shard, frame_type_of(req), req->id, req->frame, (uint32_t)req->frame_len);
        if (prc == MLOS_EPROTO) {
            mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: it corrupted the call ring's index",
                             im->shard->id);
            break;
        }
        if (prc < 0) {
            /* Ask the shard to ring us when it has consumed; if room
             * appeared meanwhile, go on now. */
            if (mlos_ring_producer_prepare_wait(&im->to_shard, (uint32_t)req->frame_len))
                continue;
            break;
        }
        mlos_ring_producer_done_wait(&im->to_shard);
        free(req->frame);
        req->frame = NULL;
        /* backlog order is pending order restricted to queued calls */
        mlos_call_t *next = NULL;
        for (mlos_call_t *c = req->next; c; c = c->next)
            if (c->frame) {
                next = c;
                break;
            }
        im->backlog = next;
        if (!next)
            im->backlog_end = NULL;
        sent = 1;
    }
    if (sent)
        mlos__ring_shard(im);
}

void mlos__queue_released(struct mlos_shard_impl *im, uint32_t id)
{
    if (!im->n_released && mlos_ring_push(&im->to_shard, MLOS_FRAME_RELEASED, id, NULL, 0) == 0) {
        mlos__ring_shard(im);
        return;
    }
    if (im->n_released == MLOS_MAX_RELEASED) {
        /* The shard has not drained its ring for this many shrinks: it
         * keeps the pages held (it loses their use), nothing is lost. */
        mlos__shard_fail(im, MLOS_EPROTO, "shard %u does not drain its ring: %u resize acknowledgements waiting",
                         im->shard->id, MLOS_MAX_RELEASED);
        return;
    }
    im->released[im->n_released++] = id;
    if (mlos_ring_producer_prepare_wait(&im->to_shard, 0))
        flush_backlog(im);
}

static void append_pending(struct mlos_shard_impl *im, mlos_call_t *req)
{
    mlos_call_t **pp = &im->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = req;
}

int mlos__submit(struct mlos_shard_impl *im, mlos_call_t *req, uint8_t type, void *frame, size_t len, mlos_call_cb cb)
{
    int rc;

    if (im->rops) { /* resize and cores act on this host's memory file and QEMU: not through an agent */
        free(frame);
        return MLOS_ENOTSUP;
    }
    if (len > im->to_shard.max_payload) {
        free(frame);
        return MLOS_ETOOBIG;
    }
    void *user = req->data;
    memset(req, 0, sizeof(*req));
    req->data = user;
    req->shard = im->shard;
    req->cb = cb;
    req->frame_type = type;
    req->t0 = uv_hrtime();
    req->id = im->next_id++;
    if (im->next_id == 0)
        im->next_id = 1;
    rc = im->backlog || im->n_released ? MLOS_EAGAIN
                                       : mlos_ring_push(&im->to_shard, type, req->id, frame, (uint32_t)len);
    if (rc == 0) {
        free(frame);
    } else if (rc == MLOS_EAGAIN) {
        req->frame = frame;
        req->frame_len = len;
        if (!im->backlog)
            im->backlog = req;
        im->backlog_end = req;
    } else {
        free(frame);
        if (rc == MLOS_EPROTO)
            mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: it corrupted the call ring's index",
                             im->shard->id);
        return rc;
    }
    append_pending(im, req);
    if (rc == 0)
        mlos__ring_shard(im);
    mlos__spin(im);
    return 0;
}

mlos_call_t *mlos__take_pending(struct mlos_shard_impl *im, uint32_t id, uint8_t type)
{
    for (mlos_call_t *c = im->pending; c; c = c->next)
        if (c->id == id && !c->frame) {
            if (frame_type_of(c) != type)
                return NULL;
            unlink_pending(im, c);
            return c;
        }
    return NULL;
}

void mlos__complete(mlos_call_t *req, int status, const char *error)
{
    complete(req, status, error);
}

/* The agent copies the frame at once (ordered behind earlier puts), so
 * the packed bytes live only for the send. */
static int remote_call(struct mlos_shard_impl *im, mlos_call_t *req, const Mlos__TaskCall *msg, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    int rc;
    if (!buf)
        return MLOS_ENOMEM;
    mlos__task_call__pack(msg, buf);
    rc = im->rops->call(im, req->id, buf, len);
    free(buf);
    if (rc < 0)
        return rc == MLOS_ECONNRESET ? MLOS_ESHARDDIED : rc;
    append_pending(im, req);
    if (req->deadline_ms)
        mlos__hb_arm(im);
    return 0;
}

int mlos_call(mlos_shard_t *shard, mlos_call_t *req, const char *task, const void *arg, size_t arg_len,
              mlos_call_cb cb)
{
    return mlos_call_ex(shard, req, task, arg, arg_len, NULL, cb);
}

int mlos_call_ex(mlos_shard_t *shard, mlos_call_t *req, const char *task, const void *arg, size_t arg_len,
                 const struct mlos_call_opts *opts, mlos_call_cb cb)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    Mlos__TaskCall msg = MLOS__TASK_CALL__INIT;
    size_t len;
    void *dst;
    int rc;

    if (!im || !req || !task || !cb || (arg_len && !arg) ||
        (opts && (opts->flags & ~(MLOS_CALL_FENCE | MLOS_CALL_CONCURRENT))))
        return MLOS_EINVAL;
    if (im->state != SHARD_READY)
        return im->state == SHARD_DEAD ? mlos__not_running_err(im) : MLOS_ESTOPPED;
    msg.task = (char *)task;
    msg.arg.data = (uint8_t *)arg;
    msg.arg.len = arg_len;
    if (opts && (opts->flags & MLOS_CALL_CONCURRENT))
        msg.flags = 1; /* rpc/wire/taskmsg.h: MLOS_TASKCALL_CONCURRENT */
    len = mlos__task_call__get_packed_size(&msg);
    if (len > (im->rops ? MLOS__REMOTE_MAX_CALL : im->to_shard.max_payload))
        return MLOS_ETOOBIG;
    void *user = req->data;
    memset(req, 0, sizeof(*req));
    req->data = user;
    req->shard = shard;
    req->cb = cb;
    req->t0 = uv_hrtime();
    req->id = im->next_id++;
    if (im->next_id == 0)
        im->next_id = 1;
    if (opts && opts->timeout_ms) {
        req->timeout_ms = opts->timeout_ms;
        req->call_flags = opts->flags;
        /* from now, not from the loop's cached time, which lags by the
         * callback we are in */
        uint64_t now = uv_hrtime() / 1000000u;
        req->deadline_ms = (now > uv_now(im->loop) ? now : uv_now(im->loop)) + opts->timeout_ms;
    }
    if (im->rops) /* a shard on another node: through its agent (shard_remote.c) */
        return remote_call(im, req, &msg, len);
    /* Calls keep their order: only go straight to the ring if nothing waits. */
    rc = im->backlog || im->n_released ? MLOS_EAGAIN : mlos_ring_reserve(&im->to_shard, (uint32_t)len, &dst);
    if (rc == 0) {
        mlos__task_call__pack(&msg, dst);
        mlos_ring_commit(&im->to_shard, MLOS_FRAME_CALL, req->id, (uint32_t)len);
    } else if (rc == MLOS_EAGAIN) {
        if (!(req->frame = malloc(len)))
            return MLOS_ENOMEM;
        req->frame_len = mlos__task_call__pack(&msg, req->frame);
        if (!im->backlog)
            im->backlog = req;
        im->backlog_end = req;
    } else {
        if (rc == MLOS_EPROTO)
            mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: it corrupted the call ring's index",
                             im->shard->id);
        return rc;
    }
    /* Append to pending (replies usually come back in order). */
    append_pending(im, req);
    if (rc == 0)
        mlos__ring_shard(im);
    mlos__spin(im);
    if (req->deadline_ms)
        mlos__hb_arm(im);
    return 0;
}

/* ---- deadlines ---- */

uint64_t mlos__next_deadline(const struct mlos_shard_impl *im)
{
    uint64_t first = 0;
    for (const mlos_call_t *c = im->pending; c; c = c->next)
        if (c->deadline_ms && (!first || c->deadline_ms < first))
            first = c->deadline_ms;
    return first;
}

/* Take req out of pending (and out of the backlog if it was never sent). */
static void unlink_call(struct mlos_shard_impl *im, mlos_call_t *req)
{
    unlink_pending(im, req);
    if (req->frame) {
        free(req->frame);
        req->frame = NULL;
        im->backlog = im->backlog_end = NULL;
        for (mlos_call_t *c = im->pending; c; c = c->next)
            if (c->frame) {
                if (!im->backlog)
                    im->backlog = c;
                im->backlog_end = c;
            }
    }
}

int mlos__expire_calls(struct mlos_shard_impl *im, uint64_t now)
{
    char msg[200];
    mlos_call_t *c;

again:
    for (c = im->pending; c; c = c->next)
        if (c->deadline_ms && c->deadline_ms <= now)
            break;
    if (!c)
        return 0;
    int sent = !c->frame;
    unlink_call(im, c);
    c->timed_out = 1;
    snprintf(msg, sizeof(msg), "call %u on shard %u overran its %u ms deadline", c->id, im->shard->id,
             c->timeout_ms);
    if ((c->call_flags & MLOS_CALL_FENCE) || (sent && im->n_abandoned == MLOS_MAX_ABANDONED)) {
        if (c->call_flags & MLOS_CALL_FENCE)
            mlos__shard_fail(im, MLOS_ETIMEDOUT, "shard %u fenced: call %u overran its %u ms deadline",
                             im->shard->id, c->id, c->timeout_ms);
        else
            mlos__shard_fail(im, MLOS_ETIMEDOUT, "shard %u fenced: %u calls overran their deadlines unanswered",
                             im->shard->id, MLOS_MAX_ABANDONED + 1);
        /* Dead before the callback runs, so that it (a pool) sees the
         * shard gone and re-runs elsewhere. */
        im->state = SHARD_DEAD;
        uv_idle_stop(&im->spin);
        uv_timer_stop(&im->hb_timer);
        mlos__group_shard_down(im, MLOS_GROUP_DOWN_FENCED);
        complete(c, MLOS_ETIMEDOUT, msg);
        if (im->state == SHARD_DEAD) /* the callback may have stopped it */
            mlos__fail_calls(im, im->death_err, im->death_msg);
        if (im->state == SHARD_DEAD && im->on_dead)
            im->on_dead(im->shard);
        return 1;
    }
    /* The shard may still run the task: remember the id so that its late
     * reply is dropped rather than taken for a protocol breach. */
    if (sent)
        im->abandoned[im->n_abandoned++] = c->id;
    complete(c, MLOS_ETIMEDOUT, msg);
    if (im->state != SHARD_READY || im->fenced)
        return 1;
    goto again;
}

static int drop_abandoned(struct mlos_shard_impl *im, uint32_t id)
{
    for (unsigned i = 0; i < im->n_abandoned; i++)
        if (im->abandoned[i] == id) {
            im->abandoned[i] = im->abandoned[--im->n_abandoned];
            return 1;
        }
    return 0;
}

static mlos_call_t *find_pending(struct mlos_shard_impl *im, uint32_t id)
{
    for (mlos_call_t *c = im->pending; c; c = c->next)
        if (c->id == id && !c->frame)
            return c;
    return NULL;
}

int mlos__on_hello(struct mlos_shard_impl *im, const uint8_t *p, uint32_t len)
{
    mlos_shard_t *s = im->shard;
    Mlos__Hello *h = mlos__hello__unpack(NULL, len, p);
    if (!h)
        return MLOS_EDECODE;
    snprintf(s->arch, sizeof(s->arch), "%s", h->arch);
    s->shard_boot_ns = h->boot_ns;
    s->mem_bytes = h->mem_bytes;
    /* cores: 0 from shards that predate them; never more than asked for */
    s->cores = h->cores ? h->cores : 1;
    if (s->cores > im->cores_asked)
        s->cores = im->cores_asked;
    s->active_cores = h->active_cores && h->active_cores <= s->cores ? h->active_cores : s->cores;
    /* Elastic only if spawned so and the shard agrees; never more than asked for. */
    s->mem_max_bytes = im->mem_max && h->mem_max_bytes ? (h->mem_max_bytes < im->mem_max ? h->mem_max_bytes : im->mem_max) : 0;
    s->tasks = calloc(h->n_tasks ? h->n_tasks : 1, sizeof(char *));
    for (size_t i = 0; s->tasks && i < h->n_tasks; i++)
        if ((s->tasks[i] = strdup(h->tasks[i])))
            s->ntasks++;
    mlos__hello__free_unpacked(h, NULL);
    mlos__shard_ready(im);
    return 0;
}

int mlos__on_reply(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len)
{
    mlos_call_t *req = find_pending(im, id);
    Mlos__TaskReply *r;

    if (req && frame_type_of(req) != MLOS_FRAME_CALL)
        return MLOS_EPROTO; /* a REPLY to something that was not a call */
    if (!req) {
        if (drop_abandoned(im, id)) {
            mlos__hb_alive(im); /* done with the overrun task: the next call's clock starts */
            return 0;
        }
        return im->state == SHARD_READY ? MLOS_EPROTO : 0; /* stale after stop: ignore */
    }
    r = mlos__task_reply__unpack(NULL, len, p);
    if (!r)
        return MLOS_EDECODE;
    unlink_pending(im, req);
    mlos__hb_alive(im); /* progress: the next pending call's clock starts now */
    req->result = r->result.data;
    req->result_len = r->result.len;
    req->run_ns = r->run_ns;
    /* req is the caller's again once its callback ran (it may be freed
     * there): not touched afterwards; result is valid inside it only */
    complete(req, r->status > 0 ? MLOS_EPROTO : r->status, r->error);
    mlos__task_reply__free_unpacked(r, NULL);
    return 0;
}

void mlos__drain(struct mlos_shard_impl *im)
{
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int rc;

    if (im->state == SHARD_CLOSING || !im->map || im->fenced) /* fenced: accept nothing */
        return;
    while ((rc = mlos_ring_peek(&im->to_master, &h, &p)) > 0) {
        int bad = 0;
        mlos__spin(im);
        if (h.type == MLOS_FRAME_PONG && im->state != SHARD_STARTING)
            bad = mlos__hb_pong(im, h.request_id, p, h.length);
        else if (h.type == MLOS_FRAME_HELLO && im->state == SHARD_STARTING)
            bad = mlos__on_hello(im, p, h.length);
        else if (h.type == MLOS_FRAME_REPLY && im->state != SHARD_STARTING)
            bad = mlos__on_reply(im, h.request_id, p, h.length);
        else if (h.type == MLOS_FRAME_RESIZED && im->state != SHARD_STARTING)
            bad = mlos__on_resized(im, h.request_id, p, h.length); /* resize.c */
        else if (h.type == MLOS_FRAME_CORES_SET && im->state != SHARD_STARTING)
            bad = mlos__on_cores_set(im, h.request_id, p, h.length); /* cores.c */
        else if (h.type == MLOS_FRAME_LOG)
            bad = 0; /* text also goes to the console */
        else if (h.type == MLOS_FRAME_WAKE && im->state == SHARD_READY)
            bad = mlos__group_wake(im, p, h.length); /* a group member wakes its peers */
        else if (h.type == MLOS_FRAME_MSG && im->state != SHARD_STARTING) {
            if (im->ep) /* a message for the bound endpoint (shard_ep.c) */
                mlos__ep_deliver(im->ep, h.request_id, p, h.length);
        }
        else
            bad = MLOS_EBADTYPE;
        if (im->state == SHARD_CLOSING)
            return; /* a callback released the shard */
        mlos_ring_release(&im->to_master, &h);
        if (im->fenced && bad >= 0)
            return; /* a handler condemned the shard: accept nothing more from it */
        if (bad < 0) {
            mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: frame type %u id %u: %s",
                             im->shard->id, h.type, h.request_id, mlos_strerror(bad));
            return;
        }
    }
    if (rc < 0) {
        mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: malformed frame in its ring",
                         im->shard->id);
        return;
    }
    /* A shard blocked on a full reply ring waits for this doorbell. */
    if (mlos_ring_producer_waiting(&im->to_master))
        mlos__ring_bell(im);
    if (im->state == SHARD_READY) {
        flush_backlog(im);
        mlos__shard_ep_drain(im);
    }
}

static int bulk_range(mlos_shard_t *shard, size_t off, size_t len)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    if (!im || !im->bulk)
        return MLOS_EINVAL;
    if (off > im->bulk_len || len > im->bulk_len - off)
        return MLOS_ERANGE;
    return 0;
}

int mlos_put(mlos_shard_t *shard, size_t offset, const void *src, size_t len)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    if (im && im->rops) { /* through the agent, ordered before later calls */
        if (im->state != SHARD_READY)
            return im->state == SHARD_DEAD ? mlos__not_running_err(im) : MLOS_ESTOPPED;
        if (offset > im->bulk_len || len > im->bulk_len - offset)
            return MLOS_ERANGE;
        if (len && !src)
            return MLOS_EINVAL;
        return len ? im->rops->put(im, offset, src, len) : 0;
    }
    int rc = bulk_range(shard, offset, len);
    if (rc == 0 && len)
        memcpy(shard->impl->bulk + offset, src, len);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* visible before the next CALL */
    return rc;
}

int mlos_get(mlos_shard_t *shard, size_t offset, void *dst, size_t len)
{
    if (shard && shard->impl && shard->impl->rops)
        return MLOS_ENOTSUP; /* results of remote shards come back in replies */
    int rc = bulk_range(shard, offset, len);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (rc == 0 && len)
        memcpy(dst, shard->impl->bulk + offset, len);
    return rc;
}
