/* Shard groups on the master: the group memory, membership, group calls,
 * failure propagation and the wake-up relay (mlos_group.h). The master's
 * own rank, when it holds one, is group_master.c's. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "group.h"
#include "group_node.h"
#include "group_nodes.h"
#include "group_wire.h"
#include "master_internal.h"
#include "mlos_endian.h"
#include "mlos_pool.h"

#define MiB ((size_t)1 << 20)
#define DEFAULT_RING (64u << 10)

/* ---- group memory: a sealed memfd, carved into group slices ---- */

struct slice {
    size_t off, len;
};

struct mlos_group_mem_impl {
    int fd;
    uint8_t *map;
    size_t size;
    struct slice *used; /* sorted by offset */
    size_t nused, capused;
};

int mlos_group_mem_init(mlos_group_mem_t *gm, size_t bytes)
{
    struct mlos_group_mem_impl *m;
    if (!gm || bytes > ((size_t)1 << 30))
        return MLOS_EINVAL;
    /* A power of two: a PowerPC member maps it as a PCI BAR, which is
     * naturally sized; the memfd is sparse, so the rounding costs nothing
     * until used. */
    size_t p2 = MiB;
    while (p2 < bytes)
        p2 <<= 1;
    bytes = p2;
    if (!(m = calloc(1, sizeof(*m))))
        return MLOS_ENOMEM;
    /* Sealed like a shard's window: no member can shrink it under the
     * mappings of the others (a SIGBUS in every one of them). */
    m->fd = memfd_create("mlos-group", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m->fd < 0 || ftruncate(m->fd, (off_t)bytes) < 0 ||
        fcntl(m->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        if (m->fd >= 0)
            close(m->fd);
        free(m);
        return MLOS_EIO;
    }
    m->map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (m->map == MAP_FAILED) {
        close(m->fd);
        free(m);
        return MLOS_ENOMEM;
    }
    m->size = bytes;
    gm->size = bytes;
    gm->impl = m;
    return 0;
}

size_t mlos_group_mem_needed(unsigned n, uint32_t ring_bytes)
{
    return mlos_group_layout_size(n, ring_bytes ? ring_bytes : DEFAULT_RING);
}

int mlos_group_mem_close(mlos_group_mem_t *gm)
{
    struct mlos_group_mem_impl *m = gm ? gm->impl : NULL;
    if (!m || m->nused)
        return MLOS_EINVAL;
    munmap(m->map, m->size);
    close(m->fd);
    free(m->used);
    free(m);
    gm->impl = NULL;
    return 0;
}

size_t mlos__group_mem_bytes(const struct mlos_group_mem_s *gm) { return gm && gm->impl ? gm->impl->size : 0; }
int mlos__group_mem_fd(const struct mlos_group_mem_s *gm) { return gm && gm->impl ? gm->impl->fd : -1; }

/* First fit; slices are page aligned. Returns the offset or (size_t)-1. */
static size_t slice_alloc(struct mlos_group_mem_impl *m, size_t len)
{
    size_t at = 0, i;
    len = (len + 4095) & ~(size_t)4095;
    for (i = 0; i <= m->nused; i++) {
        size_t end = i < m->nused ? m->used[i].off : m->size;
        if (end >= at && end - at >= len)
            break;
        if (i < m->nused)
            at = m->used[i].off + m->used[i].len;
    }
    if (i > m->nused)
        return (size_t)-1;
    if (m->nused == m->capused) {
        size_t cap = m->capused ? m->capused * 2 : 8;
        struct slice *u = realloc(m->used, cap * sizeof(*u));
        if (!u)
            return (size_t)-1;
        m->used = u;
        m->capused = cap;
    }
    memmove(m->used + i + 1, m->used + i, (m->nused - i) * sizeof(*m->used));
    m->used[i] = (struct slice){at, len};
    m->nused++;
    return at;
}

static void slice_free(struct mlos_group_mem_impl *m, size_t off)
{
    for (size_t i = 0; i < m->nused; i++)
        if (m->used[i].off == off) {
            memmove(m->used + i, m->used + i + 1, (m->nused - i - 1) * sizeof(*m->used));
            m->nused--;
            return;
        }
}

/* ---- groups ---- */

enum gstate { G_JOINING, G_READY, G_BROKEN, G_CLOSING };

struct sub { /* one rank's part of a group-wide operation */
    mlos_call_t call;
    struct mlos_group_impl *g;
    unsigned rank;
    int done;
};

struct mlos_group_impl {
    uv_loop_t *loop;
    mlos_group_t *group;
    mlos_group_mem_t *gm;
    enum gstate state;
    size_t off, len;     /* current slice */
    unsigned n;
    uint32_t ring_bytes;
    unsigned spin_us;
    mlos_shard_t *members[MLOS_GROUP_MAX];
    struct mlos__group_link links[MLOS_GROUP_MAX];
    int linked[MLOS_GROUP_MAX];
    char error[600];

    /* the operation in flight: join (create/reform), a call, or leave (close) */
    enum { OP_NONE, OP_JOIN, OP_CALL, OP_LEAVE } op;
    struct sub subs[MLOS_GROUP_MAX];
    unsigned pending;
    int op_status;
    mlos_group_cb op_cb;
    mlos_group_close_cb close_cb;
    mlos_group_call_t *call;
    struct mlos_group_rank_result results[MLOS_GROUP_MAX];
    char *reply_copy[MLOS_GROUP_MAX]; /* result + error bytes of each rank, until the callback returns */
    uint64_t t0;
    uv_idle_t defer; /* callbacks never run inside the call that queued them */
    int defer_open;
    void (*deferred)(struct mlos_group_impl *g);

    /* the master's own rank: -1 if none */
    int master_rank;
    struct mlos__gmaster *mr;
    uv_timer_t master_timer; /* the call's deadline for that rank */
    int master_overran;      /* the deadline passed while it ran */
    int abort_rank;          /* the rank whose failure ended the others' collectives, -1 if none */
    int handles;             /* open libuv handles; the struct goes with the last */
};

static uint32_t next_group_id = 1;

static void free_group(uv_handle_t *h)
{
    struct mlos_group_impl *g = h->data;
    if (--g->handles == 0)
        free(g);
}

static void close_handles(struct mlos_group_impl *g)
{
    mlos__gmaster_free(g->mr);
    g->mr = NULL;
    uv_close((uv_handle_t *)&g->master_timer, free_group);
    uv_close((uv_handle_t *)&g->defer, free_group);
}

/* "shard 7" or "the master", for messages. */
static const char *who(struct mlos_group_impl *g, unsigned r, char *buf, size_t len)
{
    if ((int)r == g->master_rank)
        return "the master";
    snprintf(buf, len, "shard %u", g->members[r]->id);
    return buf;
}

static struct mlos_group_hdr *hdr(struct mlos_group_impl *g)
{
    return (struct mlos_group_hdr *)(g->gm->impl->map + g->off);
}

static void link_member(struct mlos_group_impl *g, unsigned r)
{
    if ((int)r == g->master_rank)
        return; /* no shard: the master knows its rank without a link */
    struct mlos_shard_impl *im = g->members[r]->impl;
    g->links[r] = (struct mlos__group_link){im->groups, g, r};
    im->groups = &g->links[r];
    g->linked[r] = 1;
}

static void unlink_member(struct mlos_group_impl *g, unsigned r)
{
    if (!g->linked[r])
        return;
    g->linked[r] = 0;
    struct mlos_shard_impl *im = g->members[r]->impl;
    for (struct mlos__group_link **pp = im ? &im->groups : NULL; pp && *pp; pp = &(*pp)->next)
        if (*pp == &g->links[r]) {
            *pp = g->links[r].next;
            return;
        }
}

static void wake_all(struct mlos_group_impl *g)
{
    for (unsigned r = 0; r < g->n; r++)
        if (g->linked[r] && mlos_shard_alive(g->members[r]))
            mlos__ring_bell(g->members[r]->impl);
    mlos__gmaster_bell(g->mr);
}

/* Write the abort word (MLOS_GROUP_ABORT_*, or 0 to clear it) here and in
 * the agents' copies, and wake every member so that one waiting in a
 * collective sees it. */
static void set_abort(struct mlos_group_impl *g, uint32_t why)
{
    __atomic_store_n(&hdr(g)->abort, mlos_to_le32(why), __ATOMIC_RELEASE);
    mlos__group_nodes_mark(g->members, g->n, g->group->id, g->group->generation, MLOS_GROUP_WORD_ABORT, why);
    if (why)
        wake_all(g);
}

/* A rank's task failed while others may still wait for it in a collective
 * (it will never send what they wait for): end theirs with MLOS_ECANCELED.
 * Only the first failure of a call does; one that came from such an
 * abort, or from a death the master already marks, is no new cause. */
static void failed_under_others(struct mlos_group_impl *g, unsigned rank, int status)
{
    if (status >= 0 || status == MLOS_ESHARDDIED || status == MLOS_ECANCELED || status == MLOS_ETIMEDOUT ||
        g->abort_rank >= 0 || g->pending <= 1)
        return;
    g->abort_rank = (int)rank;
    set_abort(g, MLOS_GROUP_ABORT_FAILED);
}

/* The master's rank asks for these ranks to be rung (it has no doorbell
 * frame to send): the same relay as a member's WAKE. */
static void master_ring(void *arg, uint64_t ranks)
{
    struct mlos_group_impl *g = arg;
    for (unsigned r = 0; r < g->n; r++)
        if ((ranks >> r & 1) && g->linked[r] && mlos_shard_alive(g->members[r]))
            mlos__ring_bell(g->members[r]->impl);
    mlos__group_nodes_kick(g->group->id, g->group->generation, (unsigned)g->master_rank, ranks); /* elsewhere */
}

static void set_broken(struct mlos_group_impl *g, int rank, const char *why)
{
    if (g->group->failed_rank < 0) {
        g->group->failed_rank = rank;
        snprintf(g->error, sizeof(g->error), "%s", why);
        g->group->error = g->error;
    }
    if (g->state == G_READY || g->state == G_JOINING)
        g->state = G_BROKEN;
}

void mlos__group_shard_down(struct mlos_shard_impl *im, int reason)
{
    struct mlos__group_link *l, *next;
    mlos__group_mirror_down(im, reason); /* a node agent's member (group_mirror.c) */
    for (l = im->groups; l; l = next) {
        struct mlos_group_impl *g = l->g;
        char why[600];
        next = l->next;
        __atomic_store_n(&hdr(g)->dead[l->rank], mlos_to_le32((uint32_t)reason), __ATOMIC_RELEASE);
        mlos__group_nodes_mark(g->members, g->n, g->group->id, g->group->generation, l->rank, (uint32_t)reason);
        snprintf(why, sizeof(why), "rank %u (shard %u) %s%s%s", l->rank, im->shard->id,
                 reason == MLOS_GROUP_DOWN_LEFT     ? "left (stopped)"
                 : reason == MLOS_GROUP_DOWN_FENCED ? "was fenced"
                                                    : "died",
                 im->death_msg[0] ? ": " : "", im->death_msg);
        if (g->state != G_CLOSING)
            set_broken(g, (int)l->rank, why);
        /* The shard is going: it is no member any more. Its peers blocked
         * in a collective see the mark and fail; the bell wakes sleepers. */
        unlink_member(g, l->rank);
        wake_all(g);
    }
}

int mlos__group_wake(struct mlos_shard_impl *im, const uint8_t *p, uint32_t len)
{
    if (len != MLOS_GROUP_WAKE_BYTES)
        return MLOS_EDECODE;
    uint32_t id = mlos_get_le32(p), gen = mlos_get_le32(p + 4);
    uint64_t mask = mlos_get_le64(p + 8);
    for (struct mlos__group_link *l = im->groups; l; l = l->next) {
        struct mlos_group_impl *g = l->g;
        if (g->group->id != id || g->group->generation != gen)
            continue;
        /* Only the sender's own group peers, each once: a member can make
         * the master ring no other shard. */
        for (unsigned r = 0; r < g->n; r++)
            if ((mask >> r & 1) && r != l->rank && g->linked[r] && mlos_shard_alive(g->members[r]))
                mlos__ring_bell(g->members[r]->impl);
        if (g->master_rank >= 0 && (mask >> g->master_rank & 1))
            mlos__gmaster_bell(g->mr);
        mlos__group_nodes_kick(id, gen, l->rank, mask); /* peers on other nodes: the relay (group_nodes.c) */
        return 0;
    }
    /* a group that just closed or re-formed, or one this node agent mirrors */
    return mlos__group_mirror_wake(im, id, gen, mask);
}

/* ---- deferred callbacks ---- */

static void defer_cb(uv_idle_t *h)
{
    struct mlos_group_impl *g = h->data;
    void (*fn)(struct mlos_group_impl *) = g->deferred;
    uv_idle_stop(h);
    g->deferred = NULL;
    if (fn)
        fn(g);
}

static void defer(struct mlos_group_impl *g, void (*fn)(struct mlos_group_impl *))
{
    g->deferred = fn;
    uv_idle_start(&g->defer, defer_cb);
}

/* ---- sub-calls to every rank ---- */

static void sub_done(mlos_call_t *c, int status);

static int send_sub(struct mlos_group_impl *g, unsigned r, const char *task, const void *arg, size_t len,
                    unsigned timeout_ms)
{
    struct sub *s = &g->subs[r];
    struct mlos_call_opts co = {.timeout_ms = timeout_ms};
    s->g = g;
    s->rank = r;
    s->done = 0;
    s->call.data = s;
    int rc = mlos_call_ex(g->members[r], &s->call, task, arg, len, &co, sub_done);
    if (rc == 0)
        g->pending++;
    else
        s->done = 1;
    return rc;
}

static void join_done(struct mlos_group_impl *g);
static void call_done(struct mlos_group_impl *g);
static void leave_done(struct mlos_group_impl *g);

static void close_later(struct mlos_group_impl *g);

static void op_finished(struct mlos_group_impl *g)
{
    int op = g->op;
    g->op = OP_NONE;
    if (op == OP_CALL)
        call_done(g);
    else if (op == OP_LEAVE)
        leave_done(g);
    else
        join_done(g);
    if (op != OP_LEAVE && g->state == G_CLOSING && g->op == OP_NONE)
        defer(g, close_later); /* close was asked while this ran: leave now */
}

static void keep_answer(struct mlos_group_impl *g, unsigned r, int status, const uint8_t *result, size_t len,
                        const char *error, uint64_t run_ns)
{
    size_t el = error ? strlen(error) : 0;
    char *copy = malloc(len + el + 1);
    struct mlos_group_rank_result *res = &g->results[r];
    res->status = status;
    res->run_ns = run_ns;
    res->result = NULL;
    res->result_len = 0;
    res->error = "";
    if (copy) {
        if (len)
            memcpy(copy, result, len);
        memcpy(copy + len, error ? error : "", el + 1);
        res->result = (const uint8_t *)copy;
        res->result_len = len;
        res->error = copy + len;
    }
    g->reply_copy[r] = copy;
}

static void keep_result(struct mlos_group_impl *g, unsigned r, mlos_call_t *c, int status)
{
    keep_answer(g, r, status, c->result, c->result_len, c->error, c->run_ns);
}

/* The master's rank returned (loop thread). */
static void master_done(void *arg)
{
    struct mlos_group_impl *g = arg;
    const uint8_t *res;
    size_t len;
    const char *err;
    uint64_t ns;
    int st = mlos__gmaster_result(g->mr, &res, &len, &err, &ns);
    uv_timer_stop(&g->master_timer);
    if (g->call) {
        keep_answer(g, (unsigned)g->master_rank, st, res, len, st ? err : "", ns);
        failed_under_others(g, (unsigned)g->master_rank, st);
    }
    mlos__gmaster_release(g->mr);
    if (--g->pending == 0)
        op_finished(g);
}

static void master_deadline(uv_timer_t *t)
{
    struct mlos_group_impl *g = t->data;
    if (!mlos__gmaster_busy(g->mr))
        return;
    g->master_overran = 1;
    set_abort(g, MLOS_GROUP_ABORT_TIMEOUT);
}

static void sub_done(mlos_call_t *c, int status)
{
    struct sub *s = c->data;
    struct mlos_group_impl *g = s->g;
    s->done = 1;
    if (g->call) {
        keep_result(g, s->rank, c, status);
        if (status == MLOS_ETIMEDOUT) /* the deadline: stop the others waiting in collectives */
            set_abort(g, MLOS_GROUP_ABORT_TIMEOUT);
        else
            failed_under_others(g, s->rank, status);
    } else if (status < 0 && !g->op_status) {
        g->op_status = status;
        snprintf(g->error, sizeof(g->error), "rank %u (shard %u) could not %s the group: %s", s->rank,
                 g->members[s->rank]->id, g->state == G_CLOSING ? "leave" : "join",
                 c->error ? c->error : mlos_strerror(status));
    }
    if (--g->pending == 0)
        op_finished(g);
}

/* ---- join (create, reform) ---- */

static int start_join(struct mlos_group_impl *g)
{
    struct mlos_group_mem_impl *m = g->gm->impl;
    if (mlos__group_nodes_check(g->members, g->n, 0, NULL) < 0)
        return MLOS_ENOTSUP; /* a kind of remote shard without group memory (group_nodes.c) */
    size_t need = mlos_group_layout_size(g->n, g->ring_bytes), off = slice_alloc(m, need);
    if (off == (size_t)-1)
        return MLOS_ENOMEM;
    if (mlos_group_format(m->map + off, g->group->id, g->group->generation, g->n, g->ring_bytes) < 0) {
        slice_free(m, off);
        return MLOS_EINVAL;
    }
    size_t old = g->off;
    int had_old = g->len != 0;
    g->off = off;
    g->len = (need + 4095) & ~(size_t)4095;
    if (had_old)
        slice_free(m, old); /* old rings: every member re-attaches to the new ones */
    /* agents of remote members format the same slice of their node's copy */
    mlos__group_nodes_format(g->loop, g->gm, g->members, g->n, g->group->id, g->group->generation, m->map + off, off,
                             g->len, g->ring_bytes, g->mr);
    g->state = G_JOINING;
    g->op = OP_JOIN;
    g->op_status = 0;
    g->pending = 0;
    for (unsigned r = 0; r < g->n; r++) {
        uint8_t arg[MLOS_GROUP_JOIN_BYTES];
        struct mlos_group_join j = {.group_id = g->group->id, .generation = g->group->generation, .n = g->n,
                                    .rank = r, .offset = off, .slice_len = g->len, .ring_bytes = g->ring_bytes,
                                    .spin_us = g->spin_us};
        if ((int)r == g->master_rank) {
            const char *why = "";
            int rc = mlos__gmaster_attach(g->mr, &j, m->map + off, g->len, &why);
            if (rc < 0 && !g->op_status) {
                g->op_status = rc;
                snprintf(g->error, sizeof(g->error), "rank %u (the master) could not join: %s", r, why);
            }
            continue;
        }
        mlos_group_join_encode(&j, arg);
        if (!g->linked[r])
            link_member(g, r);
        int rc = send_sub(g, r, "mlos.group.join", arg, sizeof(arg), 0);
        if (rc < 0 && !g->op_status) {
            g->op_status = rc;
            snprintf(g->error, sizeof(g->error), "rank %u (shard %u) could not be asked to join: %s", r,
                     g->members[r]->id, mlos_strerror(rc));
        }
    }
    if (g->pending == 0)
        defer(g, op_finished);
    return 0;
}

static void join_done(struct mlos_group_impl *g)
{
    mlos_group_cb cb = g->op_cb;
    g->op_cb = NULL;
    if (g->state == G_CLOSING) {
        if (cb)
            cb(g->group, MLOS_ESTOPPED);
        return;
    }
    if (g->op_status == 0 && g->group->failed_rank < 0) {
        g->state = G_READY;
        g->group->error = "";
    } else {
        if (g->group->failed_rank < 0) {
            g->group->error = g->error;
        }
        g->state = G_BROKEN;
    }
    if (cb)
        cb(g->group, g->state == G_READY ? 0 : g->op_status ? g->op_status : MLOS_ESHARDDIED);
}

static int member_ok(struct mlos_group_impl *g, mlos_shard_t *s)
{
    /* A shard the group may talk to through this group memory (the
     * master's own rank is no shard: callers treat NULL first). */
    return s && s->impl && mlos_shard_alive(s) && s->impl->group_mem == g->gm;
}

int mlos_group_create(uv_loop_t *loop, mlos_group_t *group, const struct mlos_group_opts *o, mlos_group_cb cb)
{
    struct mlos_group_impl *g;
    int rc;
    if (!loop || !group || !o || !cb || !o->mem || !o->mem->impl || !o->members || o->n < 1 ||
        o->n > MLOS_GROUP_MAX)
        return MLOS_EINVAL;
    uint32_t ring = o->ring_bytes ? o->ring_bytes : DEFAULT_RING;
    if (!mlos_group_layout_size(o->n, ring))
        return MLOS_EINVAL;
    if (!(g = calloc(1, sizeof(*g))))
        return MLOS_ENOMEM;
    g->loop = loop;
    g->group = group;
    g->gm = o->mem;
    g->n = o->n;
    g->ring_bytes = ring;
    g->spin_us = o->spin_us;
    g->master_rank = -1;
    g->abort_rank = -1;
    for (unsigned r = 0; r < o->n; r++) {
        g->members[r] = o->members[r];
        if (!o->members[r]) {
            if (g->master_rank >= 0)
                goto bad; /* the master holds one rank of a group */
            g->master_rank = (int)r;
            continue;
        }
        for (unsigned q = 0; q < r; q++)
            if (o->members[q] == o->members[r])
                goto bad; /* a shard holds one rank of a group */
        if (!member_ok(g, o->members[r]))
            goto bad;
    }
    if (g->master_rank >= 0 && !(g->mr = mlos__gmaster_new(loop, master_ring, master_done, g))) {
        free(g);
        return MLOS_ENOMEM;
    }
    group->id = next_group_id++;
    group->n = o->n;
    group->generation = 1;
    group->failed_rank = -1;
    group->error = "";
    group->impl = g;
    uv_idle_init(loop, &g->defer);
    g->defer.data = g;
    g->defer_open = 1;
    uv_timer_init(loop, &g->master_timer);
    g->master_timer.data = g;
    g->handles = 2;
    if (o->heartbeat_ms)
        for (unsigned r = 0; r < o->n; r++)
            if (o->members[r])
                mlos_shard_heartbeat(o->members[r], o->heartbeat_ms, o->heartbeat_timeout_ms);
    g->op_cb = cb;
    if ((rc = start_join(g)) < 0) {
        for (unsigned r = 0; r < g->n; r++)
            unlink_member(g, r);
        group->impl = NULL;
        close_handles(g);
        return rc;
    }
    return 0;
bad:
    free(g);
    return MLOS_EINVAL;
}

int mlos_group_reform(mlos_group_t *group, unsigned rank, mlos_shard_t *replacement, mlos_group_cb cb)
{
    struct mlos_group_impl *g = group ? group->impl : NULL;
    if (!g || !cb || g->op != OP_NONE || g->state == G_CLOSING || rank >= g->n ||
        (int)rank == g->master_rank || !member_ok(g, replacement))
        return MLOS_EINVAL; /* the master's own rank is never replaced: it cannot go down */
    for (unsigned r = 0; r < g->n; r++)
        if (r != rank && g->members[r] == replacement)
            return MLOS_EINVAL;
    for (unsigned r = 0; r < g->n; r++)
        if (r != rank && (int)r != g->master_rank && !mlos_shard_alive(g->members[r]))
            return MLOS_EINVAL; /* another rank is down too: replace it as well first */
    if (mlos__group_nodes_check(g->members, g->n, rank, replacement) < 0)
        return MLOS_ENOTSUP;
    unlink_member(g, rank);
    g->members[rank] = replacement;
    group->generation++;
    group->failed_rank = -1;
    group->error = "";
    g->error[0] = 0;
    g->op_cb = cb;
    return start_join(g);
}

/* ---- group calls ---- */

static int group_call(mlos_group_t *group, mlos_group_call_t *req, const char *task, mlos_group_master_fn fn,
                      void *data, const void *arg, size_t arg_len, unsigned timeout_ms, mlos_group_call_cb cb)
{
    struct mlos_group_impl *g = group ? group->impl : NULL;
    size_t tl = task ? strlen(task) : 0;
    if (!g || !req || !cb || !tl || (arg_len && !arg) || g->op != OP_NONE || g->state == G_CLOSING ||
        g->state == G_JOINING || (g->master_rank >= 0) != (fn != NULL))
        return MLOS_EINVAL;
    if (g->state == G_BROKEN)
        return MLOS_ESHARDDIED;
    uint8_t *buf = malloc(MLOS_GROUP_RUN_HDR + tl + arg_len);
    if (!buf)
        return MLOS_ENOMEM;
    mlos_put_le32(buf, group->id);
    mlos_put_le32(buf + 4, group->generation);
    mlos_put_le32(buf + 8, (uint32_t)tl);
    memcpy(buf + MLOS_GROUP_RUN_HDR, task, tl);
    if (arg_len)
        memcpy(buf + MLOS_GROUP_RUN_HDR + tl, arg, arg_len);
    void *user = req->data;
    memset(req, 0, sizeof(*req));
    req->data = user;
    req->failed_rank = -1;
    req->error = "";
    req->group = group;
    req->cb = cb;
    g->call = req;
    g->op = OP_CALL;
    g->t0 = uv_hrtime();
    g->pending = 0;
    g->master_overran = 0;
    /* A failure that ended nobody's collective leaves the group whole: the
     * word it set goes before anyone runs again. */
    if (g->abort_rank >= 0)
        set_abort(g, 0);
    g->abort_rank = -1;
    memset(g->results, 0, sizeof(g->results));
    int first_err = 0;
    for (unsigned r = 0; r < g->n; r++) {
        int rc;
        if ((int)r == g->master_rank) {
            if ((rc = mlos__gmaster_run(g->mr, g->loop, fn, data, arg, arg_len)) == 0) {
                g->pending++;
                if (timeout_ms)
                    uv_timer_start(&g->master_timer, master_deadline, timeout_ms, 0);
            }
        } else {
            rc = send_sub(g, r, "mlos.group.run", buf, MLOS_GROUP_RUN_HDR + tl + arg_len, timeout_ms);
        }
        if (rc < 0) {
            g->results[r] = (struct mlos_group_rank_result){.status = rc, .error = mlos_strerror(rc)};
            if (!first_err)
                first_err = rc;
        }
    }
    free(buf);
    if (first_err && g->pending == 0) {
        g->call = NULL;
        g->op = OP_NONE;
        return first_err == MLOS_ETOOBIG ? MLOS_ETOOBIG : MLOS_ESHARDDIED;
    }
    if (first_err) /* some ranks could not even be asked: the others must not wait for them */
        set_abort(g, MLOS_GROUP_ABORT_CLOSED);
    return 0;
}

int mlos_group_call(mlos_group_t *group, mlos_group_call_t *req, const char *task, const void *arg, size_t arg_len,
                    unsigned timeout_ms, mlos_group_call_cb cb)
{
    return group_call(group, req, task, NULL, NULL, arg, arg_len, timeout_ms, cb);
}

int mlos_group_call_master(mlos_group_t *group, mlos_group_call_t *req, const char *task, mlos_group_master_fn fn,
                           void *data, const void *arg, size_t arg_len, unsigned timeout_ms, mlos_group_call_cb cb)
{
    if (!fn)
        return MLOS_EINVAL;
    return group_call(group, req, task, fn, data, arg, arg_len, timeout_ms, cb);
}

int mlos_group_master_rank(const mlos_group_t *group)
{
    return group && group->impl ? group->impl->master_rank : -1;
}

static void call_done(struct mlos_group_impl *g)
{
    mlos_group_call_t *req = g->call;
    mlos_group_t *group = g->group;
    static char msg[sizeof(((struct mlos_group_impl *)0)->error)];
    req->ranks = g->results;
    req->rtt_ns = uv_hrtime() - g->t0;
    req->status = 0;
    req->failed_rank = -1;
    req->error = "";
    if (group->failed_rank >= 0) { /* a member went down: that is the cause, whatever the others said */
        req->status = MLOS_ESHARDDIED;
        req->failed_rank = group->failed_rank;
        req->error = group->error;
    } else if (g->abort_rank >= 0) { /* the failure that ended the others' collectives is the cause */
        int r = g->abort_rank;
        req->status = g->results[r].status;
        req->failed_rank = r;
        snprintf(msg, sizeof(msg), "rank %d: %.500s", r, g->results[r].error);
        req->error = msg;
    } else {
        for (unsigned r = 0; r < g->n; r++)
            if (g->results[r].status) {
                req->status = g->results[r].status;
                req->failed_rank = (int)r;
                snprintf(msg, sizeof(msg), "rank %u: %.500s", r, g->results[r].error);
                req->error = msg;
                break;
            }
    }
    /* A collective cut short by a deadline may leave frames in the rings:
     * the group is broken until re-formed (fresh rings), as after a death;
     * the rank that overran may be re-formed in place once it answers. */
    /* A shard's overrun first: the master's rank also times out when only
     * its collectives were aborted; it is to blame only if none did. */
    for (int pass = 0; pass < 2; pass++)
        for (unsigned r = 0; r < g->n && group->failed_rank < 0; r++)
            if (g->results[r].status == MLOS_ETIMEDOUT &&
                (pass == 0 ? (int)r != g->master_rank : (int)r == g->master_rank && g->master_overran)) {
                char wb[32];
                snprintf(msg, sizeof(msg), "rank %u (%s) overran the group call's deadline: %.400s", r,
                         who(g, r, wb, sizeof(wb)), g->results[r].error);
                set_broken(g, (int)r, msg);
            }
    /* The same for collectives ended by a rank's failure: the others' frames
     * to it, or its to them, may still be in the rings. */
    for (unsigned r = 0; r < g->n && group->failed_rank < 0 && g->abort_rank >= 0; r++)
        if (g->results[r].status == MLOS_ECANCELED) {
            char wb[32];
            snprintf(msg, sizeof(msg), "rank %d (%s) failed while others waited for it in collectives: %.400s",
                     g->abort_rank, who(g, (unsigned)g->abort_rank, wb, sizeof(wb)), g->results[g->abort_rank].error);
            set_broken(g, g->abort_rank, msg);
        }
    g->call = NULL;
    req->cb(req, req->status);
    for (unsigned r = 0; r < g->n; r++) {
        free(g->reply_copy[r]);
        g->reply_copy[r] = NULL;
    }
}

/* ---- close ---- */

static void start_leave(struct mlos_group_impl *g);

static void finish_close(struct mlos_group_impl *g)
{
    mlos_group_t *group = g->group;
    mlos_group_close_cb cb = g->close_cb;
    for (unsigned r = 0; r < g->n; r++)
        unlink_member(g, r);
    mlos__group_nodes_close(g->members, g->n, group->id);
    if (g->len)
        slice_free(g->gm->impl, g->off);
    group->impl = NULL;
    close_handles(g);
    if (cb)
        cb(group);
}

static void leave_done(struct mlos_group_impl *g) { finish_close(g); }

static void start_leave(struct mlos_group_impl *g)
{
    uint8_t arg[8];
    mlos_put_le32(arg, g->group->id);
    mlos_put_le32(arg + 4, g->group->generation);
    g->pending = 0;
    g->op = OP_LEAVE;
    for (unsigned r = 0; r < g->n; r++)
        if (g->linked[r] && mlos_shard_alive(g->members[r]))
            send_sub(g, r, "mlos.group.leave", arg, sizeof(arg), 2000);
    if (g->pending == 0) {
        g->op = OP_NONE;
        finish_close(g);
    }
}

static void close_later(struct mlos_group_impl *g)
{
    if (g->op == OP_NONE)
        start_leave(g);
}

int mlos_group_close(mlos_group_t *group, mlos_group_close_cb cb)
{
    struct mlos_group_impl *g = group ? group->impl : NULL;
    if (!g || g->state == G_CLOSING)
        return MLOS_EINVAL;
    g->close_cb = cb;
    g->state = G_CLOSING;
    /* Members still in a collective of a running call give up. */
    set_abort(g, MLOS_GROUP_ABORT_CLOSED);
    if (g->op != OP_NONE)
        return 0; /* the running operation ends first (op_finished sees G_CLOSING) */
    defer(g, close_later);
    return 0;
}

/* ---- synchronous helpers ---- */

static void sync_created(mlos_group_t *group, int status) { *(int *)group->data = status; }

int mlos_group_create_sync(uv_loop_t *loop, mlos_group_t *group, const struct mlos_group_opts *opts)
{
    int st = 1;
    void *user = group->data;
    group->data = &st;
    int rc = mlos_group_create(loop, group, opts, sync_created);
    while (rc == 0 && st == 1)
        uv_run(loop, UV_RUN_ONCE);
    group->data = user;
    return rc ? rc : st;
}

static void sync_closed(mlos_group_t *group) { *(int *)group->data = 0; }

void mlos_group_close_sync(mlos_group_t *group)
{
    int st = 1;
    uv_loop_t *loop = group->impl ? group->impl->loop : NULL;
    void *user = group->data;
    group->data = &st;
    if (mlos_group_close(group, sync_closed) == 0)
        while (st == 1)
            uv_run(loop, UV_RUN_ONCE);
    group->data = user;
}

uint8_t *mlos__group_slice(const struct mlos_group_s *group, size_t *len, uint32_t *ring_bytes)
{
    struct mlos_group_impl *g = group ? group->impl : NULL;
    if (!g)
        return NULL;
    *len = g->len;
    *ring_bytes = g->ring_bytes;
    return g->gm->impl->map + g->off;
}
