/* Event delivery, mode "handler" (component ed_handler.component):
 * mlos_ed_post() records (source, value) in a fixed queue and schedules one
 * evloop event; when the loop dispatches it, the application's handler runs
 * once per occurrence, in post order, to completion. Occurrences posted by
 * a handler wait for the next loop round. A full queue (MLOS_ED_QUEUE)
 * refuses with MLOS_EAGAIN. */
#include "event_delivery.h"
#include "mlos_error.h"

#include <stddef.h>

static void handler_dispatch(struct mlos_event *ev)
{
    struct mlos_ed *ed = (struct mlos_ed *)((char *)ev - offsetof(struct mlos_ed, dispatch));
    uint32_t end = ed->q_tail; /* occurrences posted from here on go to the next round */

    ed->dispatch_queued = 0;
    while (ed->q_head != end) {
        uint32_t i = ed->q_head++ % MLOS_ED_QUEUE;
        ed->delivered++;
        ed->handler(ed, ed->q[i].src, ed->q[i].value);
    }
    if (ed->q_head != ed->q_tail)
        mlos__ed_schedule(ed, handler_dispatch);
}

static int handler_post(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value)
{
    if (!ed->handler)
        return MLOS_EINVAL;
    if (ed->q_tail - ed->q_head >= MLOS_ED_QUEUE) {
        ed->dropped++;
        return MLOS_EAGAIN;
    }
    uint32_t i = ed->q_tail++ % MLOS_ED_QUEUE;
    ed->q[i].src = src;
    ed->q[i].value = value;
    mlos__ed_schedule(ed, handler_dispatch);
    return 0;
}

const struct mlos_ed_mode_ops mlos_ed_mode = {
    .name = "handler",
    .post = handler_post,
};
