/* fuzz_tcp_wire.c -- the tcp transport's hello and frame-header decoder
 * (rpc/msg/msg_tcp_wire.c) on a byte stream from a hostile peer.
 *
 * The input is what a peer sends on one connection: a hello, then frame
 * headers each followed by the payload its header announces. The target
 * walks it the way the receive path does (hello first, then header,
 * payload, header...) and checks the rules msg_tcp_wire.h promises for
 * every header it accepts: known op, credit within MLOS_EP_CREDITS, the
 * op's length limit, unused fields zero (the key secret only on PUT and
 * GET), a valid status or ABORT reason, a payload length
 * that is the header's len for SEND/PUT/GET_DATA and 0 otherwise, and
 * that re-encoding the decoded header gives back the same 36 bytes. A
 * refused header must come with a reason and a documented error code.
 * Independently, every offset of the input is also tried as a header
 * (a peer can make any bytes look like the next header).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "msg_tcp_wire.h"

static void fail(const char *what, const uint8_t *p, size_t len)
{
    fprintf(stderr, "fuzz_tcp_wire: %s:", what);
    for (size_t i = 0; i < len && i < MLOS_TCP_HDR_SIZE; i++)
        fprintf(stderr, " %02x", p[i]);
    fputc('\n', stderr);
    abort();
}

static int status_ok(int s) { return s == 0 || s == MLOS_EKEY || s == MLOS_EACCES || s == MLOS_ERANGE; }

/* Decode one header at p (len bytes left); check it. Returns the header's
 * total size with payload, or 0 when refused. */
static size_t check_hdr(const uint8_t *p, size_t len)
{
    struct mlos_tcp_hdr h;
    const char *why = NULL;
    uint8_t again[MLOS_TCP_HDR_SIZE];
    int rc = mlos_tcp_hdr_decode(p, len, &h, &why);

    if (rc < 0) {
        if (!why || !*why)
            fail("refused without a reason", p, len);
        if (rc != MLOS_ETRUNC && rc != MLOS_EBADTYPE && rc != MLOS_ETOOBIG && rc != MLOS_EPROTO)
            fail("undocumented error code", p, len);
        if (rc == MLOS_ETRUNC && len >= MLOS_TCP_HDR_SIZE)
            fail("a whole header called truncated", p, len);
        return 0;
    }
    if (len < MLOS_TCP_HDR_SIZE || h.op < 1 || h.op > MLOS_TCP_OP_MAX || p[1] || h.credit > MLOS_EP_CREDITS)
        fail("accepted a header outside the basic rules", p, len);
    uint32_t pl = mlos_tcp_payload_len(&h);
    if (h.key && h.op != MLOS_TCP_PUT && h.op != MLOS_TCP_GET)
        fail("a key secret accepted on an op that names no region", p, len);
    switch (h.op) {
    case MLOS_TCP_SEND:
        if (h.id || h.off || h.len > MLOS_EP_MAX_MSG || pl != h.len)
            fail("bad SEND accepted", p, len);
        break;
    case MLOS_TCP_CREDIT:
        if (h.arg || h.id || h.off || h.len || !h.credit || pl)
            fail("bad CREDIT accepted", p, len);
        break;
    case MLOS_TCP_PUT:
    case MLOS_TCP_GET:
        if (h.len > MLOS_TCP_RMA_CHUNK || pl != (h.op == MLOS_TCP_PUT ? h.len : 0))
            fail("bad PUT/GET accepted", p, len);
        break;
    case MLOS_TCP_PUT_ACK:
        if (h.off || h.len || !status_ok(mlos_tcp_status(&h)) || pl)
            fail("bad PUT_ACK accepted", p, len);
        break;
    case MLOS_TCP_ABORT:
        if (h.id || h.off || h.len || pl ||
            ((int32_t)h.arg != MLOS_EKEY && (int32_t)h.arg != MLOS_EPROTO))
            fail("bad ABORT accepted", p, len);
        break;
    default:
        if (h.off || !status_ok(mlos_tcp_status(&h)) || (h.arg && h.len) || h.len > MLOS_TCP_RMA_CHUNK ||
            pl != h.len)
            fail("bad GET_DATA accepted", p, len);
        break;
    }
    mlos_tcp_hdr_encode(&h, again);
    if (memcmp(again, p, MLOS_TCP_HDR_SIZE))
        fail("accepted header does not re-encode to itself", p, len);
    return MLOS_TCP_HDR_SIZE + (size_t)pl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mlos_tcp_hello hello;
    const char *why = NULL;
    int rc = mlos_tcp_hello_decode(data, size, &hello, &why);
    size_t at;

    if (rc == 0) {
        uint8_t ours[MLOS_TCP_HELLO_SIZE];
        mlos_tcp_hello_encode(ours);
        /* only a hello identical to ours is compatible */
        if (hello.credits != MLOS_EP_CREDITS || hello.max_msg != MLOS_EP_MAX_MSG || memcmp(ours, data, sizeof(ours)))
            fail("accepted a foreign hello", data, size);
        at = MLOS_TCP_HELLO_SIZE;
        /* the stream after the hello, as the receiver walks it */
        while (at < size) {
            size_t n = check_hdr(data + at, size - at);
            if (!n || n > size - at)
                break; /* refused (the connection closes) or payload still to come */
            at += n;
        }
    } else if (!why || (rc != MLOS_ETRUNC && rc != MLOS_EBADMAGIC && rc != MLOS_EVERSION && rc != MLOS_EPROTO)) {
        fail("hello refused without a reason or with an undocumented code", data, size);
    }
    for (at = 0; at < size; at++)
        check_hdr(data + at, size - at);
    return 0;
}
