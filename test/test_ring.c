/* Shared-memory rings and the window layout: wrap-around, full and
 * oversized frames, corruption by a hostile peer, the sleep handshake, and
 * a two-thread stress that checks every frame arrives once, in order. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlos_endian.h"
#include "mlos_error.h"
#include "ring.h"
#include "window.h"

#define RING 4096

/* aligned_alloc wants a size that is a multiple of the alignment */
static void *page_alloc(size_t size) { return aligned_alloc(4096, (size + 4095) & ~(size_t)4095); }

static void *ring_mem(uint32_t size)
{
    void *m = page_alloc(sizeof(struct mlos_ring_ctl) + size);
    memset(m, 0xEE, sizeof(struct mlos_ring_ctl) + size);
    return m;
}

static void test_basic(void)
{
    void *m = ring_mem(RING);
    struct mlos_ring prod, cons;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    uint8_t data[3000];

    CHECK_EQ(mlos_ring_format(m, 1000), MLOS_EINVAL); /* not a power of two */
    CHECK_EQ(mlos_ring_format(m, RING), 0);
    CHECK_EQ(mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING), 0);
    CHECK_EQ(mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING), 0);
    CHECK_EQ(mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING - 1), MLOS_EPROTO);
    CHECK_EQ(mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING), 0);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), 0);

    for (int i = 0; i < 3000; i++)
        data[i] = (uint8_t)i;
    /* Fill, drain, repeat: positions walk around the ring and force PADs. */
    for (int round = 0; round < 50; round++) {
        uint32_t len = (uint32_t)(round * 97 % 2000) + 1;
        CHECK_EQ(mlos_ring_push(&prod, MLOS_FRAME_CALL, (uint32_t)round, data, len), 0);
        CHECK_EQ(mlos_ring_peek(&cons, &h, &p), 1);
        CHECK_EQ(h.request_id, round);
        CHECK_EQ(h.length, len);
        CHECK(memcmp(p, data, len) == 0);
        mlos_ring_release(&cons, &h);
        CHECK_EQ(mlos_ring_peek(&cons, &h, &p), 0);
    }
    /* Full ring: EAGAIN, then room again after a release. */
    int pushed = 0;
    while (mlos_ring_push(&prod, MLOS_FRAME_REPLY, 1, data, 1000) == 0)
        pushed++;
    CHECK(pushed >= 2 && pushed <= 4);
    CHECK_EQ(mlos_ring_push(&prod, MLOS_FRAME_REPLY, 1, data, 1000), MLOS_EAGAIN);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), 1);
    mlos_ring_release(&cons, &h);
    CHECK_EQ(mlos_ring_push(&prod, MLOS_FRAME_REPLY, 2, data, 1000), 0);
    /* Never fits: too big for the ring. */
    CHECK_EQ(mlos_ring_push(&prod, MLOS_FRAME_REPLY, 3, data, RING / 2 - 15), MLOS_ETOOBIG);
    CHECK_EQ(prod.max_payload, RING / 2 - 16);
    free(m);
}

static void test_hostile_peer(void)
{
    void *m = ring_mem(RING);
    struct mlos_ring prod, cons;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    uint8_t data[64] = {0};

    mlos_ring_format(m, RING);
    mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING);
    mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING);

    /* bad magic in the frame header */
    mlos_ring_push(&prod, MLOS_FRAME_CALL, 1, data, 32);
    prod.data[0] ^= 1;
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), MLOS_EPROTO);
    prod.data[0] ^= 1;
    /* length running past what the producer published */
    prod.data[14] = 0x10;
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), MLOS_EPROTO);
    prod.data[14] = 0;
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), 1);
    mlos_ring_release(&cons, &h);
    /* head beyond the ring size */
    prod.ctl->head = mlos_to_le32(mlos_from_le32(prod.ctl->head) + 2 * RING);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), MLOS_EPROTO);
    /* head not record aligned */
    prod.ctl->head = mlos_to_le32(mlos_from_le32(cons.ctl->tail) + 8);
    CHECK_EQ(mlos_ring_peek(&cons, &h, &p), MLOS_EPROTO);
    /* a size that is not a power of two is refused at attach */
    ((struct mlos_ring_ctl *)m)->size = mlos_to_le32(3000);
    CHECK_EQ(mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING), MLOS_EPROTO);
    free(m);
}

static void test_wait_flag(void)
{
    void *m = ring_mem(RING);
    struct mlos_ring prod, cons;
    uint8_t b = 0;

    mlos_ring_format(m, RING);
    mlos_ring_attach(&prod, m, sizeof(struct mlos_ring_ctl) + RING);
    mlos_ring_attach(&cons, m, sizeof(struct mlos_ring_ctl) + RING);
    CHECK_EQ(mlos_ring_consumer_waiting(&prod), 0);
    CHECK_EQ(mlos_ring_prepare_wait(&cons), 0); /* empty: safe to sleep */
    CHECK_EQ(mlos_ring_consumer_waiting(&prod), 1);
    mlos_ring_push(&prod, MLOS_FRAME_CALL, 1, &b, 1);
    CHECK_EQ(mlos_ring_prepare_wait(&cons), 1); /* data: do not sleep */
    mlos_ring_done_wait(&cons);
    CHECK_EQ(mlos_ring_consumer_waiting(&prod), 0);

    /* a consumer that passes over the frame at the tail may sleep on it,
     * but wakes for every frame after it, and for its own releases */
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, NULL), 1); /* first call: the frame is new */
    CHECK_EQ(mlos_ring_consumer_waiting(&prod), 1);
    mlos_ring_done_wait(&cons);
    int held = 0;
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, &held), 0); /* seen and left there: safe to sleep */
    CHECK_EQ(held, 1); /* ... though a frame is held */
    CHECK_EQ(mlos_ring_consumer_waiting(&prod), 1); /* ... and a producer still rings */
    mlos_ring_done_wait(&cons);
    CHECK_EQ(mlos_ring_prepare_wait(&cons), 1); /* the plain check still reports it */
    mlos_ring_done_wait(&cons);
    mlos_ring_push(&prod, MLOS_FRAME_CALL, 3, &b, 1);
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, NULL), 1); /* a second frame arrived */
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, NULL), 0);
    struct mlos_frame_hdr h0;
    const uint8_t *p0;
    CHECK_EQ(mlos_ring_peek(&cons, &h0, &p0), 1);
    mlos_ring_release(&cons, &h0);
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, NULL), 1); /* released one: look at the next again */
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, NULL), 0);
    CHECK_EQ(mlos_ring_peek(&cons, &h0, &p0), 1);
    CHECK_EQ(h0.request_id, 3u);
    mlos_ring_release(&cons, &h0);
    held = 0;
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, &held), 0); /* empty */
    CHECK_EQ(held, 0);
    mlos_ring_done_wait(&cons);
    CHECK_EQ(mlos_ring_consumer_waiting(&prod), 0);

    /* a drain ended on its budget has not seen the frame at the tail:
     * report it once more, although head and tail did not move */
    uint8_t mid[512 - MLOS_FRAME_HDR_SIZE] = {0}; /* records tile the ring: no PAD moves the tail */
    unsigned drained = 0;
    CHECK_EQ(mlos_ring_peek(&cons, &h0, &p0), 0); /* empty: the next drain starts with a full budget */
    mlos_ring_push(&prod, MLOS_FRAME_CALL, 4, mid, sizeof(mid));
    for (;;) { /* refilled as fast as drained: the budget runs out */
        CHECK_EQ(mlos_ring_push(&prod, MLOS_FRAME_CALL, 4, mid, sizeof(mid)), 0);
        mlos_ring_prepare_wait_new(&cons, NULL);
        if (mlos_ring_peek(&cons, &h0, &p0) != 1)
            break;
        mlos_ring_release(&cons, &h0);
        CHECK(++drained <= RING / sizeof(mid));
    }
    CHECK_EQ(drained, RING / 512u); /* a ring's worth */
    CHECK(!mlos_ring_empty(&cons)); /* budget spent, frames wait */
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, NULL), 1); /* nothing moved since the last call, but the drain was cut */
    CHECK_EQ(mlos_ring_prepare_wait_new(&cons, NULL), 0);
    CHECK_EQ(mlos_ring_peek(&cons, &h0, &p0), 1); /* the budget is back */
    mlos_ring_release(&cons, &h0);
    mlos_ring_done_wait(&cons);

    /* full ring: the producer may sleep only while there is no room */
    uint8_t big[1500] = {0};
    struct mlos_frame_hdr h;
    const uint8_t *p;
    while (mlos_ring_push(&prod, MLOS_FRAME_CALL, 2, big, sizeof(big)) == 0)
        ;
    CHECK_EQ(mlos_ring_producer_waiting(&cons), 0);
    CHECK_EQ(mlos_ring_producer_prepare_wait(&prod, sizeof(big)), 0); /* full: safe to sleep */
    CHECK_EQ(mlos_ring_producer_waiting(&cons), 1);
    while (mlos_ring_peek(&cons, &h, &p) == 1)
        mlos_ring_release(&cons, &h);
    CHECK_EQ(mlos_ring_producer_prepare_wait(&prod, sizeof(big)), 1); /* room again */
    mlos_ring_producer_done_wait(&prod);
    CHECK_EQ(mlos_ring_producer_waiting(&cons), 0);
    free(m);
}

static void test_window(void)
{
    size_t size = mlos_window_size(8192, 100000);
    uint8_t *w = page_alloc(size);
    struct mlos_window_hdr *h = (struct mlos_window_hdr *)w;

    CHECK(size >= 4096 + 2 * (8192 + 192) + 100000);
    CHECK_EQ(mlos_window_format(w, size, 8192, 7), 0);
    CHECK_EQ(mlos_window_check(w, size), 0);
    CHECK_EQ(mlos_window_check(w, size - 4096), MLOS_EPROTO); /* size mismatch */
    CHECK_EQ(mlos_from_le32(h->shard_id), 7);
    CHECK(mlos_from_le64(h->bulk_size) >= 100000);
    CHECK(mlos_from_le64(h->bulk_off) + mlos_from_le64(h->bulk_size) == size);
    /* the magic bytes are little-endian "MLWN" on every host */
    CHECK(w[0] == 'M' && w[1] == 'L' && w[2] == 'W' && w[3] == 'N');
    h->bulk_off = mlos_to_le64(size - 10);
    CHECK_EQ(mlos_window_check(w, size), MLOS_EPROTO); /* bulk runs past the end */
    mlos_window_format(w, size, 8192, 7);
    h->to_master_off = mlos_to_le64(mlos_from_le64(h->to_shard_off) + 64);
    CHECK_EQ(mlos_window_check(w, size), MLOS_EPROTO); /* rings overlap */
    mlos_window_format(w, size, 8192, 7);
    h->version = mlos_to_le32(9);
    CHECK_EQ(mlos_window_check(w, size), MLOS_EPROTO);
    CHECK_EQ(mlos_window_format(w, 4096, 8192, 1), MLOS_EINVAL); /* too small */
    free(w);
}

/* ---- two threads, like master and shard ---- */

#define STRESS_FRAMES 300000
static struct mlos_ring s_prod, s_cons;

static void *producer(void *arg)
{
    uint8_t buf[600];
    for (uint32_t i = 0; i < STRESS_FRAMES; i++) {
        uint32_t len = 8 + (i * 2654435761u) % 500;
        memset(buf, (int)(i & 0xff), len);
        memcpy(buf, &i, 4);
        while (mlos_ring_push(&s_prod, MLOS_FRAME_CALL, i, buf, len) == MLOS_EAGAIN)
            ;
    }
    return arg;
}

static void test_stress(void)
{
    void *m = ring_mem(16384);
    pthread_t t;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    uint32_t next = 0, bad = 0;

    mlos_ring_format(m, 16384);
    mlos_ring_attach(&s_prod, m, sizeof(struct mlos_ring_ctl) + 16384);
    mlos_ring_attach(&s_cons, m, sizeof(struct mlos_ring_ctl) + 16384);
    pthread_create(&t, NULL, producer, NULL);
    while (next < STRESS_FRAMES) {
        int rc = mlos_ring_peek(&s_cons, &h, &p);
        if (rc < 0) {
            bad++;
            break;
        }
        if (rc == 0)
            continue;
        uint32_t got;
        memcpy(&got, p, 4);
        if (got != next || h.request_id != next || h.length != 8 + (next * 2654435761u) % 500 ||
            p[h.length - 1] != (next & 0xff))
            bad++;
        mlos_ring_release(&s_cons, &h);
        next++;
    }
    pthread_join(t, NULL);
    CHECK_EQ(bad, 0);
    CHECK_EQ(next, STRESS_FRAMES);
    free(m);
}

int main(void)
{
    test_basic();
    test_hostile_peer();
    test_wait_flag();
    test_window();
    test_stress();
    CHECK_DONE();
}
