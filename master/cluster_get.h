/* master/cluster_get.h -- private to master/cluster.c, cluster_rdma.c and
 * cluster_get.c: mlos_node_get over links without RDMA, by GET requests
 * the agent answers with GET_DATA (rpc/abi/node_proto.h). */
#ifndef MLOS_CLUSTER_GET_H
#define MLOS_CLUSTER_GET_H

#include "cluster_rdma.h"
#include "node_proto.h"

/* Read len bytes of shard's window (bulk_len bytes) at offset into dst by
 * GET requests; cb(arg, status) once they are in dst, or on a failure
 * (MLOS_ESHARDDIED: the node was lost or the slave is gone; MLOS_EPROTO:
 * the agent answered wrongly). MLOS_ERANGE, MLOS_EINVAL, MLOS_ESHARDDIED
 * without cb. */
int mlos__node_tcp_get(mlos_node_t *n, uint32_t shard, size_t bulk_len, size_t offset, void *dst, size_t len,
                       mlos_node_rdma_cb cb, void *arg);
/* A GET_DATA (p, len: after the header): NULL, or why the agent broke the
 * protocol (the caller loses the node; the get it named has failed). */
const char *mlos__node_get_data(mlos_node_t *n, const struct mlos_node_hdr *h, const uint8_t *p, size_t len);
/* The node is lost: every get on it ends with err. */
void mlos__node_gets_fail(mlos_node_t *n, int err);

#endif
