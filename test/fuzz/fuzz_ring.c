/* fuzz_ring.c -- frame headers (rpc/wire/frame.c) and the shared-memory ring
 * (rpc/wire/ring.c) with a hostile peer.
 *
 * The input is a small program run against one ring region (control
 * block + data, exactly sized so a sanitizer sees any access outside it):
 *
 *   byte 0        ring size (4096 << (b & 1)), shadow buffer (b & 2)
 *   bytes 1..8    initial head and tail (little-endian u32)
 *   then ops      peer write (any bytes anywhere in the region, the
 *                 indices and size word included), drain (peek/release
 *                 until empty), reserve+commit, push, wait-protocol
 *                 calls, re-attach over whatever the region now holds,
 *                 reformat.
 *
 * We own one producer view and one consumer view of the ring; the peer is
 * whoever writes the region behind our backs. Checked:
 *   - no access outside the region (sanitizer) and none past a payload:
 *     every payload peek returns or reserve hands out lies inside the data
 *     area (or the shadow buffer) with its whole length;
 *   - a drain ends: peek returns 0 after at most one ring's worth of
 *     frames, and after an MLOS_EPROTO the view is not used again;
 *   - while the peer has not written, the ring is a FIFO: the consumer
 *     sees exactly the frames the producer committed, bytes included.
 * Also decodes the raw input as one frame (mlos_frame_decode).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mlos_error.h"
#include "ring.h"

#define FAIL(...)                                                                                                     \
    do {                                                                                                              \
        fprintf(stderr, "fuzz_ring: " __VA_ARGS__);                                                                   \
        fputc('\n', stderr);                                                                                          \
        abort();                                                                                                      \
    } while (0)

struct sent {
    uint8_t type;
    uint32_t id, len;
    uint8_t fill;
};

/* Payload bytes: frame byte k is (fill + k) & 255, i.e. pattern + fill. */
static uint8_t pattern[8192 + 256];

struct input {
    const uint8_t *p, *end;
};

static unsigned get8(struct input *in) { return in->p < in->end ? *in->p++ : 0; }
static uint32_t get16(struct input *in) { return get8(in) | get8(in) << 8; }
static uint32_t get32(struct input *in) { return get16(in) | get16(in) << 16; }

static void check_frame(const uint8_t *data, size_t size)
{
    struct mlos_frame_hdr h;
    const uint8_t *payload;
    int rc = mlos_frame_decode(data, size, MLOS_FRAME_MAX_PAYLOAD, &h, &payload);
    if (rc >= 0 && (payload != data + MLOS_FRAME_HDR_SIZE || (size_t)rc != MLOS_FRAME_HDR_SIZE + h.length ||
                    (size_t)rc > size))
        FAIL("frame decode accepted %d bytes of %zu", rc, size);
    if (rc >= 0) {
        /* and what it accepts re-encodes to the same bytes */
        uint8_t out[MLOS_FRAME_HDR_SIZE + 64];
        if (h.length <= 64) {
            int n = mlos_frame_encode(h.type, h.request_id, payload, h.length, out, sizeof(out));
            if (n != rc || memcmp(out, data, (size_t)n))
                FAIL("frame re-encode differs");
        }
    } else if (rc != MLOS_ETRUNC && rc != MLOS_EBADMAGIC && rc != MLOS_EVERSION && rc != MLOS_EBADTYPE &&
               rc != MLOS_ETOOBIG) {
        FAIL("frame decode returned %d", rc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, data + size};
    unsigned cfg = get8(&in);
    uint32_t rsize = 4096u << (cfg & 1), total = (uint32_t)sizeof(struct mlos_ring_ctl) + rsize;
    uint8_t *mem = aligned_alloc(MLOS_CACHELINE, total);
    uint8_t *shadow = NULL;
    struct mlos_ring prod, cons;
    struct sent q[512];
    size_t qh = 0, qn = 0;
    int prod_ok, cons_ok, clean = 1;

    if (!pattern[1])
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (uint8_t)i;
    check_frame(data, size);
    if (!mem)
        abort();
    memset(mem, 0, total);
    if (mlos_ring_format(mem, rsize) < 0)
        FAIL("format %u", rsize);
    {
        struct mlos_ring_ctl *ctl = (struct mlos_ring_ctl *)mem;
        uint32_t h = get32(&in), t = get32(&in);
        if (h || t) {
            /* a ring some producer and consumer already used (indices are
             * little-endian in memory, as the input) */
            memcpy(&ctl->head, &h, 4);
            memcpy(&ctl->tail, &t, 4);
            clean = (h == t && !((h | t) & 15));
        }
    }
    prod_ok = mlos_ring_attach(&prod, mem, total) == 0;
    cons_ok = mlos_ring_attach(&cons, mem, total) == 0;
    if (!prod_ok || !cons_ok)
        clean = 0;
    if (cons_ok && (cfg & 2)) {
        shadow = malloc(cons.max_payload ? cons.max_payload : 1);
        mlos_ring_set_shadow(&cons, shadow);
    }

    for (int steps = 0; in.p < in.end && steps < 128; steps++) {
        unsigned op = get8(&in);
        switch (op % 8) {
        case 0: { /* the peer writes n bytes at off */
            uint32_t off = get16(&in) % total, n = get8(&in) % 33;
            for (uint32_t i = 0; i < n && off + i < total; i++)
                mem[off + i] = (uint8_t)get8(&in);
            clean = 0;
            break;
        }
        case 1:
        case 2: { /* drain */
            if (!cons_ok)
                break;
            int zeros = 0;
            for (uint32_t i = 0; i <= rsize / MLOS_RING_RECORD_ALIGN + 2; i++) {
                struct mlos_frame_hdr h;
                const uint8_t *pl;
                int rc = mlos_ring_peek(&cons, &h, &pl);
                if (rc < 0) {
                    if (rc != MLOS_EPROTO)
                        FAIL("peek returned %d", rc);
                    if (clean)
                        FAIL("peek refused a ring only we wrote");
                    cons_ok = 0;
                    break;
                }
                if (rc == 0) {
                    if (clean && qn)
                        FAIL("peek found nothing with %zu frames queued", qn);
                    /* a budgeted drain may stop once while frames wait */
                    if (++zeros == 2 || (clean && !qn))
                        break;
                    continue;
                }
                zeros = 0;
                if (h.type == MLOS_FRAME_PAD || h.type > MLOS_FRAME_TYPE_MAX || h.length > cons.max_payload)
                    FAIL("peek returned type %u length %u", h.type, h.length);
                if (shadow && pl == shadow) {
                    /* the copy: within the shadow buffer */
                } else if (pl < cons.data + MLOS_FRAME_HDR_SIZE || pl > cons.data + rsize ||
                           h.length > (uint32_t)(cons.data + rsize - pl)) {
                    FAIL("payload of %u bytes at %td outside the data area", h.length, pl - cons.data);
                }
                if (clean) {
                    struct sent *s = &q[qh];
                    if (!qn || h.type != s->type || h.request_id != s->id || h.length != s->len)
                        FAIL("FIFO broken: got type %u id %u len %u", h.type, h.request_id, h.length);
                    if (h.length && memcmp(pl, pattern + s->fill, h.length))
                        FAIL("payload bytes differ");
                    qh = (qh + 1) % 512, qn--;
                } else if (h.length) {
                    /* first and last byte: the sanitizer checks they are ours */
                    volatile uint8_t sink = pl[0] ^ pl[h.length - 1];
                    (void)sink;
                }
                mlos_ring_release(&cons, &h);
            }
            if (cons_ok && mlos_ring_producer_waiting(&cons))
                mlos_ring_producer_done_wait(&cons);
            break;
        }
        case 3:
        case 4: { /* reserve + commit (4: push) */
            uint32_t len = get16(&in) % (rsize / 2 + 64), type = 1 + get8(&in) % MLOS_FRAME_TYPE_MAX,
                     id = get8(&in), fill = get8(&in), clen = len;
            void *dst;
            int rc;
            if (!prod_ok)
                break;
            if (op % 8 == 3) {
                rc = mlos_ring_reserve(&prod, len, &dst);
                if (rc == 0) {
                    uint8_t *d = dst;
                    if (d < prod.data + MLOS_FRAME_HDR_SIZE || d > prod.data + rsize ||
                        len > (uint32_t)(prod.data + rsize - d))
                        FAIL("reservation of %u bytes at %td outside the data area", len, d - prod.data);
                    if (len)
                        memcpy(d, pattern + fill, len);
                    clen = len - (len ? get8(&in) % (len + 1) : 0); /* commit may shrink */
                    mlos_ring_commit(&prod, (uint8_t)type, id, clen);
                }
            } else {
                rc = mlos_ring_push(&prod, (uint8_t)type, id, pattern + fill, len);
            }
            if (rc == 0 && mlos_ring_consumer_waiting(&prod))
                mlos_ring_done_wait(&prod);
            if (rc == 0 && clean) {
                if (qn == 512)
                    FAIL("more frames than fit");
                q[(qh + qn) % 512] = (struct sent){(uint8_t)type, id, clen, (uint8_t)fill};
                qn++;
            } else if (rc == MLOS_EPROTO) {
                if (clean)
                    FAIL("reserve refused a ring only we wrote");
                prod_ok = 0;
            } else if (rc == MLOS_ETOOBIG) {
                if (len <= prod.max_payload)
                    FAIL("reserve refused %u bytes as too big", len);
            } else if (rc == MLOS_EAGAIN) {
                if (clean && !qn)
                    FAIL("an empty ring has no room for %u bytes", len);
            } else if (rc != 0) {
                FAIL("reserve returned %d", rc);
            }
            break;
        }
        case 5: /* the sleep protocols: flags only, never past the ring */
            if (cons_ok) {
                int more = mlos_ring_prepare_wait(&cons);
                if (clean && more != (qn != 0))
                    FAIL("prepare_wait says %d with %zu queued", more, qn);
                (void)mlos_ring_empty(&cons);
                mlos_ring_done_wait(&cons);
            }
            if (prod_ok) {
                (void)mlos_ring_producer_prepare_wait(&prod, get16(&in));
                mlos_ring_producer_done_wait(&prod);
            }
            break;
        case 6: /* re-attach over whatever the region holds now */
            prod_ok = mlos_ring_attach(&prod, mem, total) == 0;
            cons_ok = mlos_ring_attach(&cons, mem, total) == 0;
            if (cons_ok && shadow)
                mlos_ring_set_shadow(&cons, shadow);
            if (clean && (!prod_ok || !cons_ok))
                FAIL("re-attach refused a ring only we wrote");
            break;
        default: /* reformat: a fresh, clean ring */
            if (mlos_ring_format(mem, rsize) < 0)
                FAIL("format");
            prod_ok = mlos_ring_attach(&prod, mem, total) == 0;
            cons_ok = mlos_ring_attach(&cons, mem, total) == 0;
            if (!prod_ok || !cons_ok)
                FAIL("attach refused a fresh ring");
            if (shadow)
                mlos_ring_set_shadow(&cons, shadow);
            clean = 1, qh = qn = 0;
            break;
        }
    }
    free(shadow);
    free(mem);
    return 0;
}
