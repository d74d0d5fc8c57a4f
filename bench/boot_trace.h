/* boot_trace.h -- collect the shards' boot traces (hal.h, mlos_hal_boot_report)
 * during cold spawns and print, per phase, the median and the minimum over
 * the runs. The minimum matters on a shared machine: a phase of a few
 * microseconds that the host preempted reads as milliseconds, and the
 * minimum over enough runs is the phase's own cost.
 *
 * Use: bench_trace_enable() before spawning (sets MLOS_BOOT_TRACE=1), pass
 * bench_trace_console as the spawn's on_console, bench_trace_print(arch)
 * after the runs. */
#ifndef MLOS_BENCH_BOOT_TRACE_H
#define MLOS_BENCH_BOOT_TRACE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlos.h"
#include "percentile.h"

#define BENCH_TRACE_PHASES 24
#define BENCH_TRACE_RUNS 256

static struct {
    char name[BENCH_TRACE_PHASES][32];
    uint64_t ns[BENCH_TRACE_PHASES][BENCH_TRACE_RUNS];
    int nphase, nrun[BENCH_TRACE_PHASES];
} bench_trace;

static void bench_trace_enable(void)
{
    setenv("MLOS_BOOT_TRACE", "1", 1);
    memset(&bench_trace, 0, sizeof(bench_trace));
}

static void bench_trace_add(const char *name, size_t len, double us)
{
    int i;
    if (len >= sizeof(bench_trace.name[0]))
        len = sizeof(bench_trace.name[0]) - 1;
    for (i = 0; i < bench_trace.nphase; i++)
        if (strlen(bench_trace.name[i]) == len && !memcmp(bench_trace.name[i], name, len))
            break;
    if (i == bench_trace.nphase) {
        if (i == BENCH_TRACE_PHASES)
            return;
        memcpy(bench_trace.name[i], name, len);
        bench_trace.name[i][len] = 0;
        bench_trace.nphase++;
    }
    if (bench_trace.nrun[i] < BENCH_TRACE_RUNS)
        bench_trace.ns[i][bench_trace.nrun[i]++] = (uint64_t)(us * 1e3);
}

/* "mlos: boot trace (us): counter at entry 1426.2, long mode+bss +121.5, ..., total 4713.0" */
static void bench_trace_console(mlos_shard_t *s, const char *line, size_t len)
{
    static const char tag[] = "mlos: boot trace (us): ";
    char buf[1024];
    (void)s;
    if (len >= sizeof(buf) || len < sizeof(tag) - 1 || memcmp(line, tag, sizeof(tag) - 1))
        return;
    memcpy(buf, line, len);
    buf[len] = 0;
    for (char *p = buf + sizeof(tag) - 1, *next; p && *p; p = next) {
        next = strstr(p, ", ");
        if (next) {
            *next = 0;
            next += 2;
        }
        char *sp = strrchr(p, ' ');
        if (!sp)
            continue;
        char *v = sp + 1;
        if (*v == '+')
            v++;
        bench_trace_add(p, (size_t)(sp - p), atof(v));
    }
}

static void bench_trace_print(const char *arch)
{
    if (!bench_trace.nphase) {
        printf("%-8s boot trace: none received (image without mlos_hal_boot_report?)\n", arch);
        return;
    }
    printf("%-8s boot trace, shard clock, us (median / min over %d runs):", arch, bench_trace.nrun[0]);
    for (int i = 0; i < bench_trace.nphase; i++) {
        int n = bench_trace.nrun[i];
        double med = bench_pct(bench_trace.ns[i], n, 0.5) / 1e3, min = bench_pct(bench_trace.ns[i], n, 0.0) / 1e3;
        printf("%s %s %.1f / %.1f", i ? "," : "", bench_trace.name[i], med, min);
    }
    printf("\n");
}

#endif
