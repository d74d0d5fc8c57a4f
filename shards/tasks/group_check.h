/* shards/tasks/group_check.h -- the body of the group.check task: one
 * collective on group_gen.h's inputs. The task (group_tasks.c) and the
 * tests' functions for the master's rank (mlos_group_call_master) both run
 * it, so every rank makes exactly the same calls whatever it runs on.
 *
 * Argument (32 bytes, little-endian): le32 which (MLOS_GC_*), le32 type,
 * le32 op, le32 root, le64 count (elements for reduce/allreduce, else
 * bytes per rank), le64 seed. */
#ifndef MLOS_GROUP_CHECK_H
#define MLOS_GROUP_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "group_gen.h"
#include "mlos_coll.h"
#include "mlos_endian.h"

enum { MLOS_GC_BARRIER, MLOS_GC_BCAST, MLOS_GC_REDUCE, MLOS_GC_ALLREDUCE, MLOS_GC_GATHER, MLOS_GC_ALLGATHER };

struct mlos_gc {
    uint32_t which, type, op, root;
    uint64_t count, seed;
    uint32_t me, n;
    int reduces; /* reduce or allreduce: typed elements */
    int user;    /* with the application's operator: le32 elements */
    size_t in_len, out_len; /* this rank's input and output bytes */
};

/* The argument, as the master side builds it. */
static inline void mlos_gc_encode(uint8_t a[32], uint32_t which, uint32_t type, uint32_t op, uint32_t root,
                                  uint64_t count, uint64_t seed)
{
    mlos_put_le32(a, which);
    mlos_put_le32(a + 4, type);
    mlos_put_le32(a + 8, op);
    mlos_put_le32(a + 12, root);
    mlos_put_le64(a + 16, count);
    mlos_put_le64(a + 24, seed);
}

/* Decode the argument for rank me of n and size its buffers. */
static inline void mlos_gc_decode(const uint8_t a[32], uint32_t me, uint32_t n, struct mlos_gc *g)
{
    g->which = mlos_get_le32(a);
    g->type = mlos_get_le32(a + 4);
    g->op = mlos_get_le32(a + 8);
    g->root = mlos_get_le32(a + 12);
    g->count = mlos_get_le64(a + 16);
    g->seed = mlos_get_le64(a + 24);
    g->me = me;
    g->n = n;
    g->reduces = g->which == MLOS_GC_REDUCE || g->which == MLOS_GC_ALLREDUCE;
    g->user = g->reduces && g->op == MLOS_COLL_USER;
    g->in_len = g->reduces ? g->count * (g->user ? 4 : 8) : g->count;
    g->out_len = g->which == MLOS_GC_GATHER || g->which == MLOS_GC_ALLGATHER ? g->in_len * n
                 : g->which == MLOS_GC_BARRIER                                 ? 0
                                                                               : g->in_len;
    if ((g->which == MLOS_GC_GATHER || g->which == MLOS_GC_REDUCE) && me != g->root)
        g->out_len = 0;
}

/* Fill in (g->in_len bytes) with this rank's input, run the collective
 * into out (g->out_len bytes): its status. */
static inline int mlos_gc_run(struct mlos_comm *c, const struct mlos_gc *g, uint8_t *in, uint8_t *out)
{
    uint32_t me = g->me, root = g->root;
    for (size_t i = 0; g->reduces ? i < g->count : i < g->in_len; i++) {
        if (g->user)
            mlos_put_le32(in + 4 * i, mlos_gg_u32(g->seed, me, i));
        else if (g->reduces)
            mlos_gg_elem((int)g->type, g->seed, me, i, in + 8 * i);
        else
            in[i] = mlos_gg_byte(g->seed, g->which == MLOS_GC_BCAST ? root : me, i);
    }
    switch (g->which) {
    case MLOS_GC_BARRIER: return mlos_barrier(c);
    case MLOS_GC_BCAST:
        if (me == root)
            memcpy(out, in, g->in_len);
        return mlos_bcast(c, out, g->in_len, (int)root);
    case MLOS_GC_REDUCE:
        return g->user ? mlos_reduce_user(c, in, me == root ? out : NULL, g->count, 4, g->seed, (int)root)
                       : mlos_reduce(c, in, me == root ? out : NULL, g->count, g->type, g->op, (int)root);
    case MLOS_GC_ALLREDUCE:
        return g->user ? mlos_allreduce_user(c, in, out, g->count, 4, g->seed)
                       : mlos_allreduce(c, in, out, g->count, g->type, g->op);
    case MLOS_GC_GATHER: return mlos_gather(c, in, g->in_len, me == root ? out : NULL, (int)root);
    case MLOS_GC_ALLGATHER: return mlos_allgather(c, in, g->in_len, out);
    default: return MLOS_EINVAL;
    }
}

#endif
