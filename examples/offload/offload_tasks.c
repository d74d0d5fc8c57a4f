/* Tasks of the offload example, compiled into slave images of every kind
 * (x86_64, PowerPC, process) from this one source.
 *
 * The master puts the data into the shard's bulk window with mlos_put and
 * passes only offsets and sizes as the argument. Everything crossing the
 * boundary is little-endian, read and written with the byte-order helpers,
 * so the big-endian PowerPC shard computes the same answers as x86_64.
 * Offsets and sizes come from the caller: each is checked against the
 * window before any byte is read.
 */
#include <mlos/task.h>

/* "offload.histogram": arg = le64 offset, le64 length, le32 nbins (1..256).
 * Counts the bytes [offset, offset+length) of the bulk window into nbins
 * equal bins of the value range 0..255. Result: nbins le64 counts. */
static int histogram(struct mlos_task_ctx *ctx)
{
    if (ctx->arg_len != 20)
        return mlos_task_fail(ctx, MLOS_EINVAL, "histogram: argument is 20 bytes, got %zu", ctx->arg_len);
    uint64_t off = mlos_get_le64(ctx->arg), len = mlos_get_le64(ctx->arg + 8);
    uint32_t nbins = mlos_get_le32(ctx->arg + 16);
    if (nbins < 1 || nbins > 256)
        return mlos_task_fail(ctx, MLOS_EINVAL, "histogram: %u bins (1 to 256)", (unsigned)nbins);
    if (!ctx->bulk || off > ctx->bulk_len || len > ctx->bulk_len - off)
        return mlos_task_fail(ctx, MLOS_ERANGE, "histogram: bytes outside the bulk window");

    uint64_t counts[256] = {0};
    const uint8_t *p = ctx->bulk + off;
    for (uint64_t i = 0; i < len; i++)
        counts[(uint32_t)p[i] * nbins / 256]++;

    uint8_t out[256 * 8];
    for (uint32_t b = 0; b < nbins; b++)
        mlos_put_le64(out + 8 * b, counts[b]);
    return mlos_task_result(ctx, out, 8 * (size_t)nbins);
}
MLOS_TASK("offload.histogram", histogram);

/* "offload.dot": arg = le64 offset_a, le64 offset_b, le64 n. The bulk
 * window holds two vectors of n le32 signed integers at those offsets.
 * Result: their dot product as a le64 (two's complement, modulo 2^64),
 * exact on every architecture. */
static int dot(struct mlos_task_ctx *ctx)
{
    if (ctx->arg_len != 24)
        return mlos_task_fail(ctx, MLOS_EINVAL, "dot: argument is 24 bytes, got %zu", ctx->arg_len);
    uint64_t a = mlos_get_le64(ctx->arg), b = mlos_get_le64(ctx->arg + 8), n = mlos_get_le64(ctx->arg + 16);
    if (!ctx->bulk || n > ctx->bulk_len / 4 || a > ctx->bulk_len - 4 * n || b > ctx->bulk_len - 4 * n)
        return mlos_task_fail(ctx, MLOS_ERANGE, "dot: vectors outside the bulk window");

    /* Each product fits in 64 bits; the sum wraps modulo 2^64 (unsigned:
     * defined behaviour) instead of overflowing. */
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += (uint64_t)((int64_t)(int32_t)mlos_get_le32(ctx->bulk + a + 4 * i) *
                          (int32_t)mlos_get_le32(ctx->bulk + b + 4 * i));

    uint8_t out[8];
    mlos_put_le64(out, sum);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("offload.dot", dot);
