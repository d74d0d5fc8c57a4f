/* bench_skeleton: the walking skeleton's numbers, with baselines measured
 * in the same run.
 *   cold spawn (mlos_spawn -> HELLO) for x86_64 and process shards, beside
 *     the floor: a bare QEMU start+boot+exit of an empty Multiboot kernel
 *     (same QEMU options, same memfd RAM), as a ratio to it; the guest's
 *     own clock at HELLO (entry -> HELLO);
 *   a shard from a paused spare (mlos_pool.h paused_spares): resume ->
 *     HELLO and the first call's request -> reply, beside the same floor;
 *   small-call round trip (8-byte echo) p50/p99;
 *   put bandwidth into the bulk window beside plain memcpy.
 *   the x86_64 guest's boot trace (hal.h, mlos_hal_boot_report): per phase,
 *     median and minimum over a second set of cold spawns;
 * Usage: bench_skeleton [runs [arch]]   (MLOS_IMAGE_PATH as for the tests;
 *   arch: x86_64 or process alone, both by default)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mlos.h"
#include "kinds/qemu_x86_64.h"
#include "shard_bench.h"
#include "percentile.h"
#include "qemu_boot.h"
#include "boot_trace.h"

static uv_loop_t *loop;
static double floor_ms; /* bare-QEMU p50 of this run, 0 if not measured */

static void beside_floor(double ms)
{
    if (floor_ms > 0)
        printf("  (%.2fx the floor)", ms / floor_ms);
    printf("\n");
}

/* ---- bare QEMU baseline ---- */
static void report_rtt(const char *arch, const char *mode, mlos_shard_t *s)
{
    static uint64_t rtt[5000];
    int n = bench_echo_rtts(s, rtt, 5000);
    printf("%-8s small call round trip (8-byte echo, %s): p50 %7.2f us  p99 %7.2f us  (%d calls)\n", arch, mode,
           bench_pct(rtt, n, 0.5) / 1e3, bench_pct(rtt, n, 0.99) / 1e3, n);
}

static void bench_arch(const char *arch, int runs)
{
    struct mlos_spawn_opts o = {.arch = arch, .bulk_bytes = 64u << 20};
    uint64_t *spawn = calloc((size_t)runs, 8);
    mlos_shard_t s;

    uint64_t *boot = calloc((size_t)runs, 8);
    if (bench_cold_spawns(loop, &s, &o, runs, spawn, boot) < 0)
        return;
    double p50 = bench_pct(spawn, runs, 0.5) / 1e6;
    printf("%-8s cold spawn (request -> HELLO): p50 %7.2f ms  min %7.2f ms  (%d runs)", arch, p50,
           bench_pct(spawn, runs, 0.0) / 1e6, runs);
    beside_floor(p50);
    printf("%-8s guest clock at HELLO (entry -> HELLO): p50 %7.3f ms  min %7.3f ms\n", arch,
           bench_pct(boot, runs, 0.5) / 1e6, bench_pct(boot, runs, 0.0) / 1e6);
    free(boot);
    /* The same cold spawns again with the boot trace on: where the guest's
     * time to HELLO goes, per phase. Separate runs, so that printing the
     * trace (after HELLO) never shows in the numbers above. */
    if (strcmp(arch, "process")) {
        struct mlos_spawn_opts to = o;
        to.on_console = bench_trace_console;
        bench_trace_enable();
        if (bench_cold_spawns(loop, &s, &to, runs, spawn, NULL) == 0) {
            mlos_shard_stop_sync(&s);
            bench_trace_print(arch);
        }
        unsetenv("MLOS_BOOT_TRACE");
        if (bench_cold_spawns(loop, &s, &o, 1, spawn, NULL) < 0)
            return;
    }
    if (strcmp(arch, "process")) {
        uint64_t *ps = calloc((size_t)runs, 8), *pc = calloc((size_t)runs, 8);
        int n = bench_paused_spawns(loop, &o, runs, 1000, ps, pc);
        if (n > 0) {
            double pp50 = bench_pct(ps, n, 0.5) / 1e6;
            printf("%-8s from a paused spare (resume -> HELLO): p50 %7.2f ms  min %7.2f ms  (%d runs)", arch, pp50,
                   bench_pct(ps, n, 0.0) / 1e6, n);
            beside_floor(pp50);
            printf("%-8s   first call on it (request -> reply):  p50 %7.2f ms  min %7.2f ms\n", arch,
                   bench_pct(pc, n, 0.5) / 1e6, bench_pct(pc, n, 0.0) / 1e6);
        }
        free(ps);
        free(pc);
    }

    report_rtt(arch, "sleeping", &s);

    /* put bandwidth vs memcpy, 64 MiB, best of 5 */
    size_t n = 64u << 20;
    char *src = malloc(n), *dst = malloc(n);
    memset(src, 1, n);
    memset(dst, 2, n);
    mlos_put(&s, 0, src, n); /* fault the window in */
    uint64_t best_put = UINT64_MAX, best_cpy = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = uv_hrtime();
        mlos_put(&s, 0, src, n);
        uint64_t t1 = uv_hrtime();
        memcpy(dst, src, n);
        uint64_t t2 = uv_hrtime();
        if (t1 - t0 < best_put)
            best_put = t1 - t0;
        if (t2 - t1 < best_cpy)
            best_cpy = t2 - t1;
    }
    printf("%-8s put 64 MiB: %6.2f GB/s   memcpy: %6.2f GB/s   (put = %.0f%% of memcpy)\n", arch,
           n / (double)best_put, n / (double)best_cpy, 100.0 * best_cpy / best_put);
    free(src);
    free(dst);
    mlos_shard_stop_sync(&s);

    /* polling mode: both sides watch the rings for 200 us after traffic */
    struct mlos_spawn_opts po = o;
    po.spin_us = 200;
    if (mlos_spawn_sync(loop, &s, &po) == 0)
        report_rtt(arch, "polling, spin_us=200", &s);
    mlos_shard_stop_sync(&s);
    free(spawn);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 10;
    char kernel[1024];
    loop = uv_default_loop();

    if (mlos_image_find("empty-kernel-x86_64.elf", kernel, sizeof(kernel)) == 0) {
        uint64_t *t = calloc((size_t)runs, 8);
        for (int r = 0; r < runs; r++)
            t[r] = bench_qemu_boot_exit(loop, "x86_64", kernel, 96u << 20);
        floor_ms = bench_pct(t, runs, 0.5) / 1e6;
        printf("floor: bare QEMU start+boot+exit, empty kernel:  p50 %7.2f ms  min %7.2f ms  (%d runs)\n", floor_ms,
               bench_pct(t, runs, 0.0) / 1e6, runs);
        free(t);
    } else {
        printf("baseline: empty-kernel-x86_64.elf not found on MLOS_IMAGE_PATH\n");
    }
    const char *only = argc > 2 ? argv[2] : NULL;
    if (!only || !strcmp(only, "x86_64"))
        bench_arch("x86_64", runs);
    if (!only || !strcmp(only, "process"))
        bench_arch("process", runs);
    return 0;
}
