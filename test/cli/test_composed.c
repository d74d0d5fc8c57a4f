/* Boots the composed image (shards/composed, from hello.mlos) and checks
 * that the composition is what runs: the built-in tasks answer, the neuro
 * tasks (not in the manifest) are absent.  argv[1]: image file name. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlos.h"

int main(int argc, char **argv)
{
    struct mlos_spawn_opts o = {.arch = "x86_64", .image = argc > 1 ? argv[1] : "mlos-slave-composed-x86_64.elf"};
    mlos_shard_t s = {0};
    void *res = NULL;
    size_t res_len = 0;
    char err[256] = "";
    int has_sum = 0, has_neuro = 0;

    int rc = mlos_spawn_sync(uv_default_loop(), &s, &o);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
        for (size_t i = 0; i < s.ntasks; i++) {
            has_sum |= !strcmp(s.tasks[i], "sum_u64");
            has_neuro |= !strncmp(s.tasks[i], "neuro_", 6);
        }
        CHECK(has_sum);
        CHECK(!has_neuro);
        CHECK_EQ(mlos_call_sync(&s, "echo", "composed", 8, &res, &res_len, err, sizeof err), 0);
        CHECK(res_len == 8 && res && !memcmp(res, "composed", 8));
        free(res);
        CHECK(mlos_call_sync(&s, "neuro_smooth", "", 0, &res, &res_len, err, sizeof err) == MLOS_ENOTASK);
    }
    mlos_shard_stop_sync(&s);
    CHECK_DONE();
}
