/* heartbeat.c -- liveness of READY shards: PING/PONG and fencing (issue 6).
 *
 * Contract (mlos_shard_heartbeat in mlos_pool.h):
 *  - Every interval the master pushes a PING frame (request id = sequence,
 *    payload mlos.Ping) into the shard's ring; the slave runtime answers
 *    with a PONG of the same id between tasks (libos/slave.c).
 *  - Any frame from the shard (PONG, REPLY, LOG) is a sign of life: it
 *    clears the outstanding PING.
 *  - The shard owes an answer from the first PING sent after its last
 *    frame, and from the oldest pending call (sent, or from the last frame
 *    if later). When an answer has been owed for timeout_ms, the shard is
 *    FENCED: SIGKILL to its process (QEMU or the
 *    process shard), no further frame from it is accepted (mlos__drain
 *    returns early), its pending calls fail at once with MLOS_ETIMEDOUT
 *    "shard N stopped answering (no heartbeat for X ms)", it reads as dead
 *    (mlos_shard_alive 0, mlos_call -> MLOS_ESHARDDIED), and the on_dead hook
 *    (pool.c) runs. The caller still releases it with mlos_shard_stop.
 *  - A shard that is run-to-completion cannot answer while a task runs: a
 *    task longer than timeout_ms reads as a hang. Pick the timeout above
 *    the longest task, or turn heartbeats off (interval 0).
 *  - Detection bound after the shard stops answering: timeout when it hangs
 *    in a call (default 600 ms), interval + timeout when it hangs idle
 *    (200 + 600 ms), plus loop latency. A process that exits is seen at
 *    once (SIGCHLD, shard.c).
 *  - A master loop that was blocked does not fence healthy shards: silence
 *    is measured from the first unanswered PING, and frames already waiting
 *    in the reply ring count as answers.
 */
#include <stdio.h>
#include <stdlib.h>

#include "master_internal.h"
#include "mlos.pb-c.h"
#include "mlos_pool.h"

static void hb_tick(uv_timer_t *t);

void mlos__hb_init(struct mlos_shard_impl *im)
{
    uv_timer_init(im->loop, &im->hb_timer);
    im->hb_timer.data = im;
}

void mlos__hb_alive(struct mlos_shard_impl *im)
{
    im->hb_last_ms = uv_now(im->loop);
    im->hb_wait_ms = 0;
}

static int hb_active(const struct mlos_shard_impl *im)
{
    return im->hb_interval_ms && im->state == SHARD_READY && im->proc_running && !im->fenced;
}

/* Since when (loop ms) the shard owes the master a frame, 0: it owes
 * nothing. The earliest of: the first PING sent after its last frame; the
 * oldest pending call, counted from that call or from the last frame,
 * whichever is later (the shard was busy with earlier calls till then). */
static uint64_t owed_since(const struct mlos_shard_impl *im)
{
    uint64_t due = im->hb_wait_ms;
    if (im->pending) {
        uint64_t t = im->pending->t0 / 1000000u; /* uv_hrtime ns -> loop clock ms */
        if (t < im->hb_last_ms)
            t = im->hb_last_ms;
        if (!due || t < due)
            due = t;
    }
    return due;
}

/* Sleep until the next PING is due or what is owed times out. */
static void hb_arm(struct mlos_shard_impl *im)
{
    uint64_t now = uv_now(im->loop), next = im->hb_sent_ms + im->hb_interval_ms, due = owed_since(im);
    if (due && due + im->hb_timeout_ms < next)
        next = due + im->hb_timeout_ms;
    uv_timer_start(&im->hb_timer, hb_tick, next > now ? next - now : 0, 0);
}

static void send_ping(struct mlos_shard_impl *im, uint64_t now)
{
    Mlos__Ping ping = MLOS__PING__INIT;
    uint8_t buf[16];
    size_t n;

    ping.master_ns = uv_hrtime();
    n = mlos__ping__pack(&ping, buf);
    if (++im->hb_seq == 0)
        im->hb_seq = 1;
    /* A full ring counts as an unanswered PING too: the shard must make
     * progress (consume calls, send replies) within the timeout. */
    if (mlos_ring_push(&im->to_shard, MLOS_FRAME_PING, im->hb_seq, buf, (uint32_t)n) == 0)
        mlos__ring_shard(im);
    im->hb_sent_ms = now;
    if (!im->hb_wait_ms)
        im->hb_wait_ms = now;
}

static void fence(struct mlos_shard_impl *im, uint64_t now)
{
    mlos__shard_fail(im, MLOS_ETIMEDOUT, "shard %u stopped answering (no heartbeat for %llu ms)", im->shard->id,
                     (unsigned long long)(now - im->hb_last_ms)); /* fenced, SIGKILL */
    im->state = SHARD_DEAD;
    uv_idle_stop(&im->spin);
    mlos__fail_calls(im, im->death_err, im->death_msg);
    if (im->state == SHARD_DEAD && im->on_dead) /* a callback may have stopped it */
        im->on_dead(im->shard);
}

static void hb_tick(uv_timer_t *t)
{
    struct mlos_shard_impl *im = t->data;
    uint64_t now = uv_now(im->loop), due;

    if (!hb_active(im))
        return;
    if (!mlos_ring_empty(&im->to_master))
        mlos__hb_alive(im); /* answered; the doorbell callback drains it */
    due = owed_since(im);
    if (due && now - due >= im->hb_timeout_ms) {
        fence(im, now);
        return;
    }
    if (now - im->hb_sent_ms >= im->hb_interval_ms)
        send_ping(im, now);
    hb_arm(im);
}

void mlos__hb_ready(struct mlos_shard_impl *im)
{
    if (!hb_active(im))
        return;
    im->hb_last_ms = im->hb_sent_ms = uv_now(im->loop);
    im->hb_wait_ms = 0;
    hb_arm(im);
}

int mlos__hb_pong(struct mlos_shard_impl *im, const uint8_t *p, uint32_t len)
{
    Mlos__Pong *pong = mlos__pong__unpack(NULL, len, p);
    uint64_t now = uv_hrtime();
    if (!pong)
        return MLOS_EDECODE;
    if (pong->master_ns && pong->master_ns <= now)
        im->hb_rtt_ns = now - pong->master_ns;
    mlos__pong__free_unpacked(pong, NULL);
    return 0;
}

int mlos_shard_heartbeat(mlos_shard_t *shard, unsigned interval_ms, unsigned timeout_ms)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    if (!im || im->state == SHARD_CLOSING)
        return MLOS_EINVAL;
    if (interval_ms && !timeout_ms)
        timeout_ms = MLOS_HEARTBEAT_TIMEOUT_MS;
    im->hb_interval_ms = interval_ms;
    im->hb_timeout_ms = timeout_ms;
    if (!interval_ms) {
        uv_timer_stop(&im->hb_timer);
        return 0;
    }
    if (im->state == SHARD_READY && !uv_is_active((uv_handle_t *)&im->hb_timer))
        mlos__hb_ready(im);
    return 0;
}

uint64_t mlos_shard_heartbeat_rtt(const mlos_shard_t *shard)
{
    return shard && shard->impl ? shard->impl->hb_rtt_ns : 0;
}
