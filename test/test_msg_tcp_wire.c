/* tcp transport wire format: encode/decode round trips and every malformed
 * input; then a raw socket plays a hostile peer against a real endpoint
 * (bad frames fail it with MLOS_ECONNRESET, bad keys get error replies). */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "msg.h"
#include "msg_tcp_wire.h"
#include "msg_transport.h"

static void hdr_roundtrip(void)
{
    uint8_t b[MLOS_TCP_HDR_SIZE];
    struct mlos_tcp_hdr h = {MLOS_TCP_PUT, 5, 0xA1B2C3D4u, 0x0102030405060708ull, 0x1122334455667788ull, 4096,
                             0x99AABBCCDDEEFF00ull};
    struct mlos_tcp_hdr d;
    const char *why = NULL;

    mlos_tcp_hdr_encode(&h, b);
    /* big-endian on every host */
    CHECK(b[0] == MLOS_TCP_PUT && b[1] == 0 && b[2] == 0 && b[3] == 5);
    CHECK(b[4] == 0xA1 && b[7] == 0xD4 && b[8] == 0x01 && b[15] == 0x08 && b[16] == 0x11 && b[23] == 0x88);
    CHECK(b[24] == 0 && b[26] == 0x10 && b[27] == 0);
    CHECK_EQ(mlos_tcp_hdr_decode(b, sizeof(b), &d, &why), 0);
    CHECK(b[28] == 0x99 && b[35] == 0x00 && b[34] == 0xFF);
    CHECK(d.op == h.op && d.credit == 5 && d.arg == h.arg && d.id == h.id && d.off == h.off && d.len == 4096);
    CHECK(d.key == h.key);
    CHECK_EQ(mlos_tcp_payload_len(&d), 4096);

    /* each op with its legal extremes */
    struct mlos_tcp_hdr ok[] = {
        {MLOS_TCP_SEND, 0, 0xFFFFFFFFu, 0, 0, MLOS_EP_MAX_MSG},
        {MLOS_TCP_SEND, MLOS_EP_CREDITS, 0, 0, 0, 0},
        {MLOS_TCP_CREDIT, 1, 0, 0, 0, 0},
        {MLOS_TCP_PUT, 0, 1, UINT64_MAX, UINT64_MAX, MLOS_TCP_RMA_CHUNK},
        {MLOS_TCP_GET, 0, 1, 7, 0, MLOS_TCP_RMA_CHUNK},
        {MLOS_TCP_PUT_ACK, 0, (uint32_t)MLOS_EKEY, 9, 0, 0},
        {MLOS_TCP_PUT_ACK, 0, (uint32_t)MLOS_ERANGE, 9, 0, 0},
        {MLOS_TCP_GET_DATA, 0, 0, 9, 0, MLOS_TCP_RMA_CHUNK},
        {MLOS_TCP_GET_DATA, 0, (uint32_t)MLOS_EACCES, 9, 0, 0},
        {MLOS_TCP_GET, 0, 1, 7, 0, 8, UINT64_MAX},
        {MLOS_TCP_ABORT, 0, (uint32_t)MLOS_EKEY, 0, 0, 0},
        {MLOS_TCP_ABORT, 3, (uint32_t)MLOS_EPROTO, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        mlos_tcp_hdr_encode(&ok[i], b);
        CHECK_EQ(mlos_tcp_hdr_decode(b, sizeof(b), &d, NULL), 0);
        CHECK(d.op == ok[i].op && d.arg == ok[i].arg && d.len == ok[i].len && d.id == ok[i].id);
        CHECK(d.key == ok[i].key);
    }
    CHECK_EQ(mlos_tcp_payload_len(&ok[10]), 0); /* ABORT carries nothing */
    CHECK_EQ(mlos_tcp_status(&ok[5]), MLOS_EKEY);
    CHECK_EQ(mlos_tcp_payload_len(&ok[4]), 0); /* GET asks, carries nothing */
    CHECK_EQ(mlos_tcp_payload_len(&ok[7]), MLOS_TCP_RMA_CHUNK);
}

/* Encode h, optionally poke one byte, expect rc from decode. */
static void bad(struct mlos_tcp_hdr h, int poke_at, uint8_t poke, int rc, int line)
{
    uint8_t b[MLOS_TCP_HDR_SIZE];
    struct mlos_tcp_hdr d;
    const char *why = NULL;
    mlos_tcp_hdr_encode(&h, b);
    if (poke_at >= 0)
        b[poke_at] = poke;
    int got = mlos_tcp_hdr_decode(b, sizeof(b), &d, &why);
    if (got != rc || !why) {
        fprintf(stderr, "line %d: decode gave %d (want %d), why=%s\n", line, got, rc, why ? why : "(none)");
        check_failures++;
    }
}
#define BAD(h, at, v, rc) bad(h, at, v, rc, __LINE__)

static void hdr_malformed(void)
{
    struct mlos_tcp_hdr send = {MLOS_TCP_SEND, 0, 3, 0, 0, 10};
    struct mlos_tcp_hdr d;
    uint8_t b[MLOS_TCP_HDR_SIZE];

    /* truncated at every length; never reads past len (ASan checks the copy) */
    mlos_tcp_hdr_encode(&send, b);
    for (size_t cut = 0; cut < MLOS_TCP_HDR_SIZE; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b, cut);
        CHECK_EQ(mlos_tcp_hdr_decode(copy, cut, &d, NULL), MLOS_ETRUNC);
        free(copy);
    }
    /* ops */
    BAD(send, 0, 0, MLOS_EBADTYPE);
    BAD(send, 0, MLOS_TCP_OP_MAX + 1, MLOS_EBADTYPE);
    BAD(send, 0, 0xFF, MLOS_EBADTYPE);
    /* reserved flags */
    BAD(send, 1, 0x01, MLOS_EPROTO);
    BAD(send, 1, 0x80, MLOS_EPROTO);
    /* credit over the total */
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_SEND, MLOS_EP_CREDITS + 1, 0, 0, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(send, 2, 0xFF, MLOS_EPROTO);
    /* lengths over the limits */
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, 0, 0, 0, MLOS_EP_MAX_MSG + 1}), -1, 0, MLOS_ETOOBIG);
    BAD(send, 24, 0xFF, MLOS_ETOOBIG);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_PUT, 0, 1, 1, 0, MLOS_TCP_RMA_CHUNK + 1}), -1, 0, MLOS_ETOOBIG);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_GET, 0, 1, 1, 0, 0xFFFFFFFFu}), -1, 0, MLOS_ETOOBIG);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_GET_DATA, 0, 0, 1, 0, MLOS_TCP_RMA_CHUNK + 1}), -1, 0, MLOS_ETOOBIG);
    /* fields an op does not use must be zero */
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, 0, 1, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, 0, 0, 1, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_CREDIT, 1, 1, 0, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_CREDIT, 1, 0, 1, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_CREDIT, 1, 0, 0, 1, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_CREDIT, 1, 0, 0, 0, 1}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_CREDIT, 0, 0, 0, 0, 0}), -1, 0, MLOS_EPROTO); /* returns nothing */
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_PUT_ACK, 0, 0, 1, 1, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_PUT_ACK, 0, 0, 1, 0, 1}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_GET_DATA, 0, 0, 1, 1, 0}), -1, 0, MLOS_EPROTO);
    /* statuses: only 0, EKEY, EACCES, ERANGE; an error carries no data */
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_PUT_ACK, 0, 1, 1, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_PUT_ACK, 0, (uint32_t)MLOS_EIO, 1, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_GET_DATA, 0, (uint32_t)MLOS_ECONNRESET, 1, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_GET_DATA, 0, (uint32_t)MLOS_EKEY, 1, 0, 8}), -1, 0, MLOS_EPROTO);
    /* a key only where a region is named */
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, 0, 0, 0, 0, 1}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_GET_DATA, 0, 0, 1, 0, 0, 1}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_ABORT, 0, (uint32_t)MLOS_EKEY, 0, 0, 0, 1}), -1, 0, MLOS_EPROTO);
    /* ABORT: a known reason, nothing else */
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_ABORT, 0, 0, 0, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_ABORT, 0, (uint32_t)MLOS_EIO, 0, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_ABORT, 0, (uint32_t)MLOS_EKEY, 1, 0, 0}), -1, 0, MLOS_EPROTO);
    BAD(((struct mlos_tcp_hdr){MLOS_TCP_ABORT, 0, (uint32_t)MLOS_EKEY, 0, 0, 4}), -1, 0, MLOS_EPROTO);
}

static void hello_cases(void)
{
    uint8_t b[MLOS_TCP_HELLO_SIZE], c[MLOS_TCP_HELLO_SIZE];
    struct mlos_tcp_hello h;
    const char *why = NULL;

    mlos_tcp_hello_encode(b);
    CHECK(b[0] == 'M' && b[1] == 'L' && b[2] == 'T' && b[3] == 'P' && b[5] == MLOS_TCP_VERSION);
    CHECK_EQ(mlos_tcp_hello_decode(b, sizeof(b), &h, &why), 0);
    CHECK(h.credits == MLOS_EP_CREDITS && h.max_msg == MLOS_EP_MAX_MSG);
    for (size_t cut = 0; cut < sizeof(b); cut++)
        CHECK_EQ(mlos_tcp_hello_decode(b, cut, &h, NULL), MLOS_ETRUNC);

    struct { int at; uint8_t v; int rc; } cases[] = {
        {0, 'X', MLOS_EBADMAGIC}, {3, 0, MLOS_EBADMAGIC},
        {4, 1, MLOS_EVERSION},   {5, 1, MLOS_EVERSION}, {5, 3, MLOS_EVERSION}, {5, 0, MLOS_EVERSION},
        {6, 1, MLOS_EPROTO},     {7, 1, MLOS_EPROTO},
        {11, MLOS_EP_CREDITS + 1, MLOS_EPROTO}, {8, 1, MLOS_EPROTO},
        {13, 0xFF, MLOS_EPROTO},  {15, 1, MLOS_EPROTO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(c, b, sizeof(b));
        c[cases[i].at] = cases[i].v;
        why = NULL;
        CHECK_EQ(mlos_tcp_hello_decode(c, sizeof(c), &h, &why), cases[i].rc);
        CHECK(why != NULL);
    }
}

/* ---- live: a raw socket against a real endpoint ---- */

static uv_loop_t *loop;
static mlos_domain_t dom;
static mlos_listener_t lis;
static mlos_ep_t ep;
static int accepted, fail_status, closed;
static uint32_t recvd;

static void on_recv(mlos_ep_t *e, uint32_t type, const void *data, size_t len) { recvd++; }
static void on_fail(mlos_ep_t *e, int status) { fail_status = status; }
static void on_closed(mlos_ep_t *e) { closed = 1; }
static int connect_status = 1;
static void on_connect(mlos_ep_t *e, int status) { connect_status = status; }
static void on_conn(mlos_listener_t *l, int status)
{
    ep.on_recv = on_recv;
    ep.on_fail = on_fail;
    CHECK_EQ(mlos_accept(l, &ep), 0);
    accepted = 1;
}

static void spin(int *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(500);
    }
}

/* Connect a raw socket, say hello, and wait until the endpoint is accepted. */
static int raw_peer(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    uint8_t hello[MLOS_TCP_HELLO_SIZE];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    accepted = fail_status = closed = 0;
    recvd = 0;
    spin(&accepted);
    mlos_tcp_hello_encode(hello);
    CHECK(write(fd, hello, sizeof(hello)) == (ssize_t)sizeof(hello));
    return fd;
}

static void send_hdr(int fd, struct mlos_tcp_hdr h)
{
    uint8_t b[MLOS_TCP_HDR_SIZE];
    mlos_tcp_hdr_encode(&h, b);
    CHECK(write(fd, b, sizeof(b)) == (ssize_t)sizeof(b));
}

/* Read exactly n bytes from the endpoint (running the loop meanwhile). */
static int raw_read(int fd, uint8_t *out, size_t n)
{
    size_t got = 0;
    for (int i = 0; i < 4000 && got < n; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        ssize_t r = recv(fd, out + got, n - got, MSG_DONTWAIT);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            break;
        else
            usleep(500);
    }
    return got == n ? 0 : -1;
}

static void finish_peer(int fd, int want_fail)
{
    if (want_fail) {
        spin(&fail_status);
        CHECK_EQ(fail_status, MLOS_ECONNRESET);
        CHECK_EQ(ep.state, MLOS_EP_FAILED);
    }
    CHECK_EQ(mlos_ep_close(&ep, on_closed), 0);
    spin(&closed);
    CHECK(closed);
    close(fd);
}

static void live(void)
{
    char addr[64];
    unsigned port;
    int fd;
    uint8_t b[MLOS_TCP_HELLO_SIZE + MLOS_TCP_HDR_SIZE + 16];
    struct mlos_tcp_hdr h;
    mlos_mr_t mr;

    loop = uv_default_loop();
    CHECK_EQ(mlos_domain_init(&dom, loop, 0), 0);
    CHECK_EQ(mlos_listen(&dom, &lis, "tcp:localhost:0", on_conn), 0);
    CHECK_EQ(mlos_listener_addr(&lis, addr, sizeof(addr)), 0);
    CHECK(sscanf(addr, "tcp:127.0.0.1:%u", &port) == 1);
    CHECK_EQ(mlos_mr_alloc(&dom, &mr, 4096, MLOS_ACCESS_REMOTE_READ), 0);
    memset(mr.addr, 0x77, 4096);

    /* bad addresses */
    mlos_listener_t l2;
    mlos_ep_t e2;
    const char *bad_addrs[] = {"tcp:", "tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:127.0.0.1:65536", "tcp::80",
                               "tcp:127.0.0.1:8x", "tcp:no.such.host:1", "tcp:127.0.0.1:-1"};
    for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
        CHECK_EQ(mlos_listen(&dom, &l2, bad_addrs[i], on_conn), MLOS_EINVAL);
        CHECK_EQ(mlos_connect(&dom, &e2, bad_addrs[i], 100, on_connect), MLOS_EINVAL);
    }
    CHECK_EQ(mlos_connect(&dom, &e2, "tcp:127.0.0.1:0", 100, on_connect), MLOS_EINVAL);

    /* the endpoint says hello first */
    fd = raw_peer(port);
    CHECK_EQ(raw_read(fd, b, MLOS_TCP_HELLO_SIZE), 0);
    CHECK_EQ(mlos_tcp_hello_decode(b, MLOS_TCP_HELLO_SIZE, &(struct mlos_tcp_hello){0}, NULL), 0);
    /* a GET of a valid range, a forged key, a range overflow: replies in order */
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_GET, 0, mr.rkey, 1, 4000, 16, mr.secret});
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_GET, 0, mr.rkey, 2, 0, 16, mr.secret ^ 1});
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_GET, 0, mr.rkey, 3, UINT64_MAX - 4, 16, mr.secret});
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_PUT, 0, mr.rkey, 4, 0, 0, mr.secret}); /* read-only region */
    CHECK_EQ(raw_read(fd, b, MLOS_TCP_HDR_SIZE + 16), 0);
    CHECK_EQ(mlos_tcp_hdr_decode(b, MLOS_TCP_HDR_SIZE, &h, NULL), 0);
    CHECK(h.op == MLOS_TCP_GET_DATA && h.id == 1 && h.arg == 0 && h.len == 16 && b[MLOS_TCP_HDR_SIZE] == 0x77);
    int want[] = {MLOS_EKEY, MLOS_ERANGE, MLOS_EACCES};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(raw_read(fd, b, MLOS_TCP_HDR_SIZE), 0);
        CHECK_EQ(mlos_tcp_hdr_decode(b, MLOS_TCP_HDR_SIZE, &h, NULL), 0);
        CHECK_EQ(h.id, (uint64_t)i + 2);
        CHECK_EQ(mlos_tcp_status(&h), want[i]);
        CHECK_EQ(h.len, 0);
    }
    CHECK_EQ(ep.state, MLOS_EP_OPEN); /* key errors are answered, not fatal */
    /* a good message is delivered */
    uint8_t msg[MLOS_TCP_HDR_SIZE + 3];
    mlos_tcp_hdr_encode(&(struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, 9, 0, 0, 3}, msg);
    memcpy(msg + MLOS_TCP_HDR_SIZE, "abc", 3);
    CHECK(write(fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg));
    for (int i = 0; i < 200 && !recvd; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(500);
    CHECK_EQ(recvd, 1);
    /* then an unknown op: the endpoint fails */
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_OP_MAX + 1, 0, 0, 0, 0, 0});
    finish_peer(fd, 1);

    /* hostile inputs, each on a fresh connection; all fail the endpoint */
    fd = raw_peer(port); /* oversized SEND: refused before any allocation */
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, 1, 0, 0, MLOS_EP_MAX_MSG + 1});
    finish_peer(fd, 1);
    fd = raw_peer(port); /* reply nobody asked for */
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_PUT_ACK, 0, 0, 77, 0, 0});
    finish_peer(fd, 1);
    fd = raw_peer(port); /* credits never handed out */
    send_hdr(fd, (struct mlos_tcp_hdr){MLOS_TCP_CREDIT, 1, 0, 0, 0, 0});
    finish_peer(fd, 1);
    fd = raw_peer(port); /* more SENDs than credits, in one write so no credit can come back between them */
    {
        static uint8_t many[(MLOS_EP_CREDITS + 1) * MLOS_TCP_HDR_SIZE];
        for (int i = 0; i <= MLOS_EP_CREDITS; i++)
            mlos_tcp_hdr_encode(&(struct mlos_tcp_hdr){MLOS_TCP_SEND, 0, 1, 0, 0, 0}, many + i * MLOS_TCP_HDR_SIZE);
        CHECK(write(fd, many, sizeof(many)) == (ssize_t)sizeof(many));
    }
    finish_peer(fd, 1);
    CHECK(recvd <= MLOS_EP_CREDITS);

    /* bad hello: the peer is dropped before anything else is read */
    {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        accepted = fail_status = closed = 0;
        spin(&accepted);
        CHECK(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
        finish_peer(fd, 1);
    }

    /* a server that accepts but never says hello: the connect times out */
    {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t sl = sizeof(sa);
        char a[64];
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0);
        CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
        snprintf(a, sizeof(a), "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
        connect_status = 1;
        CHECK_EQ(mlos_connect(&dom, &e2, a, 200, on_connect), 0);
        for (int i = 0; i < 100 && connect_status == 1; i++)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(connect_status, MLOS_ETIMEDOUT);
        CHECK(mlos_send(&e2, &(mlos_wr_t){0}, 1, "x", 1, (mlos_wr_cb)on_fail) < 0);
        close(lfd);
    }

    mlos_listener_close(&lis);
    CHECK_EQ(mlos_mr_dereg(&mr), 0);
    for (int i = 0; i < 10; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&dom), 0);
    uv_run(loop, UV_RUN_DEFAULT); /* every handle was released */
}

int main(void)
{
    hdr_roundtrip();
    hdr_malformed();
    hello_cases();
    live();
    CHECK_DONE();
}
