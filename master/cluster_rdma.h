/* master/cluster_rdma.h -- private to master/cluster.c and cluster_rdma.c:
 * puts and gets of remote shards by RDMA WRITE / READ straight into the
 * slave's window, over a verbs link to its agent (protocol: the end of
 * rpc/abi/node_proto.h; public API: cluster.h).
 *
 * A window is what SPAWNED reported: the agent's region over the slave's
 * window and its epoch. It dies (no more RDMA is posted to it) when the
 * shard is stopped, fenced or reported gone; the struct lives on while
 * RDMA requests that use it are in flight.
 */
#ifndef MLOS_CLUSTER_RDMA_H
#define MLOS_CLUSTER_RDMA_H

#include "cluster.h"
#include "master_internal.h"

struct mlos__node_win;

/* cluster.c: one message to the agent (header from these fields). */
int mlos__node_send(mlos_node_t *n, uint32_t type, uint32_t shard, uint32_t req, uint32_t aux, const void *p1,
                    size_t l1, const void *p2, size_t l2);
/* cluster.c: the node and window of a shard handle of a cluster (NULL if
 * it is none, or its cluster is closed). */
struct mlos__node_win *mlos__node_shard_win(const mlos_shard_t *shard, mlos_node_t **n);

/* The window key of a SPAWNED (klen bytes) for shard im with bulk_len.
 * 0 and *out, or MLOS_EPROTO (*out NULL) for a key that is malformed or does
 * not cover exactly the window. */
int mlos__win_parse(struct mlos_shard_impl *im, const uint8_t *key, size_t klen, uint64_t bulk_len,
                    struct mlos__node_win **out);
/* mlos_put of a shard with a live window: staged in registered memory (the
 * caller's buffer is free on return, as mlos_put promises), RDMA WRITE,
 * then the PUT_RDMA notice. Bounds are checked by the caller. */
int mlos__win_put(mlos_node_t *n, uint32_t shard, struct mlos__node_win *w, size_t off, const void *src, size_t len);
/* 1 while RDMA may be posted to w. */
int mlos__win_live(const struct mlos__node_win *w);
/* No more RDMA to w; release: tell the agent (WIN_RELEASE), for a window whose
 * slave died (STOP and KILL release it by themselves). */
void mlos__win_dead(mlos_node_t *n, uint32_t shard, struct mlos__node_win *w, int release);
/* The shard handle is released: w is the caller's no more. */
void mlos__win_unref(struct mlos__node_win *w);
/* Cluster teardown, before its domain closes: staging memory. */
void mlos__win_cluster_free(mlos_cluster_t *c);

#endif
