/* A tcp peer that floods GET requests and never reads the replies must not
 * grow the target without bound, nor keep it from serving others.
 *
 * The target (a tcp listener with a readable region) runs in this process;
 * a raw socket plays the flooder: a valid hello, then argv[1] (default
 * 1000) GETs of 256 KiB each with the region's real key -- 250 MB of
 * replies -- written as fast as the socket takes them, without reading.
 * While it floods, the target's resident memory must stay within 48 MiB of
 * where it started (the bound is MLOS_EP_OUT_SOFT plus one chunk), and an
 * honest client must get a 1 MiB GET served. Then the flooder reads: every
 * reply arrives, in order, with the right bytes (backpressure loses
 * nothing). With "idle" as argv[2] (slow, not run in CI) the flooder then
 * stops reading again for good and must be dropped after
 * MLOS_EP_IDLE_TIMEOUT_MS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "msg.h"
#include "msg_tcp_wire.h"
#include "msg_transport.h"

#if defined(__SANITIZE_ADDRESS__)
/* ASan keeps freed blocks in a quarantine (256 MiB by default): the reply
 * buffers the target already wrote and freed would count as resident. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=4"; }
#endif

#define GET_LEN (256u << 10)
#define REGION (1u << 20)
#define RSS_SLACK (48u << 20)

static uv_loop_t *loop;
static mlos_domain_t dt, dc;
static mlos_listener_t lis;
static mlos_ep_t accepted[4];
static int naccepted;
static mlos_mr_t region;

static void on_conn(mlos_listener_t *l, int status)
{
    if (status == 0 && naccepted < 4 && mlos_accept(l, &accepted[naccepted]) == 0)
        naccepted++;
}

static size_t rss_bytes(void)
{
    char line[256];
    size_t kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
            break;
    fclose(f);
    return kb << 10;
}

/* ---- the honest client ---- */

static mlos_ep_t hc;
static mlos_mr_t hlocal;
static int h_connected, h_done, h_status;
static void h_connect(mlos_ep_t *ep, int status) { h_connected = status == 0 ? 1 : status; }
static void h_got(mlos_wr_t *wr, int status)
{
    h_status = status;
    h_done = 1;
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
    int idle = argc > 2 && !strcmp(argv[2], "idle");
    char addr[64];
    unsigned port;
    struct mlos_rkey rk;

    loop = uv_default_loop();
    CHECK_EQ(mlos_domain_init(&dt, loop, 0), 0);
    CHECK_EQ(mlos_domain_init(&dc, loop, 0), 0);
    CHECK_EQ(mlos_listen(&dt, &lis, "tcp:127.0.0.1:0", on_conn), 0);
    CHECK_EQ(mlos_listener_addr(&lis, addr, sizeof(addr)), 0);
    CHECK(sscanf(addr, "tcp:127.0.0.1:%u", &port) == 1);
    CHECK_EQ(mlos_mr_alloc(&dt, &region, REGION, MLOS_ACCESS_REMOTE_READ), 0);
    for (size_t i = 0; i < REGION; i++)
        ((uint8_t *)region.addr)[i] = (uint8_t)(i * 7 + (i >> 12));
    mlos_mr_rkey(&region, &rk);
    CHECK_EQ(mlos_mr_alloc(&dc, &hlocal, REGION, MLOS_ACCESS_LOCAL), 0);
    if (check_failures)
        CHECK_DONE();

    /* the flooder */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    uint8_t hello[MLOS_TCP_HELLO_SIZE];
    mlos_tcp_hello_encode(hello);
    CHECK(write(fd, hello, sizeof(hello)) == (ssize_t)sizeof(hello));
    while (naccepted < 1)
        uv_run(loop, UV_RUN_ONCE);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    size_t base = rss_bytes(), peak = base;
    uint8_t *reqs = malloc((size_t)n * MLOS_TCP_HDR_SIZE);
    for (unsigned i = 0; i < n; i++)
        mlos_tcp_hdr_encode(&(struct mlos_tcp_hdr){.op = MLOS_TCP_GET, .arg = rk.rkey, .id = i + 1,
                                                  .off = (uint64_t)(i % 4) * GET_LEN, .len = GET_LEN,
                                                  .key = rk.secret},
                            reqs + (size_t)i * MLOS_TCP_HDR_SIZE);
    size_t sent = 0, total = (size_t)n * MLOS_TCP_HDR_SIZE;
    uint64_t t0 = uv_hrtime(), stalled_since = 0;
    /* flood for up to 3 s, or until everything is written and the target
     * has had a second to choke on it */
    while (uv_hrtime() - t0 < 3000000000ull) {
        if (sent < total) {
            ssize_t w = write(fd, reqs + sent, total - sent);
            if (w > 0) {
                sent += (size_t)w;
                stalled_since = 0;
            } else if (!stalled_since) {
                stalled_since = uv_hrtime();
            }
        }
        uv_run(loop, UV_RUN_NOWAIT);
        size_t r = rss_bytes();
        if (r > peak)
            peak = r;
        if ((sent == total || (stalled_since && uv_hrtime() - stalled_since > 1000000000ull)) &&
            uv_hrtime() - t0 > 1000000000ull)
            break;
    }
    printf("flood: %zu of %u GETs written (%zu MB of replies asked for), target RSS +%zu MB (bound %u MB)\n",
           sent / MLOS_TCP_HDR_SIZE, n, sent / MLOS_TCP_HDR_SIZE * GET_LEN >> 20,
           (peak - base) >> 20, RSS_SLACK >> 20);
    CHECK(peak - base < RSS_SLACK);
    CHECK(accepted[0].state == MLOS_EP_OPEN); /* slow is not hostile: it is paused, not dropped */

    /* meanwhile another peer is served */
    hc.on_recv = NULL;
    CHECK_EQ(mlos_connect(&dc, &hc, addr, 3000, h_connect), 0);
    while (!h_connected)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(h_connected, 1);
    mlos_wr_t w;
    CHECK_EQ(mlos_ep_get(&hc, &w, &hlocal, 0, &rk, 0, REGION, h_got), 0);
    uint64_t t1 = uv_hrtime();
    while (!h_done && uv_hrtime() - t1 < 5000000000ull)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(h_done, 1);
    CHECK_EQ(h_status, 0);
    CHECK(memcmp(hlocal.addr, region.addr, REGION) == 0);
    printf("honest client: 1 MiB GET served in %.1f ms during the flood\n", (uv_hrtime() - t1) / 1e6);

    /* the flooder finally reads: every reply, in order, intact */
    size_t want = sent / MLOS_TCP_HDR_SIZE, replies = 0, bad = 0;
    uint8_t *buf = malloc(MLOS_TCP_HELLO_SIZE + MLOS_TCP_HDR_SIZE + GET_LEN);
    size_t have = 0, need = MLOS_TCP_HELLO_SIZE;
    int in_hello = 1;
    uint64_t t2 = uv_hrtime();
    while (replies < want && uv_hrtime() - t2 < 20000000000ull) {
        if (sent < total) { /* the rest of the requests, now that the target reads again */
            ssize_t wn = write(fd, reqs + sent, total - sent);
            if (wn > 0)
                sent += (size_t)wn, want = sent / MLOS_TCP_HDR_SIZE;
        }
        ssize_t r = read(fd, buf + have, need - have);
        if (r > 0)
            have += (size_t)r;
        else if (r == 0 || (errno != EAGAIN && errno != EINTR))
            break;
        if (have == need) {
            struct mlos_tcp_hdr h;
            if (in_hello) {
                in_hello = 0;
                have = 0;
                need = MLOS_TCP_HDR_SIZE;
            } else if (need == MLOS_TCP_HDR_SIZE) {
                if (mlos_tcp_hdr_decode(buf, have, &h, NULL) < 0 || h.op != MLOS_TCP_GET_DATA ||
                    h.id != replies + 1 || h.arg != 0 || h.len != GET_LEN) {
                    bad++;
                    break;
                }
                need += GET_LEN;
            } else {
                const uint8_t *src = (const uint8_t *)region.addr + (replies % 4) * GET_LEN;
                bad += memcmp(buf + MLOS_TCP_HDR_SIZE, src, GET_LEN) != 0;
                replies++;
                have = 0;
                need = MLOS_TCP_HDR_SIZE;
            }
        }
        uv_run(loop, UV_RUN_NOWAIT);
    }
    printf("flooder read %zu of %zu replies back, %zu bad\n", replies, want, bad);
    CHECK_EQ(bad, 0);
    CHECK_EQ(replies, n);
    free(buf);
    if (idle) {
        /* the same flood again, never read: the target gives up on the peer */
        for (size_t off = 0; off < total;) {
            ssize_t wn = write(fd, reqs + off, total - off);
            if (wn > 0)
                off += (size_t)wn;
            uv_run(loop, UV_RUN_NOWAIT);
        }
        uint64_t t3 = uv_hrtime();
        while (accepted[0].state == MLOS_EP_OPEN && uv_hrtime() - t3 < 3ull * MLOS_EP_IDLE_TIMEOUT_MS * 1000000ull)
            uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
        printf("idle flooder dropped after %.1f s\n", (uv_hrtime() - t3) / 1e9);
        CHECK(accepted[0].state != MLOS_EP_OPEN);
    }
    free(reqs);
    close(fd);

    for (int i = 0; i < 100 && accepted[0].state == MLOS_EP_OPEN; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
    for (int i = 0; i < naccepted; i++)
        if (accepted[i].state != MLOS_EP_CLOSED && accepted[i].state != MLOS_EP_CLOSING)
            mlos_ep_close(&accepted[i], NULL);
    mlos_ep_close(&hc, NULL);
    mlos_listener_close(&lis);
    for (int i = 0; i < 20; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    mlos_mr_dereg(&region);
    mlos_mr_dereg(&hlocal);
    for (int i = 0; i < 10; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&dt), 0);
    CHECK_EQ(mlos_domain_close(&dc), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_DONE();
}
