/* Encode/decode of the tcp transport's hello and frame headers (layout and
 * rules in msg_tcp_wire.h). Byte-at-a-time big-endian access: correct on
 * any host order and alignment. */
#include "msg_tcp_wire.h"

#include "msg.h"
#include "mlos_endian.h"

static int fail(const char **why, const char *reason, int rc)
{
    if (why)
        *why = reason;
    return rc;
}

void mlos_tcp_hello_encode(uint8_t out[MLOS_TCP_HELLO_SIZE])
{
    mlos_put_be32(out, MLOS_TCP_MAGIC);
    mlos_put_be16(out + 4, MLOS_TCP_VERSION);
    mlos_put_be16(out + 6, 0);
    mlos_put_be32(out + 8, MLOS_EP_CREDITS);
    mlos_put_be32(out + 12, MLOS_EP_MAX_MSG);
}

int mlos_tcp_hello_decode(const void *buf, size_t len, struct mlos_tcp_hello *h, const char **why)
{
    const uint8_t *p = buf;

    if (len < MLOS_TCP_HELLO_SIZE)
        return fail(why, "hello truncated", MLOS_ETRUNC);
    if (mlos_get_be32(p) != MLOS_TCP_MAGIC)
        return fail(why, "hello has a bad magic (not an mlos tcp peer)", MLOS_EBADMAGIC);
    if (mlos_get_be16(p + 4) != MLOS_TCP_VERSION)
        return fail(why, "hello has an unsupported protocol version", MLOS_EVERSION);
    if (mlos_get_be16(p + 6) != 0)
        return fail(why, "hello has reserved flags set", MLOS_EPROTO);
    h->credits = mlos_get_be32(p + 8);
    h->max_msg = mlos_get_be32(p + 12);
    if (h->credits != MLOS_EP_CREDITS)
        return fail(why, "hello offers a different credit count (incompatible build)", MLOS_EPROTO);
    if (h->max_msg != MLOS_EP_MAX_MSG)
        return fail(why, "hello has a different message size limit (incompatible build)", MLOS_EPROTO);
    return 0;
}

void mlos_tcp_hdr_encode(const struct mlos_tcp_hdr *h, uint8_t out[MLOS_TCP_HDR_SIZE])
{
    out[0] = h->op;
    out[1] = 0;
    mlos_put_be16(out + 2, h->credit);
    mlos_put_be32(out + 4, h->arg);
    mlos_put_be64(out + 8, h->id);
    mlos_put_be64(out + 16, h->off);
    mlos_put_be32(out + 24, h->len);
    mlos_put_be64(out + 28, h->key);
}

static int status_ok(int32_t s) { return s == 0 || s == MLOS_EKEY || s == MLOS_EACCES || s == MLOS_ERANGE; }
static int abort_ok(int32_t s) { return s == MLOS_EKEY || s == MLOS_EPROTO; }

int mlos_tcp_hdr_decode(const void *buf, size_t len, struct mlos_tcp_hdr *h, const char **why)
{
    const uint8_t *p = buf;

    if (len < MLOS_TCP_HDR_SIZE)
        return fail(why, "frame header truncated", MLOS_ETRUNC);
    h->op = p[0];
    h->credit = mlos_get_be16(p + 2);
    h->arg = mlos_get_be32(p + 4);
    h->id = mlos_get_be64(p + 8);
    h->off = mlos_get_be64(p + 16);
    h->len = mlos_get_be32(p + 24);
    h->key = mlos_get_be64(p + 28);
    if (h->op == 0 || h->op > MLOS_TCP_OP_MAX)
        return fail(why, "frame has an unknown op", MLOS_EBADTYPE);
    if (p[1] != 0)
        return fail(why, "frame has reserved flags set", MLOS_EPROTO);
    if (h->credit > MLOS_EP_CREDITS)
        return fail(why, "frame returns more credits than exist", MLOS_EPROTO);
    if (h->key && h->op != MLOS_TCP_PUT && h->op != MLOS_TCP_GET)
        return fail(why, "key set on an op that names no region", MLOS_EPROTO);

    switch (h->op) {
    case MLOS_TCP_SEND:
        if (h->id || h->off)
            return fail(why, "SEND with nonzero id/off", MLOS_EPROTO);
        if (h->len > MLOS_EP_MAX_MSG)
            return fail(why, "SEND longer than MLOS_EP_MAX_MSG", MLOS_ETOOBIG);
        return 0;
    case MLOS_TCP_CREDIT:
        if (h->arg || h->id || h->off || h->len)
            return fail(why, "CREDIT with nonzero fields", MLOS_EPROTO);
        if (h->credit == 0)
            return fail(why, "CREDIT returning no credit", MLOS_EPROTO);
        return 0;
    case MLOS_TCP_PUT:
    case MLOS_TCP_GET:
        if (h->len > MLOS_TCP_RMA_CHUNK)
            return fail(why, "PUT/GET longer than MLOS_TCP_RMA_CHUNK", MLOS_ETOOBIG);
        return 0;
    case MLOS_TCP_PUT_ACK:
        if (h->off || h->len)
            return fail(why, "PUT_ACK with nonzero off/len", MLOS_EPROTO);
        if (!status_ok((int32_t)h->arg))
            return fail(why, "PUT_ACK with an invalid status", MLOS_EPROTO);
        return 0;
    case MLOS_TCP_ABORT:
        if (h->id || h->off || h->len)
            return fail(why, "ABORT with nonzero id/off/len", MLOS_EPROTO);
        if (!abort_ok((int32_t)h->arg))
            return fail(why, "ABORT with an invalid reason", MLOS_EPROTO);
        return 0;
    default: /* MLOS_TCP_GET_DATA */
        if (h->off)
            return fail(why, "GET_DATA with nonzero off", MLOS_EPROTO);
        if (!status_ok((int32_t)h->arg))
            return fail(why, "GET_DATA with an invalid status", MLOS_EPROTO);
        if (h->arg && h->len)
            return fail(why, "GET_DATA carrying data with an error status", MLOS_EPROTO);
        if (h->len > MLOS_TCP_RMA_CHUNK)
            return fail(why, "GET_DATA longer than MLOS_TCP_RMA_CHUNK", MLOS_ETOOBIG);
        return 0;
    }
}

uint32_t mlos_tcp_payload_len(const struct mlos_tcp_hdr *h)
{
    return (h->op == MLOS_TCP_SEND || h->op == MLOS_TCP_PUT || h->op == MLOS_TCP_GET_DATA) ? h->len : 0;
}
