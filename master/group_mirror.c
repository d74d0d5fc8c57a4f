/* The agent's side of groups whose members run on its node: slices it
 * mirrors for its master's groups, the wake-ups its members send and the
 * down marks of members that die here (group_nodes.h, wire:
 * rpc/wire/group_node.h).
 *
 * A member's WAKE names ranks of its group; those on this node are rung
 * here, without a round trip to the master. A member that dies is marked
 * down in the node's slice at once, so its local peers fail their
 * collectives within the agent's own liveness bound; the master, told by
 * GONE, marks it again (the same value) in every node's slice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group_node.h"
#include "group_nodes.h"
#include "group_relay.h"
#include "group_wire.h"
#include "master_internal.h"
#include "mlos_endian.h"

struct mirror {
    uint32_t id, gen, n;
    struct mlos_group_hdr *hdr;
    mlos_shard_t *local[MLOS_GROUP_MAX];
    void (*release)(void *owner);
    void *owner;
    uint64_t local_mask;
    struct mlos__relay *relay;  /* the pairs with a rank elsewhere, or NULL */
    int (*send)(uint32_t type, const uint8_t *p, size_t len); /* to the master */
    struct mirror *next;
};

static uint64_t refused_total;

static struct mirror *mirrors; /* the loop's thread only */

static struct mirror *find(uint32_t id)
{
    for (struct mirror *m = mirrors; m; m = m->next)
        if (m->id == id)
            return m;
    return NULL;
}

static void ring_local(struct mirror *m, int except)
{
    for (uint32_t r = 0; r < m->n; r++)
        if ((int)r != except && m->local[r] && m->local[r]->impl && mlos_shard_alive(m->local[r]))
            mlos__ring_bell(m->local[r]->impl);
}

static void unlink_mirror(struct mirror *m)
{
    for (struct mirror **pp = &mirrors; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    refused_total += mlos__relay_refused(m->relay);
    mlos__relay_free(m->relay);
    if (m->release)
        m->release(m->owner);
    free(m);
}

static int relay_send(void *ctx, uint32_t type, const uint8_t *p, size_t len, unsigned route)
{
    struct mirror *m = ctx;
    (void)route; /* star: everything goes through the master */
    return m->send(type, p, len);
}

static void relay_ring(void *ctx, unsigned rank)
{
    struct mirror *m = ctx;
    if (rank < m->n && m->local[rank] && m->local[rank]->impl && mlos_shard_alive(m->local[rank]))
        mlos__ring_bell(m->local[rank]->impl);
}

static void relay_bad(void *ctx, unsigned rank)
{
    struct mirror *m = ctx;
    mlos_shard_t *s = rank < m->n ? m->local[rank] : NULL;
    if (!s || !s->impl || !mlos_shard_alive(s))
        return;
    mlos__shard_fail(s->impl, MLOS_EPROTO, "shard %u broke the group protocol: it corrupted its ring of group %u",
                     s->id, m->id);
    /* the agent reports the death to the master as any other; this says why on the node */
    fprintf(stderr, "mlos-node: rank %u of group %u corrupted a ring its relay drains: fenced\n", rank, m->id);
    mlos__fence(s->impl);
}

int mlos__group_mirror_set(uv_loop_t *loop, const struct mlos__mirror_slice *sl, mlos_shard_t *const *local,
                           int (*send)(uint32_t type, const uint8_t *p, size_t len), void (*release)(void *owner),
                           void *owner)
{
    struct mirror *m;
    uint32_t id = sl->id, gen = sl->gen, n = sl->n;
    void *slice = sl->slice;
    if (n < 1 || n > MLOS_GROUP_MAX || !slice)
        return MLOS_EINVAL;
    if (!(m = calloc(1, sizeof(*m))))
        return MLOS_ENOMEM;
    for (uint32_t r = 0; r < n; r++)
        if (local[r])
            m->local_mask |= 1ull << r;
    m->send = send;
    if (m->local_mask != (n == 64 ? ~0ull : (1ull << n) - 1)) {
        struct mlos__relay_io io = {.ctx = m, .send = relay_send, .ring = relay_ring, .bad = relay_bad};
        if (!(m->relay = mlos__relay_new(loop, slice, sl->slice_len, id, gen, n, sl->ring_bytes, m->local_mask,
                                         &io))) {
            free(m);
            return MLOS_ENOMEM;
        }
    }
    mlos__group_mirror_drop(id); /* a re-formed group: its old slice is free */
    m->id = id;
    m->gen = gen;
    m->n = n;
    m->hdr = slice;
    m->release = release;
    m->owner = owner;
    for (uint32_t r = 0; r < n; r++)
        m->local[r] = local[r];
    m->next = mirrors;
    mirrors = m;
    return 0;
}

void mlos__group_mirror_mark(uint32_t id, uint32_t gen, uint32_t word, uint32_t value)
{
    struct mirror *m = find(id);
    if (!m || m->gen != gen || (word != MLOS_GROUP_WORD_ABORT && word >= m->n))
        return; /* an older generation's mark: its slice is gone */
    uint32_t *w = word == MLOS_GROUP_WORD_ABORT ? &m->hdr->abort : &m->hdr->dead[word];
    __atomic_store_n(w, mlos_to_le32(value), __ATOMIC_RELEASE);
    ring_local(m, -1);
}

void mlos__group_mirror_drop(uint32_t id)
{
    struct mirror *m = find(id);
    if (m)
        unlink_mirror(m);
}

int mlos__group_mirror_wake(struct mlos_shard_impl *im, uint32_t id, uint32_t gen, uint64_t mask)
{
    struct mirror *m = find(id);
    if (!m || m->gen != gen)
        return 0; /* closed or re-formed meanwhile: nothing to wake */
    int me = -1;
    for (uint32_t r = 0; r < m->n && me < 0; r++)
        if (m->local[r] && m->local[r]->impl == im)
            me = (int)r;
    if (me < 0)
        return 0; /* not a member here: it can make us ring nobody */
    if (mask & ~m->local_mask)
        mlos__relay_kick(m->relay, (unsigned)me, mask & ~m->local_mask); /* peers elsewhere: the relay's */
    for (uint32_t r = 0; r < m->n; r++)
        if ((mask >> r & 1) && (int)r != me && m->local[r] && m->local[r]->impl && mlos_shard_alive(m->local[r]))
            mlos__ring_bell(m->local[r]->impl);
    return 0;
}

void mlos__group_mirror_down(struct mlos_shard_impl *im, int reason)
{
    for (struct mirror *m = mirrors, *next; m; m = next) {
        int left = 0;
        next = m->next;
        for (uint32_t r = 0; r < m->n; r++)
            if (m->local[r] && m->local[r]->impl == im) {
                __atomic_store_n(&m->hdr->dead[r], mlos_to_le32((uint32_t)reason), __ATOMIC_RELEASE);
                m->local[r] = NULL; /* the handle may go away after this */
                ring_local(m, (int)r);
            }
        for (uint32_t r = 0; r < m->n; r++)
            left += m->local[r] != NULL;
        if (!left) /* nobody here uses the slice any more */
            unlink_mirror(m);
    }
}

int mlos__group_mirror_recv(uint32_t type, const uint8_t *p, size_t len)
{
    struct mirror *m = len >= 8 ? find(mlos_get_le32(p)) : NULL;
    if (!m || !m->relay || mlos_get_le32(p + 4) != m->gen) {
        refused_total += m == NULL && len < 8;
        return 0; /* a group closed or re-formed meanwhile: stale, not wrong */
    }
    return mlos__relay_recv(m->relay, type, p, len);
}

uint64_t mlos__group_mirror_refused(void)
{
    uint64_t t = refused_total;
    for (struct mirror *m = mirrors; m; m = m->next)
        t += mlos__relay_refused(m->relay);
    return t;
}
