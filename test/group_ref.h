/* test/group_ref.h -- what the group tests compute serially to check a
 * group's collectives against: the collective numbers of the group.check
 * task (shards/tasks/group_tasks.c) and each rank's expected output for
 * the inputs shards/tasks/group_gen.h generates. */
#ifndef MLOS_TEST_GROUP_REF_H
#define MLOS_TEST_GROUP_REF_H

#include <stdint.h>
#include <string.h>

#include "../shards/tasks/group_check.h"
#include "../shards/tasks/group_gen.h"
#include "mlos_endian.h"

static const char *which_name[] __attribute__((unused)) = {"barrier", "bcast",  "reduce",
                                                           "allreduce", "gather", "allgather"};

/* ---- serial reference ---- */

static inline void fold_ref(int type, int op, uint8_t *acc, const uint8_t *x)
{
    if (type == 2) {
        double a, v;
        memcpy(&a, acc, 8);
        memcpy(&v, x, 8);
        a = op == 0 ? a + v : op == 1 ? (v < a ? v : a) : (v > a ? v : a);
        memcpy(acc, &a, 8);
    } else if (type == 1) {
        int64_t a, v;
        memcpy(&a, acc, 8);
        memcpy(&v, x, 8);
        a = op == 0 ? (int64_t)((uint64_t)a + (uint64_t)v) : op == 1 ? (v < a ? v : a) : (v > a ? v : a);
        memcpy(acc, &a, 8);
    } else {
        uint64_t a, v;
        memcpy(&a, acc, 8);
        memcpy(&v, x, 8);
        a = op == 0 ? a + v : op == 1 ? (v < a ? v : a) : (v > a ? v : a);
        memcpy(acc, &a, 8);
    }
}

/* Expected output at rank r, into exp (returns bytes, or 0 for none). */
static inline size_t expected(int which, int type, int op, unsigned root, uint64_t count, uint64_t seed, unsigned n,
                       unsigned r, uint8_t *exp)
{
    switch (which) {
    case MLOS_GC_BCAST:
        for (uint64_t i = 0; i < count; i++)
            exp[i] = mlos_gg_byte(seed, root, i);
        return count;
    case MLOS_GC_GATHER:
    case MLOS_GC_ALLGATHER:
        if (which == MLOS_GC_GATHER && r != root)
            return 0;
        for (unsigned q = 0; q < n; q++)
            for (uint64_t i = 0; i < count; i++)
                exp[q * count + i] = mlos_gg_byte(seed, q, i);
        return n * count;
    case MLOS_GC_REDUCE:
    case MLOS_GC_ALLREDUCE:
        if (which == MLOS_GC_REDUCE && r != root)
            return 0;
        if (op == 3) { /* the saturating u32 sum of examples/bpf/reduce_satadd.c */
            for (uint64_t i = 0; i < count; i++) {
                uint64_t acc = mlos_gg_u32(seed, 0, i);
                for (unsigned q = 1; q < n; q++) {
                    acc += mlos_gg_u32(seed, q, i);
                    if (acc > 0xffffffffu)
                        acc = 0xffffffffu;
                }
                mlos_put_le32(exp + 4 * i, (uint32_t)acc);
            }
            return count * 4;
        }
        for (uint64_t i = 0; i < count; i++) {
            uint8_t acc[8], x[8];
            mlos_gg_elem(type, seed, 0, i, acc);
            for (unsigned q = 1; q < n; q++) {
                mlos_gg_elem(type, seed, q, i, x);
                fold_ref(type, op, acc, x);
            }
            uint64_t v;
            memcpy(&v, acc, 8);
            mlos_put_le64(exp + 8 * i, v); /* the task leaves results little-endian */
        }
        return count * 8;
    }
    return 0;
}

#endif
