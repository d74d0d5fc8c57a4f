/* The libos event loop: FIFO events, timers in deadline order, stop. */
#include "check.h"
#include "evloop.h"
#include "hal.h"

static int order[16], norder;
static struct mlos_evloop loop;

static struct mlos_event evs[3];
static void ev_record(struct mlos_event *ev) { order[norder++] = (int)(ev - evs); }

static struct mlos_timer timers[3];
static uint64_t fired_at[3];
static void timer_fn(struct mlos_timer *t)
{
    int i = (int)(t - timers);
    fired_at[i] = mlos_hal_now_ns();
    order[norder++] = 10 + i;
    if (i == 2)
        mlos_evloop_stop(&loop);
}

static int reposts;
static struct mlos_event again;
static void repost(struct mlos_event *ev)
{
    if (++reposts < 5)
        mlos_event_post(&loop, ev); /* runs in the next round, not this one */
}

int main(void)
{
    mlos_evloop_init(&loop);
    for (int i = 0; i < 3; i++) {
        evs[i].fn = ev_record;
        mlos_event_post(&loop, &evs[i]);
    }
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 3);
    CHECK(norder == 3 && order[0] == 0 && order[1] == 1 && order[2] == 2);

    again.fn = repost;
    mlos_event_post(&loop, &again);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 1);
    CHECK_EQ(reposts, 1);

    /* timers fire in deadline order regardless of arming order; re-arming moves */
    uint64_t now = mlos_hal_now_ns();
    norder = 0;
    for (int i = 0; i < 3; i++)
        timers[i].fn = timer_fn;
    mlos_timer_start(&loop, &timers[2], now + 30000000);
    mlos_timer_start(&loop, &timers[0], now + 10000000);
    mlos_timer_start(&loop, &timers[1], now + 50000000);
    mlos_timer_start(&loop, &timers[1], now + 20000000);
    mlos_evloop_run(&loop);
    CHECK_EQ(reposts, 5);
    /* order holds the timers after the reposted event rounds */
    int t = 0;
    for (int i = 0; i < norder; i++)
        if (order[i] >= 10)
            CHECK_EQ(order[i], 10 + t++);
    CHECK_EQ(t, 3);
    CHECK(fired_at[0] >= now + 10000000 && fired_at[2] >= now + 30000000);
    CHECK(fired_at[2] < now + 1000000000);

    /* a stopped timer does not fire */
    mlos_evloop_init(&loop);
    norder = 0;
    mlos_timer_start(&loop, &timers[0], mlos_hal_now_ns());
    mlos_timer_stop(&loop, &timers[0]);
    CHECK_EQ(mlos_evloop_run_nowait(&loop), 0);
    CHECK_EQ(norder, 0);
    CHECK_DONE();
}
