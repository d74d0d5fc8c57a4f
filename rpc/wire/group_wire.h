/* rpc/group_wire.h -- the shared memory of a shard group and the messages
 * that set it up.
 *
 * A group of N members (ranks 0..N-1) lives in a slice of a group memory
 * (a sealed memfd the master creates and every member maps: a process
 * shard mmaps it, a bare-metal guest sees it as a second RAM range). The
 * master formats the slice before any member joins:
 *
 *   +----------------------+ 0
 *   | mlos_group_hdr       |  written by the master only (members read)
 *   +----------------------+ MLOS_GROUP_HDR_BYTES
 *   | pair block (0,0)     |  for every ordered pair (i, j), i != j: three
 *   | pair block (0,1)     |  rings i -> j (ring.h): collectives, two-sided
 *   | ...                  |  messages, one-sided requests and replies.
 *   +----------------------+ mlos_group_layout_size(n, ring)
 *
 * Block (i, i) is laid out but unused: the offset arithmetic stays one
 * multiplication, and N <= MLOS_GROUP_MAX keeps the waste small.
 *
 * Trust: every member can write every byte of the slice. Members keep ring
 * indices privately (ring.h), copy what they validate, and take the layout
 * from the master's join message, never from the header; the header's
 * per-rank death words can therefore at worst be forged to fail a
 * collective early, never to make a member read or write outside the slice.
 * All fields are little-endian.
 */
#ifndef MLOS_GROUP_WIRE_H
#define MLOS_GROUP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define MLOS_GROUP_MAGIC 0x50524C4Du /* "MLRP" as little-endian bytes */
#define MLOS_GROUP_VERSION 1u
#define MLOS_GROUP_MAX 64u           /* ranks: a wake-up names its targets in one 64-bit mask */
#define MLOS_GROUP_HDR_BYTES 4096u
#define MLOS_GROUP_SMALL_RING 16384u /* two-sided and one-sided rings, per ordered pair */

enum mlos_group_ring_kind {
    MLOS_GROUP_RING_COLL = 0, /* collectives: sized by the group (ring_bytes) */
    MLOS_GROUP_RING_P2P = 1,  /* two-sided messages: MLOS_GROUP_SMALL_RING */
    MLOS_GROUP_RING_RMA = 2,  /* one-sided requests and their replies: MLOS_GROUP_SMALL_RING */
};

/* Why a rank is out (dead[] words) or the group is aborted (abort). */
enum mlos_group_down {
    MLOS_GROUP_UP = 0,
    MLOS_GROUP_DOWN_DIED = 1,   /* the shard exited, crashed or was killed */
    MLOS_GROUP_DOWN_FENCED = 2, /* the master fenced it: stopped answering heartbeats, or overran */
    MLOS_GROUP_DOWN_LEFT = 3,   /* stopped or removed from the group */
    MLOS_GROUP_ABORT_TIMEOUT = 4, /* abort: a group call overran its deadline */
    MLOS_GROUP_ABORT_CLOSED = 5,  /* abort: the master closed the group */
    MLOS_GROUP_ABORT_FAILED = 6,  /* abort: a rank's task failed while others could wait for it */
};

struct mlos_group_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t group_id;
    uint32_t generation;
    uint32_t n;
    uint32_t ring_bytes;
    uint32_t abort;                 /* enum mlos_group_down (ABORT_*) or 0 */
    uint32_t reserved;
    uint32_t dead[MLOS_GROUP_MAX];  /* per rank: enum mlos_group_down */
};

/* Bytes of one ring (control block + data) rounded to a cache line. */
size_t mlos_group_ring_stride(uint32_t ring_bytes);
/* Bytes a group of n ranks with collective rings of ring_bytes needs, or 0
 * if n or ring_bytes is invalid (n 1..MLOS_GROUP_MAX, ring_bytes a power
 * of two >= 4096 and <= 64 MiB). */
size_t mlos_group_layout_size(uint32_t n, uint32_t ring_bytes);
/* Offset in the slice of ring kind from rank `from` to rank `to`. */
size_t mlos_group_ring_off(uint32_t n, uint32_t ring_bytes, uint32_t from, uint32_t to, int kind);
/* Data bytes of ring kind. */
uint32_t mlos_group_ring_size(uint32_t ring_bytes, int kind);

/* Master: format a slice (fresh or reused memory of at least
 * mlos_group_layout_size bytes): header and every ring. 0 or MLOS_EINVAL. */
int mlos_group_format(void *slice, uint32_t group_id, uint32_t generation, uint32_t n, uint32_t ring_bytes);

/* ---- the join message: argument of the "mlos.group.join" task ---- */
#define MLOS_GROUP_JOIN_BYTES 48u
struct mlos_group_join {
    uint32_t group_id, generation, n, rank;
    uint64_t offset;     /* of the slice in the group memory */
    uint64_t slice_len;
    uint32_t ring_bytes;
    uint32_t spin_us;    /* members poll this long before they sleep */
    uint32_t flags;      /* 0 */
    uint32_t reserved;
};
void mlos_group_join_encode(const struct mlos_group_join *j, uint8_t out[MLOS_GROUP_JOIN_BYTES]);
/* Decode and check against the member's group memory of mem_len bytes:
 * 0, or MLOS_EINVAL naming nothing (the caller says which field). */
int mlos_group_join_decode(const uint8_t *p, size_t len, size_t mem_len, struct mlos_group_join *j);

/* ---- the run prefix: argument of "mlos.group.run" ----
 * le32 group_id, le32 generation, le32 task name length, the name, then
 * the caller's argument bytes. */
#define MLOS_GROUP_RUN_HDR 12u

/* ---- a wake-up request: payload of an MLOS_FRAME_WAKE frame ----
 * le32 group_id, le32 generation, le64 mask of ranks to ring. */
#define MLOS_GROUP_WAKE_BYTES 16u

#endif
