/* Messages between group members and one-sided access to a peer's
 * exposed memory: the requesting side (send/recv, put/get, expose) and the
 * serving side every wait pass runs (comm.h). */
#include <string.h>

#include "comm.h"
#include "frame.h"
#include "hal.h"
#include "mlos_endian.h"
#include "mlos_error.h"

/* Frame ids on the rings: the kind in the top bits. */
#define RMA_PUT 1u
#define RMA_GET 2u
#define RMA_ACK 3u
#define RMA_DATA 4u
#define RMA_ID(kind, seq) ((kind) << 28 | ((seq) & 0x0fffffffu))
#define PUT_HDR 24u /* le64 key, le64 off, le32 last, le32 0 */
#define GET_HDR 24u /* le64 key, le64 off, le64 len */

/* ---- one-sided requests: serving ---- */

static struct comm_region *find_region(struct mlos_comm *c, uint64_t key)
{
    for (int i = 0; key && i < MLOS_COMM_MAX_REGIONS; i++)
        if (c->regions[i].key == key)
            return &c->regions[i];
    return NULL;
}

static int check_access(struct mlos_comm *c, uint64_t key, uint64_t off, uint64_t len, unsigned need,
                        uint8_t **where)
{
    struct comm_region *r = find_region(c, key);
    if (!r)
        return MLOS_EKEY;
    if (!(r->access & need))
        return MLOS_EACCES;
    if (off > r->len || len > r->len - off)
        return MLOS_ERANGE;
    *where = r->base + off;
    return 0;
}

static int push_ack(struct mlos_comm *c, int peer, uint32_t seq, int status)
{
    uint8_t b[4];
    mlos_put_le32(b, (uint32_t)status);
    if (mlos_ring_push(&c->tx[MLOS_GROUP_RING_RMA][peer], MLOS_FRAME_MSG, RMA_ID(RMA_ACK, seq), b, 4) < 0)
        return 0;
    mlos__comm_note_tx(c, MLOS_GROUP_RING_RMA, peer);
    return 1;
}

/* Serve or take what peer sent on its one-sided ring. A request whose
 * reply does not fit yet stays in the ring (it is retried on the next
 * pass: the requester drains its side while it waits). Returns an error
 * only for a peer that broke the protocol. */
static int serve_peer(struct mlos_comm *c, int peer)
{
    struct mlos_ring *rx = &c->rx[MLOS_GROUP_RING_RMA][peer];
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int rc;
    while ((rc = mlos_ring_peek(rx, &h, &p)) > 0) {
        uint32_t kind = h.request_id >> 28, seq = h.request_id & 0x0fffffffu;
        if (kind == RMA_PUT) {
            if (h.length < PUT_HDR)
                return mlos__comm_fail(c, MLOS_EPROTO, "rank %d sent a short put", peer);
            uint64_t key = mlos_get_le64(p), off = mlos_get_le64(p + 8);
            uint32_t last = mlos_get_le32(p + 16), n = h.length - PUT_HDR;
            uint8_t *dst;
            struct mlos_ring *tx = &c->tx[MLOS_GROUP_RING_RMA][peer];
            void *ack = NULL;
            /* The last piece is answered: room for the ACK first, so that
             * a piece is applied exactly once. */
            if (last && mlos_ring_reserve(tx, 4, &ack) < 0) {
                c->want[MLOS_GROUP_RING_RMA][peer] = 4;
                return 0;
            }
            int st = check_access(c, key, off, n, MLOS_COMM_WRITE, &dst);
            if (st == 0 && n)
                memcpy(dst, p + PUT_HDR, n);
            if (st && !c->put_err[peer])
                c->put_err[peer] = st;
            if (last) {
                mlos_put_le32(ack, (uint32_t)c->put_err[peer]);
                mlos_ring_commit(tx, MLOS_FRAME_MSG, RMA_ID(RMA_ACK, seq), 4);
                mlos__comm_note_tx(c, MLOS_GROUP_RING_RMA, peer);
                c->put_err[peer] = 0;
            }
        } else if (kind == RMA_GET) {
            if (h.length != GET_HDR)
                return mlos__comm_fail(c, MLOS_EPROTO, "rank %d sent a malformed get", peer);
            uint64_t key = mlos_get_le64(p), off = mlos_get_le64(p + 8), len = mlos_get_le64(p + 16);
            struct mlos_ring *tx = &c->tx[MLOS_GROUP_RING_RMA][peer];
            uint8_t *src = NULL;
            int st = len > tx->max_payload ? MLOS_ETOOBIG : check_access(c, key, off, len, MLOS_COMM_READ, &src);
            void *out;
            if (st == 0) {
                if (mlos_ring_reserve(tx, (uint32_t)len, &out) < 0) {
                    c->want[MLOS_GROUP_RING_RMA][peer] = (uint32_t)len;
                    return 0;
                }
                if (len)
                    memcpy(out, src, len);
                mlos_ring_commit(tx, MLOS_FRAME_MSG, RMA_ID(RMA_DATA, seq), (uint32_t)len);
                mlos__comm_note_tx(c, MLOS_GROUP_RING_RMA, peer);
            } else if (!push_ack(c, peer, seq, st)) {
                c->want[MLOS_GROUP_RING_RMA][peer] = 4;
                return 0;
            }
        } else if (kind == RMA_ACK || kind == RMA_DATA) {
            /* A reply to this member's request; anything else is late
             * (an aborted request) and dropped. */
            if (peer == c->rma_peer && seq == (c->rma_seq & 0x0fffffffu) && !c->rma_done) {
                if (kind == RMA_ACK && h.length == 4) {
                    c->rma_status = (int32_t)mlos_get_le32(p);
                    c->rma_done = 1;
                } else if (kind == RMA_DATA && h.length == c->rma_len) {
                    if (h.length)
                        memcpy(c->rma_dst, p, h.length);
                    c->rma_status = 0;
                    c->rma_done = 1;
                } else {
                    return mlos__comm_fail(c, MLOS_EPROTO, "rank %d answered a one-sided request wrongly", peer);
                }
            }
        } else {
            return mlos__comm_fail(c, MLOS_EPROTO, "rank %d sent frame id 0x%x on its one-sided ring", peer,
                                   (unsigned)h.request_id);
        }
        c->want[MLOS_GROUP_RING_RMA][peer] = 0;
        mlos_ring_release(rx, &h);
        mlos__comm_note_rx(c, MLOS_GROUP_RING_RMA, peer);
        c->progressed = 1;
    }
    if (rc < 0)
        return mlos__comm_fail(c, MLOS_EPROTO, "rank %d broke its one-sided ring", peer);
    return 0;
}

int mlos__comm_serve(struct mlos_comm *c)
{
    for (uint32_t p = 0; p < c->n; p++) {
        int rc;
        if (p != c->rank && (rc = serve_peer(c, (int)p)) < 0)
            return rc;
    }
    return 0;
}
/* ---- two-sided messages ---- */

struct p2p_op {
    int peer;
    uint32_t tag;
    const uint8_t *src;
    uint8_t *dst;
    size_t len, cap, pos;
    int started; /* send: first fragment out; recv: length known */
    int too_big;
};

static int send_step(struct mlos_comm *c, void *arg)
{
    struct p2p_op *o = arg;
    struct mlos_ring *tx = &c->tx[MLOS_GROUP_RING_P2P][o->peer];
    while (!o->started || o->pos < o->len) {
        size_t head = o->started ? 0 : 8, room = tx->max_payload - head;
        size_t n = o->len - o->pos < room ? o->len - o->pos : room;
        uint8_t *out;
        if (mlos_ring_reserve(tx, (uint32_t)(head + n), (void **)&out) < 0) {
            c->want[MLOS_GROUP_RING_P2P][o->peer] = (uint32_t)(head + n);
            return 0;
        }
        c->want[MLOS_GROUP_RING_P2P][o->peer] = 0;
        if (head)
            mlos_put_le64(out, o->len);
        if (n)
            memcpy(out + head, o->src + o->pos, n);
        mlos_ring_commit(tx, MLOS_FRAME_MSG, o->tag, (uint32_t)(head + n));
        mlos__comm_note_tx(c, MLOS_GROUP_RING_P2P, o->peer);
        o->started = 1;
        o->pos += n;
        c->progressed = 1;
    }
    return 1;
}

static int recv_step(struct mlos_comm *c, void *arg)
{
    struct p2p_op *o = arg;
    struct mlos_ring *rx = &c->rx[MLOS_GROUP_RING_P2P][o->peer];
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int rc;
    while (!o->started || o->pos < o->len) {
        if ((rc = mlos_ring_peek(rx, &h, &p)) <= 0) {
            if (rc < 0)
                return mlos__comm_fail(c, MLOS_EPROTO, "rank %d broke its message ring", o->peer);
            return 0;
        }
        size_t head = 0;
        if (!o->started) {
            if (h.length < 8)
                return mlos__comm_fail(c, MLOS_EPROTO, "rank %d sent a message without its length", o->peer);
            o->len = mlos_get_le64(p);
            o->tag = h.request_id;
            o->too_big = o->len > o->cap;
            o->started = 1;
            head = 8;
        } else if (h.request_id != o->tag) {
            return mlos__comm_fail(c, MLOS_EPROTO, "rank %d interleaved two messages", o->peer);
        }
        size_t n = h.length - head;
        if (n > o->len - o->pos)
            return mlos__comm_fail(c, MLOS_EPROTO, "rank %d sent more than its message length", o->peer);
        if (!o->too_big && n)
            memcpy(o->dst + o->pos, p + head, n);
        o->pos += n;
        mlos_ring_release(rx, &h);
        mlos__comm_note_rx(c, MLOS_GROUP_RING_P2P, o->peer);
        c->progressed = 1;
    }
    return 1;
}

static int peer_ok(struct mlos_comm *c, int peer) { return c && peer >= 0 && (uint32_t)peer < c->n && (uint32_t)peer != c->rank; }

int mlos_comm_send(struct mlos_comm *c, int dst, uint32_t tag, const void *buf, size_t len)
{
    struct p2p_op o = {.peer = dst, .tag = tag, .src = buf, .len = len};
    if (!peer_ok(c, dst) || (len && !buf))
        return c ? mlos__comm_fail(c, MLOS_EINVAL, "send: bad destination rank %d or buffer", dst) : MLOS_EINVAL;
    c->error[0] = 0;
    return mlos__comm_wait(c, send_step, &o);
}

int mlos_comm_recv(struct mlos_comm *c, int src, void *buf, size_t cap, size_t *len, uint32_t *tag)
{
    struct p2p_op o = {.peer = src, .dst = buf, .cap = buf ? cap : 0};
    if (!peer_ok(c, src))
        return c ? mlos__comm_fail(c, MLOS_EINVAL, "recv: bad source rank %d", src) : MLOS_EINVAL;
    c->error[0] = 0;
    int rc = mlos__comm_wait(c, recv_step, &o);
    if (rc < 0)
        return rc;
    if (len)
        *len = o.len;
    if (tag)
        *tag = o.tag;
    if (o.too_big)
        return mlos__comm_fail(c, MLOS_ETOOBIG, "message of %zu bytes from rank %d, buffer of %zu", o.len, src, cap);
    return 0;
}

/* ---- one-sided: requesting ---- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int mlos_comm_expose(struct mlos_comm *c, void *base, size_t len, unsigned access, uint64_t *key)
{
    static uint32_t counter; /* 32 bits: atomic on every arch, without libatomic */
    if (!c || !key || (len && !base) || !access || (access & ~(MLOS_COMM_READ | MLOS_COMM_WRITE)))
        return MLOS_EINVAL;
    for (int i = 0; i < MLOS_COMM_MAX_REGIONS; i++)
        if (!c->regions[i].key) {
            uint64_t k;
            do /* unguessable enough for a peer that only sees other keys: clock, cycles, address, count */
                k = mix64(mlos_hal_cycles() ^ mix64(mlos_hal_now_ns() + __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED)) ^ (uintptr_t)base ^
                          ((uint64_t)c->rank << 56));
            while (!k || find_region(c, k));
            c->regions[i] = (struct comm_region){k, base, len, access};
            *key = k;
            return 0;
        }
    return mlos__comm_fail(c, MLOS_ENOMEM, "already %d regions exposed", MLOS_COMM_MAX_REGIONS);
}

int mlos_comm_unexpose(struct mlos_comm *c, uint64_t key)
{
    struct comm_region *r = c ? find_region(c, key) : NULL;
    if (!r)
        return MLOS_EKEY;
    memset(r, 0, sizeof(*r));
    return 0;
}

struct rma_op {
    int peer;
    uint64_t key, off;
    const uint8_t *src;
    size_t len, pos;
    int get;
    int sent; /* get: request out */
};

static int put_step(struct mlos_comm *c, void *arg)
{
    struct rma_op *o = arg;
    struct mlos_ring *tx = &c->tx[MLOS_GROUP_RING_RMA][o->peer];
    while (o->pos < o->len || !o->sent) {
        size_t room = tx->max_payload - PUT_HDR, n = o->len - o->pos < room ? o->len - o->pos : room;
        uint8_t *out;
        if (mlos_ring_reserve(tx, (uint32_t)(PUT_HDR + n), (void **)&out) < 0) {
            c->want[MLOS_GROUP_RING_RMA][o->peer] = (uint32_t)(PUT_HDR + n);
            return 0;
        }
        c->want[MLOS_GROUP_RING_RMA][o->peer] = 0;
        mlos_put_le64(out, o->key);
        mlos_put_le64(out + 8, o->off + o->pos);
        mlos_put_le32(out + 16, o->pos + n == o->len);
        mlos_put_le32(out + 20, 0);
        if (n)
            memcpy(out + PUT_HDR, o->src + o->pos, n);
        mlos_ring_commit(tx, MLOS_FRAME_MSG, RMA_ID(RMA_PUT, c->rma_seq), (uint32_t)(PUT_HDR + n));
        mlos__comm_note_tx(c, MLOS_GROUP_RING_RMA, o->peer);
        o->pos += n;
        o->sent = 1;
        c->progressed = 1;
    }
    return c->rma_done; /* the ACK arrives through serve_peer */
}

static int get_step(struct mlos_comm *c, void *arg)
{
    struct rma_op *o = arg;
    if (!o->sent) {
        uint8_t b[GET_HDR];
        mlos_put_le64(b, o->key);
        mlos_put_le64(b + 8, o->off);
        mlos_put_le64(b + 16, o->len);
        if (mlos_ring_push(&c->tx[MLOS_GROUP_RING_RMA][o->peer], MLOS_FRAME_MSG, RMA_ID(RMA_GET, c->rma_seq), b,
                           GET_HDR) < 0) {
            c->want[MLOS_GROUP_RING_RMA][o->peer] = GET_HDR;
            return 0;
        }
        c->want[MLOS_GROUP_RING_RMA][o->peer] = 0;
        mlos__comm_note_tx(c, MLOS_GROUP_RING_RMA, o->peer);
        o->sent = 1;
        c->progressed = 1;
    }
    return c->rma_done;
}

static int rma(struct mlos_comm *c, int peer, uint64_t key, uint64_t off, const void *src, void *dst, size_t len)
{
    const char *what = dst ? "get" : "put";
    if (!peer_ok(c, peer) || (len && !src && !dst))
        return c ? mlos__comm_fail(c, MLOS_EINVAL, "%s: bad peer rank %d or buffer", what, peer) : MLOS_EINVAL;
    c->error[0] = 0;
    /* A get comes back in one frame: split it into pieces that fit. */
    size_t piece = dst ? c->tx[MLOS_GROUP_RING_RMA][peer].max_payload - 64 : len;
    size_t done = 0;
    do {
        size_t n = len - done < piece ? len - done : piece;
        struct rma_op o = {.peer = peer, .key = key, .off = off + done, .src = src ? (const uint8_t *)src + done : NULL,
                           .len = n, .get = dst != NULL};
        c->rma_seq++;
        c->rma_peer = peer;
        c->rma_done = 0;
        c->rma_status = 0;
        c->rma_dst = dst ? (uint8_t *)dst + done : NULL;
        c->rma_len = n;
        int rc = mlos__comm_wait(c, dst ? get_step : put_step, &o);
        c->rma_peer = -1;
        if (rc < 0)
            return rc;
        if (c->rma_status < 0)
            return mlos__comm_fail(c, c->rma_status, "%s of %zu bytes at %llu of rank %d's region: %s", what, len,
                                   (unsigned long long)off, peer, mlos_strerror(c->rma_status));
        done += n;
    } while (done < len);
    return 0;
}

int mlos_comm_put(struct mlos_comm *c, int peer, uint64_t key, uint64_t off, const void *src, size_t len)
{
    return rma(c, peer, key, off, src, NULL, len);
}

int mlos_comm_get(struct mlos_comm *c, int peer, uint64_t key, uint64_t off, void *dst, size_t len)
{
    if (!dst && len)
        return c ? mlos__comm_fail(c, MLOS_EINVAL, "get: no buffer") : MLOS_EINVAL;
    static uint8_t none;
    return rma(c, peer, key, off, NULL, dst ? dst : &none, len);
}
