/* mlos_spawn refusals leave the shard struct safe: whatever it held
 * before, mlos_shard_stop on it afterwards is refused, not a crash.
 *
 *   test_spawn_errors        the refusals
 *   test_spawn_errors kvm    KVM choice on an x86_64 shard (needs the image):
 *                            kvm = 1 starts, or fails at once where the
 *                            probe says KVM cannot run a guest; MLOS_KVM_AUTO
 *                            always starts a shard. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "mlos.h"

static void on_spawn(mlos_shard_t *s, int status) { (void)s, (void)status; }

static int kvm_mode(void)
{
    uv_loop_t loop;
    mlos_shard_t s;
    struct mlos_spawn_opts o = {.arch = "x86_64", .mem_bytes = 16 << 20, .kvm = 1};
    char why[256];
    int usable = mlos_kvm_usable(why, sizeof(why)) == 0;

    printf("KVM %s%s\n", usable ? "usable" : "not usable: ", usable ? "" : why);
    CHECK(usable || strlen(why) > 0);
    uv_loop_init(&loop);
    uint64_t t0 = uv_hrtime();
    int rc = mlos_spawn_sync(&loop, &s, &o);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    printf("kvm=1: %s in %.0f ms\n", mlos_strerror(rc), ms);
    if (usable) {
        CHECK_EQ(rc, 0);
    } else {
        CHECK_EQ(rc, MLOS_ESPAWN);
        CHECK(ms < 1500); /* not the 10 s HELLO timeout */
    }
    if (rc == 0 || s.impl)
        mlos_shard_stop_sync(&s);
    else
        CHECK_EQ(mlos_shard_stop(&s, NULL), MLOS_EINVAL);

    o.kvm = MLOS_KVM_AUTO;
    CHECK_EQ(mlos_spawn_sync(&loop, &s, &o), 0);
    CHECK(mlos_shard_alive(&s));
    mlos_shard_stop_sync(&s);
    CHECK_EQ(uv_loop_close(&loop), 0);
    CHECK_DONE();
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "kvm"))
        return kvm_mode();
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
