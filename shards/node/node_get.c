/* shards/node/node_get.c -- GET: read a slave's bulk window for the master
 * (node_get.h). The request is checked against the window this agent
 * mapped (not against anything the master or the slave says), bounded by
 * MLOS_NODE_GET_MAX, and answered in pieces of MLOS_NODE_GET_CHUNK on the
 * one connection, so it follows every REPLY and PUT before it. Each piece
 * is copied from the window into its message when it is queued: what the
 * master gets is the window as it was when the GET arrived. */
#include "node_get.h"

#include "mlos_endian.h"

static void fail(node_send_fn send, uint32_t id, uint32_t req, int err)
{
    (void)send(MLOS_NODE_GET_DATA, id, req, (uint32_t)(int32_t)err, NULL, 0, NULL, 0);
}

void node_get_serve(mlos_shard_t *sh, uint32_t id, uint32_t req, const uint8_t *p, size_t len, node_send_fn send)
{
    size_t blen = 0;
    const uint8_t *bulk = sh && mlos_shard_alive(sh) ? mlos_shard_bulk(sh, &blen) : NULL;
    uint64_t off, n;
    if (len != MLOS_NODE_GET_SIZE) {
        fail(send, id, req, MLOS_EINVAL);
        return;
    }
    off = mlos_get_le64(p);
    n = mlos_get_le64(p + 8);
    if (!bulk) {
        fail(send, id, req, MLOS_ESHARDDIED);
        return;
    }
    if (!n || n > MLOS_NODE_GET_MAX) {
        fail(send, id, req, MLOS_EINVAL);
        return;
    }
    if (off > blen || n > blen - off) {
        fail(send, id, req, MLOS_ERANGE);
        return;
    }
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < MLOS_NODE_GET_CHUNK ? n - done : MLOS_NODE_GET_CHUNK;
        uint8_t at[8];
        mlos_put_le64(at, done);
        /* a failed send is a broken connection: the master loses this node
         * and fails the get, nothing is left to answer */
        if (send(MLOS_NODE_GET_DATA, id, req, 0, at, sizeof(at), bulk + off + done, (size_t)k) < 0)
            return;
        done += k;
    }
}
