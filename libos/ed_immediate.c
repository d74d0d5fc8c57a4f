/* Event delivery, mode "immediate" (component ed_immediate.component):
 * mlos_ed_post() calls ed->handler before returning. Nothing is queued and
 * the event loop is not involved: the lowest latency, but the handler runs
 * inside whatever code posted (keep it short, it must not block). */
#include "event_delivery.h"
#include "mlos_error.h"

static int immediate_post(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value)
{
    if (!ed->handler) {
        ed->dropped++;
        return MLOS_EINVAL;
    }
    ed->delivered++;
    ed->handler(ed, src, value);
    return 1;
}

const struct mlos_ed_mode_ops mlos_ed_mode = {
    .name = "immediate",
    .post = immediate_post,
};
