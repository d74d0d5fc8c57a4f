/* Run-to-completion event loop over the HAL's clock and doorbell wait. */
#include "evloop.h"

#include <stddef.h>

#include "hal.h"

void mlos_evloop_init(struct mlos_evloop *loop)
{
    loop->head = loop->tail = NULL;
    loop->timers = NULL;
    loop->stopped = 0;
    loop->on_doorbell = NULL;
    loop->before_sleep = NULL;
    loop->after_sleep = NULL;
    loop->data = NULL;
}

void mlos_event_post(struct mlos_evloop *loop, struct mlos_event *ev)
{
    ev->next = NULL;
    if (loop->tail)
        loop->tail->next = ev;
    else
        loop->head = ev;
    loop->tail = ev;
}

void mlos_timer_stop(struct mlos_evloop *loop, struct mlos_timer *t)
{
    for (struct mlos_timer **pp = &loop->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            t->next = NULL;
            return;
        }
    }
}

void mlos_timer_start(struct mlos_evloop *loop, struct mlos_timer *t, uint64_t deadline_ns)
{
    struct mlos_timer **pp = &loop->timers;
    mlos_timer_stop(loop, t);
    t->deadline_ns = deadline_ns;
    while (*pp && (*pp)->deadline_ns <= deadline_ns)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
}

void mlos_evloop_stop(struct mlos_evloop *loop) { loop->stopped = 1; }

/* Run queued events and due timers once; events posted meanwhile wait for
 * the next round so that a self-reposting event cannot starve timers. */
int mlos_evloop_run_nowait(struct mlos_evloop *loop)
{
    struct mlos_event *ev = loop->head, *last = loop->tail;
    uint64_t now = mlos_hal_now_ns();
    int ran = 0;

    loop->head = loop->tail = NULL;
    while (ev) {
        struct mlos_event *next = ev == last ? NULL : ev->next;
        ev->fn(ev);
        ran++;
        ev = next;
    }
    while (loop->timers && loop->timers->deadline_ns <= now && !loop->stopped) {
        struct mlos_timer *t = loop->timers;
        loop->timers = t->next;
        t->next = NULL;
        t->fn(t);
        ran++;
    }
    return ran;
}

int mlos_evloop_run(struct mlos_evloop *loop)
{
    while (!loop->stopped) {
        uint64_t deadline;
        int rang;

        if (mlos_evloop_run_nowait(loop) > 0 || loop->head || loop->stopped)
            continue;
        if (loop->before_sleep && loop->before_sleep(loop)) {
            if (loop->after_sleep)
                loop->after_sleep(loop);
            if (loop->on_doorbell)
                loop->on_doorbell(loop);
            continue;
        }
        deadline = loop->timers ? loop->timers->deadline_ns : UINT64_MAX;
        rang = mlos_hal_wait(deadline);
        if (loop->after_sleep)
            loop->after_sleep(loop);
        if (rang > 0 && loop->on_doorbell)
            loop->on_doorbell(loop);
    }
    return 0;
}
