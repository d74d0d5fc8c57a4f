/* bench_msg: messaging round trip and put bandwidth per transport, beside
 * raw baselines measured in the same run (memcpy; a spinning shared-memory
 * flag ping-pong between two processes).
 *   bench_msg [shm] [tcp] [verbs:IP]      (default: shm tcp)
 * Each transport: a child process serves (echo + an exported region), the
 * parent measures 8-byte round trips (p50/p99) and 64 MiB puts. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msg.h"
#include "percentile.h"

#define RTT_N 20000
#define BULK (64u << 20)

/* ---- baseline: two processes ping-pong on one cache line ---- */
static void spin_baseline(void)
{
    volatile uint64_t *flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const int n = 200000;
    *flag = 0;
    pid_t child = fork();
    if (child == 0) {
        for (uint64_t i = 1; i <= (uint64_t)n; i++) {
            while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != 2 * i - 1)
                ;
            __atomic_store_n(flag, 2 * i, __ATOMIC_RELEASE);
        }
        _exit(0);
    }
    uint64_t t0 = uv_hrtime();
    for (uint64_t i = 1; i <= (uint64_t)n; i++) {
        __atomic_store_n(flag, 2 * i - 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != 2 * i)
            ;
    }
    uint64_t t = uv_hrtime() - t0;
    waitpid(child, NULL, 0);
    printf("%-28s round trip %8.3f us (mean of %d)\n", "baseline spin flag (2 proc)", t / 1e3 / n, n);
    munmap((void *)flag, 4096);
}

static void memcpy_baseline(double *gbps)
{
    char *a = malloc(BULK), *b = malloc(BULK);
    uint64_t best = UINT64_MAX;
    memset(a, 1, BULK);
    memset(b, 2, BULK);
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = uv_hrtime();
        memcpy(b, a, BULK);
        uint64_t t = uv_hrtime() - t0;
        if (t < best)
            best = t;
    }
    *gbps = BULK / (double)best;
    printf("%-28s %8.2f GB/s (64 MiB, best of 5)\n", "baseline memcpy", *gbps);
    free(a);
    free(b);
}

/* ---- server child ---- */
static mlos_domain_t sdom;
static mlos_listener_t slis;
static mlos_ep_t sep;
static mlos_mr_t sregion;
static mlos_wr_t swr[256];
static unsigned swr_next;

static void srv_sent(mlos_wr_t *wr, int status) {}
static uint8_t echo_buf[256][64];

static void srv_recv(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    unsigned i = swr_next++ % 256;
    memcpy(echo_buf[i], data, len < 64 ? len : 64);
    mlos_send(ep, &swr[i], type, echo_buf[i], len < 64 ? len : 64, srv_sent);
}

static uint8_t rkey_wire[MLOS_RKEY_WIRE_SIZE];
static void srv_conn(mlos_listener_t *l, int status)
{
    struct mlos_rkey k;
    static mlos_wr_t w;
    sep.on_recv = srv_recv;
    if (mlos_accept(l, &sep) < 0)
        exit(1);
    mlos_mr_rkey(&sregion, &k);
    mlos_rkey_encode(&k, rkey_wire);
    mlos_send(&sep, &w, 1, rkey_wire, sizeof(rkey_wire), srv_sent);
}

static void serve(const char *listen_addr, int report_fd)
{
    static uv_loop_t own; /* never the parent's loop: its epoll set is shared after fork */
    uv_loop_t *loop = &own;
    uv_loop_init(loop);
    char addr[256] = {0};
    unsigned flags = strncmp(listen_addr, "verbs:", 6) ? 0 : MLOS_DOMAIN_VERBS;
    if (mlos_domain_init(&sdom, loop, flags) < 0 || mlos_mr_alloc(&sdom, &sregion, BULK, MLOS_ACCESS_REMOTE_WRITE) < 0 ||
        mlos_listen(&sdom, &slis, listen_addr, srv_conn) < 0 || mlos_listener_addr(&slis, addr, sizeof(addr)) < 0)
        _exit(1);
    (void)!write(report_fd, addr, sizeof(addr));
    close(report_fd);
    uv_run(loop, UV_RUN_DEFAULT);
    _exit(0);
}

/* ---- client ---- */
static mlos_domain_t cdom;
static mlos_ep_t cep;
static int connected, got, have_rkey, put_done;
static struct mlos_rkey remote;

static void cli_recv(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    if (type == 1 && !have_rkey) {
        have_rkey = mlos_rkey_decode(data, len, &remote) == 0;
        return;
    }
    got++;
}
static void cli_conn(mlos_ep_t *ep, int status) { connected = status == 0 ? 1 : -1; }
static void cli_sent(mlos_wr_t *wr, int status) {}
static void cli_put(mlos_wr_t *wr, int status) { put_done = status == 0 ? 1 : -1; }
static int ep_closed;
static void cli_closed(mlos_ep_t *ep) { ep_closed = 1; }

/* The server is killed, so it never closes its listener: remove the
 * socket file a shm listener leaves behind. */
static void stop_server(pid_t child, const char *addr)
{
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    if (!strncmp(addr, "shm:", 4))
        unlink(addr + 4);
}

static void bench_transport(const char *name, const char *listen_addr, double memcpy_gbps)
{
    uv_loop_t *loop = uv_default_loop();
    int p[2];
    char addr[256];
    if (pipe(p) < 0)
        return;
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        serve(listen_addr, p[1]);
    }
    close(p[1]);
    if (read(p[0], addr, sizeof(addr)) != (ssize_t)sizeof(addr)) {
        printf("%-28s server failed to start (transport unavailable here?)\n", name);
        waitpid(child, NULL, 0);
        return;
    }
    close(p[0]);
    unsigned flags = strncmp(listen_addr, "verbs:", 6) ? 0 : MLOS_DOMAIN_VERBS;
    connected = got = have_rkey = 0;
    mlos_domain_init(&cdom, loop, flags);
    cep.on_recv = cli_recv;
    mlos_connect(&cdom, &cep, addr, 5000, cli_conn);
    while (!connected || (connected == 1 && !have_rkey))
        uv_run(loop, UV_RUN_ONCE);
    if (connected < 0) {
        printf("%-28s connect failed\n", name);
        stop_server(child, addr);
        return;
    }
    static uint64_t rtt[RTT_N];
    static mlos_wr_t ring_wr[64]; /* a request struct is reusable only after its completion */
    mlos_wr_t w;
    for (int i = -1000; i < RTT_N; i++) {
        int want = got + 1;
        uint64_t t0 = uv_hrtime();
        mlos_send(&cep, &ring_wr[(i + 1000) % 64], 2, "12345678", 8, cli_sent);
        while (got < want)
            uv_run(loop, UV_RUN_NOWAIT);
        if (i >= 0)
            rtt[i] = uv_hrtime() - t0;
    }
    qsort(rtt, RTT_N, sizeof(rtt[0]), bench_cmp_u64);
    printf("%-28s round trip p50 %8.3f us  p99 %8.3f us (%d x 8 B)\n", name, rtt[RTT_N / 2] / 1e3,
           rtt[RTT_N * 99 / 100] / 1e3, RTT_N);

    mlos_mr_t src;
    mlos_mr_alloc(&cdom, &src, BULK, MLOS_ACCESS_LOCAL);
    memset(src.addr, 7, BULK);
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 6; i++) {
        put_done = 0;
        uint64_t t0 = uv_hrtime();
        if (mlos_ep_put(&cep, &w, &src, 0, &remote, 0, BULK, cli_put) < 0)
            break;
        while (!put_done)
            uv_run(loop, UV_RUN_ONCE);
        uint64_t t = uv_hrtime() - t0;
        if (put_done < 0)
            break;
        if (i > 0 && t < best) /* first put maps the region */
            best = t;
    }
    if (best != UINT64_MAX)
        printf("%-28s put 64 MiB %8.2f GB/s = %3.0f%% of memcpy\n", name, BULK / (double)best,
               100.0 * BULK / (double)best / memcpy_gbps);
    else
        printf("%-28s put failed\n", name);
    mlos_mr_dereg(&src);
    ep_closed = 0;
    mlos_ep_close(&cep, cli_closed);
    while (!ep_closed) /* the structs are reused for the next transport */
        uv_run(loop, UV_RUN_ONCE);
    mlos_domain_close(&cdom);
    uv_run(loop, UV_RUN_NOWAIT);
    stop_server(child, addr);
}

int main(int argc, char **argv)
{
    double gbps;
    char path[128];
    spin_baseline();
    memcpy_baseline(&gbps);
    snprintf(path, sizeof(path), "shm:/tmp/mlos-bench-%d.sock", getpid());
    for (int i = 1; i < argc || i == 1; i++) {
        const char *t = argc > 1 ? argv[i] : NULL;
        if (!t || !strcmp(t, "shm"))
            bench_transport("shm (2 processes)", path, gbps);
        if (!t || !strcmp(t, "tcp"))
            bench_transport("tcp loopback (2 processes)", "tcp:127.0.0.1:0", gbps);
        if (t && !strncmp(t, "verbs:", 6)) {
            char a[128];
            snprintf(a, sizeof(a), "%s:0", t);
            bench_transport("verbs", a, gbps);
        }
    }
    return 0;
}
