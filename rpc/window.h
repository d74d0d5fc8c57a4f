/* rpc/window.h -- layout of the memory window a shard shares with the master.
 *
 * The master creates the window (guest RAM of a bare-metal shard, or a memfd
 * for a process shard), fills this header and both ring control blocks
 * before the shard starts, and tells the shard where the window is. All
 * fields are little-endian. Offsets are from the start of the window.
 *
 *   +--------------------+ 0
 *   | mlos_window_hdr    |
 *   +--------------------+ to_shard_off   ring: master -> shard (CALL, STOP)
 *   | ring ctl + data    |
 *   +--------------------+ to_master_off  ring: shard -> master (HELLO, REPLY, LOG)
 *   | ring ctl + data    |
 *   +--------------------+ bulk_off       bulk area: one-sided put/get by the master
 *   | bulk               |
 *   +--------------------+ size
 *
 * Ownership: the master owns the header except `state`, which only the
 * shard writes. Each ring has one producer and one consumer (ring.h).
 * The master seals the memfd against shrinking and growing before the
 * shard (or QEMU) gets it, so the window stays mapped whatever the shard
 * does with its descriptor. Of the header it reads back only the
 * PowerPC exit word, once, into a local copy.
 */
#ifndef MLOS_WINDOW_H
#define MLOS_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define MLOS_WINDOW_MAGIC 0x4E574C4Du /* "MLWN" read as little-endian bytes */
#define MLOS_WINDOW_VERSION 1u
#define MLOS_WINDOW_ALIGN 4096u

enum mlos_window_state {
    MLOS_WINDOW_BOOTING = 0, /* set by the master before start */
    MLOS_WINDOW_READY = 1,   /* shard attached its rings */
    MLOS_WINDOW_EXITED = 2,  /* shard is leaving; no more frames */
};

struct mlos_window_hdr {
    uint32_t magic;
    uint32_t version;
    uint64_t size;          /* whole window, bytes */
    uint64_t to_shard_off;  /* ring control block, master -> shard */
    uint64_t to_shard_size; /* ring data bytes (power of two) */
    uint64_t to_master_off;
    uint64_t to_master_size;
    uint64_t bulk_off;
    uint64_t bulk_size;
    uint32_t shard_id;
    uint32_t state;         /* enum mlos_window_state, written by the shard */
    uint64_t reserved[7];   /* zero; [6] is written by PowerPC shards: "EXIT"<<32 | status */
};

_Static_assert(sizeof(struct mlos_window_hdr) == 128, "window header is 128 bytes on every ISA");

/* Bytes a window needs for the given ring and bulk sizes. */
size_t mlos_window_size(uint32_t ring_size, size_t bulk_size);

/* Master side: lay out a window of `size` bytes at base (zeroed by caller
 * or fresh memory) with two rings of ring_size data bytes and the rest as
 * bulk. Returns 0 or MLOS_EINVAL (size too small, ring_size not a power of
 * two >= 4096). */
int mlos_window_format(void *base, size_t size, uint32_t ring_size, uint32_t shard_id);

/* Either side: check the header of a window of `size` bytes: magic,
 * version, and every region inside the window and non-overlapping. Returns
 * 0 or MLOS_EPROTO. */
int mlos_window_check(const void *base, size_t size);

#endif
