/* bench_group_nodes: shard-group allreduce of 8 B (f64 sum) and barrier
 * when the members run behind node agents, beside the same group on this
 * host, in one run. Agents are local processes on 127.0.0.1 (tcp), so the
 * link is loopback: the numbers show the relay's cost, not a network's.
 *
 *   bench_group_nodes AGENT [-i ITERS] [-m sleep,poll]
 *
 * Placements of a 2-rank group: both on this host (baseline); both behind
 * one agent (rings in the node's memory, wake-ups served by the agent);
 * one here and one behind an agent (relayed by the master and the agent);
 * one behind each of two agents (relayed agent -> master -> agent). Each
 * rank times every iteration on its own clock (group.bench); the line
 * shows the p50, p99 and minimum over iterations of the slowest rank. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "../test/cluster/cluster_util.h"
#include "cluster.h"
#include "launcher.h"
#include "mlos.h"
#include "mlos_endian.h"
#include "mlos_group.h"
#include "group_measure.h"
#include "percentile.h"

static uv_loop_t *loop;


static int start_agent(mlos_cluster_t *c, struct agent *a, const char *prog, const char *name, const char *secret)
{
    char addr[128];
    static char maddr[2][160];
    static int k;
    const char *extra[] = {"--name", name, NULL};
    if (mlos_cluster_addr(c, addr, sizeof(addr)) < 0)
        return -1;
    char *ma = maddr[k++ % 2];
    snprintf(ma, 160, "tcp:127.0.0.1:%s", strrchr(addr, ':') + 1);
    struct mlos_launch_opts lo = {.launcher = "local", .program = prog, .master_addr = ma, .secret_file = secret,
                                  .extra_args = extra};
    memset(a, 0, sizeof(*a));
    a->la.data = a;
    return mlos_launch_start(loop, &a->la, &lo, on_exit_cb);
}

int main(int argc, char **argv)
{
    const char *modes = "sleep,poll";
    unsigned iters = 1000;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_group_nodes AGENT [-i ITERS] [-m sleep,poll]\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-i"))
            iters = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-m"))
            modes = argv[i + 1];
    }
    if (iters < 10 || iters > 4096) {
        fprintf(stderr, "iterations: 10..4096\n");
        return 2;
    }
    loop = uv_default_loop();
    char dir[] = "/tmp/mlos-bench-gn-XXXXXX", secret[300];
    if (!mkdtemp(dir))
        return 1;
    snprintf(secret, sizeof(secret), "%s/secret", dir);
    setenv("MLOS_QUIET", "1", 1);
    mlos_cluster_t c;
    struct agent a[2];
    struct mlos_cluster_opts co = {.secret_file = secret};
    if (write_secret(secret, "bench") < 0 || mlos_cluster_listen(&c, loop, "tcp:127.0.0.1:0", &co) < 0 ||
        start_agent(&c, &a[0], argv[1], "bench-a", secret) < 0 || start_agent(&c, &a[1], argv[1], "bench-b", secret) < 0 ||
        mlos_cluster_wait_nodes(&c, 2, 30000) < 0) {
        fprintf(stderr, "cannot start the agents\n");
        return 1;
    }
    mlos_node_t *na = mlos_cluster_node_at(&c, 0), *nb = mlos_cluster_node_at(&c, 1);
    mlos_group_mem_t gm;
    if (mlos_group_mem_init(&gm, 8u << 20) < 0)
        return 1;
    struct mlos_spawn_opts so = {.arch = "process", .group_mem = &gm, .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20};
    mlos_shard_t h[2], x[2], y;
    if (mlos_spawn_sync(loop, &h[0], &so) || mlos_spawn_sync(loop, &h[1], &so) || node_spawn_wait(loop, na, &x[0], &so) ||
        node_spawn_wait(loop, na, &x[1], &so) || node_spawn_wait(loop, nb, &y, &so)) {
        fprintf(stderr, "cannot start the shards\n");
        return 1;
    }
    static const struct {
        const char *name;
        int a, b; /* 0, 1: this host; 2, 3: behind bench-a; 4: behind bench-b */
    } places[] = {{"this host (baseline)", 0, 1}, {"one agent", 2, 3}, {"host + agent", 0, 2}, {"agent + agent", 2, 4}};
    mlos_shard_t *all[5] = {&h[0], &h[1], &x[0], &x[1], &y};
    printf("2-rank groups of process shards; agents on 127.0.0.1 (tcp loopback); %u iterations\n", iters);
    printf("%-22s %-5s  %-13s %10s %10s %10s\n", "placement", "mode", "operation", "p50 us", "p99 us", "min us");
    for (int mi = 0; mi < 2; mi++) {
        if (!strstr(modes, mi ? "poll" : "sleep"))
            continue;
        for (int pi = 0; pi < 4; pi++) {
            mlos_shard_t *m[2] = {all[places[pi].a], all[places[pi].b]};
            mlos_group_t g;
            struct mlos_group_opts go = {.mem = &gm, .members = m, .n = 2, .spin_us = mi ? 1000 : 0};
            if (mlos_group_create_sync(loop, &g, &go) != 0) {
                printf("%-22s group failed\n", places[pi].name);
                continue;
            }
            static const struct {
                const char *name;
                uint32_t which;
                uint64_t bytes;
            } ops[] = {{"allreduce 8B", 3, 8}, {"barrier", 0, 0}};
            for (int oi = 0; oi < 2; oi++) {
                struct group_times t = {0};
                int rc = group_measure(loop, &g, NULL, ops[oi].which, ops[oi].bytes, 10, &t); /* warm-up */
                if (rc == 0)
                    rc = group_measure(loop, &g, NULL, ops[oi].which, ops[oi].bytes, iters, &t);
                if (rc)
                    printf("%-22s %-5s  %-13s failed: %s\n", places[pi].name, mi ? "poll" : "sleep", ops[oi].name,
                           mlos_strerror(rc));
                else
                    printf("%-22s %-5s  %-13s %10.2f %10.2f %10.2f\n", places[pi].name, mi ? "poll" : "sleep",
                           ops[oi].name, t.p50, t.p99, t.min);
                fflush(stdout);
            }
            mlos_group_close_sync(&g);
        }
    }
    for (int i = 0; i < 5; i++)
        mlos_shard_stop_sync(all[i]);
    mlos_group_mem_close(&gm);
    mlos_cluster_close_sync(&c);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 800 && !a[i].exited; k++)
            run_ms(loop, 10);
        mlos_launch_stop(&a[i].la);
    }
    unlink(secret);
    rmdir(dir);
    return 0;
}
