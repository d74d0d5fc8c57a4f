/* The "verbs:" transport: RC queue pairs over libibverbs (a RoCE NIC or
 * Soft-RoCE), set up over a TCP side channel.
 *
 * Why a TCP side channel and not rdma_cm: it needs no rdma_cm/rdma_ucm/
 * ib_cm/iw_cm kernel modules (and no configfs) beside ib_uverbs, the
 * listener reports its real port like "tcp:" does, and the open connection
 * tells each side at once when the other process goes away -- an RC queue
 * pair alone only notices when a request runs out of retries.
 *
 * Setup (records in msg_verbs_wire.h):
 *   connector                               acceptor
 *   TCP connect  ------------------------>  listener callback; mlos_accept
 *   QP created, INIT, receives posted       QP created, INIT, receives posted
 *   HELLO{qpn,psn,gid,mtu,...}  --------->  QP -> RTR -> RTS
 *                               <---------  ACCEPT{qpn,psn,gid,mtu,...}
 *   QP -> RTR -> RTS; connect cb(0)
 *   READY  ------------------------------>  may send from now on
 * The acceptor holds its sends until READY so that nothing reaches the
 * connector's queue pair before it is in RTR. Either side answers a record
 * it cannot use with REJECT{status} and fails. The GID is the one that
 * matches the local address of the TCP connection (msg_verbs_dev.h).
 * Connect timeout: MLOS_ETIMEDOUT; refused TCP connect: MLOS_ECONNREFUSED.
 *
 * After setup the TCP connection carries EOF -- a peer that closes or dies
 * makes the endpoint fail with MLOS_ECONNRESET (after delivering what
 * already arrived on the queue pair) -- and the RESET/RESUME records of a
 * queue pair recovery (msg_verbs_recover.c).
 *
 * The domain's RDMA device is opened at mlos_domain_init with
 * MLOS_DOMAIN_VERBS, else by the first listen/connect here; with no device
 * listen and connect return MLOS_ENOTSUP.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "msg_verbs_ep.h"

enum { STAGE_TCP, STAGE_HELLO, STAGE_ACCEPT, STAGE_READY, STAGE_OPEN };

#define HANDSHAKE_MS 5000 /* acceptor side: HELLO and READY must come by then */
#define QP_TIMEOUT 16     /* 4.096 us * 2^16 = 268 ms per try; generous for emulated hosts */

void verbs_log(const char *fmt, ...)
{
    static int on = -1;
    va_list ap;
    if (on < 0) {
        const char *e = getenv("MLOS_VERBS_DEBUG");
        on = e && *e && *e != '0';
    }
    if (!on)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- teardown ---- */

static void handle_closed(uv_handle_t *h)
{
    struct verbs_ep *v = h->data;
    mlos_ep_t *ep;
    if (--v->handles_open > 0 || !v->closing) /* a failure closes tcp early */
        return;
    ep = v->ep;
    verbs_data_free(v);
    free(v);
    ep->impl = NULL;
    mlos__ep_closed(ep);
}

static void close_handle(struct verbs_ep *v, uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h)) {
        v->handles_open++;
        uv_close(h, handle_closed);
    }
}

/* Stop all I/O and complete what is outstanding; handles stay until close. */
static void quiesce(struct verbs_ep *v)
{
    struct ibv_qp_attr a = {.qp_state = IBV_QPS_ERR};
    v->failed = 1;
    if (v->qp)
        ibv_modify_qp(v->qp, &a, IBV_QP_STATE); /* the NIC stops touching our memory */
    if (v->tcp_init)
        uv_read_stop((uv_stream_t *)&v->tcp);
    if (v->poll_init) {
        uv_poll_stop(&v->cq_poll);
        uv_idle_stop(&v->spin);
    }
    uv_timer_stop(&v->timer);
    verbs_data_abort(v);
}

/* Closing a socket that still holds unread bytes makes the kernel send a
 * reset and drop what we wrote last, e.g. a REJECT saying why: read them
 * away first, so the peer gets our last record and then end of stream. */
static void drain_side_channel(struct verbs_ep *v)
{
    uv_os_fd_t fd;
    char sink[4096];
    if (uv_fileno((uv_handle_t *)&v->tcp, &fd) == 0)
        for (int i = 0; i < 64 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
            ;
}

void verbs_fail(struct verbs_ep *v, int status)
{
    if (v->failed)
        return;
    verbs_log("verbs: endpoint failed: %s", mlos_strerror(status));
    quiesce(v);
    if (v->tcp_init) { /* tell the peer now, not when we are closed */
        drain_side_channel(v);
        close_handle(v, (uv_handle_t *)&v->tcp);
    }
    mlos__ep_failed(v->ep, status);
}

static void verbs_close(mlos_ep_t *ep)
{
    struct verbs_ep *v = ep->impl;
    if (!v) {
        mlos__ep_closed(ep);
        return;
    }
    if (!v->failed)
        quiesce(v);
    v->closing = 1;
    v->handles_open++; /* guard while closing the handles */
    if (v->tcp_init)
        close_handle(v, (uv_handle_t *)&v->tcp);
    if (v->poll_init) {
        close_handle(v, (uv_handle_t *)&v->cq_poll);
        close_handle(v, (uv_handle_t *)&v->spin);
    }
    close_handle(v, (uv_handle_t *)&v->timer);
    handle_closed((uv_handle_t *)&v->timer); /* drop the guard */
}

/* ---- side channel ---- */

struct out_rec {
    uv_write_t req;
    uint8_t buf[MLOS_VERBS_SETUP_SIZE];
};

static void wrote(uv_write_t *req, int status)
{
    struct verbs_ep *v = req->handle->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED && !v->failed)
        verbs_fail(v, MLOS_ECONNRESET);
}

int verbs_send_rec(struct verbs_ep *v, const struct mlos_verbs_setup *s)
{
    struct out_rec *o = malloc(sizeof(*o));
    uv_buf_t b;
    if (!o)
        return MLOS_ENOMEM;
    mlos_verbs_setup_encode(s, o->buf);
    b = uv_buf_init((char *)o->buf, sizeof(o->buf));
    if (uv_write(&o->req, (uv_stream_t *)&v->tcp, &b, 1, wrote) < 0) {
        free(o);
        return MLOS_ECONNRESET;
    }
    return 0;
}

static void reject(struct verbs_ep *v, int status)
{
    struct mlos_verbs_setup s = {.kind = MLOS_VERBS_REJECT, .status = status};
    verbs_send_rec(v, &s);
    verbs_fail(v, status);
}

/* Our half of HELLO/ACCEPT. */
static void local_info(struct verbs_ep *v, uint8_t kind, struct mlos_verbs_setup *s)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->mtu = (uint8_t)v->dev->pattr.active_mtu;
    s->qpn = v->qp->qp_num;
    s->psn = v->psn;
    s->lid = v->dev->pattr.lid;
    s->slots = MLOS_VERBS_SLOTS;
    s->slot_size = MLOS_VERBS_SLOT_SIZE;
    memcpy(s->gid, v->gid.raw, 16);
    s->rd_atomic = v->rd_atomic;
}

int verbs_qp_connect(struct verbs_ep *v, const struct mlos_verbs_setup *peer)
{
    struct mlos_verbs_dev *d = v->dev;
    struct ibv_qp_attr a = {0};
    int rd = d->dattr.max_qp_init_rd_atom;

    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = (enum ibv_mtu)(peer->mtu < d->pattr.active_mtu ? peer->mtu : d->pattr.active_mtu);
    a.dest_qp_num = peer->qpn;
    a.rq_psn = peer->psn;
    a.max_dest_rd_atomic = v->rd_atomic;
    a.min_rnr_timer = 12;
    a.ah_attr.dlid = peer->lid;
    a.ah_attr.port_num = d->port;
    if (d->pattr.link_layer != IBV_LINK_LAYER_INFINIBAND) {
        a.ah_attr.is_global = 1;
        memcpy(a.ah_attr.grh.dgid.raw, peer->gid, 16);
        a.ah_attr.grh.sgid_index = (uint8_t)v->gid_index;
        a.ah_attr.grh.hop_limit = 64;
    }
    if (ibv_modify_qp(v->qp, &a,
                      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                          IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER)) {
        verbs_log("verbs: QP to RTR failed");
        return MLOS_EIO;
    }
    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_RTS;
    a.timeout = QP_TIMEOUT;
    a.retry_cnt = 7;
    a.rnr_retry = 7; /* credits make RNR impossible; if it happens anyway, keep trying */
    a.sq_psn = v->psn;
    if (rd > peer->rd_atomic)
        rd = peer->rd_atomic;
    a.max_rd_atomic = (uint8_t)(rd > 0 ? rd : 1);
    if (ibv_modify_qp(v->qp, &a,
                      IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                          IBV_QP_MAX_QP_RD_ATOMIC)) {
        verbs_log("verbs: QP to RTS failed");
        return MLOS_EIO;
    }
    return 0;
}

uint32_t verbs_new_psn(void)
{
    uint32_t psn;
    if (getrandom(&psn, sizeof(psn), 0) != sizeof(psn))
        psn = (uint32_t)uv_hrtime();
    return psn & 0xffffff;
}

/* Queue pair, buffers and GID for the local end of the TCP connection. */
static int setup_local(struct verbs_ep *v)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss), rc;
    uint32_t ip;
    if (uv_tcp_getsockname(&v->tcp, (struct sockaddr *)&ss, &n) < 0 || ss.ss_family != AF_INET)
        return MLOS_ENOTSUP;
    ip = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
    if (mlos_verbs_find_gid(v->dev, ip, &v->gid_index, &v->gid) < 0) {
        verbs_log("verbs: device %s has no GID for the local address", v->dev->name);
        return MLOS_ENOTSUP;
    }
    if ((rc = verbs_data_init(v)) < 0)
        return rc;
    v->psn = verbs_new_psn();
    v->rd_atomic = (uint8_t)(v->dev->dattr.max_qp_rd_atom > 16 ? 16 : v->dev->dattr.max_qp_rd_atom);
    if (!v->rd_atomic)
        v->rd_atomic = 1;
    if (uv_poll_init(v->ep->dom->loop, &v->cq_poll, v->ch->fd) < 0)
        return MLOS_EIO;
    uv_idle_init(v->ep->dom->loop, &v->spin); /* cannot fail */
    v->poll_init = 1;
    v->cq_poll.data = v;
    v->spin.data = v;
    uv_poll_start(&v->cq_poll, UV_READABLE, verbs_data_cq_ready);
    return 0;
}

static void became_ready(struct verbs_ep *v)
{
    v->stage = STAGE_OPEN;
    /* Unless our QP already erred as the target of the peer's first
     * requests (before READY came): then recovery and its timer decide. */
    if (v->rec == MLOS_VERBS_REC_NONE) {
        v->ready = 1;
        uv_timer_stop(&v->timer);
    }
    if (v->side == 0)
        mlos__ep_connected(v->ep, 0); /* OPEN before anything is delivered */
    if (!v->failed)
        verbs_data_drain(v); /* anything that arrived meanwhile, then post what waits */
}

/* One complete setup record arrived. */
static void on_record(struct verbs_ep *v)
{
    struct mlos_verbs_setup s, mine;
    const char *why = NULL;
    int rc = mlos_verbs_setup_decode(v->in, sizeof(v->in), &s, &why);
    if (rc < 0) {
        verbs_log("verbs: bad setup record: %s", why);
        reject(v, MLOS_EPROTO);
        return;
    }
    if (s.kind == MLOS_VERBS_REJECT) {
        static struct mlos_log_limit lim;
        if (s.status == MLOS_EKEY && mlos__log_allowed(&lim))
            fprintf(stderr, "mlos verbs: the peer closed the connection: its NIC refused too many of this side's "
                            "accesses\n");
        else
            verbs_log("verbs: the peer refused the connection: %s", mlos_strerror(s.status));
        verbs_fail(v, s.status);
        return;
    }
    switch (v->stage) {
    case STAGE_OPEN:
        if (s.kind != MLOS_VERBS_RESET && s.kind != MLOS_VERBS_RESUME)
            break;
        verbs_recover_record(v, &s);
        return;
    case STAGE_HELLO: /* acceptor */
        if (s.kind != MLOS_VERBS_HELLO)
            break;
        if ((rc = verbs_qp_connect(v, &s)) < 0) {
            reject(v, rc);
            return;
        }
        v->peer = s;
        local_info(v, MLOS_VERBS_ACCEPT, &mine);
        if ((rc = verbs_send_rec(v, &mine)) < 0) {
            verbs_fail(v, rc);
            return;
        }
        v->stage = STAGE_READY;
        return;
    case STAGE_READY: /* acceptor */
        if (s.kind != MLOS_VERBS_READY)
            break;
        became_ready(v);
        return;
    case STAGE_ACCEPT: /* connector */
        if (s.kind != MLOS_VERBS_ACCEPT)
            break;
        if ((rc = verbs_qp_connect(v, &s)) < 0) {
            reject(v, rc);
            return;
        }
        v->peer = s;
        memset(&mine, 0, sizeof(mine));
        mine.kind = MLOS_VERBS_READY;
        if ((rc = verbs_send_rec(v, &mine)) < 0) {
            verbs_fail(v, rc);
            return;
        }
        became_ready(v);
        return;
    }
    verbs_log("verbs: setup record of kind %u out of turn", s.kind);
    reject(v, MLOS_EPROTO);
}

static void alloc_in(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct verbs_ep *v = h->data;
    *b = uv_buf_init((char *)v->in + v->in_len, (unsigned)(sizeof(v->in) - v->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct verbs_ep *v = s->data;
    if (v->failed)
        return;
    if (nread < 0) {
        /* The peer left: hand over what its queue pair already delivered. */
        if (v->ready)
            verbs_data_drain(v);
        verbs_fail(v, v->side == 0 && v->stage != STAGE_OPEN ? MLOS_ECONNREFUSED : MLOS_ECONNRESET);
        return;
    }
    v->in_len += (size_t)nread;
    if (v->in_len == sizeof(v->in)) {
        v->in_len = 0;
        on_record(v);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct verbs_ep *v = t->data;
    if (!v->ready)
        verbs_fail(v, v->pending_rc ? v->pending_rc : MLOS_ETIMEDOUT);
}

/* A setup error found inside an entry point, reported from the loop. */
static void deferred_fail(uv_timer_t *t)
{
    struct verbs_ep *v = t->data;
    reject(v, v->pending_rc);
}

static void free_owner(uv_handle_t *h) { free(h->data); }

static struct verbs_ep *new_ep(mlos_ep_t *ep, int side)
{
    struct verbs_ep *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->ep = ep;
    v->dev = ep->dom->verbs;
    v->side = side;
    v->asm_have = -1;
    uv_timer_init(ep->dom->loop, &v->timer);
    v->timer.data = v;
    ep->impl = v;
    return v;
}

/* ---- connecting ---- */

static void on_connected(uv_connect_t *req, int status)
{
    struct verbs_ep *v = req->data;
    struct mlos_verbs_setup hello;
    int rc;
    if (v->failed)
        return;
    if (status < 0) {
        verbs_fail(v, status == UV_ECONNREFUSED ? MLOS_ECONNREFUSED
                      : status == UV_ETIMEDOUT  ? MLOS_ETIMEDOUT
                                                : MLOS_ECONNRESET);
        return;
    }
    if ((rc = setup_local(v)) < 0) {
        reject(v, rc);
        return;
    }
    local_info(v, MLOS_VERBS_HELLO, &hello);
    if ((rc = verbs_send_rec(v, &hello)) < 0 || uv_read_start((uv_stream_t *)&v->tcp, alloc_in, on_read) < 0) {
        verbs_fail(v, MLOS_ECONNRESET);
        return;
    }
    v->stage = STAGE_ACCEPT;
}

static int verbs_connect(mlos_ep_t *ep, const char *where, unsigned timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct verbs_ep *v;
    uint32_t ip;
    uint16_t port;
    if (mlos_verbs_parse_addr(where, &ip, &port, 0) < 0)
        return MLOS_EINVAL;
    if (mlos_verbs_dom_ensure(ep->dom) < 0)
        return MLOS_ENOTSUP;
    sa.sin_addr.s_addr = htonl(ip);
    sa.sin_port = htons(port);
    if (!(v = new_ep(ep, 0)))
        return MLOS_ENOMEM;
    uv_tcp_init(ep->dom->loop, &v->tcp);
    v->tcp_init = 1;
    v->tcp.data = v;
    uv_tcp_nodelay(&v->tcp, 1);
    v->creq.data = v;
    v->stage = STAGE_TCP;
    if (uv_tcp_connect(&v->creq, &v->tcp, (struct sockaddr *)&sa, on_connected) < 0) {
        /* Report through the callback, from the loop. */
        v->pending_rc = MLOS_ECONNREFUSED;
        uv_timer_start(&v->timer, on_timeout, 0, 0);
        return 0;
    }
    v->timeout_ms = timeout_ms;
    uv_timer_start(&v->timer, on_timeout, timeout_ms, 0);
    return 0;
}

/* ---- listening ---- */

struct verbs_listener {
    uv_tcp_t tcp;
    mlos_listener_t *l;
};

static void on_incoming(uv_stream_t *server, int status)
{
    struct verbs_listener *vl = server->data;
    mlos__listener_incoming(vl->l, status < 0 ? MLOS_EIO : 0);
}

static int verbs_listen(mlos_listener_t *l, const char *where)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct verbs_listener *vl;
    uint32_t ip;
    uint16_t port;
    int idx;
    union ibv_gid gid;
    if (mlos_verbs_parse_addr(where, &ip, &port, 1) < 0)
        return MLOS_EINVAL;
    if (mlos_verbs_dom_ensure(l->dom) < 0)
        return MLOS_ENOTSUP;
    if (ip != 0 && mlos_verbs_find_gid(l->dom->verbs, ip, &idx, &gid) < 0)
        return MLOS_ENOTSUP; /* that address is not on the RDMA device */
    if (!(vl = calloc(1, sizeof(*vl))))
        return MLOS_ENOMEM;
    vl->l = l;
    sa.sin_addr.s_addr = htonl(ip);
    sa.sin_port = htons(port);
    uv_tcp_init(l->dom->loop, &vl->tcp);
    vl->tcp.data = vl;
    if (uv_tcp_bind(&vl->tcp, (struct sockaddr *)&sa, 0) < 0 ||
        uv_listen((uv_stream_t *)&vl->tcp, 128, on_incoming) < 0) {
        uv_close((uv_handle_t *)&vl->tcp, free_owner);
        return MLOS_EIO;
    }
    l->impl = vl;
    return 0;
}

static int verbs_accept(mlos_listener_t *l, mlos_ep_t *ep)
{
    struct verbs_listener *vl = l->impl;
    struct verbs_ep *v;
    int rc;
    if (!vl)
        return MLOS_EINVAL;
    if (!(v = new_ep(ep, 1)))
        return MLOS_ENOMEM;
    uv_tcp_init(ep->dom->loop, &v->tcp);
    v->tcp.data = v;
    if (uv_accept((uv_stream_t *)&vl->tcp, (uv_stream_t *)&v->tcp) < 0) {
        ep->impl = NULL;
        uv_close((uv_handle_t *)&v->tcp, NULL);
        uv_close((uv_handle_t *)&v->timer, free_owner); /* v goes with its last handle */
        return MLOS_EAGAIN;
    }
    v->tcp_init = 1;
    uv_tcp_nodelay(&v->tcp, 1);
    v->stage = STAGE_HELLO;
    v->timeout_ms = HANDSHAKE_MS;
    if ((rc = setup_local(v)) < 0) {
        /* ep is OPEN only once we return: fail from the loop */
        verbs_log("verbs: accept: local setup failed: %s", mlos_strerror(rc));
        v->pending_rc = rc;
        uv_timer_start(&v->timer, deferred_fail, 0, 0);
        return 0;
    }
    uv_read_start((uv_stream_t *)&v->tcp, alloc_in, on_read);
    uv_timer_start(&v->timer, on_timeout, HANDSHAKE_MS, 0);
    return 0;
}

static int verbs_listener_addr(const mlos_listener_t *l, char *out, size_t cap)
{
    const struct verbs_listener *vl = l->impl;
    struct sockaddr_in sa;
    int n = sizeof(sa);
    char ip[INET_ADDRSTRLEN];
    if (!vl || uv_tcp_getsockname(&vl->tcp, (struct sockaddr *)&sa, &n) < 0 ||
        !inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip)))
        return MLOS_EINVAL;
    return (size_t)snprintf(out, cap, "verbs:%s:%u", ip, ntohs(sa.sin_port)) < cap ? 0 : MLOS_ETOOBIG;
}

static void verbs_listener_close(mlos_listener_t *l)
{
    struct verbs_listener *vl = l->impl;
    if (!vl)
        return;
    l->impl = NULL;
    uv_close((uv_handle_t *)&vl->tcp, free_owner);
}

static int verbs_post(mlos_ep_t *ep, mlos_wr_t *wr)
{
    struct verbs_ep *v = ep->impl;
    if (!v || v->failed)
        return MLOS_ECONNRESET;
    verbs_spin_extend(v); /* its completion, and any answer, come soon */
    return verbs_data_post(v, wr);
}

static int verbs_set_spin(mlos_ep_t *ep, unsigned spin_us)
{
    struct verbs_ep *v = ep->impl;
    if (!v || v->failed)
        return MLOS_ECONNRESET;
    v->spin_us = spin_us;
    if (!spin_us && v->poll_init)
        uv_idle_stop(&v->spin);
    else
        verbs_spin_extend(v);
    return 0;
}

static unsigned verbs_refused(const mlos_ep_t *ep)
{
    const struct verbs_ep *v = ep->impl;
    return v ? v->peer_recoveries : 0;
}

static int verbs_forgive(mlos_ep_t *ep)
{
    struct verbs_ep *v = ep->impl;
    if (!v || !v->peer_recoveries)
        return MLOS_ENOENT;
    v->peer_recoveries--;
    return 0;
}

const struct mlos_transport mlos_transport_verbs = {
    .name = "verbs",
    .listen = verbs_listen,
    .accept = verbs_accept,
    .listener_addr = verbs_listener_addr,
    .listener_close = verbs_listener_close,
    .connect = verbs_connect,
    .close = verbs_close,
    .post = verbs_post,
    .refused = verbs_refused,
    .forgive = verbs_forgive,
    .set_spin = verbs_set_spin,
};
