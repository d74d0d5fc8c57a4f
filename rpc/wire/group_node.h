/* rpc/wire/group_node.h -- group memory behind a node agent: the messages
 * a master sends an agent (mlos-node) whose shards are members of a group.
 *
 * A shard behind an agent cannot map the master's group memory. Its agent
 * keeps a node-local one of the same size instead (a sealed memfd, one per
 * master group memory, named by the key the master sends in SPAWN as
 * "group_mem=BYTES" and "group_key=KEY"), maps it into the shards it starts
 * for that memory exactly as a master does locally, and mirrors the
 * master's slices in it: the master allocates a slice at an offset of its
 * own memory and tells the agent to format the same offset of the node's.
 * The members' task code sees the same rings (group_wire.h) either way.
 *
 * Messages travel on the agent's connection (rpc/abi/node_proto.h: the
 * 16-byte node header, epoch checked, shard = 0), in order with the CALLs
 * that join the members, so a slice is formatted before any member
 * attaches to it. Payloads (little endian):
 *
 *   GROUP_FORMAT  le64 key, le64 offset, le64 slice_len, le32 group_id,
 *                 le32 generation, le32 n, le32 ring_bytes, then n x le32:
 *                 the master's shard id of each rank if that rank runs on
 *                 this node, else 0. Replaces an older slice of the group.
 *   GROUP_MARK    le32 group_id, le32 generation, le32 word, le32 value:
 *                 word < n: dead[word] = value (enum mlos_group_down);
 *                 MLOS_GROUP_WORD_ABORT: abort = value. The agent wakes its
 *                 members so that blocked collectives see it.
 *   GROUP_CLOSE   le32 group_id: the agent forgets the group's slice.
 *
 * Members on different sites (nodes, or a node and the master's host):
 * the rings of a pair that crosses are carried by relays (master/group_relay.h),
 * the master's own for its host, star-routed through the master between
 * two agents. Both ways:
 *
 *   GROUP_DATA    le32 group_id, le32 generation, u8 from, u8 to, u8 kind
 *                 (enum mlos_group_ring_kind), u8 frame type, le32 frame
 *                 request_id, le32 payload length, the payload: one frame
 *                 of ring (from -> to), in ring order.
 *   GROUP_CREDIT  le32 group_id, le32 generation, u8 from, u8 to, u8 kind,
 *                 u8 0, le32 bytes: ring (from -> to) at the destination
 *                 took in that many record bytes (mlos_ring_record_size);
 *                 the source sends at most a ring's size not yet credited.
 *
 * A site accepts DATA only for a pair whose destination is on it and
 * whose source is not, within the ring's frame size and the credit; the
 * master forwards only frames of the sending node's own ranks.
 *
 * Wake-ups (MLOS_FRAME_WAKE) from a member are served by its agent for
 * the ranks on its node; they never cross the link.
 *
 * The agent trusts its (authenticated) master, but still checks every
 * field: the slice must lie inside the node's memory, ranks named must be
 * its own shards spawned with that memory.
 */
#ifndef MLOS_GROUP_NODE_H
#define MLOS_GROUP_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "group_wire.h"
#include "mlos_endian.h"

enum mlos_node_group_msg {
    MLOS_NODE_GROUP_FORMAT = 0x4e470001u,
    MLOS_NODE_GROUP_MARK,
    MLOS_NODE_GROUP_CLOSE,
    MLOS_NODE_GROUP_DATA,   /* both ways: a frame of a ring that crosses the link */
    MLOS_NODE_GROUP_CREDIT, /* both ways: ring bytes the destination took in */
};

#define MLOS_GROUP_WORD_ABORT 0xffffffffu
#define MLOS_GROUP_FORMAT_HDR 40u
#define MLOS_GROUP_MARK_BYTES 16u
#define MLOS_GROUP_DATA_HDR 20u
#define MLOS_GROUP_CREDIT_BYTES 16u

struct mlos_group_format_msg {
    uint64_t key, offset, slice_len;
    uint32_t group_id, generation, n, ring_bytes;
    uint32_t shard[MLOS_GROUP_MAX]; /* 0: that rank is not on the receiving node */
};

/* Encode into out (MLOS_GROUP_FORMAT_HDR + 4 n bytes); returns the length. */
static inline size_t mlos_group_format_encode(const struct mlos_group_format_msg *f, uint8_t *out)
{
    mlos_put_le64(out, f->key);
    mlos_put_le64(out + 8, f->offset);
    mlos_put_le64(out + 16, f->slice_len);
    mlos_put_le32(out + 24, f->group_id);
    mlos_put_le32(out + 28, f->generation);
    mlos_put_le32(out + 32, f->n);
    mlos_put_le32(out + 36, f->ring_bytes);
    for (uint32_t r = 0; r < f->n; r++)
        mlos_put_le32(out + MLOS_GROUP_FORMAT_HDR + 4 * r, f->shard[r]);
    return MLOS_GROUP_FORMAT_HDR + 4 * (size_t)f->n;
}

/* Decode and check against a group memory of mem_len bytes: 0, or -1 if
 * the message is malformed or the slice does not fit. */
static inline int mlos_group_format_decode(const uint8_t *p, size_t len, size_t mem_len,
                                           struct mlos_group_format_msg *f)
{
    if (len < MLOS_GROUP_FORMAT_HDR)
        return -1;
    f->key = mlos_get_le64(p);
    f->offset = mlos_get_le64(p + 8);
    f->slice_len = mlos_get_le64(p + 16);
    f->group_id = mlos_get_le32(p + 24);
    f->generation = mlos_get_le32(p + 28);
    f->n = mlos_get_le32(p + 32);
    f->ring_bytes = mlos_get_le32(p + 36);
    size_t need = mlos_group_layout_size(f->n, f->ring_bytes);
    if (!need || len != MLOS_GROUP_FORMAT_HDR + 4 * (size_t)f->n || (f->offset & 4095) || f->slice_len < need ||
        f->offset > mem_len || f->slice_len > mem_len - f->offset)
        return -1;
    for (uint32_t r = 0; r < f->n; r++)
        f->shard[r] = mlos_get_le32(p + MLOS_GROUP_FORMAT_HDR + 4 * r);
    return 0;
}

#endif
