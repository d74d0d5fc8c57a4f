/* heartbeat.c -- liveness of READY shards: PING/PONG, fencing, and the
 * timer that also enforces call deadlines.
 *
 * Contract (mlos_shard_heartbeat in mlos_pool.h):
 *  - Every interval the master pushes a PING frame (request id = sequence,
 *    payload mlos.Ping) into the shard's ring; the slave runtime answers
 *    with a PONG of the same id between tasks (libos/runtime/slave.c).
 *  - Only a PONG whose id is that of a PING still outstanding proves the
 *    shard alive. Other frames do not: a shard that sends LOG or MSG frames
 *    (or PONGs for ids never sent) but does not answer PINGs is fenced all
 *    the same, since a broken runtime can keep printing while its request
 *    path is dead. A REPLY is progress on calls (it restarts the clock of
 *    the next pending call) but does not answer a PING either: a healthy
 *    shard handles frames in ring order, so its PONG comes anyway.
 *  - The shard owes an answer from the first PING sent after its last
 *    matching PONG, and from the oldest pending call (sent, or from the
 *    last PONG or REPLY if later). When an answer has been owed for
 *    timeout_ms, the shard is FENCED: SIGKILL to its process (QEMU or the
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
 *  - A local shard whose host process is stopped (SIGSTOP, a debugger:
 *    state T or t in /proc/PID/stat) cannot answer however long the
 *    timeout: once it owes an answer for MLOS_HEARTBEAT_STOPPED_MS it is
 *    fenced at once, so that a timeout chosen above the longest task does
 *    not also delay noticing a frozen shard.
 *  - A master loop that was blocked does not fence healthy shards: silence
 *    is measured from the first unanswered PING, and the reply ring is
 *    drained before judging, so PONGs that arrived meanwhile count.
 *  - Call deadlines (mlos_call_ex) share this timer: it wakes at the
 *    earliest of the next PING, the heartbeat timeout and the earliest
 *    deadline, whether heartbeats are on or not.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "group_wire.h"
#include "master_internal.h"
#include "registry.h"
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
}

static int hb_active(const struct mlos_shard_impl *im)
{
    /* shards behind an agent: the agent pings them, the cluster pings the agent */
    return im->hb_interval_ms && im->state == SHARD_READY && im->proc_running && !im->fenced && !im->rops;
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

/* Sleep until the next PING is due, what is owed times out or a call's
 * deadline falls; stop the timer when none of them applies. */
void mlos__hb_arm(struct mlos_shard_impl *im)
{
    uint64_t now = uv_now(im->loop), next = 0, due, dl;
    if (im->state == SHARD_CLOSING)
        return;
    if (hb_active(im)) {
        next = im->hb_sent_ms + im->hb_interval_ms;
        due = owed_since(im);
        if (due && due + im->hb_timeout_ms < next)
            next = due + im->hb_timeout_ms;
    }
    dl = im->state == SHARD_READY && !im->fenced ? mlos__next_deadline(im) : 0;
    if (dl && (!next || dl < next))
        next = dl;
    if (!next) {
        uv_timer_stop(&im->hb_timer);
        return;
    }
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
    int rc = mlos_ring_push(&im->to_shard, MLOS_FRAME_PING, im->hb_seq, buf, (uint32_t)n);
    if (rc == 0)
        mlos__ring_shard(im);
    else if (rc == MLOS_EPROTO) {
        mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: it corrupted the call ring's index",
                         im->shard->id);
        return;
    }
    im->hb_sent_ms = now;
    if (!im->hb_wait_ms)
        im->hb_wait_ms = now;
}

void mlos__fence(struct mlos_shard_impl *im)
{
    if (im->state != SHARD_READY)
        return;
    im->state = SHARD_DEAD;
    mlos__registry_state(im->shard, "dead"); /* mlos ps: condemned, whatever its process still does */
    uv_idle_stop(&im->spin);
    uv_timer_stop(&im->hb_timer);
    mlos__group_shard_down(im, MLOS_GROUP_DOWN_FENCED); /* its group peers stop waiting for it */
    mlos__fail_calls(im, im->death_err, im->death_msg);
    if (im->state == SHARD_DEAD && im->on_dead) /* a callback may have stopped it */
        im->on_dead(im->shard);
}

static void fence(struct mlos_shard_impl *im, uint64_t now)
{
    mlos__shard_fail(im, MLOS_ETIMEDOUT, "shard %u stopped answering (no heartbeat for %llu ms)", im->shard->id,
                     (unsigned long long)(now - owed_since(im))); /* fenced, SIGKILL */
    mlos__fence(im);
}

/* Is host process pid stopped (job control or tracing)? Reads the state
 * field of /proc/PID/stat: after the last ')' (the command name may hold
 * any byte), a space and one letter. */
int mlos__proc_stopped(int pid)
{
    char path[32], buf[512];
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'T' || paren[2] == 't');
}

static void hb_tick(uv_timer_t *t)
{
    struct mlos_shard_impl *im = t->data;
    uint64_t now = uv_now(im->loop), due;

    if (im->state != SHARD_READY || im->fenced)
        return;
    /* PONGs and replies that arrived while the loop was busy elsewhere
     * count before anything is judged. */
    mlos__drain(im);
    if (im->state != SHARD_READY || im->fenced)
        return;
    if (mlos__expire_calls(im, now))
        return;
    if (hb_active(im)) {
        due = owed_since(im);
        /* due can be a little ahead of the loop's cached clock: a call made
         * by a callback of the drain above has a fresh uv_hrtime() start */
        if (due && now >= due && now - due >= im->hb_timeout_ms) {
            fence(im, now);
            return;
        }
        if (due && now >= due && now - due >= MLOS_HEARTBEAT_STOPPED_MS && mlos__proc_stopped(im->shard->pid)) {
            mlos__shard_fail(im, MLOS_ETIMEDOUT, "shard %u stopped answering: its process %d is stopped (no heartbeat "
                             "for %llu ms)", im->shard->id, im->shard->pid, (unsigned long long)(now - due));
            mlos__fence(im);
            return;
        }
        if (now - im->hb_sent_ms >= im->hb_interval_ms)
            send_ping(im, now);
    }
    mlos__hb_arm(im);
}

void mlos__hb_ready(struct mlos_shard_impl *im)
{
    if (!hb_active(im))
        return;
    im->hb_last_ms = im->hb_sent_ms = uv_now(im->loop);
    im->hb_wait_ms = 0;
    im->hb_acked = im->hb_seq;
    mlos__hb_arm(im);
}

/* A PONG answers the PING of the same id if that one is outstanding:
 * ids in (hb_acked, hb_seq], in the wrapping sequence. Anything else (a
 * duplicate, a PONG for a PING never sent) proves nothing and is dropped;
 * a late duplicate is not worth killing the shard for. */
int mlos__hb_pong(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len)
{
    Mlos__Pong *pong = mlos__pong__unpack(NULL, len, p);
    uint64_t now = uv_hrtime();
    uint32_t ahead = im->hb_seq - im->hb_acked;
    if (!pong)
        return MLOS_EDECODE;
    if (id && ahead && (uint32_t)(id - im->hb_acked) - 1u < ahead) {
        if (pong->master_ns && pong->master_ns <= now)
            im->hb_rtt_ns = now - pong->master_ns;
        im->hb_acked = id;
        im->hb_last_ms = uv_now(im->loop);
        /* Later PINGs still outstanding are owed from the last one sent
         * (the send times of those in between are not kept). */
        im->hb_wait_ms = id == im->hb_seq ? 0 : im->hb_sent_ms;
    }
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
    if (im->rops) { /* its agent pings it, where it runs */
        if (im->rops->heartbeat)
            im->rops->heartbeat(im, interval_ms, timeout_ms);
        mlos__hb_arm(im); /* call deadlines */
        return 0;
    }
    if (!interval_ms) {
        mlos__hb_arm(im); /* call deadlines may still need the timer */
        return 0;
    }
    if (im->state == SHARD_READY)
        mlos__hb_ready(im);
    return 0;
}

uint64_t mlos_shard_heartbeat_rtt(const mlos_shard_t *shard)
{
    return shard && shard->impl ? shard->impl->hb_rtt_ns : 0;
}
