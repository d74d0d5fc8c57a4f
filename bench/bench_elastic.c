/* bench_elastic -- elastic shard memory: what a resize costs and what it
 * gives back, beside baselines measured in the same run.
 *
 *   bench_elastic [ARCH...] [-r RUNS] [-m MiB]     ARCH: x86_64 (default), ppc, process
 *
 * Per arch, RUNS rounds of: grow 64 MiB -> 64+M MiB, fill M MiB in a task
 * (mem.hold), free it (mem.drop), shrink back to 64 MiB. Printed: the grow
 * latency beside an 8-byte echo call on the same shard (the message round
 * trip any resize pays), the shrink latency and the part spent punching
 * beside punching the same amount out of a populated memfd in this
 * process (the host's own cost, no shard), and the shard process's RSS
 * before the shrink and after it.
 *
 *   bench_elastic cores [-r RUNS]
 *
 * parallel-for on a 2-core x86_64 shard (par.mix over 64 Ki values): the
 * median run time with both cores beside the same shard parked to one
 * core (the baseline), and the same computation on one host thread.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mlos.h"
#include "mlos_endian.h"
#include "percentile.h"

#define MiB ((size_t)1 << 20)

static size_t rss_bytes(int pid)
{
    char path[64], line[256];
    size_t kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* Host baseline: fill `bytes` of a memfd through a mapping, punch them
 * out; returns the punch time in ns. */
static uint64_t host_punch_ns(size_t bytes)
{
    int fd = memfd_create("bench-elastic", MFD_CLOEXEC);
    uint64_t t = 0;
    if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0)
        goto out;
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        goto out;
    for (size_t i = 0; i < bytes; i += 4096)
        p[i] = 1;
    uint64_t t0 = uv_hrtime();
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes) == 0)
        t = uv_hrtime() - t0;
    munmap(p, bytes);
out:
    if (fd >= 0)
        close(fd);
    return t;
}

static double median_ms(uint64_t *v, int n) { return bench_pct(v, n, 0.5) / 1e6; }

static int bench_arch(uv_loop_t *loop, const char *arch, int runs, size_t fill)
{
    struct mlos_spawn_opts o = {.arch = arch, .mem_bytes = 64 * MiB, .mem_max_bytes = 64 * MiB + fill + 8 * MiB,
                                .bulk_bytes = 1 * MiB};
    mlos_shard_t s;
    mlos_resize_t r;
    uint64_t grow[64], shrink[64], punch[64], host[64], echo[64];
    size_t rss_full = 0, rss_after = 0;
    uint64_t released = 0;
    uint8_t a[20];
    char err[256];

    if (runs > 64)
        runs = 64;
    if (mlos_spawn_sync(loop, &s, &o) < 0) {
        fprintf(stderr, "%s: spawn failed\n%s", arch, mlos_shard_console_tail(&s));
        mlos_shard_stop_sync(&s);
        return -1;
    }
    for (int i = 0; i < 20; i++) /* warm up */
        mlos_call_sync(&s, "echo", "12345678", 8, NULL, NULL, NULL, 0);
    for (int k = 0; k < runs; k++) {
        uint64_t t0 = uv_hrtime();
        mlos_call_sync(&s, "echo", "12345678", 8, NULL, NULL, NULL, 0);
        echo[k] = uv_hrtime() - t0;
        if (mlos_shard_resize_sync(&s, &r, 64 * MiB + fill + 8 * MiB) != 0) {
            fprintf(stderr, "%s: grow: %s\n", arch, r.error);
            break;
        }
        grow[k] = r.rtt_ns;
        mlos_put_le32(a, 0);
        mlos_put_le64(a + 4, fill);
        mlos_put_le64(a + 12, (uint64_t)k);
        if (mlos_call_sync(&s, "mem.hold", a, sizeof(a), NULL, NULL, err, sizeof(err)) < 0 ||
            mlos_call_sync(&s, "mem.drop", a, 4, NULL, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: mem.hold: %s\n", arch, err);
            break;
        }
        rss_full = rss_bytes(s.pid);
        if (mlos_shard_resize_sync(&s, &r, 64 * MiB) != 0) {
            fprintf(stderr, "%s: shrink: %s\n", arch, r.error);
            break;
        }
        rss_after = rss_bytes(s.pid);
        shrink[k] = r.rtt_ns;
        punch[k] = r.punch_ns;
        released = r.released_bytes;
        host[k] = host_punch_ns((size_t)released);
        if (k == runs - 1) {
            printf("%-8s grow 64 -> %zu MiB: %8.3f ms   (8-byte echo call on the same shard: %.3f ms)\n", arch,
                   (64 * MiB + fill + 8 * MiB) / MiB, median_ms(grow, runs), median_ms(echo, runs));
            printf("%-8s shrink to 64 MiB:    %8.3f ms, of which punching %.3f ms   (host: punch %llu MiB of a "
                   "filled memfd: %.3f ms)\n",
                   arch, median_ms(shrink, runs), median_ms(punch, runs), (unsigned long long)(released / MiB),
                   median_ms(host, runs));
            printf("%-8s RSS of the shard process: %zu MiB with %zu MiB filled and freed, %zu MiB after the shrink "
                   "(%llu MiB given back)\n",
                   arch, rss_full / MiB, fill / MiB, rss_after / MiB, (unsigned long long)(released / MiB));
        }
    }
    mlos_shard_stop_sync(&s);
    return 0;
}

static uint64_t mix1(uint64_t x, uint32_t rounds)
{
    for (uint32_t r = 0; r < rounds; r++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        x += r;
    }
    return x;
}

#define NV 65536
#define ROUNDS 64

static int bench_cores(uv_loop_t *loop, int runs)
{
    struct mlos_spawn_opts o = {.arch = "x86_64", .cores = 2, .bulk_bytes = 1 * MiB};
    mlos_shard_t s;
    mlos_cores_t c;
    uint64_t t2[64], t1[64], th[64], want = 0;
    uint8_t *buf = malloc(NV * 8), a[20];

    if (runs > 64)
        runs = 64;
    for (size_t i = 0; i < NV; i++)
        mlos_put_le64(buf + 8 * i, i * 0x9E3779B97F4A7C15ull + 7);
    if (mlos_spawn_sync(loop, &s, &o) < 0) {
        fprintf(stderr, "cores: spawn failed\n%s", mlos_shard_console_tail(&s));
        mlos_shard_stop_sync(&s);
        free(buf);
        return -1;
    }
    mlos_put(&s, 0, buf, NV * 8);
    mlos_put_le64(a, 0);
    mlos_put_le64(a + 8, NV * 8);
    mlos_put_le32(a + 16, ROUNDS);
    for (int k = 0; k < runs; k++) {
        uint64_t t = uv_hrtime(), sum = 0;
        for (size_t i = 0; i < NV; i++)
            sum += mix1(mlos_get_le64(buf + 8 * i), ROUNDS);
        th[k] = uv_hrtime() - t;
        want = sum;
    }
    int ok = 1;
    for (int pass = 0; pass < 2 && ok; pass++) {
        unsigned n = pass ? 1 : 2;
        uint64_t *out = pass ? t1 : t2;
        if (mlos_shard_cores_sync(&s, &c, n) != 0) {
            fprintf(stderr, "cores: %s\n", c.error);
            ok = 0;
            break;
        }
        for (int k = 0; k < runs && ok; k++) {
            void *res = NULL;
            size_t len = 0;
            uint64_t t = uv_hrtime();
            int rc = mlos_call_sync(&s, "par.mix", a, sizeof(a), &res, &len, NULL, 0);
            out[k] = uv_hrtime() - t;
            if (rc != 0 || len != 12 || mlos_get_le64(res) != want) {
                fprintf(stderr, "cores: par.mix failed or gave a wrong sum\n");
                ok = 0;
            } else if (mlos_get_le32((uint8_t *)res + 8) != n) {
                fprintf(stderr, "cores: par.mix used %u cores, not %u\n", mlos_get_le32((uint8_t *)res + 8), n);
            }
            free(res);
        }
    }
    if (ok) {
        double m2 = median_ms(t2, runs), m1 = median_ms(t1, runs);
        printf("parallel-for (par.mix, %d values x %d rounds), median of %d calls:\n", NV, ROUNDS, runs);
        printf("  x86_64 shard, 2 cores: %8.2f ms   same shard parked to 1 core: %8.2f ms   speedup %.2fx\n", m2,
               m1, m2 > 0 ? m1 / m2 : 0);
        printf("  host, one thread, same computation: %.2f ms (TCG vs native)\n", median_ms(th, runs));
    }
    mlos_shard_stop_sync(&s);
    free(buf);
    return ok ? 0 : -1;
}

/* What else runs here: speedups need free host cores (under MTTCG each
 * vCPU is a host thread). */
static void print_load(void)
{
    char buf[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fgets(buf, sizeof(buf), f))
        printf("host: %ld cores, load average %s", sysconf(_SC_NPROCESSORS_ONLN), buf);
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    const char *arches[8];
    int narch = 0, runs = 5;
    size_t fill = 256 * MiB;
    uv_loop_t *loop = uv_default_loop();

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc)
            fill = (size_t)atoi(argv[++i]) * MiB;
        else if (narch < 8)
            arches[narch++] = argv[i];
    }
    if (!narch)
        arches[narch++] = "x86_64";
    if (runs < 1)
        runs = 1;
    print_load();
    if (narch == 1 && !strcmp(arches[0], "cores"))
        return bench_cores(loop, runs) < 0;
    printf("elastic memory: %d rounds of grow, fill %zu MiB, free, shrink; medians\n", runs, fill / MiB);
    for (int i = 0; i < narch; i++)
        bench_arch(loop, arches[i], runs, fill);
    return 0;
}
