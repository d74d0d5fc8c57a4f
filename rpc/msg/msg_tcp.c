/* rpc/msg/msg_tcp.c -- the "tcp:HOST:PORT" messaging transport (libuv TCP):
 * endpoint lifecycle and the transport entry points. Design, queues and
 * failure rules: msg_tcp_ep.h; bytes on the wire: msg_tcp_wire.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_tcp_ep.h"

#define IDLE_CHECK_MS (MLOS_EP_IDLE_TIMEOUT_MS / 10)

struct tcp_listener {
    uv_tcp_t tcp;
    mlos_listener_t *l;
};

/* ---- helpers ---- */

static int map_uv(int e)
{
    switch (e) {
    case UV_ECONNREFUSED: return MLOS_ECONNREFUSED;
    case UV_ETIMEDOUT: return MLOS_ETIMEDOUT;
    case UV_ENOMEM: case UV_ENOBUFS: return MLOS_ENOMEM;
    case UV_EINVAL: case UV_EAFNOSUPPORT: return MLOS_EINVAL;
    case UV_EOF: case UV_ECONNRESET: case UV_EPIPE: case UV_ECONNABORTED: case UV_ECANCELED:
        return MLOS_ECONNRESET;
    default: return MLOS_EIO;
    }
}

/* "HOST:PORT" with HOST dotted IPv4 or "localhost", PORT 0..65535. */
static int parse_addr(const char *where, int port_zero_ok, struct sockaddr_in *sa)
{
    const char *colon = where ? strrchr(where, ':') : NULL;
    char host[64];
    unsigned long port = 0;
    size_t hl, i;

    if (!colon || colon == where)
        return MLOS_EINVAL;
    hl = (size_t)(colon - where);
    if (hl >= sizeof(host) || !colon[1] || strlen(colon + 1) > 5)
        return MLOS_EINVAL;
    for (i = 1; colon[i]; i++) {
        if (colon[i] < '0' || colon[i] > '9')
            return MLOS_EINVAL;
        port = port * 10 + (unsigned long)(colon[i] - '0');
    }
    if (port > 65535 || (!port && !port_zero_ok))
        return MLOS_EINVAL;
    memcpy(host, where, hl);
    host[hl] = 0;
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : MLOS_EINVAL;
}

static int outstanding(const struct tcp_ep *t)
{
    return t->out.head || t->wait.head || t->rma.head || t->inflight_head || t->paused || t->aborting;
}

/* ---- teardown and reporting ---- */

static void on_final(mlos_wr_t *wr, int status)
{
    struct tcp_ep *t = wr->data;
    mlos_ep_t *ep = t->ep;
    int closed = t->close_requested, cs = t->connect_status;
    struct frame *f;

    while ((f = t->cache)) {
        t->cache = f->next;
        free(f);
    }
    free(t->rbuf);
    free(t);
    if (ep->impl == t)
        ep->impl = NULL;
    if (closed)
        mlos__ep_closed(ep);
    else if (cs)
        mlos__ep_connected(ep, cs);
}

/* Report the end once every handle is released: after close(), or after a
 * failed connect (nobody will call close for the user). */
static void maybe_finish(struct tcp_ep *t)
{
    if (t->handles || t->final_queued)
        return;
    if (t->silent) {
        free(t->rbuf);
        free(t);
        return;
    }
    if (!t->close_requested && !t->connect_status)
        return;
    t->final_queued = 1;
    t->final_wr.ep = t->ep;
    t->final_wr.data = t;
    t->final_wr.cb = on_final;
    mlos__wr_complete(&t->final_wr, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct tcp_ep *t = h->data;
    t->handles--;
    maybe_finish(t);
}

/* Complete everything outstanding with MLOS_ECONNRESET and close the
 * handles. Closing the socket at once stops libuv from still reading user
 * buffers whose requests we just completed. */
static void teardown(struct tcp_ep *t)
{
    if (t->torn)
        return;
    t->torn = 1;
    mlos__tcp_out_abort(t);
    if (t->sink.kind == SINK_SEND)
        free(t->sink.dest);
    t->sink.kind = SINK_NONE;
    uv_close((uv_handle_t *)&t->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&t->flusher, on_handle_closed);
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
}

/* The connection is unusable: tear down and tell the core. */
void mlos__tcp_fail(struct tcp_ep *t, int status)
{
    if (t->torn)
        return;
    teardown(t);
    if (!t->opened)
        t->connect_status = status; /* reported once the handles are gone */
    else
        mlos__ep_failed(t->ep, status);
}

void mlos__tcp_proto_fail(struct tcp_ep *t, int rc, const char *why)
{
    fprintf(stderr, "mlos tcp: dropping peer that broke the protocol: %s (%s)\n", why, mlos_strerror(rc));
    mlos__tcp_fail(t, MLOS_ECONNRESET);
}

/* Tell the peer why before closing: nothing more is read from it, the
 * ABORT goes out behind what is already queued, and the endpoint fails
 * once it is written (msg_tcp_out.c) or the idle timer gives up. */
void mlos__tcp_abort(struct tcp_ep *t, int status, const char *why)
{
    struct frame *f;
    if (t->torn || t->aborting)
        return;
    static struct mlos_log_limit lim;
    if (mlos__log_allowed(&lim))
        fprintf(stderr, "mlos tcp: closing the connection to a peer: %s\n", why);
    uv_read_stop((uv_stream_t *)&t->tcp);
    t->aborting = 1;
    t->abort_status = status;
    if (!(f = mlos__tcp_frame_new(t))) {
        mlos__tcp_fail(t, status);
        return;
    }
    f->h.op = MLOS_TCP_ABORT;
    f->h.arg = (uint32_t)status;
    fifo_push(&t->out, f);
    mlos__tcp_kick(t);
    mlos__tcp_arm_idle(t);
}

/* ---- connect and idle timer ---- */

static void on_timer(uv_timer_t *h)
{
    struct tcp_ep *t = h->data;
    if (!t->opened) {
        mlos__tcp_fail(t, MLOS_ETIMEDOUT);
        return;
    }
    if (!outstanding(t)) {
        uv_timer_stop(h);
        return;
    }
    if (uv_now(h->loop) - t->last_progress >= MLOS_EP_IDLE_TIMEOUT_MS) {
        if (t->paused)
            fprintf(stderr, "mlos tcp: dropping a peer that has not read its replies for %u ms\n",
                    (unsigned)MLOS_EP_IDLE_TIMEOUT_MS);
        mlos__tcp_fail(t, t->aborting ? t->abort_status : MLOS_ETIMEDOUT);
    }
}

void mlos__tcp_arm_idle(struct tcp_ep *t)
{
    if (!t->torn && t->opened && !uv_is_active((uv_handle_t *)&t->timer)) {
        t->last_progress = uv_now(t->tcp.loop);
        uv_timer_start(&t->timer, on_timer, IDLE_CHECK_MS, IDLE_CHECK_MS);
    }
}

/* ---- endpoints ---- */

static void on_hello_written(uv_write_t *req, int status)
{
    if (status < 0)
        mlos__tcp_fail(req->data, MLOS_ECONNRESET);
}

/* Common start once the socket is connected: hello out, reading on. */
static int start_stream(struct tcp_ep *t)
{
    int rc;
    uv_tcp_nodelay(&t->tcp, 1);
    mlos_tcp_hello_encode(t->hello);
    uv_buf_t b = uv_buf_init((char *)t->hello, sizeof(t->hello));
    t->hello_req.data = t;
    if ((rc = uv_write(&t->hello_req, (uv_stream_t *)&t->tcp, &b, 1, on_hello_written)) < 0 ||
        (rc = uv_read_start((uv_stream_t *)&t->tcp, mlos__tcp_alloc, mlos__tcp_read)) < 0)
        return map_uv(rc);
    return 0;
}

static struct tcp_ep *ep_new(mlos_ep_t *ep)
{
    struct tcp_ep *t = calloc(1, sizeof(*t));
    uv_loop_t *loop = ep->dom->loop;
    if (!t || !(t->rbuf = malloc(TCP_RBUF_CAP))) {
        free(t);
        return NULL;
    }
    t->ep = ep;
    t->credits = MLOS_EP_CREDITS;
    uv_tcp_init(loop, &t->tcp);
    uv_prepare_init(loop, &t->flusher);
    uv_timer_init(loop, &t->timer);
    t->tcp.data = t->flusher.data = t->timer.data = t;
    t->handles = 3;
    return t;
}

/* Setup failed before the core knows the endpoint: release quietly. */
static int abandon(struct tcp_ep *t, int rc)
{
    t->silent = 1;
    t->torn = 1;
    uv_close((uv_handle_t *)&t->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&t->flusher, on_handle_closed);
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
    return rc;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tcp_ep *t = req->data;
    int rc;
    if (t->torn)
        return;
    if (status < 0) {
        mlos__tcp_fail(t, map_uv(status));
        return;
    }
    if ((rc = start_stream(t)) < 0)
        mlos__tcp_fail(t, rc);
}

static int tcp_connect(mlos_ep_t *ep, const char *where, unsigned timeout_ms)
{
    struct sockaddr_in sa;
    struct tcp_ep *t;
    int rc = parse_addr(where, 0, &sa);
    if (rc < 0)
        return rc;
    if (!(t = ep_new(ep)))
        return MLOS_ENOMEM;
    t->creq.data = t;
    if ((rc = uv_tcp_connect(&t->creq, &t->tcp, (const struct sockaddr *)&sa, on_connect)) < 0)
        return abandon(t, map_uv(rc));
    uv_timer_start(&t->timer, on_timer, timeout_ms ? timeout_ms : 5000, 0);
    ep->impl = t;
    return 0;
}

static void closed_late(mlos_wr_t *w, int status)
{
    mlos_ep_t *ep = w->ep;
    free(w);
    mlos__ep_closed(ep);
}

static void tcp_close(mlos_ep_t *ep)
{
    struct tcp_ep *t = ep->impl;
    if (!t) {
        /* a connect that already failed: nothing left but the report */
        mlos_wr_t *w = calloc(1, sizeof(*w));
        if (!w) {
            mlos__ep_closed(ep); /* better early than never */
            return;
        }
        w->ep = ep;
        w->cb = closed_late;
        mlos__wr_complete(w, 0);
        return;
    }
    t->close_requested = 1;
    teardown(t);
    maybe_finish(t);
}

static int tcp_post(mlos_ep_t *ep, mlos_wr_t *wr)
{
    struct tcp_ep *t = ep->impl;
    struct fifo pieces = {NULL, NULL};
    struct frame *f;

    if (!t || t->torn)
        return MLOS_ECONNRESET;
    if (wr->op == MLOS_WR_SEND) {
        if (!(f = mlos__tcp_frame_new(t)))
            return MLOS_ENOMEM;
        f->wr = wr;
        f->last = 1;
        f->h.op = MLOS_TCP_SEND;
        f->h.arg = wr->type;
        f->h.len = (uint32_t)wr->len;
        f->payload = wr->buf;
        fifo_push(&pieces, f);
    } else {
        /* build every piece first so a failed allocation posts nothing */
        for (size_t done = 0; done < wr->len;) {
            size_t n = wr->len - done < MLOS_TCP_RMA_CHUNK ? wr->len - done : MLOS_TCP_RMA_CHUNK;
            if (!(f = mlos__tcp_frame_new(t))) {
                while ((f = fifo_pop(&pieces)))
                    mlos__tcp_frame_free(t, f);
                return MLOS_ENOMEM;
            }
            f->wr = wr;
            f->h.op = wr->op == MLOS_WR_PUT ? MLOS_TCP_PUT : MLOS_TCP_GET;
            f->h.arg = wr->remote.rkey;
            f->h.key = wr->remote.secret;
            f->h.id = ++t->next_id;
            f->h.off = wr->remote_off + done;
            f->h.len = (uint32_t)n;
            f->local_off = wr->local_off + done;
            if (wr->op == MLOS_WR_PUT)
                f->payload = (const uint8_t *)wr->local->addr + f->local_off;
            done += n;
            f->last = done == wr->len;
            fifo_push(&pieces, f);
        }
    }
    while ((f = fifo_pop(&pieces))) {
        t->own_rma += f->h.op == MLOS_TCP_PUT || f->h.op == MLOS_TCP_GET;
        mlos__tcp_enqueue(t, f);
    }
    mlos__tcp_kick(t);
    mlos__tcp_arm_idle(t);
    return 0;
}

/* ---- listener ---- */

static void on_listener_closed(uv_handle_t *h) { free(h->data); }

static void on_connection(uv_stream_t *s, int status)
{
    struct tcp_listener *L = s->data;
    mlos__listener_incoming(L->l, status < 0 ? map_uv(status) : 0);
}

static int tcp_listen(mlos_listener_t *l, const char *where)
{
    struct sockaddr_in sa;
    struct tcp_listener *L;
    int rc = parse_addr(where, 1, &sa);
    if (rc < 0)
        return rc;
    if (!(L = calloc(1, sizeof(*L))))
        return MLOS_ENOMEM;
    L->l = l;
    uv_tcp_init(l->dom->loop, &L->tcp);
    L->tcp.data = L;
    if ((rc = uv_tcp_bind(&L->tcp, (const struct sockaddr *)&sa, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&L->tcp, 128, on_connection)) < 0) {
        uv_close((uv_handle_t *)&L->tcp, on_listener_closed);
        return map_uv(rc);
    }
    l->impl = L;
    return 0;
}

static int tcp_accept(mlos_listener_t *l, mlos_ep_t *ep)
{
    struct tcp_listener *L = l->impl;
    struct tcp_ep *t;
    int rc;
    if (!L)
        return MLOS_EINVAL;
    if (!(t = ep_new(ep)))
        return MLOS_ENOMEM;
    if ((rc = uv_accept((uv_stream_t *)&L->tcp, (uv_stream_t *)&t->tcp)) < 0)
        return abandon(t, map_uv(rc) == MLOS_EIO ? MLOS_EAGAIN : map_uv(rc));
    if ((rc = start_stream(t)) < 0)
        return abandon(t, rc);
    t->opened = 1;
    ep->impl = t;
    return 0;
}

static int tcp_listener_addr(const mlos_listener_t *l, char *out, size_t cap)
{
    const struct tcp_listener *L = l->impl;
    struct sockaddr_in sa;
    int len = sizeof(sa), n;
    char host[INET_ADDRSTRLEN];
    if (!L || uv_tcp_getsockname(&L->tcp, (struct sockaddr *)&sa, &len) < 0 ||
        uv_ip4_name(&sa, host, sizeof(host)) < 0)
        return MLOS_EINVAL;
    n = snprintf(out, cap, "tcp:%s:%u", host, (unsigned)ntohs(sa.sin_port));
    return n > 0 && (size_t)n < cap ? 0 : MLOS_ETOOBIG;
}

static void tcp_listener_close(mlos_listener_t *l)
{
    struct tcp_listener *L = l->impl;
    if (!L)
        return;
    l->impl = NULL;
    uv_close((uv_handle_t *)&L->tcp, on_listener_closed);
}

const struct mlos_transport mlos_transport_tcp = {
    .name = "tcp",
    .listen = tcp_listen,
    .accept = tcp_accept,
    .listener_addr = tcp_listener_addr,
    .listener_close = tcp_listener_close,
    .connect = tcp_connect,
    .close = tcp_close,
    .post = tcp_post,
    .sendv = mlos__tcp_sendv,
    .places = 1,
};
