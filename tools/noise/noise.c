/* noise.c -- mlos-noise: FTQ OS-noise runs on the host and on shards,
 * analysis, plots and reports (see noise.h). */
#define _GNU_SOURCE
#include "noise.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "ftq.h"
#include "mlos.h"
#include "plot.h"
#include "mlos_endian.h"

#define MAX_RUNS 8

/* The one prefix of every message: "mlos noise" under the mlos command,
 * "mlos-noise" on its own. */
static const char *P = "mlos-noise";

struct noise_opts {
    double quantum_us;
    uint32_t quanta;
    uint32_t work;
    const char *out;
    int host, kvm, quiet;
    const char *shards[MAX_RUNS];
    int nshards;
};

struct noise_run {
    char name[16];     /* output file prefix: host, process, x86_64, ppc */
    char platform[96]; /* what it ran on */
    uint8_t *raw;
    size_t raw_len;
    struct noise_series s;
    struct noise_stats st;
    double wall_s;     /* host time for the run (incl. call round trip) */
    double steal;      /* fraction of host CPU time stolen by the hypervisor during the run, -1 unknown */
    double busy;       /* fraction of all host CPUs busy during the run (this run included), -1 unknown */
    double load1;      /* host 1-minute load average after the run */
    int ok;
    char err[256];
};

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [options] [SHARD...]\n"
            "Measure OS noise with the fixed-time-quantum benchmark (FTQ) natively in this\n"
            "process (the Linux baseline, \"host\") and on each SHARD, one at a time.\n"
            "  SHARD             host | process | x86_64 | ppc (host: the baseline alone)\n"
            "  --quantum-us US   quantum length in microseconds (default 100)\n"
            "  --quanta N        number of quanta (default 20000)\n"
            "  --work N          work iterations per unit of work (default %u)\n"
            "  --out DIR         output directory (default noise-out)\n"
            "  --no-host         skip the host-native baseline\n"
            "  --kvm             boot bare-metal x86_64 shards with KVM instead of TCG\n"
            "  --progress        progress on stderr even when it is not a terminal\n"
            "  --quiet           no progress on stderr (default when it is not a terminal)\n"
            "Writes DIR/<name>.ftq.txt, <name>.series.png, <name>.spectrum.png,\n"
            "summary.txt, summary.json and report.html.\n",
            prog, FTQ_DEFAULT_UNIT_ITERS);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > UINT32_MAX || *s == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct noise_opts *o)
{
    const char *prog = argc > 0 ? argv[0] : "mlos-noise";
    P = !strcmp(prog, "noise") ? "mlos noise" : "mlos-noise";
    prog = P; /* the usage names the command as it was typed */
    memset(o, 0, sizeof(*o));
    o->quantum_us = 100;
    o->quanta = 20000;
    o->work = FTQ_DEFAULT_UNIT_ITERS;
    o->out = "noise-out";
    o->host = 1;
    int progress = -1, named_host = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int need = !strcmp(a, "--quantum-us") || !strcmp(a, "--quanta") || !strcmp(a, "--work") || !strcmp(a, "--out");
        if (need) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", P, a);
                return 2;
            }
            val = argv[++i];
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, prog);
            return 1;
        } else if (!strcmp(a, "--quantum-us")) {
            char *end;
            o->quantum_us = strtod(val, &end);
            if (end == val || *end || !(o->quantum_us >= 1 && o->quantum_us <= 1e7)) {
                fprintf(stderr, "%s: --quantum-us wants 1 .. 10000000\n", P);
                return 2;
            }
        } else if (!strcmp(a, "--quanta")) {
            if (parse_u32(val, &o->quanta) || o->quanta < 16 || o->quanta > (1u << 24)) {
                fprintf(stderr, "%s: --quanta wants 16 .. 16777216\n", P);
                return 2;
            }
        } else if (!strcmp(a, "--work")) {
            if (parse_u32(val, &o->work) || o->work == 0) {
                fprintf(stderr, "%s: --work wants a positive integer\n", P);
                return 2;
            }
        } else if (!strcmp(a, "--out")) {
            o->out = val;
        } else if (!strcmp(a, "--no-host")) {
            o->host = 0;
        } else if (!strcmp(a, "--kvm")) {
            o->kvm = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o->quiet = 1;
            progress = 0;
        } else if (!strcmp(a, "--progress")) {
            o->quiet = 0;
            progress = 1;
        } else if (!strcmp(a, "host")) {
            named_host = 1;
        } else if (!strcmp(a, "process") || !strcmp(a, "x86_64") || !strcmp(a, "ppc")) {
            for (int k = 0; k < o->nshards; k++)
                if (!strcmp(o->shards[k], a)) {
                    fprintf(stderr, "%s: shard %s named twice\n", P, a);
                    return 2;
                }
            if (o->nshards == MAX_RUNS - 1)
                return 2;
            o->shards[o->nshards++] = a;
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", P, a);
            usage(stderr, prog);
            return 2;
        }
    }
    if (progress < 0)
        o->quiet = !isatty(2); /* progress lines are for people watching */
    if (named_host && o->nshards == 0)
        o->host = 1; /* `noise host`: the baseline alone */
    if (named_host && !o->host) {
        fprintf(stderr, "%s: 'host' and --no-host contradict each other\n", P);
        return 2;
    }
    if (!o->host && o->nshards == 0) {
        fprintf(stderr, "%s: nothing to measure (--no-host and no shard)\n", P);
        return 2;
    }
    return 0;
}

/* ---- runs ---- */

static uint64_t host_clock_ns(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Host CPU accounting around a run (/proc/stat "cpu" line, /proc/loadavg):
 * the machine's own noise sources besides the kernel's (other load, a
 * hypervisor stealing time) are worth recording beside the numbers. */
struct cpu_sample {
    unsigned long long total, idle, steal;
    int ok;
};

static struct cpu_sample cpu_sample(void)
{
    struct cpu_sample c = {0};
    unsigned long long v[10] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                       &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
        fclose(f);
        if (n >= 8) {
            for (int i = 0; i < 8; i++) /* guest time (8, 9) is already in user */
                c.total += v[i];
            c.idle = v[3] + v[4];
            c.steal = v[7];
            c.ok = 1;
        }
    }
    return c;
}

static void cpu_account(struct noise_run *r, struct cpu_sample a)
{
    struct cpu_sample b = cpu_sample();
    double load = -1;
    r->steal = r->busy = -1;
    if (a.ok && b.ok && b.total > a.total) {
        double d = (double)(b.total - a.total);
        r->steal = (double)(b.steal - a.steal) / d;
        r->busy = 1.0 - (double)(b.idle - a.idle) / d;
    }
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1)
            load = -1;
        fclose(f);
    }
    r->load1 = load;
}

static double wall_now(void) { return (double)host_clock_ns(NULL) * 1e-9; }

static uint64_t quantum_ns(const struct noise_opts *o) { return (uint64_t)(o->quantum_us * 1000.0 + 0.5); }

static void finish_run(struct noise_run *r)
{
    if (noise_parse(r->raw, r->raw_len, &r->s, r->err, sizeof(r->err)) != 0)
        return;
    if (noise_analyze(r->s.counts, r->s.n, (double)r->s.q_ticks / (double)r->s.hz, &r->st) != 0) {
        snprintf(r->err, sizeof(r->err), "analysis failed");
        return;
    }
    r->ok = 1;
}

static void run_host(const struct noise_opts *o, struct noise_run *r)
{
    struct utsname u;
    struct ftq_params p = {.quantum_ns = quantum_ns(o), .nquanta = o->quanta, .unit_iters = o->work};
    struct ftq_clock clk = {.now = host_clock_ns, .hz = 1000000000u, .name = "ns"};

    snprintf(r->name, sizeof(r->name), "host");
    if (uname(&u) == 0)
        snprintf(r->platform, sizeof(r->platform), "master process, Linux %.40s %.16s, clock_gettime", u.release,
                 u.machine);
    else
        snprintf(r->platform, sizeof(r->platform), "master process, Linux, clock_gettime");
    r->raw_len = ftq_bytes(o->quanta);
    if (!(r->raw = malloc(r->raw_len))) {
        snprintf(r->err, sizeof(r->err), "out of memory");
        return;
    }
    struct cpu_sample cs = cpu_sample();
    double t = wall_now();
    int rc = ftq_run(&p, &clk, r->raw, r->raw_len);
    r->wall_s = wall_now() - t;
    cpu_account(r, cs);
    if (rc < 0) {
        snprintf(r->err, sizeof(r->err), "ftq_run: %s", mlos_strerror(rc));
        return;
    }
    finish_run(r);
}

static void run_shard(const struct noise_opts *o, const char *arch, struct noise_run *r)
{
    uv_loop_t *loop = uv_default_loop();
    mlos_shard_t sh = {0};
    struct mlos_spawn_opts so = {0};
    uint8_t arg[32];
    void *res = NULL;
    size_t res_len = 0, need = ftq_bytes(o->quanta);
    char err[256] = "";

    snprintf(r->name, sizeof(r->name), "%s", arch);
    if (!strcmp(arch, "process"))
        snprintf(r->platform, sizeof(r->platform), "process shard (Linux HAL on libuv), clock_gettime");
    else if (!strcmp(arch, "x86_64"))
        snprintf(r->platform, sizeof(r->platform), "bare-metal x86_64 shard, QEMU microvm %s, TSC",
                 o->kvm ? "KVM" : "TCG");
    else
        snprintf(r->platform, sizeof(r->platform), "bare-metal PowerPC 440 shard, QEMU bamboo TCG, timebase");

    so.arch = arch;
    so.kvm = o->kvm;
    if (need > (16u << 20) - 4096)
        so.bulk_bytes = (need + (1u << 20) + 4095) & ~(size_t)((1u << 20) - 1);
    int rc = mlos_spawn_sync(loop, &sh, &so);
    if (rc < 0) {
        char why[200] = "";
        if (o->kvm && !strcmp(arch, "x86_64") && mlos_kvm_usable(why, sizeof(why)) < 0)
            snprintf(r->err, sizeof(r->err), "spawn %s: --kvm: %s", arch, why);
        else
            snprintf(r->err, sizeof(r->err), "spawn %s: %s %.160s", arch, mlos_strerror(rc),
                     mlos_shard_console_tail(&sh));
        mlos_shard_stop_sync(&sh);
        return;
    }
    mlos_put_le64(arg, quantum_ns(o));
    mlos_put_le64(arg + 8, o->quanta);
    mlos_put_le64(arg + 16, 0);
    mlos_put_le64(arg + 24, o->work);
    if (!o->quiet)
        fprintf(stderr, "%s: %s: spawned in %.1f ms; running %u quanta of %g us\n", P, arch,
                sh.spawn_ns / 1e6, o->quanta, o->quantum_us);
    struct cpu_sample cs = cpu_sample();
    double t = wall_now();
    rc = mlos_call_sync(&sh, "ftq.run", arg, sizeof(arg), &res, &res_len, err, sizeof(err));
    r->wall_s = wall_now() - t;
    cpu_account(r, cs);
    if (rc < 0) {
        snprintf(r->err, sizeof(r->err), "ftq.run on %s: %s: %.180s", arch, mlos_strerror(rc), err);
    } else if (!(r->raw = malloc(need))) {
        snprintf(r->err, sizeof(r->err), "out of memory");
    } else if ((rc = mlos_get(&sh, 0, r->raw, need)) < 0) {
        snprintf(r->err, sizeof(r->err), "mlos_get: %s", mlos_strerror(rc));
    } else {
        r->raw_len = need;
        finish_run(r);
    }
    free(res);
    mlos_shard_stop_sync(&sh);
}

/* ---- outputs ---- */

static FILE *open_out(const struct noise_opts *o, const char *file, char *path, size_t cap)
{
    snprintf(path, cap, "%.4000s/%.60s", o->out, file);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "%s: %s: %s\n", P, path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "%s: writing %s failed\n", P, path);
        return -1;
    }
    return 0;
}

static int write_ftq_txt(const struct noise_opts *o, const struct noise_run *r)
{
    char file[64], path[4096];
    snprintf(file, sizeof(file), "%.15s.ftq.txt", r->name);
    FILE *f = open_out(o, file, path, sizeof(path));
    if (!f)
        return -1;
    const struct noise_series *s = &r->s;
    fprintf(f, "# mlos-noise FTQ samples: %s (%s)\n", r->name, r->platform);
    fprintf(f, "# clock %s at %" PRIu64 " Hz; quantum %" PRIu64 " ticks (%" PRIu64 " ns requested); %u quanta\n",
            s->clock, s->hz, s->q_ticks, s->q_ns, s->n);
    fprintf(f, "# work: %s; t0 = %" PRIu64 " ticks; total %" PRIu64 " units\n", s->desc, s->t0, s->total);
    fprintf(f, "# columns: quantum start (ns since t0), units of work completed in the quantum\n");
    for (uint32_t i = 0; i < s->n; i++) {
        uint64_t t = (uint64_t)((unsigned __int128)i * s->q_ticks * 1000000000u / s->hz);
        fprintf(f, "%" PRIu64 " %u\n", t, s->counts[i]);
    }
    return close_out(f, path);
}

static void fmt_peaks(char *buf, size_t cap, const struct noise_stats *st)
{
    size_t pos = 0;
    buf[0] = 0;
    for (int p = 0; p < st->npeaks && pos < cap; p++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%.1f Hz (%.3g)", p ? ", " : "", st->peaks[p].hz,
                                st->peaks[p].amp);
    if (!st->npeaks)
        snprintf(buf, cap, "none");
    else if (st->fundamental_hz > 0 && pos < cap)
        snprintf(buf + pos, cap - pos, "; all harmonics of %.1f Hz", st->fundamental_hz);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void html_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

static int write_summaries(const struct noise_opts *o, struct noise_run *runs, int nruns, const char *cmd)
{
    char path[4096], peaks[512];
    int rc = 0;
    FILE *f = open_out(o, "summary.txt", path, sizeof(path));
    if (!f)
        return -1;
    fprintf(f, "mlos-noise: fixed-time-quantum OS-noise measurement\ncommand: %s\n", cmd);
    fprintf(f, "quantum %.3f us, %u quanta, work unit %u iterations\n\n", o->quantum_us, o->quanta, o->work);
    fprintf(f, "%-8s %8s %8s %10s %8s %9s %12s %7s %7s %6s  %s\n", "shard", "max", "median", "mean", "min", "lost",
            "max_detour",
            "<99%", "<90%", "zeros", "spectrum peaks (amplitude in counts)");
    for (int i = 0; i < nruns; i++) {
        struct noise_run *r = &runs[i];
        if (!r->ok) {
            fprintf(f, "%-8s FAILED: %s\n", r->name, r->err);
            continue;
        }
        fmt_peaks(peaks, sizeof(peaks), &r->st);
        fprintf(f, "%-8s %8u %8u %10.1f %8u %8.4f%% %9.1f us %7u %7u %6u  %s\n", r->name, r->st.max, r->st.median,
                r->st.mean, r->st.min, 100 * r->st.lost, r->st.max_detour_us, r->st.below99, r->st.below90, r->st.zeros, peaks);
    }
    fprintf(f, "\n");
    for (int i = 0; i < nruns; i++)
        if (runs[i].ok)
            fprintf(f,
                    "%-8s %s; clock %s %" PRIu64 " Hz, quantum %" PRIu64 " ticks, %s; run %.3f s wall;\n"
                    "         host during the run: %.0f%% of CPUs busy, %.2f%% stolen, load %.2f\n",
                    runs[i].name, runs[i].platform, runs[i].s.clock, runs[i].s.hz, runs[i].s.q_ticks, runs[i].s.desc,
                    runs[i].wall_s, 100 * runs[i].busy, 100 * runs[i].steal, runs[i].load1);
    fprintf(f, "\nlost = 1 - mean/max (fraction of work lost to noise); max_detour = time lost in the worst\n"
               "quantum, or run of zero quanta plus the partial quanta around it; peaks: top %d frequencies of\n"
               "the DFT of the count series (mean removed, Hann window, zero-padded), resolution per run in\n"
               "summary.json. Bare-metal shards run under QEMU TCG: their clock is the host's (TSC or a\n"
               "virtual timebase derived from it), so QEMU's own work and host scheduling show up as noise.\n",
            NOISE_PEAKS);
    rc |= close_out(f, path);

    if (!(f = open_out(o, "summary.json", path, sizeof(path))))
        return -1;
    fprintf(f, "{\n  \"command\": ");
    json_str(f, cmd);
    fprintf(f, ",\n  \"quantum_us\": %.3f,\n  \"quanta\": %u,\n  \"work_iters\": %u,\n  \"runs\": [\n", o->quantum_us,
            o->quanta, o->work);
    for (int i = 0; i < nruns; i++) {
        struct noise_run *r = &runs[i];
        fprintf(f, "    {\"shard\": ");
        json_str(f, r->name);
        fprintf(f, ", \"ok\": %s", r->ok ? "true" : "false");
        if (!r->ok) {
            fprintf(f, ", \"error\": ");
            json_str(f, r->err);
        } else {
            fprintf(f, ", \"platform\": ");
            json_str(f, r->platform);
            fprintf(f, ", \"clock\": ");
            json_str(f, r->s.clock);
            fprintf(f,
                    ", \"clock_hz\": %" PRIu64 ", \"quantum_ticks\": %" PRIu64 ", \"quanta\": %u, \"max\": %u, "
                    "\"median\": %u, \"mean\": %.3f, \"min\": %u, \"lost_fraction\": %.6f, \"max_detour_us\": %.3f, "
                    "\"max_detour_at_quantum\": %u, \"below_99\": %u, \"below_90\": %u, \"zeros\": %u, "
                    "\"spectrum_resolution_hz\": %.4f, \"fundamental_hz\": %.2f, \"wall_s\": %.3f, \"host_busy\": %.3f, "
                    "\"host_steal\": %.4f, \"host_load1\": %.2f, \"peaks\": [",
                    r->s.hz, r->s.q_ticks, r->s.n, r->st.max, r->st.median, r->st.mean, r->st.min, r->st.lost, r->st.max_detour_us,
                    r->st.max_detour_at, r->st.below99, r->st.below90, r->st.zeros, r->st.bin_hz, r->st.fundamental_hz, r->wall_s, r->busy, r->steal, r->load1);
            for (int p = 0; p < r->st.npeaks; p++)
                fprintf(f, "%s{\"hz\": %.2f, \"amplitude\": %.4g}", p ? ", " : "", r->st.peaks[p].hz,
                        r->st.peaks[p].amp);
            fprintf(f, "]");
        }
        fprintf(f, "}%s\n", i + 1 < nruns ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    rc |= close_out(f, path);

    if (!(f = open_out(o, "report.html", path, sizeof(path))))
        return -1;
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mlos OS noise (FTQ)</title>\n"
               "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
               "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}td.l,th.l{text-align:left}"
               ".runs{display:flex;flex-wrap:wrap;gap:12px}.run{flex:1 1 420px;max-width:820px}"
               "img{width:100%%;border:1px solid #ddd}</style></head><body>\n");
    fprintf(f, "<h1>OS noise: fixed time quantum</h1>\n<p>Command: <code>");
    html_str(f, cmd);
    fprintf(f, "</code><br>Quantum %.3f µs, %u quanta, work unit %u iterations. Quantum boundaries are absolute "
               "(t0 + i·Q on the shard clock); a detour that swallows whole quanta leaves zeros.</p>\n",
            o->quantum_us, o->quanta, o->work);
    fprintf(f, "<table><tr><th class=l>shard</th><th class=l>platform</th><th>max</th><th>median</th><th>mean</th>"
               "<th>lost</th><th>max detour (µs)</th><th>&lt;99%%</th><th>&lt;90%%</th><th>zeros</th>"
               "<th class=l>spectrum peaks</th></tr>\n");
    for (int i = 0; i < nruns; i++) {
        struct noise_run *r = &runs[i];
        fprintf(f, "<tr><td class=l>%s</td>", r->name);
        if (!r->ok) {
            fprintf(f, "<td class=l colspan=10>failed: ");
            html_str(f, r->err);
            fprintf(f, "</td></tr>\n");
            continue;
        }
        fmt_peaks(peaks, sizeof(peaks), &r->st);
        fprintf(f, "<td class=l>");
        html_str(f, r->platform);
        fprintf(f, "</td><td>%u</td><td>%u</td><td>%.1f</td><td>%.4f%%</td><td>%.1f</td><td>%u</td><td>%u</td><td>%u</td>"
                   "<td class=l>%s</td></tr>\n",
                r->st.max, r->st.median, r->st.mean, 100 * r->st.lost, r->st.max_detour_us, r->st.below99, r->st.below90,
                r->st.zeros, peaks);
    }
    fprintf(f, "</table>\n<p>Bare-metal shards run under QEMU TCG, whose guest clock is the host's (TSC, or a "
               "virtual timebase derived from the host clock): QEMU's own work (translation, its I/O thread) "
               "and host scheduling appear as noise of the shard.</p>\n<div class=runs>\n");
    for (int i = 0; i < nruns; i++) {
        struct noise_run *r = &runs[i];
        if (!r->ok)
            continue;
        fprintf(f, "<div class=run><h2>%s</h2><p>", r->name);
        html_str(f, r->platform);
        fprintf(f, "; %s; host during the run: %.0f%% of CPUs busy, %.2f%% stolen, load %.2f</p>\n<p>Units of work per quantum against time (band: min–max per pixel; red: max; "
                   "orange: 90%%)</p><img src=\"%s.series.png\" alt=\"%s counts\">\n"
                   "<p>Amplitude spectrum (counts; peaks in red, frequency in the axis unit)</p>"
                   "<img src=\"%s.spectrum.png\" alt=\"%s spectrum\">\n<p><a href=\"%s.ftq.txt\">%s.ftq.txt</a></p>"
                   "</div>\n",
                r->s.desc, 100 * r->busy, 100 * r->steal, r->load1, r->name, r->name, r->name, r->name, r->name, r->name);
    }
    fprintf(f, "</div>\n</body></html>\n");
    rc |= close_out(f, path);
    return rc;
}

static int write_run(const struct noise_opts *o, struct noise_run *r)
{
    char path[4096];
    int rc = write_ftq_txt(o, r);
    snprintf(path, sizeof(path), "%.4000s/%.15s.series.png", o->out, r->name);
    if (noise_plot_series(path, r->s.counts, r->s.n, r->st.q_s, &r->st) != 0) {
        fprintf(stderr, "%s: %s: %s\n", P, path, strerror(errno));
        rc = -1;
    }
    snprintf(path, sizeof(path), "%.4000s/%.15s.spectrum.png", o->out, r->name);
    if (noise_plot_spectrum(path, r->s.counts, r->s.n, r->st.q_s, &r->st) != 0) {
        fprintf(stderr, "%s: %s: %s\n", P, path, strerror(errno));
        rc = -1;
    }
    return rc;
}

int mlos_noise_main(int argc, char **argv)
{
    struct noise_opts o;
    struct noise_run runs[MAX_RUNS];
    int nruns = 0, failed = 0;
    char cmd[1024];
    size_t pos = 0;

    int prc = parse_args(argc, argv, &o);
    if (prc)
        return prc == 1 ? 0 : prc;
    cmd[0] = 0;
    for (int i = 0; i < argc && pos < sizeof(cmd); i++)
        pos += (size_t)snprintf(cmd + pos, sizeof(cmd) - pos, "%s%s", i ? " " : "", argv[i]);
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: mkdir %s: %s\n", P, o.out, strerror(errno));
        return 1;
    }
    memset(runs, 0, sizeof(runs));
    if (o.host) {
        if (!o.quiet)
            fprintf(stderr, "%s: host: running %u quanta of %g us\n", P, o.quanta, o.quantum_us);
        run_host(&o, &runs[nruns++]);
    }
    for (int i = 0; i < o.nshards; i++)
        run_shard(&o, o.shards[i], &runs[nruns++]);
    for (int i = 0; i < nruns; i++) {
        if (!runs[i].ok) {
            fprintf(stderr, "%s: %s: %s\n", P, runs[i].name, runs[i].err);
            failed = 1;
        } else if (write_run(&o, &runs[i]) != 0) {
            failed = 1;
        } else if (!o.quiet) {
            fprintf(stderr, "%s: %s: lost %.4f%%, max detour %.1f us, top peak %.1f Hz\n", P, runs[i].name,
                    100 * runs[i].st.lost, runs[i].st.max_detour_us, runs[i].st.npeaks ? runs[i].st.peaks[0].hz : 0.0);
        }
    }
    if (write_summaries(&o, runs, nruns, cmd) != 0)
        failed = 1;
    if (!o.quiet)
        fprintf(stderr, "%s: wrote %s/summary.txt, summary.json, report.html\n", P, o.out);
    for (int i = 0; i < nruns; i++) {
        free(runs[i].raw);
        noise_series_free(&runs[i].s);
    }
    return failed;
}
