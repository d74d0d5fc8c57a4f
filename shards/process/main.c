/* mlos-shard-process: a slave shard that is a Linux process.
 *
 * Started by the master (through mlos-launch) with the doorbell socket on
 * fd 3, the window memfd on fd 4 (the group memory, if any, on fd 5) and its
 * parameters in MLOS_SHARD_ARGS. It
 * runs the same libos slave runtime as a bare-metal shard.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "hal.h"
#include "hal_linux.h"
#include "mlos_task.h"
#include "slave.h"

int main(void)
{
    uv_loop_t loop;
    struct mlos_hal_linux_cfg cfg = {.cmdline = NULL, .window_fd = 4, .doorbell_fd = 3, .mem_bytes = 0, .group_fd = -1};
    int rc;

    /* Run by hand there is no master: say so rather than fail obscurely. */
    struct stat st;
    if (!getenv("MLOS_SHARD_ARGS") || fstat(3, &st) < 0 || !S_ISSOCK(st.st_mode) || fstat(4, &st) < 0) {
        fprintf(stderr, "mlos-shard-process: no master: this program is started by a master (mlos_spawn, "
                        "mlos spawn --arch process) with MLOS_SHARD_ARGS set, its doorbell socket on fd 3 "
                        "and its window on fd 4\n");
        return 2;
    }
    /* Group memory (shared with the shard's group peers) on fd 5, when the master gave one. */
    if (fstat(5, &st) == 0 && strstr(getenv("MLOS_SHARD_ARGS"), "mlos.group="))
        cfg.group_fd = 5;
    uv_loop_init(&loop);
    if ((rc = mlos_hal_linux_init(&loop, &cfg)) < 0) {
        fprintf(stderr, "mlos-shard-process: HAL setup failed: %s\n", mlos_strerror(rc));
        return MLOS_SHARD_EXIT_PROTO;
    }
    MLOS_TASKS_USE_LINKED();
    mlos_hal_exit(mlos_shard_main());
}
