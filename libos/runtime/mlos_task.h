/* libos/runtime/mlos_task.h -- tasks: named functions a slave runs for the master.
 *
 * A task is registered at build time with
 *
 *     static int sum(struct mlos_task_ctx *ctx) { ... }
 *     MLOS_TASK("sum_u64", sum);
 *
 * which places a descriptor in the `mlos_tasks` link section. The slave
 * runtime looks tasks up by name when a CALL arrives. The same source works
 * on every HAL.
 *
 * A task reads its argument bytes (ctx->arg) and may read or write the
 * shard's bulk window (ctx->bulk), where the master puts large inputs with
 * mlos_put(). It answers with mlos_task_result() (bytes copied into the
 * reply) and returns 0, or returns a negative MLOS_E* code after
 * mlos_task_fail() has explained why. The result buffer is owned by the
 * runtime and freed after the reply is sent.
 */
#ifndef MLOS_TASK_H
#define MLOS_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "mlos_error.h"
#include "mlos_task_api.h" /* the context, MLOS_TASK, mlos_task_result, mlos_task_fail */

/* ---- registry (used by the runtime) ---- */

/* Hosted programs that keep their tasks in the executable call this once
 * before mlos_shard_main (MLOS_TASKS_USE_LINKED does it for them); bare-metal
 * images find the table through their linker script. */
void mlos_task_table_set(const struct mlos_task_desc *begin, const struct mlos_task_desc *end);
#define MLOS_TASKS_USE_LINKED()                                                                                  \
    do {                                                                                                         \
        extern const struct mlos_task_desc __start_mlos_tasks[], __stop_mlos_tasks[];                            \
        mlos_task_table_set(__start_mlos_tasks, __stop_mlos_tasks);                                              \
    } while (0)

const struct mlos_task_desc *mlos_task_find(const char *name, size_t name_len);
size_t mlos_task_count(void);
const struct mlos_task_desc *mlos_task_at(size_t i);

/* Runtimes: prepare ctx for one call (no result, no error), and free what
 * the task's result holds after the reply is sent. */
void mlos_task_ctx_init(struct mlos_task_ctx *ctx, const uint8_t *arg, size_t arg_len, uint8_t *bulk,
                        size_t bulk_len);
void mlos_task_ctx_release(struct mlos_task_ctx *ctx);

/* Run a task by name on ctx (arg/bulk filled by the caller). Returns the
 * task's status; MLOS_ENOTASK with ctx->error set if no such task. */
int mlos_task_run(const char *name, size_t name_len, struct mlos_task_ctx *ctx);

#endif
