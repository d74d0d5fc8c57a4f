/* The ring against a peer that rewrites shared control words (ring.h):
 * the producer never writes outside the ring whatever head the memory
 * says, the consumer never re-delivers frames when its tail is put back,
 * notices a head that moves backwards, decodes from its private copy, and
 * one drain ends after a ring's worth of bytes even if the producer keeps
 * refilling, without losing a frame. Deterministic: one thread plays both
 * sides, rewriting the shared words between calls. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlos_endian.h"
#include "mlos_error.h"
#include "ring.h"

#define RING 4096u
#define GUARD 256u

static uint8_t *ring_mem(void)
{
    /* control block, data, then guard bytes that must stay untouched */
    size_t n = sizeof(struct mlos_ring_ctl) + RING + GUARD;
    uint8_t *m = aligned_alloc(64, (n + 63) & ~(size_t)63);
    memset(m, 0xEE, n);
    CHECK_EQ(mlos_ring_format(m, RING), 0);
    return m;
}

static int guard_intact(const uint8_t *m)
{
    const uint8_t *g = m + sizeof(struct mlos_ring_ctl) + RING;
    for (unsigned i = 0; i < GUARD; i++)
        if (g[i] != 0xEE)
            return 0;
    return 1;
}

static void set32(uint32_t *p, uint32_t v) { *p = mlos_to_le32(v); }
static uint32_t get32(const uint32_t *p) { return mlos_from_le32(*p); }

/* A consumer that moves the producer's head anywhere, misaligned included:
 * every frame the producer writes stays inside the ring. */
static void test_producer_ignores_shared_head(void)
{
    uint8_t *m = ring_mem(), data[200] = {0};
    struct mlos_ring prod, cons;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    CHECK_EQ(mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING), 0);
    CHECK_EQ(mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING), 0);
    for (uint32_t k = 0; k < 60; k++) { /* 60 frames of 224 bytes: the ring wraps three times */
        uint32_t bad = RING - 15 + k % 15;
        set32(&prod.ctl->head, bad); /* just short of the end, not record aligned */
        int rc = mlos_ring_push(&prod, MLOS_FRAME_CALL, bad, data, sizeof(data));
        CHECK(rc == 0 || rc == MLOS_EAGAIN);
        CHECK(guard_intact(m));
        /* the consumer reads what was really written, not the scribble */
        set32(&prod.ctl->head, prod.prod_head);
        while (mlos_ring_peek(&cons, &h, &p) == 1) {
            CHECK_EQ(h.request_id, bad);
            CHECK_EQ(h.length, sizeof(data));
            mlos_ring_release(&cons, &h);
        }
    }
    CHECK(guard_intact(m));
    free(m);
}

/* A producer that puts the consumer's tail back: nothing is delivered twice. */
static void test_consumer_ignores_shared_tail(void)
{
    uint8_t *m = ring_mem();
    struct mlos_ring prod, cons;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int seen = 0;
    mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING);
    mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING);
    for (uint32_t i = 0; i < 10; i++)
        CHECK_EQ(mlos_ring_push(&prod, MLOS_FRAME_MSG, i, "abc", 3), 0);
    for (int round = 0; round < 3; round++) {
        while (mlos_ring_peek(&cons, &h, &p) == 1) {
            seen++;
            mlos_ring_release(&cons, &h);
        }
        set32(&cons.ctl->tail, 0); /* rewind */
    }
    CHECK_EQ(seen, 10);
    free(m);
}

/* A head that goes backwards, or is misaligned, fences the ring. */
static void test_head_rewind_is_eproto(void)
{
    uint8_t *m = ring_mem();
    struct mlos_ring prod, cons;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING);
    mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING);
    for (uint32_t i = 0; i < 4; i++)
        mlos_ring_push(&prod, MLOS_FRAME_MSG, i, "abc", 3);
    while (mlos_ring_peek(&cons, &h, &p) == 1)
        mlos_ring_release(&cons, &h);
    uint32_t head = get32(&prod.ctl->head);
    set32(&prod.ctl->head, head - 16);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), MLOS_EPROTO);
    set32(&prod.ctl->head, head + 8);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), MLOS_EPROTO);
    set32(&prod.ctl->head, head + 2 * RING);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), MLOS_EPROTO);
    set32(&prod.ctl->head, head);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), 0);
    /* misaligned indices are refused when attaching, too */
    set32(&prod.ctl->tail, 8);
    CHECK_EQ(mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING), MLOS_EPROTO);
    free(m);
}

/* With a shadow buffer, the payload handed out is a private copy. */
static void test_shadow_copy(void)
{
    uint8_t *m = ring_mem(), *shadow;
    struct mlos_ring prod, cons;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING);
    mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING);
    shadow = malloc(cons.max_payload);
    mlos_ring_set_shadow(&cons, shadow);
    CHECK_EQ(mlos_ring_push(&prod, MLOS_FRAME_MSG, 1, "hello", 5), 0);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), 1);
    CHECK(p == shadow && h.length == 5 && !memcmp(p, "hello", 5));
    memset(prod.data + MLOS_FRAME_HDR_SIZE, 'X', 5); /* the peer rewrites it after the check */
    CHECK(!memcmp(p, "hello", 5));
    mlos_ring_release(&cons, &h);
    free(shadow);
    free(m);
}

/* A producer that refills the ring as fast as it is drained: one drain
 * (peeks until 0) stops after at most a ring's worth of bytes; the next
 * drains go on, in order, and nothing is lost. */
static void test_drain_is_bounded(void)
{
    uint8_t *m = ring_mem();
    struct mlos_ring prod, cons;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    uint32_t next_push = 0, next_seen = 0, per_drain_max = 0, drains = 0;
    const uint32_t rec = mlos_ring_record_size(0);
    mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING);
    mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING);
    while (mlos_ring_push(&prod, MLOS_FRAME_LOG, next_push, NULL, 0) == 0)
        next_push++;
    while (drains < 20) {
        uint32_t n = 0;
        int rc;
        while ((rc = mlos_ring_peek(&cons, &h, &p)) == 1) {
            CHECK_EQ(h.request_id, next_seen);
            next_seen++;
            mlos_ring_release(&cons, &h);
            if (mlos_ring_push(&prod, MLOS_FRAME_LOG, next_push, NULL, 0) == 0)
                next_push++;
            if (++n > 100 * RING / rec)
                break; /* unbounded: stop the test here */
        }
        CHECK_EQ(rc, 0);
        CHECK(!mlos_ring_empty(&cons)); /* it stopped with frames waiting */
        if (n > per_drain_max)
            per_drain_max = n;
        drains++;
    }
    fprintf(stderr, "refilled ring: at most %u frames (%u bytes) per drain, ring %u bytes\n", per_drain_max,
            per_drain_max * rec, RING);
    CHECK(per_drain_max * rec <= RING);
    CHECK(per_drain_max > 0);
    /* then the producer stops: everything pushed arrives, in order */
    for (;;) {
        int rc = mlos_ring_peek(&cons, &h, &p);
        if (rc == 1) {
            CHECK_EQ(h.request_id, next_seen);
            next_seen++;
            mlos_ring_release(&cons, &h);
        } else if (rc < 0 || mlos_ring_empty(&cons)) {
            CHECK_EQ(rc, 0);
            break;
        }
    }
    CHECK_EQ(next_seen, next_push);
    free(m);
}

int main(void)
{
    test_producer_ignores_shared_head();
    test_consumer_ignores_shared_tail();
    test_head_rewind_is_eproto();
    test_shadow_copy();
    test_drain_is_bounded();
    CHECK_DONE();
}
