/* Memory tasks: hold, check and drop patterned memory across calls, and
 * report the allocator's numbers. They let a master (tests, benchmarks)
 * watch a shard's memory while it is resized: a block is allocated in
 * chunks of up to 1 MiB from the shard's heap, every word written from a
 * seed, kept in a numbered slot, and re-read later. Integers are
 * little-endian. */
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "mlos_endian.h"
#include "mlos_task.h"

#define SLOTS 64
#define CHUNK ((size_t)1 << 20)
#define MAX_CHUNKS 4096 /* 4 GiB per slot, more than any shard has */

struct slot {
    uint64_t **chunk; /* chunk[i]: up to CHUNK bytes */
    size_t nchunks;
    uint64_t bytes, seed;
};
static struct slot slots[SLOTS];

/* Word i of a block with this seed: cheap, and differs between blocks,
 * chunks and positions, so a lost or swapped page shows. */
static uint64_t pattern(uint64_t seed, uint64_t i) { return (seed ^ 0x9E3779B97F4A7C15ull) * (i + 1) + i; }

static size_t chunk_len(const struct slot *s, size_t c)
{
    uint64_t left = s->bytes - (uint64_t)c * CHUNK;
    return left < CHUNK ? (size_t)left : CHUNK;
}

static void drop(struct slot *s)
{
    for (size_t c = 0; c < s->nchunks; c++)
        mlos_free(s->chunk[c]);
    mlos_free(s->chunk);
    memset(s, 0, sizeof(*s));
}

static int slot_arg(struct mlos_task_ctx *ctx, size_t want, struct slot **out)
{
    if (ctx->arg_len != want)
        return mlos_task_fail(ctx, MLOS_EINVAL, "want %zu argument bytes, got %zu", want, ctx->arg_len);
    uint32_t k = mlos_get_le32(ctx->arg);
    if (k >= SLOTS)
        return mlos_task_fail(ctx, MLOS_EINVAL, "slot %u: there are %u", (unsigned)k, SLOTS);
    *out = &slots[k];
    return 0;
}

/* Argument: le32 slot, le64 bytes, le64 seed. Allocates and fills the
 * block (replacing what the slot held). All or nothing: if memory runs out
 * midway, what it got is freed and the task fails with MLOS_ENOMEM saying
 * how far it came. Result: le64 bytes held. */
static int mem_hold(struct mlos_task_ctx *ctx)
{
    struct slot *s = NULL;
    int rc = slot_arg(ctx, 20, &s);
    uint8_t out[8];

    if (rc < 0)
        return rc;
    drop(s);
    s->bytes = mlos_get_le64(ctx->arg + 4);
    s->seed = mlos_get_le64(ctx->arg + 12);
    if (s->bytes % 8 || s->bytes > (uint64_t)MAX_CHUNKS * CHUNK) {
        uint64_t b = s->bytes;
        s->bytes = 0;
        return mlos_task_fail(ctx, MLOS_EINVAL, "%llu bytes: want a multiple of 8 up to %llu",
                              (unsigned long long)b, (unsigned long long)MAX_CHUNKS * CHUNK);
    }
    size_t n = (size_t)((s->bytes + CHUNK - 1) / CHUNK);
    if (n && !(s->chunk = mlos_calloc(n, sizeof(*s->chunk)))) {
        s->bytes = 0;
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory for the chunk table");
    }
    for (s->nchunks = 0; s->nchunks < n; s->nchunks++) {
        size_t c = s->nchunks, len = chunk_len(s, c);
        uint64_t *w = mlos_malloc(len);
        if (!w) {
            uint64_t want = s->bytes, got = (uint64_t)c * CHUNK;
            drop(s);
            return mlos_task_fail(ctx, MLOS_ENOMEM, "out of memory after %llu of %llu bytes",
                                  (unsigned long long)got, (unsigned long long)want);
        }
        s->chunk[c] = w;
        uint64_t base = (uint64_t)c * (CHUNK / 8);
        for (size_t i = 0; i < len / 8; i++)
            w[i] = pattern(s->seed, base + i);
    }
    mlos_put_le64(out, s->bytes);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("mem.hold", mem_hold);

/* Argument: le32 slot. Re-reads the block. Result: le64 bytes checked;
 * fails with MLOS_ETASK naming the first word that changed. */
static int mem_check(struct mlos_task_ctx *ctx)
{
    struct slot *s = NULL;
    int rc = slot_arg(ctx, 4, &s);
    uint8_t out[8];

    if (rc < 0)
        return rc;
    for (size_t c = 0; c < s->nchunks; c++) {
        const uint64_t *w = s->chunk[c];
        uint64_t base = (uint64_t)c * (CHUNK / 8);
        for (size_t i = 0; i < chunk_len(s, c) / 8; i++)
            if (w[i] != pattern(s->seed, base + i))
                return mlos_task_fail(ctx, MLOS_ETASK, "byte %llu of the block changed",
                                      (unsigned long long)((base + i) * 8));
    }
    mlos_put_le64(out, s->bytes);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("mem.check", mem_check);

/* Argument: le32 slot. Frees the block. Result: empty. */
static int mem_drop(struct mlos_task_ctx *ctx)
{
    struct slot *s = NULL;
    int rc = slot_arg(ctx, 4, &s);
    if (rc < 0)
        return rc;
    drop(s);
    return mlos_task_result(ctx, NULL, 0);
}
MLOS_TASK("mem.drop", mem_drop);

/* Argument: none. Result: five le64: bytes the allocator manages, its
 * limit (what may be in use at once), in use, free, live heap blocks. */
static int mem_stats(struct mlos_task_ctx *ctx)
{
    struct mlos_mem_stats st;
    uint8_t out[40];

    mlos_mem_stats(&st);
    mlos_put_le64(out, st.total_bytes);
    mlos_put_le64(out + 8, st.limit_bytes);
    mlos_put_le64(out + 16, st.in_use_bytes);
    mlos_put_le64(out + 24, st.free_bytes);
    mlos_put_le64(out + 32, st.heap_bytes);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("mem.stats", mem_stats);
