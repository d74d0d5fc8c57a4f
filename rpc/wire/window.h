/* rpc/wire/window.h -- layout of the memory window a shard shares with the master.
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

#include "mlos_window_hdr.h" /* the header layout (ABI) */

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
