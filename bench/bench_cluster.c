/* Calls and puts through a node agent over tcp, beside raw TCP between the
 * same two hosts in the same run.
 *
 *   bench_cluster serve IP PORT
 *       the raw TCP baseline's far end: echoes 8-byte pings; after a
 *       stream of N bytes (announced in an 8-byte header) answers one byte
 *   bench_cluster master --secret-file F --agent PATH --node-ip IP --raw IP:PORT
 *                        [--wrapper W1,W2,...] [--arch process|x86_64]
 *                        [--trips N] [--mib M] [--spin-us US] [--link-spin-us US]
 *   bench_cluster master --listen verbs:IP --perftest DEV --secret-file F --agent PATH --node-ip IP ...
 *
 * The master starts one mlos-node (local launcher, behind the wrapper: e.g.
 * ip,netns,exec,NS), one shard on it, and measures in one run:
 *   - raw TCP ping-pong (8 bytes, blocking sockets, TCP_NODELAY) to --raw:
 *     p50/p99 round trip over N trips;
 *   - remote call round trip: echo of 8 bytes on the shard through the
 *     agent, p50/p99 over N calls (mlos_call_sync: the master's loop, the
 *     tcp: transport, the agent, the slave's ring and back);
 *   - local call round trip: the same echo on a shard of the same kind and
 *     polling mode spawned by the master itself (shared memory and
 *     doorbell only): the agent's own hop to its slave costs about this,
 *     so remote - local is what the tcp hop and the agent's relaying add;
 *   - raw TCP stream: M MiB in 1 MiB writes, until the far end's answer;
 *     CPU per MiB of this sender and (--raw-pid) of the far end;
 *   - put bandwidth: M MiB of mlos_put into the shard's window (16 MiB,
 *     wrapping), then one echo call, which the agent runs only after the
 *     puts before it are in the window: MiB/s from the first put to its
 *     reply, and CPU per MiB of the master and the agent. Twice: "queued",
 *     the producer running ahead with up to 32 MiB waiting in memory (a
 *     busy link: each piece copied once on the master); and "paced", the
 *     next put once the ones before it have left for the kernel (an idle
 *     link: pieces written from the caller's buffer, only what the
 *     kernel's socket buffer could not take at once copied);
 *   - get bandwidth: the same M MiB read back with mlos_node_get in pieces
 *     of the window (16 MiB), one after another: over tcp GET requests the
 *     agent answers from the slave's window, over verbs RDMA READs.
 * Over verbs (--listen verbs:IP, in the Soft-RoCE guest: bench_cluster_verbs.sh)
 * the raw baselines are Debian perftest's on the same device, run by this
 * program in the same run (--perftest DEV: ib_write_lat and ib_write_bw,
 * server and client on IP), and the puts are RDMA WRITEs into the slave's
 * window (cluster.h); --raw is not needed then.
 * --link-spin-us is the polling mode of the link between master and agent
 * (mlos_cluster_opts.link_spin_us and mlos-node --link-spin-us): a verbs
 * link polls its completion queue instead of sleeping; tcp ignores it.
 * --spin-us is the shard's polling mode (mlos_spawn_opts.spin_us), set by
 * the agent for its hop to the slave. Prints each beside its baseline and
 * the ratios.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "launcher.h"
#include "percentile.h"

#define CHUNK (1u << 20)

static int full_io(int fd, void *p, size_t n, int wr)
{
    for (size_t d = 0; d < n;) {
        ssize_t k = wr ? send(fd, (char *)p + d, n - d, MSG_NOSIGNAL) : recv(fd, (char *)p + d, n - d, 0);
        if (k <= 0)
            return -1;
        d += (size_t)k;
    }
    return 0;
}

static int serve(const char *ip, int port)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    static char buf[CHUNK];
    inet_pton(AF_INET, ip, &a.sin_addr);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4) < 0) {
        perror("bench_cluster serve");
        return 1;
    }
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        uint8_t hdr[8];
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* 8-byte records: ping payloads echoed; one with the top bit set
         * announces a stream of (low 63 bits) bytes */
        while (full_io(fd, hdr, 8, 0) == 0) {
            uint64_t v;
            memcpy(&v, hdr, 8);
            if (v >> 63) {
                uint64_t left = v & ~(1ull << 63);
                while (left) {
                    ssize_t k = recv(fd, buf, left < sizeof(buf) ? left : sizeof(buf), 0);
                    if (k <= 0)
                        break;
                    left -= (uint64_t)k;
                }
                char b = 1;
                full_io(fd, &b, 1, 1);
            } else if (full_io(fd, hdr, 8, 1) < 0)
                break;
        }
        close(fd);
    }
}

static int raw_connect(const char *spec)
{
    char ip[64];
    const char *c = strrchr(spec, ':');
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (!c || (size_t)(c - spec) >= sizeof(ip))
        return -1;
    memcpy(ip, spec, (size_t)(c - spec));
    ip[c - spec] = 0;
    a.sin_port = htons((uint16_t)atoi(c + 1));
    inet_pton(AF_INET, ip, &a.sin_addr);
    for (int i = 0; i < 50; i++) {
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        usleep(100000);
    }
    return -1;
}

/* CPU seconds (user + system) of this process, or of pid from /proc. */
static double cpu_s(int pid)
{
    if (!pid) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    }
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* an mlos_node_get ended: its status, in place of the 1 that means pending */
static void get_done(void *arg, int status) { *(int *)arg = status < 0 ? status : 0; }

static void on_exit_cb(mlos_launch_t *l, int status, const char *err)
{
    fprintf(stderr, "agent exited %d: %s\n", status, err);
}

static void on_node(mlos_cluster_t *c, mlos_node_t *n, int up, const char *why)
{
    if (!up && !c->closing)
        fprintf(stderr, "bench_cluster: node %s lost: %s\n", n->name, why);
}

struct sp {
    int done, status;
};
static void spawned(mlos_shard_t *s, int status)
{
    struct sp *p = s->data;
    p->done = 1;
    p->status = status;
}


/* ---- perftest baselines (verbs) ---- */

/* Run "prog -d dev -F -s size -n iters" as server, then as client to ip,
 * and return the first finite number of field `field` (0-based) on the
 * result line ("<size> <iters> ...") of either side, or -1. perftest
 * prints its result on both sides; a side whose cycle clock it could not
 * calibrate (as under TCG) prints inf there, the other side is then used. */
static double perftest(const char *prog, const char *dev, const char *ip, unsigned size, unsigned iters, int field)
{
    char sz[16], it[16], out[2][128];
    double best = -1;
    snprintf(sz, sizeof(sz), "%u", size);
    snprintf(it, sizeof(it), "%u", iters);
    for (int side = 0; side < 2; side++)
        snprintf(out[side], sizeof(out[side]), "/tmp/bench_cluster.%d.%s.%d", (int)getpid(), prog, side);
    pid_t srv = fork();
    if (srv == 0) {
        freopen(out[0], "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp(prog, prog, "-d", dev, "-F", "-s", sz, "-n", it, (char *)NULL);
        _exit(127);
    }
    int ok = 0;
    for (int tries = 0; tries < 20 && !ok; tries++) { /* until the server listens */
        usleep(300000);
        pid_t cli = fork();
        if (cli == 0) {
            freopen(out[1], "w", stdout);
            freopen("/dev/null", "w", stderr);
            execlp(prog, prog, "-d", dev, "-F", "-s", sz, "-n", it, ip, (char *)NULL);
            _exit(127);
        }
        int st = 0;
        waitpid(cli, &st, 0);
        ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            break;
    }
    if (!ok)
        kill(srv, SIGKILL);
    waitpid(srv, NULL, 0);
    for (int side = 1; side >= 0; side--) {
        FILE *f = fopen(out[side], "r");
        char line[512];
        while (f && fgets(line, sizeof(line), f)) {
            double v[12];
            int n = 0;
            char *q = line, *e;
            while (n < 12) {
                v[n] = strtod(q, &e);
                if (e == q)
                    break;
                n++, q = e;
            }
            if (n > field && (unsigned)v[0] == size && (unsigned)v[1] == iters && isfinite(v[field]) &&
                best < 0)
                best = v[field];
        }
        if (f)
            fclose(f);
        unlink(out[side]);
    }
    if (!ok)
        fprintf(stderr, "bench_cluster: %s on %s did not run (installed? device up?)\n", prog, dev);
    return ok ? best : -1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "serve"))
        return serve(argv[2], atoi(argv[3]));
    if (argc < 2 || strcmp(argv[1], "master")) {
        fprintf(stderr, "usage: bench_cluster serve IP PORT | bench_cluster master ... (see the header)\n");
        return 2;
    }
    static const struct option opts[] = {{"secret-file", 1, 0, 's'}, {"agent", 1, 0, 'a'}, {"node-ip", 1, 0, 'n'},
                                         {"raw", 1, 0, 'r'},         {"wrapper", 1, 0, 'w'}, {"arch", 1, 0, 'A'},
                                         {"trips", 1, 0, 't'},       {"mib", 1, 0, 'm'},   {"spin-us", 1, 0, 'S'},
                                         {"listen", 1, 0, 'L'},      {"perftest", 1, 0, 'P'},
                                         {"link-spin-us", 1, 0, 'K'}, {"raw-pid", 1, 0, 'R'}, {0, 0, 0, 0}};
    const char *secret = NULL, *agent = "mlos-node", *node_ip = "127.0.0.1", *raw = NULL, *arch = "process";
    const char *listen_on = "tcp:0.0.0.0", *ptdev = NULL;
    const char *wrapper[16] = {NULL};
    unsigned trips = 5000, mib = 512, spin_us = 0, link_spin_us = 0;
    int raw_pid = 0;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': secret = optarg; break;
        case 'a': agent = optarg; break;
        case 'n': node_ip = optarg; break;
        case 'r': raw = optarg; break;
        case 'w': {
            int k = 0;
            for (char *t = strtok(strdup(optarg), ","); t && k < 15; t = strtok(NULL, ","))
                wrapper[k++] = t;
            break;
        }
        case 'A': arch = optarg; break;
        case 't': trips = (unsigned)atoi(optarg); break;
        case 'm': mib = (unsigned)atoi(optarg); break;
        case 'S': spin_us = (unsigned)atoi(optarg); break;
        case 'K': link_spin_us = (unsigned)atoi(optarg); break;
        case 'R': raw_pid = atoi(optarg); break;
        case 'L': listen_on = optarg; break;
        case 'P': ptdev = optarg; break;
        default: return 2;
        }
    }
    int verbs = !strncmp(listen_on, "verbs:", 6);
    if (!secret || !trips || !mib || (verbs ? !ptdev : !raw)) {
        fprintf(stderr, "bench_cluster: --secret-file, and --raw (tcp) or --perftest (verbs) are needed\n");
        return 2;
    }
    const char *tname = verbs ? "verbs" : "tcp";
    /* perftest first, on the same device in the same run (not while the
     * agent waits for this loop's heartbeats) */
    double lat = -1, bw = -1;
    if (verbs) {
        lat = perftest("ib_write_lat", ptdev, node_ip, 8, trips, 4); /* t_typical: half a round trip */
        bw = perftest("ib_write_bw", ptdev, node_ip, CHUNK, mib < 100 ? 100 : mib, 3); /* BW average MB/s */
    }
    uv_loop_t *loop = uv_default_loop();
    mlos_cluster_t cl;
    mlos_launch_t la;
    char addr[128], laddr[160], maddr[160];
    struct mlos_cluster_opts co = {.secret_file = secret, .on_node = on_node, .link_spin_us = link_spin_us};
    char link_spin[16];
    snprintf(link_spin, sizeof(link_spin), "%u", link_spin_us);
    snprintf(laddr, sizeof(laddr), "%s:0", listen_on);
    int rc = mlos_cluster_listen(&cl, loop, laddr, &co);
    if (rc < 0) {
        fprintf(stderr, "bench_cluster: listen on %s: %s\n", laddr, mlos_strerror(rc));
        return 1;
    }
    mlos_cluster_addr(&cl, addr, sizeof(addr));
    snprintf(maddr, sizeof(maddr), "%s:%s:%s", tname, node_ip, strrchr(addr, ':') + 1);
    const char *name_args[] = {"--name", "bench-node", "--link-spin-us", link_spin, NULL};
    struct mlos_launch_opts lo = {.program = agent, .master_addr = maddr, .secret_file = secret,
                                  .wrapper = wrapper[0] ? wrapper : NULL, .extra_args = name_args};
    if (mlos_launch_start(loop, &la, &lo, on_exit_cb) < 0 || mlos_cluster_wait_nodes(&cl, 1, 60000) < 0) {
        fprintf(stderr, "bench_cluster: no agent\n");
        return 1;
    }
    mlos_shard_t s;
    struct sp st = {0};
    struct mlos_spawn_opts so = {.arch = arch, .kvm = MLOS_KVM_AUTO, .bulk_bytes = 16u << 20, .spin_us = spin_us,
                                 .hello_timeout_ms = 60000};
    s.data = &st;
    if (mlos_node_spawn(mlos_cluster_node_at(&cl, 0), &s, &so, spawned) < 0)
        return 1;
    while (!st.done)
        uv_run(loop, UV_RUN_ONCE);
    if (st.status) {
        fprintf(stderr, "bench_cluster: spawn: %s\n", mlos_strerror(st.status));
        return 1;
    }
    struct mlos_node_window w;
    int by_rdma = mlos_node_shard_window(&s, &w) == 0;
    if (verbs && !by_rdma)
        fprintf(stderr, "bench_cluster: the agent gave no RDMA window: puts are copied by the agent\n");
    mlos_shard_t ls;
    struct sp lst = {0};
    ls.data = &lst;
    if (mlos_spawn(loop, &ls, &so, spawned) < 0)
        return 1;
    while (!lst.done)
        uv_run(loop, UV_RUN_ONCE);
    if (lst.status) {
        fprintf(stderr, "bench_cluster: local spawn: %s\n", mlos_strerror(lst.status));
        return 1;
    }
    int fd = -1;
    if (!verbs && (fd = raw_connect(raw)) < 0) {
        fprintf(stderr, "bench_cluster: cannot reach the raw server at %s\n", raw);
        return 1;
    }
    uint64_t *raw_rtt = calloc(trips, 8), *call_rtt = calloc(trips, 8), *local_rtt = calloc(trips, 8);
    char err[200];
    /* warm-up */
    for (unsigned i = 0; i < 200; i++) {
        uint64_t v = i;
        if (fd >= 0) {
            full_io(fd, &v, 8, 1);
            full_io(fd, &v, 8, 0);
        }
        mlos_call_sync(&s, "echo", &v, 8, NULL, NULL, err, sizeof(err));
        mlos_call_sync(&ls, "echo", &v, 8, NULL, NULL, err, sizeof(err));
    }
    /* interleaved rounds: all see the same machine load */
    for (unsigned i = 0; i < trips; i++) {
        uint64_t v = i, t0 = uv_hrtime();
        if (fd >= 0 && (full_io(fd, &v, 8, 1) < 0 || full_io(fd, &v, 8, 0) < 0))
            return 1;
        raw_rtt[i] = uv_hrtime() - t0;
        t0 = uv_hrtime();
        if (mlos_call_sync(&s, "echo", &v, 8, NULL, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench_cluster: echo: %s\n", err);
            return 1;
        }
        call_rtt[i] = uv_hrtime() - t0;
        t0 = uv_hrtime();
        if (mlos_call_sync(&ls, "echo", &v, 8, NULL, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench_cluster: local echo: %s\n", err);
            return 1;
        }
        local_rtt[i] = uv_hrtime() - t0;
    }
    mlos_shard_stop_sync(&ls); /* not competing with the puts */
    qsort(raw_rtt, trips, 8, cmp_u64);
    qsort(call_rtt, trips, 8, cmp_u64);
    qsort(local_rtt, trips, 8, cmp_u64);
    double l50 = local_rtt[trips / 2] / 1e3, l99 = local_rtt[trips * 99 / 100] / 1e3;
    double r50 = raw_rtt[trips / 2] / 1e3, r99 = raw_rtt[trips * 99 / 100] / 1e3;
    double c50 = call_rtt[trips / 2] / 1e3, c99 = call_rtt[trips * 99 / 100] / 1e3;

    /* stream vs puts */
    static char buf[CHUNK];
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0;
    double raw_s = 0, raw_cpu = 0, raw_far_cpu = 0;
    if (fd >= 0) {
        uint64_t hdr = (1ull << 63) | ((uint64_t)mib << 20);
        char ack;
        raw_cpu = cpu_s(0);
        raw_far_cpu = raw_pid ? cpu_s(raw_pid) : 0;
        t0 = uv_hrtime();
        full_io(fd, &hdr, 8, 1);
        for (unsigned i = 0; i < mib; i++)
            full_io(fd, buf, CHUNK, 1);
        full_io(fd, &ack, 1, 0);
        raw_s = (uv_hrtime() - t0) / 1e9;
        raw_cpu = cpu_s(0) - raw_cpu;
        raw_far_cpu = raw_pid ? cpu_s(raw_pid) - raw_far_cpu : 0;
    }
    size_t win = 0;
    mlos_shard_bulk(&s, &win);
    unsigned per = (unsigned)(win / CHUNK);
    mlos_node_t *node = mlos_cluster_node_at(&cl, 0);
    int apid = node ? node->agent_pid : 0;
    uint64_t rdma0 = node ? node->rdma_put_bytes : 0;
    /* mode 0: up to 32 MiB queued ahead; mode 1 (tcp): paced */
    double put_s = 0, m_cpu = 0, a_cpu = 0, pput_s = 0, pm_cpu = 0, pa_cpu = 0;
    for (int mode = 0; mode < (verbs ? 1 : 2); mode++) {
        uint64_t ahead = mode ? 0 : 32u << 20;
        double m_cpu0 = cpu_s(0), a_cpu0 = cpu_s(apid);
        t0 = uv_hrtime();
        for (unsigned i = 0; i < mib; i++) {
            rc = mlos_put(&s, (size_t)(i % per) * CHUNK, buf, CHUNK);
            if (rc < 0) {
                fprintf(stderr, "bench_cluster: put: %s\n", mlos_strerror(rc));
                return 1;
            }
            /* puts queue in memory: let the loop send while much is queued */
            mlos_node_t *n;
            while ((n = mlos_cluster_node_at(&cl, 0)) && n->out_bytes > ahead)
                uv_run(loop, UV_RUN_ONCE);
            if (!n)
                return 1;
        }
        if (mlos_call_sync(&s, "echo", "x", 1, NULL, NULL, err, sizeof(err)) < 0)
            return 1;
        double t = (uv_hrtime() - t0) / 1e9, mc = cpu_s(0) - m_cpu0, ac = cpu_s(apid) - a_cpu0;
        if (mode)
            pput_s = t, pm_cpu = mc, pa_cpu = ac;
        else
            put_s = t, m_cpu = mc, a_cpu = ac;
    }
    if (fd >= 0)
        close(fd);
    while ((node = mlos_cluster_node_at(&cl, 0)) && by_rdma && node->rdma_put_bytes - rdma0 < (uint64_t)mib * CHUNK)
        uv_run(loop, UV_RUN_NOWAIT); /* completions are counted from the loop */

    /* gets: the window back, piece by piece, one get at a time */
    double get_s = 0;
    {
        uint8_t *back = malloc(win);
        uint64_t left = (uint64_t)mib * CHUNK;
        int gst = 1;
        t0 = uv_hrtime();
        while (back && left) {
            size_t k = left < win ? (size_t)left : win;
            gst = 1;
            if ((rc = mlos_node_get(&s, 0, back, k, get_done, &gst)) < 0) {
                fprintf(stderr, "bench_cluster: get: %s\n", mlos_strerror(rc));
                return 1;
            }
            while (gst == 1)
                uv_run(loop, UV_RUN_ONCE);
            if (gst < 0) {
                fprintf(stderr, "bench_cluster: get: %s\n", mlos_strerror(gst));
                return 1;
            }
            left -= k;
        }
        get_s = (uv_hrtime() - t0) / 1e9;
        free(back);
    }

    printf("through an agent over %s (%s shard on node %s, %s, spin_us %u, link_spin_us %u):\n", tname, arch, s.node,
           maddr, spin_us, link_spin_us);
    if (verbs) {
        double bw_mib = bw > 0 ? bw * 1e6 / CHUNK : -1;
        printf("  round trip, 8 bytes   ib_write_lat 2 x t_typical %.1f us | remote call p50 %.1f us p99 %.1f us  "
               "(%.2fx; %u trips)\n",
               2 * lat, c50, c99, lat > 0 ? c50 / (2 * lat) : 0.0, trips);
        printf("  local call (same kind, this host) p50 %.1f us p99 %.1f us | remote - local %.1f us\n", l50, l99,
               c50 - l50);
        printf("  bulk, %u MiB          ib_write_bw 1 MiB writes %.0f MiB/s | mlos_put through the agent %.0f MiB/s "
               "(%.0f%%; %s, %.0f MiB by RDMA WRITE)\n",
               mib, bw_mib, mib / put_s, bw_mib > 0 ? 100.0 * mib / put_s / bw_mib : 0.0,
               by_rdma ? "staged once, written into the window" : "copied by the agent",
               node ? (node->rdma_put_bytes - rdma0) / (double)CHUNK : 0.0);
    } else {
        printf("  round trip, 8 bytes   raw TCP p50 %.1f us p99 %.1f us | remote call p50 %.1f us p99 %.1f us  "
               "(%.2fx at p50; %u trips each, interleaved)\n",
               r50, r99, c50, c99, c50 / r50, trips);
        printf("  local call (same kind, this host) p50 %.1f us p99 %.1f us | remote - local %.1f us = %.2fx raw TCP "
               "(the tcp hop and the agent's relaying)\n",
               l50, l99, c50 - l50, (c50 - l50) / r50);
        printf("  bulk, %u MiB          raw TCP stream %.0f MiB/s | mlos_put through the agent, queued %.0f MiB/s "
               "(%.0f%%), paced %.0f MiB/s (%.0f%%)\n",
               mib, mib / raw_s, mib / put_s, 100.0 * raw_s / put_s, mib / pput_s, 100.0 * raw_s / pput_s);
        printf("  CPU per MiB           raw TCP sender %.3f ms, receiver %.3f ms%s | queued: master %.3f ms, agent "
               "%.3f ms | paced: master %.3f ms, agent %.3f ms\n",
               1e3 * raw_cpu / mib, 1e3 * raw_far_cpu / mib, raw_pid ? "" : " (no --raw-pid)", 1e3 * m_cpu / mib,
               1e3 * a_cpu / mib, 1e3 * pm_cpu / mib, 1e3 * pa_cpu / mib);
    }
    printf("  bulk back, %u MiB     mlos_node_get %.0f MiB/s (%s) | the queued puts above %.0f MiB/s\n", mib,
           mib / get_s, by_rdma ? "RDMA READ" : "GET requests the agent answers", mib / put_s);
    printf("  during the%s puts: master CPU %.0f%%, agent CPU %.0f%% of %.2f s (the agent's pid is seen only when it "
           "shares our pid namespace)\n",
           verbs ? "" : " queued", 100 * m_cpu / put_s, 100 * a_cpu / put_s, put_s);
    mlos_shard_stop_sync(&s);
    mlos_cluster_close_sync(&cl);
    mlos_launch_stop(&la);
    return 0;
}
