/* hal/linux/hal_linux.h -- setting up the Linux process HAL.
 *
 * The process HAL runs on a libuv loop owned by the caller. A process shard
 * calls mlos_hal_linux_init() before mlos_shard_main(); mlos_hal_wait() then
 * runs that loop once at a time, so the shard can share the loop with its
 * own libuv handles.
 */
#ifndef MLOS_HAL_LINUX_H
#define MLOS_HAL_LINUX_H

#include <stddef.h>
#include <uv.h>

struct mlos_hal_linux_cfg {
    const char *cmdline; /* shard parameters; NULL: $MLOS_SHARD_ARGS */
    int window_fd;       /* file holding the window, -1: none */
    int doorbell_fd;     /* socket to the master, -1: none */
    int group_fd;        /* file holding the group memory (mlos.group=0x0,SIZE), -1 or 0: none */
    size_t mem_bytes;    /* arena for the memory service; 0: mlos.mem= or 64 MiB */
};

/* Map the window (mlos.window=OFFSET,SIZE in the cmdline, inside
 * window_fd), reserve the memory arena and watch the doorbell. The HAL
 * exits the process if the master closes the doorbell. Returns 0 or a
 * negative MLOS_E* code with the reason on stderr. */
int mlos_hal_linux_init(uv_loop_t *loop, const struct mlos_hal_linux_cfg *cfg);

/* Look up key in a "k=v k=v" string; copies the value into out. Returns
 * the value length or MLOS_ENOENT. Shared with tests. */
int mlos_cmdline_get(const char *cmdline, const char *key, char *out, size_t cap);

#endif
