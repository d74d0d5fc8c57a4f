/* rpc/msg/msg_verbs_dev.h -- the RDMA device behind a domain (libibverbs).
 *
 * A domain opened with MLOS_DOMAIN_VERBS holds one device context and one
 * protection domain (dom->verbs); a domain opened without it gets them on
 * its first "verbs:" listen or connect, and then its existing regions are
 * registered with the NIC too (mlos_verbs_dom_ensure). The device is the one named by the
 * environment variable MLOS_VERBS_DEVICE, else the first one libibverbs
 * lists; port 1 is used (Soft-RoCE and most NICs have one port per device).
 * Every region of such a domain is registered with the NIC as well
 * (LOCAL_WRITE always, REMOTE_READ/REMOTE_WRITE from the mlos access bits),
 * so its NIC rkey can be exported next to the mlos key.
 *
 * Which GID a connection uses is decided per endpoint from the IPv4 address
 * its TCP side channel is bound to locally (mlos_verbs_find_gid): the RoCE
 * v2 entry ::ffff:IPV4, else a RoCE v1 entry with that address. An
 * InfiniBand port uses GID 0 and its LID.
 */
#ifndef MLOS_MSG_VERBS_DEV_H
#define MLOS_MSG_VERBS_DEV_H

#include <infiniband/verbs.h>
#include <stdint.h>

#include "msg.h"

struct mlos_verbs_dev {
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    struct ibv_device_attr dattr;
    struct ibv_port_attr pattr;
    uint8_t port;
    char name[IBV_SYSFS_NAME_MAX];
};

/* Open dom's device if it has none yet (see above). 0 or MLOS_ENOTSUP,
 * MLOS_EIO, MLOS_ENOMEM. */
int mlos_verbs_dom_ensure(mlos_domain_t *dom);

/* GID for the local IPv4 address (host order). 0 with *index and *gid
 * set, or MLOS_ENOENT when the port has no GID for that address. */
int mlos_verbs_find_gid(struct mlos_verbs_dev *d, uint32_t ipv4, int *index, union ibv_gid *gid);

/* Work completion status -> MLOS_E* (0 for IBV_WC_SUCCESS); *why gets a
 * sentence for logs. */
int mlos_verbs_wc_error(int wc_status, const char **why);

/* 1 when an RDMA READ/WRITE that completed with wc_status failed on its own
 * merits (the target refused the key, rights or range; or our local region
 * did): the queue pairs are worth recovering. 0 for every other status
 * (peer unreachable, flushes, fatal errors). */
int mlos_verbs_wc_recoverable(int wc_status);

#endif
