/* shards/node/node_verbs.c -- slave windows as RDMA regions of the agent
 * (node_verbs.h; protocol at the end of rpc/abi/node_proto.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlos_endian.h"
#include "node_verbs.h"

_Static_assert(MLOS_NODE_WINKEY_SIZE == MLOS_RKEY_WIRE_SIZE + 8u, "window key: an rkey, epoch, zero");

struct node_win {
    mlos_mr_t mr;
    uint32_t id;       /* the master's shard id */
    uint32_t epoch;
    int retiring;      /* the slave is dead; registered until WIN_RELEASE or retire_at */
    uint64_t retire_at;
    uint64_t bytes, puts;
    struct node_win *next;
};

/* Windows released lately: a PUT_RDMA naming one is stale, not forged. */
#define RELEASED_KEEP 256u
struct released {
    uint32_t id, epoch, rkey;
    unsigned forgiven;
};

static mlos_domain_t *dom;
static mlos_ep_t *link_ep;
static node_send_fn send_fn;
static const char *node;
static int rdma;
static uint32_t next_epoch = 1;
static struct node_win *live;
static struct released rel[RELEASED_KEEP];
static unsigned rel_n, rel_head;
static unsigned forged_said;

void node_verbs_init(mlos_domain_t *d, mlos_ep_t *ep, int on, node_send_fn send, const char *node_name)
{
    dom = d;
    link_ep = ep;
    rdma = on;
    send_fn = send;
    node = node_name;
}

size_t node_win_open(mlos_shard_t *sh, uint32_t id, struct node_win **wp, uint8_t *key)
{
    static int said;
    struct node_win *w;
    struct mlos_rkey k;
    size_t len = 0;
    void *bulk;
    int rc;

    *wp = NULL;
    if (!rdma || !(bulk = mlos_shard_bulk(sh, &len)) || !len)
        return 0;
    if (!(w = calloc(1, sizeof(*w))))
        return 0;
    /* the NIC may write and read the window, nothing else of the slave */
    if ((rc = mlos_mr_reg(dom, &w->mr, bulk, len, MLOS_ACCESS_REMOTE_READ | MLOS_ACCESS_REMOTE_WRITE)) < 0 ||
        !w->mr.verbs_rkey) {
        if (rc == 0)
            mlos_mr_dereg(&w->mr);
        if (!said++)
            fprintf(stderr,
                    "mlos-node %s: cannot register shard %u's %zu-byte window with the RDMA device (%s; locked "
                    "memory limit?): its puts are copied by the agent\n",
                    node, id, len, rc < 0 ? mlos_strerror(rc) : "no NIC key");
        free(w);
        return 0;
    }
    w->id = id;
    w->epoch = next_epoch++;
    if (!next_epoch) /* 2^32 registrations: start over, skipping 0 */
        next_epoch = 1;
    w->next = live;
    live = w;
    mlos_mr_rkey(&w->mr, &k);
    k.rkey = 0; /* the NIC checks this link's accesses: no mlos key handed out */
    k.secret = 0;
    mlos_rkey_encode(&k, key);
    mlos_put_le32(key + MLOS_RKEY_WIRE_SIZE, w->epoch);
    mlos_put_le32(key + MLOS_RKEY_WIRE_SIZE + 4, 0);
    *wp = w;
    return MLOS_NODE_WINKEY_SIZE;
}

void node_win_close(struct node_win **wp)
{
    struct node_win *w = *wp, **pp;
    struct released *r;
    if (!w)
        return;
    for (pp = &live; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    r = &rel[rel_head];
    *r = (struct released){w->id, w->epoch, w->mr.verbs_rkey, 0};
    rel_head = (rel_head + 1) % RELEASED_KEEP;
    if (rel_n < RELEASED_KEEP)
        rel_n++;
    mlos_mr_dereg(&w->mr); /* the NIC refuses the key from here on */
    free(w);
    *wp = NULL;
}

int node_win_retire(struct node_win *w, uint64_t now_ms)
{
    if (!w)
        return 0;
    if (!w->retiring) {
        w->retiring = 1;
        w->retire_at = now_ms + MLOS_NODE_WIN_RETIRE_MS;
    }
    return 1;
}

int node_win_retire_due(const struct node_win *w, uint64_t now_ms) { return !w || (w->retiring && now_ms >= w->retire_at); }

int node_win_release(struct node_win *w, uint32_t epoch) { return w && w->epoch == epoch; }

uint64_t node_win_bytes(const struct node_win *w) { return w ? w->bytes : 0; }

static struct released *find_released(uint32_t id, uint32_t epoch)
{
    for (unsigned i = 0; i < rel_n; i++)
        if (rel[i].epoch == epoch && rel[i].id == id)
            return &rel[i];
    return NULL;
}

static int epoch_live(uint32_t epoch)
{
    for (struct node_win *w = live; w; w = w->next)
        if (w->epoch == epoch)
            return 1;
    return 0;
}

/* Issued once and no longer remembered (older than the released ring). */
static int epoch_old(uint32_t epoch)
{
    if (!epoch || epoch >= next_epoch || epoch_live(epoch))
        return 0;
    for (unsigned i = 0; i < rel_n; i++)
        if (rel[i].epoch == epoch)
            return 0; /* remembered, for another shard */
    return rel_n == RELEASED_KEEP;
}

static void forged(uint32_t id, uint32_t epoch, uint32_t rkey, const char *what)
{
    if (forged_said < 10 || !(forged_said & (forged_said - 1))) /* the first ten, then powers of two */
        fprintf(stderr,
                "mlos-node %s: the master named %s (shard %u, epoch %u, rkey %#x): not a key this agent gave out; "
                "%u such so far, refusals by the NIC stay counted\n",
                node, what, id, epoch, rkey, forged_said + 1);
    forged_said++;
    (void)send_fn(MLOS_NODE_PUT_FORGED, id, 0, epoch, NULL, 0, NULL, 0);
}

void node_win_notice(struct node_win *w, uint32_t id, uint32_t epoch, const uint8_t *p, size_t len)
{
    uint64_t off, n;
    uint32_t rkey;
    struct released *r;

    if (len != MLOS_NODE_PUT_RDMA_SIZE || mlos_get_le32(p + 20) != 0) {
        forged(id, epoch, 0, "a malformed RDMA put notice");
        return;
    }
    off = mlos_get_le64(p);
    n = mlos_get_le64(p + 8);
    rkey = mlos_get_le32(p + 16);
    if (w && w->epoch == epoch) {
        if (rkey != w->mr.verbs_rkey || off > w->mr.len || n > w->mr.len - off) {
            forged(id, epoch, rkey, rkey != w->mr.verbs_rkey ? "another rkey for a live window" : "a range outside the window");
            return;
        }
        if (w->retiring) { /* landed in the dead slave's pages */
            (void)send_fn(MLOS_NODE_PUT_STALE, id, 0, epoch, NULL, 0, NULL, 0);
            return;
        }
        w->bytes += n;
        w->puts++;
        return;
    }
    if ((r = find_released(id, epoch)) && r->rkey == rkey) {
        /* Our NIC refused the WRITE (the key died under it) and the
         * transport counted that against the master: an honest race, so
         * it comes off the count, a bounded number of times per window. */
        if (r->forgiven < MLOS_NODE_STALE_FORGIVE && mlos_ep_refused(link_ep) && mlos_ep_forgive(link_ep) == 0)
            r->forgiven++;
        (void)send_fn(MLOS_NODE_PUT_STALE, id, 0, epoch, NULL, 0, NULL, 0);
        return;
    }
    if (!r && epoch_old(epoch)) { /* stale beyond our memory: answered, not forgiven */
        (void)send_fn(MLOS_NODE_PUT_STALE, id, 0, epoch, NULL, 0, NULL, 0);
        return;
    }
    forged(id, epoch, rkey, r ? "another rkey for a released window" : "a window epoch");
}
