/* rpc/wire/frame.h -- the mlos wire frame.
 *
 * Every message between shards travels as one frame: a fixed 16-byte header
 * followed by `length` payload bytes (a packed protobuf-c message, see
 * mlos.proto). The header is big-endian so that any ISA can parse it:
 *
 *   offset size field
 *   0      4    magic      0x4D4C4F53 ("MLOS")
 *   4      1    version    MLOS_FRAME_VERSION
 *   5      1    type       enum mlos_frame_type
 *   6      2    flags      0 (reserved, must be zero)
 *   8      4    request id matches a REPLY to its CALL; 0 when unused
 *   12     4    length     payload bytes, <= MLOS_FRAME_MAX_PAYLOAD
 *
 * Decoding never trusts the peer: every field is checked and a malformed
 * frame gets a specific error code, never a crash or an over-read.
 */
#ifndef MLOS_FRAME_H
#define MLOS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MLOS_FRAME_MAGIC 0x4D4C4F53u
#define MLOS_FRAME_VERSION 1u
#define MLOS_FRAME_HDR_SIZE 16u
#define MLOS_FRAME_MAX_PAYLOAD (64u << 20) /* 64 MiB: larger data goes through the bulk window */

enum mlos_frame_type {
    MLOS_FRAME_PAD = 0,   /* ring filler up to the wrap point; never sent over streams */
    MLOS_FRAME_HELLO = 1, /* shard -> master: mlos.Hello, once, when ready */
    MLOS_FRAME_CALL = 2,  /* master -> shard: mlos.TaskCall */
    MLOS_FRAME_REPLY = 3, /* shard -> master: mlos.TaskReply for the same request id */
    MLOS_FRAME_STOP = 4,  /* master -> shard: mlos.Stop, shard exits after draining */
    MLOS_FRAME_LOG = 5,   /* shard -> master: mlos.Log, diagnostic text */
    MLOS_FRAME_MSG = 6,   /* messaging layer (msg.h): request id carries the user's message type */
    MLOS_FRAME_PING = 7,  /* master -> shard: mlos.Ping, heartbeat; request id = sequence */
    MLOS_FRAME_PONG = 8,  /* shard -> master: mlos.Pong, answers the PING with the same request id */
    MLOS_FRAME_RESIZE = 9,   /* master -> shard: mlos.Resize, a new memory limit */
    MLOS_FRAME_RESIZED = 10, /* shard -> master: mlos.Resized for the RESIZE with the same request id */
    MLOS_FRAME_RELEASED = 11, /* master -> shard: the ranges of RESIZED (same id) left host memory; no payload */
    MLOS_FRAME_CORES = 12,    /* master -> shard: mlos.Cores, how many cores to use */
    MLOS_FRAME_CORES_SET = 13, /* shard -> master: mlos.CoresSet for the CORES with the same request id */
    MLOS_FRAME_TYPE_MAX = 13
};

struct mlos_frame_hdr {
    uint8_t version;
    uint8_t type;
    uint16_t flags;
    uint32_t request_id;
    uint32_t length;
};

/* Write the 16-byte header for hdr into out. */
void mlos_frame_hdr_encode(const struct mlos_frame_hdr *hdr, uint8_t out[MLOS_FRAME_HDR_SIZE]);

/* Parse the header at the start of buf (len bytes available) into *hdr.
 * Returns 0 when a header is present and valid. Errors:
 *   MLOS_ETRUNC    fewer than 16 bytes
 *   MLOS_EBADMAGIC magic mismatch
 *   MLOS_EVERSION  version != MLOS_FRAME_VERSION
 *   MLOS_EBADTYPE  type unknown, or flags not zero
 *   MLOS_ETOOBIG   length > max_payload
 * The payload is not required to be present; see mlos_frame_decode. */
int mlos_frame_hdr_decode(const void *buf, size_t len, uint32_t max_payload, struct mlos_frame_hdr *hdr);

/* Parse a whole frame: header plus payload. On success returns the total
 * frame size (16 + length) and points *payload at the payload inside buf.
 * MLOS_ETRUNC when buf holds less than the whole frame; other errors as
 * above. */
int mlos_frame_decode(const void *buf, size_t len, uint32_t max_payload, struct mlos_frame_hdr *hdr,
                      const uint8_t **payload);

/* Encode header + payload into out (cap bytes). Returns the frame size, or
 * MLOS_ETOOBIG if length exceeds MLOS_FRAME_MAX_PAYLOAD or cap. */
int mlos_frame_encode(uint8_t type, uint32_t request_id, const void *payload, uint32_t length, void *out,
                      size_t cap);

#endif
