/* Frame header encode/decode (see frame.h for the wire layout). */
#include "frame.h"

#include <string.h>

#include "mlos_endian.h"
#include "mlos_error.h"

void mlos_frame_hdr_encode(const struct mlos_frame_hdr *hdr, uint8_t out[MLOS_FRAME_HDR_SIZE])
{
    mlos_put_be32(out, MLOS_FRAME_MAGIC);
    out[4] = hdr->version;
    out[5] = hdr->type;
    mlos_put_be16(out + 6, hdr->flags);
    mlos_put_be32(out + 8, hdr->request_id);
    mlos_put_be32(out + 12, hdr->length);
}

int mlos_frame_hdr_decode(const void *buf, size_t len, uint32_t max_payload, struct mlos_frame_hdr *hdr)
{
    uint8_t p[MLOS_FRAME_HDR_SIZE];

    if (len < MLOS_FRAME_HDR_SIZE)
        return MLOS_ETRUNC;
    /* buf may be shared memory a peer rewrites while we look: check and
     * use one private copy, so the value checked is the value kept. */
    memcpy(p, buf, sizeof(p));
    __asm__ volatile("" : : "r"(p) : "memory"); /* keep the compiler from re-reading buf instead */
    if (mlos_get_be32(p) != MLOS_FRAME_MAGIC)
        return MLOS_EBADMAGIC;
    if (p[4] != MLOS_FRAME_VERSION)
        return MLOS_EVERSION;
    if (p[5] > MLOS_FRAME_TYPE_MAX || mlos_get_be16(p + 6) != 0)
        return MLOS_EBADTYPE;
    hdr->version = p[4];
    hdr->type = p[5];
    hdr->flags = 0;
    hdr->request_id = mlos_get_be32(p + 8);
    hdr->length = mlos_get_be32(p + 12);
    if (hdr->length > max_payload || hdr->length > MLOS_FRAME_MAX_PAYLOAD)
        return MLOS_ETOOBIG;
    return 0;
}

int mlos_frame_decode(const void *buf, size_t len, uint32_t max_payload, struct mlos_frame_hdr *hdr,
                      const uint8_t **payload)
{
    int rc = mlos_frame_hdr_decode(buf, len, max_payload, hdr);
    if (rc < 0)
        return rc;
    if (len - MLOS_FRAME_HDR_SIZE < hdr->length)
        return MLOS_ETRUNC;
    *payload = (const uint8_t *)buf + MLOS_FRAME_HDR_SIZE;
    return (int)(MLOS_FRAME_HDR_SIZE + hdr->length);
}

int mlos_frame_encode(uint8_t type, uint32_t request_id, const void *payload, uint32_t length, void *out,
                      size_t cap)
{
    struct mlos_frame_hdr hdr = {MLOS_FRAME_VERSION, type, 0, request_id, length};
    if (length > MLOS_FRAME_MAX_PAYLOAD || cap < MLOS_FRAME_HDR_SIZE || cap - MLOS_FRAME_HDR_SIZE < length)
        return MLOS_ETOOBIG;
    mlos_frame_hdr_encode(&hdr, out);
    if (length)
        memcpy((uint8_t *)out + MLOS_FRAME_HDR_SIZE, payload, length);
    return (int)(MLOS_FRAME_HDR_SIZE + length);
}
