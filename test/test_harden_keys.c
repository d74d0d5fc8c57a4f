/* Region keys against a guessing peer, on the transport named by argv[1]
 * ("tcp:127.0.0.1:0", "shm:PATH", or "verbs:IP:0" where an RDMA device
 * exists); argv[2]: guesses in the campaign. Over verbs the NIC checks its
 * own rkey: guesses are random NIC keys, and the limit is the queue pair
 * recoveries a target allows (MLOS_VERBS_MAX_PEER_RECOVERIES).
 *
 *   unrelated  the secret parts of many regions' keys (and of the same slot
 *              registered again) are all different and look uniformly
 *              random bit by bit: one key says nothing about the next.
 *   drop       a client presenting keys that match no region is answered
 *              MLOS_EKEY MLOS_EP_MAX_BAD_KEYS times, then disconnected: both
 *              ends' on_fail get MLOS_EKEY; the target keeps serving others;
 *              real keys with bad bounds are not counted (shm, tcp).
 *   campaign   guesses (the real handle with a random secret, or a random
 *              handle too) over as many reconnections as it takes: none
 *              ever reads the region, and every connection is cut after
 *              the limit + 1 guesses (verbs: mostly with MLOS_EKEY; a storm
 *              of refusals sometimes breaks the queue pair recovery first,
 *              which closes the connection with MLOS_ECONNRESET).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "check.h"
#include "msg.h"
#include "msg_transport.h"
#include "msg_verbs_wire.h"

#define MAX_PER_CONN (MLOS_VERBS_MAX_PEER_RECOVERIES + 1)

static int verbs;
static unsigned limit = MLOS_EP_MAX_BAD_KEYS; /* bad keys a connection survives */

static uv_loop_t *loop;
static mlos_domain_t dc, dt; /* client, target */
static mlos_listener_t lis;
static char addr[160];
static mlos_mr_t region, local;
static struct mlos_rkey real;

/* ---- target side: accept everything, count what the peers did ---- */

struct tgt {
    mlos_ep_t ep;
};
static int t_open, t_failed_ekey, t_failed_other;

static void tgt_closed(mlos_ep_t *ep)
{
    free(ep->data);
    t_open--;
}

static void tgt_fail(mlos_ep_t *ep, int status)
{
    if (status == MLOS_EKEY)
        t_failed_ekey++;
    else
        t_failed_other++;
    mlos_ep_close(ep, tgt_closed);
}

static void on_conn(mlos_listener_t *l, int status)
{
    struct tgt *t;
    if (status < 0 || !(t = calloc(1, sizeof(*t))))
        return;
    t->ep.data = t;
    t->ep.on_fail = tgt_fail;
    if (mlos_accept(l, &t->ep) < 0) {
        free(t);
        return;
    }
    t_open++;
}

/* ---- client side ---- */

static mlos_ep_t ec;
static int c_connected, c_failed, c_fail_status, c_closed;
static int wr_done, wr_status[MAX_PER_CONN + 8];

static void c_connect(mlos_ep_t *ep, int status) { c_connected = status == 0 ? 1 : status; }
static void c_fail(mlos_ep_t *ep, int status)
{
    c_failed = 1;
    c_fail_status = status;
}
static void c_close(mlos_ep_t *ep) { c_closed = 1; }
static void got(mlos_wr_t *wr, int status)
{
    wr_status[(intptr_t)wr->data] = status;
    wr_done++;
}

static int run_until(int *flag, int want, unsigned ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (*flag < want && uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT);
    return *flag >= want;
}

static int client_connect(void)
{
    c_connected = c_failed = c_fail_status = c_closed = 0;
    ec.on_fail = c_fail;
    if (mlos_connect(&dc, &ec, addr, 3000, c_connect) < 0)
        return -1;
    while (!c_connected)
        uv_run(loop, UV_RUN_ONCE);
    return c_connected == 1 ? 0 : -1;
}

static void client_close(void)
{
    if (ec.state != MLOS_EP_CLOSED && ec.state != MLOS_EP_CLOSING && mlos_ep_close(&ec, c_close) == 0)
        while (!c_closed)
            uv_run(loop, UV_RUN_ONCE);
}

static uint64_t rnd64(void)
{
    uint64_t v;
    CHECK(getrandom(&v, sizeof(v), 0) == sizeof(v));
    return v;
}

/* ---- cases ---- */

static void unrelated(void)
{
    enum { N = 2000 };
    static uint64_t sec[N];
    static uint8_t buf[64];
    unsigned ones[64] = {0};
    mlos_mr_t a, b;

    CHECK_EQ(mlos_mr_reg(&dc, &a, buf, 32, MLOS_ACCESS_REMOTE_READ), 0);
    CHECK_EQ(mlos_mr_reg(&dc, &b, buf + 32, 32, MLOS_ACCESS_REMOTE_READ), 0);
    CHECK(a.secret != b.secret && a.rkey != b.rkey);
    CHECK(a.secret != 0 && b.secret != 0);
    mlos_mr_dereg(&b);
    /* the same slot over and over */
    for (int i = 0; i < N; i++) {
        CHECK_EQ(mlos_mr_reg(&dc, &b, buf + 32, 32, MLOS_ACCESS_REMOTE_READ), 0);
        sec[i] = b.secret;
        mlos_mr_dereg(&b);
    }
    mlos_mr_dereg(&a);
    int dup = 0, same_step = 0;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 64; k++)
            ones[k] += (unsigned)(sec[i] >> k & 1);
        if (i && sec[i] == sec[i - 1])
            dup++;
        if (i > 1 && sec[i] - sec[i - 1] == sec[i - 1] - sec[i - 2])
            same_step++;
        if (i > 1 && (sec[i] ^ sec[i - 1]) == (sec[i - 1] ^ sec[i - 2]))
            same_step++;
    }
    CHECK_EQ(dup, 0);
    CHECK_EQ(same_step, 0);
    /* each bit set about half the time (mean 1000, sd 22: [800, 1200] is 9 sd) */
    int skewed = 0;
    for (int k = 0; k < 64; k++)
        skewed += ones[k] < N * 2 / 5 || ones[k] > N * 3 / 5;
    CHECK_EQ(skewed, 0);
    /* exported and decoded keys carry the secret */
    struct mlos_rkey k, d;
    uint8_t wire[MLOS_RKEY_WIRE_SIZE];
    mlos_mr_rkey(&region, &k);
    mlos_rkey_encode(&k, wire);
    CHECK_EQ(mlos_rkey_decode(wire, sizeof(wire), &d), 0);
    CHECK(d.secret == region.secret && d.rkey == region.rkey);
}

/* Post n gets with the given keys at once; wait for all to complete. */
static uint64_t get_off;
static void post_gets(const struct mlos_rkey *keys, int n)
{
    static mlos_wr_t w[MAX_PER_CONN + 8];
    wr_done = 0;
    for (int i = 0; i < n; i++) {
        w[i].data = (void *)(intptr_t)i;
        wr_status[i] = 1;
        int rc = mlos_ep_get(&ec, &w[i], &local, 0, &keys[i], get_off, 64, got);
        if (rc < 0) {
            wr_status[i] = rc;
            wr_done++;
        }
    }
    run_until(&wr_done, n, verbs ? 60000 : 5000);
}

static void drop(void)
{
    struct mlos_rkey bad = real;
    int before_ekey = t_failed_ekey;

    CHECK_EQ(client_connect(), 0);
    /* a good key works */
    post_gets(&real, 1);
    CHECK_EQ(wr_status[0], 0);
    CHECK(memcmp(local.addr, region.addr, 64) == 0);
    /* wrong secrets, one at a time: answered while under the limit */
    for (unsigned i = 0; i < limit; i++) {
        bad.secret = real.secret ^ (1ull << (i * 13 % 64));
        if (verbs)
            bad.verbs_rkey = real.verbs_rkey ^ (0x100u << (i % 8));
        post_gets(&bad, 1);
        CHECK_EQ(wr_status[0], MLOS_EKEY);
        CHECK_EQ(ec.state, MLOS_EP_OPEN);
    }
    /* one more: refused, and the connection is closed, with the reason on both sides */
    bad.secret = rnd64();
    if (verbs)
        bad.verbs_rkey = real.verbs_rkey ^ 0x80000000u;
    post_gets(&bad, 1);
    CHECK(wr_status[0] == MLOS_EKEY || wr_status[0] == MLOS_ECONNRESET);
    run_until(&c_failed, 1, 5000);
    CHECK_EQ(c_failed, 1);
    CHECK_EQ(c_fail_status, MLOS_EKEY);
    uint64_t end = uv_hrtime() + 5000000000ull;
    while (t_failed_ekey == before_ekey && uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(t_failed_ekey, before_ekey + 1);
    client_close();

    /* wrong rights and bounds with a real key are not guesses (the NIC
     * cannot tell them apart: verbs counts them too) */
    if (verbs)
        return;
    CHECK_EQ(client_connect(), 0);
    struct mlos_rkey big = real;
    big.len = 2 * real.len;
    get_off = real.len - 32;
    for (int i = 0; i < 2 * MLOS_EP_MAX_BAD_KEYS; i++) {
        post_gets(&big, 1);
        CHECK(wr_status[0] == MLOS_ERANGE || wr_status[0] == MLOS_EACCES);
    }
    get_off = 0;
    CHECK_EQ(ec.state, MLOS_EP_OPEN);
    /* and the target serves a new, honest connection as before */
    post_gets(&real, 1);
    CHECK_EQ(wr_status[0], 0);
    client_close();
}

static void campaign(long total)
{
    long tried = 0, hits = 0, conns = 0, cut = 0, reset = 0, other = 0;
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    struct mlos_rkey keys[MAX_PER_CONN];
    int per = (int)limit + 1;
    uint64_t t0 = uv_hrtime();

    /* every dropped peer is logged on both sides: keep the test log readable */
    if (!getenv("MLOS_TEST_LOG"))
        dup2(devnull, 2);
    while (tried < total) {
        if (client_connect() < 0) {
            other++;
            break;
        }
        conns++;
        for (int i = 0; i < per; i++) {
            keys[i] = real;
            keys[i].secret = rnd64();
            if (i & 1) /* a random handle too */
                keys[i].rkey = (uint32_t)rnd64();
            if (verbs) /* what the NIC checks */
                while ((keys[i].verbs_rkey = (uint32_t)rnd64()) == real.verbs_rkey)
                    ;
        }
        post_gets(keys, per);
        tried += per;
        for (int i = 0; i < per; i++) {
            if (wr_status[i] == 0)
                hits++;
            else if (wr_status[i] != MLOS_EKEY && wr_status[i] != MLOS_ECONNRESET)
                other++;
        }
        run_until(&c_failed, 1, verbs ? 60000 : 5000);
        cut += c_failed && c_fail_status == MLOS_EKEY;
        /* verbs: a storm of refusals sometimes breaks the queue pair
         * recovery itself; the connection is cut all the same */
        reset += verbs && c_failed && c_fail_status == MLOS_ECONNRESET;
        if (!c_failed || (c_fail_status != MLOS_EKEY && !verbs))
            printf("connection %ld: %s (%s)\n", conns, c_failed ? "failed" : "still open",
                   c_failed ? mlos_strerror(c_fail_status) : "-");
        client_close();
        for (int i = 0; i < 4; i++)
            uv_run(loop, UV_RUN_NOWAIT); /* let the target release its end */
    }
    dup2(saved, 2);
    close(saved);
    close(devnull);
    printf("campaign: %ld guesses over %ld connections in %.2f s: %ld hits, %ld connections cut with MLOS_EKEY"
           "%s%ld\n", tried, conns, (uv_hrtime() - t0) / 1e9, hits, cut, verbs ? ", reset while recovering: " : "",
           verbs ? reset : 0L);
    CHECK_EQ(hits, 0);
    CHECK_EQ(other, 0);
    CHECK_EQ(cut + reset, conns);
    CHECK(cut * 2 > conns); /* the reason arrives, mostly */
}

int main(int argc, char **argv)
{
    long total = argc > 2 ? atol(argv[2]) : 100000;
    const char *where = argc > 1 ? argv[1] : "tcp:127.0.0.1:0";

    unsigned flags = 0;
    if (!strncmp(where, "verbs:", 6)) {
        verbs = 1;
        limit = MLOS_VERBS_MAX_PEER_RECOVERIES;
        flags = MLOS_DOMAIN_VERBS;
    }
    loop = uv_default_loop();
    CHECK_EQ(mlos_domain_init(&dc, loop, flags), 0);
    CHECK_EQ(mlos_domain_init(&dt, loop, flags), 0);
    if (!strncmp(where, "shm:", 4))
        unlink(where + 4);
    CHECK_EQ(mlos_listen(&dt, &lis, where, on_conn), 0);
    CHECK_EQ(mlos_listener_addr(&lis, addr, sizeof(addr)), 0);
    CHECK_EQ(mlos_mr_alloc(&dt, &region, 4096, MLOS_ACCESS_REMOTE_READ), 0);
    memset(region.addr, 0x5C, 4096);
    CHECK_EQ(mlos_mr_alloc(&dc, &local, 4096, MLOS_ACCESS_LOCAL), 0);
    mlos_mr_rkey(&region, &real);
    if (check_failures)
        CHECK_DONE();

    unrelated();
    drop();
    campaign(total);

    mlos_listener_close(&lis);
    uint64_t end = uv_hrtime() + 5000000000ull;
    while (t_open && uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(t_open, 0);
    mlos_mr_dereg(&region);
    mlos_mr_dereg(&local);
    for (int i = 0; i < 10; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&dc), 0);
    CHECK_EQ(mlos_domain_close(&dt), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    if (!strncmp(where, "shm:", 4))
        unlink(where + 4);
    CHECK_DONE();
}
