/* Messaging endpoints bound to real shards (mlos_shard_ep): two-sided
 * messages handled in the shard's event loop, one-sided put/get into its
 * bulk window with key and bounds checks, failure when the shard dies.
 *   test_shard_msg ARCH        (process, x86_64, ppc) */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "msg.h"
#include "msg_transport.h"
#include "uvwarm.h"
#include "mlos_endian.h"

static uv_loop_t *loop;
static mlos_domain_t dom;
static mlos_ep_t ep;

#define N 2000
static uint32_t got, bad, fails;
static int fail_status;

static size_t msg_len(uint32_t i) { return (i * 7919u) % 5000 + (i % 97 == 0 ? 100000 : 0); }

static void on_recv(mlos_ep_t *e, uint32_t type, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t i = type - 1001; /* sent as 1000 + i, echoed as type + 1 */
    if (i != got || len != msg_len(i))
        bad++;
    for (size_t k = 0; k < len && !bad; k++)
        if (p[k] != (uint8_t)(i ^ k))
            bad++;
    got++;
}

static void on_fail(mlos_ep_t *e, int status)
{
    fails++;
    fail_status = status;
}

static int done, last_status;
static void wr_done(mlos_wr_t *wr, int status)
{
    done++;
    last_status = status;
}

static int wait_one(void)
{
    int want = done + 1;
    while (done < want)
        uv_run(loop, UV_RUN_ONCE);
    return last_status;
}

int main(int argc, char **argv)
{
    const char *arch = argc > 1 ? argv[1] : "process";
    struct mlos_spawn_opts o = {.arch = arch, .bulk_bytes = 4u << 20};
    static mlos_wr_t wrs[N];
    static uint8_t bufs[N / 97 + 1][100000 + 5000];
    static uint8_t small[N][5000];
    mlos_shard_t s;
    void *res;
    size_t rlen;
    char err[256];

    loop = uv_default_loop();
    uvwarm(loop);
    int fds0 = count_fds();
    CHECK_EQ(mlos_domain_init(&dom, loop, 0), 0);
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    CHECK_EQ(mlos_call_sync(&s, "msg.echo", NULL, 0, &res, &rlen, err, sizeof(err)), 0);
    free(res);
    ep.on_recv = on_recv;
    ep.on_fail = on_fail;
    CHECK_EQ(mlos_shard_ep(&dom, &s, &ep), 0);
    CHECK_EQ(mlos_shard_ep(&dom, &s, &(mlos_ep_t){0}), MLOS_EINVAL); /* one per shard */

    /* two-sided, both directions, in order, more than the ring holds */
    for (uint32_t i = 0; i < N; i++) {
        size_t len = msg_len(i);
        uint8_t *b = len > 5000 ? bufs[i / 97] : small[i];
        for (size_t k = 0; k < len; k++)
            b[k] = (uint8_t)(i ^ k);
        CHECK_EQ(mlos_send(&ep, &wrs[i], 1000 + i, b, len, wr_done), 0);
    }
    while (got < N && !fails)
        uv_run(loop, UV_RUN_ONCE);
    while (done < N)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(got, N);
    CHECK_EQ(bad, 0);

    /* one-sided into the shard's bulk window; the shard's task sees it */
    struct mlos_rkey rk, forged;
    mlos_mr_t src, dst;
    mlos_wr_t w;
    const size_t L = 1u << 20;
    CHECK_EQ(mlos_shard_rkey(&s, &rk), 0);
    CHECK(rk.len >= (4u << 20));
    CHECK_EQ(mlos_mr_alloc(&dom, &src, L, MLOS_ACCESS_LOCAL), 0);
    CHECK_EQ(mlos_mr_alloc(&dom, &dst, L, MLOS_ACCESS_LOCAL), 0);
    uint64_t expect = 0;
    for (size_t k = 0; k < L / 8; k++) {
        uint64_t v = k * 0x9E3779B97F4A7C15ull;
        mlos_put_le64((uint8_t *)src.addr + 8 * k, v);
        expect += v;
    }
    done = 0;
    CHECK_EQ(mlos_ep_put(&ep, &w, &src, 0, &rk, 4096, L, wr_done), 0);
    CHECK_EQ(wait_one(), 0);
    uint8_t arg[16];
    mlos_put_le64(arg, 4096);
    mlos_put_le64(arg + 8, L);
    CHECK_EQ(mlos_call_sync(&s, "sum_u64", arg, 16, &res, &rlen, err, sizeof(err)), 0);
    uint64_t sum = 0;
    for (int b = 7; b >= 0; b--)
        sum = sum << 8 | ((uint8_t *)res)[b];
    free(res);
    CHECK(sum == expect);
    CHECK_EQ(mlos_ep_get(&ep, &w, &dst, 0, &rk, 4096, L, wr_done), 0);
    CHECK_EQ(wait_one(), 0);
    CHECK(memcmp(src.addr, dst.addr, L) == 0);
    /* checks: a wrong key, a range the export does not cover, a lie about the size */
    forged = rk;
    forged.rkey ^= 1;
    CHECK_EQ(mlos_ep_put(&ep, &w, &src, 0, &forged, 0, 64, wr_done), 0);
    CHECK_EQ(wait_one(), MLOS_EKEY);
    CHECK_EQ(mlos_ep_put(&ep, &w, &src, 0, &rk, rk.len - 8, 64, wr_done), MLOS_ERANGE);
    forged = rk;
    forged.len += 1u << 20;
    CHECK_EQ(mlos_ep_put(&ep, &w, &src, 0, &forged, rk.len - 8, 64, wr_done), 0);
    CHECK_EQ(wait_one(), MLOS_ERANGE);

    /* the shard dies: the endpoint fails, sends are refused */
    setenv("MLOS_QUIET", "1", 1);
    CHECK_EQ(mlos_call_sync(&s, "crash", NULL, 0, &res, &rlen, err, sizeof(err)), MLOS_ESHARDDIED);
    CHECK_EQ(fails, 1);
    CHECK_EQ(fail_status, MLOS_ECONNRESET);
    CHECK_EQ(mlos_send(&ep, &w, 1, "x", 1, wr_done), MLOS_ECONNRESET);
    CHECK_EQ(mlos_ep_close(&ep, NULL), 0);
    mlos_shard_stop_sync(&s);
    mlos_mr_dereg(&src);
    mlos_mr_dereg(&dst);
    for (int i = 0; i < 5; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&dom), 0);
    uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(count_fds(), fds0);
    CHECK_DONE();
}
