/* mlos_window_hdr.h -- the header at offset 0 of the memory window a shard
 * shares with its master (the layout around it: rpc/wire/window.h).
 *
 * Part of the ABI: the master writes it, every shard (and a HAL, for the
 * PowerPC exit word, mlos_exit.h) reads it, on every ISA, so its size and
 * field offsets are fixed. All fields are little-endian. Ownership: the
 * master owns the header except `state`, which only the shard writes, and
 * reserved[MLOS_PPC_EXIT_SLOT], which a PowerPC shard writes once at exit.
 */
#ifndef MLOS_WINDOW_HDR_H
#define MLOS_WINDOW_HDR_H

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

#endif
