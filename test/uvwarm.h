/* Resource checks shared by the shard tests.
 *
 * libuv opens some descriptors lazily on its first uv_spawn (child watcher,
 * a cached /dev/null) and keeps them for the process's life. Tests that
 * count descriptors start and stop one process shard first, so that only
 * descriptors mlos itself leaks are counted. */
#ifndef MLOS_TEST_UVWARM_H
#define MLOS_TEST_UVWARM_H

#include <dirent.h>
#include <signal.h>

#include "mlos.h"

/* Open descriptors of this process: equal before and after = nothing leaked. */
static inline int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

static inline int pid_alive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

static void uvwarm(uv_loop_t *loop)
{
    struct mlos_spawn_opts o = {.arch = "process"};
    mlos_shard_t s;
    mlos_spawn_sync(loop, &s, &o);
    mlos_shard_stop_sync(&s);
}

#endif
