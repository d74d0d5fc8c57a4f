/* Event delivery, mode "coalesced" (component ed_coalesced.component):
 * occurrences of a source merge into one pending count plus the latest
 * value; nothing runs and nothing is queued on the loop until the
 * application polls. Never drops: the count saturates at UINT32_MAX. */
#include "event_delivery.h"
#include "mlos_error.h"

static int coalesced_post(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value)
{
    if (src->pending != UINT32_MAX)
        src->pending++;
    src->last = value;
    return 0;
}

static int coalesced_poll(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t *last)
{
    uint32_t n = src->pending;
    if (n > INT32_MAX)
        n = INT32_MAX;
    if (n && last)
        *last = src->last;
    src->pending = 0;
    ed->delivered += n;
    return (int)n;
}

const struct mlos_ed_mode_ops mlos_ed_mode = {
    .name = "coalesced",
    .post = coalesced_post,
    .poll = coalesced_poll,
};
