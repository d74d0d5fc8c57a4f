/* Task registry and the helpers tasks use to answer. */
#include "mlos_task.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "hal.h"
#include "mem.h"

#if !__STDC_HOSTED__
/* Bare-metal images: the linker script brackets the section. */
extern const struct mlos_task_desc __start_mlos_tasks[], __stop_mlos_tasks[];
static const struct mlos_task_desc *tbl_begin = __start_mlos_tasks, *tbl_end = __stop_mlos_tasks;
#else
static const struct mlos_task_desc *tbl_begin, *tbl_end;
#endif

void mlos_task_table_set(const struct mlos_task_desc *begin, const struct mlos_task_desc *end)
{
    tbl_begin = begin;
    tbl_end = end;
}

size_t mlos_task_count(void) { return tbl_begin ? (size_t)(tbl_end - tbl_begin) : 0; }

const struct mlos_task_desc *mlos_task_at(size_t i) { return i < mlos_task_count() ? &tbl_begin[i] : NULL; }

/* The last task found: a shard usually runs the same few tasks over and
 * over, and under QEMU TCG even a short strcmp walk costs ~0.5 us. */
static const struct mlos_task_desc *last_found;

/* Byte loops, not strlen/memcmp: names are short, and under TCG each
 * call and return costs more than comparing a dozen bytes. */
static int name_is(const struct mlos_task_desc *t, const char *name, size_t name_len)
{
    const char *n = t->name;
    size_t i = 0;
    for (; i < name_len; i++)
        if (n[i] != name[i] || !n[i])
            return 0;
    return n[i] == '\0';
}

const struct mlos_task_desc *mlos_task_find(const char *name, size_t name_len)
{
    const struct mlos_task_desc *t = last_found;
    if (t && t >= tbl_begin && t < tbl_end && name_is(t, name, name_len))
        return t;
    for (size_t i = 0; i < mlos_task_count(); i++)
        if (name_is(&tbl_begin[i], name, name_len))
            return last_found = &tbl_begin[i];
    return NULL;
}

void mlos_task_ctx_init(struct mlos_task_ctx *ctx, const uint8_t *arg, size_t arg_len, uint8_t *bulk,
                        size_t bulk_len)
{
    ctx->arg = arg;
    ctx->arg_len = arg_len;
    ctx->bulk = bulk;
    ctx->bulk_len = bulk_len;
    ctx->result = NULL;
    ctx->result_len = 0;
    ctx->error[0] = '\0';
}

void mlos_task_ctx_release(struct mlos_task_ctx *ctx)
{
    /* A group member's results come from its environment's heap (the
     * master's own rank has no shard heap): comm.h. */
    if (ctx->result != (void *)ctx->small_result)
        mlos__comm_free(mlos_comm_self(), ctx->result);
    ctx->result = NULL;
    ctx->result_len = 0;
}

int mlos_task_result(struct mlos_task_ctx *ctx, const void *data, size_t len)
{
    void *p = ctx->small_result;
    if (len > sizeof(ctx->small_result) && !(p = mlos__comm_alloc(mlos_comm_self(), len)))
        return MLOS_ENOMEM;
    if (len > sizeof(ctx->small_result))
        memmove(p, data, len); /* data may be the current result */
    else
        for (size_t i = 0; i < len; i++) /* inline: cheaper than a call for a few bytes under TCG */
            ((uint8_t *)p)[i] = ((const uint8_t *)data)[i];
    if (ctx->result && ctx->result != p)
        mlos_task_ctx_release(ctx);
    ctx->result = p;
    ctx->result_len = len;
    return 0;
}

int mlos_task_fail(struct mlos_task_ctx *ctx, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
    return err < 0 ? err : MLOS_ETASK;
}

uint64_t mlos_task_now_ns(void) { return mlos_hal_now_ns(); }

int mlos_task_run(const char *name, size_t name_len, struct mlos_task_ctx *ctx)
{
    const struct mlos_task_desc *t = mlos_task_find(name, name_len);
    int rc;
    if (!t)
        return mlos_task_fail(ctx, MLOS_ENOTASK, "no task named '%.*s' in this shard", (int)name_len, name);
    rc = t->fn(ctx);
    if (rc < 0 && !ctx->error[0])
        mlos_task_fail(ctx, rc, "task '%s' failed: %s", t->name, mlos_strerror(rc));
    return rc;
}
