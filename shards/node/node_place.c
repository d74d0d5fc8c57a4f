/* shards/node/node_place.c -- PUT messages placed straight into slave
 * windows (node_place.h; message layout in rpc/abi/node_proto.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlos_endian.h"
#include "node_place.h"
#include "node_proto.h"

#define PUT_HEAD (MLOS_NODE_HDR + 8u) /* node header, le64 offset */

struct node_place {
    mlos_mr_t mr;
    uint32_t id; /* the master's shard id */
    struct node_place *next;
};

static mlos_domain_t *dom;
static const uint32_t *cur_epoch;
static const char *node;
static struct node_place *live;
static int placing; /* the link takes the hook */

void node_place_init(mlos_domain_t *d, const uint32_t *epoch, const char *node_name)
{
    dom = d;
    cur_epoch = epoch;
    node = node_name;
}

struct node_place *node_place_open(mlos_shard_t *sh, uint32_t id)
{
    static int said;
    struct node_place *w;
    size_t len = 0;
    void *bulk = mlos_shard_bulk(sh, &len);
    int rc;

    if (!placing || !bulk || !len || !(w = calloc(1, sizeof(*w))))
        return NULL;
    /* local access only: the region is no key a peer could use */
    if ((rc = mlos_mr_reg(dom, &w->mr, bulk, len, MLOS_ACCESS_LOCAL)) < 0) {
        if (!said++)
            fprintf(stderr, "mlos-node %s: cannot register shard %u's window (%s): its puts are copied\n", node, id,
                    mlos_strerror(rc));
        free(w);
        return NULL;
    }
    w->id = id;
    w->next = live;
    live = w;
    return w;
}

void node_place_close(struct node_place **wp)
{
    struct node_place *w = *wp, **pp;
    if (!w)
        return;
    for (pp = &live; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    mlos_mr_dereg(&w->mr); /* a put still arriving is not written further */
    free(w);
    *wp = NULL;
}

/* A PUT with this connection's epoch, for a window here, inside it: place
 * it. Everything else goes to on_recv, which judges it as it always did. */
static int on_place(mlos_ep_t *ep, struct mlos_place *pl)
{
    struct mlos_node_hdr h;
    uint64_t off, n = pl->len - PUT_HEAD;
    (void)ep;
    if (pl->type != MLOS_NODE_PUT || !*cur_epoch || mlos_node_hdr_get(pl->head, pl->head_len, &h) < 0 ||
        h.epoch != *cur_epoch)
        return 0;
    off = mlos_get_le64(pl->head + MLOS_NODE_HDR);
    for (struct node_place *w = live; w; w = w->next)
        if (w->id == h.shard) {
            if (off > w->mr.len || n > w->mr.len - off)
                return 0; /* on_recv refuses it, with a message */
            pl->mr = &w->mr;
            pl->off = (size_t)off;
            return 0;
        }
    return 0;
}

static void on_placed(mlos_ep_t *ep, struct mlos_place *pl, int status)
{
    struct mlos_node_hdr h;
    (void)ep;
    /* MLOS_EKEY: the window was closed under the put (its slave stopping) */
    if (status < 0 && status != MLOS_EKEY && mlos_node_hdr_get(pl->head, pl->head_len, &h) == 0)
        fprintf(stderr, "mlos-node %s: put into shard %u at %" PRIu64 " (+%zu): %s\n", node, h.shard,
                mlos_get_le64(pl->head + MLOS_NODE_HDR), pl->len - PUT_HEAD, mlos_strerror(status));
}

void node_place_attach(mlos_ep_t *ep)
{
    int rc = mlos_ep_set_place(ep, PUT_HEAD, on_place, on_placed);
    placing = rc == 0;
    if (rc < 0 && rc != MLOS_ENOTSUP)
        fprintf(stderr, "mlos-node %s: puts will be copied: %s\n", node, mlos_strerror(rc));
}
