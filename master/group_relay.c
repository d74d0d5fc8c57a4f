/* Relays for the rings of group pairs that cross a link (group_relay.h).
 *
 * Everything read from the slice is untrusted (any member can write any
 * byte of it): frames are taken through the ring API, which validates
 * indices and lengths against the ring, and copied into the message
 * before the slot is released. Everything received is untrusted too: the
 * pair must be one this site is the destination of, the length within the
 * ring's frame size and the message, the queue within the credit. */
#include "group_relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group_node.h"
#include "group_wire.h"
#include "mlos_endian.h"
#include "mlos_error.h"
#include "ring.h"

struct qframe { /* a frame waiting for room in its ring */
    struct qframe *next;
    uint8_t type;
    uint32_t req, len;
    uint8_t data[];
};

struct xring {
    uint8_t from, to, kind, out; /* out: this site drains the ring (from is here) */
    int broken;                  /* the ring failed validation: nothing more moves on it */
    struct mlos_ring r;
    uint32_t inflight;           /* out: record bytes sent, not credited yet */
    struct qframe *qh, *qt;      /* in: waiting for room */
    uint32_t queued;             /* in: their record bytes */
    uint32_t credit_due;         /* in: record bytes taken in, not credited yet */
    int dirty;                   /* queued for the next pass */
};

struct mlos__relay {
    uint32_t id, gen, n;
    uint64_t local;
    struct mlos__relay_io io;
    struct xring *x;
    size_t nx;
    uint16_t *index; /* [kind][from][to] -> 1 + position in x, 0: not a crossing ring */
    uint32_t *dq;    /* rings something happened on (a wake-up, data, credit): a pass visits only these */
    size_t ndq;
    uint64_t refused;
    int pumping;
    uint64_t bad;    /* local producers whose ring failed validation, not reported yet */
    uv_idle_t idle;  /* leftover work */
    uint8_t *msg;    /* one GROUP_DATA being built */
};

static void idle_closed(uv_handle_t *h) { free(h->data); }

struct mlos__relay *mlos__relay_new(uv_loop_t *loop, uint8_t *slice, size_t slice_len, uint32_t id, uint32_t gen,
                                    uint32_t n, uint32_t ring_bytes, uint64_t local, const struct mlos__relay_io *io)
{
    struct mlos__relay *r;
    size_t cross = 0;
    if (!mlos_group_layout_size(n, ring_bytes) || slice_len < mlos_group_layout_size(n, ring_bytes))
        return NULL;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++)
            cross += i != j && ((local >> i & 1) != (local >> j & 1));
    if (!cross || !(r = calloc(1, sizeof(*r))))
        return NULL;
    r->x = calloc(cross * 3, sizeof(*r->x));
    r->index = calloc((size_t)3 * n * n, sizeof(*r->index));
    r->dq = calloc(cross * 3 * 2, sizeof(*r->dq)); /* a pass's rings, and those marked again during it */
    /* the largest frame of any of the group's rings: half the bigger ring */
    r->msg = malloc(MLOS_GROUP_DATA_HDR + (ring_bytes > MLOS_GROUP_SMALL_RING ? ring_bytes : MLOS_GROUP_SMALL_RING) / 2);
    if (!r->x || !r->index || !r->msg || !r->dq) {
        free(r->x);
        free(r->index);
        free(r->dq);
        free(r->msg);
        free(r);
        return NULL;
    }
    r->id = id;
    r->gen = gen;
    r->n = n;
    r->local = local;
    r->io = *io;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            if (i == j || (local >> i & 1) == (local >> j & 1))
                continue;
            for (int k = 0; k < 3; k++) {
                struct xring *x = &r->x[r->nx];
                size_t off = mlos_group_ring_off(n, ring_bytes, i, j, k);
                x->from = (uint8_t)i;
                x->to = (uint8_t)j;
                x->kind = (uint8_t)k;
                x->out = (local >> i & 1) != 0;
                if (mlos_ring_attach(&x->r, slice + off, slice_len - off) < 0 ||
                    x->r.size != mlos_group_ring_size(ring_bytes, k))
                    x->broken = 1;
                else if (x->out)
                    (void)mlos_ring_prepare_wait(&x->r); /* producers always ring us */
                r->index[((size_t)k * n + i) * n + j] = (uint16_t)(++r->nx);
            }
        }
    uv_idle_init(loop, &r->idle);
    r->idle.data = r;
    return r;
}

void mlos__relay_free(struct mlos__relay *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nx; i++)
        for (struct qframe *q = r->x[i].qh, *next; q; q = next) {
            next = q->next;
            free(q);
        }
    free(r->x);
    free(r->index);
    free(r->dq);
    free(r->msg);
    uv_close((uv_handle_t *)&r->idle, idle_closed);
}

uint64_t mlos__relay_refused(const struct mlos__relay *r) { return r ? r->refused : 0; }

static void put_pair(uint8_t *p, const struct mlos__relay *r, const struct xring *x)
{
    mlos_put_le32(p, r->id);
    mlos_put_le32(p + 4, r->gen);
    p[8] = x->from;
    p[9] = x->to;
    p[10] = x->kind;
}

/* Out: frames of a ring fed here, while credit lasts. 1 if work is left
 * that no wake-up or credit will bring back (the drain's budget). */
static int drain_out(struct mlos__relay *r, struct xring *x)
{
    struct mlos_frame_hdr h;
    const uint8_t *pl;
    int moved = 0, rc;
    uint32_t size = x->r.size;
    while ((rc = mlos_ring_peek(&x->r, &h, &pl)) == 1) {
        uint32_t rec = mlos_ring_record_size(h.length);
        if (x->inflight + rec > size)
            break; /* no credit: the frame stays; the credit brings us back */
        uint8_t *m = r->msg;
        put_pair(m, r, x);
        m[11] = h.type;
        mlos_put_le32(m + 12, h.request_id);
        mlos_put_le32(m + 16, h.length);
        memcpy(m + MLOS_GROUP_DATA_HDR, pl, h.length); /* copied before the slot is released */
        if (r->io.send(r->io.ctx, MLOS_NODE_GROUP_DATA, m, MLOS_GROUP_DATA_HDR + h.length, x->to) < 0)
            return 0; /* the link is down: its node is lost, which fails the group; no retry loop */
        mlos_ring_release(&x->r, &h);
        x->inflight += rec;
        moved = 1;
    }
    if (rc < 0) {
        x->broken = 1; /* garbage from producer x->from: reported (fenced) after the pass */
        r->refused++;
        r->bad |= 1ull << x->from;
        return 0;
    }
    if (moved && mlos_ring_producer_waiting(&x->r))
        r->io.ring(r->io.ctx, x->from);
    /* frames that arrived meanwhile, and the flag set again for the next */
    return mlos_ring_prepare_wait(&x->r) && x->inflight + MLOS_FRAME_HDR_SIZE <= size && rc == 0 && moved;
}

/* In: queued frames into their ring while it has room; credit back. */
static void fill_in(struct mlos__relay *r, struct xring *x)
{
    int moved = 0;
    while (x->qh) {
        struct qframe *q = x->qh;
        void *dst;
        if (mlos_ring_reserve(&x->r, q->len, &dst) < 0) {
            if (mlos_ring_producer_prepare_wait(&x->r, q->len)) /* room came meanwhile */
                continue;
            break; /* the consumer's release wakes us (a WAKE naming the source) */
        }
        memcpy(dst, q->data, q->len);
        mlos_ring_commit(&x->r, q->type, q->req, q->len);
        uint32_t rec = mlos_ring_record_size(q->len);
        x->queued -= rec;
        x->credit_due += rec;
        x->qh = q->next;
        if (!x->qh)
            x->qt = NULL;
        free(q);
        moved = 1;
    }
    if (!x->qh)
        mlos_ring_producer_done_wait(&x->r);
    if (moved && mlos_ring_consumer_waiting(&x->r))
        r->io.ring(r->io.ctx, x->to);
    if (x->credit_due) {
        uint8_t c[MLOS_GROUP_CREDIT_BYTES] = {0};
        put_pair(c, r, x);
        mlos_put_le32(c + 12, x->credit_due);
        if (r->io.send(r->io.ctx, MLOS_NODE_GROUP_CREDIT, c, sizeof(c), x->from) == 0)
            x->credit_due = 0;
    }
}

static void mark(struct mlos__relay *r, struct xring *x)
{
    if (!x->dirty && !x->broken) {
        x->dirty = 1;
        r->dq[r->ndq++] = (uint32_t)(x - r->x);
    }
}

static struct xring *ring_of(struct mlos__relay *r, unsigned kind, unsigned from, unsigned to)
{
    uint16_t k = r->index[((size_t)kind * r->n + from) * r->n + to];
    return k ? &r->x[k - 1] : NULL;
}

static void idle_cb(uv_idle_t *h)
{
    struct mlos__relay *r = h->data;
    uv_idle_stop(h);
    mlos__relay_pump(r);
}

void mlos__relay_kick(struct mlos__relay *r, unsigned rank, uint64_t mask)
{
    if (!r || rank >= r->n)
        return;
    /* rank produced for the peers in mask (its rings to them) or freed
     * room they wait for (their rings to it, which this relay may fill) */
    for (unsigned j = 0; j < r->n; j++)
        for (unsigned k = 0; (mask >> j & 1) && k < 3; k++) {
            struct xring *a = ring_of(r, k, rank, j), *b = ring_of(r, k, j, rank);
            if (a)
                mark(r, a);
            if (b)
                mark(r, b);
        }
    mlos__relay_pump(r);
}

void mlos__relay_pump(struct mlos__relay *r)
{
    int left = 0;
    if (!r)
        return;
    if (r->pumping) /* a send or a bell called back into us: its marks wait for the next pass */
        return;
    r->pumping = 1;
    /* the rings marked so far; marks made meanwhile wait for the next pass */
    size_t end = r->ndq;
    for (size_t i = 0; i < end; i++) {
        struct xring *x = &r->x[r->dq[i]];
        x->dirty = 0;
        if (x->broken)
            continue;
        if (x->out && drain_out(r, x)) {
            left = 1;
            mark(r, x); /* budget spent with frames left: next pass */
        } else if (!x->out)
            fill_in(r, x);
    }
    memmove(r->dq, r->dq + end, (r->ndq - end) * sizeof(*r->dq));
    r->ndq -= end;
    r->pumping = 0;
    if (r->ndq || left)
        uv_idle_start(&r->idle, idle_cb); /* after the loop's other work: bounded passes */
    if (r->bad) { /* last: fencing a member may close its group, and free r */
        uint64_t bad = r->bad;
        struct mlos__relay_io io = r->io;
        r->bad = 0;
        for (unsigned k = 0; k < 64; k++)
            if ((bad >> k & 1) && io.bad)
                io.bad(io.ctx, k);
    }
}

static struct xring *pair(struct mlos__relay *r, const uint8_t *p)
{
    unsigned from = p[8], to = p[9], kind = p[10];
    if (mlos_get_le32(p) != r->id || mlos_get_le32(p + 4) != r->gen || from >= r->n || to >= r->n || kind > 2)
        return NULL;
    return ring_of(r, kind, from, to);
}

int mlos__relay_recv(struct mlos__relay *r, uint32_t type, const uint8_t *p, size_t len)
{
    struct xring *x;
    if (type == MLOS_NODE_GROUP_CREDIT) {
        if (len != MLOS_GROUP_CREDIT_BYTES || !(x = pair(r, p)) || !x->out)
            goto refuse;
        uint32_t b = mlos_get_le32(p + 12);
        if (b > x->inflight)
            goto refuse;
        x->inflight -= b;
        mark(r, x);
        mlos__relay_pump(r);
        return 0;
    }
    if (type != MLOS_NODE_GROUP_DATA || len < MLOS_GROUP_DATA_HDR || !(x = pair(r, p)) || x->out || x->broken)
        goto refuse;
    uint32_t fl = mlos_get_le32(p + 16), rec = mlos_ring_record_size(fl);
    uint8_t ft = p[11];
    /* a frame this ring could hold, whole in the message, within the credit */
    if (fl > x->r.max_payload || fl != len - MLOS_GROUP_DATA_HDR || ft == MLOS_FRAME_PAD ||
        x->queued + rec > x->r.size)
        goto refuse;
    struct qframe *q = malloc(sizeof(*q) + fl);
    if (!q)
        return MLOS_ENOMEM;
    q->next = NULL;
    q->type = ft;
    q->req = mlos_get_le32(p + 12);
    q->len = fl;
    memcpy(q->data, p + MLOS_GROUP_DATA_HDR, fl);
    if (x->qt)
        x->qt->next = q;
    else
        x->qh = q;
    x->qt = q;
    x->queued += rec;
    mark(r, x);
    mlos__relay_pump(r);
    return 0;
refuse:
    r->refused++;
    return MLOS_EPROTO;
}
