/* bench_group: shard-group collectives -- allreduce of 8 B and of 1 MiB
 * (f64 sum), barrier, broadcast of 1 MiB -- for groups of process shards,
 * x86_64 and (with -k ppc) PowerPC slaves, sleeping and polling.
 * bench/bench_group.sh runs it beside the same operations under MPICH
 * (bench_group_mpi.c) in one run.
 *
 *   bench_group [-k process,x86_64,ppc] [-n 2,4,8] [-m sleep,poll] [-i ITERS] [-r RING_KIB] [-M]
 *
 * -M: after each all-shard group, the same N with the master itself at
 * rank 0 (mlos_group_call_master; N-1 shards of the kind), its rank
 * timing the same loop on the host clock; rows marked "+master".
 *
 * Each rank times every iteration on its own clock (group.bench, a
 * built-in task); an iteration's time is the slowest rank's, and the line
 * shows the p50, p99 and minimum of those over the iterations (1 MiB
 * operations: a tenth of ITERS); on a shared machine the minimum says
 * what the operation costs when its members get the cores. Same rule as
 * bench_group_mpi. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "mlos.h"
#include "mlos_coll.h"
#include "mlos_endian.h"
#include "mlos_group.h"
#include "mlos_task_api.h"
#include "group_measure.h"
#include "percentile.h"

#define MAXN 8

static uv_loop_t *loop;

/* The master's rank of group.bench (shards/tasks/group_tasks.c): the same
 * loop over the same collectives, buffers from the C heap. */
static int master_bench(struct mlos_task_ctx *ctx, void *data)
{
    struct mlos_comm *c = mlos_comm_self();
    if (!c || ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group.bench takes 16 bytes in a group");
    uint32_t which = mlos_get_le32(ctx->arg), iters = mlos_get_le32(ctx->arg + 4);
    uint64_t bytes = mlos_get_le64(ctx->arg + 8);
    uint64_t *t = calloc(iters, 8);
    uint8_t *in = calloc(1, 2 * bytes + 8), *out = in + bytes;
    if (!t || !in) {
        free(t);
        free(in);
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory");
    }
    int rc = mlos_barrier(c);
    for (uint32_t i = 0; rc == 0 && i < iters; i++) {
        uint64_t t0 = uv_hrtime();
        switch (which) {
        case 0: rc = mlos_barrier(c); break;
        case 1: rc = mlos_bcast(c, in, bytes, 0); break;
        case 3: rc = mlos_allreduce(c, in, out, bytes / 8, MLOS_COLL_F64, MLOS_COLL_SUM); break;
        default: rc = MLOS_EINVAL;
        }
        t[i] = uv_hrtime() - t0;
    }
    free(in);
    if (rc < 0) {
        free(t);
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    }
    for (uint32_t i = 0; i < iters; i++)
        mlos_put_le64((uint8_t *)&t[i], t[i]);
    rc = mlos_task_result(ctx, t, iters * 8u);
    free(t);
    return rc;
}


/* The four operations on group g, one line each. */
static void run_ops(mlos_group_t *g, const char *kname, const char *mode, unsigned iters)
{
    static const struct {
        const char *name;
        uint32_t which;
        uint64_t bytes;
        int big;
    } ops[] = {{"allreduce 8B", 3, 8, 0},
               {"allreduce 1MiB", 3, 1u << 20, 1},
               {"barrier", 0, 0, 0},
               {"bcast 1MiB", 1, 1u << 20, 1}};
    for (int oi = 0; oi < 4; oi++) {
        struct group_times t = {0};
        unsigned it = ops[oi].big ? iters / 10 : iters;
        mlos_group_master_fn fn = mlos_group_master_rank(g) >= 0 ? master_bench : NULL;
        /* A short warm-up first: the first touches of rings and windows fault pages in. */
        int rc = group_measure(loop, g, fn, ops[oi].which, ops[oi].bytes, 10, &t);
        if (rc == 0)
            rc = group_measure(loop, g, fn, ops[oi].which, ops[oi].bytes, it, &t);
        if (rc)
            printf("%-14s %-5s %2u  %-14s failed: %s\n", kname, mode, g->n, ops[oi].name, mlos_strerror(rc));
        else
            printf("%-14s %-5s %2u  %-14s %10.2f %10.2f %10.2f %10.2f\n", kname, mode, g->n, ops[oi].name, t.p50,
                   t.p99, t.min, t.max);
        fflush(stdout);
    }
}

static int in_list(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; (p = strstr(p, item)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *kinds = "process,x86_64", *sizes = "2,4,8", *modes = "sleep,poll";
    unsigned iters = 2000;
    uint32_t ring = 1u << 20; /* collective ring per pair: 256 KiB frames, a 1 MiB operation in 4 hand-offs */
    int with_master = 0;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "-M")) {
            with_master = 1;
            i--;
        } else if (i + 1 >= argc)
            break;
        else if (!strcmp(argv[i], "-k"))
            kinds = argv[i + 1];
        else if (!strcmp(argv[i], "-n"))
            sizes = argv[i + 1];
        else if (!strcmp(argv[i], "-m"))
            modes = argv[i + 1];
        else if (!strcmp(argv[i], "-i"))
            iters = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            ring = (uint32_t)atoi(argv[i + 1]) << 10;
    }
    if (iters < 10 || iters > 4096) {
        fprintf(stderr, "iterations: 10..4096\n");
        return 2;
    }
    loop = uv_default_loop();
    printf("group rings: %u KiB per pair\n", ring >> 10);
    printf("%-14s %-5s %2s  %-14s %10s %10s %10s %10s\n", "kind", "mode", "N", "operation", "p50 us", "p99 us", "min us",
           "max us");
    static const char *kind_names[] = {"process", "x86_64", "ppc"};
    static const unsigned ns[] = {2, 4, 8};
    for (int ki = 0; ki < 3; ki++) {
        if (!in_list(kinds, kind_names[ki]))
            continue;
        for (int mi = 0; mi < 2; mi++) {
            if (!in_list(modes, mi ? "poll" : "sleep"))
                continue;
            for (int ni = 0; ni < 3; ni++) {
                char nb[8];
                snprintf(nb, sizeof(nb), "%u", ns[ni]);
                if (!in_list(sizes, nb))
                    continue;
                unsigned n = ns[ni];
                mlos_group_mem_t gm;
                mlos_shard_t s[MAXN], *m[MAXN];
                mlos_group_t g;
                if (mlos_group_mem_init(&gm, mlos_group_mem_needed(n, ring) + (1u << 20)) < 0)
                    return 1;
                /* Polling is the members' (group spin_us); the master only relays
                 * wake-ups, which polling members do not need, so it sleeps. */
                struct mlos_spawn_opts so = {.arch = kind_names[ki], .group_mem = &gm, .mem_bytes = 16u << 20,
                                             .bulk_bytes = 4u << 20};
                unsigned up = 0;
                for (; up < n; up++) {
                    m[up] = &s[up];
                    if (mlos_spawn_sync(loop, &s[up], &so) < 0) {
                        fprintf(stderr, "spawn %s failed\n", kind_names[ki]);
                        break;
                    }
                }
                mlos_shard_t *mm[MAXN] = {NULL}; /* the master at rank 0, then n-1 of the shards */
                for (unsigned r = 1; r < n; r++)
                    mm[r] = m[r - 1];
                for (int withm = 0; up == n && withm <= with_master; withm++) {
                    struct mlos_group_opts go = {.mem = &gm, .members = withm ? mm : m, .n = n, .ring_bytes = ring,
                                                 .spin_us = mi ? 1000 : 0};
                    char kname[24];
                    snprintf(kname, sizeof(kname), "%s%s", kind_names[ki], withm ? "+master" : "");
                    if (mlos_group_create_sync(loop, &g, &go) == 0) {
                        run_ops(&g, kname, mi ? "poll" : "sleep", iters);
                        mlos_group_close_sync(&g);
                    }
                }
                for (unsigned i = 0; i < up; i++)
                    mlos_shard_stop_sync(&s[i]);
                mlos_group_mem_close(&gm);
            }
        }
    }
    return 0;
}
