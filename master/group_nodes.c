/* The master's side of groups whose members run behind node agents
 * (group_nodes.h): each such member's agent mirrors the group's slice in
 * its node's group memory, formatted, marked and forgotten on the master's
 * word (rpc/wire/group_node.h), and serves its members' wake-ups itself.
 *
 * Today a group's members are all on this host or all behind one agent:
 * every ring of the group is then in one memory. Members spread over
 * nodes need relays that carry the rings of the pairs that cross a link
 * (comm.h); mlos__group_nodes_check refuses such a group until they
 * exist. */
#include <stdio.h>
#include <string.h>

#include "group.h"
#include "group_node.h"
#include "group_nodes.h"
#include "master_internal.h"

static const void *node_of(mlos_shard_t *s)
{
    struct mlos_shard_impl *im = s ? s->impl : NULL;
    if (!im || !im->rops)
        return NULL;
    return im->rops->node_of ? im->rops->node_of(im) : NULL;
}

static int remote(mlos_shard_t *s) { return s && s->impl && s->impl->rops; }

int mlos__group_nodes_check(mlos_shard_t *const *m, unsigned n, unsigned rank, mlos_shard_t *repl)
{
    const void *where = NULL;
    int local = 0, far = 0;
    for (unsigned r = 0; r < n; r++) {
        mlos_shard_t *s = repl && r == rank ? repl : m[r];
        if (!remote(s)) {
            local = 1;
            continue;
        }
        const void *at = node_of(s);
        if (!at || !s->impl->rops->group_msg)
            return MLOS_ENOTSUP; /* a remote kind that carries no group memory */
        if (far && at != where)
            return MLOS_ENOTSUP;
        where = at;
        far = 1;
    }
    return local && far ? MLOS_ENOTSUP : 0;
}

/* Send type with payload to the agent of every remote member, once per node. */
static void to_nodes(mlos_shard_t *const *m, unsigned n, uint32_t type, uint8_t *p, size_t len,
                     void (*fill)(uint8_t *p, const void *node, mlos_shard_t *const *m, unsigned n))
{
    const void *done[MLOS_GROUP_MAX];
    unsigned nd = 0;
    for (unsigned r = 0; r < n; r++) {
        const void *at = remote(m[r]) ? node_of(m[r]) : NULL;
        unsigned k = 0;
        if (!at || !m[r]->impl->rops->group_msg)
            continue;
        while (k < nd && done[k] != at)
            k++;
        if (k < nd)
            continue;
        done[nd++] = at;
        if (fill)
            fill(p, at, m, n);
        /* A failed send is a broken connection: the node is lost and its
         * members' calls fail on their own. */
        (void)m[r]->impl->rops->group_msg(m[r]->impl, type, p, len);
    }
}

/* The ranks on this node get their shard ids, the others 0. */
static void fill_ranks(uint8_t *p, const void *node, mlos_shard_t *const *m, unsigned n)
{
    for (unsigned r = 0; r < n; r++)
        mlos_put_le32(p + MLOS_GROUP_FORMAT_HDR + 4 * r,
                      remote(m[r]) && node_of(m[r]) == node ? m[r]->id : 0);
}

void mlos__group_nodes_format(const mlos_group_mem_t *gm, mlos_shard_t *const *m, unsigned n, uint32_t id,
                              uint32_t gen, uint64_t off, uint64_t len, uint32_t ring_bytes)
{
    struct mlos_group_format_msg f = {.key = (uint64_t)(uintptr_t)gm->impl, .offset = off, .slice_len = len,
                                      .group_id = id, .generation = gen, .n = n, .ring_bytes = ring_bytes};
    uint8_t p[MLOS_GROUP_FORMAT_HDR + 4 * MLOS_GROUP_MAX];
    size_t l = mlos_group_format_encode(&f, p);
    to_nodes(m, n, MLOS_NODE_GROUP_FORMAT, p, l, fill_ranks);
}

void mlos__group_nodes_mark(mlos_shard_t *const *m, unsigned n, uint32_t id, uint32_t gen, uint32_t word,
                            uint32_t value)
{
    uint8_t p[MLOS_GROUP_MARK_BYTES];
    mlos_put_le32(p, id);
    mlos_put_le32(p + 4, gen);
    mlos_put_le32(p + 8, word);
    mlos_put_le32(p + 12, value);
    to_nodes(m, n, MLOS_NODE_GROUP_MARK, p, sizeof(p), NULL);
}

void mlos__group_nodes_close(mlos_shard_t *const *m, unsigned n, uint32_t id)
{
    uint8_t p[4];
    mlos_put_le32(p, id);
    to_nodes(m, n, MLOS_NODE_GROUP_CLOSE, p, sizeof(p), NULL);
}

size_t mlos__group_spawn_kv(const mlos_group_mem_t *gm, char *out, size_t cap)
{
    if (!gm || !gm->impl || cap == 0)
        return 0;
    int k = snprintf(out, cap, "group_mem=%zu\ngroup_key=%llu\n", mlos__group_mem_bytes(gm),
                     (unsigned long long)(uintptr_t)gm->impl);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}
