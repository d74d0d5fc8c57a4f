/* The master's side of groups whose members run behind node agents
 * (group_nodes.h): each such member's agent mirrors the group's slice in
 * its node's group memory, formatted, marked and forgotten on the master's
 * word (rpc/wire/group_node.h), and serves its members' wake-ups itself.
 *
 * Members may be spread over this host and several nodes: every site
 * (this host, each node) has its own copy of the slice, and the rings of
 * pairs that cross sites are carried by relays (group_relay.h): each
 * agent's for its node, the master's for this host. Between two agents the
 * master forwards (star), checking that a node only sends frames of its
 * own ranks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "group_node.h"
#include "group_nodes.h"
#include "group_relay.h"
#include "master_internal.h"
#include "ring.h"

static const void *node_of(mlos_shard_t *s)
{
    struct mlos_shard_impl *im = s ? s->impl : NULL;
    if (!im || !im->rops)
        return NULL;
    return im->rops->node_of ? im->rops->node_of(im) : NULL;
}

static int remote(mlos_shard_t *s) { return s && s->impl && s->impl->rops; }

/* The name of a group memory for agents: stable for the memory, but not
 * its address (no reason to show a peer where this process's heap is). */
uint64_t mlos__group_mem_key(const mlos_group_mem_t *gm)
{
    static uint64_t salt;
    if (!salt) {
        salt = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
        salt |= 1;
    }
    uint64_t z = (uint64_t)(uintptr_t)gm->impl ^ salt;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int mlos__group_nodes_check(mlos_shard_t *const *m, unsigned n, unsigned rank, mlos_shard_t *repl)
{
    for (unsigned r = 0; r < n; r++) {
        mlos_shard_t *s = repl && r == rank ? repl : m[r];
        if (remote(s) && (!node_of(s) || !s->impl->rops->group_msg))
            return MLOS_ENOTSUP; /* a remote kind that carries no group memory */
    }
    return 0;
}

/* ---- groups with members on other nodes: where each rank is ---- */

struct spread {
    uint32_t id, gen, n;
    mlos_shard_t *m[MLOS_GROUP_MAX];
    const void *node[MLOS_GROUP_MAX]; /* NULL: this host */
    uint64_t here;                    /* ranks on this host */
    uint32_t ring_bytes;
    struct mlos__relay *relay;        /* this host's crossing pairs, or NULL */
    struct mlos__gmaster *mr;         /* the master's own rank (a NULL member), or NULL */
    uint32_t *fwd;                    /* [kind][from][to]: bytes forwarded between agents, not credited yet */
    struct spread *next;
};

static struct spread *spreads; /* the loop's thread only */
static uint64_t refused;

static struct spread *find_spread(uint32_t id)
{
    for (struct spread *sp = spreads; sp; sp = sp->next)
        if (sp->id == id)
            return sp;
    return NULL;
}

static void drop_spread(uint32_t id)
{
    for (struct spread **pp = &spreads; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct spread *sp = *pp;
            *pp = sp->next;
            refused += mlos__relay_refused(sp->relay);
            mlos__relay_free(sp->relay);
            free(sp->fwd);
            free(sp);
            return;
        }
}

static int sp_send(void *ctx, uint32_t type, const uint8_t *p, size_t len, unsigned route)
{
    struct spread *sp = ctx;
    mlos_shard_t *s = route < sp->n ? sp->m[route] : NULL;
    if (!remote(s) || !s->impl->rops->group_msg)
        return MLOS_ESHARDDIED;
    return s->impl->rops->group_msg(s->impl, type, p, len);
}

static void sp_ring(void *ctx, unsigned rank)
{
    struct spread *sp = ctx;
    mlos_shard_t *s = rank < sp->n ? sp->m[rank] : NULL;
    if (rank < sp->n && !s)
        mlos__gmaster_bell(sp->mr); /* the master's own rank */
    else if (s && s->impl && !s->impl->rops && mlos_shard_alive(s))
        mlos__ring_bell(s->impl);
}

static void sp_bad(void *ctx, unsigned rank)
{
    struct spread *sp = ctx;
    mlos_shard_t *s = rank < sp->n ? sp->m[rank] : NULL;
    if (!s || !s->impl || s->impl->rops || !mlos_shard_alive(s))
        return;
    mlos__shard_fail(s->impl, MLOS_EPROTO, "shard %u broke the group protocol: it corrupted its ring of group %u",
                     s->id, sp->id);
    mlos__fence(s->impl); /* its rank goes down in every copy of the slice */
}

void mlos__group_nodes_kick(uint32_t id, uint32_t gen, unsigned rank, uint64_t mask)
{
    struct spread *sp = find_spread(id);
    if (sp && sp->gen == gen && (mask & ~sp->here))
        mlos__relay_kick(sp->relay, rank, mask & ~sp->here);
}

uint64_t mlos__group_nodes_refused(void)
{
    uint64_t t = refused;
    for (struct spread *sp = spreads; sp; sp = sp->next)
        t += mlos__relay_refused(sp->relay);
    return t;
}

void mlos__group_nodes_recv(const void *node, uint32_t type, const uint8_t *p, size_t len)
{
    struct spread *sp = len >= 12 ? find_spread(mlos_get_le32(p)) : NULL;
    if (len < 12 || (type != MLOS_NODE_GROUP_DATA && type != MLOS_NODE_GROUP_CREDIT)) {
        refused++;
        return;
    }
    if (!sp || mlos_get_le32(p + 4) != sp->gen)
        return; /* closed or re-formed meanwhile: stale, not wrong */
    unsigned from = p[8], to = p[9];
    /* DATA travels from the source's site, CREDIT from the destination's */
    unsigned own = type == MLOS_NODE_GROUP_DATA ? from : to, dest = type == MLOS_NODE_GROUP_DATA ? to : from;
    if (from >= sp->n || to >= sp->n || !node || sp->node[own] != node || sp->node[dest] == node) {
        refused++; /* not a pair of the sender's ranks with a peer elsewhere */
        return;
    }
    if (!sp->node[dest]) {
        if (!sp->relay || mlos__relay_recv(sp->relay, type, p, len) < 0)
            refused += sp->relay == NULL;
        return;
    }
    /* star: on to the destination's agent, within the credit that agent
     * gives, so a node that ignores credit cannot queue without bound here */
    unsigned kind = p[10];
    uint32_t size = kind <= 2 ? mlos_group_ring_size(sp->ring_bytes, (int)kind) : 0;
    uint32_t *f = sp->fwd && size ? &sp->fwd[((size_t)kind * sp->n + from) * sp->n + to] : NULL;
    if (!f) {
        refused++;
        return;
    }
    if (type == MLOS_NODE_GROUP_DATA) {
        uint32_t fl = len >= MLOS_GROUP_DATA_HDR ? mlos_get_le32(p + 16) : ~0u;
        uint32_t rec = mlos_ring_record_size(fl < size ? fl : 0);
        if (fl > size / 2 - MLOS_FRAME_HDR_SIZE || fl != len - MLOS_GROUP_DATA_HDR || *f + rec > size) {
            refused++;
            return;
        }
        *f += rec;
    } else {
        uint32_t b = len == MLOS_GROUP_CREDIT_BYTES ? mlos_get_le32(p + 12) : ~0u;
        if (b > *f) {
            refused++;
            return;
        }
        *f -= b;
    }
    (void)sp_send(sp, type, p, len, dest);
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

void mlos__group_nodes_format(uv_loop_t *loop, const mlos_group_mem_t *gm, mlos_shard_t *const *m, unsigned n,
                              uint32_t id, uint32_t gen, uint8_t *slice, uint64_t off, uint64_t len,
                              uint32_t ring_bytes, struct mlos__gmaster *mr)
{
    struct spread *sp;
    int far = 0;
    drop_spread(id); /* a re-formed group: the old slice's relay goes with it */
    for (unsigned r = 0; r < n; r++)
        far |= remote(m[r]);
    if (!far)
        return; /* all on this host: nothing crosses */
    if ((sp = calloc(1, sizeof(*sp)))) {
        sp->id = id;
        sp->gen = gen;
        sp->n = n;
        sp->mr = mr;
        for (unsigned r = 0; r < n; r++) {
            sp->m[r] = m[r];
            sp->node[r] = remote(m[r]) ? node_of(m[r]) : NULL;
            if (!remote(m[r]))
                sp->here |= 1ull << r;
        }
        sp->ring_bytes = ring_bytes;
        sp->fwd = calloc((size_t)3 * n * n, sizeof(*sp->fwd)); /* NULL: nothing forwarded, all refused */
        if (sp->here) {
            struct mlos__relay_io io = {.ctx = sp, .send = sp_send, .ring = sp_ring, .bad = sp_bad};
            sp->relay = mlos__relay_new(loop, slice, (size_t)len, id, gen, n, ring_bytes, sp->here, &io);
        }
        sp->next = spreads;
        spreads = sp;
    }
    struct mlos_group_format_msg f = {.key = mlos__group_mem_key(gm), .offset = off, .slice_len = len,
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
    drop_spread(id);
    uint8_t p[4];
    mlos_put_le32(p, id);
    to_nodes(m, n, MLOS_NODE_GROUP_CLOSE, p, sizeof(p), NULL);
}

size_t mlos__group_spawn_kv(const mlos_group_mem_t *gm, char *out, size_t cap)
{
    if (!gm || !gm->impl || cap == 0)
        return 0;
    int k = snprintf(out, cap, "group_mem=%zu\ngroup_key=%llu\n", mlos__group_mem_bytes(gm),
                     (unsigned long long)mlos__group_mem_key(gm));
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}
