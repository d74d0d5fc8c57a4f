/* Messaging conformance suite: the same checks for every transport.
 *   test_msg LISTEN_ADDR        e.g. shm:/tmp/x.sock  tcp:127.0.0.1:0  verbs:10.0.2.15:0
 * A listener and a connecting endpoint live in two domains on one loop
 * (the transports cannot tell: each has its own keys, memory and sockets). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mlos_endian.h"
#include "mlos.pb-c.h"
#include "msg.h"
#include "msg_transport.h" /* endpoint states */

static uv_loop_t *loop;
static mlos_domain_t da, db;  /* a: client, b: server */
static mlos_listener_t lis;
static mlos_ep_t ea, eb;      /* a's and b's end of the connection */
static int accepted, connected_status = 1;

static void run_until(const int *flag)
{
    uint64_t t0 = uv_hrtime();
    while (!*flag && uv_hrtime() - t0 < 20000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    if (!*flag)
        fprintf(stderr, "timed out waiting\n");
}

/* ---- receiving side bookkeeping ---- */
#define NMSG 5000
static uint32_t recv_count, recv_bad, last_type;
static uint8_t last_msg[64];
static size_t last_len;
static struct mlos_rkey got_rkey;
static int got_rkey_flag;

/* messages around a refused put (test_burst_around_error): type BURST +
 * dir * NBURST + i, length burst_len(i), byte k == (uint8_t)(k * 13) */
#define BURST 30000
#define NBURST 300
static uint32_t burst_next[2], burst_bad;
static size_t burst_len(uint32_t i) { return i % 7 == 3 ? 40000 : 8 + i % 50; } /* some span fragments */

static void burst_recv(uint32_t type, const uint8_t *p, size_t len)
{
    uint32_t d = (type - BURST) / NBURST, i = (type - BURST) % NBURST;
    if (i != burst_next[d] || len != burst_len(i))
        burst_bad++; /* lost, duplicated or reordered */
    for (size_t k = 0; k < len; k++)
        if (p[k] != (uint8_t)(k * 13)) {
            burst_bad++;
            break;
        }
    burst_next[d]++;
}

/* mlos_sendv messages: type SV + i, length sv_len(i), byte k == sv_byte(i, k) */
#define SV 40000
#define NSV 40
static uint32_t sv_next, sv_bad;
static size_t sv_len(uint32_t i) { return i == 0 ? MLOS_EP_MAX_MSG : i % 3 == 0 ? 200000 + i : 1000 + i * 37; }
static uint8_t sv_byte(uint32_t i, size_t k) { return (uint8_t)(k * 7 + i * 3 + 1); }

static void sv_recv(uint32_t type, const uint8_t *p, size_t len)
{
    uint32_t i = type - SV;
    if (i != sv_next % NSV || len != sv_len(i))
        sv_bad++;
    for (size_t k = 0; k < len; k++)
        if (p[k] != sv_byte(i, k)) {
            sv_bad++;
            break;
        }
    sv_next++;
}

static void on_recv(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (type >= SV && type < SV + NSV) {
        sv_recv(type, p, len);
        return;
    }
    if (type >= BURST && type < BURST + 2 * NBURST) {
        burst_recv(type, p, len);
        return;
    }
    last_type = type;
    last_len = len;
    memcpy(last_msg, data, len < sizeof(last_msg) ? len : sizeof(last_msg));
    if (type == 7) { /* an exported rkey */
        if (mlos_rkey_decode(data, len, &got_rkey) == 0)
            got_rkey_flag = 1;
        return;
    }
    if (type >= 1000 && type < 1000 + NMSG) {
        /* sequence check: i-th message has type 1000+i, length and pattern derived from i */
        uint32_t i = type - 1000;
        size_t want = (i * 7919u) % 3000;
        if (i != recv_count || len != want)
            recv_bad++;
        for (size_t k = 0; k < len; k++)
            if (p[k] != (uint8_t)(i + k)) {
                recv_bad++;
                break;
            }
        recv_count++;
    }
}

static void on_connection(mlos_listener_t *l, int status)
{
    CHECK_EQ(status, 0);
    eb.on_recv = on_recv;
    CHECK_EQ(mlos_accept(l, &eb), 0);
    accepted = 1;
}

static void on_connect(mlos_ep_t *ep, int status) { connected_status = status; }

/* ---- completions ---- */
static int done_count, done_status_sum, last_status, done_flag;
static void wr_done(mlos_wr_t *wr, int status)
{
    done_count++;
    last_status = status;
    if (status)
        done_status_sum++;
    done_flag = 1;
}

static int wait_wr(void)
{
    done_flag = 0;
    run_until(&done_flag);
    return last_status;
}

/* Requests of both ends queued around a put the target refuses: only that
 * put fails; every message arrives once, in order; the puts and gets
 * around it land (verbs: posted again after the queue pairs recovered). */
static int burst_fails, burst_done, bad_put_status[2], bad_put_done;
static void burst_wr_done(mlos_wr_t *wr, int status)
{
    burst_done++;
    if (status)
        burst_fails++;
}
static void bad_put_cb(mlos_wr_t *wr, int status)
{
    bad_put_status[bad_put_done++ & 1] = status;
}

static void test_burst_around_error(const uint8_t *pattern, mlos_mr_t *src, mlos_mr_t *dst, mlos_mr_t *target,
                                    const struct mlos_rkey *rk)
{
    static mlos_wr_t sends[2][NBURST], bad[2], put, get;
    struct mlos_rkey forged = *rk;
    const size_t PL = 256 * 1024;
    int want_done = 2 * NBURST + 2;
    forged.rkey ^= 0x20000;
    forged.verbs_rkey ^= 0x200;
    memset(target->addr, 0, PL);
    memset(dst->addr, 0, PL);
    /* refused puts first in a fresh credit window (what follows is in flight
     * when the error comes back) and in mid-stream */
    for (uint32_t i = 0; i < NBURST; i++) {
        if (i == 0 || i == NBURST / 2)
            CHECK_EQ(mlos_ep_put(&ea, &bad[i != 0], src, 0, &forged, 0, 64, bad_put_cb), 0);
        if (i == 2) {
            CHECK_EQ(mlos_ep_put(&ea, &put, src, 0, rk, 0, PL, burst_wr_done), 0);
            CHECK_EQ(mlos_ep_get(&ea, &get, dst, 0, rk, 0, PL, burst_wr_done), 0); /* after the put: RC order */
        }
        CHECK_EQ(mlos_send(&ea, &sends[0][i], BURST + i, pattern, burst_len(i), burst_wr_done), 0);
        CHECK_EQ(mlos_send(&eb, &sends[1][i], BURST + NBURST + i, pattern, burst_len(i), burst_wr_done), 0);
    }
    uint64_t t0 = uv_hrtime();
    while ((burst_next[0] < NBURST || burst_next[1] < NBURST || burst_done < want_done || bad_put_done < 2) &&
           uv_hrtime() - t0 < 20000000000ull && !burst_bad)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(bad_put_done, 2);
    CHECK_EQ(bad_put_status[0], MLOS_EKEY);
    CHECK_EQ(bad_put_status[1], MLOS_EKEY);
    CHECK_EQ(burst_done, want_done);
    CHECK_EQ(burst_fails, 0);
    CHECK_EQ(burst_next[0], NBURST);
    CHECK_EQ(burst_next[1], NBURST);
    CHECK_EQ(burst_bad, 0);
    CHECK(memcmp(target->addr, src->addr, PL) == 0);
    CHECK(memcmp(dst->addr, src->addr, PL) == 0);
    CHECK_EQ(ea.state, MLOS_EP_OPEN);
    CHECK_EQ(eb.state, MLOS_EP_OPEN);
}

/* Connecting where nobody listens fails cleanly with a clear code. */
/* mlos_sendv: the buffers are the caller's again on return (overwritten
 * here at once), whether the link was idle (tcp: written from them) or
 * busy (copied); order and bytes arrive intact. Then placement: tcp takes
 * a big message straight into a region, shm and verbs do not offer it. */
static int placed_status = 1;
static mlos_mr_t place_mr;
static int place_hook(mlos_ep_t *ep, struct mlos_place *pl)
{
    if (pl->type != SV + 1000)
        return 0;
    pl->mr = &place_mr;
    pl->off = mlos_get_le32(pl->head);
    return 0;
}
static void placed_hook(mlos_ep_t *ep, struct mlos_place *pl, int status) { placed_status = status; }

static void test_sendv(void)
{
    static mlos_wr_t wrs[NSV];
    uint8_t *scratch = malloc(MLOS_EP_MAX_MSG);
    struct mlos_iov iov[MLOS_EP_SENDV_MAX + 1];
    mlos_wr_t w;

    CHECK_EQ(mlos_sendv(&ea, &w, SV, iov, MLOS_EP_SENDV_MAX + 1, wr_done), MLOS_EINVAL);
    iov[0] = (struct mlos_iov){NULL, 1};
    CHECK_EQ(mlos_sendv(&ea, &w, SV, iov, 1, wr_done), MLOS_EINVAL);
    iov[0] = (struct mlos_iov){scratch, MLOS_EP_MAX_MSG};
    iov[1] = (struct mlos_iov){scratch, 1};
    CHECK_EQ(mlos_sendv(&ea, &w, SV, iov, 2, wr_done), MLOS_ETOOBIG);
    for (int round = 0; round < 2; round++) {
        /* round 0: all posted at once (the link is busy after the first);
         * round 1: the loop drains the link between them */
        done_count = done_status_sum = 0;
        for (uint32_t i = 0; i < NSV; i++) {
            size_t len = sv_len(i), a = len / 3, b = len / 2;
            for (size_t k = 0; k < len; k++)
                scratch[k] = sv_byte(i, k);
            iov[0] = (struct mlos_iov){scratch, a};
            iov[1] = (struct mlos_iov){scratch + a, 0};
            iov[2] = (struct mlos_iov){scratch + a, b - a};
            iov[3] = (struct mlos_iov){scratch + b, len - b};
            CHECK_EQ(mlos_sendv(&ea, &wrs[i], SV + i, iov, 4, wr_done), 0);
            memset(scratch, 0xEE, len); /* free again: the message must not change */
            while (round == 1 && done_count <= (int)i)
                uv_run(loop, UV_RUN_ONCE);
        }
        while (sv_next < NSV * (round + 1u) || done_count < NSV)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(sv_bad, 0);
        CHECK_EQ(done_status_sum, 0);
    }

    /* placement */
    int tcp = !strcmp(eb.transport, "tcp");
    CHECK_EQ(mlos_ep_set_place(&eb, 4, place_hook, placed_hook), tcp ? 0 : MLOS_ENOTSUP);
    if (tcp) {
        const size_t n = MLOS_EP_MAX_MSG - 4;
        uint8_t off[4];
        CHECK_EQ(mlos_mr_alloc(&db, &place_mr, 2 * MLOS_EP_MAX_MSG, MLOS_ACCESS_LOCAL), 0);
        mlos_put_le32(off, 777);
        for (size_t k = 0; k < n; k++)
            scratch[k] = sv_byte(5, k);
        iov[0] = (struct mlos_iov){off, 4};
        iov[1] = (struct mlos_iov){scratch, n};
        CHECK_EQ(mlos_sendv(&ea, &w, SV + 1000, iov, 2, wr_done), 0);
        while (placed_status == 1)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(placed_status, 0);
        CHECK(!memcmp((uint8_t *)place_mr.addr + 777, scratch, n));
        CHECK(((uint8_t *)place_mr.addr)[776] == 0 && ((uint8_t *)place_mr.addr)[777 + n] == 0);
        /* outside the region: refused, nothing written */
        mlos_put_le32(off, (uint32_t)(2 * MLOS_EP_MAX_MSG - n + 1));
        placed_status = 1;
        CHECK_EQ(mlos_sendv(&ea, &w, SV + 1000, iov, 2, wr_done), 0);
        while (placed_status == 1)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(placed_status, MLOS_ERANGE);
        CHECK(((uint8_t *)place_mr.addr)[2 * MLOS_EP_MAX_MSG - 1] == 0);
        CHECK_EQ(mlos_ep_set_place(&eb, 0, NULL, NULL), 0);
        CHECK_EQ(mlos_mr_dereg(&place_mr), 0);
        while (done_count < NSV + 2)
            uv_run(loop, UV_RUN_ONCE);
    }
    free(scratch);
}

static int refused_closed;
static void refused_close_cb(mlos_ep_t *ep) { refused_closed = 1; }

static void test_connect_refused(const char *listen_addr)
{
    static mlos_ep_t e;
    char bad[256];
    if (!strncmp(listen_addr, "shm:", 4))
        snprintf(bad, sizeof(bad), "shm:/tmp/mlos-nobody-%d.sock", getpid());
    else if (!strncmp(listen_addr, "tcp:", 4))
        snprintf(bad, sizeof(bad), "tcp:127.0.0.1:1");
    else
        return; /* verbs: its side channel is tcp, covered there */
    connected_status = 1;
    CHECK_EQ(mlos_connect(&da, &e, bad, 2000, on_connect), 0);
    while (connected_status == 1)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(connected_status == MLOS_ECONNREFUSED || connected_status == MLOS_ENOENT);
    CHECK(mlos_send(&e, &(mlos_wr_t){0}, 1, "x", 1, wr_done) < 0);
    CHECK_EQ(mlos_ep_close(&e, refused_close_cb), 0);
    run_until(&refused_closed);
}

/* Loop passes in the next ms milliseconds (a timer ends the window; a
 * check handle counts): a loop that sleeps makes a few, one that polls
 * makes thousands. */
static unsigned passes;
static int window_over;
static void count_pass(uv_check_t *h) { passes++; }
static void end_window(uv_timer_t *t) { window_over = 1; }
static unsigned loop_passes(unsigned ms)
{
    uv_check_t ck;
    uv_timer_t tm;
    uv_check_init(loop, &ck);
    uv_timer_init(loop, &tm);
    passes = 0;
    window_over = 0;
    uv_check_start(&ck, count_pass);
    uv_timer_start(&tm, end_window, ms, 0);
    while (!window_over)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&ck, NULL);
    uv_close((uv_handle_t *)&tm, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return passes;
}

/* Polling mode: verbs polls its completion queue for the window after a
 * message and then sleeps again; the transports without one say so. */
static void test_spin(int verbs)
{
    mlos_wr_t w;
    CHECK_EQ(mlos_ep_set_spin(&ea, MLOS_EP_SPIN_MAX_US + 1), MLOS_EINVAL);
    CHECK_EQ(mlos_ep_set_spin(NULL, 10), MLOS_EINVAL);
    if (!verbs) {
        CHECK_EQ(mlos_ep_set_spin(&ea, 200), MLOS_ENOTSUP);
        return;
    }
    CHECK_EQ(mlos_ep_set_spin(&ea, 150000), 0);
    CHECK_EQ(mlos_ep_set_spin(&eb, 150000), 0);
    last_type = 0;
    CHECK_EQ(mlos_send(&ea, &w, 9, "spin", 4, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    while (last_type != 9)
        uv_run(loop, UV_RUN_ONCE);
    unsigned busy = loop_passes(50); /* inside the 150 ms after the message */
    loop_passes(200);                /* past it */
    unsigned idle = loop_passes(100);
    printf("polling mode: %u loop passes in 50 ms right after a message, %u in 100 ms once it ran out\n", busy,
           idle);
    CHECK(busy > 200);
    CHECK(idle < 20);
    /* the rest of the suite runs over polling links, both ways */
    CHECK_EQ(mlos_ep_set_spin(&ea, 200), 0);
    CHECK_EQ(mlos_ep_set_spin(&eb, 200), 0);
}

int main(int argc, char **argv)
{
    char addr[256];
    if (argc < 2) {
        fprintf(stderr, "usage: test_msg LISTEN_ADDR\n");
        return 2;
    }
    loop = uv_default_loop();
    unsigned flags = strncmp(argv[1], "verbs:", 6) ? 0 : MLOS_DOMAIN_VERBS;
    CHECK_EQ(mlos_domain_init(&da, loop, flags), 0);
    CHECK_EQ(mlos_domain_init(&db, loop, flags), 0);

    test_connect_refused(argv[1]);
    /* unknown transport */
    CHECK_EQ(mlos_listen(&db, &lis, "carrier-pigeon:1", on_connection), MLOS_EINVAL);

    CHECK_EQ(mlos_listen(&db, &lis, argv[1], on_connection), 0);
    CHECK(mlos_listener_addr(&lis, addr, sizeof(addr)) == 0);
    printf("listening on %s\n", addr);
    ea.on_recv = on_recv;
    connected_status = 1;
    CHECK_EQ(mlos_connect(&da, &ea, addr, 5000, on_connect), 0);
    while ((connected_status == 1 || !accepted))
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(connected_status, 0);
    if (connected_status != 0)
        return 1;
    CHECK(!strncmp(ea.transport, argv[1], strlen(ea.transport)));
    test_spin(flags == MLOS_DOMAIN_VERBS);

    /* ---- two-sided: order, sizes, more than the credits in flight ---- */
    static mlos_wr_t wrs[NMSG];
    static uint8_t bufs[NMSG][3000];
    for (uint32_t i = 0; i < NMSG; i++) {
        size_t len = (i * 7919u) % 3000;
        for (size_t k = 0; k < len; k++)
            bufs[i][k] = (uint8_t)(i + k);
        CHECK_EQ(mlos_send(&ea, &wrs[i], 1000 + i, bufs[i], len, wr_done), 0);
    }
    while (recv_count < NMSG && done_count < NMSG * 2) {
        uv_run(loop, UV_RUN_ONCE);
        if (done_count >= NMSG && recv_count >= NMSG)
            break;
    }
    while (done_count < NMSG)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(recv_count, NMSG);
    CHECK_EQ(recv_bad, 0);
    CHECK_EQ(done_status_sum, 0);

    /* largest message, both directions; too large is refused */
    uint8_t *big = malloc(MLOS_EP_MAX_MSG + 1);
    for (size_t k = 0; k < MLOS_EP_MAX_MSG; k++)
        big[k] = (uint8_t)(k * 13);
    mlos_wr_t w;
    CHECK_EQ(mlos_send(&ea, &w, 5, big, MLOS_EP_MAX_MSG + 1, wr_done), MLOS_ETOOBIG);
    last_len = 0;
    CHECK_EQ(mlos_send(&ea, &w, 5, big, MLOS_EP_MAX_MSG, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    while (last_len != MLOS_EP_MAX_MSG)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(last_type, 5);
    CHECK(last_msg[1] == 13 && last_msg[2] == 26);
    last_len = 1;
    CHECK_EQ(mlos_send(&eb, &w, 6, "", 0, wr_done), 0); /* empty message, reverse direction */
    CHECK_EQ(wait_wr(), 0);
    while (last_len != 0)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(last_type, 6);

    /* a protobuf-c message: packed by the library, unpacked by the receiver */
    {
        Mlos__TaskCall call = MLOS__TASK_CALL__INIT;
        call.task = "sum_u64";
        call.arg.data = (uint8_t *)"0123456789abcdef";
        call.arg.len = 16;
        last_len = 0;
        CHECK_EQ(mlos_send_pb(&ea, &w, 8, &call.base, wr_done), 0);
        CHECK_EQ(wait_wr(), 0);
        while (last_type != 8)
            uv_run(loop, UV_RUN_ONCE);
        Mlos__TaskCall *back = mlos__task_call__unpack(NULL, last_len, last_msg);
        CHECK(back && !strcmp(back->task, "sum_u64") && back->arg.len == 16);
        if (back)
            mlos__task_call__free_unpacked(back, NULL);
    }

    test_sendv();

    /* ---- one-sided ---- */
    /* b exports a writable region with guard bytes around it (inside a bigger local region) */
    const size_t RL = 1 << 20;
    mlos_mr_t target, ro, src, dst;
    CHECK_EQ(mlos_mr_alloc(&db, &target, RL, MLOS_ACCESS_REMOTE_WRITE | MLOS_ACCESS_REMOTE_READ), 0);
    CHECK_EQ(mlos_mr_alloc(&db, &ro, 4096, MLOS_ACCESS_REMOTE_READ), 0);
    memset(ro.addr, 0x5A, 4096);
    CHECK_EQ(mlos_mr_alloc(&da, &src, RL, MLOS_ACCESS_LOCAL), 0);
    CHECK_EQ(mlos_mr_alloc(&da, &dst, RL, MLOS_ACCESS_LOCAL), 0);
    for (size_t k = 0; k < RL; k++)
        ((uint8_t *)src.addr)[k] = (uint8_t)(k * 31 + 7);

    /* the rkey travels in a message, as applications would do it */
    struct mlos_rkey rk, rk_ro;
    uint8_t wire[MLOS_RKEY_WIRE_SIZE];
    mlos_mr_rkey(&target, &rk);
    mlos_rkey_encode(&rk, wire);
    CHECK_EQ(mlos_send(&eb, &w, 7, wire, sizeof(wire), wr_done), 0);
    CHECK_EQ(wait_wr(), 0); /* w is reused below: let its completion run first */
    run_until(&got_rkey_flag);
    CHECK(got_rkey.rkey == rk.rkey && got_rkey.len == RL);
    mlos_mr_rkey(&ro, &rk_ro);

    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &got_rkey, 0, RL, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    CHECK(memcmp(target.addr, src.addr, RL) == 0);
    /* an unaligned piece at the end */
    memset(target.addr, 0, RL);
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 3, &got_rkey, RL - 1001, 1001, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    CHECK(memcmp((uint8_t *)target.addr + RL - 1001, (uint8_t *)src.addr + 3, 1001) == 0);
    CHECK(((uint8_t *)target.addr)[RL - 1002] == 0);
    /* get it back */
    CHECK_EQ(mlos_ep_get(&ea, &w, &dst, 10, &got_rkey, RL - 1001, 1001, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    CHECK(memcmp((uint8_t *)dst.addr + 10, (uint8_t *)src.addr + 3, 1001) == 0);

    /* local checks: out of range, wrong access, unregistered local region */
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &got_rkey, RL - 10, 11, wr_done), MLOS_ERANGE);
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, RL - 5, &got_rkey, 0, 10, wr_done), MLOS_ERANGE);
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &got_rkey, UINT64_MAX - 5, 10, wr_done), MLOS_ERANGE);
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &rk_ro, 0, 10, wr_done), MLOS_EACCES);

    /* target-side checks: a forged key, a forged length, forged rights, a
     * revoked key. Each fails only its own request: both ends stay open
     * (verbs: the RC queue pairs go to the error state and are recovered)
     * and the next check runs on the same endpoint. */
    struct mlos_rkey forged = got_rkey;
    forged.rkey ^= 0x10000;
    forged.verbs_rkey ^= 0x100;
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &forged, 0, 64, wr_done), 0);
    CHECK_EQ(wait_wr(), MLOS_EKEY);
    CHECK_EQ(ea.state, MLOS_EP_OPEN);

    forged = got_rkey;
    forged.len = 2 * RL; /* lie about the size: the target must refuse */
    memset(target.addr, 0, RL);
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &forged, RL - 8, 64, wr_done), 0);
    int st = wait_wr();
    CHECK(st == MLOS_ERANGE || st == MLOS_EKEY || st == MLOS_EACCES);
    CHECK(((uint8_t *)target.addr)[RL - 8] == 0); /* nothing written, not even the part that fits */
    CHECK_EQ(ea.state, MLOS_EP_OPEN);

    forged = rk_ro;
    forged.access |= MLOS_ACCESS_REMOTE_WRITE;
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &forged, 0, 64, wr_done), 0);
    st = wait_wr();
    CHECK(st == MLOS_EACCES || st == MLOS_EKEY);
    CHECK(((uint8_t *)ro.addr)[0] == 0x5A);
    CHECK_EQ(ea.state, MLOS_EP_OPEN);

    /* the endpoint still works after the errors: a put, a get, messages */
    memset(target.addr, 0, RL);
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &got_rkey, 0, 4096, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    CHECK(memcmp(target.addr, src.addr, 4096) == 0);
    CHECK_EQ(mlos_ep_get(&ea, &w, &dst, 0, &rk_ro, 0, 4096, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    CHECK(((uint8_t *)dst.addr)[4095] == 0x5A);
    last_type = 0;
    CHECK_EQ(mlos_send(&eb, &w, 9, "after", 5, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    while (last_type != 9 && ea.state == MLOS_EP_OPEN)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(last_type == 9 && last_len == 5 && !memcmp(last_msg, "after", 5));

    test_burst_around_error(big, &src, &dst, &target, &got_rkey);

    /* a revoked key stops working */
    CHECK_EQ(mlos_mr_dereg(&target), 0);
    CHECK_EQ(mlos_ep_put(&ea, &w, &src, 0, &got_rkey, 0, 64, wr_done), 0);
    CHECK_EQ(wait_wr(), MLOS_EKEY);
    CHECK_EQ(ea.state, MLOS_EP_OPEN);
    CHECK_EQ(eb.state, MLOS_EP_OPEN);
    last_type = 0;
    CHECK_EQ(mlos_send(&ea, &w, 10, "still", 5, wr_done), 0);
    CHECK_EQ(wait_wr(), 0);
    while (last_type != 10 && eb.state == MLOS_EP_OPEN)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(last_type, 10);

    /* ---- teardown: the peer notices; requests after that fail ---- */

    CHECK_EQ(mlos_ep_close(&ea, NULL), 0);
    for (int i = 0; i < 50 && eb.state == MLOS_EP_OPEN; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
    CHECK(eb.state != MLOS_EP_OPEN); /* b's end saw the close */
    CHECK(mlos_send(&eb, &w, 1, "x", 1, wr_done) < 0);
    if (eb.state != MLOS_EP_CLOSED && eb.state != MLOS_EP_CLOSING)
        mlos_ep_close(&eb, NULL);
    mlos_listener_close(&lis);
    mlos_mr_dereg(&ro);
    mlos_mr_dereg(&src);
    mlos_mr_dereg(&dst);
    for (int i = 0; i < 10; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&da), 0);
    CHECK_EQ(mlos_domain_close(&db), 0);
    uv_run(loop, UV_RUN_DEFAULT); /* returns only if every handle was closed */
    free(big);
    CHECK_DONE();
}
