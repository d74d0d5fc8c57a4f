/* Group slice layout and the join message; see group_wire.h. */
#include "group_wire.h"

#include <string.h>

#include "mlos_endian.h"
#include "mlos_error.h"
#include "ring.h"

size_t mlos_group_ring_stride(uint32_t ring_bytes)
{
    return (sizeof(struct mlos_ring_ctl) + ring_bytes + MLOS_CACHELINE - 1) & ~(size_t)(MLOS_CACHELINE - 1);
}

static int valid(uint32_t n, uint32_t ring_bytes)
{
    return n >= 1 && n <= MLOS_GROUP_MAX && ring_bytes >= 4096 && ring_bytes <= (64u << 20) &&
           !(ring_bytes & (ring_bytes - 1));
}

static size_t pair_bytes(uint32_t ring_bytes)
{
    return mlos_group_ring_stride(ring_bytes) + 2 * mlos_group_ring_stride(MLOS_GROUP_SMALL_RING);
}

size_t mlos_group_layout_size(uint32_t n, uint32_t ring_bytes)
{
    if (!valid(n, ring_bytes))
        return 0;
    size_t sz = MLOS_GROUP_HDR_BYTES + (size_t)n * n * pair_bytes(ring_bytes);
    return (sz + 4095) & ~(size_t)4095;
}

uint32_t mlos_group_ring_size(uint32_t ring_bytes, int kind)
{
    return kind == MLOS_GROUP_RING_COLL ? ring_bytes : MLOS_GROUP_SMALL_RING;
}

size_t mlos_group_ring_off(uint32_t n, uint32_t ring_bytes, uint32_t from, uint32_t to, int kind)
{
    size_t off = MLOS_GROUP_HDR_BYTES + ((size_t)from * n + to) * pair_bytes(ring_bytes);
    if (kind >= MLOS_GROUP_RING_P2P)
        off += mlos_group_ring_stride(ring_bytes);
    if (kind == MLOS_GROUP_RING_RMA)
        off += mlos_group_ring_stride(MLOS_GROUP_SMALL_RING);
    return off;
}

int mlos_group_format(void *slice, uint32_t group_id, uint32_t generation, uint32_t n, uint32_t ring_bytes)
{
    struct mlos_group_hdr *h = slice;
    uint8_t *b = slice;

    if (!slice || !valid(n, ring_bytes))
        return MLOS_EINVAL;
    memset(h, 0, MLOS_GROUP_HDR_BYTES);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++)
            for (int k = 0; i != j && k < 3; k++)
                if (mlos_ring_format(b + mlos_group_ring_off(n, ring_bytes, i, j, k),
                                     mlos_group_ring_size(ring_bytes, k)) < 0)
                    return MLOS_EINVAL;
    h->version = mlos_to_le32(MLOS_GROUP_VERSION);
    h->group_id = mlos_to_le32(group_id);
    h->generation = mlos_to_le32(generation);
    h->n = mlos_to_le32(n);
    h->ring_bytes = mlos_to_le32(ring_bytes);
    __atomic_store_n(&h->magic, mlos_to_le32(MLOS_GROUP_MAGIC), __ATOMIC_RELEASE);
    return 0;
}

void mlos_group_join_encode(const struct mlos_group_join *j, uint8_t out[MLOS_GROUP_JOIN_BYTES])
{
    mlos_put_le32(out + 0, j->group_id);
    mlos_put_le32(out + 4, j->generation);
    mlos_put_le32(out + 8, j->n);
    mlos_put_le32(out + 12, j->rank);
    mlos_put_le64(out + 16, j->offset);
    mlos_put_le64(out + 24, j->slice_len);
    mlos_put_le32(out + 32, j->ring_bytes);
    mlos_put_le32(out + 36, j->spin_us);
    mlos_put_le32(out + 40, j->flags);
    mlos_put_le32(out + 44, 0);
}

int mlos_group_join_decode(const uint8_t *p, size_t len, size_t mem_len, struct mlos_group_join *j)
{
    if (len != MLOS_GROUP_JOIN_BYTES)
        return MLOS_EINVAL;
    j->group_id = mlos_get_le32(p + 0);
    j->generation = mlos_get_le32(p + 4);
    j->n = mlos_get_le32(p + 8);
    j->rank = mlos_get_le32(p + 12);
    j->offset = mlos_get_le64(p + 16);
    j->slice_len = mlos_get_le64(p + 24);
    j->ring_bytes = mlos_get_le32(p + 32);
    j->spin_us = mlos_get_le32(p + 36);
    j->flags = mlos_get_le32(p + 40);
    j->reserved = 0;
    size_t need = mlos_group_layout_size(j->n, j->ring_bytes);
    if (!need || j->rank >= j->n || j->flags || (j->offset & 4095) || j->slice_len < need ||
        j->offset > mem_len || j->slice_len > mem_len - j->offset)
        return MLOS_EINVAL;
    return 0;
}
