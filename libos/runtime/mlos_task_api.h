/* libos/runtime/mlos_task_api.h -- what a task sees: the context, MLOS_TASK,
 * mlos_task_result and mlos_task_fail (mlos_task.h explains tasks). This is
 * the part of mlos_task.h that is installed, as <mlos/mlos_task.h>; the
 * registry the runtime uses stays private to it.
 */
#ifndef MLOS_TASK_API_H
#define MLOS_TASK_API_H

#include <stddef.h>
#include <stdint.h>

#include "mlos_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLOS_TASK_ERROR_MAX 160
#define MLOS_TASK_SMALL_RESULT 64

struct mlos_task_ctx {
    const uint8_t *arg; /* argument bytes from the caller */
    size_t arg_len;
    uint8_t *bulk;      /* the shard's bulk window, or NULL */
    size_t bulk_len;
    /* private: filled by mlos_task_result / mlos_task_fail */
    void *result;       /* small_result, heap, or NULL */
    size_t result_len;
    char error[MLOS_TASK_ERROR_MAX];
    uint64_t small_result[MLOS_TASK_SMALL_RESULT / 8]; /* small results need no allocation */
};

typedef int (*mlos_task_fn)(struct mlos_task_ctx *ctx);

struct mlos_task_desc {
    const char *name;
    mlos_task_fn fn;
};

#define MLOS_TASK_CONCAT2(a, b) a##b
#define MLOS_TASK_CONCAT(a, b) MLOS_TASK_CONCAT2(a, b)
#define MLOS_TASK(name, fn)                                                                                      \
    static const struct mlos_task_desc MLOS_TASK_CONCAT(mlos_task_desc_, __LINE__)                               \
        __attribute__((section("mlos_tasks"), used, aligned(sizeof(void *)))) = {name, fn}

/* Copy len bytes as the task's result. Returns 0 or MLOS_ENOMEM. */
int mlos_task_result(struct mlos_task_ctx *ctx, const void *data, size_t len);

/* Record why the task failed; returns err so a task can `return
 * mlos_task_fail(ctx, MLOS_EINVAL, "need %d bytes", 8);`. */
int mlos_task_fail(struct mlos_task_ctx *ctx, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif
