/* Tasks built into every slave: small, well-defined building blocks used by
 * the examples, tests and benchmarks. Integers cross the wire little-endian. */
#include <stdint.h>
#include <string.h>

#include "hal.h"
#include "mlos_task.h"
#include "shard_msg.h"
#include "mlos_endian.h"

/* Argument: offset and length (two le64) of a byte range in the bulk window
 * holding little-endian u64 values. Result: their wrapping sum (le64). */
static int sum_u64(struct mlos_task_ctx *ctx)
{
    uint8_t out[8];
    uint64_t off, len, sum = 0;

    if (ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "sum_u64 wants 16 argument bytes (offset, length), got %zu",
                              ctx->arg_len);
    off = mlos_get_le64(ctx->arg);
    len = mlos_get_le64(ctx->arg + 8);
    if (!ctx->bulk || off > ctx->bulk_len || len > ctx->bulk_len - off || (len & 7))
        return mlos_task_fail(ctx, MLOS_ERANGE, "range [%llu, +%llu) is not u64s inside the %zu-byte bulk window",
                              (unsigned long long)off, (unsigned long long)len, ctx->bulk_len);
    for (uint64_t i = 0; i < len; i += 8)
        sum += mlos_get_le64(ctx->bulk + off + i);
    mlos_put_le64(out, sum);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("sum_u64", sum_u64);

/* Result: the argument, unchanged (round-trip benchmark). */
static int echo(struct mlos_task_ctx *ctx) { return mlos_task_result(ctx, ctx->arg, ctx->arg_len); }
MLOS_TASK("echo", echo);

/* Fails on purpose with the argument as its message (error path tests). */
static int fail(struct mlos_task_ctx *ctx)
{
    return mlos_task_fail(ctx, MLOS_ETASK, "asked to fail: %.*s", (int)ctx->arg_len, (const char *)ctx->arg);
}
MLOS_TASK("fail", fail);

/* Touches an unmapped address: a crash, to test that the master notices.
 * On bare metal the HAL reports a page fault; a process shard gets SIGSEGV. */
static int crash(struct mlos_task_ctx *ctx)
{
    volatile uint64_t *bad = (volatile uint64_t *)(uintptr_t)0xdead0000000ull;
    *bad = 1;
    return mlos_task_fail(ctx, MLOS_ETASK, "survived a wild write");
}
MLOS_TASK("crash", crash);

/* Argument: le64 nanoseconds. Busy-waits that long on the shard clock
 * (scheduling and timeout tests). */

static int spin(struct mlos_task_ctx *ctx)
{
    uint64_t ns, until;
    if (ctx->arg_len != 8)
        return mlos_task_fail(ctx, MLOS_EINVAL, "spin wants an le64 duration in ns");
    ns = mlos_get_le64(ctx->arg);
    until = mlos_hal_now_ns() + ns;
    while (mlos_hal_now_ns() < until)
        ;
    return mlos_task_result(ctx, NULL, 0);
}
MLOS_TASK("spin", spin);

/* Messages from the master's endpoint (libos/runtime/shard_msg.h): after this task,
 * every message is answered with the same bytes and type + 1, from the
 * shard's event loop. Argument "off" removes the handler. */
static void echo_msg(uint32_t type, const void *data, size_t len, void *user)
{
    mlos_shard_send(type + 1, data, len);
}

static int msg_echo(struct mlos_task_ctx *ctx)
{
    int off = ctx->arg_len == 3 && !memcmp(ctx->arg, "off", 3);
    mlos_shard_on_msg(off ? NULL : echo_msg, NULL);
    return mlos_task_result(ctx, NULL, 0);
}
MLOS_TASK("msg.echo", msg_echo);
