/* master/remote.c -- accept remote workers over msg.h and call their tasks.
 * Protocol and API: remote.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mlos.pb-c.h"
#include "remote.h"

enum { W_AUTH = 0, W_PROOF, W_HELLO, W_READY, W_CLOSING };

/* ---- calls ---- */

static void finish_call(mlos_remote_call_t *req, int status, const char *error)
{
    req->status = status;
    req->error = status ? (error && *error ? error : mlos_strerror(status)) : NULL;
    req->rtt_ns = uv_hrtime() - req->t0;
    req->cb(req, status);
}

static void fail_pending(mlos_remote_worker_t *w, int status, const char *why)
{
    mlos_remote_call_t *c;
    while ((c = w->pending)) {
        w->pending = c->next;
        c->result = NULL;
        c->result_len = 0;
        finish_call(c, status, why);
    }
}

int mlos_remote_call(mlos_remote_worker_t *w, mlos_remote_call_t *req, const char *task, const void *arg,
                     size_t len, mlos_remote_call_cb cb)
{
    Mlos__TaskCall m = MLOS__TASK_CALL__INIT;
    int rc;
    if (!w || !req || !task || !cb || (len && !arg))
        return MLOS_EINVAL;
    if (w->state != W_READY)
        return w->state == W_CLOSING ? MLOS_ESTOPPED : MLOS_ESHARDDIED;
    if (len > MLOS_REMOTE_MAX_ARG)
        return MLOS_ETOOBIG;
    m.task = (char *)task;
    m.arg.data = (uint8_t *)arg;
    m.arg.len = len;
    req->w = w;
    req->cb = cb;
    req->id = ++w->next_req ? w->next_req : ++w->next_req;
    req->t0 = uv_hrtime();
    req->result = NULL;
    req->result_len = 0;
    req->run_ns = 0;
    if ((rc = mlos_send_frame(&w->ep, MLOS_FRAME_CALL, req->id, &m.base)) < 0)
        return rc == MLOS_ECONNRESET ? MLOS_ESHARDDIED : rc;
    req->next = w->pending;
    w->pending = req;
    return 0;
}

/* ---- workers ---- */

static void worker_free(mlos_remote_worker_t *w)
{
    for (size_t i = 0; i < w->ntasks; i++)
        free(w->tasks[i]);
    free(w->tasks);
    free(w);
}

static void maybe_closed(mlos_remote_t *r);

static void on_ep_closed(mlos_ep_t *ep)
{
    mlos_remote_worker_t *w = ep->data, **pp;
    mlos_remote_t *r = w->r;
    for (pp = &r->workers; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    worker_free(w);
    r->handles_open--;
    maybe_closed(r);
}

/* Drop a worker: status < 0 says why (reported through on_gone when it had
 * been announced), 0 for an orderly stop. */
static void worker_drop(mlos_remote_worker_t *w, int status, const char *why, int notify)
{
    mlos_remote_t *r = w->r;
    int was_ready = w->state == W_READY;
    if (w->state == W_CLOSING)
        return;
    if (!was_ready)
        r->rejected++;
    else
        r->nworkers--;
    w->state = W_CLOSING;
    fail_pending(w, status ? MLOS_ESHARDDIED : MLOS_ESTOPPED, why);
    if (was_ready && notify && r->on_gone)
        r->on_gone(w, status);
    if (mlos_ep_close(&w->ep, on_ep_closed) < 0)
        on_ep_closed(&w->ep); /* never opened */
}

static void on_hello(mlos_remote_worker_t *w, const uint8_t *p, size_t n)
{
    Mlos__Hello *h = mlos__hello__unpack(NULL, n, p);
    if (!h) {
        worker_drop(w, MLOS_EPROTO, "HELLO does not decode", 1);
        return;
    }
    snprintf(w->arch, sizeof(w->arch), "%s", h->arch ? h->arch : "?");
    w->mem_bytes = h->mem_bytes;
    w->boot_ns = h->boot_ns;
    w->tasks = calloc(h->n_tasks ? h->n_tasks : 1, sizeof(char *));
    for (size_t i = 0; w->tasks && i < h->n_tasks; i++)
        if ((w->tasks[w->ntasks] = strdup(h->tasks[i])))
            w->ntasks++;
    mlos__hello__free_unpacked(h, NULL);
    w->state = W_READY;
    w->r->nworkers++;
    if (w->r->on_worker)
        w->r->on_worker(w->r, w);
}

static void on_reply(mlos_remote_worker_t *w, uint32_t id, const uint8_t *p, size_t n)
{
    mlos_remote_call_t **pp, *c;
    Mlos__TaskReply *m;
    for (pp = &w->pending; *pp && (*pp)->id != id; pp = &(*pp)->next)
        ;
    if (!(c = *pp)) {
        worker_drop(w, MLOS_EPROTO, "REPLY for no pending call", 1);
        return;
    }
    if (!(m = mlos__task_reply__unpack(NULL, n, p))) {
        worker_drop(w, MLOS_EPROTO, "REPLY does not decode", 1);
        return;
    }
    *pp = c->next;
    w->calls_done++;
    c->result = m->result.data;
    c->result_len = m->result.len;
    c->run_ns = m->run_ns;
    finish_call(c, m->status > 0 ? MLOS_ETASK : m->status, m->error);
    mlos__task_reply__free_unpacked(m, NULL);
}

struct owned_msg {
    mlos_wr_t wr;
    uint8_t buf[MLOS_REMOTE_AUTH_RESPONSE_SIZE];
};

static void owned_msg_done(mlos_wr_t *wr, int status) { free(wr->data); }

static void auth_refuse(mlos_remote_worker_t *w, const char *why)
{
    fprintf(stderr, "mlos remote: worker %u refused: %s\n", w->id, why);
    w->r->auth_failed++;
    worker_drop(w, MLOS_EAUTH, why, 1);
}

/* The master's half of the handshake (remote_auth.h). */
static void auth_step(mlos_remote_worker_t *w, uint32_t type, const uint8_t *p, size_t len)
{
    mlos_remote_t *r = w->r;
    struct owned_msg *o;

    if (type != MLOS_REMOTE_MSG_AUTH) {
        auth_refuse(w, "it did not authenticate (no shared secret, or an older worker)");
        return;
    }
    if (!r->secret.len) {
        auth_refuse(w, "it wants to authenticate, but this master runs without a secret (insecure)");
        return;
    }
    if (len < 2 || p[1] != MLOS_REMOTE_AUTH_VERSION) {
        auth_refuse(w, "unsupported authentication version");
        return;
    }
    if (w->state == W_AUTH) {
        if (p[0] != MLOS_REMOTE_AUTH_CHALLENGE || len != MLOS_REMOTE_AUTH_CHALLENGE_SIZE) {
            auth_refuse(w, "malformed authentication challenge");
            return;
        }
        memcpy(w->nonce_w, p + 2, MLOS_REMOTE_NONCE);
        if (!(o = malloc(sizeof(*o))) || mlos_remote_nonce(w->nonce_m) < 0) {
            free(o);
            worker_drop(w, MLOS_ENOMEM, "out of memory", 1);
            return;
        }
        o->buf[0] = MLOS_REMOTE_AUTH_RESPONSE;
        o->buf[1] = MLOS_REMOTE_AUTH_VERSION;
        memcpy(o->buf + 2, w->nonce_m, MLOS_REMOTE_NONCE);
        o->wr.data = o;
        if (mlos_remote_mac(&r->secret, MLOS_REMOTE_ROLE_MASTER, w->nonce_w, w->nonce_m,
                            o->buf + 2 + MLOS_REMOTE_NONCE) < 0 ||
            mlos_send(&w->ep, &o->wr, MLOS_REMOTE_MSG_AUTH, o->buf, MLOS_REMOTE_AUTH_RESPONSE_SIZE,
                      owned_msg_done) < 0) {
            free(o);
            worker_drop(w, MLOS_ECONNRESET, "cannot answer the challenge", 1);
            return;
        }
        w->state = W_PROOF;
        return;
    }
    if (p[0] != MLOS_REMOTE_AUTH_PROOF || len != MLOS_REMOTE_AUTH_PROOF_SIZE) {
        auth_refuse(w, "malformed authentication proof");
        return;
    }
    if (!mlos_remote_mac_ok(&r->secret, MLOS_REMOTE_ROLE_WORKER, w->nonce_w, w->nonce_m, p + 2)) {
        auth_refuse(w, "wrong proof of the shared secret");
        return;
    }
    w->authed = 1;
    w->state = W_HELLO;
}

static void on_recv(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    mlos_remote_worker_t *w = ep->data;
    mlos_remote_t *r = w->r;
    struct mlos_frame_hdr h;
    const uint8_t *payload;
    int rc;

    if (w->state == W_CLOSING)
        return;
    if (w->state == W_AUTH || w->state == W_PROOF) {
        if (!r->secret.len && w->state == W_AUTH && type != MLOS_REMOTE_MSG_AUTH) {
            w->state = W_HELLO; /* insecure master: straight to HELLO */
        } else {
            auth_step(w, type, data, len);
            return;
        }
    }
    if (type == MLOS_REMOTE_MSG_RKEY) {
        if (mlos_rkey_decode(data, len, &w->bulk) == 0) {
            w->has_rkey = 1;
            w->bulk_len = w->bulk.len;
        }
        return;
    }
    rc = mlos_frame_decode(data, len, MLOS_EP_MAX_MSG, &h, &payload);
    if (rc < 0 || (size_t)rc != len) {
        worker_drop(w, MLOS_EPROTO, "malformed frame", 1);
        return;
    }
    if (w->state == W_HELLO && h.type == MLOS_FRAME_HELLO)
        on_hello(w, payload, h.length);
    else if (w->state == W_READY && h.type == MLOS_FRAME_REPLY)
        on_reply(w, h.request_id, payload, h.length);
    else if (h.type == MLOS_FRAME_LOG) {
        Mlos__Log *m = mlos__log__unpack(NULL, h.length, payload);
        if (m) {
            fprintf(stderr, "[remote %u] %s\n", w->id, m->text);
            mlos__log__free_unpacked(m, NULL);
        }
    } else
        worker_drop(w, MLOS_EPROTO, "unexpected frame", 1);
}

static void on_fail(mlos_ep_t *ep, int status)
{
    mlos_remote_worker_t *w = ep->data;
    worker_drop(w, status ? status : MLOS_ECONNRESET, "remote worker disconnected", 1);
}

static void on_connection(mlos_listener_t *l, int status)
{
    mlos_remote_t *r = l->data;
    mlos_remote_worker_t *w;
    if (status < 0 || r->closing || !(w = calloc(1, sizeof(*w))))
        return;
    w->r = r;
    w->id = ++r->next_id;
    w->t_accept = uv_hrtime();
    w->ep.data = w;
    w->ep.on_recv = on_recv;
    w->ep.on_fail = on_fail;
    if (mlos_accept(l, &w->ep) < 0) {
        r->rejected++;
        free(w);
        return;
    }
    snprintf(w->transport, sizeof(w->transport), "%s", w->ep.transport);
    w->next = r->workers;
    r->workers = w;
    r->handles_open++;
}

/* Drop connections that have not said HELLO in time. */
static void on_sweep(uv_timer_t *t)
{
    mlos_remote_t *r = t->data;
    uint64_t now = uv_hrtime();
    mlos_remote_worker_t *w, *next;
    for (w = r->workers; w; w = next) {
        next = w->next;
        if ((w->state == W_AUTH || w->state == W_PROOF || w->state == W_HELLO) &&
            now - w->t_accept > r->hello_timeout_ms * 1000000ull)
            worker_drop(w, MLOS_ETIMEDOUT, "no HELLO in time", 1);
    }
}

int mlos_remote_listen(mlos_remote_t *r, uv_loop_t *loop, const char *addr, const struct mlos_remote_opts *opts,
                       mlos_remote_worker_cb on_worker)
{
    int rc;
    void *user = r ? r->data : NULL;
    char why[256];
    if (!r || !loop || !addr)
        return MLOS_EINVAL;
    memset(r, 0, sizeof(*r));
    r->data = user;
    r->loop = loop;
    r->on_worker = on_worker;
    r->hello_timeout_ms = opts && opts->hello_timeout_ms ? opts->hello_timeout_ms : 10000;
    r->on_gone = opts ? opts->on_gone : NULL;
    if ((rc = mlos_remote_secret_load(&r->secret, opts ? opts->secret : NULL, opts ? opts->secret_file : NULL,
                                      opts && opts->insecure, why, sizeof(why))) < 0) {
        fprintf(stderr, "mlos remote: %s\n", why);
        return rc;
    }
    if (!r->secret.len)
        fprintf(stderr, "mlos remote: WARNING: accepting workers without authentication (insecure): anyone who "
                        "can reach %s can act as a worker\n", addr);
    if ((rc = mlos_domain_init(&r->dom, loop, 0)) < 0) {
        mlos_remote_secret_clear(&r->secret);
        return rc;
    }
    r->lis.data = r;
    if ((rc = mlos_listen(&r->dom, &r->lis, addr, on_connection)) < 0) {
        mlos_domain_close(&r->dom);
        mlos_remote_secret_clear(&r->secret);
        return rc;
    }
    uv_timer_init(loop, &r->sweep);
    r->sweep.data = r;
    uv_timer_start(&r->sweep, on_sweep, 200, 200);
    r->handles_open = 1; /* the sweep timer */
    return 0;
}

int mlos_remote_addr(const mlos_remote_t *r, char *out, size_t cap)
{
    return r ? mlos_listener_addr(&r->lis, out, cap) : MLOS_EINVAL;
}

void mlos_remote_worker_stop(mlos_remote_worker_t *w)
{
    if (!w || w->state == W_CLOSING)
        return;
    if (w->state == W_READY)
        (void)mlos_send_frame(&w->ep, MLOS_FRAME_STOP, 0, NULL);
    worker_drop(w, 0, "worker stopped", 0);
}

static void maybe_closed(mlos_remote_t *r)
{
    if (!r->closing || r->handles_open)
        return;
    mlos_domain_close(&r->dom);
    mlos_remote_secret_clear(&r->secret);
    if (r->on_close)
        r->on_close(r);
    r->closing = 2;
}

static void on_sweep_closed(uv_handle_t *h)
{
    mlos_remote_t *r = h->data;
    r->handles_open--;
    maybe_closed(r);
}

void mlos_remote_close(mlos_remote_t *r, mlos_remote_close_cb cb)
{
    mlos_remote_worker_t *w, *next;
    if (!r || r->closing)
        return;
    r->closing = 1;
    r->on_close = cb;
    mlos_listener_close(&r->lis);
    for (w = r->workers; w; w = next) {
        next = w->next;
        mlos_remote_worker_stop(w);
    }
    uv_close((uv_handle_t *)&r->sweep, on_sweep_closed);
}

/* ---- synchronous helpers ---- */

int mlos_remote_wait_workers(mlos_remote_t *r, unsigned n, unsigned timeout_ms)
{
    uint64_t end = uv_hrtime() + timeout_ms * 1000000ull;
    while (r->nworkers < n && uv_hrtime() < end)
        uv_run(r->loop, UV_RUN_ONCE);
    return r->nworkers >= n ? 0 : MLOS_ETIMEDOUT;
}

mlos_remote_worker_t *mlos_remote_worker_at(mlos_remote_t *r, unsigned i)
{
    /* the list is newest first; count ready workers from the tail */
    unsigned total = 0, k = 0;
    mlos_remote_worker_t *w;
    for (w = r->workers; w; w = w->next)
        total += w->state == W_READY;
    if (i >= total)
        return NULL;
    for (w = r->workers; w; w = w->next)
        if (w->state == W_READY && k++ == total - 1 - i)
            return w;
    return NULL;
}

struct sync_call {
    int done;
    void **result;
    size_t *result_len;
    char *err;
    size_t err_len;
    uint64_t rtt;
};

static void sync_cb(mlos_remote_call_t *req, int status)
{
    struct sync_call *s = req->data;
    s->done = 1;
    s->rtt = req->rtt_ns;
    if (status == 0 && s->result) {
        *s->result = malloc(req->result_len ? req->result_len : 1);
        if (*s->result && req->result_len)
            memcpy(*s->result, req->result, req->result_len);
        if (s->result_len)
            *s->result_len = req->result_len;
    } else if (status && s->err && s->err_len)
        snprintf(s->err, s->err_len, "%s", req->error);
}

int mlos_remote_call_sync(mlos_remote_worker_t *w, const char *task, const void *arg, size_t len, void **result,
                          size_t *result_len, char *err, size_t err_len, uint64_t *rtt_ns)
{
    struct sync_call s = {0, result, result_len, err, err_len, 0};
    mlos_remote_call_t req = {.data = &s};
    uv_loop_t *loop = w ? w->r->loop : NULL;
    int rc = mlos_remote_call(w, &req, task, arg, len, sync_cb);
    if (rc < 0) {
        if (err && err_len)
            snprintf(err, err_len, "%s", mlos_strerror(rc));
        return rc;
    }
    while (!s.done)
        uv_run(loop, UV_RUN_ONCE);
    if (rtt_ns)
        *rtt_ns = s.rtt;
    return req.status;
}

struct sync_put {
    int done, status;
};

static void put_cb(mlos_wr_t *wr, int status)
{
    struct sync_put *s = wr->data;
    s->done = 1;
    s->status = status;
}

int mlos_remote_put_sync(mlos_remote_worker_t *w, uint64_t offset, const void *src, size_t len)
{
    mlos_mr_t mr;
    mlos_wr_t wr;
    struct sync_put s = {0, 0};
    int rc;
    if (!w || (len && !src))
        return MLOS_EINVAL;
    if (w->state != W_READY)
        return MLOS_ESHARDDIED;
    if (!w->has_rkey)
        return MLOS_ENOTSUP;
    if (offset > w->bulk.len || len > w->bulk.len - offset)
        return MLOS_ERANGE;
    if (!len)
        return 0;
    if ((rc = mlos_mr_reg(&w->r->dom, &mr, (void *)src, len, MLOS_ACCESS_LOCAL)) < 0)
        return rc;
    wr.data = &s;
    if ((rc = mlos_ep_put(&w->ep, &wr, &mr, 0, &w->bulk, offset, len, put_cb)) == 0)
        while (!s.done)
            uv_run(w->r->loop, UV_RUN_ONCE);
    mlos_mr_dereg(&mr);
    return rc < 0 ? rc : s.status;
}

static void close_sync_cb(mlos_remote_t *r) { r->closing = 2; }

void mlos_remote_close_sync(mlos_remote_t *r)
{
    mlos_remote_close(r, close_sync_cb);
    while (r->closing != 2)
        uv_run(r->loop, UV_RUN_ONCE);
    /* let the listener's own handle close */
    uv_run(r->loop, UV_RUN_NOWAIT);
}
