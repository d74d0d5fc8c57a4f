/* rpc/msg/msg_tcp_wire.h -- the byte format of the "tcp:" messaging transport.
 *
 * A connection carries, in each direction, one HELLO and then a stream of
 * frames. All integers are big-endian (network order).
 *
 * HELLO (16 bytes, first thing each side sends):
 *   offset size field
 *   0      4    magic    MLOS_TCP_MAGIC ("MLTP")
 *   4      2    version  MLOS_TCP_VERSION
 *   6      2    flags    0 (reserved, must be zero)
 *   8      4    credits  sends the receiver accepts in flight; must equal
 *                        MLOS_EP_CREDITS (a mismatch is an incompatible build)
 *   12     4    max_msg  largest two-sided message; must equal MLOS_EP_MAX_MSG
 *
 * FRAME header (36 bytes), followed by payload_len(hdr) bytes:
 *   0      1    op       enum mlos_tcp_op
 *   1      1    flags    0 (reserved, must be zero)
 *   2      2    credit   credits returned to the receiver of this frame
 *                        (piggy-backed on any op), 0..MLOS_EP_CREDITS
 *   4      4    arg      SEND: message type; PUT, GET: rkey handle;
 *                        PUT_ACK, GET_DATA: status (0 or MLOS_EKEY,
 *                        MLOS_EACCES, MLOS_ERANGE as int32); CREDIT: 0;
 *                        ABORT: why (MLOS_EKEY, MLOS_EPROTO as int32)
 *   8      8    id       PUT, GET and their replies: request id; else 0
 *   16     8    off      PUT, GET: offset in the target region; else 0
 *   24     4    len      SEND: payload bytes (<= MLOS_EP_MAX_MSG);
 *                        PUT: payload bytes; GET: bytes requested;
 *                        GET_DATA: payload bytes (0 when status != 0);
 *                        PUT, GET, GET_DATA: <= MLOS_TCP_RMA_CHUNK;
 *                        CREDIT, PUT_ACK, ABORT: 0
 *   28     8    key      PUT, GET: the region key's secret; else 0
 *
 * Ops:  SEND(type, bytes)          two-sided message, consumes one credit
 *       CREDIT(credit)             credit return alone (credit >= 1)
 *       PUT(rkey, off, len, bytes) -> PUT_ACK(id, status)
 *       GET(rkey, off, len)        -> GET_DATA(id, status, bytes)
 *       ABORT(why)                 last frame before the sender closes: the
 *                                  receiver reports why instead of a reset
 * Replies come back in request order (one stream, served in order).
 * A target answers MLOS_EKEY to a key matching no live region and, past
 * MLOS_EP_MAX_BAD_KEYS of them, sends ABORT(MLOS_EKEY) and closes.
 *
 * Decoding checks every field (op known, reserved bits zero, fields unused
 * by the op zero, credit and length limits, status one of the allowed
 * codes) and never reads past the given length.
 */
#ifndef MLOS_MSG_TCP_WIRE_H
#define MLOS_MSG_TCP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define MLOS_TCP_MAGIC 0x4D4C5450u /* "MLTP" */
#define MLOS_TCP_VERSION 2u /* 2: 64-bit key secret in PUT/GET, ABORT */
#define MLOS_TCP_HELLO_SIZE 16u
#define MLOS_TCP_HDR_SIZE 36u
#define MLOS_TCP_RMA_CHUNK (1u << 20) /* one-sided ops larger than this are split */

enum mlos_tcp_op {
    MLOS_TCP_SEND = 1,
    MLOS_TCP_CREDIT = 2,
    MLOS_TCP_PUT = 3,
    MLOS_TCP_PUT_ACK = 4,
    MLOS_TCP_GET = 5,
    MLOS_TCP_GET_DATA = 6,
    MLOS_TCP_ABORT = 7,
    MLOS_TCP_OP_MAX = 7
};

struct mlos_tcp_hello {
    uint32_t credits;
    uint32_t max_msg;
};

struct mlos_tcp_hdr {
    uint8_t op;
    uint16_t credit;
    uint32_t arg; /* type, rkey, or (uint32_t)status */
    uint64_t id;
    uint64_t off;
    uint32_t len;
    uint64_t key; /* PUT, GET: the key's secret */
};

/* Our hello (MLOS_EP_CREDITS, MLOS_EP_MAX_MSG) into out. */
void mlos_tcp_hello_encode(uint8_t out[MLOS_TCP_HELLO_SIZE]);

/* Parse and check a peer's hello. 0, or MLOS_ETRUNC (short),
 * MLOS_EBADMAGIC, MLOS_EVERSION, MLOS_EPROTO (flags, credits, max_msg).
 * *why (if why) gets a short reason on error. */
int mlos_tcp_hello_decode(const void *buf, size_t len, struct mlos_tcp_hello *h, const char **why);

/* Write the 36-byte header. The caller fills only the fields its op uses. */
void mlos_tcp_hdr_encode(const struct mlos_tcp_hdr *h, uint8_t out[MLOS_TCP_HDR_SIZE]);

/* Parse and check one header at the start of buf (the payload need not be
 * present). 0, or MLOS_ETRUNC (short), MLOS_EBADTYPE (unknown op),
 * MLOS_ETOOBIG (len over the op's limit), MLOS_EPROTO (reserved or unused
 * field not zero, credit over MLOS_EP_CREDITS, CREDIT without credit, bad
 * status, GET_DATA with an error and a payload). */
int mlos_tcp_hdr_decode(const void *buf, size_t len, struct mlos_tcp_hdr *h, const char **why);

/* Bytes of payload that follow a valid header (0 for CREDIT, GET, PUT_ACK). */
uint32_t mlos_tcp_payload_len(const struct mlos_tcp_hdr *h);

/* Status carried in arg (PUT_ACK, GET_DATA). */
static inline int mlos_tcp_status(const struct mlos_tcp_hdr *h) { return (int)(int32_t)h->arg; }

#endif
