/* Shared window layout: formatting (master) and validation (both sides). */
#include "window.h"

#include <string.h>

#include "mlos_endian.h"
#include "mlos_error.h"
#include "ring.h"

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

static size_t ring_bytes(uint32_t ring_size)
{
    return align_up(sizeof(struct mlos_ring_ctl) + ring_size, MLOS_WINDOW_ALIGN);
}

size_t mlos_window_size(uint32_t ring_size, size_t bulk_size)
{
    return MLOS_WINDOW_ALIGN + 2 * ring_bytes(ring_size) + align_up(bulk_size, MLOS_WINDOW_ALIGN);
}

int mlos_window_format(void *base, size_t size, uint32_t ring_size, uint32_t shard_id)
{
    struct mlos_window_hdr *h = base;
    size_t rb = ring_bytes(ring_size), bulk_off = MLOS_WINDOW_ALIGN + 2 * rb;
    uint8_t *b = base;

    if (!base || ((uintptr_t)base & (MLOS_CACHELINE - 1)) || size < bulk_off)
        return MLOS_EINVAL;
    memset(h, 0, sizeof(*h));
    if (mlos_ring_format(b + MLOS_WINDOW_ALIGN, ring_size) < 0 ||
        mlos_ring_format(b + MLOS_WINDOW_ALIGN + rb, ring_size) < 0)
        return MLOS_EINVAL;
    h->version = mlos_to_le32(MLOS_WINDOW_VERSION);
    h->size = mlos_to_le64(size);
    h->to_shard_off = mlos_to_le64(MLOS_WINDOW_ALIGN);
    h->to_shard_size = mlos_to_le64(ring_size);
    h->to_master_off = mlos_to_le64(MLOS_WINDOW_ALIGN + rb);
    h->to_master_size = mlos_to_le64(ring_size);
    h->bulk_off = mlos_to_le64(bulk_off);
    h->bulk_size = mlos_to_le64(size - bulk_off);
    h->shard_id = mlos_to_le32(shard_id);
    h->state = mlos_to_le32(MLOS_WINDOW_BOOTING);
    /* Magic last: a window is valid only once everything else is written. */
    __atomic_store_n(&h->magic, mlos_to_le32(MLOS_WINDOW_MAGIC), __ATOMIC_RELEASE);
    return 0;
}

/* [off, off+len) inside [0, size) without overflow. Both sides always
 * evaluated (& not &&): see mlos_window_check. */
static int inside(uint64_t off, uint64_t len, uint64_t size) { return (off <= size) & (len <= size - off); }

/* The conditions are combined with | rather than ||: a shard checks its
 * window before HELLO, where under QEMU TCG every branch target costs a
 * translation, and each test is cheap. Only the header's presence is
 * tested first, since the rest reads it. */
int mlos_window_check(const void *base, size_t size)
{
    const struct mlos_window_hdr *h = base;
    uint64_t ts_off, ts_len, tm_off, tm_len, bulk_off, bulk_len;
    int bad;

    if (!base || size < sizeof(*h))
        return MLOS_EPROTO;
    bad = mlos_from_le32(__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE)) != MLOS_WINDOW_MAGIC;
    bad |= mlos_from_le32(h->version) != MLOS_WINDOW_VERSION;
    bad |= mlos_from_le64(h->size) != size;
    ts_off = mlos_from_le64(h->to_shard_off);
    ts_len = sizeof(struct mlos_ring_ctl) + mlos_from_le64(h->to_shard_size);
    tm_off = mlos_from_le64(h->to_master_off);
    tm_len = sizeof(struct mlos_ring_ctl) + mlos_from_le64(h->to_master_size);
    bulk_off = mlos_from_le64(h->bulk_off);
    bulk_len = mlos_from_le64(h->bulk_size);
    bad |= ts_off < sizeof(*h);
    bad |= !inside(ts_off, ts_len, size) | !inside(tm_off, tm_len, size) | !inside(bulk_off, bulk_len, size);
    /* Regions are laid out in order: to_shard, to_master, bulk (an end
     * that wrapped has already failed inside()). */
    bad |= (ts_off + ts_len > tm_off) | (tm_off + tm_len > bulk_off);
    bad |= ((ts_off | tm_off) & (MLOS_CACHELINE - 1)) != 0;
    return bad ? MLOS_EPROTO : 0;
}
