/* Event delivery, mode "message" (component ed_message.component): each
 * occurrence becomes an mlos frame -- type MLOS_FRAME_MSG, request id
 * MLOS_ED_MSG_TYPE, payload be32 source id, be32 sequence number, be64
 * value -- pushed into a private frame ring (rpc/wire/ring.h). The loop hands
 * each frame to ed->on_msg, so events reach the application through the
 * same path and format as messages from other shards. A full ring refuses
 * with MLOS_EAGAIN. */
#include "event_delivery.h"
#include "mlos_error.h"

#include <stddef.h>

static int message_init(struct mlos_ed *ed)
{
    if (mlos_ring_format(ed->ring_mem, MLOS_ED_RING_BYTES) < 0)
        return MLOS_EINVAL;
    return mlos_ring_attach(&ed->ring, ed->ring_mem, sizeof(ed->ring_mem));
}

static void message_dispatch(struct mlos_event *ev)
{
    struct mlos_ed *ed = (struct mlos_ed *)((char *)ev - offsetof(struct mlos_ed, dispatch));
    struct mlos_frame_hdr hdr;
    const uint8_t *payload;

    uint32_t end = ed->q_tail; /* frames pushed by on_msg wait for the next round */

    ed->dispatch_queued = 0;
    while (ed->q_head != end && mlos_ring_peek(&ed->ring, &hdr, &payload) == 1) {
        ed->q_head++;
        ed->delivered++;
        ed->on_msg(ed, &hdr, payload);
        mlos_ring_release(&ed->ring, &hdr);
    }
    if (ed->q_head != ed->q_tail)
        mlos__ed_schedule(ed, message_dispatch);
}

static int message_post(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value)
{
    uint8_t payload[MLOS_ED_MSG_LEN];
    int rc;

    if (!ed->on_msg || !ed->ring.ctl)
        return MLOS_EINVAL;
    mlos_ed_msg_encode(payload, src->id, src->seq, value);
    rc = mlos_ring_push(&ed->ring, MLOS_FRAME_MSG, MLOS_ED_MSG_TYPE, payload, MLOS_ED_MSG_LEN);
    if (rc < 0) {
        ed->dropped++;
        return rc;
    }
    ed->q_tail++; /* frames in the ring (q[] itself is unused in this mode) */
    mlos__ed_schedule(ed, message_dispatch);
    return 0;
}

const struct mlos_ed_mode_ops mlos_ed_mode = {
    .name = "message",
    .init = message_init,
    .post = message_post,
};
