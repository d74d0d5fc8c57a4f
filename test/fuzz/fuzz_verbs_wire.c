/* fuzz_verbs_wire.c -- the verbs transport's records (rpc/msg/msg_verbs_wire.c):
 * SETUP records from the TCP side channel, DATA headers of received SENDs
 * with fragment reassembly, recovery decisions, and "IPV4:PORT" addresses.
 *
 * Input: a sequence of chunks, each a one-byte selector, a two-byte
 * little-endian length and that many bytes (shorter at the end):
 *   selector & 3 == 0  a SETUP record; an accepted one obeys its kind's
 *                      rules (msg_verbs_wire.h) and re-encodes to the same
 *                      64 bytes; RESET/RESUME go through rec_action in a
 *                      state and epoch taken from the selector
 *   1, 2               a received SEND: header decode, then the
 *                      reassembly step of the message in progress; the
 *                      collected count never exceeds the announced total
 *                      and a message completes exactly at its total
 *   3                  an address string
 * Refusals must carry a reason and a documented error code.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "msg_verbs_wire.h"

#define FAIL(...)                                                                                                     \
    do {                                                                                                              \
        fprintf(stderr, "fuzz_verbs_wire: " __VA_ARGS__);                                                             \
        fputc('\n', stderr);                                                                                          \
        abort();                                                                                                      \
    } while (0)

static int zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void check_setup(const uint8_t *p, size_t len, unsigned sel)
{
    struct mlos_verbs_setup s;
    const char *why = NULL;
    uint8_t again[MLOS_VERBS_SETUP_SIZE];
    int rc = mlos_verbs_setup_decode(p, len, &s, &why);

    if (rc < 0) {
        if (!why || (rc != MLOS_ETRUNC && rc != MLOS_EBADMAGIC && rc != MLOS_EVERSION && rc != MLOS_EBADTYPE &&
                     rc != MLOS_EPROTO))
            FAIL("setup refused with %d and no reason", rc);
        if (rc == MLOS_ETRUNC && len >= MLOS_VERBS_SETUP_SIZE)
            FAIL("a whole setup record called truncated");
        return;
    }
    if (len < MLOS_VERBS_SETUP_SIZE || !zero(p + 45, 3) || !zero(p + 56, 8))
        FAIL("accepted a short record or reserved bytes");
    switch (s.kind) {
    case MLOS_VERBS_HELLO:
    case MLOS_VERBS_ACCEPT:
        if (s.mtu < 1 || s.mtu > 5 || !s.qpn || s.qpn > 0xffffff || s.psn > 0xffffff ||
            s.slots != MLOS_VERBS_SLOTS || s.slot_size != MLOS_VERBS_SLOT_SIZE || !s.rd_atomic || s.status)
            FAIL("accepted a bad HELLO/ACCEPT");
        break;
    case MLOS_VERBS_READY:
        if (s.status)
            FAIL("accepted READY with a status");
        break;
    case MLOS_VERBS_REJECT:
        if (s.status >= 0)
            FAIL("accepted REJECT without an error");
        break;
    case MLOS_VERBS_RESET:
        if (!s.epoch || !s.qpn || s.qpn > 0xffffff || s.psn > 0xffffff)
            FAIL("accepted a bad RESET");
        break;
    case MLOS_VERBS_RESUME:
        if (!s.epoch)
            FAIL("accepted RESUME for epoch 0");
        break;
    default:
        FAIL("accepted unknown kind %u", s.kind);
    }
    mlos_verbs_setup_encode(&s, again);
    if (memcmp(again, p, sizeof(again)))
        FAIL("accepted setup record (kind %u) does not re-encode to itself", s.kind);
    if (s.kind == MLOS_VERBS_RESET || s.kind == MLOS_VERBS_RESUME) {
        int st = (int)(sel >> 2) % 4;
        uint32_t epoch = s.epoch - ((sel >> 4) & 1);
        int act = mlos_verbs_rec_action(st, epoch, (int)(sel >> 5) & 1, &s);
        if (act != MLOS_EPROTO && (act < MLOS_VERBS_ACT_BEGIN || act > MLOS_VERBS_ACT_RESUME))
            FAIL("rec_action returned %d", act);
        if (act == MLOS_VERBS_ACT_RESUME && (s.kind != MLOS_VERBS_RESUME || st != MLOS_VERBS_REC_WAIT_RESUME))
            FAIL("RESUME action out of turn");
        if ((act == MLOS_VERBS_ACT_BEGIN || act == MLOS_VERBS_ACT_KEEP || act == MLOS_VERBS_ACT_CONNECT) &&
            s.kind != MLOS_VERBS_RESET)
            FAIL("reset action for a RESUME");
    }
}

/* reassembly state across the SENDs of one input */
static long have;
static uint32_t want_total;

static void check_send(const uint8_t *p, size_t len)
{
    struct mlos_verbs_hdr h;
    const char *why = NULL;
    uint8_t again[MLOS_VERBS_HDR_SIZE];
    int rc = mlos_verbs_hdr_decode(p, len, &h, &why);

    if (rc < 0) {
        if (!why || (rc != MLOS_ETRUNC && rc != MLOS_EBADTYPE && rc != MLOS_ETOOBIG && rc != MLOS_EPROTO))
            FAIL("header refused with %d and no reason", rc);
        return;
    }
    size_t frag = len - MLOS_VERBS_HDR_SIZE;
    if (p[2] || p[3])
        FAIL("accepted reserved header bytes");
    mlos_verbs_hdr_encode(&h, again);
    if (memcmp(again, p, 12))
        FAIL("accepted header does not re-encode to itself");
    mlos_verbs_hdr_set_consumed(again, h.consumed);
    if (memcmp(again, p, sizeof(again)))
        FAIL("consumed does not re-encode");
    if (h.kind == MLOS_VERBS_CREDIT) {
        if (h.flags || h.type || h.total || frag)
            FAIL("accepted a CREDIT with fields");
        if (mlos_verbs_reasm_step(&h, frag, have, want_total) != MLOS_EPROTO)
            FAIL("a CREDIT took part in reassembly");
        return;
    }
    if (h.kind != MLOS_VERBS_MSG || (h.flags & ~3u) || frag > MLOS_VERBS_FRAG || h.total > MLOS_EP_MAX_MSG ||
        frag > h.total)
        FAIL("accepted a bad MSG header");
    long now = mlos_verbs_reasm_step(&h, frag, have, want_total);
    if (now < 0) {
        if (now != MLOS_EPROTO)
            FAIL("reassembly returned %ld", now);
        have = -1; /* the connection would be torn down; start afresh */
        return;
    }
    if ((uint64_t)now > h.total || (have >= 0 && now != have + (long)frag) || (have < 0 && now != (long)frag))
        FAIL("reassembly count %ld (had %ld, +%zu, total %u)", now, have, frag, h.total);
    if (h.flags & MLOS_VERBS_LAST) {
        if ((uint64_t)now != h.total)
            FAIL("message completed at %ld of %u", now, h.total);
        have = -1;
    } else {
        if ((uint64_t)now == h.total)
            FAIL("message complete without LAST");
        have = now, want_total = h.total;
    }
}

static void check_addr(const uint8_t *p, size_t len)
{
    char s[80], back[40];
    uint32_t ip, ip2;
    uint16_t port, port2;
    if (len >= sizeof(s))
        len = sizeof(s) - 1;
    memcpy(s, p, len);
    s[len] = 0;
    for (int any = 0; any < 2; any++) {
        if (mlos_verbs_parse_addr(s, &ip, &port, any) != 0)
            continue;
        if (!any && !port)
            FAIL("port 0 accepted for connecting");
        snprintf(back, sizeof(back), "%u.%u.%u.%u:%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255, port);
        if (mlos_verbs_parse_addr(back, &ip2, &port2, any) != 0 || ip2 != ip || port2 != port)
            FAIL("address \"%s\" parsed as %s, which does not parse back", s, back);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    have = -1, want_total = 0;
    while (p < end) {
        unsigned sel = *p++;
        size_t n = 0;
        if (end - p >= 2)
            n = (size_t)(p[0] | p[1] << 8), p += 2;
        else
            p = end;
        if (n > (size_t)(end - p))
            n = (size_t)(end - p);
        /* an exact copy: a read past the chunk is a read past the buffer */
        uint8_t *c = malloc(n ? n : 1);
        if (!c)
            abort();
        memcpy(c, p, n);
        p += n;
        switch (sel & 3) {
        case 0: check_setup(c, n, sel); break;
        case 1:
        case 2: check_send(c, n); break;
        default: check_addr(c, n); break;
        }
        free(c);
    }
    return 0;
}
