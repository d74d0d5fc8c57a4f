/* Core tasks: what runs where on a multi-core shard. core.spin tells which
 * core ran it and when (calls made with MLOS_CALL_CONCURRENT may overlap);
 * par.mix is a CPU-bound mlos_parallel_for whose result does not depend on
 * how many cores shared it. Integers are little-endian. */
#include <stdint.h>
#include <string.h>

#include "hal.h"
#include "mlos_endian.h"
#include "mlos_task.h"

#define MAX_PARTS 8 /* one partial sum per core: libos/runtime/cores.h MLOS_CORES_MAX */

/* Argument: le64 nanoseconds. Busy-waits that long. Result: le32 core,
 * le32 cores active, le64 start and le64 end on the shard clock (one
 * clock for all cores). */
static int core_spin(struct mlos_task_ctx *ctx)
{
    uint8_t out[24];
    if (ctx->arg_len != 8)
        return mlos_task_fail(ctx, MLOS_EINVAL, "core.spin wants an le64 duration in ns");
    uint64_t t0 = mlos_hal_now_ns(), until = t0 + mlos_get_le64(ctx->arg), t1;
    while ((t1 = mlos_hal_now_ns()) < until)
        ;
    mlos_put_le32(out, mlos_core_self());
    mlos_put_le32(out + 4, mlos_core_count());
    mlos_put_le64(out + 8, t0);
    mlos_put_le64(out + 16, t1);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("core.spin", core_spin);

struct mix {
    const uint8_t *v;
    uint32_t rounds;
    uint64_t part[MAX_PARTS]; /* by core: each core runs one chunk of a parallel_for */
};

static uint64_t mix1(uint64_t x, uint32_t rounds)
{
    for (uint32_t r = 0; r < rounds; r++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        x += r;
    }
    return x;
}

static void mix_body(size_t begin, size_t end, void *arg)
{
    struct mix *m = arg;
    uint64_t s = 0;
    for (size_t i = begin; i < end; i++)
        s += mix1(mlos_get_le64(m->v + 8 * i), m->rounds);
    m->part[mlos_core_self() % MAX_PARTS] += s;
}

/* Argument: le64 offset, le64 length (u64 values in the bulk window),
 * le32 rounds. Result: le64 wrapping sum of every value mixed `rounds`
 * times, le32 cores that shared the work. */
static int par_mix(struct mlos_task_ctx *ctx)
{
    struct mix m;
    uint8_t out[12];
    uint64_t sum = 0;

    if (ctx->arg_len != 20)
        return mlos_task_fail(ctx, MLOS_EINVAL, "par.mix wants 20 argument bytes (offset, length, rounds)");
    uint64_t off = mlos_get_le64(ctx->arg), len = mlos_get_le64(ctx->arg + 8);
    if (!ctx->bulk || off > ctx->bulk_len || len > ctx->bulk_len - off || (len & 7))
        return mlos_task_fail(ctx, MLOS_ERANGE, "range [%llu, +%llu) is not u64s inside the %zu-byte bulk window",
                              (unsigned long long)off, (unsigned long long)len, ctx->bulk_len);
    memset(&m, 0, sizeof(m));
    m.v = ctx->bulk + off;
    m.rounds = mlos_get_le32(ctx->arg + 16);
    int used = mlos_parallel_for((size_t)(len / 8), mix_body, &m);
    for (int i = 0; i < MAX_PARTS; i++)
        sum += m.part[i];
    mlos_put_le64(out, sum);
    mlos_put_le32(out + 8, (uint32_t)used);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("par.mix", par_mix);
