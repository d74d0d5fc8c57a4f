/* shards/node/node_verbs.h -- the agent's side of RDMA into its slaves'
 * windows (protocol: the last part of rpc/abi/node_proto.h).
 *
 * Over a verbs: link to the master, every slave's bulk window (the agent's
 * mapping of the slave's memory file) is registered with the RDMA device
 * when the slave is up, so the master's puts and gets are RDMA WRITE and
 * READ straight into the slave's memory. This file keeps those
 * registrations, their epochs, the epochs it released, and judges the
 * master's PUT_RDMA notices: a live window, a released one (stale: the
 * master gets PUT_STALE and the refusal its WRITE caused is forgiven), or
 * a key it never gave out (PUT_FORGED; the refusal stays counted).
 *
 * Order at a slave's end: node_win_close (deregister) always comes before
 * the slave's memory is unmapped (mlos_shard_stop). A slave that dies on its
 * own first retires: its window stays registered until the master's
 * WIN_RELEASE or MLOS_NODE_WIN_RETIRE_MS.
 */
#ifndef MLOS_NODE_VERBS_H
#define MLOS_NODE_VERBS_H

#include <stddef.h>
#include <stdint.h>

#include "mlos.h"
#include "msg.h"
#include "node_proto.h"

struct node_win;

/* How the agent sends one message to its master (header from these
 * fields, then two payload pieces). */
typedef int (*node_send_fn)(uint32_t type, uint32_t shard, uint32_t req, uint32_t aux, const void *p1, size_t l1,
                            const void *p2, size_t l2);

/* Once, before the first spawn: the agent's domain and master endpoint;
 * rdma: the link is verbs: (windows are registered only then). */
void node_verbs_init(mlos_domain_t *dom, mlos_ep_t *ep, int rdma, node_send_fn send, const char *node_name);

/* A slave is up: register its window and fill key (MLOS_NODE_WINKEY_SIZE
 * bytes for SPAWNED). Returns the key's length: MLOS_NODE_WINKEY_SIZE, or 0
 * with *wp NULL when puts go as messages (tcp link, no window, or the
 * registration failed: said once on stderr). */
size_t node_win_open(mlos_shard_t *sh, uint32_t id, struct node_win **wp, uint8_t *key);

/* Deregister now and remember the epoch as released; *wp becomes NULL.
 * Must run before the slave's memory is released. NULL is fine. */
void node_win_close(struct node_win **wp);

/* The slave died on its own: keep the window registered until WIN_RELEASE
 * or the retire time. 1 if it now waits (the caller stops the slave later),
 * 0 if there is nothing to wait for. */
int node_win_retire(struct node_win *w, uint64_t now_ms);
/* 1 once a retiring window's time is up (the caller stops the slave). */
int node_win_retire_due(const struct node_win *w, uint64_t now_ms);

/* WIN_RELEASE{epoch} for the shard with window w (NULL: none here): 1 if
 * the window was released (a retiring slave may be stopped now). */
int node_win_release(struct node_win *w, uint32_t epoch);

/* PUT_RDMA for shard id (w: its window here, NULL if the shard is unknown
 * or has none), aux epoch, payload p/len (after the header). */
void node_win_notice(struct node_win *w, uint32_t id, uint32_t epoch, const uint8_t *p, size_t len);

/* RDMA puts the master announced into live windows (ps). */
uint64_t node_win_bytes(const struct node_win *w);

#endif
