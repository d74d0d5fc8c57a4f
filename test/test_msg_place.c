/* Placement of incoming messages (mlos_ep_set_place) on a real tcp
 * endpoint, fed by a raw socket that plays the peer: placed frames small
 * and big, frames passed on to on_recv, refused ones, a range outside the
 * region, a region revoked in the middle of a frame, frames interleaved
 * with other ops, and a frame cut off by the peer closing. Guard bytes
 * around the region show that nothing is ever written outside it. Then
 * mlos_sendv against a peer that reads slowly (a write cut short by the
 * kernel, its tail copied). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "mlos_endian.h"
#include "msg.h"
#include "msg_tcp_wire.h"
#include "msg_transport.h"

#define HEAD 8u             /* the test's own header: le32 tag, le32 offset */
#define WIN (3u << 20)      /* the region messages are placed into */
#define GUARD 4096u
#define PT 77u              /* the message type offered for placement */
#define TCP_CREDIT_SLACK 16u /* credits an endpoint may owe without sending them (msg_tcp_ep.h) */

enum { TAG_PLACE = 1, TAG_REFUSE, TAG_PASS, TAG_DEAD };

static uv_loop_t *loop;
static mlos_domain_t dom;
static mlos_listener_t lis;
static mlos_ep_t ep;
static mlos_mr_t win, dead, ro;
static uint8_t *mem; /* GUARD | WIN | GUARD */
static int accepted, fail_status, closed;

/* what happened, in order: 'R' + type for on_recv, 'P' + status for on_placed */
#define NEV 256
static struct ev {
    char kind;
    uint32_t type;
    int status;
    size_t len;
    uint32_t off;
} evs[NEV];
static unsigned nev, offered;
static uint8_t last_recv[1 << 20];

static void on_recv(mlos_ep_t *e, uint32_t type, const void *data, size_t len)
{
    if (nev < NEV)
        evs[nev++] = (struct ev){'R', type, 0, len, 0};
    memcpy(last_recv, data, len < sizeof(last_recv) ? len : sizeof(last_recv));
}

static int on_place(mlos_ep_t *e, struct mlos_place *pl)
{
    offered++;
    CHECK_EQ(pl->head_len, HEAD);
    if (pl->type != PT)
        return 0;
    uint32_t tag = mlos_get_le32(pl->head), off = mlos_get_le32(pl->head + 4);
    pl->ctx = (void *)(uintptr_t)off;
    switch (tag) {
    case TAG_PLACE:
        pl->mr = &win;
        pl->off = off;
        return 0;
    case TAG_REFUSE:
        return MLOS_EACCES;
    case TAG_DEAD:
        pl->mr = &dead;
        pl->off = off;
        return 0;
    default:
        return 0; /* on_recv */
    }
}

static void on_placed(mlos_ep_t *e, struct mlos_place *pl, int status)
{
    if (nev < NEV)
        evs[nev++] = (struct ev){'P', pl->type, status, pl->len, (uint32_t)(uintptr_t)pl->ctx};
}

static void on_fail(mlos_ep_t *e, int status) { fail_status = status; }
static void on_closed(mlos_ep_t *e) { closed = 1; }
static void on_conn(mlos_listener_t *l, int status)
{
    ep.on_recv = on_recv;
    ep.on_fail = on_fail;
    CHECK_EQ(mlos_accept(l, &ep), 0);
    CHECK_EQ(mlos_ep_set_place(&ep, HEAD, on_place, on_placed), 0);
    accepted = 1;
}

static void spin_until(int (*cond)(void))
{
    for (int i = 0; i < 20000 && !cond(); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(200);
    }
}
static unsigned want_ev;
static int is_accepted(void) { return accepted; }
static int has_failed(void) { return fail_status != 0; }
static int is_closed(void) { return closed; }

/* What the endpoint sends back outside case 4 is credits only: count
 * them, so that a peer sending many messages can stay within its credits. */
static unsigned credits_back;
static uint8_t dbuf[MLOS_TCP_HDR_SIZE];
static size_t dhave;
static void drain(int fd)
{
    ssize_t k;
    while ((k = recv(fd, dbuf + dhave, sizeof(dbuf) - dhave, MSG_DONTWAIT)) > 0)
        if ((dhave += (size_t)k) == sizeof(dbuf)) {
            struct mlos_tcp_hdr h;
            CHECK_EQ(mlos_tcp_hdr_decode(dbuf, sizeof(dbuf), &h, NULL), 0);
            CHECK(h.op == MLOS_TCP_CREDIT);
            credits_back += h.credit;
            dhave = 0;
        }
}

static void wait_events(int fd, unsigned n)
{
    want_ev = n;
    for (int i = 0; i < 20000 && nev < n; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        drain(fd);
        usleep(200);
    }
    CHECK_EQ(nev, n);
}

static int raw_peer(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    uint8_t hello[MLOS_TCP_HELLO_SIZE];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    accepted = fail_status = closed = 0;
    spin_until(is_accepted);
    CHECK(accepted);
    mlos_tcp_hello_encode(hello);
    CHECK(write(fd, hello, sizeof(hello)) == (ssize_t)sizeof(hello));
    /* the endpoint's hello, so that drain() sees frames from their start */
    size_t got = 0;
    for (int i = 0; i < 4000 && got < sizeof(hello); i++) {
        ssize_t k = recv(fd, hello + got, sizeof(hello) - got, MSG_DONTWAIT);
        if (k > 0)
            got += (size_t)k;
        else
            uv_run(loop, UV_RUN_NOWAIT), usleep(200);
    }
    CHECK_EQ(got, sizeof(hello));
    dhave = 0;
    credits_back = 0;
    return fd;
}

/* Byte k of the payload of the message with seed s. */
static uint8_t pat(uint32_t s, size_t k) { return (uint8_t)(k * 29 + s * 7 + 1); }

/* Append a SEND frame of type with our header (tag, off) and n pattern
 * bytes to out; returns its size. */
static size_t frame(uint8_t *out, uint32_t type, uint32_t tag, uint32_t off, size_t n, uint32_t seed)
{
    mlos_tcp_hdr_encode(&(struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, type, 0, 0, (uint32_t)(HEAD + n)}, out);
    mlos_put_le32(out + MLOS_TCP_HDR_SIZE, tag);
    mlos_put_le32(out + MLOS_TCP_HDR_SIZE + 4, off);
    for (size_t k = 0; k < n; k++)
        out[MLOS_TCP_HDR_SIZE + HEAD + k] = pat(seed, k);
    return MLOS_TCP_HDR_SIZE + HEAD + n;
}

static void put_all(int fd, const uint8_t *p, size_t n)
{
    for (size_t d = 0; d < n;) {
        ssize_t k = send(fd, p + d, n - d, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0)
            d += (size_t)k;
        else {
            uv_run(loop, UV_RUN_NOWAIT); /* the endpoint reads meanwhile */
            usleep(100);
        }
    }
}

static void check_guards(void)
{
    for (size_t k = 0; k < GUARD; k++) {
        CHECK(mem[k] == 0xA5);
        CHECK(mem[GUARD + WIN + k] == 0xA5);
    }
}

static int placed_ok(uint32_t off, size_t n, uint32_t seed)
{
    for (size_t k = 0; k < n; k++)
        if (mem[GUARD + off + k] != pat(seed, k))
            return 0;
    return 1;
}

static uint8_t *snap;
static void snapshot(void) { memcpy(snap, mem, WIN + 2 * GUARD); }
static int unchanged(void) { return !memcmp(snap, mem, WIN + 2 * GUARD); }

/* mlos_sendv to a raw peer that does not read yet: the first message is
 * written straight from the caller's buffers as far as the kernel takes it
 * and its tail copied, the next ones are copied whole (the link is busy);
 * the buffers are overwritten at once after each call. The peer then reads
 * one intact stream: hello, the frames in order, every byte right. */
static int sv_done, sv_status;
static void sv_cb(mlos_wr_t *wr, int status)
{
    sv_done++;
    sv_status |= status;
}
static int connected = 1;
static void sv_connected(mlos_ep_t *e, int status) { connected = status; }

static void read_exact(int fd, uint8_t *p, size_t n)
{
    for (size_t d = 0; d < n;) {
        ssize_t k = recv(fd, p + d, n - d, MSG_DONTWAIT);
        if (k > 0)
            d += (size_t)k;
        else {
            CHECK(k < 0);
            uv_run(loop, UV_RUN_NOWAIT);
            usleep(100);
        }
    }
}

static void sendv_partial(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int ls = socket(AF_INET, SOCK_STREAM, 0), small = 4096, fd;
    static uint8_t src[MLOS_EP_MAX_MSG], got[MLOS_EP_MAX_MSG];
    uint8_t hello[MLOS_TCP_HELLO_SIZE], hb[MLOS_TCP_HDR_SIZE];
    char a[64];
    mlos_ep_t ce = {0};
#define NSV 14
    static mlos_wr_t wr[NSV];
    size_t len[NSV];
    for (unsigned i = 0; i < NSV; i++)
        len[i] = i == 9 ? 5 : i == 10 ? 300000 : MLOS_EP_MAX_MSG - i;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0); /* inherited: a slow reader */
    CHECK(bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 1) == 0);
    CHECK(getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
    snprintf(a, sizeof(a), "tcp:127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    ce.on_recv = on_recv;
    CHECK_EQ(mlos_connect(&dom, &ce, a, 2000, sv_connected), 0);
    for (int i = 0; i < 100 && (fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) < 0; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
    CHECK(fd >= 0);
    mlos_tcp_hello_encode(hello);
    CHECK(write(fd, hello, sizeof(hello)) == (ssize_t)sizeof(hello));
    for (int i = 0; i < 2000 && connected == 1; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(500);
    CHECK_EQ(connected, 0);
    read_exact(fd, got, MLOS_TCP_HELLO_SIZE); /* its hello is out: the link is idle */
    /* the peer does not read: the kernel's buffers fill up within a few
     * MiB, one write is cut short, and the messages after it queue */
    for (unsigned i = 0; i < NSV; i++) {
        size_t h = len[i] / 2, a = h < 7 ? h : 7; /* three pieces: [0, a) [a, h) [h, len) */
        struct mlos_iov v[3] = {{src, a}, {src + a, h - a}, {src + h, len[i] - h}};
        for (size_t k = 0; k < len[i]; k++)
            src[k] = pat(50 + i, k);
        CHECK_EQ(mlos_sendv(&ce, &wr[i], 1000 + i, v, 3, sv_cb), 0);
        memset(src, 0xEE, len[i]);
    }
    for (unsigned i = 0; i < NSV; i++) {
        struct mlos_tcp_hdr h;
        read_exact(fd, hb, sizeof(hb));
        CHECK_EQ(mlos_tcp_hdr_decode(hb, sizeof(hb), &h, NULL), 0);
        CHECK(h.op == MLOS_TCP_SEND && h.arg == 1000 + i && h.len == len[i]);
        read_exact(fd, got, len[i]);
        for (size_t k = 0; k < len[i]; k++)
            if (got[k] != pat(50 + i, k))
                CHECK(!"sendv bytes differ");
    }
    for (int i = 0; i < 1000 && sv_done < NSV; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(100);
    CHECK_EQ(sv_done, NSV);
    CHECK_EQ(sv_status, 0);
    closed = 0;
    CHECK_EQ(mlos_ep_close(&ce, on_closed), 0);
    spin_until(is_closed);
    close(fd);
    close(ls);
}

int main(void)
{
    static uint8_t buf[8u << 20];
    char addr[64];
    unsigned port;
    size_t n;
    int fd;

    loop = uv_default_loop();
    CHECK_EQ(mlos_domain_init(&dom, loop, 0), 0);
    CHECK_EQ(mlos_listen(&dom, &lis, "tcp:localhost:0", on_conn), 0);
    CHECK_EQ(mlos_listener_addr(&lis, addr, sizeof(addr)), 0);
    CHECK(sscanf(addr, "tcp:127.0.0.1:%u", &port) == 1);
    mem = malloc(WIN + 2 * GUARD);
    snap = malloc(WIN + 2 * GUARD);
    memset(mem, 0xA5, WIN + 2 * GUARD);
    memset(mem + GUARD, 0, WIN);
    CHECK_EQ(mlos_mr_reg(&dom, &win, mem + GUARD, WIN, MLOS_ACCESS_LOCAL), 0);
    CHECK_EQ(mlos_mr_alloc(&dom, &dead, 4096, MLOS_ACCESS_LOCAL), 0);
    CHECK_EQ(mlos_mr_dereg(&dead), 0); /* a region gone before its message came */
    CHECK_EQ(mlos_mr_alloc(&dom, &ro, 4096, MLOS_ACCESS_REMOTE_READ), 0);
    memset(ro.addr, 0x3C, 4096);

    /* argument checks */
    mlos_ep_t idle = {0};
    CHECK_EQ(mlos_ep_set_place(&idle, HEAD, on_place, on_placed), MLOS_EINVAL); /* never opened */

    fd = raw_peer(port);
    CHECK_EQ(mlos_ep_set_place(&ep, MLOS_EP_PLACE_HEAD_MAX + 1, on_place, on_placed), MLOS_EINVAL);
    CHECK_EQ(mlos_ep_set_place(&ep, HEAD, on_place, NULL), MLOS_EINVAL);

    /* 1. placed: small (in the read buffer), big (read straight into the
     * region, the peer writing in pieces), at the very end of the region */
    n = frame(buf, PT, TAG_PLACE, 100, 300, 1);
    put_all(fd, buf, n);
    wait_events(fd, 1);
    CHECK(evs[0].kind == 'P' && evs[0].status == 0 && evs[0].len == HEAD + 300 && evs[0].off == 100);
    CHECK(placed_ok(100, 300, 1));
    CHECK(mem[GUARD + 99] == 0 && mem[GUARD + 400] == 0);
    n = frame(buf, PT, TAG_PLACE, 12345, MLOS_EP_MAX_MSG - HEAD, 2);
    put_all(fd, buf, 50); /* a header and part of the application's header */
    for (int i = 0; i < 20; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(100);
    CHECK_EQ(nev, 1);
    put_all(fd, buf + 50, 70000);
    for (int i = 0; i < 20; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(100);
    put_all(fd, buf + 50 + 70000, n - 50 - 70000);
    wait_events(fd, 2);
    CHECK(evs[1].kind == 'P' && evs[1].status == 0 && evs[1].len == MLOS_EP_MAX_MSG);
    CHECK(placed_ok(12345, MLOS_EP_MAX_MSG - HEAD, 2));
    n = frame(buf, PT, TAG_PLACE, WIN - 1, 1, 3);
    put_all(fd, buf, n);
    wait_events(fd, 3);
    CHECK(evs[2].kind == 'P' && evs[2].status == 0 && placed_ok(WIN - 1, 1, 3));
    check_guards();

    /* 2. outside the region by one byte, at an offset past it, a region no
     * longer registered, refused by the hook: nothing written, each one
     * answered with its error, the endpoint open; then a message arrives */
    snapshot();
    n = frame(buf, PT, TAG_PLACE, WIN - 199, 200, 4);
    n += frame(buf + n, PT, TAG_PLACE, 0xFFFFFFF0u, 100000, 5);
    n += frame(buf + n, PT, TAG_DEAD, 0, 16, 6);
    n += frame(buf + n, PT, TAG_REFUSE, 0, 70000, 7);
    n += frame(buf + n, 9, 0, 0, 5, 8);
    put_all(fd, buf, n);
    wait_events(fd, 8);
    CHECK(evs[3].kind == 'P' && evs[3].status == MLOS_ERANGE && evs[3].off == WIN - 199);
    CHECK(evs[4].kind == 'P' && evs[4].status == MLOS_ERANGE);
    CHECK(evs[5].kind == 'P' && evs[5].status == MLOS_EKEY);
    CHECK(evs[6].kind == 'P' && evs[6].status == MLOS_EACCES && evs[6].len == HEAD + 70000);
    CHECK(evs[7].kind == 'R' && evs[7].type == 9 && evs[7].len == HEAD + 5 && last_recv[HEAD] == pat(8, 0));
    CHECK(unchanged());
    CHECK_EQ(ep.state, MLOS_EP_OPEN);

    /* 3. passed on by the hook (small and streamed), a message no longer
     * than the header (never offered), another type: all to on_recv, whole */
    unsigned off0 = offered;
    n = frame(buf, PT, TAG_PASS, 0, 10, 9);
    n += frame(buf + n, PT, TAG_PASS, 0, 200000, 10);
    mlos_tcp_hdr_encode(&(struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, PT, 0, 0, HEAD}, buf + n);
    memset(buf + n + MLOS_TCP_HDR_SIZE, 1, HEAD); /* tag 0x01010101: would be placed if offered */
    n += MLOS_TCP_HDR_SIZE + HEAD;
    put_all(fd, buf, n);
    wait_events(fd, 11);
    CHECK(evs[8].kind == 'R' && evs[8].len == HEAD + 10);
    CHECK(evs[9].kind == 'R' && evs[9].len == HEAD + 200000);
    CHECK(mlos_get_le32(last_recv) == 0x01010101u || evs[10].len == HEAD);
    CHECK(evs[10].kind == 'R' && evs[10].len == HEAD);
    CHECK_EQ(offered - off0, 2);
    CHECK(unchanged());

    /* 4. interleaved in one stream: placed frames of sizes around the read
     * buffer and the direct-read threshold, GETs (answered in order),
     * credits, messages passed on; every event in order, every byte right */
    memset(mem + GUARD, 0, WIN);
    static const size_t sizes[] = {1, 16383, 16384, 65536 - 44, 65536 - 43, 65536, 300001, 1 << 19};
    nev = 0;
    n = 0;
    uint32_t off = 0;
    unsigned nexp = 0, ngets = 0;
    for (unsigned r = 0; r < 2; r++)
        for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            n += frame(buf + n, PT, TAG_PLACE, off, sizes[i], 20 + nexp);
            off += (uint32_t)sizes[i];
            nexp++;
            if (i % 2) {
                mlos_tcp_hdr_encode(&(struct mlos_tcp_hdr){MLOS_TCP_GET, 0, ro.rkey, ++ngets, 0, 64, ro.secret},
                                    buf + n);
                n += MLOS_TCP_HDR_SIZE;
                n += frame(buf + n, 10 + i, 0, 0, 3, 0);
                nexp++;
            }
        }
    CHECK(off <= WIN);
    put_all(fd, buf, n);
    want_ev = nexp;
    /* read the GET replies here, in order */
    CHECK_EQ(dhave, 0);
    uint8_t rep[MLOS_TCP_HDR_SIZE + 64];
    unsigned got = 0;
    size_t have = 0;
    for (int i = 0; i < 40000 && (nev < nexp || got < ngets); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        ssize_t k = recv(fd, rep + have, MLOS_TCP_HDR_SIZE - have, MSG_DONTWAIT);
        if (k > 0 && (have += (size_t)k) == MLOS_TCP_HDR_SIZE) {
            struct mlos_tcp_hdr h;
            CHECK_EQ(mlos_tcp_hdr_decode(rep, have, &h, NULL), 0);
            have = 0;
            if (h.op == MLOS_TCP_GET_DATA) {
                uint8_t d[64];
                size_t g = 0;
                CHECK_EQ(h.len, 64);
                while (g < 64) {
                    ssize_t q = recv(fd, d + g, 64 - g, 0);
                    CHECK(q > 0);
                    g += (size_t)q;
                }
                CHECK_EQ(h.id, ++got);
                CHECK(d[0] == 0x3C && d[63] == 0x3C);
            } else
                CHECK(h.op == MLOS_TCP_CREDIT);
        } else if (k <= 0)
            usleep(100);
    }
    CHECK_EQ(nev, nexp);
    CHECK_EQ(got, ngets);
    off = 0;
    unsigned e = 0, seq = 0;
    for (unsigned r = 0; r < 2; r++)
        for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            CHECK(evs[e].kind == 'P' && evs[e].status == 0 && evs[e].off == off);
            CHECK(placed_ok(off, sizes[i], 20 + seq));
            off += (uint32_t)sizes[i];
            e++, seq++;
            if (i % 2) {
                CHECK(evs[e].kind == 'R' && evs[e].type == 10 + i);
                e++, seq++;
            }
        }
    CHECK(mem[GUARD + off] == 0);
    check_guards();

    /* 4b. a random mix (fixed seed): placed frames of every size up to a
     * whole message, small placed ones many to a read, messages passed on,
     * written by the peer in random pieces with the loop running between
     * them. Frames land in disjoint slots of the region; at the end every
     * slot holds its frame and nothing else changed. */
    {
        enum { NR = 120 };
        static struct {
            int placed;
            uint32_t off, seed;
            size_t n, at; /* at: where its frame starts in buf */
        } fr[NR];
        uint32_t rnd = 12345, slot = 0;
        size_t total = 0, sent = 0;
        memset(mem + GUARD, 0, WIN);
        nev = 0;
        n = 0;
        for (unsigned i = 0; i < NR; i++) {
            rnd = rnd * 1103515245u + 12345u;
            unsigned kind = (rnd >> 16) % 4;
            rnd = rnd * 1103515245u + 12345u;
            size_t len = kind == 0 ? 1 + (rnd >> 8) % (MLOS_EP_MAX_MSG - HEAD)
                         : kind == 1 ? 1 + (rnd >> 8) % 200
                         : kind == 2 ? 60000 + (rnd >> 8) % 20000
                                     : 1 + (rnd >> 8) % 70000;
            fr[i].placed = kind != 3;
            fr[i].n = len;
            fr[i].seed = 100 + i;
            fr[i].off = slot;
            if (fr[i].placed) {
                if (slot + len > WIN) { /* full: the rest go to on_recv */
                    fr[i].placed = 0;
                } else
                    slot += (uint32_t)len;
            }
            if (n + MLOS_TCP_HDR_SIZE + HEAD + len > sizeof(buf))
                break;
            fr[i].at = n;
            n += frame(buf + n, fr[i].placed ? PT : 11, fr[i].placed ? TAG_PLACE : 0, fr[i].off, len, fr[i].seed);
            total++;
        }
        snapshot();
        /* credits that come back from here on are for this case's messages,
         * but for up to TCP_CREDIT_SLACK owed for earlier ones */
        unsigned base = credits_back, next_frame = 0;
        while (sent < n) {
            rnd = rnd * 1103515245u + 12345u;
            size_t k = 1 + (rnd >> 8) % (rnd & 1 ? 300 : 200000);
            if (k > n - sent)
                k = n - sent;
            /* the peer's credits: at most MLOS_EP_CREDITS messages of this
             * case begun and not yet credited back */
            while (next_frame < total && fr[next_frame].at < sent + k) {
                if (next_frame - (credits_back - base) < MLOS_EP_CREDITS - TCP_CREDIT_SLACK) {
                    next_frame++;
                    continue;
                }
                if (fr[next_frame].at > sent) {
                    k = fr[next_frame].at - sent; /* up to that frame, then wait */
                    break;
                }
                uv_run(loop, UV_RUN_NOWAIT);
                drain(fd);
                usleep(100);
            }
            put_all(fd, buf + sent, k);
            sent += k;
            for (unsigned j = 0; j < (rnd >> 4) % 3; j++)
                uv_run(loop, UV_RUN_NOWAIT);
            drain(fd);
        }
        wait_events(fd, (unsigned)total);
        for (unsigned i = 0; i < total; i++) {
            if (fr[i].placed) {
                CHECK(evs[i].kind == 'P' && evs[i].status == 0 && evs[i].off == fr[i].off);
                CHECK(placed_ok(fr[i].off, fr[i].n, fr[i].seed));
            } else
                CHECK(evs[i].kind == 'R' && evs[i].type == 11 && evs[i].len == HEAD + fr[i].n);
        }
        for (size_t k = slot; k < WIN; k++)
            CHECK(mem[GUARD + k] == 0);
        check_guards();
        CHECK_EQ(ep.state, MLOS_EP_OPEN);
    }

    /* 5. the region deregistered in the middle of a frame: not written any
     * further, the rest dropped, MLOS_EKEY; the endpoint goes on */
    nev = 0;
    memset(mem + GUARD, 0, WIN);
    n = frame(buf, PT, TAG_PLACE, 0, 900000, 40);
    put_all(fd, buf, 300000);
    for (int i = 0; i < 4000 && mem[GUARD + 200000] != pat(40, 200000); i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(100);
    CHECK(mem[GUARD + 200000] == pat(40, 200000)); /* part of it landed */
    CHECK_EQ(mlos_mr_dereg(&win), 0);
    snapshot();
    put_all(fd, buf + 300000, n - 300000);
    n = frame(buf, 9, 0, 0, 1, 41);
    put_all(fd, buf, n);
    wait_events(fd, 2);
    CHECK(evs[0].kind == 'P' && evs[0].status == MLOS_EKEY);
    CHECK(evs[1].kind == 'R' && evs[1].type == 9);
    CHECK(unchanged()); /* nothing after the deregistration */
    CHECK_EQ(mlos_mr_reg(&dom, &win, mem + GUARD, WIN, MLOS_ACCESS_LOCAL), 0);

    /* 6. turned off: everything goes to on_recv again */
    CHECK_EQ(mlos_ep_set_place(&ep, 0, NULL, NULL), 0);
    nev = 0;
    memset(mem + GUARD, 0, WIN);
    n = frame(buf, PT, TAG_PLACE, 0, 100, 42);
    put_all(fd, buf, n);
    wait_events(fd, 1);
    CHECK(evs[0].kind == 'R' && evs[0].len == HEAD + 100 && mem[GUARD] == 0);
    CHECK_EQ(mlos_ep_set_place(&ep, HEAD, on_place, on_placed), 0);

    /* 7. cut off: the peer closes in the middle of a placed frame. The
     * endpoint fails; on_placed never runs; what arrived is inside the
     * range, nothing outside it */
    nev = 0;
    memset(mem + GUARD, 0, WIN);
    n = frame(buf, PT, TAG_PLACE, 1000, 500000, 43);
    put_all(fd, buf, 200000);
    for (int i = 0; i < 50; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(100);
    close(fd);
    spin_until(has_failed);
    CHECK_EQ(fail_status, MLOS_ECONNRESET);
    CHECK_EQ(nev, 0);
    for (size_t k = 0; k < 1000; k++)
        CHECK(mem[GUARD + k] == 0);
    for (size_t k = 1000 + 500000; k < WIN; k++)
        CHECK(mem[GUARD + k] == 0);
    check_guards();
    CHECK_EQ(mlos_ep_close(&ep, on_closed), 0);
    spin_until(is_closed);
    CHECK(closed);

    /* a header cut off before the application's header is complete */
    fd = raw_peer(port);
    nev = 0;
    n = frame(buf, PT, TAG_PLACE, 0, 100000, 44);
    put_all(fd, buf, MLOS_TCP_HDR_SIZE + 3);
    for (int i = 0; i < 50; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(100);
    close(fd);
    spin_until(has_failed);
    CHECK_EQ(fail_status, MLOS_ECONNRESET);
    CHECK_EQ(nev, 0);
    CHECK(mem[GUARD] == 0);
    CHECK_EQ(mlos_ep_close(&ep, on_closed), 0);
    spin_until(is_closed);

    sendv_partial();

    mlos_listener_close(&lis);
    mlos_mr_dereg(&win);
    mlos_mr_dereg(&ro);
    for (int i = 0; i < 10; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&dom), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    free(mem);
    free(snap);
    CHECK_DONE();
}
