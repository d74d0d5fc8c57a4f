/* Event-delivery service front end: binds an instance to an evloop and
 * forwards to the one mode linked in (mlos_ed_mode, see event_delivery.h). */
#include "event_delivery.h"

#include "bpf/hooks.h"

#include <string.h>

#include "mlos_error.h"

int mlos_ed_init(struct mlos_ed *ed, struct mlos_evloop *loop)
{
    ed->loop = loop;
    ed->delivered = ed->dropped = 0;
    ed->dispatch.fn = NULL;
    ed->dispatch.next = NULL;
    ed->dispatch_queued = 0;
    ed->q_head = ed->q_tail = 0;
    memset(&ed->ring, 0, sizeof(ed->ring));
    return mlos_ed_mode.init ? mlos_ed_mode.init(ed) : 0;
}

void mlos_ed_source_init(struct mlos_ed_source *src, uint32_t id)
{
    src->id = id;
    src->pending = 0;
    src->seq = 0;
    src->last = 0;
}

const char *mlos_ed_mode_name(void) { return mlos_ed_mode.name; }

int mlos_ed_post(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value)
{
    if (!ed || !src)
        return MLOS_EINVAL;
    src->seq++;
    /* Application-inserted delivery policy (libos/bpf/hooks.h): an
     * extension may drop an occurrence before the mode sees it. */
    if (mlos_hook_event(src->id, src->seq, value) == MLOS_HOOK_EVENT_DROP)
        return 0;
    return mlos_ed_mode.post(ed, src, value);
}

int mlos_ed_poll(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t *last)
{
    if (!mlos_ed_mode.poll)
        return MLOS_ENOTSUP;
    return mlos_ed_mode.poll(ed, src, last);
}

void mlos__ed_schedule(struct mlos_ed *ed, void (*fn)(struct mlos_event *ev))
{
    if (ed->dispatch_queued)
        return;
    ed->dispatch_queued = 1;
    ed->dispatch.fn = fn;
    mlos_event_post(ed->loop, &ed->dispatch);
}

void mlos_ed_msg_encode(uint8_t out[MLOS_ED_MSG_LEN], uint32_t source, uint32_t seq, uint64_t value)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(source >> (24 - 8 * i));
        out[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++)
        out[8 + i] = (uint8_t)(value >> (56 - 8 * i));
}

int mlos_ed_msg_decode(const uint8_t *p, size_t len, uint32_t *source, uint32_t *seq, uint64_t *value)
{
    uint32_t s = 0, q = 0;
    uint64_t v = 0;
    if (!p || len != MLOS_ED_MSG_LEN)
        return MLOS_EDECODE;
    for (int i = 0; i < 4; i++) {
        s = s << 8 | p[i];
        q = q << 8 | p[4 + i];
    }
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[8 + i];
    if (source)
        *source = s;
    if (seq)
        *seq = q;
    if (value)
        *value = v;
    return 0;
}
