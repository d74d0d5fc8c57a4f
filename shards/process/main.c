/* mlos-shard-process: a slave shard that is a Linux process.
 *
 * Started by the master (through mlos-launch) with the doorbell socket on
 * fd 3, the window memfd on fd 4 and its parameters in MLOS_SHARD_ARGS. It
 * runs the same libos slave runtime as a bare-metal shard.
 */
#include <stdio.h>
#include <uv.h>

#include "hal.h"
#include "hal_linux.h"
#include "mlos_task.h"
#include "slave.h"

int main(void)
{
    uv_loop_t loop;
    struct mlos_hal_linux_cfg cfg = {.cmdline = NULL, .window_fd = 4, .doorbell_fd = 3, .mem_bytes = 0};
    int rc;

    uv_loop_init(&loop);
    if ((rc = mlos_hal_linux_init(&loop, &cfg)) < 0) {
        fprintf(stderr, "mlos-shard-process: HAL setup failed: %s\n", mlos_strerror(rc));
        return MLOS_SHARD_EXIT_PROTO;
    }
    MLOS_TASKS_USE_LINKED();
    mlos_hal_exit(mlos_shard_main());
}
