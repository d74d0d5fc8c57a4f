/* mlos_spawn refusals leave the shard struct safe: whatever it held
 * before, mlos_shard_stop on it afterwards is refused, not a crash. */
#include <string.h>

#include "check.h"
#include "mlos.h"

static void on_spawn(mlos_shard_t *s, int status) { (void)s, (void)status; }

int main(void)
{
    uv_loop_t loop;
    mlos_shard_t s;
    struct mlos_spawn_opts o = {.arch = "vax"};

    uv_loop_init(&loop);
    memset(&s, 0xa5, sizeof(s)); /* a reused or uninitialised struct */
    CHECK_EQ(mlos_spawn(&loop, &s, &o, on_spawn), MLOS_EINVAL);
    CHECK(s.impl == NULL);
    CHECK_EQ(mlos_shard_stop(&s, NULL), MLOS_EINVAL);

    memset(&s, 0xa5, sizeof(s));
    o.arch = "process";
    o.ring_bytes = 1000; /* not a power of two */
    CHECK_EQ(mlos_spawn(&loop, &s, &o, on_spawn), MLOS_EINVAL);
    CHECK_EQ(mlos_shard_stop(&s, NULL), MLOS_EINVAL);

    memset(&s, 0xa5, sizeof(s));
    CHECK_EQ(mlos_spawn(&loop, &s, NULL, NULL), MLOS_EINVAL); /* no callback */
    CHECK_EQ(mlos_shard_stop(&s, NULL), MLOS_EINVAL);
    CHECK_EQ(uv_run(&loop, UV_RUN_NOWAIT), 0); /* nothing was left running */
    CHECK_EQ(uv_loop_close(&loop), 0);
    CHECK_DONE();
}
