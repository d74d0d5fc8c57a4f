/* The shm transport against a hostile peer on the same host. A fake peer
 * speaks the transport's setup protocol by hand (unix socket records with
 * descriptors, see rpc/msg/msg_shm.c) and offers what a careful endpoint must
 * refuse: an unsealed memfd, one smaller than it claims, a doorbell that
 * is not an eventfd, a grant it could truncate, a ring index out of line.
 * Each is refused with MLOS_EPROTO, nothing crashes, and the listener or
 * endpoint goes on working. A read-only grant arrives as a descriptor that can neither
 * write nor resize the region, however the peer reopens it.
 * Usage: test_msg_shm_hostile DIR   (for the socket files) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "mlos_endian.h"
#include "msg.h"
#include "ring.h"

/* ---- the transport's wire, as msg_shm.c defines it ---- */
#define SHM_MAGIC 0x4D4C534Du
#define SHM_VERSION 2u
#define RING_SIZE (4u << 20)
#define RINGS_OFF 4096u
#define RING_BYTES (sizeof(struct mlos_ring_ctl) + RING_SIZE)
#define SHM_SIZE (RINGS_OFF + 2 * RING_BYTES)
enum { CTL_SETUP = 0, CTL_MAP_REQ = 1, CTL_MAP_REP = 2 };
struct ctl_rec {
    uint32_t magic, op, rkey, access;
    int32_t status;
    uint32_t pad;
    uint64_t len;
    uint64_t secret; /* MAP_REQ: the key's secret */
};

static uv_loop_t *loop;
static mlos_domain_t ds, dc; /* server (listener), client */
static mlos_listener_t lis;
static char lis_path[108], lis_addr[128];

/* ---- server side: every accepted endpoint records how it ended ---- */
#define MAXEP 16
static mlos_ep_t eps[MAXEP];
static int nep, ep_fail[MAXEP], ep_closed;
static uint32_t last_type;

static void ep_closed_cb(mlos_ep_t *ep) { ep_closed++; }

static void on_fail(mlos_ep_t *ep, int status)
{
    ep_fail[ep - eps] = status;
    mlos_ep_close(ep, ep_closed_cb);
}

static void on_recv(mlos_ep_t *ep, uint32_t type, const void *data, size_t len) { last_type = type; }

static void on_connection(mlos_listener_t *l, int status)
{
    CHECK_EQ(status, 0);
    CHECK(nep < MAXEP);
    eps[nep].on_recv = on_recv;
    eps[nep].on_fail = on_fail;
    CHECK_EQ(mlos_accept(l, &eps[nep]), 0);
    nep++;
}

static void tick_cb(uv_timer_t *t) { (void)t; }

static void run_ms(unsigned ms, const int *until)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, tick_cb, 5, 5); /* keep the loop turning */
    while ((!until || !*until) && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* ---- fake peer helpers ---- */

static int send_rec(int sock, const struct ctl_rec *r, const int *fds, int nfds)
{
    struct iovec iov = {(void *)r, sizeof(*r)};
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(*r) ? 0 : -1;
}

/* Wait (running the loop) for one record on a non-blocking socket. Returns
 * 1 with the record, 0 on timeout or EOF. */
static int recv_rec(int sock, struct ctl_rec *r, int *fds, int *nfds, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
    *nfds = 0;
    while (uv_hrtime() < end) {
        struct iovec iov = {r, sizeof(*r)};
        union {
            char buf[CMSG_SPACE(3 * sizeof(int))];
            struct cmsghdr align;
        } u;
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
        ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n == (ssize_t)sizeof(*r)) {
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                    for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && *nfds < 3; i++)
                        memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            return 1;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN))
            return 0;
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(200);
    }
    return 0;
}

/* A memfd of size bytes holding a valid transport layout (as far as it
 * reaches), sealed against resizing if asked. */
static int make_shm(size_t size, int sealed)
{
    int fd = memfd_create("fake-peer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
    uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED);
    uint32_t hdr[4] = {SHM_MAGIC, SHM_VERSION, RING_SIZE, 0};
    memcpy(m, hdr, sizeof(hdr));
    if (size >= SHM_SIZE) {
        mlos_ring_format(m + RINGS_OFF, RING_SIZE);
        mlos_ring_format(m + RINGS_OFF + RING_BYTES, RING_SIZE);
    }
    munmap(m, size);
    if (sealed)
        CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    return fd;
}

static int dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    CHECK(s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    return s;
}

/* Offer the listener a setup with these descriptors; return the socket
 * (the caller closes it) and which endpoint took it. */
static int offer(int memfd, int bell_to_us, int bell_to_them, int *which)
{
    struct ctl_rec setup = {.magic = SHM_MAGIC, .op = CTL_SETUP, .len = SHM_SIZE};
    int fds[3] = {memfd, bell_to_us, bell_to_them};
    int before = nep, sock = dial(lis_path);
    CHECK_EQ(send_rec(sock, &setup, fds, 3), 0);
    while (nep == before)
        run_ms(10, NULL);
    *which = before;
    return sock;
}

/* The listener refuses this setup with MLOS_EPROTO and sends no ack. */
static void expect_refused(const char *what, int memfd, int b1, int b2)
{
    struct ctl_rec ack;
    int which, fds[3], nfds;
    int sock = offer(memfd, b1, b2, &which);
    run_ms(2000, &ep_fail[which]);
    fprintf(stderr, "%s: endpoint ended with %s\n", what, mlos_strerror(ep_fail[which]));
    CHECK_EQ(ep_fail[which], MLOS_EPROTO);
    CHECK_EQ(recv_rec(sock, &ack, fds, &nfds, 50), 0);
    close(sock);
    close(memfd);
    close(b1);
    close(b2);
}

/* A real client still gets through the same listener. */
static int connected;
static void on_connect(mlos_ep_t *ep, int status) { connected = status ? status : 1; }
static int sent;
static void sent_cb(mlos_wr_t *wr, int status) { sent = status ? status : 1; }
static void client_close_cb(mlos_ep_t *ep) { connected = 0; }

static void listener_still_works(void)
{
    mlos_ep_t c = {0};
    mlos_wr_t w;
    connected = sent = 0;
    last_type = 0;
    CHECK_EQ(mlos_connect(&dc, &c, lis_addr, 3000, on_connect), 0);
    run_ms(3000, &connected);
    CHECK_EQ(connected, 1);
    CHECK_EQ(mlos_send(&c, &w, 4242, "hi", 2, sent_cb), 0);
    run_ms(3000, &sent);
    for (int i = 0; i < 300 && last_type != 4242; i++)
        run_ms(10, NULL);
    CHECK_EQ(last_type, 4242);
    mlos_ep_close(&c, client_close_cb);
    while (connected)
        uv_run(loop, UV_RUN_ONCE);
}

static int efd(void) { return eventfd(0, EFD_CLOEXEC); } /* blocking, as a careless peer leaves it */

static void test_setup_refusals(void)
{
    int p[2];
    expect_refused("unsealed memfd", make_shm(SHM_SIZE, 0), efd(), efd());
    listener_still_works();
    expect_refused("memfd smaller than claimed", make_shm(8192, 1), efd(), efd());
    listener_still_works();
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    expect_refused("pipe as doorbell", make_shm(SHM_SIZE, 1), p[1], efd());
    close(p[0]);
    listener_still_works();
    expect_refused("memfd as doorbell", make_shm(SHM_SIZE, 1), efd(), make_shm(4096, 1));
    listener_still_works();
}

/* A well-formed fake connector asks for a read-only region and tries to
 * write it; then uses its endpoint for a message. */
static void test_readonly_grant(void)
{
    mlos_mr_t ro;
    struct mlos_rkey rk;
    struct ctl_rec rep, req = {.magic = SHM_MAGIC, .op = CTL_MAP_REQ, .access = MLOS_ACCESS_REMOTE_READ};
    int memfd = make_shm(SHM_SIZE, 1), to_us = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), to_them = efd();
    int which, fds[3], nfds;

    CHECK_EQ(mlos_mr_alloc(&ds, &ro, 65536, MLOS_ACCESS_REMOTE_READ), 0);
    memset(ro.addr, 0x5A, 65536);
    mlos_mr_rkey(&ro, &rk);
    int sock = offer(memfd, to_us, to_them, &which);
    CHECK_EQ(recv_rec(sock, &rep, fds, &nfds, 3000), 1); /* the ack */
    CHECK(rep.op == CTL_SETUP && rep.status == 0 && nfds == 0);

    req.rkey = rk.rkey;
    req.secret = rk.secret;
    CHECK_EQ(send_rec(sock, &req, NULL, 0), 0);
    CHECK_EQ(recv_rec(sock, &rep, fds, &nfds, 3000), 1);
    CHECK(rep.op == CTL_MAP_REP && rep.status == 0 && rep.len == 65536 && nfds == 1);
    if (nfds == 1) {
        int fd = fds[0], rw;
        char path[40];
        uint8_t b = 1;
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
        CHECK(mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
        CHECK(write(fd, &b, 1) < 0);
        CHECK(ftruncate(fd, 0) < 0);
        uint8_t *r = mmap(NULL, 65536, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(r != MAP_FAILED);
        if (r != MAP_FAILED) {
            CHECK(r[0] == 0x5A && r[65535] == 0x5A);
            CHECK(mprotect(r, 65536, PROT_READ | PROT_WRITE) < 0);
            munmap(r, 65536);
        }
        /* Reopened read-write through /proc: the memory itself refuses writers. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        rw = open(path, O_RDWR | O_CLOEXEC);
        fprintf(stderr, "read-only grant: reopening it read-write %s\n", rw >= 0 ? "works" : "is refused");
        if (rw >= 0) {
            CHECK(mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0) == MAP_FAILED);
            CHECK(pwrite(rw, &b, 1, 0) < 0);
            CHECK(ftruncate(rw, 0) < 0);
            CHECK(ftruncate(rw, 1 << 20) < 0);
            close(rw);
        }
        CHECK(((uint8_t *)ro.addr)[0] == 0x5A);
        close(fd);
    }

    /* The endpoint works: one message through the connector's ring. */
    uint8_t *m = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    struct mlos_ring out;
    uint64_t one = 1;
    CHECK(m != MAP_FAILED);
    CHECK_EQ(mlos_ring_attach(&out, m + RINGS_OFF, RING_BYTES), 0);
    last_type = 0;
    CHECK_EQ(mlos_ring_push(&out, MLOS_FRAME_MSG, 777, "x", 1), 0);
    CHECK_EQ(write(to_them, &one, sizeof(one)), (ssize_t)sizeof(one));
    for (int i = 0; i < 300 && last_type != 777; i++)
        run_ms(10, NULL);
    CHECK_EQ(last_type, 777);
    CHECK_EQ(ep_fail[which], 0);
    /* A misaligned tail on the ring we consume: the endpoint's next send
     * finds it and gives the connection up. */
    struct mlos_ring_ctl *back = (struct mlos_ring_ctl *)(m + RINGS_OFF + RING_BYTES);
    mlos_wr_t w;
    back->tail = mlos_to_le32(mlos_from_le32(back->tail) + 8);
    sent = 0;
    CHECK_EQ(mlos_send(&eps[which], &w, 5, "y", 1, sent_cb), 0);
    run_ms(2000, &ep_fail[which]);
    fprintf(stderr, "misaligned tail: endpoint ended with %s\n", mlos_strerror(ep_fail[which]));
    CHECK_EQ(ep_fail[which], MLOS_EPROTO);
    run_ms(100, &sent);
    CHECK(sent != 0 && sent != 1); /* the send failed, and said so */
    munmap(m, SHM_SIZE);
    close(sock);
    close(memfd);
    close(to_us);
    close(to_them);
    CHECK_EQ(mlos_mr_dereg(&ro), 0);
    listener_still_works();
}

/* ---- a fake target: a real client maps what it offers ---- */

static int got_done, got_status;
static void got_cb(mlos_wr_t *wr, int status)
{
    got_done = 1;
    got_status = status;
}

static void test_hostile_grants(const char *dir)
{
    char path[108];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), s = -1;
    snprintf(path, sizeof(path), "%s/hostile-target-%d.sock", dir, getpid());
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 4) == 0);

    char addr[128];
    mlos_ep_t c = {0};
    snprintf(addr, sizeof(addr), "shm:%s", path);
    connected = 0;
    CHECK_EQ(mlos_connect(&dc, &c, addr, 3000, on_connect), 0);
    for (int i = 0; i < 3000 && s < 0; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (s < 0)
            usleep(1000);
    }
    CHECK(s >= 0);
    struct ctl_rec r, ack = {.magic = SHM_MAGIC, .op = CTL_SETUP};
    int fds[3], nfds;
    CHECK_EQ(recv_rec(s, &r, fds, &nfds, 3000), 1);
    CHECK_EQ(nfds, 3);
    CHECK_EQ(send_rec(s, &ack, NULL, 0), 0);
    run_ms(3000, &connected);
    CHECK_EQ(connected, 1);

    /* Two grants the client must not map: unsealed, and smaller than said. */
    mlos_mr_t local;
    mlos_wr_t w;
    struct mlos_rkey fake = {.addr = 0, .len = 1 << 20, .rkey = 0x1234, .access = MLOS_ACCESS_REMOTE_READ};
    CHECK_EQ(mlos_mr_alloc(&dc, &local, 1 << 20, MLOS_ACCESS_LOCAL), 0);
    for (int round = 0; round < 2; round++) {
        int rfds[3], rn, bad = round == 0 ? make_shm(1 << 20, 0) : make_shm(4096, 1);
        struct ctl_rec req, rep = {.magic = SHM_MAGIC, .op = CTL_MAP_REP, .rkey = fake.rkey,
                                   .access = MLOS_ACCESS_REMOTE_READ, .len = 1 << 20};
        got_done = 0;
        CHECK_EQ(mlos_ep_get(&c, &w, &local, 0, &fake, 512 * 1024, 4096, got_cb), 0);
        CHECK_EQ(recv_rec(s, &req, rfds, &rn, 3000), 1);
        CHECK(req.op == CTL_MAP_REQ && req.rkey == fake.rkey);
        CHECK_EQ(send_rec(s, &rep, &bad, 1), 0);
        close(bad);
        run_ms(3000, &got_done);
        fprintf(stderr, "%s grant: get ended with %s\n", round == 0 ? "unsealed" : "short", mlos_strerror(got_status));
        CHECK_EQ(got_status, MLOS_EPROTO);
    }
    /* The endpoint still carries messages. */
    uint8_t *m = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
    struct mlos_ring in;
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int got = 0;
    CHECK(m != MAP_FAILED);
    CHECK_EQ(mlos_ring_attach(&in, m + RINGS_OFF, RING_BYTES), 0); /* connector -> acceptor */
    sent = 0;
    CHECK_EQ(mlos_send(&c, &w, 99, "ok", 2, sent_cb), 0);
    for (int i = 0; i < 300 && !got; i++) {
        run_ms(10, NULL);
        got = mlos_ring_peek(&in, &h, &p) == 1 && h.request_id == 99;
    }
    CHECK(got);
    munmap(m, SHM_SIZE);
    mlos_ep_close(&c, client_close_cb);
    while (connected)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(mlos_mr_dereg(&local), 0);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    close(s);
    close(l);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    loop = uv_default_loop();
    snprintf(lis_path, sizeof(lis_path), "%s/hostile-lis-%d.sock", dir, getpid());
    snprintf(lis_addr, sizeof(lis_addr), "shm:%s", lis_path);
    CHECK_EQ(mlos_domain_init(&ds, loop, 0), 0);
    CHECK_EQ(mlos_domain_init(&dc, loop, 0), 0);
    CHECK_EQ(mlos_listen(&ds, &lis, lis_addr, on_connection), 0);
    test_setup_refusals();
    test_readonly_grant();
    test_hostile_grants(dir);
    mlos_listener_close(&lis);
    while (ep_closed < nep)
        uv_run(loop, UV_RUN_ONCE);
    uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&ds), 0);
    CHECK_EQ(mlos_domain_close(&dc), 0);
    CHECK_DONE();
}
