/* SPSC frame ring over shared memory (see ring.h for the protocol). */
#include "ring.h"

#include <string.h>

#include "mlos_endian.h"
#include "mlos_error.h"

/* Shared control words are little-endian; atomics act on the raw word. */
static inline uint32_t load_acq(const uint32_t *p) { return mlos_from_le32(__atomic_load_n(p, __ATOMIC_ACQUIRE)); }
static inline uint32_t load_rlx(const uint32_t *p) { return mlos_from_le32(__atomic_load_n(p, __ATOMIC_RELAXED)); }
static inline void store_rel(uint32_t *p, uint32_t v) { __atomic_store_n(p, mlos_to_le32(v), __ATOMIC_RELEASE); }

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

int mlos_ring_format(void *mem, uint32_t size)
{
    struct mlos_ring_ctl *ctl = mem;
    if (!mem || !is_pow2(size) || size < 4096 || size > (1u << 30))
        return MLOS_EINVAL;
    memset(ctl, 0, sizeof(*ctl));
    ctl->size = mlos_to_le32(size);
    return 0;
}

int mlos_ring_attach(struct mlos_ring *r, void *mem, size_t avail)
{
    struct mlos_ring_ctl *ctl = mem;
    uint32_t size, head, tail;
    if (!mem || avail < sizeof(*ctl) || ((uintptr_t)mem & (MLOS_CACHELINE - 1)))
        return MLOS_EINVAL;
    size = load_rlx(&ctl->size);
    head = load_acq(&ctl->head);
    tail = load_acq(&ctl->tail);
    if (!is_pow2(size) || size < 4096 || size > (1u << 30) || avail - sizeof(*ctl) < size)
        return MLOS_EPROTO;
    if (((head | tail) & (MLOS_RING_RECORD_ALIGN - 1)) || head - tail > size)
        return MLOS_EPROTO;
    /* Every field by name, no memset: a shard attaches before HELLO, where
     * on a 32-bit bare-metal target memset would be a call translated just
     * for this. */
    r->ctl = ctl;
    r->data = (uint8_t *)mem + sizeof(*ctl);
    r->size = size;
    /* Records up to half the ring always fit into an empty ring, PAD
     * included, so EAGAIN always means the consumer holds real frames. */
    r->max_payload = size / 2 - MLOS_FRAME_HDR_SIZE;
    r->reserved_at = r->reserved_len = 0;
    r->prod_head = head;
    r->cons_tail = r->cons_head = tail;
    r->budget = 0;
    r->armed_head = r->armed_tail = tail; /* a frame there now counts as new at the first prepare_wait_new */
    r->cut_short = 0;
    r->shadow = NULL;
    return 0;
}

void mlos_ring_set_shadow(struct mlos_ring *r, void *buf) { r->shadow = buf; }

static void write_hdr(struct mlos_ring *r, uint32_t pos, uint8_t type, uint32_t id, uint32_t length)
{
    struct mlos_frame_hdr h = {MLOS_FRAME_VERSION, type, 0, id, length};
    mlos_frame_hdr_encode(&h, r->data + (pos & (r->size - 1)));
}

/* Producer: bytes the consumer still holds, from our private head and its
 * published tail. A tail that is misaligned, or ahead of what we wrote, or
 * more than a ring behind, is corrupt: MLOS_EPROTO (as a huge count). */
static uint32_t used_bytes(const struct mlos_ring *r)
{
    uint32_t tail = load_acq(&r->ctl->tail), used = r->prod_head - tail;
    return (tail & (MLOS_RING_RECORD_ALIGN - 1)) ? UINT32_MAX : used;
}

int mlos_ring_reserve(struct mlos_ring *r, uint32_t length, void **payload)
{
    uint32_t rec, head, off, contig, used;

    if (length > r->max_payload)
        return MLOS_ETOOBIG;
    rec = mlos_ring_record_size(length);
    head = r->prod_head;
    used = used_bytes(r);
    if (used > r->size) /* consumer scribbled on its tail */
        return MLOS_EPROTO;
    off = head & (r->size - 1);
    contig = r->size - off;
    if (rec > contig) {
        /* Frames never wrap: fill the end with a PAD frame first. */
        if (r->size - used < contig)
            return MLOS_EAGAIN;
        write_hdr(r, head, MLOS_FRAME_PAD, 0, contig - MLOS_FRAME_HDR_SIZE);
        head += contig;
        r->prod_head = head;
        store_rel(&r->ctl->head, head);
        used += contig;
    }
    if (r->size - used < rec)
        return MLOS_EAGAIN;
    r->reserved_at = head;
    r->reserved_len = length;
    *payload = r->data + (head & (r->size - 1)) + MLOS_FRAME_HDR_SIZE;
    return 0;
}

void mlos_ring_commit(struct mlos_ring *r, uint8_t type, uint32_t request_id, uint32_t length)
{
    if (length > r->reserved_len)
        length = r->reserved_len; /* never publish past the reservation */
    write_hdr(r, r->reserved_at, type, request_id, length);
    r->prod_head = r->reserved_at + mlos_ring_record_size(length);
    store_rel(&r->ctl->head, r->prod_head);
    r->reserved_len = 0;
}

int mlos_ring_push(struct mlos_ring *r, uint8_t type, uint32_t request_id, const void *payload, uint32_t length)
{
    void *dst;
    int rc = mlos_ring_reserve(r, length, &dst);
    if (rc < 0)
        return rc;
    if (length)
        memcpy(dst, payload, length);
    mlos_ring_commit(r, type, request_id, length);
    return 0;
}

int mlos_ring_consumer_waiting(const struct mlos_ring *r)
{
    /* Pairs with the fence in prepare_wait: our head store must be visible
     * before we read the flag, or both sides could sleep. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&r->ctl->waiting, __ATOMIC_RELAXED) != 0;
}

/* Consumer: read the producer's head once and check it against our own
 * tail. Returns the bytes now available or MLOS_EPROTO. */
static int load_head(struct mlos_ring *r)
{
    uint32_t head = load_acq(&r->ctl->head), avail = head - r->cons_tail;
    /* A head behind our tail wraps to a huge count: rewinding is caught here. */
    if (avail > r->size || (avail & (MLOS_RING_RECORD_ALIGN - 1)))
        return MLOS_EPROTO;
    r->cons_head = head;
    return (int)avail;
}

static void consumed(struct mlos_ring *r, uint32_t rec)
{
    r->cons_tail += rec;
    r->budget += rec;
    store_rel(&r->ctl->tail, r->cons_tail);
}

int mlos_ring_peek(struct mlos_ring *r, struct mlos_frame_hdr *hdr, const uint8_t **payload)
{
    for (;;) {
        uint32_t tail = r->cons_tail, avail = r->cons_head - tail, off, contig, rec;
        const uint8_t *p;

        if (r->budget >= r->size) {
            r->budget = 0; /* this drain did its share: let the loop run */
            r->cut_short = 1;
            return 0;
        }
        if (avail == 0) {
            int rc = load_head(r);
            if (rc <= 0) {
                if (rc == 0)
                    r->budget = 0;
                return rc;
            }
            avail = (uint32_t)rc;
        }
        off = tail & (r->size - 1);
        contig = r->size - off;
        p = r->data + off;
        if (mlos_frame_hdr_decode(p, avail < contig ? avail : contig, r->max_payload, hdr) < 0)
            return MLOS_EPROTO;
        rec = mlos_ring_record_size(hdr->length);
        if (hdr->type == MLOS_FRAME_PAD) {
            if (rec != contig || rec > avail)
                return MLOS_EPROTO;
            consumed(r, rec);
            continue;
        }
        if (rec > contig || rec > avail)
            return MLOS_EPROTO;
        p += MLOS_FRAME_HDR_SIZE;
        if (r->shadow) {
            /* One read of the shared bytes: the decoder sees this copy only. */
            if (hdr->length)
                memcpy(r->shadow, p, hdr->length);
            p = r->shadow;
        }
        *payload = p;
        return 1;
    }
}

int mlos_ring_empty(const struct mlos_ring *r)
{
    return load_acq(&r->ctl->head) == r->cons_tail;
}

void mlos_ring_release(struct mlos_ring *r, const struct mlos_frame_hdr *hdr)
{
    consumed(r, mlos_ring_record_size(hdr->length));
}

/* The consumer's half of the sleep protocol: say it waits, then (after a
 * full fence, paired with the producer's) read the head it would sleep on. */
static uint32_t announce_wait(struct mlos_ring *r)
{
    __atomic_store_n(&r->ctl->waiting, mlos_to_le32(1), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load_acq(&r->ctl->head);
}

int mlos_ring_prepare_wait(struct mlos_ring *r) { return announce_wait(r) != r->cons_tail; }

int mlos_ring_prepare_wait_new(struct mlos_ring *r, int *held)
{
    uint32_t head = announce_wait(r);
    /* Comparing the tail too keeps a head that came round to the same
     * value (2^32 bytes later) from passing for an unchanged one: with the
     * tail fixed, the head moves by less than a ring. */
    int fresh = head != r->armed_head || r->cons_tail != r->armed_tail || r->cut_short;
    r->armed_head = head;
    r->armed_tail = r->cons_tail;
    r->cut_short = 0; /* the budget is reset: the next peek sees the frame at the tail */
    if (head == r->cons_tail)
        return 0;
    if (!fresh && held)
        *held = 1;
    return fresh;
}

void mlos_ring_done_wait(struct mlos_ring *r)
{
    __atomic_store_n(&r->ctl->waiting, 0, __ATOMIC_RELAXED);
}

/* Would reserve() succeed for a record of rec bytes (PAD included)? */
static int has_room(const struct mlos_ring *r, uint32_t rec)
{
    uint32_t head = r->prod_head, used = used_bytes(r);
    uint32_t contig = r->size - (head & (r->size - 1));
    if (used > r->size)
        return 1; /* corrupt: let reserve() report it */
    return rec <= contig ? r->size - used >= rec : r->size - used >= contig + rec;
}

int mlos_ring_producer_prepare_wait(struct mlos_ring *r, uint32_t length)
{
    __atomic_store_n(&r->ctl->producer_waiting, mlos_to_le32(1), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return length > r->max_payload || has_room(r, mlos_ring_record_size(length));
}

void mlos_ring_producer_done_wait(struct mlos_ring *r)
{
    __atomic_store_n(&r->ctl->producer_waiting, 0, __ATOMIC_RELAXED);
}

int mlos_ring_producer_waiting(const struct mlos_ring *r)
{
    /* Pairs with the fence in producer_prepare_wait. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&r->ctl->producer_waiting, __ATOMIC_RELAXED) != 0;
}
