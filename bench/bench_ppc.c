/* bench_ppc: PowerPC shards beside x86_64 (and process) shards.
 *   boot+exit   QEMU start, HAL boot, exit, for the slave image started
 *               without a window (it finds none and leaves at once):
 *               bamboo (qemu-system-ppc) vs microvm (qemu-system-x86_64);
 *   cold spawn  mlos_spawn -> HELLO (host clock) and the shard's own clock
 *               at HELLO (guest boot to HELLO), with the boot trace's
 *               phases (boot_trace.h: median and minimum per phase);
 *   paused      a shard from a paused spare (mlos_pool.h): resume -> HELLO;
 *   call RTT    8-byte echo round trip, p50/p99, sleeping and polling;
 *   sum_u64     16 MiB put into the window and summed by the shard
 *               (guest compute: 32-bit big-endian TCG vs 64-bit TCG).
 * Usage: bench_ppc [runs] [arch...]    default: 10 x86_64 ppc
 *        (MLOS_IMAGE_PATH as for the tests)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mlos.h"
#include "kinds/qemu_ppc.h"
#include "kinds/qemu_x86_64.h"
#include "shard_bench.h"
#include "percentile.h"
#include "qemu_boot.h"
#include "boot_trace.h"

static uv_loop_t *loop;

/* ---- boot+exit of the slave image without a window ---- */
static void bench_arch(const char *arch, int runs)
{
    struct mlos_spawn_opts o = {.arch = arch, .bulk_bytes = 32u << 20, .on_console = bench_trace_console};
    uint64_t *spawn = calloc((size_t)runs, 8), *boot = calloc((size_t)runs, 8), *rtt = calloc(5000, 8);
    char image[1024];
    int nrtt;
    mlos_shard_t s;

    if (strcmp(arch, "process") &&
        mlos_image_find(!strcmp(arch, "ppc") ? "mlos-slave-ppc.elf" : "mlos-slave-x86_64.elf", image,
                        sizeof(image)) == 0) {
        for (int r = 0; r < runs; r++)
            boot[r] = bench_qemu_boot_exit(loop, arch, image, 64u << 20);
        printf("%-8s QEMU start + boot + exit (no window): p50 %7.2f ms  min %7.2f ms\n", arch,
               bench_pct(boot, runs, 0.5) / 1e6, bench_pct(boot, runs, 0.0) / 1e6);
    }
    bench_trace_enable();
    if (bench_cold_spawns(loop, &s, &o, runs, spawn, boot) < 0)
        return;
    unsetenv("MLOS_BOOT_TRACE");
    printf("%-8s cold spawn (request -> HELLO):       p50 %7.2f ms  min %7.2f ms  (%d runs)\n", arch,
           bench_pct(spawn, runs, 0.5) / 1e6, bench_pct(spawn, runs, 0.0) / 1e6, runs);
    printf("%-8s guest clock at HELLO (HAL + libos):   p50 %7.3f ms  min %7.3f ms\n", arch, bench_pct(boot, runs, 0.5) / 1e6,
           bench_pct(boot, runs, 0.0) / 1e6);
    bench_trace_print(arch);
    if (strcmp(arch, "process")) {
        uint64_t *ps = calloc((size_t)runs, 8);
        int np = bench_paused_spawns(loop, &o, runs, 1000, ps, NULL);
        if (np > 0)
            printf("%-8s from a paused spare (resume -> HELLO): p50 %7.2f ms  min %7.2f ms  (%d runs)\n", arch,
                   bench_pct(ps, np, 0.5) / 1e6, bench_pct(ps, np, 0.0) / 1e6, np);
        free(ps);
    }

    nrtt = bench_echo_rtts(&s, rtt, 5000);
    printf("%-8s small call round trip (8-byte echo):  p50 %7.2f us  p99 %7.2f us  (%d calls)\n", arch,
           bench_pct(rtt, nrtt, 0.5) / 1e3, bench_pct(rtt, nrtt, 0.99) / 1e3, nrtt);
    {
        /* polling: both sides watch the rings for 200 us after traffic */
        struct mlos_spawn_opts po = o;
        mlos_shard_t ps;
        po.spin_us = 200;
        if (mlos_spawn_sync(loop, &ps, &po) == 0) {
            int np = bench_echo_rtts(&ps, rtt, 5000);
            printf("%-8s small call round trip (polling, spin_us=200): p50 %7.2f us  p99 %7.2f us  (%d calls)\n",
                   arch, bench_pct(rtt, np, 0.5) / 1e3, bench_pct(rtt, np, 0.99) / 1e3, np);
        }
        mlos_shard_stop_sync(&ps);
    }

    size_t n = 16u << 20;
    uint8_t *src = malloc(n), arg[16];
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(i * 131);
    mlos_put(&s, 0, src, n);
    for (int i = 0; i < 8; i++) {
        arg[i] = 0;
        arg[8 + i] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = uv_hrtime();
        void *res = NULL;
        if (mlos_call_sync(&s, "sum_u64", arg, 16, &res, NULL, NULL, 0) == 0 && uv_hrtime() - t0 < best)
            best = uv_hrtime() - t0;
        free(res);
    }
    printf("%-8s sum_u64 over 16 MiB in the shard:     %7.2f ms  (%.0f MB/s)\n", arch, best / 1e6, n / (best / 1e3));
    free(src);
    mlos_shard_stop_sync(&s);
    free(spawn);
    free(boot);
    free(rtt);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 10;
    static const char *const dflt[] = {"x86_64", "ppc"};
    loop = uv_default_loop();

    if (runs < 1)
        runs = 1;
    setenv("MLOS_QUIET", "1", 1);
    if (argc > 2)
        for (int i = 2; i < argc; i++)
            bench_arch(argv[i], runs);
    else
        for (int i = 0; i < 2; i++)
            bench_arch(dflt[i], runs);
    return 0;
}
