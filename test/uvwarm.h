/* libuv opens some descriptors lazily on its first uv_spawn (child watcher,
 * a cached /dev/null) and keeps them for the process's life. Tests that
 * count descriptors start and stop one process shard first, so that only
 * descriptors mlos itself leaks are counted. */
#ifndef MLOS_TEST_UVWARM_H
#define MLOS_TEST_UVWARM_H

#include "mlos.h"

static void uvwarm(uv_loop_t *loop)
{
    struct mlos_spawn_opts o = {.arch = "process"};
    mlos_shard_t s;
    mlos_spawn_sync(loop, &s, &o);
    mlos_shard_stop_sync(&s);
}

#endif
