/* Messaging core: address dispatch, request validation, memory region keys
 * and completion delivery. Transports (msg_shm.c, msg_tcp.c, msg_verbs.c)
 * only move bytes. */
#define _GNU_SOURCE
#include "msg.h"

#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "frame.h"
#include "mlos_endian.h"
#include "msg_transport.h"
#include <protobuf-c/protobuf-c.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010 /* Linux 5.1; older C libraries lack the name */
#endif

#define SLOT_BITS 16u
#define MAX_MRS (1u << SLOT_BITS)

static const struct mlos_transport *const transports[] = {&mlos_transport_shm, &mlos_transport_tcp,
                                                          &mlos_transport_verbs};

/* "tcp:host:port" -> transport and "host:port". */
static const struct mlos_transport *pick(const char *addr, const char **where)
{
    if (!addr)
        return NULL;
    for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
        size_t n = strlen(transports[i]->name);
        if (!strncmp(addr, transports[i]->name, n) && addr[n] == ':') {
            *where = addr + n + 1;
            return transports[i];
        }
    }
    return NULL;
}

int mlos__log_allowed(struct mlos_log_limit *l)
{
    uint64_t now = uv_hrtime();
    if (now - l->t0 >= 1000000000ull) {
        if (l->dropped)
            fprintf(stderr, "mlos: %u more such messages suppressed in the last second\n", l->dropped);
        l->t0 = now;
        l->n = l->dropped = 0;
    }
    if (l->n < MLOS_LOG_BURST) {
        l->n++;
        return 1;
    }
    l->dropped++;
    return 0;
}

/* ---- completions: always delivered from the loop ---- */

static void complete_pending(uv_idle_t *h)
{
    mlos_domain_t *dom = h->data;
    mlos_wr_t *list = dom->done_head;
    dom->done_head = dom->done_tail = NULL;
    uv_idle_stop(h);
    while (list) {
        mlos_wr_t *wr = list;
        list = wr->next;
        wr->next = NULL;
        free(wr->owned); /* mlos_send_pb's packed copy */
        wr->owned = NULL;
        wr->cb(wr, wr->status);
    }
}

void mlos__wr_complete(mlos_wr_t *wr, int status)
{
    mlos_domain_t *dom = wr->ep->dom;
    wr->status = status;
    wr->next = NULL;
    if (dom->done_tail)
        dom->done_tail->next = wr;
    else
        dom->done_head = wr;
    dom->done_tail = wr;
    uv_idle_start(&dom->completer, complete_pending);
}

/* ---- domain and regions ---- */

int mlos_domain_init(mlos_domain_t *dom, uv_loop_t *loop, unsigned flags)
{
    if (!dom || !loop)
        return MLOS_EINVAL;
    void *user = dom->data;
    memset(dom, 0, sizeof(*dom));
    dom->data = user;
    dom->loop = loop;
    dom->mrs = calloc(MAX_MRS, sizeof(*dom->mrs));
    if (!dom->mrs)
        return MLOS_ENOMEM;
    if (flags & MLOS_DOMAIN_VERBS) {
        int rc = mlos__verbs_open(dom); /* before any handle: a failure leaves nothing to close */
        if (rc < 0) {
            free(dom->mrs);
            dom->mrs = NULL;
            return rc;
        }
    }
    uv_idle_init(loop, &dom->completer);
    dom->completer.data = dom;
    return 0;
}

int mlos_domain_close(mlos_domain_t *dom)
{
    if (!dom || !dom->mrs || dom->nmrs || dom->done_head)
        return MLOS_EINVAL;
    if (dom->verbs)
        mlos__verbs_close(dom);
    uv_close((uv_handle_t *)&dom->completer, NULL);
    free(dom->mrs);
    dom->mrs = NULL;
    return 0;
}

/* 64 bits from the kernel's generator. Never a fallback to something
 * weaker: a key that could be guessed is worse than no region. */
static int key_secret(uint64_t *out)
{
    uint8_t *p = (uint8_t *)out;
    size_t got = 0;
    while (got < sizeof(*out)) {
        ssize_t n = getrandom(p + got, sizeof(*out) - got, 0);
        if (n < 0 && errno != EINTR)
            return MLOS_EIO;
        if (n > 0)
            got += (size_t)n;
    }
    return 0;
}

/* Keys: the handle (low 16 bits the slot, high 16 bits a counter, so a
 * stale handle rarely even finds the slot's new region) is only an index;
 * what a peer must know is the secret, fresh random bits per registration. */
static int add_mr(mlos_domain_t *dom, mlos_mr_t *mr)
{
    uint64_t secret;
    if (key_secret(&secret) < 0)
        return MLOS_EIO;
    for (uint32_t i = 1; i < MAX_MRS; i++) {
        if (!dom->mrs[i]) {
            uint32_t tag = ++dom->generation & 0xffffu;
            if (!tag)
                tag = 1;
            mr->lkey = mr->rkey = tag << SLOT_BITS | i;
            mr->secret = secret;
            dom->mrs[i] = mr;
            dom->nmrs++;
            return 0;
        }
    }
    return MLOS_ENOMEM;
}

static int reg_common(mlos_domain_t *dom, mlos_mr_t *mr, void *addr, size_t len, unsigned access, int memfd)
{
    int rc;
    mr->addr = addr;
    mr->len = len;
    mr->access = access;
    mr->dom = dom;
    mr->memfd = memfd;
    mr->verbs_mr = NULL;
    mr->verbs_rkey = 0;
    if ((rc = add_mr(dom, mr)) < 0)
        return rc;
    if (dom->verbs && (rc = mlos__verbs_reg(dom, mr)) < 0) {
        dom->mrs[mr->rkey & (MAX_MRS - 1)] = NULL;
        dom->nmrs--;
        return rc;
    }
    return 0;
}

int mlos_mr_reg(mlos_domain_t *dom, mlos_mr_t *mr, void *addr, size_t len, unsigned access)
{
    if (!dom || !dom->mrs || !mr || !addr || !len || (access & ~3u))
        return MLOS_EINVAL;
    mr->owned = 0;
    return reg_common(dom, mr, addr, len, access, -1);
}

int mlos_mr_alloc(mlos_domain_t *dom, mlos_mr_t *mr, size_t len, unsigned access)
{
    int fd, rc;
    void *p;
    if (!dom || !dom->mrs || !mr || !len || (access & ~3u))
        return MLOS_EINVAL;
    /* The memfd may be handed to peers (the shm transport): sealed, they
     * cannot resize it under our mapping; without remote write access,
     * nobody but this mapping can write it, whatever descriptor a peer
     * manages to open on it. */
    fd = memfd_create("mlos-mr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return MLOS_EIO;
    if (ftruncate(fd, (off_t)len) < 0 ||
        (p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        close(fd);
        return MLOS_ENOMEM;
    }
    /* Kernels before 5.1 lack the write seal: peers then get a read-only
     * descriptor only (msg_shm.c), which a reopen through /proc upgrades. */
    if (!(access & MLOS_ACCESS_REMOTE_WRITE))
        (void)fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        munmap(p, len);
        close(fd);
        return MLOS_EIO;
    }
    mr->owned = 1;
    if ((rc = reg_common(dom, mr, p, len, access, fd)) < 0) {
        munmap(p, len);
        close(fd);
    }
    return rc;
}

int mlos_mr_dereg(mlos_mr_t *mr)
{
    mlos_domain_t *dom = mr ? mr->dom : NULL;
    uint32_t slot;
    if (!dom || !dom->mrs)
        return MLOS_EINVAL;
    slot = mr->rkey & (MAX_MRS - 1);
    if (dom->mrs[slot] != mr)
        return MLOS_EINVAL;
    dom->mrs[slot] = NULL;
    dom->nmrs--;
    for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
        if (transports[i]->revoke)
            transports[i]->revoke(dom, mr->rkey);
    if (mr->verbs_mr)
        mlos__verbs_dereg(mr);
    if (mr->owned) {
        munmap(mr->addr, mr->len);
        close(mr->memfd);
    }
    mr->dom = NULL;
    mr->memfd = -1;
    return 0;
}

static int range_ok(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

/* 1 if equal, in a time that does not depend on where they differ. */
static int secret_equal(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ b;
    return (int)(((x | (0 - x)) >> 63) ^ 1);
}

int mlos_mr_check(mlos_domain_t *dom, uint32_t rkey, uint64_t secret, uint64_t off, uint64_t len, unsigned need,
                  mlos_mr_t **out)
{
    mlos_mr_t *mr = dom && dom->mrs ? dom->mrs[rkey & (MAX_MRS - 1)] : NULL;
    /* both parts are always compared: the time taken says nothing about
     * which one was wrong */
    uint64_t want = mr ? mr->secret : ~secret;
    int ok = (mr != NULL) & (mr && mr->rkey == rkey) & secret_equal(want, secret);
    if (!ok)
        return MLOS_EKEY;
    if ((mr->access & need) != need)
        return MLOS_EACCES;
    if (!range_ok(off, len, mr->len))
        return MLOS_ERANGE;
    if (out)
        *out = mr;
    return 0;
}

void mlos_mr_rkey(const mlos_mr_t *mr, struct mlos_rkey *out)
{
    memset(out, 0, sizeof(*out));
    out->addr = (uint64_t)(uintptr_t)mr->addr;
    out->len = mr->len;
    out->rkey = mr->rkey;
    out->verbs_rkey = mr->verbs_rkey;
    out->access = mr->access;
    out->secret = mr->secret;
}

void mlos_rkey_encode(const struct mlos_rkey *k, uint8_t out[MLOS_RKEY_WIRE_SIZE])
{
    mlos_put_le64(out, k->addr);
    mlos_put_le64(out + 8, k->len);
    mlos_put_le32(out + 16, k->rkey);
    mlos_put_le32(out + 20, k->verbs_rkey);
    mlos_put_le32(out + 24, k->access);
    mlos_put_le32(out + 28, 0);
    mlos_put_le64(out + 32, k->secret);
}

int mlos_rkey_decode(const uint8_t *buf, size_t len, struct mlos_rkey *out)
{
    if (!buf || len < MLOS_RKEY_WIRE_SIZE)
        return MLOS_ETRUNC;
    out->addr = mlos_get_le64(buf);
    out->len = mlos_get_le64(buf + 8);
    out->rkey = mlos_get_le32(buf + 16);
    out->verbs_rkey = mlos_get_le32(buf + 20);
    out->access = mlos_get_le32(buf + 24);
    out->reserved = 0;
    out->secret = mlos_get_le64(buf + 32);
    if ((out->access & ~3u) || mlos_get_le32(buf + 28) != 0)
        return MLOS_EINVAL;
    return 0;
}

/* ---- listeners and endpoints ---- */

int mlos_listen(mlos_domain_t *dom, mlos_listener_t *l, const char *addr, mlos_connection_cb cb)
{
    const char *where;
    const struct mlos_transport *tp = pick(addr, &where);
    if (!dom || !dom->mrs || !l || !cb)
        return MLOS_EINVAL;
    if (!tp)
        return MLOS_EINVAL;
    l->dom = dom;
    l->tp = tp;
    l->impl = NULL;
    l->cb = cb;
    return tp->listen(l, where);
}

void mlos__listener_incoming(mlos_listener_t *l, int status) { l->cb(l, status); }

int mlos_listener_addr(const mlos_listener_t *l, char *out, size_t cap)
{
    return l && l->tp ? l->tp->listener_addr(l, out, cap) : MLOS_EINVAL;
}

void mlos_listener_close(mlos_listener_t *l)
{
    if (l && l->tp)
        l->tp->listener_close(l);
}

void mlos__ep_init(mlos_ep_t *ep, mlos_domain_t *dom, const struct mlos_transport *tp)
{
    void *user = ep->data;
    mlos_recv_cb rcb = ep->on_recv;
    mlos_ep_fail_cb fcb = ep->on_fail;
    memset(ep, 0, sizeof(*ep));
    ep->data = user;
    ep->on_recv = rcb;
    ep->on_fail = fcb;
    ep->dom = dom;
    ep->tp = tp;
    strncpy(ep->transport, tp->name, sizeof(ep->transport) - 1);
}

int mlos_accept(mlos_listener_t *l, mlos_ep_t *ep)
{
    int rc;
    if (!l || !l->tp || !ep)
        return MLOS_EINVAL;
    mlos__ep_init(ep, l->dom, l->tp);
    rc = l->tp->accept(l, ep);
    ep->state = rc == 0 ? MLOS_EP_OPEN : MLOS_EP_CLOSED;
    return rc;
}

int mlos_connect(mlos_domain_t *dom, mlos_ep_t *ep, const char *addr, unsigned timeout_ms, mlos_connect_cb cb)
{
    const char *where;
    const struct mlos_transport *tp = pick(addr, &where);
    int rc;
    if (!dom || !dom->mrs || !ep || !cb || !tp)
        return MLOS_EINVAL;
    mlos__ep_init(ep, dom, tp);
    ep->connect_cb = cb;
    ep->state = MLOS_EP_CONNECTING;
    rc = tp->connect(ep, where, timeout_ms ? timeout_ms : 5000);
    if (rc < 0)
        ep->state = MLOS_EP_CLOSED;
    return rc;
}

void mlos__ep_connected(mlos_ep_t *ep, int status)
{
    if (ep->state != MLOS_EP_CONNECTING)
        return;
    ep->state = status == 0 ? MLOS_EP_OPEN : MLOS_EP_FAILED;
    ep->connect_cb(ep, status);
}

void mlos__ep_deliver(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    if (ep->state == MLOS_EP_OPEN && ep->on_recv)
        ep->on_recv(ep, type, data, len);
}

void mlos__ep_failed(mlos_ep_t *ep, int status)
{
    if (ep->state == MLOS_EP_CONNECTING) {
        mlos__ep_connected(ep, status);
        return;
    }
    if (ep->state != MLOS_EP_OPEN)
        return;
    ep->state = MLOS_EP_FAILED;
    if (ep->on_fail)
        ep->on_fail(ep, status);
}

void mlos__ep_closed(mlos_ep_t *ep)
{
    ep->state = MLOS_EP_CLOSED;
    if (ep->close_cb)
        ep->close_cb(ep);
}

int mlos_ep_close(mlos_ep_t *ep, mlos_ep_close_cb cb)
{
    if (!ep || !ep->tp || ep->state == MLOS_EP_CLOSING || ep->state == MLOS_EP_CLOSED)
        return MLOS_EINVAL;
    ep->close_cb = cb;
    ep->state = MLOS_EP_CLOSING;
    ep->tp->close(ep);
    return 0;
}

/* ---- work requests ---- */

static int ep_usable(const mlos_ep_t *ep)
{
    if (!ep || !ep->tp)
        return MLOS_EINVAL;
    if (ep->state == MLOS_EP_OPEN)
        return 0;
    return ep->state == MLOS_EP_FAILED ? MLOS_ECONNRESET : MLOS_EINVAL;
}

static void wr_init(mlos_wr_t *wr, mlos_ep_t *ep, enum mlos_wr_op op, mlos_wr_cb cb)
{
    void *user = wr->data;
    memset(wr, 0, sizeof(*wr));
    wr->data = user;
    wr->ep = ep;
    wr->op = op;
    wr->cb = cb;
    wr->id = ++ep->dom->generation;
}

int mlos_send(mlos_ep_t *ep, mlos_wr_t *wr, uint32_t type, const void *buf, size_t len, mlos_wr_cb cb)
{
    int rc = ep_usable(ep);
    if (rc < 0)
        return rc;
    if (!wr || !cb || (len && !buf))
        return MLOS_EINVAL;
    if (len > MLOS_EP_MAX_MSG)
        return MLOS_ETOOBIG;
    wr_init(wr, ep, MLOS_WR_SEND, cb);
    wr->type = type;
    wr->buf = buf;
    wr->len = len;
    return ep->tp->post(ep, wr);
}

int mlos_send_pb(mlos_ep_t *ep, mlos_wr_t *wr, uint32_t type, const struct ProtobufCMessage *msg, mlos_wr_cb cb)
{
    size_t len;
    uint8_t *buf;
    int rc;
    if (!msg)
        return MLOS_EINVAL;
    len = protobuf_c_message_get_packed_size((const ProtobufCMessage *)msg);
    if (len > MLOS_EP_MAX_MSG)
        return MLOS_ETOOBIG;
    if (!(buf = malloc(len ? len : 1)))
        return MLOS_ENOMEM;
    protobuf_c_message_pack((const ProtobufCMessage *)msg, buf);
    rc = mlos_send(ep, wr, type, buf, len, cb);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    wr->owned = buf; /* freed by the completion, before cb */
    return 0;
}

int mlos_sendv(mlos_ep_t *ep, mlos_wr_t *wr, uint32_t type, const struct mlos_iov *iov, unsigned niov,
               mlos_wr_cb cb)
{
    size_t len = 0;
    uint8_t *buf;
    int rc = ep_usable(ep);
    if (rc < 0)
        return rc;
    if (!wr || !cb || (niov && !iov) || niov > MLOS_EP_SENDV_MAX)
        return MLOS_EINVAL;
    for (unsigned i = 0; i < niov; i++) {
        if (iov[i].len && !iov[i].base)
            return MLOS_EINVAL;
        if (iov[i].len > MLOS_EP_MAX_MSG - len)
            return MLOS_ETOOBIG;
        len += iov[i].len;
    }
    wr_init(wr, ep, MLOS_WR_SEND, cb);
    wr->type = type;
    wr->len = len;
    if (ep->tp->sendv && (rc = ep->tp->sendv(ep, wr, iov, niov)) != MLOS_EAGAIN)
        return rc;
    /* the link is busy (or the transport always queues): a copy keeps the
     * promise that the caller's buffers are free on return */
    if (!(buf = malloc(len ? len : 1)))
        return MLOS_ENOMEM;
    for (size_t i = 0, at = 0; i < niov; at += iov[i].len, i++)
        if (iov[i].len)
            memcpy(buf + at, iov[i].base, iov[i].len);
    wr->buf = buf;
    if ((rc = ep->tp->post(ep, wr)) < 0) {
        free(buf);
        return rc;
    }
    wr->owned = buf; /* freed by the completion, before cb */
    return 0;
}

int mlos_ep_set_place(mlos_ep_t *ep, size_t head_len, mlos_place_cb on_place, mlos_placed_cb on_placed)
{
    if (!ep || !ep->tp || (ep->state != MLOS_EP_OPEN && ep->state != MLOS_EP_CONNECTING) ||
        head_len > MLOS_EP_PLACE_HEAD_MAX || !on_place != !on_placed)
        return MLOS_EINVAL;
    if (on_place && !ep->tp->places)
        return MLOS_ENOTSUP;
    ep->place_head = head_len;
    ep->on_place = on_place;
    ep->on_placed = on_placed;
    return 0;
}

struct owned_frame {
    mlos_wr_t wr;
    uint8_t buf[];
};

static void owned_frame_done(mlos_wr_t *wr, int status)
{
    (void)status;
    free(wr->data);
}

int mlos_send_frame(mlos_ep_t *ep, uint8_t type, uint32_t request_id, const struct ProtobufCMessage *msg)
{
    size_t plen = msg ? protobuf_c_message_get_packed_size((const ProtobufCMessage *)msg) : 0;
    struct owned_frame *o;
    int rc;
    if (plen + MLOS_FRAME_HDR_SIZE > MLOS_EP_MAX_MSG)
        return MLOS_ETOOBIG;
    if (!(o = malloc(sizeof(*o) + MLOS_FRAME_HDR_SIZE + plen)))
        return MLOS_ENOMEM;
    struct mlos_frame_hdr h = {.version = MLOS_FRAME_VERSION, .type = type, .request_id = request_id,
                               .length = (uint32_t)plen};
    mlos_frame_hdr_encode(&h, o->buf);
    if (msg)
        protobuf_c_message_pack((const ProtobufCMessage *)msg, o->buf + MLOS_FRAME_HDR_SIZE);
    o->wr.data = o;
    if ((rc = mlos_send(ep, &o->wr, type, o->buf, MLOS_FRAME_HDR_SIZE + plen, owned_frame_done)) < 0)
        free(o);
    return rc;
}

static int post_rdma(mlos_ep_t *ep, mlos_wr_t *wr, enum mlos_wr_op op, mlos_mr_t *local, size_t local_off,
                     const struct mlos_rkey *remote, uint64_t remote_off, size_t len, mlos_wr_cb cb)
{
    unsigned need = op == MLOS_WR_PUT ? MLOS_ACCESS_REMOTE_WRITE : MLOS_ACCESS_REMOTE_READ;
    int rc = ep_usable(ep);
    if (rc < 0)
        return rc;
    if (!wr || !cb || !local || !remote || !len)
        return MLOS_EINVAL;
    /* the local region must be a live registration of this domain */
    if (local->dom != ep->dom || mlos_mr_check(ep->dom, local->lkey, local->secret, local_off, len, 0, NULL) < 0)
        return local->dom == ep->dom && mlos_mr_check(ep->dom, local->lkey, local->secret, 0, 0, 0, NULL) == 0
                   ? MLOS_ERANGE
                   : MLOS_EKEY;
    if (!range_ok(remote_off, len, remote->len))
        return MLOS_ERANGE;
    if ((remote->access & need) != need)
        return MLOS_EACCES;
    wr_init(wr, ep, op, cb);
    wr->local = local;
    wr->local_off = local_off;
    wr->remote = *remote;
    wr->remote_off = remote_off;
    wr->len = len;
    return ep->tp->post(ep, wr);
}

int mlos_ep_put(mlos_ep_t *ep, mlos_wr_t *wr, mlos_mr_t *local, size_t local_off, const struct mlos_rkey *remote,
                uint64_t remote_off, size_t len, mlos_wr_cb cb)
{
    return post_rdma(ep, wr, MLOS_WR_PUT, local, local_off, remote, remote_off, len, cb);
}

int mlos_ep_get(mlos_ep_t *ep, mlos_wr_t *wr, mlos_mr_t *local, size_t local_off, const struct mlos_rkey *remote,
                uint64_t remote_off, size_t len, mlos_wr_cb cb)
{
    return post_rdma(ep, wr, MLOS_WR_GET, local, local_off, remote, remote_off, len, cb);
}

unsigned mlos_ep_refused(const mlos_ep_t *ep)
{
    if (!ep || !ep->tp || !ep->tp->refused || ep->state == MLOS_EP_INIT || ep->state == MLOS_EP_CLOSED)
        return 0;
    return ep->tp->refused(ep);
}

int mlos_ep_set_spin(mlos_ep_t *ep, unsigned spin_us)
{
    if (!ep || !ep->tp || ep->state == MLOS_EP_INIT || ep->state == MLOS_EP_CLOSED || spin_us > MLOS_EP_SPIN_MAX_US)
        return MLOS_EINVAL;
    return ep->tp->set_spin ? ep->tp->set_spin(ep, spin_us) : MLOS_ENOTSUP;
}

int mlos_ep_forgive(mlos_ep_t *ep)
{
    if (!ep || !ep->tp || ep->state == MLOS_EP_INIT || ep->state == MLOS_EP_CLOSED)
        return MLOS_EINVAL;
    return ep->tp->forgive ? ep->tp->forgive(ep) : MLOS_ENOTSUP;
}
