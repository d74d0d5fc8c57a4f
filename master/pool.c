/* pool.c -- elastic shard pool: placement, queueing, growth, warm reserve,
 * shrink, failure handling with re-runs, drain and close (mlos_pool.h).
 *
 * Everything heavy happens in service(), run from a 0 ms timer ("kick")
 * so that user callbacks never run inside mlos_pool_call/close/drain and
 * shards are never stopped from inside their own callbacks. The fast path
 * (a call meeting an idle READY shard, a reply freeing a shard for the next
 * queued call) dispatches directly.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define DEFAULT_MAX_SHARDS 4
#define DEFAULT_IDLE_MS 5000
#define DEFAULT_RETRIES 3
#define SPAWN_GIVE_UP 3 /* spawn failures in a row with no shard up: fail waiting calls */

#define SLOT_OF(s) ((struct pool_slot *)((char *)(s) - offsetof(struct pool_slot, shard)))

static void service(struct mlos_pool_impl *pi);
static void on_done(mlos_call_t *c, int status);
static void dispatch(struct mlos_pool_impl *pi);

/* ---- small helpers ---- */

static uint64_t now_ms(struct mlos_pool_impl *pi) { return uv_now(pi->loop); }

static void kick_cb(uv_timer_t *t)
{
    struct mlos_pool_impl *pi = t->data;
    pi->kicked = 0;
    service(pi);
}

static void kick(struct mlos_pool_impl *pi)
{
    if (!pi->kicked && !pi->timers_closing) {
        pi->kicked = 1;
        uv_timer_start(&pi->kick, kick_cb, 0, 0);
    }
}

static void emit(struct mlos_pool_impl *pi, const mlos_shard_t *s, enum mlos_pool_event ev, int status,
                 const char *why)
{
    if (pi->o.on_event)
        pi->o.on_event(pi->pool, s, ev, status, why ? why : "");
}

static void recount(struct mlos_pool_impl *pi)
{
    mlos_pool_t *p = pi->pool;
    unsigned starting = 0, ready = 0, busy = 0, inflight = 0, paused = 0;
    for (struct pool_slot *s = pi->slots; s; s = s->next) {
        if (s->state == SLOT_PAUSED)
            paused++;
        else if (s->state == SLOT_STARTING || s->state == SLOT_PREPARING)
            starting++;
        else if (s->state == SLOT_READY) {
            ready++;
            busy += s->inflight > 0;
        }
        inflight += s->inflight;
    }
    p->starting = starting;
    p->ready = ready;
    p->busy = busy;
    p->inflight = inflight;
    p->paused = paused;
    p->shards = starting + ready;
    if (p->shards > p->peak_shards)
        p->peak_shards = p->shards;
}

/* ---- queue ---- */

static void q_push(struct mlos_pool_impl *pi, mlos_pool_call_t *req, int at_head)
{
    req->t_queued = uv_hrtime();
    if (at_head) {
        req->next = pi->head;
        pi->head = req;
        if (!pi->tail)
            pi->tail = req;
    } else {
        req->next = NULL;
        if (pi->tail)
            pi->tail->next = req;
        else
            pi->head = req;
        pi->tail = req;
    }
    pi->pool->queued++;
}

static mlos_pool_call_t *q_pop(struct mlos_pool_impl *pi)
{
    mlos_pool_call_t *req = pi->head;
    if (req) {
        pi->head = req->next;
        if (!pi->head)
            pi->tail = NULL;
        req->next = NULL;
        pi->pool->queued--;
    }
    return req;
}

/* ---- completion ---- */

/* Run the user's callback; the request is free afterwards. */
static void finish(mlos_pool_call_t *req, int status, const char *error, const mlos_call_t *c)
{
    mlos_pool_call_cb cb = req->cb;
    req->status = status;
    req->error = status ? (error && error[0] ? error : mlos_strerror(status)) : NULL;
    req->result = status == 0 && c ? c->result : NULL;
    req->result_len = status == 0 && c ? c->result_len : 0;
    req->rtt_ns = uv_hrtime() - req->t0;
    free(req->task);
    free(req->arg);
    req->task = NULL;
    req->arg = NULL;
    req->pool->calls_done++;
    cb(req, status);
}

/* Complete from service() (never inside an API call); msg already in req->msg. */
static void finish_later(struct mlos_pool_impl *pi, mlos_pool_call_t *req, int status)
{
    req->status = status;
    req->next = NULL;
    if (pi->done_tail)
        pi->done_tail->next = req;
    else
        pi->done = req;
    pi->done_tail = req;
    kick(pi);
}

static void flush_done(struct mlos_pool_impl *pi)
{
    while (pi->done) {
        mlos_pool_call_t *req = pi->done;
        pi->done = req->next;
        if (!pi->done)
            pi->done_tail = NULL;
        finish(req, req->status, req->msg, NULL);
    }
}

/* ---- shard failure ---- */

static void slot_failed(struct pool_slot *slot, int status, const char *why)
{
    struct mlos_pool_impl *pi = slot->pi;
    int was_ready = slot->state == SLOT_READY, was_up = was_ready || slot->state == SLOT_PREPARING;
    if (slot->state != SLOT_READY && slot->state != SLOT_STARTING && slot->state != SLOT_PREPARING &&
        slot->state != SLOT_PAUSED)
        return;
    slot->state = SLOT_FAILED;
    if (!was_ready && pi->rank_streak) { /* a member that never got to take calls */
        pi->rank_streak[slot->rank]++;
        pi->rank_err[slot->rank] = status < 0 ? status : MLOS_ESPAWN;
    }
    if (was_up)
        pi->pool->failed++;
    if (was_ready) {
        emit(pi, &slot->shard, MLOS_POOL_SHARD_FAILED, status, why);
    } else {
        if (!was_up)
            pi->pool->spawn_failed++;
        pi->spawn_streak++;
        pi->spawn_refused = 0;
        pi->spawn_err = status;
        snprintf(pi->spawn_msg, sizeof(pi->spawn_msg), "%s", why && why[0] ? why : mlos_strerror(status));
        /* back off: 50 ms, 100 ms, ... up to 2 s */
        unsigned shift = pi->spawn_streak < 6 ? pi->spawn_streak : 6;
        pi->spawn_not_before_ms = now_ms(pi) + (50u << shift) / 2;
        emit(pi, &slot->shard, was_up ? MLOS_POOL_SHARD_FAILED : MLOS_POOL_SHARD_SPAWN_FAILED, status, why);
    }
    recount(pi);
    kick(pi); /* service() releases it, re-runs, and replaces it */
}

/* A READY shard died or was fenced (hook from shard.c / heartbeat.c). */
static void on_dead(mlos_shard_t *shard)
{
    struct mlos_shard_impl *im = shard->impl;
    slot_failed(SLOT_OF(shard), im ? im->death_err : MLOS_ESHARDDIED, im ? im->death_msg : "");
}

static int is_shard_failure(int status)
{
    return status == MLOS_ESHARDDIED || status == MLOS_ETIMEDOUT || status == MLOS_EPROTO;
}

/* A call failed MLOS_ESTOPPED because its shard was stopped from outside
 * the pool (`mlos stop`, its cluster closed), not by the pool: for the
 * pool that shard went down like any other. */
static int stopped_under_us(struct mlos_pool_impl *pi, struct pool_slot *slot, int status)
{
    const struct mlos_shard_impl *im = slot->shard.impl;
    return status == MLOS_ESTOPPED && !pi->closing && im && im->state == SHARD_DEAD &&
           im->death_err == MLOS_ESTOPPED;
}

/* ---- placement ---- */

static struct pool_slot *pick(struct mlos_pool_impl *pi)
{
    struct pool_slot *best = NULL;
    for (struct pool_slot *s = pi->slots; s; s = s->next) {
        if (s->state != SLOT_READY || s->inflight >= pi->o.per_shard || s->resizing || !mlos_shard_alive(&s->shard))
            continue;
        if (!best || s->inflight < best->inflight || (s->inflight == best->inflight && s->last_use > best->last_use))
            best = s;
    }
    return best;
}

/* ---- memory policy (mem_idle_bytes) ---- */

static void on_resized(mlos_resize_t *r, int status)
{
    struct pool_slot *slot = r->data;
    struct mlos_pool_impl *pi = slot->pi;
    int was_shrink = slot->resizing;
    char why[300];

    slot->resizing = 0;
    slot->growing = 0;
    if (slot->state != SLOT_READY)
        return; /* failed or stopping meanwhile: nothing to track */
    if (was_shrink) {
        slot->shrunk = status == 0 || status == MLOS_EBUSY;
        if (slot->shrunk) {
            pi->pool->mem_shrinks++;
            pi->pool->mem_released += r->released_bytes;
        }
        snprintf(why, sizeof(why), "idle: memory %s to %llu bytes, %llu bytes given back%s%.200s",
                 status == 0 || status == MLOS_EBUSY ? "shrunk" : "not shrunk", (unsigned long long)r->mem_bytes,
                 (unsigned long long)r->released_bytes, status ? ": " : "", status ? r->error : "");
    } else {
        snprintf(why, sizeof(why), "memory grown to %llu bytes for a call%s%.200s", (unsigned long long)r->mem_bytes,
                 status ? ": " : "", status ? r->error : "");
    }
    emit(pi, &slot->shard, MLOS_POOL_SHARD_RESIZED, status, why);
    dispatch(pi); /* calls may have waited for the shrink to finish */
}

static void shrink_idle(struct mlos_pool_impl *pi, uint64_t now)
{
    if (!pi->o.mem_idle_bytes)
        return;
    for (struct pool_slot *s = pi->slots; s; s = s->next) {
        if (s->state != SLOT_READY || s->inflight || s->resizing || s->growing || s->shrunk ||
            now - s->idle_since_ms < pi->o.mem_idle_ms || !mlos_shard_alive(&s->shard))
            continue;
        s->resize.data = s;
        if (mlos_shard_resize(&s->shard, &s->resize, pi->o.mem_idle_bytes, on_resized) == 0)
            s->resizing = 1;
        else
            s->shrunk = 1; /* cannot shrink (e.g. an image without elastic memory): do not retry every tick */
    }
}

/* A shrunk shard gets its memory back before the call: the resize goes
 * first in the shard's order, so the call sees it. */
static void grow_for_call(struct mlos_pool_impl *pi, struct pool_slot *slot)
{
    if (!slot->shrunk)
        return;
    slot->shrunk = 0;
    if (slot->shard.mem_bytes >= pi->o.spawn.mem_bytes || !slot->shard.mem_max_bytes)
        return;
    slot->resize.data = slot;
    if (mlos_shard_resize(&slot->shard, &slot->resize, pi->o.spawn.mem_bytes, on_resized) == 0) {
        slot->growing = 1;
        pi->pool->mem_grows++;
    }
}

/* Send req to slot. Returns -1 if the shard refused (req goes back to the
 * queue), else 0 (sent, or completed with an error later). */
static int send_on(struct mlos_pool_impl *pi, mlos_pool_call_t *req, struct pool_slot *slot)
{
    int rc;
    req->queue_ns += uv_hrtime() - req->t_queued;
    req->attempts++;
    req->shard_id = slot->shard.id;
    if (req->prep && (rc = req->prep(req, &slot->shard)) != 0) {
        if (rc > 0)
            rc = MLOS_EINVAL;
        snprintf(req->msg, sizeof(req->msg), "prep hook of task '%s' failed on shard %u: %s", req->task,
                 slot->shard.id, mlos_strerror(rc));
        finish_later(pi, req, rc);
        return 0;
    }
    grow_for_call(pi, slot);
    req->call.data = req;
    struct mlos_call_opts co = {.timeout_ms = pi->o.call_timeout_ms, .flags = MLOS_CALL_FENCE};
    rc = mlos_call_ex(&slot->shard, &req->call, req->task, req->arg, req->arg_len, &co, on_done);
    if (rc == MLOS_ESHARDDIED || rc == MLOS_ESTOPPED) {
        req->attempts--;
        slot_failed(slot, rc, "shard refused a call (going away)");
        return -1;
    }
    if (rc < 0) {
        snprintf(req->msg, sizeof(req->msg), "task '%s' (%zu argument bytes): %s", req->task, req->arg_len,
                 mlos_strerror(rc));
        finish_later(pi, req, rc);
        return 0;
    }
    req->slot = slot;
    slot->inflight++;
    slot->last_use = ++pi->use_seq;
    return 0;
}

/* The prepared shard of member rank, if it has room for a call. */
static struct pool_slot *member_slot(struct mlos_pool_impl *pi, unsigned rank)
{
    for (struct pool_slot *s = pi->slots; s; s = s->next)
        if (s->rank == rank && s->state == SLOT_READY && mlos_shard_alive(&s->shard))
            return s->inflight < pi->o.per_shard ? s : NULL;
    return NULL;
}

/* Send every queued call that has a shard now, in queue order; a call for
 * a member that is busy or being replaced does not hold up the others. */
static void dispatch(struct mlos_pool_impl *pi)
{
    mlos_pool_call_t **pp = &pi->head, *prev = NULL;
    while (*pp && !pi->closing) {
        mlos_pool_call_t *req = *pp;
        struct pool_slot *slot = req->rank >= 0 ? member_slot(pi, (unsigned)req->rank) : pick(pi);
        if (!slot) {
            prev = req;
            pp = &req->next;
            continue;
        }
        *pp = req->next;
        if (pi->tail == req)
            pi->tail = prev;
        req->next = NULL;
        pi->pool->queued--;
        if (send_on(pi, req, slot) < 0) {
            q_push(pi, req, 1); /* that shard is failed now: look again from the head */
            pp = &pi->head;
            prev = NULL;
        }
    }
    recount(pi);
}

static void on_done(mlos_call_t *c, int status)
{
    mlos_pool_call_t *req = c->data;
    struct pool_slot *slot = req->slot;
    struct mlos_pool_impl *pi = slot->pi;

    req->slot = NULL;
    if (--slot->inflight == 0)
        slot->idle_since_ms = now_ms(pi);
    req->run_ns = c->run_ns;
    if ((is_shard_failure(status) || stopped_under_us(pi, slot, status)) && !mlos_shard_alive(&slot->shard)) {
        const char *why = c->error ? c->error : mlos_strerror(status);
        slot_failed(slot, status, why);
        if ((req->flags & MLOS_POOL_IDEMPOTENT) && !pi->closing && (int)req->attempts <= pi->o.max_retries) {
            pi->pool->retries++;
            q_push(pi, req, 1); /* first in line: it has waited longest */
            kick(pi);
            return;
        }
        char what[300];
        if (c->timed_out) /* this call overran: say so rather than just "shard fenced" */
            snprintf(what, sizeof(what), "task '%s' overran its %u ms deadline on shard %u", req->task,
                     pi->o.call_timeout_ms, slot->shard.id);
        else
            snprintf(what, sizeof(what), "%s", why);
        if (req->flags & MLOS_POOL_IDEMPOTENT)
            snprintf(req->msg, sizeof(req->msg), "task '%s' lost its shard %u time(s), no re-run left; last: %s",
                     req->task, req->attempts, what);
        else
            snprintf(req->msg, sizeof(req->msg), "%s; task '%s' is not idempotent: not re-run (it may or may not have run)",
                     what, req->task);
        finish(req, c->timed_out ? MLOS_ETIMEDOUT : status == MLOS_ESTOPPED ? MLOS_ESTOPPED : MLOS_ESHARDDIED,
               req->msg, NULL);
    } else if (status == MLOS_ESTOPPED && pi->closing) {
        snprintf(req->msg, sizeof(req->msg), "pool closed while task '%s' ran on shard %u", req->task,
                 slot->shard.id);
        finish(req, status, req->msg, NULL);
    } else {
        finish(req, status, c->error, c);
    }
    dispatch(pi);
    if (pi->head || pi->draining || pi->closing)
        kick(pi);
}

/* ---- growth ---- */

static void slot_up(struct pool_slot *slot);

static void on_spawned(mlos_shard_t *shard, int status)
{
    struct pool_slot *slot = SLOT_OF(shard);
    struct mlos_pool_impl *pi = slot->pi;

    if (status < 0) {
        struct mlos_shard_impl *im = shard->impl;
        slot_failed(slot, status, im && im->death_msg[0] ? im->death_msg : mlos_strerror(status));
        return;
    }
    pi->pool->spawned++;
    if (pi->o.prepare) {
        slot->state = SLOT_PREPARING;
        slot->prep_owed = 1;
        recount(pi);
        pi->o.prepare(pi->pool, shard, slot->rank); /* it answers with mlos_pool_prepared */
        return;
    }
    slot_up(slot);
}

/* slot takes calls from now on. */
static void slot_up(struct pool_slot *slot)
{
    struct mlos_pool_impl *pi = slot->pi;
    pi->spawn_streak = 0;
    if (pi->rank_streak)
        pi->rank_streak[slot->rank] = 0;
    slot->state = SLOT_READY;
    slot->idle_since_ms = now_ms(pi);
    recount(pi);
    emit(pi, &slot->shard, MLOS_POOL_SHARD_UP, 0, NULL);
    dispatch(pi);
    kick(pi); /* close, warm reserve */
}

static void slot_free(struct pool_slot *slot)
{
    struct mlos_pool_impl *pi = slot->pi;
    if (slot->prev)
        slot->prev->next = slot->next;
    else
        pi->slots = slot->next;
    if (slot->next)
        slot->next->prev = slot->prev;
    free(slot);
    recount(pi);
    if (pi->closing)
        kick(pi);
}

static void on_closed(mlos_shard_t *shard)
{
    struct pool_slot *slot = SLOT_OF(shard);
    slot->closed = 1;
    if (!slot->prep_owed) /* else the prepare hook still holds the shard */
        slot_free(slot);
}

/* ---- nodes ---- */

#define MAX_NODES 4096

struct node_count {
    uint32_t id;
    unsigned cnt; /* live shards (starting or ready) of this pool on it */
};

static int by_id(const void *a, const void *b)
{
    const struct node_count *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static struct node_count *find_count(struct node_count *tab, size_t n, uint32_t id)
{
    struct node_count key = {id, 0};
    return bsearch(&key, tab, n, sizeof(*tab), by_id);
}

/* The placement's live nodes with this pool's shards on each, sorted by
 * id: one pass over the slots, so that placing or shrinking many shards
 * stays linear in the pool's size. Returns the count (0 if out of
 * memory); *out is the pool's table, valid until the next call. */
static size_t node_table(struct mlos_pool_impl *pi, struct node_count **out)
{
    size_t n = pi->o.placement->nodes(pi->o.placement->ctx, NULL, 0);
    if (n > MAX_NODES)
        n = MAX_NODES;
    if (n > pi->node_cap) {
        uint32_t *ids = realloc(pi->node_ids, n * sizeof(*ids));
        struct node_count *tab = ids ? realloc(pi->node_tab, n * sizeof(*tab)) : NULL;
        if (ids)
            pi->node_ids = ids;
        if (!tab)
            return 0;
        pi->node_tab = tab;
        pi->node_cap = n;
    }
    uint32_t *ids = pi->node_ids;
    struct node_count *tab = pi->node_tab;
    size_t got = n ? pi->o.placement->nodes(pi->o.placement->ctx, ids, n) : 0;
    n = got < n ? got : n;
    for (size_t i = 0; i < n; i++)
        tab[i] = (struct node_count){ids[i], 0};
    qsort(tab, n, sizeof(*tab), by_id);
    for (struct pool_slot *s = pi->slots; s; s = s->next) {
        struct node_count *c;
        if ((s->state == SLOT_STARTING || s->state == SLOT_PREPARING || s->state == SLOT_READY) &&
            (c = find_count(tab, n, s->node)))
            c->cnt++;
    }
    *out = tab;
    return n;
}

/* The node for the next shard: one below node_min first, then by the
 * spread policy among those below node_max. The entry, or NULL: no room. */
static struct node_count *choose_node(struct mlos_pool_impl *pi, struct node_count *tab, size_t n)
{
    struct node_count *best = NULL;
    int best_under_min = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cnt = tab[i].cnt;
        int under_min = cnt < pi->o.node_min;
        if (pi->o.node_max && cnt >= pi->o.node_max)
            continue;
        if (!best || (under_min && !best_under_min) ||
            (under_min == best_under_min && (pi->o.spread == MLOS_POOL_PACK ? cnt > best->cnt : cnt < best->cnt))) {
            best = &tab[i];
            best_under_min = under_min;
        }
    }
    return best;
}

/* Totals the nodes allow: max over node_max, min over node_min. */
static void node_limits(struct mlos_pool_impl *pi, unsigned *max, unsigned *min)
{
    *max = pi->o.max_shards;
    *min = pi->o.min_shards;
    if (!pi->o.placement)
        return;
    size_t n = pi->o.placement->nodes(pi->o.placement->ctx, NULL, 0);
    if (pi->o.node_max && pi->o.node_max * n < *max)
        *max = (unsigned)(pi->o.node_max * n);
    if (pi->o.node_min * n > *min)
        *min = (unsigned)(pi->o.node_min * n);
    if (*min > *max)
        *min = *max;
}

/* Start one shard (member rank, 0 outside fixed membership): on this
 * host (paused: as a spare whose guest waits for resume; local only), or
 * on the chosen node of tab (whose count goes up with it). */
static int start_slot(struct mlos_pool_impl *pi, unsigned rank, struct node_count *tab, size_t ntab, int paused)
{
    struct pool_slot *slot;
    struct node_count *nc = NULL;
    uint32_t node = 0;
    int rc;
    if (pi->o.placement) {
        if (!(nc = choose_node(pi, tab, ntab)))
            return MLOS_ESPAWN; /* no node has room: wait for one */
        node = nc->id;
    }
    if (!(slot = calloc(1, sizeof(*slot))))
        return MLOS_ENOMEM;
    slot->pi = pi;
    slot->rank = rank;
    slot->state = paused ? SLOT_PAUSED : SLOT_STARTING;
    slot->node = node;
    rc = pi->o.placement ? pi->o.placement->spawn(pi->o.placement->ctx, node, pi->loop, &slot->shard, &pi->o.spawn,
                                                  on_spawned)
                         : mlos__spawn(pi->loop, &slot->shard, &pi->o.spawn, on_spawned, paused);
    if (rc < 0 && pi->o.placement && rc == MLOS_ESHARDDIED) {
        free(slot); /* the node just left: another is chosen next time */
        return rc;
    }
    if (rc < 0) {
        free(slot);
        pi->pool->spawn_failed++;
        pi->spawn_err = rc;
        pi->spawn_streak = SPAWN_GIVE_UP; /* refused at once: a configuration error, no point waiting */
        pi->spawn_refused = 1;
        if (pi->rank_streak) {
            pi->rank_streak[rank] = SPAWN_GIVE_UP;
            pi->rank_err[rank] = rc;
        }
        snprintf(pi->spawn_msg, sizeof(pi->spawn_msg), "cannot start a %s shard: %s",
                 pi->o.spawn.arch ? pi->o.spawn.arch : "x86_64", mlos_strerror(rc));
        emit(pi, NULL, MLOS_POOL_SHARD_SPAWN_FAILED, rc, pi->spawn_msg);
        return rc;
    }
    if (pi->o.heartbeat_ms > 0)
        mlos_shard_heartbeat(&slot->shard, (unsigned)pi->o.heartbeat_ms, pi->o.heartbeat_timeout_ms);
    slot->shard.impl->on_dead = on_dead;
    if (nc)
        nc->cnt++;
    slot->next = pi->slots;
    if (pi->slots)
        pi->slots->prev = slot;
    pi->slots = slot;
    recount(pi);
    return 0;
}

/* One more shard: a paused spare's guest is let run if there is one (its
 * QEMU is up already), else a cold start (on a node with a placement). */
static int spawn_one(struct mlos_pool_impl *pi, unsigned rank, struct node_count *tab, size_t ntab)
{
    for (struct pool_slot *s = pi->slots; s; s = s->next) {
        if (s->state != SLOT_PAUSED)
            continue;
        s->state = SLOT_STARTING;
        s->rank = rank; /* a spare belongs to no rank until taken */
        pi->pool->resumed++;
        mlos__shard_resume(&s->shard); /* a failure reaches on_spawned as a failed spawn */
        recount(pi);
        return 0;
    }
    return start_slot(pi, rank, tab, ntab, 0);
}

/* Keep paused_spares QEMUs started and paused (QEMU kinds on this host
 * only: with a placement the shards are started by the nodes' agents, and a
 * spare here would be on no node). Not while shards are starting: a QEMU
 * starting beside them would take the CPU their boots need; on_spawned's
 * service() comes back here. */
static void top_up_paused(struct mlos_pool_impl *pi)
{
    const char *arch = pi->o.spawn.arch ? pi->o.spawn.arch : "x86_64";
    unsigned paused = 0;

    if (pi->closing || pi->draining || pi->o.placement || !strcmp(arch, "process"))
        return;
    if (pi->spawn_streak && now_ms(pi) < pi->spawn_not_before_ms)
        return; /* backing off; the tick retries */
    for (struct pool_slot *s = pi->slots; s; s = s->next) {
        if (s->state == SLOT_STARTING)
            return;
        paused += s->state == SLOT_PAUSED;
    }
    while (paused++ < pi->o.paused_spares && start_slot(pi, 0, NULL, 0, 1) == 0)
        ;
}

/* Start shards for waiting calls, the warm reserve and the minimum. */
static void scale(struct mlos_pool_impl *pi)
{
    unsigned starting = 0, idle = 0, live = 0, per = pi->o.per_shard;
    unsigned need_q, deficit_q, spare, deficit_w, deficit_m, n, max, min;

    if (pi->closing)
        return;
    if (pi->o.members) { /* every rank without a live shard gets one */
        if (pi->spawn_streak && now_ms(pi) < pi->spawn_not_before_ms)
            return; /* backing off; the tick retries */
        struct node_count *tab = NULL;
        size_t ntab = pi->o.placement ? node_table(pi, &tab) : 0;
        for (unsigned r = 0; r < pi->o.members; r++) {
            int live = 0;
            for (struct pool_slot *s = pi->slots; s && !live; s = s->next)
                live = s->rank == r && (s->state == SLOT_STARTING || s->state == SLOT_PREPARING ||
                                        s->state == SLOT_READY);
            if (!live && spawn_one(pi, r, tab, ntab) < 0)
                return;
        }
        return;
    }
    node_limits(pi, &max, &min);
    for (struct pool_slot *s = pi->slots; s; s = s->next) {
        starting += s->state == SLOT_STARTING;
        idle += s->state == SLOT_READY && s->inflight == 0;
        live += s->state == SLOT_STARTING || s->state == SLOT_READY;
    }
    need_q = (pi->pool->queued + per - 1) / per;
    deficit_q = need_q > starting ? need_q - starting : 0;
    spare = starting > need_q ? starting - need_q : 0;
    deficit_w = pi->o.min_warm > idle + spare ? pi->o.min_warm - (idle + spare) : 0;
    deficit_m = min > live ? min - live : 0;
    n = deficit_q + deficit_w > deficit_m ? deficit_q + deficit_w : deficit_m;
    if (live >= max) /* nodes left: the limit fell below what runs */
        n = 0;
    else if (n > max - live)
        n = max - live;
    if (n && pi->spawn_streak && now_ms(pi) < pi->spawn_not_before_ms)
        return; /* backing off; the tick retries */
    struct node_count *tab = NULL;
    size_t ntab = n && pi->o.placement ? node_table(pi, &tab) : 0;
    while (n-- && spawn_one(pi, 0, tab, ntab) == 0)
        ;
    top_up_paused(pi);
}

/* ---- shrink ---- */

static void retire(struct pool_slot *slot)
{
    struct mlos_pool_impl *pi = slot->pi;
    slot->state = SLOT_STOPPING;
    pi->pool->retired++;
    emit(pi, &slot->shard, MLOS_POOL_SHARD_RETIRED, 0, "idle timeout");
    if (mlos_shard_stop(&slot->shard, on_closed) < 0 && !slot->shard.impl)
        on_closed(&slot->shard);
}

static void tick_cb(uv_timer_t *t)
{
    struct mlos_pool_impl *pi = t->data;
    uint64_t now = now_ms(pi);

    if (pi->closing)
        return;
    recount(pi);
    for (; !pi->o.members;) { /* members are never retired */
        struct pool_slot *old = NULL;
        unsigned idle = 0, live = pi->pool->shards, max, min;
        struct node_count *tab = NULL, *nc;
        size_t ntab = pi->o.placement && pi->o.node_min ? node_table(pi, &tab) : 0;
        node_limits(pi, &max, &min);
        for (struct pool_slot *s = pi->slots; s; s = s->next) {
            if (s->state != SLOT_READY || s->inflight)
                continue;
            idle++;
            if (ntab && (nc = find_count(tab, ntab, s->node)) && nc->cnt <= pi->o.node_min)
                continue; /* its node keeps its minimum */
            if (now - s->idle_since_ms >= pi->o.idle_timeout_ms && (!old || s->idle_since_ms < old->idle_since_ms))
                old = s;
        }
        if (!old || pi->pool->queued || live <= min || idle <= pi->o.min_warm)
            break;
        retire(old);
        recount(pi);
    }
    shrink_idle(pi, now);
    service(pi); /* spawn backoff expiry */
}

/* ---- the service routine ---- */

static void fail_queue(struct mlos_pool_impl *pi, int status, const char *fmt, const char *detail)
{
    mlos_pool_call_t *req;
    while ((req = q_pop(pi))) {
        req->queue_ns += uv_hrtime() - req->t_queued;
        snprintf(req->msg, sizeof(req->msg), fmt, req->task, detail);
        finish(req, status, req->msg, NULL);
    }
}

/* Calls waiting for a member whose last SPAWN_GIVE_UP starts or
 * preparations all failed: fail them with that error rather than wait. */
static void fail_dead_members(struct mlos_pool_impl *pi)
{
    mlos_pool_call_t **pp = &pi->head, *prev = NULL;
    while (*pp) {
        mlos_pool_call_t *req = *pp;
        if (req->rank < 0 || pi->rank_streak[req->rank] < SPAWN_GIVE_UP) {
            prev = req;
            pp = &req->next;
            continue;
        }
        *pp = req->next;
        if (pi->tail == req)
            pi->tail = prev;
        req->next = NULL;
        pi->pool->queued--;
        req->queue_ns += uv_hrtime() - req->t_queued;
        snprintf(req->msg, sizeof(req->msg), "task '%s' not run: member %d could not be started or prepared "
                 "(%u failures in a row); last: %.200s", req->task, req->rank, pi->rank_streak[req->rank],
                 pi->spawn_msg[0] ? pi->spawn_msg : mlos_strerror(pi->rank_err[req->rank]));
        finish(req, pi->rank_err[req->rank] < 0 ? pi->rank_err[req->rank] : MLOS_ESPAWN, req->msg, NULL);
    }
}

static void timer_closed(uv_handle_t *h)
{
    struct mlos_pool_impl *pi = h->data;
    mlos_pool_t *pool = pi->pool;
    mlos_pool_close_cb cb = pi->close_cb;
    if (--pi->open_timers > 0)
        return;
    free(pi->arch);
    free(pi->image);
    free(pi->qemu);
    free(pi->node_ids);
    free(pi->node_tab);
    free(pi->rank_streak);
    free(pi->rank_err);
    free(pi);
    pool->impl = NULL;
    pool->shards = pool->starting = pool->ready = pool->busy = pool->queued = pool->inflight = 0;
    if (cb)
        cb(pool);
}

static void stop_slot(struct pool_slot *slot)
{
    slot->state = SLOT_STOPPING;
    if (mlos_shard_stop(&slot->shard, on_closed) < 0 && !slot->shard.impl)
        on_closed(&slot->shard);
}

static void service(struct mlos_pool_impl *pi)
{
    struct pool_slot *s, *next;

    if (pi->timers_closing)
        return;
    /* release failed shards (their calls were settled already) */
    for (s = pi->slots; s; s = next) {
        next = s->next;
        if (s->state == SLOT_FAILED)
            stop_slot(s);
    }
    flush_done(pi);
    if (pi->closing) {
        fail_queue(pi, MLOS_ESTOPPED, "pool closed before task '%s' ran%s", "");
        for (s = pi->slots; s; s = next) {
            next = s->next;
            if (s->state != SLOT_STOPPING)
                stop_slot(s); /* running calls fail with MLOS_ESTOPPED */
        }
        flush_done(pi);
        if (pi->drain_cb) {
            mlos_pool_close_cb cb = pi->drain_cb;
            pi->drain_cb = NULL;
            cb(pi->pool);
        }
        if (!pi->slots && !pi->timers_closing) {
            pi->timers_closing = 1;
            uv_close((uv_handle_t *)&pi->tick, timer_closed);
            uv_close((uv_handle_t *)&pi->kick, timer_closed);
        }
        return;
    }
    dispatch(pi);
    scale(pi);
    recount(pi);
    if (pi->pool->queued && !pi->pool->shards && pi->spawn_streak >= SPAWN_GIVE_UP) {
        char detail[300];
        if (pi->spawn_refused)
            snprintf(detail, sizeof(detail), ": %.200s", pi->spawn_msg);
        else
            snprintf(detail, sizeof(detail), ": no shard could start (%u failures in a row); last: %.200s",
                     pi->spawn_streak, pi->spawn_msg);
        pi->spawn_streak = 0;
        fail_queue(pi, pi->spawn_err < 0 ? pi->spawn_err : MLOS_ESPAWN, "task '%s' not run%s", detail);
    }
    if (pi->rank_streak)
        fail_dead_members(pi);
    if (pi->draining && pi->drain_cb && !pi->pool->queued && !pi->pool->inflight && !pi->done) {
        mlos_pool_close_cb cb = pi->drain_cb;
        pi->drain_cb = NULL;
        cb(pi->pool);
    }
}

/* ---- API ---- */

int mlos_pool_init(uv_loop_t *loop, mlos_pool_t *pool, const struct mlos_pool_opts *opts)
{
    static const struct mlos_pool_opts defaults;
    struct mlos_pool_opts o = opts ? *opts : defaults;
    struct mlos_pool_impl *pi;
    unsigned tick_ms;

    if (!loop || !pool)
        return MLOS_EINVAL;
    if (!o.max_shards)
        o.max_shards = DEFAULT_MAX_SHARDS;
    if (!o.idle_timeout_ms)
        o.idle_timeout_ms = DEFAULT_IDLE_MS;
    if (!o.per_shard)
        o.per_shard = 1;
    if (!o.max_retries)
        o.max_retries = DEFAULT_RETRIES;
    if (!o.heartbeat_ms)
        o.heartbeat_ms = MLOS_HEARTBEAT_MS;
    if (!o.heartbeat_timeout_ms)
        o.heartbeat_timeout_ms = MLOS_HEARTBEAT_TIMEOUT_MS;
    if (o.members) { /* fixed: exactly the members, none idle in reserve */
        if (o.members > 4096)
            return MLOS_EINVAL;
        o.min_shards = o.max_shards = o.members;
        o.min_warm = 0;
    }
    if (o.min_shards > o.max_shards || o.min_warm > o.max_shards)
        return MLOS_EINVAL;
    if (!o.spawn.mem_bytes)
        o.spawn.mem_bytes = 64u << 20; /* mlos_spawn's default, needed to grow back to */
    if (o.mem_idle_bytes && (!o.spawn.mem_max_bytes || o.mem_idle_bytes > o.spawn.mem_bytes ||
                             o.mem_idle_bytes % 4096 || o.mem_idle_bytes < MLOS_RESIZE_MIN_BYTES))
        return MLOS_EINVAL;
    if (!o.mem_idle_ms)
        o.mem_idle_ms = o.idle_timeout_ms / 2;
    if (o.placement && (!o.placement->nodes || !o.placement->spawn))
        return MLOS_EINVAL;
    if ((o.node_max && o.node_min > o.node_max) || (unsigned)o.spread > MLOS_POOL_PACK ||
        (!o.placement && (o.node_max || o.node_min)))
        return MLOS_EINVAL;
    if (!(pi = calloc(1, sizeof(*pi))))
        return MLOS_ENOMEM;
    if (o.members && (!(pi->rank_streak = calloc(o.members, sizeof(unsigned))) ||
                      !(pi->rank_err = calloc(o.members, sizeof(int))))) {
        free(pi->rank_streak);
        free(pi);
        return MLOS_ENOMEM;
    }
    if ((o.spawn.arch && !(pi->arch = strdup(o.spawn.arch))) || (o.spawn.image && !(pi->image = strdup(o.spawn.image))) ||
        (o.spawn.qemu && !(pi->qemu = strdup(o.spawn.qemu)))) {
        free(pi->arch);
        free(pi->image);
        free(pi->rank_streak);
        free(pi->rank_err);
        free(pi);
        return MLOS_ENOMEM;
    }
    o.spawn.arch = pi->arch;
    o.spawn.image = pi->image;
    o.spawn.qemu = pi->qemu;
    void *user = pool->data;
    memset(pool, 0, sizeof(*pool));
    pool->data = user;
    pool->impl = pi;
    pi->pool = pool;
    pi->loop = loop;
    pi->o = o;
    uv_timer_init(loop, &pi->tick);
    uv_timer_init(loop, &pi->kick);
    pi->tick.data = pi->kick.data = pi;
    pi->open_timers = 2;
    tick_ms = o.idle_timeout_ms / 4;
    tick_ms = tick_ms < 20 ? 20 : tick_ms > 250 ? 250 : tick_ms;
    uv_timer_start(&pi->tick, tick_cb, tick_ms, tick_ms);
    scale(pi);
    if (pi->spawn_streak)
        kick(pi);
    return 0;
}

static int submit(mlos_pool_t *pool, mlos_pool_call_t *req, int rank, const char *task, const void *arg,
                  size_t arg_len, unsigned flags, mlos_pool_prep_cb prep, mlos_pool_call_cb cb);

int mlos_pool_call(mlos_pool_t *pool, mlos_pool_call_t *req, const char *task, const void *arg, size_t arg_len,
                   unsigned flags, mlos_pool_call_cb cb)
{
    return submit(pool, req, -1, task, arg, arg_len, flags, NULL, cb);
}

static int submit(mlos_pool_t *pool, mlos_pool_call_t *req, int rank, const char *task, const void *arg,
                  size_t arg_len, unsigned flags, mlos_pool_prep_cb prep, mlos_pool_call_cb cb)
{
    struct mlos_pool_impl *pi = pool ? pool->impl : NULL;
    if (!pi || !req || !task || !cb || (arg_len && !arg) || (flags & ~MLOS_POOL_IDEMPOTENT) ||
        (rank >= 0 && (unsigned)rank >= pi->o.members))
        return MLOS_EINVAL;
    if (pi->closing || pi->draining)
        return MLOS_ESTOPPED;
    void *user = req->data;
    memset(req, 0, sizeof(*req));
    req->data = user;
    req->prep = prep;
    req->rank = rank;
    req->task = strdup(task);
    req->arg = malloc(arg_len ? arg_len : 1);
    if (!req->task || !req->arg) {
        free(req->task);
        free(req->arg);
        return MLOS_ENOMEM;
    }
    if (arg_len)
        memcpy(req->arg, arg, arg_len);
    req->arg_len = arg_len;
    req->pool = pool;
    req->cb = cb;
    req->flags = flags;
    req->t0 = uv_hrtime();
    q_push(pi, req, 0);
    dispatch(pi);
    kick(pi); /* growth, warm reserve: spawning (a fork) stays off the caller's path */
    return 0;
}

int mlos_pool_call_prep(mlos_pool_t *pool, mlos_pool_call_t *req, const char *task, const void *arg, size_t arg_len,
                        unsigned flags, mlos_pool_prep_cb prep, mlos_pool_call_cb cb)
{
    return submit(pool, req, -1, task, arg, arg_len, flags, prep, cb);
}

int mlos_pool_call_member(mlos_pool_t *pool, mlos_pool_call_t *req, unsigned rank, const char *task, const void *arg,
                          size_t arg_len, unsigned flags, mlos_pool_prep_cb prep, mlos_pool_call_cb cb)
{
    if (rank > 4096)
        return MLOS_EINVAL;
    return submit(pool, req, (int)rank, task, arg, arg_len, flags, prep, cb);
}

int mlos_pool_prepared(mlos_pool_t *pool, mlos_shard_t *shard, int status)
{
    struct pool_slot *slot = shard ? SLOT_OF(shard) : NULL;
    if (!pool || !pool->impl || !slot || slot->pi != pool->impl || !slot->prep_owed)
        return MLOS_EINVAL;
    slot->prep_owed = 0;
    if (slot->closed) { /* released meanwhile: it was only kept for this call */
        slot_free(slot);
        return MLOS_ESTOPPED;
    }
    if (slot->state != SLOT_PREPARING || slot->pi->closing)
        return MLOS_ESTOPPED; /* failed or closing meanwhile; service() releases it */
    if (status < 0) {
        char why[200];
        snprintf(why, sizeof(why), "preparing shard %u failed: %s", shard->id, mlos_strerror(status));
        slot_failed(slot, status, why);
        return 0;
    }
    slot_up(slot);
    return 0;
}

mlos_shard_t *mlos_pool_member(mlos_pool_t *pool, unsigned rank)
{
    if (!pool || !pool->impl)
        return NULL;
    for (struct pool_slot *s = pool->impl->slots; s; s = s->next)
        if (s->rank == rank && s->state == SLOT_READY && mlos_shard_alive(&s->shard))
            return &s->shard;
    return NULL;
}

int mlos_pool_rank_of(mlos_pool_t *pool, const mlos_shard_t *shard)
{
    if (!pool || !pool->impl || !shard)
        return MLOS_EINVAL;
    for (struct pool_slot *s = pool->impl->slots; s; s = s->next) /* not SLOT_OF: shard may be anything */
        if (&s->shard == shard)
            return (int)s->rank;
    return MLOS_EINVAL;
}

size_t mlos_pool_shards(mlos_pool_t *pool, mlos_shard_t **out, size_t cap)
{
    size_t n = 0;
    if (!pool || !pool->impl)
        return 0;
    for (struct pool_slot *s = pool->impl->slots; s; s = s->next)
        if (s->state == SLOT_READY && mlos_shard_alive(&s->shard)) {
            if (n < cap && out)
                out[n] = &s->shard;
            n++;
        }
    return n;
}

int mlos_pool_drain(mlos_pool_t *pool, mlos_pool_close_cb cb)
{
    struct mlos_pool_impl *pi = pool ? pool->impl : NULL;
    if (!pi || pi->closing || pi->draining)
        return MLOS_EINVAL;
    pi->draining = 1;
    pi->drain_cb = cb;
    kick(pi);
    return 0;
}

int mlos_pool_close(mlos_pool_t *pool, mlos_pool_close_cb cb)
{
    struct mlos_pool_impl *pi = pool ? pool->impl : NULL;
    if (!pi || pi->closing)
        return MLOS_EINVAL;
    pi->closing = 1;
    pi->close_cb = cb;
    kick(pi);
    return 0;
}

static void sync_done(mlos_pool_t *pool) { *pool->sync_done = 1; }

static void run_sync(mlos_pool_t *pool, int (*op)(mlos_pool_t *, mlos_pool_close_cb))
{
    int done = 0;
    uv_loop_t *loop = pool->impl ? pool->impl->loop : NULL;
    pool->sync_done = &done;
    if (op(pool, sync_done) == 0)
        while (!done)
            uv_run(loop, UV_RUN_ONCE);
    pool->sync_done = NULL;
}

void mlos_pool_drain_sync(mlos_pool_t *pool) { run_sync(pool, mlos_pool_drain); }

void mlos_pool_close_sync(mlos_pool_t *pool) { run_sync(pool, mlos_pool_close); }
