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
    printf("elastic memory: %d rounds of grow, fill %zu MiB, free, shrink; medians\n", runs, fill / MiB);
    for (int i = 0; i < narch; i++)
        bench_arch(loop, arches[i], runs, fill);
    return 0;
}
