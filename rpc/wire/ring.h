/* rpc/wire/ring.h -- single-producer single-consumer frame ring in shared memory.
 *
 * A ring is a control block followed by `size` data bytes (a power of two).
 * The producer appends whole frames (rpc/wire/frame.h), each padded to 16 bytes
 * and never split across the end: when a frame does not fit before the end,
 * the producer writes a PAD frame to the end and continues at offset 0. The
 * consumer therefore always sees a frame contiguously and can decode it in
 * place (zero copy). A frame may take at most half the ring, so an empty
 * ring always has room for any frame; MLOS_EAGAIN therefore means the
 * consumer still holds real frames and will answer (and ring) eventually.
 *
 * head and tail are free-running byte counters (little-endian u32 in
 * memory, wrapping modulo 2^32: 32-bit so that 32-bit PowerPC can load and
 * store them atomically). The producer only writes head, the consumer only writes tail;
 * release/acquire ordering publishes the data. `waiting` lets a consumer
 * sleep: it sets waiting, re-checks for data, then waits on its doorbell;
 * the producer rings the doorbell after a commit only when waiting is set.
 * The reverse holds for a full ring: the producer sets producer_waiting,
 * re-checks for room, then sleeps; the consumer rings the producer after
 * releasing frames when producer_waiting is set.
 *
 * Neither side trusts the other. Each keeps its own index privately (the
 * producer its head, the consumer its tail) and only publishes it: an index
 * read back from shared memory could have been rewritten by the peer. The
 * peer's index is read once, validated (record aligned, at most one ring
 * ahead of ours, never behind it) and then used until the frames it covers
 * are consumed. A frame header that fails mlos_frame_hdr_decode, a length
 * that runs past head or an index that fails validation is reported as
 * MLOS_EPROTO and the ring must be abandoned.
 *
 * Bounded work: one drain (the peeks between two that return 0) consumes
 * at most one ring's worth of bytes, then peek returns 0 once even if more
 * frames wait, so a producer that refills the ring as fast as it is drained
 * cannot keep the consumer's loop busy. That never strands a frame: every
 * frame present when a drain began is consumed by it (the ring holds no
 * more), and frames committed later ring the doorbell of a consumer that
 * announced it waits, or are seen by one that polls (mlos_ring_empty,
 * mlos_ring_prepare_wait).
 *
 * Payloads are decoded in place (zero copy) unless the consumer gave the
 * ring a private buffer (mlos_ring_set_shadow): then peek copies each
 * payload there first, so a decoder that reads a byte twice (protobuf-c
 * scans, then parses) sees the same byte both times. A consumer whose
 * producer is less trusted than itself should do so.
 */
#ifndef MLOS_RING_H
#define MLOS_RING_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define MLOS_CACHELINE 64u
#define MLOS_RING_RECORD_ALIGN 16u

struct mlos_ring_ctl {
    _Alignas(MLOS_CACHELINE) uint32_t head; /* producer: bytes ever written, mod 2^32 */
    _Alignas(MLOS_CACHELINE) uint32_t tail; /* consumer: bytes ever released, mod 2^32 */
    _Alignas(MLOS_CACHELINE) uint32_t size; /* data bytes, power of two; fixed by the master */
    uint32_t waiting;                       /* consumer sleeps on its doorbell when nonzero */
    uint32_t producer_waiting;              /* producer sleeps until the consumer frees room */
};
_Static_assert(sizeof(struct mlos_ring_ctl) == 3 * MLOS_CACHELINE, "ring ctl layout is fixed");
_Static_assert(offsetof(struct mlos_ring_ctl, tail) == MLOS_CACHELINE, "head and tail on separate lines");

/* Local (non-shared) view of one ring end. */
struct mlos_ring {
    struct mlos_ring_ctl *ctl;
    uint8_t *data;
    uint32_t size;
    uint32_t max_payload;
    uint32_t reserved_at; /* producer: head position of the open reservation */
    uint32_t reserved_len;
    /* Private indices: never re-read from shared memory. */
    uint32_t prod_head; /* producer: bytes written (the published head) */
    uint32_t cons_tail; /* consumer: bytes released (the published tail) */
    uint32_t cons_head; /* consumer: the producer's head as last read and validated */
    uint32_t budget;    /* consumer: bytes released since peek last returned 0 */
    uint32_t armed_head, armed_tail; /* consumer: head and tail at the last prepare_wait_new */
    uint32_t cut_short; /* consumer: a peek ended a drain on its budget, frames unseen */
    uint8_t *shadow;    /* consumer: private payload copy (max_payload bytes), or NULL */
};

/* Master: initialise the control block at mem for a ring of size data
 * bytes (power of two, >= 4096). Data follows the control block. */
int mlos_ring_format(void *mem, uint32_t size);

/* Attach a local view to a formatted ring at mem, checking that the
 * advertised size is a power of two that fits in avail bytes and that the
 * indices are record aligned and at most one ring apart (MLOS_EPROTO).
 * The view takes its private indices from the ring here, once. */
int mlos_ring_attach(struct mlos_ring *r, void *mem, size_t avail);

/* Consumer: copy every payload to buf (caller-owned, at least
 * r->max_payload bytes, alive as long as the view) before peek returns it,
 * instead of pointing into shared memory. NULL restores zero copy. */
void mlos_ring_set_shadow(struct mlos_ring *r, void *buf);

/* ---- producer ---- */

/* Reserve room for a frame with `length` payload bytes. On success returns
 * 0 and points *payload at where the payload goes (header space is kept
 * before it). MLOS_EAGAIN when the ring is full now; MLOS_ETOOBIG when the
 * frame can never fit (record larger than half the ring). Only one reservation may be open at a time. */
int mlos_ring_reserve(struct mlos_ring *r, uint32_t length, void **payload);

/* Publish the reserved frame with its header. length may be smaller than
 * reserved (e.g. protobuf packed size known only afterwards). */
void mlos_ring_commit(struct mlos_ring *r, uint8_t type, uint32_t request_id, uint32_t length);

/* reserve + copy + commit. */
int mlos_ring_push(struct mlos_ring *r, uint8_t type, uint32_t request_id, const void *payload, uint32_t length);

/* Nonzero if the consumer asked to be woken: ring its doorbell. */
int mlos_ring_consumer_waiting(const struct mlos_ring *r);

/* Full-ring sleep protocol. prepare: announce we wait for room for a frame
 * of `length` payload bytes; returns 1 if it fits now (do not sleep), 0 if it
 * is safe to wait for the consumer's doorbell. done: clear the flag. */
int mlos_ring_producer_prepare_wait(struct mlos_ring *r, uint32_t length);
void mlos_ring_producer_done_wait(struct mlos_ring *r);

/* ---- consumer ---- */

/* Look at the next frame. Returns 1 and fills *hdr and *payload (pointing
 * into the ring or the shadow buffer, valid until mlos_ring_release), 0 if
 * the ring is empty or this drain spent its budget (see above),
 * MLOS_EPROTO if the producer wrote garbage. PAD frames are skipped. */
int mlos_ring_peek(struct mlos_ring *r, struct mlos_frame_hdr *hdr, const uint8_t **payload);

/* Nonzero if no frame is waiting (cheap: one shared load, no side
 * effects); for consumers that poll before they sleep. */
int mlos_ring_empty(const struct mlos_ring *r);

/* Free the frame returned by the last successful peek. */
void mlos_ring_release(struct mlos_ring *r, const struct mlos_frame_hdr *hdr);

/* After releasing frames: nonzero if the producer waits for room; ring its
 * doorbell then. */
int mlos_ring_producer_waiting(const struct mlos_ring *r);

/* Sleep protocol. prepare: announce we are about to wait; returns 1 if data
 * arrived meanwhile (do not sleep), 0 if it is safe to wait. done: clear
 * the flag after waking. */
int mlos_ring_prepare_wait(struct mlos_ring *r);
void mlos_ring_done_wait(struct mlos_ring *r);

/* The same for a consumer that takes frames selectively and looked at the
 * ring since its last call without taking the one at the tail (it belongs
 * to a later step): 1 only if frames arrived since that call, frames were
 * released since then, or a peek ended its drain on the budget (the frame
 * at the tail was not looked at); frames the consumer has already passed
 * over are no reason to stay awake, and a later one still rings the
 * doorbell. The first call after attach reports any frame. Frames there
 * that are not new set *held to 1 (held may be NULL; left alone
 * otherwise). Clear with done_wait. */
int mlos_ring_prepare_wait_new(struct mlos_ring *r, int *held);

/* Bytes a record with `length` payload bytes takes in the ring. */
static inline uint32_t mlos_ring_record_size(uint32_t length)
{
    return (MLOS_FRAME_HDR_SIZE + length + MLOS_RING_RECORD_ALIGN - 1) & ~(MLOS_RING_RECORD_ALIGN - 1);
}

#endif
