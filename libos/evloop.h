/* libos/evloop.h -- the run-to-completion event loop of a shard.
 *
 * Provides: posting events, one-shot timers, and a run loop that dispatches
 * them one at a time, each to completion (no preemption, no threads). When
 * nothing is ready the loop lets the shard sleep in mlos_hal_wait() until the
 * next timer or a doorbell from the master.
 * Requires: hal (clock, wait).
 *
 * All structs are caller-owned; the loop only links them. An event or timer
 * must stay alive until its callback ran or it was cancelled.
 */
#ifndef MLOS_EVLOOP_H
#define MLOS_EVLOOP_H

#include <stdint.h>

struct mlos_evloop;

struct mlos_event {
    struct mlos_event *next; /* private */
    void (*fn)(struct mlos_event *ev);
};

struct mlos_timer {
    struct mlos_timer *next; /* private */
    uint64_t deadline_ns;    /* private */
    void (*fn)(struct mlos_timer *t);
};

struct mlos_evloop {
    /* private */
    struct mlos_event *head, *tail;
    struct mlos_timer *timers; /* sorted by deadline */
    int stopped;
    /* Doorbell delivery: called when the master rang. */
    void (*on_doorbell)(struct mlos_evloop *loop);
    /* Called before sleeping; return nonzero if work arrived meanwhile so
     * the loop must not sleep (e.g. a ring's prepare-wait re-check). */
    int (*before_sleep)(struct mlos_evloop *loop);
    void (*after_sleep)(struct mlos_evloop *loop);
    void *data; /* free for the owner */
};

void mlos_evloop_init(struct mlos_evloop *loop);

/* Queue ev to run after the events already queued. ev->fn must be set. */
void mlos_event_post(struct mlos_evloop *loop, struct mlos_event *ev);

/* Arm t to fire at the absolute monotonic time deadline_ns (re-arming an
 * armed timer moves it). */
void mlos_timer_start(struct mlos_evloop *loop, struct mlos_timer *t, uint64_t deadline_ns);
void mlos_timer_stop(struct mlos_evloop *loop, struct mlos_timer *t);

/* Dispatch until mlos_evloop_stop(). Returns 0. */
int mlos_evloop_run(struct mlos_evloop *loop);

/* Dispatch what is ready now without sleeping; returns how many callbacks ran. */
int mlos_evloop_run_nowait(struct mlos_evloop *loop);

void mlos_evloop_stop(struct mlos_evloop *loop);

#endif
