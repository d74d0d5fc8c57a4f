/* Collectives over the group rings (mlos_coll.h explains the algorithms
 * and the reduction order). Each collective is a set of steps run by one
 * engine in the wait loop, all progressing at once so that no pair of
 * members can block each other: SEND a buffer to a peer, RECV from a peer
 * into a buffer, FOLD a segment from every rank in rank order. */
#include <string.h>

#include "bpf/hooks.h"
#include "comm.h"
#include "mem.h"
#include "mlos_endian.h"
#include "mlos_error.h"

#define SMALL_BYTES 8192u /* N * m at or below this: the latency algorithms */

enum { X_SEND, X_RECV, X_FOLD };
enum { T_BARRIER = 1, T_BCAST, T_GATHER, T_ALLGATHER, T_RS, T_AG, T_TOROOT };

struct red { /* how elements combine */
    int type, op;   /* enum mlos_coll_type / op; op USER: the hook */
    size_t esize;
    uint64_t user_arg;
    int swap;       /* elements cross the wire little-endian: swap on a big-endian host */
};

struct xop {
    int kind, tag, peer, done;
    const uint8_t *src;
    uint8_t *dst;
    size_t len, pos;
    const size_t *avail; /* SEND: bytes of src ready so far (NULL: all) */
    const struct xop *after; /* start once this one is done */
    int swap;            /* typed 8-byte elements: swap on the way (big-endian host) */
    size_t chunk;        /* frame payload; 0: the group's (a reduction's is whole elements) */
    /* FOLD */
    const uint8_t *mine;
    uint32_t idx;        /* next rank of the current chunk */
    const struct red *red;
};

struct engine {
    struct xop *ops;
    int nops;
    uint32_t id; /* frame request id: tag << 24 | seq */
};

/* ---- element folding ---- */

static void copy_swap8(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v = mlos_bswap64(v);
        memcpy(dst + i, &v, 8);
    }
}

static void copy_in(uint8_t *dst, const uint8_t *src, size_t len, int swap)
{
    if (swap)
        copy_swap8(dst, src, len);
    else if (len)
        memcpy(dst, src, len);
}

/* Aligned and in host order (every ring payload is 16-byte aligned, so
 * this is the usual case): a plain loop the compiler vectorises; else
 * element by element through memcpy, swapping if asked. */
#define FOLD_LOOP(T, EXPR)                                                                                       \
    do {                                                                                                         \
        if (!swap && !((uintptr_t)acc % sizeof(T)) && !((uintptr_t)in % sizeof(T))) {                           \
            T *A = (T *)(void *)acc;                                                                             \
            const T *X = (const T *)(const void *)in;                                                            \
            for (size_t i = 0; i < count; i++) {                                                                 \
                T a = A[i], x = X[i];                                                                            \
                A[i] = (EXPR);                                                                                   \
            }                                                                                                    \
            break;                                                                                               \
        }                                                                                                        \
        for (size_t i = 0; i < count; i++) {                                                                     \
            T a, x;                                                                                              \
            uint64_t raw;                                                                                        \
            memcpy(&a, acc + 8 * i, 8);                                                                          \
            memcpy(&raw, in + 8 * i, 8);                                                                         \
            if (swap)                                                                                            \
                raw = mlos_bswap64(raw);                                                                         \
            memcpy(&x, &raw, 8);                                                                                 \
            a = (EXPR);                                                                                          \
            memcpy(acc + 8 * i, &a, 8);                                                                          \
        }                                                                                                        \
    } while (0)

/* acc = acc (+) in, elementwise; in possibly in wire order (swap). */
static int fold(const struct red *r, uint8_t *acc, const uint8_t *in, size_t len, int swap)
{
    size_t count = len / (r->op == MLOS_COLL_USER ? r->esize : 8);
    if (r->op == MLOS_COLL_USER)
        return count ? mlos_hook_reduce(acc, in, count, r->esize, r->user_arg) : 0;
    switch (r->type * 3 + r->op) {
    case MLOS_COLL_U64 * 3 + MLOS_COLL_SUM: FOLD_LOOP(uint64_t, a + x); break;
    case MLOS_COLL_U64 * 3 + MLOS_COLL_MIN: FOLD_LOOP(uint64_t, x < a ? x : a); break;
    case MLOS_COLL_U64 * 3 + MLOS_COLL_MAX: FOLD_LOOP(uint64_t, x > a ? x : a); break;
    /* two's complement wrap, not C's undefined signed overflow */
    case MLOS_COLL_I64 * 3 + MLOS_COLL_SUM: FOLD_LOOP(int64_t, (int64_t)((uint64_t)a + (uint64_t)x)); break;
    case MLOS_COLL_I64 * 3 + MLOS_COLL_MIN: FOLD_LOOP(int64_t, x < a ? x : a); break;
    case MLOS_COLL_I64 * 3 + MLOS_COLL_MAX: FOLD_LOOP(int64_t, x > a ? x : a); break;
    case MLOS_COLL_F64 * 3 + MLOS_COLL_SUM: FOLD_LOOP(double, a + x); break;
    case MLOS_COLL_F64 * 3 + MLOS_COLL_MIN: FOLD_LOOP(double, x < a ? x : a); break;
    case MLOS_COLL_F64 * 3 + MLOS_COLL_MAX: FOLD_LOOP(double, x > a ? x : a); break;
    default: return MLOS_EINVAL;
    }
    return 0;
}

/* Combine idx-th contribution (rank order) into acc: the first is copied. */
static int combine(const struct red *r, uint8_t *acc, const uint8_t *in, size_t len, uint32_t idx, int swap)
{
    if (idx == 0) {
        copy_in(acc, in, len, swap);
        return 0;
    }
    return fold(r, acc, in, len, swap);
}

/* ---- the engine ---- */

static int proto(struct mlos_comm *c, struct xop *o, const char *what, uint32_t got, uint32_t len)
{
    return mlos__comm_fail(c, MLOS_EPROTO,
                           "group %u: rank %d sent %s (frame 0x%08x, %u bytes) where collective #%u expected other "
                           "data: do all ranks make the same collective calls?",
                           c->id, o->peer, what, (unsigned)got, (unsigned)len, (unsigned)c->seq);
}

static size_t chunk_of(struct mlos_comm *c, const struct xop *o) { return o->chunk ? o->chunk : c->chunk; }

static int x_send(struct mlos_comm *c, struct engine *e, struct xop *o)
{
    struct mlos_ring *tx = &c->tx[MLOS_GROUP_RING_COLL][o->peer];
    size_t limit = o->avail ? *o->avail : o->len, ch = chunk_of(c, o);
    while (o->pos < o->len || (o->len == 0 && !o->done)) {
        size_t n = limit - o->pos < ch ? limit - o->pos : ch;
        uint8_t *out;
        if (n == 0 && o->len)
            return 0; /* waiting for our own input (a forwarded or folded chunk) */
        if (mlos_ring_reserve(tx, (uint32_t)n, (void **)&out) < 0) {
            c->want[MLOS_GROUP_RING_COLL][o->peer] = (uint32_t)n;
            return 0;
        }
        c->want[MLOS_GROUP_RING_COLL][o->peer] = 0;
        copy_in(out, o->src + o->pos, n, o->swap);
        mlos_ring_commit(tx, MLOS_FRAME_MSG, e->id | (uint32_t)o->tag << 24, (uint32_t)n);
        mlos__comm_note_tx(c, MLOS_GROUP_RING_COLL, o->peer);
        o->pos += n;
        c->progressed = 1;
        if (o->len == 0)
            break;
    }
    o->done = 1;
    return 0;
}

static int x_recv(struct mlos_comm *c, struct engine *e, struct xop *o)
{
    struct mlos_ring *rx = &c->rx[MLOS_GROUP_RING_COLL][o->peer];
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int rc;
    while (o->pos < o->len || (o->len == 0 && !o->done)) {
        if ((rc = mlos_ring_peek(rx, &h, &p)) <= 0)
            return rc < 0 ? mlos__comm_fail(c, MLOS_EPROTO, "rank %d broke its collective ring", o->peer) : 0;
        if (h.request_id != (e->id | (uint32_t)o->tag << 24) || h.length > o->len - o->pos ||
            (o->swap && h.length % 8))
            return proto(c, o, "data", h.request_id, h.length);
        copy_in(o->dst + o->pos, p, h.length, o->swap);
        o->pos += h.length;
        mlos_ring_release(rx, &h);
        mlos__comm_note_rx(c, MLOS_GROUP_RING_COLL, o->peer);
        c->progressed = 1;
        if (o->len == 0)
            break;
    }
    o->done = 1;
    return 0;
}

/* dst[0..len) = fold over ranks 0..N-1 of their segment, chunk by chunk;
 * this rank's part comes from o->mine, the others' straight from their
 * rings. pos counts folded bytes (a SEND may forward them meanwhile). */
static int x_fold(struct mlos_comm *c, struct engine *e, struct xop *o)
{
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int rc;
    size_t ch = chunk_of(c, o);
    while (o->pos < o->len) {
        size_t n = o->len - o->pos < ch ? o->len - o->pos : ch;
        uint32_t r = o->idx;
        if (r == c->rank) {
            rc = combine(o->red, o->dst + o->pos, o->mine + o->pos, n, r, 0);
        } else {
            struct mlos_ring *rx = &c->rx[MLOS_GROUP_RING_COLL][r];
            if ((rc = mlos_ring_peek(rx, &h, &p)) <= 0)
                return rc < 0 ? mlos__comm_fail(c, MLOS_EPROTO, "rank %u broke its collective ring", r) : 0;
            if (h.request_id != (e->id | (uint32_t)o->tag << 24) || h.length != n) {
                o->peer = (int)r;
                return proto(c, o, "a reduction chunk", h.request_id, h.length);
            }
            rc = combine(o->red, o->dst + o->pos, p, n, r, o->red->swap);
            mlos_ring_release(rx, &h);
            mlos__comm_note_rx(c, MLOS_GROUP_RING_COLL, (int)r);
        }
        if (rc < 0)
            return mlos__comm_fail(c, rc, "reduction operator failed: %s", mlos_strerror(rc));
        c->progressed = 1;
        if (++o->idx == c->n) {
            o->idx = 0;
            o->pos += n;
        }
    }
    o->done = 1;
    return 0;
}

static int engine_step(struct mlos_comm *c, void *arg)
{
    struct engine *e = arg;
    int all = 1, rc = 0;
    for (int i = 0; i < e->nops; i++) {
        struct xop *o = &e->ops[i];
        if (o->done)
            continue;
        if (!o->after || o->after->done) {
            rc = o->kind == X_SEND ? x_send(c, e, o) : o->kind == X_RECV ? x_recv(c, e, o) : x_fold(c, e, o);
            if (rc < 0)
                return rc;
        }
        all &= o->done;
    }
    return all;
}

static int run(struct mlos_comm *c, struct xop *ops, int nops)
{
    struct engine e = {ops, nops, c->seq & 0xffffffu};
    return mlos__comm_wait(c, engine_step, &e);
}

/* Only a barrier sends empty frames; an empty part of anything else (a
 * segment of a short vector) is no frame at all, on both sides alike. */
static struct xop xsend(int peer, int tag, const void *src, size_t len)
{
    return (struct xop){.kind = X_SEND, .tag = tag, .peer = peer, .src = src, .len = len,
                        .done = !len && tag != T_BARRIER};
}

static struct xop xrecv(int peer, int tag, void *dst, size_t len)
{
    return (struct xop){.kind = X_RECV, .tag = tag, .peer = peer, .dst = dst, .len = len,
                        .done = !len && tag != T_BARRIER};
}

/* ---- argument checks and bookkeeping ---- */

static int begin(struct mlos_comm *c, const char *what)
{
    if (!c)
        return MLOS_EINVAL;
    c->error[0] = 0;
    c->seq++; /* every rank counts collectives alike: frames of another one are refused */
    (void)what;
    return 0;
}

static int bad(struct mlos_comm *c, const char *what) { return mlos__comm_fail(c, MLOS_EINVAL, "%s: bad argument", what); }

static uint32_t vrank(struct mlos_comm *c, int root) { return (c->rank + c->n - (uint32_t)root) % c->n; }
static int real(struct mlos_comm *c, uint32_t v, int root) { return (int)((v + (uint32_t)root) % c->n); }

/* ---- barrier: dissemination ---- */

int mlos_barrier(struct mlos_comm *c)
{
    int rc;
    if ((rc = begin(c, "barrier")) < 0)
        return rc;
    for (uint32_t d = 1; d < c->n; d <<= 1) {
        struct xop ops[2] = {xsend((int)((c->rank + d) % c->n), T_BARRIER, NULL, 0),
                             xrecv((int)((c->rank + c->n - d) % c->n), T_BARRIER, NULL, 0)};
        if ((rc = run(c, ops, 2)) < 0)
            return rc;
    }
    return 0;
}

/* ---- broadcast: binomial tree, pipelined ---- */

int mlos_bcast(struct mlos_comm *c, void *buf, size_t len, int root)
{
    int rc;
    if ((rc = begin(c, "bcast")) < 0)
        return rc;
    if (root < 0 || (uint32_t)root >= c->n || (len && !buf))
        return bad(c, "bcast");
    if (c->n == 1 || len == 0)
        return 0;
    uint32_t v = vrank(c, root), low = c->n; /* lowest set bit of v; the root's children span it all */
    struct xop ops[MLOS_GROUP_MAX + 1];
    int k = 0;
    const size_t *avail = NULL;
    if (v) {
        low = v & -v;
        ops[k++] = xrecv(real(c, v - low, root), T_BCAST, buf, len);
        avail = &ops[0].pos;
    }
    /* Largest subtree first: it has the most to forward further down. */
    uint32_t top = 1;
    while (top < low && top < c->n)
        top <<= 1;
    for (uint32_t m = top; m >= 1; m >>= 1) {
        if (m < low && v + m < c->n) {
            ops[k] = xsend(real(c, v + m, root), T_BCAST, buf, len);
            ops[k].avail = avail;
            k++;
        }
        if (m == 1)
            break;
    }
    return run(c, ops, k);
}

/* ---- gather / allgather ---- */

/* Binomial gather of len bytes per rank to root; at the root, out gets
 * the N blocks in virtual-rank order (block i = rank (i + root) % N).
 * tmp: N*len bytes on every rank. */
static int tree_gather(struct mlos_comm *c, const void *in, size_t len, uint8_t *tmp, int root, int tag)
{
    uint32_t v = vrank(c, root), low = v ? (v & -v) : 0, span;
    struct xop ops[MLOS_GROUP_MAX + 1];
    int k = 0;
    if (v == 0) {
        span = c->n;
    } else {
        span = low < c->n - v ? low : c->n - v; /* ranks of my subtree: [v, v + span) */
    }
    memcpy(tmp, in, len);
    for (uint32_t m = 1; m < (v ? low : c->n) && v + m < c->n; m <<= 1) {
        uint32_t cspan = m < c->n - (v + m) ? m : c->n - (v + m);
        ops[k] = xrecv(real(c, v + m, root), tag, tmp + (size_t)m * len, (size_t)cspan * len);
        if (k)
            ops[k].after = &ops[k - 1];
        k++;
    }
    if (v) {
        ops[k] = xsend(real(c, v - low, root), tag, tmp, (size_t)span * len);
        if (k)
            ops[k].after = &ops[k - 1];
        k++;
    }
    return run(c, ops, k);
}

/* Bruck allgather: tmp (N*len) ends as block i = rank (rank + i) % N. */
static int bruck(struct mlos_comm *c, const void *in, size_t len, uint8_t *tmp, int tag)
{
    int rc;
    memcpy(tmp, in, len);
    for (uint32_t d = 1; d < c->n; d <<= 1) {
        uint32_t cnt = d < c->n - d ? d : c->n - d;
        struct xop ops[2] = {xsend((int)((c->rank + c->n - d) % c->n), tag, tmp, (size_t)cnt * len),
                             xrecv((int)((c->rank + d) % c->n), tag, tmp + (size_t)d * len, (size_t)cnt * len)};
        if ((rc = run(c, ops, 2)) < 0)
            return rc;
    }
    return 0;
}

int mlos_gather(struct mlos_comm *c, const void *in, size_t len, void *out, int root)
{
    int rc;
    if ((rc = begin(c, "gather")) < 0)
        return rc;
    if (root < 0 || (uint32_t)root >= c->n || (len && !in) || ((uint32_t)root == c->rank && len && !out))
        return bad(c, "gather");
    if (len == 0)
        return 0;
    uint8_t *o = out;
    if ((size_t)c->n * len <= SMALL_BYTES) {
        uint8_t *tmp = mlos__comm_alloc(c, (size_t)c->n * len);
        if (!tmp)
            return mlos__comm_fail(c, MLOS_ENOMEM, "gather: no memory for %zu bytes", (size_t)c->n * len);
        rc = tree_gather(c, in, len, tmp, root, T_GATHER);
        if (rc == 0 && (uint32_t)root == c->rank)
            for (uint32_t i = 0; i < c->n; i++)
                memcpy(o + (size_t)real(c, i, root) * len, tmp + (size_t)i * len, len);
        mlos__comm_free(c, tmp);
        return rc;
    }
    if ((uint32_t)root != c->rank) {
        struct xop s = xsend(root, T_GATHER, in, len);
        return run(c, &s, 1);
    }
    struct xop ops[MLOS_GROUP_MAX];
    int k = 0;
    memmove(o + (size_t)c->rank * len, in, len);
    for (uint32_t j = 0; j < c->n; j++)
        if (j != c->rank)
            ops[k++] = xrecv((int)j, T_GATHER, o + (size_t)j * len, len);
    return run(c, ops, k);
}

int mlos_allgather(struct mlos_comm *c, const void *in, size_t len, void *out)
{
    int rc;
    if ((rc = begin(c, "allgather")) < 0)
        return rc;
    if ((len && (!in || !out)))
        return bad(c, "allgather");
    if (len == 0)
        return 0;
    uint8_t *o = out;
    if ((size_t)c->n * len <= SMALL_BYTES) {
        uint8_t *tmp = mlos__comm_alloc(c, (size_t)c->n * len);
        if (!tmp)
            return mlos__comm_fail(c, MLOS_ENOMEM, "allgather: no memory for %zu bytes", (size_t)c->n * len);
        rc = bruck(c, in, len, tmp, T_ALLGATHER);
        if (rc == 0)
            for (uint32_t i = 0; i < c->n; i++)
                memcpy(o + (size_t)((c->rank + i) % c->n) * len, tmp + (size_t)i * len, len);
        mlos__comm_free(c, tmp);
        return rc;
    }
    struct xop ops[2 * MLOS_GROUP_MAX];
    int k = 0;
    const uint8_t *src = in;
    uint8_t *copy = NULL;
    if (src < o + (size_t)c->n * len && o < src + len) { /* in inside out: keep it apart */
        if (!(copy = mlos__comm_alloc(c, len)))
            return mlos__comm_fail(c, MLOS_ENOMEM, "allgather: no memory for %zu bytes", len);
        memcpy(copy, in, len);
        src = copy;
    }
    memmove(o + (size_t)c->rank * len, src, len);
    for (uint32_t j = 0; j < c->n; j++)
        if (j != c->rank) {
            ops[k++] = xsend((int)j, T_ALLGATHER, src, len);
            ops[k++] = xrecv((int)j, T_ALLGATHER, o + (size_t)j * len, len);
        }
    rc = run(c, ops, k);
    mlos__comm_free(c, copy);
    return rc;
}

/* ---- reduce / allreduce ---- */

static int red_init(struct mlos_comm *c, struct red *r, int type, int op, size_t esize, uint64_t arg)
{
    r->type = type;
    r->op = op;
    r->esize = op == MLOS_COLL_USER ? esize : 8;
    r->user_arg = arg;
    r->swap = op != MLOS_COLL_USER && MLOS_HOST_BIG_ENDIAN;
    if (op == MLOS_COLL_USER) {
        if (!esize || esize > c->chunk)
            return MLOS_EINVAL;
        if (!mlos_hook_installed(MLOS_HOOK_REDUCE))
            return mlos__comm_fail(c, MLOS_ENOENT, "no reduction operator installed (MLOS_HOOK_REDUCE)");
        return 0;
    }
    return (type < MLOS_COLL_U64 || type > MLOS_COLL_F64 || op < MLOS_COLL_SUM || op > MLOS_COLL_MAX) ? MLOS_EINVAL
                                                                                                      : 0;
}

/* Fold N contributions laid out in tmp as block i = rank (base + i) % N
 * (base 0 for a gather at rank 0 ... generally the layout of the
 * algorithm) into out, in rank order. */
static int fold_blocks(const struct red *r, uint8_t *out, const uint8_t *tmp, size_t bytes, uint32_t n,
                       uint32_t base)
{
    for (uint32_t rank = 0; rank < n; rank++) {
        uint32_t i = (rank + n - base) % n;
        int rc = combine(r, out, tmp + (size_t)i * bytes, bytes, rank, 0);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Segment j of count elements: [lo, hi) in bytes. */
static void segment(size_t count, size_t esize, uint32_t n, uint32_t j, size_t *lo, size_t *len)
{
    size_t a = count * j / n, b = count * (j + 1) / n;
    *lo = a * esize;
    *len = (b - a) * esize;
}

/* Reduce-scatter (this rank folds its segment into seg_out, sends every
 * other rank its segment of in) and then either an allgather of the
 * folded segments into out (root < 0) or a gather to root. */
static int large_reduce(struct mlos_comm *c, const struct red *r, const uint8_t *in, uint8_t *out, size_t count,
                        int root)
{
    size_t lo, len, ch = c->chunk / r->esize * r->esize;
    uint32_t me = c->rank, n = c->n;
    segment(count, r->esize, n, me, &lo, &len);
    uint8_t *mine = NULL, *segbuf = NULL;
    if (root < 0 || (uint32_t)root == me)
        mine = out + lo;
    else { /* a non-root of reduce: fold into a scratch segment */
        if (!(segbuf = mlos__comm_alloc(c, len ? len : 1)))
            return mlos__comm_fail(c, MLOS_ENOMEM, "reduce: no memory for %zu bytes", len);
        mine = segbuf;
    }
    struct xop ops[3 * MLOS_GROUP_MAX + 1];
    int k = 0;
    ops[k++] = (struct xop){.kind = X_FOLD, .tag = T_RS, .dst = mine, .mine = in + lo, .len = len, .red = r,
                            .chunk = ch};
    struct xop *fold_op = &ops[0];
    for (uint32_t j = 0; j < n; j++) {
        if (j == me)
            continue;
        size_t jlo, jlen;
        segment(count, r->esize, n, j, &jlo, &jlen);
        struct xop *rs = &ops[k];
        ops[k] = xsend((int)j, T_RS, in + jlo, jlen);
        ops[k].chunk = ch; /* the fold at j takes whole chunks of whole elements */
        ops[k++].swap = r->swap;
        if (root < 0 || (uint32_t)root == j) { /* my folded segment to j, as it is folded */
            ops[k] = xsend((int)j, root < 0 ? T_AG : T_TOROOT, mine, len);
            ops[k].avail = &fold_op->pos;
            ops[k].after = rs;
            ops[k++].swap = r->swap;
        }
        if (root < 0 || (uint32_t)root == me) { /* j's folded segment, after its chunks for my fold */
            ops[k] = xrecv((int)j, root < 0 ? T_AG : T_TOROOT, out + jlo, jlen);
            ops[k].after = fold_op;
            ops[k++].swap = r->swap;
        }
    }
    int rc = run(c, ops, k);
    mlos__comm_free(c, segbuf);
    return rc;
}

static int reduce_any(struct mlos_comm *c, const void *in, void *out, size_t count, struct red *r, int root,
                      const char *what)
{
    size_t bytes = count * r->esize;
    int rc;
    uint32_t me = c->rank;
    int want_out = root < 0 || (uint32_t)root == me;
    if (count && (!in || (want_out && !out)))
        return bad(c, what);
    if (count == 0)
        return 0;
    if (c->n == 1) {
        if (out != in)
            memmove(out, in, bytes);
        return 0;
    }
    if ((size_t)c->n * bytes <= SMALL_BYTES) {
        /* Latency: every contribution goes where it is folded; the fold
         * itself is local, in rank order. Elements cross little-endian. */
        uint8_t *tmp = mlos__comm_alloc(c, (size_t)c->n * bytes + bytes);
        if (!tmp)
            return mlos__comm_fail(c, MLOS_ENOMEM, "%s: no memory for %zu bytes", what, (size_t)c->n * bytes);
        uint8_t *wire_in = tmp + (size_t)c->n * bytes;
        copy_in(wire_in, in, bytes, r->swap); /* own contribution in wire order too */
        rc = root < 0 ? bruck(c, wire_in, bytes, tmp, root < 0 ? T_ALLGATHER : T_GATHER)
                      : tree_gather(c, wire_in, bytes, tmp, root, T_GATHER);
        if (rc == 0 && want_out) {
            /* Blocks are in wire order: fold from a host-order copy. */
            if (r->swap)
                copy_swap8(tmp, tmp, (size_t)c->n * bytes);
            rc = fold_blocks(r, out, tmp, bytes, c->n, root < 0 ? me : (uint32_t)root);
            if (rc < 0)
                rc = mlos__comm_fail(c, rc, "reduction operator failed: %s", mlos_strerror(rc));
        }
        mlos__comm_free(c, tmp);
        return rc;
    }
    const uint8_t *src = in;
    uint8_t *copy = NULL;
    if (out && (const uint8_t *)in < (uint8_t *)out + bytes && (uint8_t *)out < (const uint8_t *)in + bytes) {
        if (!(copy = mlos__comm_alloc(c, bytes)))
            return mlos__comm_fail(c, MLOS_ENOMEM, "%s: no memory for %zu bytes", what, bytes);
        memcpy(copy, in, bytes);
        src = copy;
    }
    rc = large_reduce(c, r, src, out, count, root);
    mlos__comm_free(c, copy);
    return rc;
}

int mlos_reduce(struct mlos_comm *c, const void *in, void *out, size_t count, enum mlos_coll_type type,
                enum mlos_coll_op op, int root)
{
    struct red r;
    int rc;
    if ((rc = begin(c, "reduce")) < 0)
        return rc;
    if (root < 0 || (uint32_t)root >= c->n || op == MLOS_COLL_USER || red_init(c, &r, type, op, 8, 0) < 0)
        return bad(c, "reduce");
    return reduce_any(c, in, out, count, &r, root, "reduce");
}

int mlos_allreduce(struct mlos_comm *c, const void *in, void *out, size_t count, enum mlos_coll_type type,
                   enum mlos_coll_op op)
{
    struct red r;
    int rc;
    if ((rc = begin(c, "allreduce")) < 0)
        return rc;
    if (op == MLOS_COLL_USER || red_init(c, &r, type, op, 8, 0) < 0)
        return bad(c, "allreduce");
    return reduce_any(c, in, out, count, &r, -1, "allreduce");
}

int mlos_reduce_user(struct mlos_comm *c, const void *in, void *out, size_t count, size_t elem_size,
                     uint64_t op_arg, int root)
{
    struct red r;
    int rc;
    if ((rc = begin(c, "reduce")) < 0)
        return rc;
    if (root < 0 || (uint32_t)root >= c->n)
        return bad(c, "reduce");
    if ((rc = red_init(c, &r, 0, MLOS_COLL_USER, elem_size, op_arg)) < 0)
        return rc == MLOS_EINVAL ? bad(c, "reduce") : rc;
    return reduce_any(c, in, out, count, &r, root, "reduce");
}

int mlos_allreduce_user(struct mlos_comm *c, const void *in, void *out, size_t count, size_t elem_size,
                        uint64_t op_arg)
{
    struct red r;
    int rc;
    if ((rc = begin(c, "allreduce")) < 0)
        return rc;
    if ((rc = red_init(c, &r, 0, MLOS_COLL_USER, elem_size, op_arg)) < 0)
        return rc == MLOS_EINVAL ? bad(c, "allreduce") : rc;
    return reduce_any(c, in, out, count, &r, -1, "allreduce");
}
