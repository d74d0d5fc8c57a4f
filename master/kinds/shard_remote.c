/* shard_remote.c -- the master's handle of a shard that runs on another
 * node, behind that node's agent (mlos-node).
 *
 * The handle is an ordinary mlos_shard_t: mlos_call, mlos_put,
 * mlos_shard_stop, pools and deadlines use it as they use a local one.
 * What differs is below the handle: no window, ring, doorbell or process
 * here; the node layer (struct mlos__remote_ops, master_internal.h)
 * carries calls and puts to the agent and brings back the HELLO, replies
 * and the shard's end. Liveness is the agent's business for its slaves
 * (it pings them) and the node layer's for the agent (it pings the agent
 * and declares every shard of a silent node gone): this file only turns
 * those verdicts into the same states and callbacks a local shard has.
 *
 * Lifetime: created STARTING by mlos__remote_shard_new; READY at
 * mlos__remote_hello; DEAD at mlos__remote_gone (node lost, shard died);
 * released by mlos_shard_stop as any shard (ops->release tells the node
 * layer to forget it). A reply for a shard that is fenced, stopping or
 * gone is dropped: it can no longer complete any call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "group_wire.h"
#include "kind.h"
#include "master_internal.h"
#include "registry.h"

#define MiB (1024u * 1024u)

static void remote_closed(uv_handle_t *h)
{
    struct mlos_shard_impl *im = h->data;
    mlos_shard_t *shard;
    mlos_close_cb cb;

    if (--im->open_handles > 0)
        return;
    shard = im->shard;
    cb = im->close_cb;
    for (size_t i = 0; i < shard->ntasks; i++)
        free(shard->tasks[i]);
    free(shard->tasks);
    shard->tasks = NULL;
    shard->ntasks = 0;
    free(im);
    shard->impl = NULL;
    mlos__registry_released(shard);
    if (cb)
        cb(shard);
}

static void remote_release(struct mlos_shard_impl *im)
{
    mlos__control_remove(im); /* beside the shard's own handles (shard.c, release) */
    if (im->state == SHARD_CLOSING)
        return;
    im->state = SHARD_CLOSING;
    im->fenced = 1;
    if (im->rops->release)
        im->rops->release(im); /* the node layer forgets it: later frames for it are dropped */
    im->open_handles = 2;
    im->timer.data = im->hb_timer.data = im;
    uv_close((uv_handle_t *)&im->timer, remote_closed);
    uv_close((uv_handle_t *)&im->hb_timer, remote_closed);
}

static void hello_timeout(uv_timer_t *t)
{
    struct mlos_shard_impl *im = t->data;
    if (im->state == SHARD_STARTING) {
        if (im->rops->fence)
            im->rops->fence(im);
        mlos__remote_gone(im, MLOS_ESPAWN, NULL);
    } else if (im->state == SHARD_STOPPING) {
        /* the agent did not confirm the stop in time: it was told to
         * kill; the handle goes now */
        if (im->rops->fence)
            im->rops->fence(im);
        mlos__fail_calls(im, MLOS_ESTOPPED, "shard is stopping");
        remote_release(im);
    }
}

int mlos__remote_shard_new(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *o,
                           const struct mlos__remote_ops *ops, void *rctx, const char *node, mlos_spawn_cb cb)
{
    static const struct mlos_spawn_opts defaults;
    struct mlos_shard_impl *im;
    void *user = shard ? shard->data : NULL;
    if (!loop || !shard || !ops || !cb)
        return MLOS_EINVAL;
    if (!o)
        o = &defaults;
    memset(shard, 0, sizeof(*shard));
    shard->data = user;
    const struct mlos_kind *kind = mlos__kind_find(o->arch ? o->arch : "x86_64");
    if (!kind) /* the agent would refuse it too; say so before anything crosses the network */
        return MLOS_EINVAL;
    if (!(im = calloc(1, sizeof(*im))))
        return MLOS_ENOMEM;
    shard->id = mlos__next_shard_id();
    snprintf(shard->node, sizeof(shard->node), "%s", node ? node : "?");
    im->loop = loop;
    im->shard = shard;
    im->mem_fd = im->bell_fd = -1;
    im->kind = kind;
    im->spawn_cb = cb;
    im->on_console = o->on_console;
    im->next_id = 1;
    im->t_spawn = uv_hrtime();
    im->rops = ops;
    im->rctx = rctx;
    im->group_mem = o->group_mem; /* its agent maps the node's copy (group_nodes.h) */
    uv_timer_init(loop, &im->timer);
    im->timer.data = im;
    mlos__hb_init(im);
    shard->impl = im;
    im->state = SHARD_STARTING;
    /* a remote boot also crosses the network and may wait for a free core */
    uv_timer_start(&im->timer, hello_timeout, (o->hello_timeout_ms ? o->hello_timeout_ms : 10000) + 2000, 0);
    int served = mlos__control_add(im); /* mlos stop reaches it through its agent (control.c) */
    mlos__registry_started(shard, o->arch ? o->arch : "x86_64", o->mem_bytes ? o->mem_bytes : 64 * MiB, served);
    return 0;
}

int mlos__remote_hello(struct mlos_shard_impl *im, const uint8_t *hello, size_t len, uint64_t bulk_len, int pid)
{
    if (im->state != SHARD_STARTING || im->fenced)
        return 0; /* late: the handle gave up on it already */
    if (len > UINT32_MAX)
        return MLOS_EDECODE;
    im->bulk_len = (size_t)bulk_len;
    im->shard->pid = pid;
    im->proc_running = 0; /* no process here: mlos_shard_alive asks rops */
    return mlos__on_hello(im, hello, (uint32_t)len); /* READY, spawn callback */
}

int mlos__remote_reply(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, size_t len)
{
    int rc;
    if (im->state != SHARD_READY || im->fenced)
        return 0; /* fenced or going: stale, completes nothing */
    if (len > UINT32_MAX || (rc = mlos__on_reply(im, id, p, (uint32_t)len)) < 0) {
        mlos__shard_fail(im, MLOS_EPROTO, "shard %u on node %s broke the protocol: bad REPLY %u", im->shard->id,
                         im->shard->node, id);
        mlos__fence(im);
        return MLOS_EPROTO;
    }
    return 0;
}

void mlos__remote_gone(struct mlos_shard_impl *im, int err, const char *msg)
{
    enum shard_state was = im->state;
    if (was == SHARD_CLOSING)
        return;
    im->fenced = 1;
    im->shard->pid = 0;
    if (!im->death_err) {
        im->death_err = err < 0 ? err : was == SHARD_STARTING ? MLOS_ESPAWN : MLOS_ESHARDDIED;
        if (msg && msg[0])
            snprintf(im->death_msg, sizeof(im->death_msg), "%s", msg);
        else if (was == SHARD_STARTING)
            snprintf(im->death_msg, sizeof(im->death_msg), "shard %u on node %s sent no HELLO in time (timeout)",
                     im->shard->id, im->shard->node);
        else
            snprintf(im->death_msg, sizeof(im->death_msg), "shard %u on node %s is gone", im->shard->id,
                     im->shard->node);
    }
    uv_timer_stop(&im->timer);
    uv_timer_stop(&im->hb_timer);
    mlos__registry_state(im->shard, "dead");
    if (was == SHARD_STOPPING) {
        remote_release(im);
        return;
    }
    if (was == SHARD_DEAD)
        return;
    im->state = SHARD_DEAD;
    if (was == SHARD_READY) /* its group peers must stop waiting for it */
        mlos__group_shard_down(im, err == MLOS_ETIMEDOUT || err == MLOS_EPROTO ? MLOS_GROUP_DOWN_FENCED
                                                                             : MLOS_GROUP_DOWN_DIED);
    mlos__fail_calls(im, im->death_err, im->death_msg);
    if (im->state != SHARD_DEAD)
        return; /* a callback stopped it */
    if (was == SHARD_STARTING)
        im->spawn_cb(im->shard, im->death_err);
    else if (im->on_dead)
        im->on_dead(im->shard);
}

int mlos__remote_stop(struct mlos_shard_impl *im)
{
    mlos__fail_calls(im, MLOS_ESTOPPED, "shard is stopping");
    if (im->state == SHARD_CLOSING)
        return 0; /* a failed call's callback stopped it already */
    if (im->state == SHARD_DEAD) {
        if (im->rops->fence)
            im->rops->fence(im); /* gone for us: make sure it is gone there too */
        remote_release(im);
        return 0;
    }
    im->state = SHARD_STOPPING;
    uv_timer_stop(&im->hb_timer);
    im->rops->stop(im);
    uv_timer_start(&im->timer, hello_timeout, MLOS_STOP_GRACE_MS + 1000, 0);
    return 0;
}
