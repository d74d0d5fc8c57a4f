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

/* ---- cores ----
 * A shard may have several cores (x86_64, mlos_spawn_opts.cores). Core 0
 * runs the event loop; a task runs on core 0, or on another core when the
 * master called it with MLOS_CALL_CONCURRENT. */

/* body(begin, end, arg) over [0, n): the range is cut into contiguous
 * chunks, one per core that is free and active (the calling core takes
 * the first), and the call returns when every chunk is done. On one core
 * (or when all others are busy or parked) it is body(0, n, arg). body runs
 * on several cores at once: it must only write what its own chunk owns
 * (or use atomics). Returns the number of cores used (>= 1), or
 * MLOS_EINVAL (body NULL). */
typedef void (*mlos_for_fn)(size_t begin, size_t end, void *arg);
int mlos_parallel_for(size_t n, mlos_for_fn body, void *arg);

/* Cores the shard may use now (not parked), and the calling core (0 ..). */
unsigned mlos_core_count(void);
unsigned mlos_core_self(void);

#ifdef __cplusplus
}
#endif

#endif
