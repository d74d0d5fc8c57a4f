/* <mlos/task.h> -- writing tasks that run on slaves.
 *
 *     #include <mlos/task.h>
 *
 *     static int sum(struct mlos_task_ctx *ctx)
 *     {
 *         if (ctx->arg_len != 8)
 *             return mlos_task_fail(ctx, MLOS_EINVAL, "need 8 bytes, got %zu", ctx->arg_len);
 *         uint64_t n = mlos_get_le64(ctx->arg), s = 0;    // explicit byte order:
 *         ...                                             // x86_64 and ppc read the same bytes
 *         uint8_t out[8];
 *         mlos_put_le64(out, s);
 *         return mlos_task_result(ctx, out, sizeof(out));
 *     }
 *     MLOS_TASK("sum", sum);
 *
 * ctx->arg/arg_len are the caller's argument bytes (mlos_call); ctx->bulk/
 * bulk_len the shard's bulk window, which the master fills with mlos_put
 * before the call and may read back with mlos_get after it. A task answers
 * with mlos_task_result (bytes copied into the reply) and returns 0, or
 * returns a negative MLOS_E* code after mlos_task_fail has said why.
 *
 * Tasks are compiled into a slave image: `mlos build --arch x86_64|ppc|
 * process -o IMAGE tasks.c`, or with the flags of pkg-config mlos-slave-x86_64,
 * mlos-slave-ppc or mlos-slave-process. Those define MLOS_BAREMETAL or
 * MLOS_SHARD_PROCESS; in any other program (a master) MLOS_TASK is a
 * compile error rather than a registration that silently never runs.
 */
#ifndef MLOS_SDK_TASK_H
#define MLOS_SDK_TASK_H

#ifdef __cplusplus
extern "C" {
#endif
#include "mlos_endian.h"
#include "mlos_error.h"
#include "mlos_task_api.h"
#ifdef __cplusplus
}
#endif

#if !defined(MLOS_BAREMETAL) && !defined(MLOS_SHARD_PROCESS)
#undef MLOS_TASK
#ifdef __cplusplus
#define MLOS_TASK(name, fn) \
    static_assert(false, "MLOS_TASK only works in slave code: build it with `mlos build` or pkg-config mlos-slave-*")
#else
#define MLOS_TASK(name, fn) \
    _Static_assert(0, "MLOS_TASK only works in slave code: build it with `mlos build` or pkg-config mlos-slave-*")
#endif
#endif

#endif
