/* Raw libuv TCP baseline over loopback, no mlos: what the "tcp:" messaging
 * transport is measured against.
 *
 *   bench_tcp_pingpong [ROUND_TRIPS] [STREAM_MIB]
 *
 * A forked echo server and this process, each with its own loop, TCP_NODELAY:
 *   - ping-pong: write 8 bytes, wait for the 8-byte echo; round-trip p50 and
 *     p99 over ROUND_TRIPS (default 20000, after 1000 warm-up trips);
 *   - stream: STREAM_MIB (default 2048) one-MiB uv_writes, 4 in flight; the
 *     server answers one byte after the last one; MiB/s from first write to
 *     that answer.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include "percentile.h"

#define PING 8
#define CHUNK (1u << 20)
#define INFLIGHT 4
#define WARMUP 1000

static uv_loop_t *loop;
static uv_tcp_t conn;
static unsigned ntrips;       /* pings including the warm-up */
static uint64_t stream_bytes; /* bytes streamed after the last ping */
static char rbuf[1 << 20]; /* big reads: the stream is bounded by the kernel, not by syscalls */

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_tcp_pingpong: %s: %s\n", what, uv_strerror(rc));
    exit(1);
}

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b) { *b = uv_buf_init(rbuf, sizeof(rbuf)); }

static void free_write(uv_write_t *w, int status)
{
    if (status < 0)
        die("write", status);
    free(w);
}

/* Write a copy of n bytes (small writes only). */
static void write_copy(uv_stream_t *s, const void *p, size_t n)
{
    uv_write_t *w = malloc(sizeof(*w) + n);
    memcpy(w + 1, p, n);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)n);
    int rc = uv_write(w, s, &b, 1, free_write);
    if (rc < 0)
        die("uv_write", rc);
}

/* ---- server: echo 8-byte pings, then count stream bytes and ack ---- */

static uint64_t srv_ping_bytes, srv_pings, srv_stream;

static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, NULL);
        return;
    }
    /* first phase: echo every complete 8-byte ping; the client sends the
     * stream only after its last ping was answered */
    while (n > 0 && srv_pings < ntrips) {
        size_t take = PING - srv_ping_bytes % PING;
        if ((size_t)n < take)
            take = (size_t)n;
        srv_ping_bytes += take;
        n -= (ssize_t)take;
        b = &(uv_buf_t){.base = b->base + take, .len = b->len - take};
        if (srv_ping_bytes % PING == 0) {
            srv_pings++;
            write_copy(s, "pongpong", PING);
        }
    }
    if (n > 0) {
        srv_stream += (uint64_t)n;
        if (srv_stream == stream_bytes)
            write_copy(s, "!", 1);
    }
}

static void srv_conn(uv_stream_t *l, int status)
{
    if (status < 0)
        die("listen", status);
    uv_tcp_init(loop, &conn);
    if (uv_accept(l, (uv_stream_t *)&conn) < 0)
        die("accept", status);
    uv_tcp_nodelay(&conn, 1);
    uv_read_start((uv_stream_t *)&conn, alloc_cb, srv_read);
    uv_close((uv_handle_t *)l, NULL);
}

/* Child: its own loop (a loop must not cross fork: the epoll set would be
 * shared), echo until the client leaves. */
static void serve(int lfd)
{
    uv_loop_t own;
    uv_tcp_t server;
    int rc;
    loop = &own;
    uv_loop_init(loop);
    uv_tcp_init(loop, &server);
    if ((rc = uv_tcp_open(&server, lfd)) < 0 || (rc = uv_listen((uv_stream_t *)&server, 1, srv_conn)) < 0)
        die("listen", rc);
    uv_run(loop, UV_RUN_DEFAULT);
    _exit(0);
}

/* ---- client ---- */

static uint64_t *rtt, t_sent, ping_recv_bytes, stream_start, stream_end;
static unsigned trips;
static unsigned chunks_left, chunks_inflight;
static char *chunk;
static int got_ack;

static void start_stream(void);

static void ping(void)
{
    t_sent = uv_hrtime();
    write_copy((uv_stream_t *)&conn, "pingping", PING);
}

static void cli_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0)
        die("client read", (int)n);
    if (trips < ntrips) {
        ping_recv_bytes += (uint64_t)n;
        if (ping_recv_bytes % PING == 0) {
            if (trips >= WARMUP)
                rtt[trips - WARMUP] = uv_hrtime() - t_sent;
            if (++trips < ntrips)
                ping();
            else
                start_stream();
        }
        return;
    }
    if (n > 0) {
        stream_end = uv_hrtime();
        got_ack = 1;
        uv_close((uv_handle_t *)s, NULL);
    }
}

static void chunk_written(uv_write_t *w, int status);

static void more_chunks(void)
{
    while (chunks_left && chunks_inflight < INFLIGHT) {
        uv_write_t *w = malloc(sizeof(*w));
        uv_buf_t b = uv_buf_init(chunk, CHUNK);
        int rc = uv_write(w, (uv_stream_t *)&conn, &b, 1, chunk_written);
        if (rc < 0)
            die("stream write", rc);
        chunks_left--;
        chunks_inflight++;
    }
}

static void chunk_written(uv_write_t *w, int status)
{
    if (status < 0)
        die("stream write", status);
    free(w);
    chunks_inflight--;
    more_chunks();
}

static void start_stream(void)
{
    stream_start = uv_hrtime();
    more_chunks();
}

static void cli_connected(uv_connect_t *req, int status)
{
    if (status < 0)
        die("connect", status);
    uv_tcp_nodelay(&conn, 1);
    uv_read_start((uv_stream_t *)&conn, alloc_cb, cli_read);
    ping();
}

int main(int argc, char **argv)
{
    unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
    unsigned mib = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2048;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int rc, st, lfd;
    pid_t pid;

    if (!rounds || !mib) {
        fprintf(stderr, "usage: bench_tcp_pingpong [ROUND_TRIPS] [STREAM_MIB]\n");
        return 2;
    }
    ntrips = WARMUP + rounds;
    stream_bytes = (uint64_t)mib * CHUNK;

    /* listen before forking so the client can connect at once */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
        perror("bench_tcp_pingpong: listen");
        return 1;
    }
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0)
        serve(lfd);
    close(lfd);
    loop = uv_default_loop();

    rtt = malloc(sizeof(*rtt) * rounds);
    chunk = malloc(CHUNK);
    memset(chunk, 0xA5, CHUNK);
    chunks_left = mib;
    uv_tcp_init(loop, &conn);
    uv_connect_t creq;
    if ((rc = uv_tcp_connect(&creq, &conn, (struct sockaddr *)&sa, cli_connected)) < 0)
        die("connect", rc);
    uv_run(loop, UV_RUN_DEFAULT);
    waitpid(pid, &st, 0);
    if (!got_ack) {
        fprintf(stderr, "bench_tcp_pingpong: stream did not finish\n");
        return 1;
    }

    qsort(rtt, rounds, sizeof(*rtt), bench_cmp_u64);
    printf("raw libuv tcp loopback, 8-byte ping-pong: p50 %.2f us  p99 %.2f us  (%u round trips)\n",
           rtt[rounds / 2] / 1e3, rtt[(size_t)rounds * 99 / 100] / 1e3, rounds);
    printf("raw libuv tcp loopback, 1 MiB writes: %.0f MiB/s  (%u MiB)\n",
           (double)mib / ((stream_end - stream_start) / 1e9), mib);
    free(rtt);
    free(chunk);
    return 0;
}
