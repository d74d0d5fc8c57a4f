/* cl_master: the master side of the cluster tests.
 *
 *   cl_master --secret-file F --agent PATH [--launcher local|slurm] [--listen tcp:0.0.0.0:0]
 *             --node NAME,IP[,WRAPPER...]   (repeat: one agent per node; WRAPPER words joined by ',')
 *             [--tasks N] [--arch x86_64] [--node-max N] [--interval-ms MS]
 *             [--window N] [--kill NAME@K] [--cut NAME@K] [--cut-cmd CMD] [--heal-cmd CMD] [--nodelist N]
 *             [--agent-args NAME,ARGS...] [--mlos PATH] [--slurm-nodes N]
 *
 * Starts one mlos-node per --node through the launcher (its master address
 * is tcp:IP:<our port>), waits for all of them, and runs a pool spread over
 * them (placement from the cluster, node_max per node). N tasks go in,
 * --window of them outstanding at any time (checked every --interval-ms),
 * alternating: a put of 4 KiB of values derived from
 * the task into the shard's window followed by sum_u64 over it, and an
 * echo of 3 KiB; all idempotent. --kill NAME@K SIGKILLs that node's agent
 * when K tasks have been answered; --cut NAME@K runs --cut-cmd then (a link
 * cut, by the script). Checked: every task answered exactly once with the
 * right bytes; the registry (and `mlos ps` with --mlos) lists shards with
 * their node; with --mlos, `mlos stop` of one pool shard on a node that
 * stays up kills its slave there and the pool replaces it; a killed or cut
 * node is fenced (on_node down) within 2.5 s (the default bound is 1 s; the
 * margin is for a loaded machine) and counted lost; after --heal-cmd, the cut
 * node's agent exits on its own (its connection is dead: it cannot deliver
 * anything); agent ps sees shards while they run and none after the pool
 * closed; then BYE to the agents, which exit 0. Prints the fencing times.
 * Exit: 0 pass, 1 fail, 77 skip (launcher unusable). */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "cluster_util.h"
#include "launcher.h"
#include "registry.h"

static int fails;
#define EXPECT(c, ...)                                                                                           \
    do {                                                                                                         \
        if (!(c)) {                                                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);                                         \
            fprintf(stderr, __VA_ARGS__);                                                                        \
            fprintf(stderr, "\n");                                                                               \
            fails++;                                                                                             \
        }                                                                                                        \
    } while (0)

#define MAX_NODES 8
#define PUT_WORDS 512 /* 4 KiB */
#define ECHO_BYTES 3000

struct node_cfg {
    char name[64], ip[64];
    const char *wrapper[16];
    const char *extra[16];
    mlos_launch_t la;
    int exited, status;
    uint64_t t_event_ms, t_down_ms;
    char err[1024];
};

static struct node_cfg nodes[MAX_NODES];
static int nnodes;
static uv_loop_t *loop;
static mlos_cluster_t cl;
static mlos_pool_t pool;

struct task {
    mlos_pool_call_t req;
    unsigned i;
    unsigned answers;
    int status;
    char err[200];
};
static struct task *tasks;
static unsigned ntasks = 200, submitted, answered, interval_ms = 1, window = 12;
static const char *kill_name, *cut_name, *cut_cmd, *heal_cmd;
static unsigned kill_at, cut_at;
static int killed, cut;
static const char *mlos_tool;
static unsigned stopped_by_cli; /* pool shards stopped with `mlos stop` before the run */

static struct node_cfg *cfg_by_name(const char *name)
{
    for (int i = 0; i < nnodes; i++)
        if (!strcmp(nodes[i].name, name))
            return &nodes[i];
    return NULL;
}

static void on_launch_exit(mlos_launch_t *l, int status, const char *err)
{
    struct node_cfg *n = l->data;
    n->exited = 1;
    n->status = status;
    snprintf(n->err, sizeof(n->err), "%s", err);
}

static void on_node(mlos_cluster_t *c, mlos_node_t *n, int up, const char *why)
{
    struct node_cfg *cfg = cfg_by_name(n->name);
    (void)c;
    fprintf(stderr, "node %s %s%s%s (cores %u, mem %llu MiB, kvm %d%s%s)\n", n->name, up ? "up" : "down",
            up ? "" : ": ", why, n->cores, (unsigned long long)(n->mem_bytes >> 20), n->kvm, n->kvm ? "" : ": ",
            n->kvm_why);
    if (!up && cfg)
        cfg->t_down_ms = uv_now(loop);
}

static uint64_t expected_sum(unsigned i)
{
    uint64_t s = 0;
    for (unsigned j = 0; j < PUT_WORDS; j++)
        s += (uint64_t)i * 1000003u + j;
    return s;
}

static int prep_put(mlos_pool_call_t *req, mlos_shard_t *shard)
{
    struct task *t = req->data;
    uint64_t v[PUT_WORDS];
    for (unsigned j = 0; j < PUT_WORDS; j++)
        v[j] = (uint64_t)t->i * 1000003u + j; /* the host is little endian, as the task expects */
    return mlos_put(shard, 0, v, sizeof(v));
}

static void echo_bytes(unsigned i, uint8_t *b)
{
    for (unsigned k = 0; k < ECHO_BYTES; k++)
        b[k] = (uint8_t)(i * 31u + k * 7u);
}

static void on_task(mlos_pool_call_t *req, int status)
{
    struct task *t = req->data;
    t->answers++;
    t->status = status;
    answered++;
    if (status) {
        snprintf(t->err, sizeof(t->err), "%s", req->error);
        return;
    }
    if (t->i % 2 == 0) {
        uint64_t got = 0;
        if (req->result_len == 8)
            memcpy(&got, req->result, 8);
        if (req->result_len != 8 || got != expected_sum(t->i)) {
            t->status = -1000;
            snprintf(t->err, sizeof(t->err), "sum_u64 gave %llu (%zu bytes), expected %llu", (unsigned long long)got,
                     req->result_len, (unsigned long long)expected_sum(t->i));
        }
    } else {
        uint8_t want[ECHO_BYTES];
        echo_bytes(t->i, want);
        if (req->result_len != ECHO_BYTES || memcmp(req->result, want, ECHO_BYTES)) {
            t->status = -1000;
            snprintf(t->err, sizeof(t->err), "echo came back wrong (%zu bytes)", req->result_len);
        }
    }
}

static void submit(unsigned i)
{
    struct task *t = &tasks[i];
    int rc;
    t->i = i;
    t->req.data = t;
    if (i % 2 == 0) {
        uint64_t arg[2] = {0, PUT_WORDS * 8};
        rc = mlos_pool_call_prep(&pool, &t->req, "sum_u64", arg, sizeof(arg), MLOS_POOL_IDEMPOTENT, prep_put, on_task);
    } else {
        uint8_t b[ECHO_BYTES];
        echo_bytes(i, b);
        rc = mlos_pool_call(&pool, &t->req, "echo", b, sizeof(b), MLOS_POOL_IDEMPOTENT, on_task);
    }
    EXPECT(rc == 0, "task %u not accepted: %s", i, mlos_strerror(rc));
    if (rc)
        t->answers++, answered++;
}

static void on_submit_tick(uv_timer_t *h)
{
    /* keep `window` tasks outstanding: every shard busy, so that a node
     * that goes away has calls in flight that must be re-run elsewhere */
    while (submitted < ntasks && submitted - answered < window)
        submit(submitted++);
    if (kill_name && !killed && answered >= kill_at) {
        struct node_cfg *n = cfg_by_name(kill_name);
        killed = 1;
        if (n && n->la.pid > 0) {
            fprintf(stderr, "killing the agent of %s (pid %d) after %u answers\n", n->name, n->la.pid, answered);
            n->t_event_ms = uv_now(loop);
            kill(n->la.pid, SIGKILL);
        }
    }
    if (cut_name && !cut && answered >= cut_at) {
        struct node_cfg *n = cfg_by_name(cut_name);
        cut = 1;
        fprintf(stderr, "cutting the link of %s after %u answers: %s\n", cut_name, answered, cut_cmd);
        if (n)
            n->t_event_ms = uv_now(loop);
        EXPECT(system(cut_cmd) == 0, "cut command failed: %s", cut_cmd);
    }
    if (submitted >= ntasks && answered >= ntasks)
        uv_timer_stop(h);
}

static void run_for(unsigned ms)
{
    uint64_t end = uv_now(loop) + ms;
    while (uv_now(loop) < end) {
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
    }
}

/* `mlos stop ID` as a child while the loop runs (the loop serves the stop
 * socket it talks to): its exit status, -1 if it could not run. */
static void stop_exited(uv_process_t *p, int64_t status, int sig)
{
    int *rc = p->data;
    *rc = sig ? -sig : (int)status;
    uv_close((uv_handle_t *)p, NULL);
}

static int run_mlos_stop(const char *id)
{
    char *args[] = {(char *)mlos_tool, "stop", (char *)id, NULL};
    int rc = -1000;
    uv_process_t p;
    uv_stdio_container_t io[3] = {{.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 1},
                                  {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = stop_exited, .file = mlos_tool, .args = args, .stdio_count = 3, .stdio = io};
    p.data = &rc;
    if (uv_spawn(loop, &p, &o) < 0)
        return -1;
    uint64_t end = uv_hrtime() + 30000000000ull;
    while (rc == -1000 && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    return rc;
}

static int ps_lines(mlos_node_t *n, char *out, size_t cap)
{
    struct ps_state p = {0};
    uint64_t end = uv_hrtime() + 5000000000ull;
    if (mlos_node_ps(n, on_ps, &p) < 0)
        return -1;
    while (!p.done && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    if (!p.done || p.status)
        return -1;
    snprintf(out, cap, "%s", p.text);
    int lines = 0;
    for (const char *q = p.text; *q; q++)
        lines += *q == '\n';
    return lines;
}

static char *split_commas(char *s, const char **out, int cap)
{
    int n = 0;
    for (char *t = strtok(s, ","); t && n < cap - 1; t = strtok(NULL, ","))
        out[n++] = t;
    out[n] = NULL;
    return s;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"secret-file", 1, 0, 's'}, {"agent", 1, 0, 'a'},    {"launcher", 1, 0, 'L'},  {"listen", 1, 0, 'l'},
        {"node", 1, 0, 'n'},        {"tasks", 1, 0, 't'},    {"arch", 1, 0, 'A'},      {"node-max", 1, 0, 'm'},
        {"interval-ms", 1, 0, 'i'}, {"kill", 1, 0, 'k'},     {"cut", 1, 0, 'c'},       {"cut-cmd", 1, 0, 'C'},
        {"heal-cmd", 1, 0, 'H'},    {"nodelist", 1, 0, 'N'}, {"agent-args", 1, 0, 'x'}, {"window", 1, 0, 'w'},
        {"mlos", 1, 0, 'M'},        {"slurm-nodes", 1, 0, 'S'}, {0, 0, 0, 0}};
    const char *secret_file = NULL, *agent = "mlos-node", *launcher = "local", *listen = "tcp:0.0.0.0:0";
    const char *arch = "x86_64", *nodelist = NULL;
    unsigned node_max = 2, slurm_nodes = 0;
    char addr[128], *colon;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': secret_file = optarg; break;
        case 'a': agent = optarg; break;
        case 'L': launcher = optarg; break;
        case 'l': listen = optarg; break;
        case 'n': {
            const char *w[20];
            if (nnodes == MAX_NODES)
                return 2;
            split_commas(strdup(optarg), w, 20);
            if (!w[0] || !w[1])
                return 2;
            struct node_cfg *n = &nodes[nnodes++];
            snprintf(n->name, sizeof(n->name), "%s", w[0]);
            snprintf(n->ip, sizeof(n->ip), "%s", w[1]);
            for (int k = 2; w[k] && k < 17; k++)
                n->wrapper[k - 2] = w[k];
            break;
        }
        case 'x': {
            const char *w[20];
            split_commas(strdup(optarg), w, 20);
            struct node_cfg *n = w[0] ? cfg_by_name(w[0]) : NULL;
            if (!n)
                return 2;
            for (int k = 1; w[k] && k < 16; k++)
                n->extra[k - 1] = w[k];
            break;
        }
        case 't': ntasks = (unsigned)atoi(optarg); break;
        case 'A': arch = optarg; break;
        case 'm': node_max = (unsigned)atoi(optarg); break;
        case 'i': interval_ms = (unsigned)atoi(optarg); break;
        case 'k':
            kill_name = strdup(optarg);
            if ((colon = strchr(kill_name, '@')))
                *colon = 0, kill_at = (unsigned)atoi(colon + 1);
            break;
        case 'c':
            cut_name = strdup(optarg);
            if ((colon = strchr(cut_name, '@')))
                *colon = 0, cut_at = (unsigned)atoi(colon + 1);
            break;
        case 'C': cut_cmd = optarg; break;
        case 'H': heal_cmd = optarg; break;
        case 'N': nodelist = optarg; break;
        case 'w': window = (unsigned)atoi(optarg); break;
        case 'M': mlos_tool = optarg; break;
        case 'S': slurm_nodes = (unsigned)atoi(optarg); break;
        default: return 2;
        }
    }
    if (!nnodes || !secret_file || (cut_name && !cut_cmd)) {
        fprintf(stderr, "usage: see the header of cl_master.c\n");
        return 2;
    }
    loop = uv_default_loop();
    if (!strcmp(launcher, "slurm")) {
        char why[256];
        if (mlos_launch_slurm_available(why, sizeof(why)) < 0) {
            printf("SKIP: %s\n", why);
            return 77;
        }
    }
    struct mlos_cluster_opts co = {.secret_file = secret_file, .on_node = on_node};
    rc = mlos_cluster_listen(&cl, loop, listen, &co);
    EXPECT(rc == 0, "listen %s: %s", listen, mlos_strerror(rc));
    if (rc)
        return 1;
    mlos_cluster_addr(&cl, addr, sizeof(addr));
    const char *port = strrchr(addr, ':') + 1;

    /* one agent per node */
    for (int i = 0; i < nnodes; i++) {
        struct node_cfg *n = &nodes[i];
        char maddr[160];
        const char *extra[24] = {"--name", n->name};
        int k = 2;
        for (int j = 0; n->extra[j]; j++)
            extra[k++] = n->extra[j];
        extra[k] = NULL;
        snprintf(maddr, sizeof(maddr), "tcp:%s:%s", n->ip, port);
        struct mlos_launch_opts lo = {.launcher = launcher, .program = agent, .master_addr = maddr,
                                      .secret_file = secret_file, .extra_args = extra,
                                      .wrapper = n->wrapper[0] ? n->wrapper : NULL, .nodelist = nodelist,
                                      .alloc_timeout_s = 30, .time_limit_min = 5, .nodes = slurm_nodes};
        n->la.data = n;
        rc = mlos_launch_start(loop, &n->la, &lo, on_launch_exit);
        EXPECT(rc == 0, "launch the agent of %s: %s", n->name, mlos_strerror(rc));
        if (rc)
            return 1;
    }
    rc = mlos_cluster_wait_nodes(&cl, (unsigned)nnodes, 60000);
    EXPECT(rc == 0, "only %u of %d agents joined", cl.nnodes, nnodes);
    for (int i = 0; rc && i < nnodes; i++)
        if (nodes[i].exited)
            fprintf(stderr, "agent %s exited %d: %s\n", nodes[i].name, nodes[i].status, nodes[i].err);
    if (rc)
        goto out;
    for (unsigned i = 0; i < cl.nnodes; i++) {
        mlos_node_t *n = mlos_cluster_node_at(&cl, i);
        EXPECT(n->cores >= 1 && n->mem_bytes > 0, "node %s reports cores %u, memory %llu", n->name, n->cores,
               (unsigned long long)n->mem_bytes);
        EXPECT(cfg_by_name(n->name), "unknown node name %s", n->name);
    }

    /* the pool, spread: node_max per node, all of them warm */
    struct mlos_pool_opts po = {.spawn = {.arch = arch, .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20,
                                          .kvm = MLOS_KVM_AUTO, .hello_timeout_ms = 30000},
                                .max_shards = node_max * (unsigned)nnodes, .min_shards = node_max * (unsigned)nnodes,
                                .placement = mlos_cluster_placement(&cl), .node_max = node_max,
                                .spread = MLOS_POOL_SPREAD, .idle_timeout_ms = 60000};
    rc = mlos_pool_init(loop, &pool, &po);
    EXPECT(rc == 0, "pool init: %s", mlos_strerror(rc));
    if (rc)
        goto out;
    {
        uint64_t end = uv_hrtime() + 90000000000ull;
        while (pool.ready < po.min_shards && uv_hrtime() < end && !pool.spawn_failed)
            uv_run(loop, UV_RUN_ONCE);
        EXPECT(pool.ready == po.min_shards, "%u of %u shards up (%llu spawn failures)", pool.ready, po.min_shards,
               (unsigned long long)pool.spawn_failed);
    }
    /* spread: node_max on every node; the registry names their nodes */
    {
        mlos_shard_t *sh[64];
        size_t k = mlos_pool_shards(&pool, sh, 64);
        for (int i = 0; i < nnodes; i++) {
            unsigned on = 0;
            for (size_t j = 0; j < k && j < 64; j++)
                on += !strcmp(sh[j]->node, nodes[i].name);
            EXPECT(on == node_max, "node %s runs %u pool shards, expected %u", nodes[i].name, on, node_max);
        }
        struct mlos_registry_rec *v;
        int nr = mlos_registry_list(&v), named = 0;
        for (int j = 0; j < nr; j++)
            if (v[j].master_pid == getpid())
                named += v[j].node[0] && cfg_by_name(v[j].node) && v[j].host_pid > 0 && !strcmp(v[j].state, "ready");
        EXPECT(named == (int)k, "%d registry records name a node, %zu shards", named, k);
        if (nr > 0)
            free(v);
        if (mlos_tool) { /* `mlos ps`: our shards, each with its node in the NODE column */
            char cmd[600], line[512];
            int listed = 0;
            snprintf(cmd, sizeof(cmd), "%s ps", mlos_tool);
            FILE *ps = popen(cmd, "r");
            EXPECT(ps, "cannot run %s", cmd);
            while (ps && fgets(line, sizeof(line), ps)) {
                char id[32], node[64];
                int master = 0;
                const char *lastcol = strrchr(line, ' ');
                if (sscanf(line, "%31s %d", id, &master) == 2 && master == getpid() && lastcol &&
                    sscanf(lastcol, "%63s", node) == 1 && cfg_by_name(node))
                    listed++;
            }
            EXPECT(ps && pclose(ps) == 0, "%s failed", cmd);
            EXPECT(listed == (int)k, "mlos ps lists %d of our %zu shards with their node", listed, k);
            printf("mlos ps lists our %d shards with their nodes\n", listed);
        }
        char text[4096];
        int lines = ps_lines(mlos_cluster_node_at(&cl, 0), text, sizeof(text));
        EXPECT(lines == (int)node_max, "agent ps shows %d shards, expected %u: %s", lines, node_max, text);
    }
    /* `mlos stop` on a pool shard of a node that is neither killed nor cut:
     * its master asks the agent there to kill the slave, the pool counts
     * the shard failed and replaces it */
    if (mlos_tool) {
        mlos_shard_t *sh[64], *victim = NULL;
        size_t k = mlos_pool_shards(&pool, sh, 64);
        for (size_t j = 0; j < k && j < 64 && !victim; j++)
            if ((!kill_name || strcmp(sh[j]->node, kill_name)) && (!cut_name || strcmp(sh[j]->node, cut_name)))
                victim = sh[j];
        EXPECT(victim, "no pool shard on a node that stays up");
        if (victim) {
            char id[48], node[64];
            int pid = victim->pid;
            snprintf(id, sizeof(id), "%d.%u", (int)getpid(), victim->id);
            snprintf(node, sizeof(node), "%s", victim->node);
            int src = run_mlos_stop(id);
            EXPECT(src == 0, "mlos stop %s (on %s) exited %d", id, node, src);
            uint64_t end = uv_hrtime() + 30000000000ull;
            while ((kill(pid, 0) == 0 || pool.ready < po.min_shards) && uv_hrtime() < end)
                run_for(20);
            EXPECT(kill(pid, 0) < 0, "the slave %d of the stopped shard still runs on %s", pid, node);
            EXPECT(pool.ready == po.min_shards, "the pool has %u of %u shards after mlos stop", pool.ready,
                   po.min_shards);
            EXPECT(pool.failed == 1, "%llu pool shards failed after one mlos stop", (unsigned long long)pool.failed);
            if (src == 0)
                printf("mlos stop %s: its slave on %s is gone, the pool replaced it\n", id, node);
            stopped_by_cli = 1;
        }
    }

    /* the run */
    tasks = calloc(ntasks, sizeof(*tasks));
    uv_timer_t sub;
    uv_timer_init(loop, &sub);
    uv_timer_start(&sub, on_submit_tick, interval_ms, interval_ms ? interval_ms : 1);
    {
        uint64_t end = uv_hrtime() + 120000000000ull;
        while ((answered < ntasks || submitted < ntasks) && uv_hrtime() < end)
            uv_run(loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&sub);
    uv_close((uv_handle_t *)&sub, NULL);
    unsigned good = 0;
    for (unsigned i = 0; i < ntasks; i++) {
        EXPECT(tasks[i].answers == 1, "task %u answered %u times", i, tasks[i].answers);
        EXPECT(tasks[i].answers == 0 || tasks[i].status == 0, "task %u: %s (%d)", i, tasks[i].err, tasks[i].status);
        good += tasks[i].answers == 1 && tasks[i].status == 0;
    }
    printf("tasks: %u of %u answered correctly; shards failed %llu, re-runs %llu, nodes lost %u, stale dropped "
           "%llu\n",
           good, ntasks, (unsigned long long)pool.failed, (unsigned long long)pool.retries, cl.lost,
           (unsigned long long)cl.stale_dropped);
    unsigned expect_lost = (kill_name ? 1 : 0) + (cut_name ? 1 : 0);
    /* the cut node may not have been judged yet if the run ended quickly */
    {
        uint64_t end = uv_hrtime() + 5000000000ull;
        while (cl.lost < expect_lost && uv_hrtime() < end)
            uv_run(loop, UV_RUN_ONCE);
    }
    EXPECT(cl.lost == expect_lost, "%u nodes lost, expected %u", cl.lost, expect_lost);
    /* each lost node took its node_max shards, with calls on them */
    EXPECT(pool.failed == expect_lost * node_max + stopped_by_cli, "%llu pool shards failed, expected %u",
           (unsigned long long)pool.failed, expect_lost * node_max + stopped_by_cli);
    EXPECT(!expect_lost || pool.retries >= expect_lost, "only %llu re-runs for %u lost nodes",
           (unsigned long long)pool.retries, expect_lost);
    for (int i = 0; i < nnodes; i++) {
        struct node_cfg *n = &nodes[i];
        if (!n->t_event_ms)
            continue;
        uint64_t ms = n->t_down_ms ? n->t_down_ms - n->t_event_ms : 0;
        printf("fencing: node %s fenced %llu ms after its %s\n", n->name, (unsigned long long)ms,
               (kill_name && !strcmp(n->name, kill_name)) ? "agent was killed" : "link was cut");
        EXPECT(n->t_down_ms && ms <= 2500, "node %s fenced after %llu ms", n->name, (unsigned long long)ms);
    }
    if (heal_cmd) {
        struct node_cfg *n = cfg_by_name(cut_name);
        EXPECT(system(heal_cmd) == 0, "heal command failed: %s", heal_cmd);
        /* back on the network, the cut agent learns its connection is
         * dead (the master closed it) and exits, without having
         * delivered anything: every task above was answered once */
        uint64_t end = uv_hrtime() + 30000000000ull;
        while (n && !n->exited && uv_hrtime() < end)
            run_for(50);
        EXPECT(n && n->exited, "the agent of %s still runs after the link came back", cut_name);
        if (n && n->exited)
            printf("after the heal, the agent of %s exited with %d\n", n->name, n->status);
        for (unsigned i = 0; i < ntasks; i++)
            EXPECT(tasks[i].answers == 1, "task %u answered %u times after the heal", i, tasks[i].answers);
    }

    mlos_pool_close_sync(&pool);
    /* mlos_shard_stop reached the remote shards: the live agents run none */
    for (unsigned i = 0; i < cl.nnodes; i++) {
        char text[4096];
        mlos_node_t *n = mlos_cluster_node_at(&cl, i);
        int lines = -1;
        uint64_t end = uv_hrtime() + 5000000000ull;
        while ((lines = ps_lines(n, text, sizeof(text))) != 0 && uv_hrtime() < end)
            run_for(100);
        EXPECT(lines == 0, "node %s still runs %d shards after the pool closed: %s", n->name, lines, text);
    }
    {
        struct mlos_registry_rec *v;
        int nr = mlos_registry_list(&v), mine = 0;
        for (int j = 0; j < nr; j++)
            mine += v[j].master_pid == getpid();
        if (nr > 0)
            free(v);
        EXPECT(mine == 0, "%d registry records left after the pool closed", mine);
    }
out:
    mlos_cluster_close_sync(&cl);
    /* BYE: the agents exit by themselves */
    for (int i = 0; i < nnodes; i++) {
        uint64_t end = uv_hrtime() + 8000000000ull;
        while (!nodes[i].exited && uv_hrtime() < end)
            run_for(50);
        int killed_here = kill_name && !strcmp(nodes[i].name, kill_name);
        int was_cut = cut_name && !strcmp(nodes[i].name, cut_name);
        EXPECT(nodes[i].exited, "the agent of %s did not exit after BYE", nodes[i].name);
        if (nodes[i].exited && !killed_here && !was_cut)
            EXPECT(nodes[i].status == 0, "the agent of %s exited with %d: %s", nodes[i].name, nodes[i].status,
                   nodes[i].err);
        mlos_launch_stop(&nodes[i].la);
    }
    free(tasks);
    printf("%s\n", fails ? "FAIL" : "PASS");
    return fails ? 1 : 0;
}
