/* Host tests of the verbs transport that need no RDMA device: address
 * parsing, the setup record and data header formats (round trips and
 * malformed input), the recovery records and their state machine,
 * fragment reassembly rules, the completion error table, and that a host
 * without devices refuses verbs cleanly (MLOS_ENOTSUP). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "msg.h"
#include "msg_verbs_wire.h"
#ifdef MLOS_HAVE_VERBS
#include "msg_verbs_dev.h"
#endif

/* 200000 mutations of a valid record b (1 to 4 random bytes each): the
 * decoder never crashes, and whatever it accepts re-encodes to the same
 * bytes. */
static void fuzz_reencode(const uint8_t *b, unsigned seed)
{
    uint8_t c[MLOS_VERBS_SETUP_SIZE], e[MLOS_VERBS_SETUP_SIZE];
    struct mlos_verbs_setup d;

    srand(seed);
    for (int i = 0; i < 200000; i++) {
        memcpy(c, b, sizeof(c));
        for (int k = rand() % 4; k >= 0; k--)
            c[rand() % sizeof(c)] = (uint8_t)rand();
        if (mlos_verbs_setup_decode(c, sizeof(c), &d, NULL) == 0) {
            mlos_verbs_setup_encode(&d, e);
            CHECK(!memcmp(c, e, sizeof(e)));
        }
    }
}

static void test_addr(void)
{
    uint32_t ip = 0;
    uint16_t port = 0;
    CHECK_EQ(mlos_verbs_parse_addr("10.0.2.15:4791", &ip, &port, 0), 0);
    CHECK_EQ(ip, 0x0a00020fu);
    CHECK_EQ(port, 4791);
    CHECK_EQ(mlos_verbs_parse_addr("0.0.0.0:0", &ip, &port, 1), 0);
    CHECK_EQ(ip, 0);
    CHECK_EQ(port, 0);
    CHECK_EQ(mlos_verbs_parse_addr("255.255.255.255:65535", &ip, &port, 0), 0);
    CHECK_EQ(port, 65535);
    static const char *bad[] = {
        "", ":", "10.0.2.15", "10.0.2.15:", ":80", "host:1", "localhost:80", "10.0.2:1", "10.0.2.15.1:1",
        "10.0.2.15:65536", "10.0.2.15:-1", "10.0.2.15:+1", "10.0.2.15:1x", "10.0.2.15: 1", " 10.0.2.15:1",
        "[::1]:5", "::1:5", "10.0.2.256:1", "10.0.2.15:0000001", "10.0.2.15:99999999999999999999",
        "1234567890123456789:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = mlos_verbs_parse_addr(bad[i], &ip, &port, 1);
        if (rc != MLOS_EINVAL)
            fprintf(stderr, "accepted bad address \"%s\"\n", bad[i]);
        CHECK_EQ(rc, MLOS_EINVAL);
    }
    CHECK_EQ(mlos_verbs_parse_addr(NULL, &ip, &port, 1), MLOS_EINVAL);
    CHECK_EQ(mlos_verbs_parse_addr("10.0.2.15:0", &ip, &port, 0), MLOS_EINVAL); /* connect needs a port */
}

static struct mlos_verbs_setup hello(void)
{
    struct mlos_verbs_setup s = {.kind = MLOS_VERBS_HELLO, .mtu = 3, .qpn = 0x123456, .psn = 0xabcdef, .lid = 7,
                                 .slots = MLOS_VERBS_SLOTS, .slot_size = MLOS_VERBS_SLOT_SIZE, .rd_atomic = 16};
    for (int i = 0; i < 16; i++)
        s.gid[i] = (uint8_t)(0xa0 + i);
    return s;
}

static int decode(const uint8_t *b, size_t n)
{
    struct mlos_verbs_setup s;
    const char *why = NULL;
    int rc = mlos_verbs_setup_decode(b, n, &s, &why);
    CHECK(rc == 0 || why != NULL);
    return rc;
}

static void test_setup(void)
{
    uint8_t b[MLOS_VERBS_SETUP_SIZE], c[MLOS_VERBS_SETUP_SIZE];
    struct mlos_verbs_setup s = hello(), d;

    /* round trips */
    for (int kind = MLOS_VERBS_HELLO; kind <= MLOS_VERBS_ACCEPT; kind++) {
        s.kind = (uint8_t)kind;
        mlos_verbs_setup_encode(&s, b);
        CHECK_EQ(mlos_verbs_setup_decode(b, sizeof(b), &d, NULL), 0);
        CHECK(d.kind == kind && d.mtu == 3 && d.qpn == 0x123456 && d.psn == 0xabcdef && d.lid == 7 &&
              d.rd_atomic == 16 && !memcmp(d.gid, s.gid, 16));
    }
    CHECK(b[0] == 'M' && b[1] == 'L' && b[2] == 'V' && b[3] == 'B'); /* big-endian magic */
    struct mlos_verbs_setup r = {.kind = MLOS_VERBS_READY, .qpn = 99}; /* fields of other kinds are not sent */
    mlos_verbs_setup_encode(&r, b);
    CHECK_EQ(mlos_verbs_setup_decode(b, sizeof(b), &d, NULL), 0);
    CHECK(d.kind == MLOS_VERBS_READY && d.qpn == 0);
    r = (struct mlos_verbs_setup){.kind = MLOS_VERBS_REJECT, .status = MLOS_ENOTSUP};
    mlos_verbs_setup_encode(&r, b);
    CHECK_EQ(mlos_verbs_setup_decode(b, sizeof(b), &d, NULL), 0);
    CHECK_EQ(d.status, MLOS_ENOTSUP);

    /* malformed */
    s = hello();
    mlos_verbs_setup_encode(&s, b);
    CHECK_EQ(decode(b, sizeof(b) - 1), MLOS_ETRUNC);
    CHECK_EQ(decode(NULL, 64), MLOS_ETRUNC);
#define MUTATE(off, val, want)                                                                                  \
    do {                                                                                                       \
        memcpy(c, b, sizeof(b));                                                                               \
        c[off] = (uint8_t)(val);                                                                               \
        CHECK_EQ(decode(c, sizeof(c)), want);                                                                  \
    } while (0)
    MUTATE(0, 'X', MLOS_EBADMAGIC);
    MUTATE(5, 1, MLOS_EVERSION); /* version 1: no recovery */
    MUTATE(5, 9, MLOS_EVERSION);
    MUTATE(6, 0, MLOS_EBADTYPE);
    MUTATE(6, 9, MLOS_EBADTYPE);
    MUTATE(7, 0, MLOS_EPROTO);    /* mtu */
    MUTATE(7, 6, MLOS_EPROTO);
    MUTATE(8, 1, MLOS_EPROTO);    /* qpn over 24 bits */
    MUTATE(12, 1, MLOS_EPROTO);   /* psn over 24 bits */
    MUTATE(19, 1, MLOS_EPROTO);   /* slots differ */
    MUTATE(21, 0x80, MLOS_EPROTO); /* slot size differs */
    MUTATE(43, 1, MLOS_EPROTO);   /* status outside REJECT */
    MUTATE(44, 0, MLOS_EPROTO);   /* rd_atomic */
    MUTATE(45, 1, MLOS_EPROTO);   /* reserved */
    MUTATE(63, 1, MLOS_EPROTO);
    memcpy(c, b, sizeof(b));
    memset(c + 8, 0, 4); /* qpn 0 */
    CHECK_EQ(decode(c, sizeof(c)), MLOS_EPROTO);
    r = (struct mlos_verbs_setup){.kind = MLOS_VERBS_READY};
    mlos_verbs_setup_encode(&r, c);
    c[10] = 1; /* READY with a qpn */
    CHECK_EQ(decode(c, sizeof(c)), MLOS_EPROTO);
    mlos_verbs_setup_encode(&r, c);
    c[43] = 1; /* READY with a status */
    CHECK_EQ(decode(c, sizeof(c)), MLOS_EPROTO);
    r = (struct mlos_verbs_setup){.kind = MLOS_VERBS_REJECT, .status = 5};
    mlos_verbs_setup_encode(&r, c); /* REJECT must carry an error */
    CHECK_EQ(decode(c, sizeof(c)), MLOS_EPROTO);

    /* random input: never crashes; whatever decodes re-encodes to the same bytes */
    fuzz_reencode(b, 1);
}

static void test_recovery_records(void)
{
    uint8_t b[MLOS_VERBS_SETUP_SIZE], c[MLOS_VERBS_SETUP_SIZE];
    struct mlos_verbs_setup r = {.kind = MLOS_VERBS_RESET, .qpn = 0x00abcd, .psn = 0xfffffe, .epoch = 0x01020304,
                                 .consumed = 0xfffffff0, .mtu = 3, .lid = 9, .rd_atomic = 4},
                            d;
    /* RESET: only qpn, psn, epoch, consumed go on the wire */
    mlos_verbs_setup_encode(&r, b);
    CHECK_EQ(mlos_verbs_setup_decode(b, sizeof(b), &d, NULL), 0);
    CHECK(d.kind == MLOS_VERBS_RESET && d.qpn == 0x00abcd && d.psn == 0xfffffe && d.epoch == 0x01020304 &&
          d.consumed == 0xfffffff0 && d.mtu == 0 && d.lid == 0 && d.rd_atomic == 0);
    CHECK(b[48] == 1 && b[51] == 4 && b[52] == 0xff && b[55] == 0xf0); /* big-endian, offsets 48 and 52 */
    MUTATE(7, 1, MLOS_EPROTO);    /* mtu */
    MUTATE(17, 1, MLOS_EPROTO);   /* lid */
    MUTATE(30, 1, MLOS_EPROTO);   /* gid */
    MUTATE(43, 1, MLOS_EPROTO);   /* status */
    MUTATE(44, 1, MLOS_EPROTO);   /* rd_atomic */
    MUTATE(46, 1, MLOS_EPROTO);   /* reserved */
    MUTATE(60, 1, MLOS_EPROTO);
    MUTATE(8, 1, MLOS_EPROTO);    /* qpn over 24 bits */
    MUTATE(12, 1, MLOS_EPROTO);   /* psn over 24 bits */
    memcpy(c, b, sizeof(b));
    memset(c + 48, 0, 4); /* epoch 0 is the one set up by HELLO/ACCEPT */
    CHECK_EQ(decode(c, sizeof(c)), MLOS_EPROTO);
    memcpy(c, b, sizeof(b));
    memset(c + 8, 0, 4); /* qpn 0 */
    CHECK_EQ(decode(c, sizeof(c)), MLOS_EPROTO);

    /* RESUME: only the epoch */
    struct mlos_verbs_setup m = {.kind = MLOS_VERBS_RESUME, .epoch = 7, .qpn = 5, .consumed = 3};
    mlos_verbs_setup_encode(&m, b);
    CHECK_EQ(mlos_verbs_setup_decode(b, sizeof(b), &d, NULL), 0);
    CHECK(d.kind == MLOS_VERBS_RESUME && d.epoch == 7 && d.qpn == 0 && d.consumed == 0);
    MUTATE(10, 1, MLOS_EPROTO);   /* qpn */
    MUTATE(14, 1, MLOS_EPROTO);   /* psn */
    MUTATE(55, 1, MLOS_EPROTO);   /* consumed */
    MUTATE(51, 0, MLOS_EPROTO);   /* epoch 0 */

    /* setup records must not carry recovery fields */
    struct mlos_verbs_setup h = hello();
    h.epoch = 5;
    h.consumed = 5;
    mlos_verbs_setup_encode(&h, b);
    CHECK_EQ(mlos_verbs_setup_decode(b, sizeof(b), &d, NULL), 0);
    CHECK(d.epoch == 0 && d.consumed == 0);
    MUTATE(51, 1, MLOS_EPROTO);
    MUTATE(52, 1, MLOS_EPROTO);
    struct mlos_verbs_setup rd = {.kind = MLOS_VERBS_READY};
    mlos_verbs_setup_encode(&rd, b);
    MUTATE(51, 1, MLOS_EPROTO);

    /* random input around a RESET: never crashes, whatever decodes re-encodes identically */
    mlos_verbs_setup_encode(&r, b);
    fuzz_reencode(b, 2);
}

/* The recovery state machine: which record is acted on in which state. */
static void test_recovery_actions(void)
{
    struct mlos_verbs_setup reset = {.kind = MLOS_VERBS_RESET, .qpn = 1}, resume = {.kind = MLOS_VERBS_RESUME};
    enum { NONE = MLOS_VERBS_REC_NONE, FLUSH = MLOS_VERBS_REC_FLUSH, PEER = MLOS_VERBS_REC_WAIT_PEER,
           RESUME = MLOS_VERBS_REC_WAIT_RESUME };

    /* the peer noticed first: it is one epoch ahead of our QP */
    reset.epoch = 4;
    CHECK_EQ(mlos_verbs_rec_action(NONE, 3, 0, &reset), MLOS_VERBS_ACT_BEGIN);
    CHECK_EQ(mlos_verbs_rec_action(NONE, 4, 0, &reset), MLOS_EPROTO); /* stale */
    CHECK_EQ(mlos_verbs_rec_action(NONE, 2, 0, &reset), MLOS_EPROTO); /* from the future */
    /* both noticed: we are still flushing */
    CHECK_EQ(mlos_verbs_rec_action(FLUSH, 3, 0, &reset), MLOS_VERBS_ACT_KEEP);
    CHECK_EQ(mlos_verbs_rec_action(FLUSH, 3, 1, &reset), MLOS_EPROTO); /* a second one */
    CHECK_EQ(mlos_verbs_rec_action(FLUSH, 4, 0, &reset), MLOS_EPROTO);
    /* ours is reset (epoch grew): the peer's RESET connects */
    CHECK_EQ(mlos_verbs_rec_action(PEER, 4, 0, &reset), MLOS_VERBS_ACT_CONNECT);
    CHECK_EQ(mlos_verbs_rec_action(PEER, 3, 0, &reset), MLOS_EPROTO);
    CHECK_EQ(mlos_verbs_rec_action(RESUME, 4, 0, &reset), MLOS_EPROTO); /* one RESET per epoch */
    /* RESUME only once both are in RTS, for the same epoch */
    resume.epoch = 4;
    CHECK_EQ(mlos_verbs_rec_action(RESUME, 4, 0, &resume), MLOS_VERBS_ACT_RESUME);
    CHECK_EQ(mlos_verbs_rec_action(RESUME, 5, 0, &resume), MLOS_EPROTO);
    CHECK_EQ(mlos_verbs_rec_action(NONE, 4, 0, &resume), MLOS_EPROTO);
    CHECK_EQ(mlos_verbs_rec_action(FLUSH, 3, 0, &resume), MLOS_EPROTO);
    CHECK_EQ(mlos_verbs_rec_action(PEER, 4, 0, &resume), MLOS_EPROTO);
    /* setup records are no recovery records */
    struct mlos_verbs_setup h = hello();
    CHECK_EQ(mlos_verbs_rec_action(NONE, 0, 0, &h), MLOS_EPROTO);

    /* a whole recovery, both sides starting at once, epochs 0 -> 1 */
    int a = NONE, b2 = NONE;
    uint32_t ea = 0, eb = 0;
    a = FLUSH, b2 = FLUSH;                 /* each saw an error completion */
    ea++, a = PEER, eb++, b2 = PEER;       /* each reset and sent RESET{1} */
    reset.epoch = 1;
    CHECK_EQ(mlos_verbs_rec_action(a, ea, 0, &reset), MLOS_VERBS_ACT_CONNECT);
    CHECK_EQ(mlos_verbs_rec_action(b2, eb, 0, &reset), MLOS_VERBS_ACT_CONNECT);
    a = b2 = RESUME;
    resume.epoch = 1;
    CHECK_EQ(mlos_verbs_rec_action(a, ea, 0, &resume), MLOS_VERBS_ACT_RESUME);
    CHECK_EQ(mlos_verbs_rec_action(b2, eb, 0, &resume), MLOS_VERBS_ACT_RESUME);

    /* wrapping counters */
    CHECK(mlos_verbs_before(1, 2) && !mlos_verbs_before(2, 1) && !mlos_verbs_before(5, 5));
    CHECK(mlos_verbs_before(0xfffffff0u, 3)); /* 3 comes after the wrap */
    CHECK(!mlos_verbs_before(3, 0xfffffff0u));
}

static int hdr_decode(const void *b, size_t n, struct mlos_verbs_hdr *h)
{
    const char *why = NULL;
    int rc = mlos_verbs_hdr_decode(b, n, h, &why);
    CHECK(rc == 0 || why != NULL);
    return rc;
}

static void test_hdr(void)
{
    uint8_t b[MLOS_VERBS_SLOT_SIZE] = {0};
    struct mlos_verbs_hdr h = {.kind = MLOS_VERBS_MSG, .flags = MLOS_VERBS_FIRST | MLOS_VERBS_LAST, .type = 0x01020304,
                               .total = 100, .consumed = 0xfffffffe},
                          d;
    mlos_verbs_hdr_encode(&h, b);
    CHECK(b[4] == 4 && b[7] == 1); /* little-endian */
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE + 100, &d), 0);
    CHECK(d.kind == MLOS_VERBS_MSG && d.type == 0x01020304 && d.total == 100 && d.consumed == 0xfffffffe);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE + 99, &d), MLOS_EPROTO); /* lone fragment != total */
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE - 1, &d), MLOS_ETRUNC);
    CHECK_EQ(hdr_decode(NULL, 100, &d), MLOS_ETRUNC);

    h.flags = MLOS_VERBS_FIRST;
    h.total = MLOS_EP_MAX_MSG;
    mlos_verbs_hdr_encode(&h, b);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_SLOT_SIZE, &d), 0);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_SLOT_SIZE + 1, &d), MLOS_ETOOBIG);
    h.total = MLOS_EP_MAX_MSG + 1;
    mlos_verbs_hdr_encode(&h, b);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_SLOT_SIZE, &d), MLOS_ETOOBIG);
    h.total = 10;
    mlos_verbs_hdr_encode(&h, b);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE + 11, &d), MLOS_EPROTO); /* fragment > message */
    h.flags = 4;
    mlos_verbs_hdr_encode(&h, b);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE, &d), MLOS_EPROTO);
    h.flags = MLOS_VERBS_FIRST;
    mlos_verbs_hdr_encode(&h, b);
    b[2] = 1;
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE, &d), MLOS_EPROTO);
    b[2] = 0;
    b[0] = 3;
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE, &d), MLOS_EBADTYPE);

    struct mlos_verbs_hdr cr = {.kind = MLOS_VERBS_CREDIT, .consumed = 64};
    mlos_verbs_hdr_encode(&cr, b);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE, &d), 0);
    CHECK(d.kind == MLOS_VERBS_CREDIT && d.consumed == 64);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE + 1, &d), MLOS_EPROTO); /* credit with payload */
    cr.type = 1;
    mlos_verbs_hdr_encode(&cr, b);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_HDR_SIZE, &d), MLOS_EPROTO);

    /* a SEND posted again after a recovery carries the current count */
    h = (struct mlos_verbs_hdr){.kind = MLOS_VERBS_MSG, .flags = MLOS_VERBS_FIRST, .type = 77, .total = 20000,
                                .consumed = 5};
    mlos_verbs_hdr_encode(&h, b);
    mlos_verbs_hdr_set_consumed(b, 0x80000001u);
    CHECK_EQ(hdr_decode(b, MLOS_VERBS_SLOT_SIZE, &d), 0);
    CHECK(d.consumed == 0x80000001u && d.type == 77 && d.total == 20000 && d.flags == MLOS_VERBS_FIRST);
}

static long step(uint8_t flags, uint32_t total, size_t frag, long have, uint32_t want)
{
    struct mlos_verbs_hdr h = {.kind = MLOS_VERBS_MSG, .flags = flags, .total = total};
    return mlos_verbs_reasm_step(&h, frag, have, want);
}

static void test_reasm(void)
{
    const uint32_t T = 2 * MLOS_VERBS_FRAG + 5;
    long have = step(MLOS_VERBS_FIRST, T, MLOS_VERBS_FRAG, -1, 0);
    CHECK_EQ(have, MLOS_VERBS_FRAG);
    have = step(0, T, MLOS_VERBS_FRAG, have, T);
    CHECK_EQ(have, 2 * MLOS_VERBS_FRAG);
    CHECK_EQ(step(MLOS_VERBS_LAST, T, 5, have, T), T);
    CHECK_EQ(step(MLOS_VERBS_FIRST | MLOS_VERBS_LAST, 0, 0, -1, 0), 0); /* empty message */

    CHECK_EQ(step(0, T, 10, -1, 0), MLOS_EPROTO);                        /* no start */
    CHECK_EQ(step(MLOS_VERBS_FIRST, T, 10, 10, T), MLOS_EPROTO);         /* restart mid-message */
    CHECK_EQ(step(0, T + 1, 10, 10, T), MLOS_EPROTO);                    /* total changed */
    CHECK_EQ(step(0, T, T, 10, T), MLOS_EPROTO);                         /* overrun */
    CHECK_EQ(step(MLOS_VERBS_LAST, T, 4, 2 * MLOS_VERBS_FRAG, T), MLOS_EPROTO); /* ends short */
    CHECK_EQ(step(0, T, 5, 2 * MLOS_VERBS_FRAG, T), MLOS_EPROTO);        /* reaches total without LAST */
    CHECK_EQ(step(0, T, 0, 10, T), MLOS_EPROTO);                         /* empty middle fragment */
    struct mlos_verbs_hdr cr = {.kind = MLOS_VERBS_CREDIT};
    CHECK_EQ(mlos_verbs_reasm_step(&cr, 0, -1, 0), MLOS_EPROTO);
}

static void test_wc_table(void)
{
#ifdef MLOS_HAVE_VERBS
    const char *why = NULL;
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_SUCCESS, &why), 0);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_REM_ACCESS_ERR, &why), MLOS_EKEY);
    CHECK(why && strstr(why, "key"));
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_LOC_PROT_ERR, NULL), MLOS_EKEY);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_LOC_ACCESS_ERR, NULL), MLOS_EACCES);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_MW_BIND_ERR, NULL), MLOS_EACCES);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_LOC_LEN_ERR, NULL), MLOS_ERANGE);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_REM_INV_REQ_ERR, NULL), MLOS_ERANGE);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_WR_FLUSH_ERR, NULL), MLOS_ECONNRESET);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_RETRY_EXC_ERR, NULL), MLOS_ECONNRESET);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_RNR_RETRY_EXC_ERR, NULL), MLOS_ECONNRESET);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_REM_OP_ERR, NULL), MLOS_EIO);
    CHECK_EQ(mlos_verbs_wc_error(IBV_WC_FATAL_ERR, NULL), MLOS_EIO);
    why = NULL;
    CHECK_EQ(mlos_verbs_wc_error(12345, &why), MLOS_EIO);
    CHECK(why != NULL);
    /* what the target (or our NIC) refused is recovered; the rest fails the endpoint */
    CHECK(mlos_verbs_wc_recoverable(IBV_WC_REM_ACCESS_ERR));
    CHECK(mlos_verbs_wc_recoverable(IBV_WC_REM_INV_REQ_ERR));
    CHECK(mlos_verbs_wc_recoverable(IBV_WC_LOC_PROT_ERR));
    CHECK(mlos_verbs_wc_recoverable(IBV_WC_LOC_ACCESS_ERR));
    CHECK(!mlos_verbs_wc_recoverable(IBV_WC_SUCCESS));
    CHECK(!mlos_verbs_wc_recoverable(IBV_WC_WR_FLUSH_ERR));
    CHECK(!mlos_verbs_wc_recoverable(IBV_WC_RETRY_EXC_ERR));
    CHECK(!mlos_verbs_wc_recoverable(IBV_WC_RNR_RETRY_EXC_ERR));
    CHECK(!mlos_verbs_wc_recoverable(IBV_WC_REM_OP_ERR));
    CHECK(!mlos_verbs_wc_recoverable(IBV_WC_FATAL_ERR));
#endif
}

/* On a host without RDMA devices (or a build without libibverbs) verbs is
 * refused with MLOS_ENOTSUP and nothing leaks; with a device, it opens. */
static void test_no_device(void)
{
    uv_loop_t loop;
    mlos_domain_t dom, dom0; /* a failed init may leave a handle closing in its struct */
    mlos_listener_t l;
    mlos_ep_t ep;
    uv_loop_init(&loop);
    int rc = mlos_domain_init(&dom0, &loop, MLOS_DOMAIN_VERBS);
    CHECK(rc == 0 || rc == MLOS_ENOTSUP);
    if (rc == 0) {
        printf("an RDMA device is present: skipping the no-device checks\n");
        CHECK_EQ(mlos_domain_close(&dom0), 0);
    } else {
        CHECK(dom0.verbs == NULL);
        CHECK_EQ(mlos_domain_init(&dom, &loop, 0), 0); /* usable without verbs */
        CHECK_EQ(mlos_listen(&dom, &l, "verbs:127.0.0.1:0", (mlos_connection_cb)abort), MLOS_ENOTSUP);
        CHECK_EQ(mlos_connect(&dom, &ep, "verbs:127.0.0.1:4791", 100, (mlos_connect_cb)abort), MLOS_ENOTSUP);
        CHECK_EQ(mlos_connect(&dom, &ep, "verbs:nohost:4791", 100, (mlos_connect_cb)abort), MLOS_EINVAL);
        CHECK(dom.verbs == NULL);
        CHECK_EQ(mlos_domain_close(&dom), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0); /* every handle was closed */
}

int main(void)
{
    test_addr();
    test_setup();
    test_recovery_records();
    test_recovery_actions();
    test_hdr();
    test_reasm();
    test_wc_table();
    test_no_device();
    CHECK_DONE();
}
