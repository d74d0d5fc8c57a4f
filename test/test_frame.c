/* Frame encode/decode: round trip and every malformed-input error. */
#include <string.h>

#include "check.h"
#include "frame.h"
#include "mlos_error.h"

int main(void)
{
    uint8_t buf[256], payload[100];
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int n;

    for (int i = 0; i < 100; i++)
        payload[i] = (uint8_t)(i * 7);

    /* round trip */
    n = mlos_frame_encode(MLOS_FRAME_CALL, 0xA1B2C3D4u, payload, 100, buf, sizeof(buf));
    CHECK_EQ(n, 116);
    CHECK_EQ(mlos_frame_decode(buf, (size_t)n, MLOS_FRAME_MAX_PAYLOAD, &h, &p), 116);
    CHECK_EQ(h.type, MLOS_FRAME_CALL);
    CHECK_EQ(h.request_id, 0xA1B2C3D4u);
    CHECK_EQ(h.length, 100);
    CHECK(p == buf + 16 && memcmp(p, payload, 100) == 0);
    /* header bytes are big-endian on every host */
    CHECK(buf[0] == 'M' && buf[1] == 'L' && buf[2] == 'O' && buf[3] == 'S');
    CHECK(buf[8] == 0xA1 && buf[11] == 0xD4 && buf[15] == 100 && buf[12] == 0);

    /* empty payload */
    n = mlos_frame_encode(MLOS_FRAME_STOP, 0, NULL, 0, buf, sizeof(buf));
    CHECK_EQ(n, 16);
    CHECK_EQ(mlos_frame_decode(buf, 16, 1024, &h, &p), 16);

    /* truncated: header and payload */
    n = mlos_frame_encode(MLOS_FRAME_REPLY, 9, payload, 100, buf, sizeof(buf));
    for (size_t cut = 0; cut < 16; cut++)
        CHECK_EQ(mlos_frame_decode(buf, cut, MLOS_FRAME_MAX_PAYLOAD, &h, &p), MLOS_ETRUNC);
    CHECK_EQ(mlos_frame_decode(buf, 115, MLOS_FRAME_MAX_PAYLOAD, &h, &p), MLOS_ETRUNC);
    CHECK_EQ(mlos_frame_hdr_decode(buf, 16, MLOS_FRAME_MAX_PAYLOAD, &h), 0); /* header alone is fine */

    /* oversized length: over the caller's limit and over the protocol limit */
    CHECK_EQ(mlos_frame_decode(buf, (size_t)n, 99, &h, &p), MLOS_ETOOBIG);
    buf[12] = 0xFF; /* length = 0xFF000064 */
    CHECK_EQ(mlos_frame_decode(buf, (size_t)n, 0xFFFFFFFFu, &h, &p), MLOS_ETOOBIG);
    buf[12] = 0;
    CHECK_EQ(mlos_frame_encode(MLOS_FRAME_CALL, 1, payload, 100, buf, 115), MLOS_ETOOBIG);
    CHECK_EQ(mlos_frame_encode(MLOS_FRAME_CALL, 1, payload, MLOS_FRAME_MAX_PAYLOAD + 1, buf, ~(size_t)0),
             MLOS_ETOOBIG);

    /* bad magic */
    mlos_frame_encode(MLOS_FRAME_CALL, 1, payload, 4, buf, sizeof(buf));
    buf[0] ^= 0x20;
    CHECK_EQ(mlos_frame_decode(buf, 20, 1024, &h, &p), MLOS_EBADMAGIC);
    buf[0] ^= 0x20;
    /* bad version */
    buf[4] = 2;
    CHECK_EQ(mlos_frame_decode(buf, 20, 1024, &h, &p), MLOS_EVERSION);
    buf[4] = MLOS_FRAME_VERSION;
    /* unknown type, nonzero flags */
    buf[5] = 77;
    CHECK_EQ(mlos_frame_decode(buf, 20, 1024, &h, &p), MLOS_EBADTYPE);
    buf[5] = MLOS_FRAME_CALL;
    buf[7] = 1;
    CHECK_EQ(mlos_frame_decode(buf, 20, 1024, &h, &p), MLOS_EBADTYPE);
    buf[7] = 0;
    CHECK_EQ(mlos_frame_decode(buf, 20, 1024, &h, &p), 20);

    /* error texts exist and differ */
    CHECK(strcmp(mlos_strerror(MLOS_EBADMAGIC), mlos_strerror(MLOS_EVERSION)) != 0);
    CHECK(strcmp(mlos_strerror(-999), "unknown error") == 0);
    CHECK_DONE();
}
