/* hello: the smallest mlos program.
 *
 * Boots one bare-metal x86_64 slave, puts a buffer of numbers into its bulk
 * window, asks the slave's "sum_u64" task to add them up, checks the answer
 * and prints it with the timings. Build outside the tree with
 *   cc hello.c $(pkg-config --cflags --libs mlos)
 * Usage: hello [x86_64|process] [count]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <mlos.h>
#include "mlos_endian.h"

int main(int argc, char **argv)
{
    const char *arch = argc > 1 ? argv[1] : "x86_64";
    size_t count = argc > 2 ? strtoull(argv[2], NULL, 0) : 1000000;
    struct mlos_spawn_opts opts = {.arch = arch, .bulk_bytes = count * 8 + 4096};
    uv_loop_t *loop = uv_default_loop();
    uint8_t *buf, arg[16];
    uint64_t expect = 0, got;
    mlos_shard_t shard;
    void *result;
    size_t rlen;
    char err[256];
    int rc;

    if (!(buf = malloc(count * 8)))
        return 1;
    for (size_t i = 0; i < count; i++) {
        mlos_put_le64(buf + 8 * i, i * 2654435761u);
        expect += i * 2654435761u;
    }

    rc = mlos_spawn_sync(loop, &shard, &opts);
    if (rc < 0) {
        fprintf(stderr, "hello: spawn failed: %s\n%s", mlos_strerror(rc), mlos_shard_console_tail(&shard));
        mlos_shard_stop_sync(&shard);
        return 1;
    }
    printf("spawned %s shard %u in %.1f ms (shard booted in %.1f ms, %" PRIu64 " MiB, %zu tasks)\n", shard.arch,
           shard.id, shard.spawn_ns / 1e6, shard.shard_boot_ns / 1e6, shard.mem_bytes >> 20, shard.ntasks);

    uint64_t t0 = uv_hrtime();
    rc = mlos_put(&shard, 0, buf, count * 8);
    uint64_t t_put = uv_hrtime() - t0;
    mlos_put_le64(arg, 0);
    mlos_put_le64(arg + 8, count * 8);
    t0 = uv_hrtime();
    if (rc == 0)
        rc = mlos_call_sync(&shard, "sum_u64", arg, sizeof(arg), &result, &rlen, err, sizeof(err));
    uint64_t t_call = uv_hrtime() - t0;
    if (rc < 0 || rlen != 8) {
        fprintf(stderr, "hello: call failed: %s: %s\n", mlos_strerror(rc), err);
        mlos_shard_stop_sync(&shard);
        return 1;
    }
    memcpy(&got, result, 8); /* le64 on this little-endian host */
    free(result);
    printf("sum of %zu u64 = %" PRIu64 " (%s)\n", count, got, got == expect ? "correct" : "WRONG");
    printf("put %zu bytes: %.2f ms; call sum_u64: %.2f ms\n", count * 8, t_put / 1e6, t_call / 1e6);

    t0 = uv_hrtime();
    mlos_shard_stop_sync(&shard);
    printf("stopped in %.1f ms\n", (uv_hrtime() - t0) / 1e6);
    free(buf);
    uv_loop_close(loop);
    return got == expect ? 0 : 1;
}
