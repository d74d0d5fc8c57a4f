/* ftq_tasks.c -- the FTQ OS-noise benchmark as a slave task (libos/ftq.h).
 *
 * "ftq.run"  argument: le64 quantum_ns, le64 number of quanta, le64 bulk
 *            offset [, le64 work iterations per unit]. Runs the benchmark
 *            on the shard's own clock -- the raw cycle counter when the HAL
 *            knows its rate (TSC, PowerPC timebase), else the ns clock -- and
 *            writes the FTQ header and counts into the bulk window at the
 *            offset. Result: le64 bytes written.
 */
#include <stdint.h>
#include <string.h>

#include "ftq.h"
#include "hal.h"
#include "mlos_task.h"
#include "mlos_endian.h"

static uint64_t clock_cycles(void *ctx) { return mlos_hal_cycles(); }
static uint64_t clock_ns(void *ctx) { return mlos_hal_now_ns(); }

static int ftq_run_task(struct mlos_task_ctx *ctx)
{
    struct ftq_params p = {0};
    struct ftq_clock clk = {0};
    uint64_t nq, off, iters = 0;
    uint8_t res[8];

    if (ctx->arg_len != 24 && ctx->arg_len != 32)
        return mlos_task_fail(ctx, MLOS_EINVAL,
                              "ftq.run wants le64 quantum_ns, quanta, bulk offset [, unit iterations]; got %u bytes",
                              (unsigned)ctx->arg_len);
    p.quantum_ns = mlos_get_le64(ctx->arg);
    nq = mlos_get_le64(ctx->arg + 8);
    off = mlos_get_le64(ctx->arg + 16);
    if (ctx->arg_len == 32)
        iters = mlos_get_le64(ctx->arg + 24);
    if (nq == 0 || nq > 0x10000000u || iters > 0xffffffffu || p.quantum_ns < 1000 ||
        p.quantum_ns > 10000000000ull)
        return mlos_task_fail(ctx, MLOS_EINVAL, "ftq.run: need 1 us <= quantum <= 10 s, 1 <= quanta <= 2^28");
    p.nquanta = (uint32_t)nq;
    p.unit_iters = (uint32_t)iters;
    if (!ctx->bulk || off > ctx->bulk_len || ftq_bytes(p.nquanta) > ctx->bulk_len - off)
        return mlos_task_fail(ctx, MLOS_ERANGE, "ftq.run: %llu bytes at offset %llu do not fit the %llu-byte bulk window",
                              (unsigned long long)ftq_bytes(p.nquanta), (unsigned long long)off,
                              (unsigned long long)ctx->bulk_len);

    clk.hz = mlos_hal_cycles_hz();
    if (clk.hz) {
        clk.now = clock_cycles;
        clk.flags = FTQ_F_CYCLES;
        clk.name = !strcmp(mlos_hal_arch(), "ppc") ? "timebase" : !strcmp(mlos_hal_arch(), "x86_64") ? "tsc" : "cycles";
    } else {
        clk.now = clock_ns;
        clk.hz = 1000000000u;
        clk.name = "ns";
    }
    int rc = ftq_run(&p, &clk, ctx->bulk + off, ctx->bulk_len - off);
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "ftq.run: bad parameters or clock (%llu Hz)", (unsigned long long)clk.hz);
    uint64_t n = ftq_bytes(p.nquanta);
    for (int i = 0; i < 8; i++)
        res[i] = (uint8_t)(n >> (8 * i));
    return mlos_task_result(ctx, res, sizeof(res));
}
MLOS_TASK("ftq.run", ftq_run_task);
