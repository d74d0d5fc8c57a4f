/* The "verbs:" transport when mlos is built without libibverbs: addresses
 * parse as usual, but nothing can listen or connect (MLOS_ENOTSUP), and a
 * domain cannot open an RDMA device. */
#include "msg_transport.h"
#include "msg_verbs_wire.h"

int mlos__verbs_open(mlos_domain_t *dom) { return MLOS_ENOTSUP; }
void mlos__verbs_close(mlos_domain_t *dom) {}
int mlos__verbs_reg(mlos_domain_t *dom, mlos_mr_t *mr) { return 0; }
void mlos__verbs_dereg(mlos_mr_t *mr) {}

/* Bad addresses are still MLOS_EINVAL, as with libibverbs. */
static int refuse(const char *where, int any_port)
{
    uint32_t ip;
    uint16_t port;
    return mlos_verbs_parse_addr(where, &ip, &port, any_port) < 0 ? MLOS_EINVAL : MLOS_ENOTSUP;
}

static int no_listen(mlos_listener_t *l, const char *where) { return refuse(where, 1); }
static int no_accept(mlos_listener_t *l, mlos_ep_t *ep) { return MLOS_ENOTSUP; }
static int no_addr(const mlos_listener_t *l, char *out, size_t cap) { return MLOS_ENOTSUP; }
static void no_listener_close(mlos_listener_t *l) {}
static int no_connect(mlos_ep_t *ep, const char *where, unsigned timeout_ms) { return refuse(where, 0); }
static void no_close(mlos_ep_t *ep) { mlos__ep_closed(ep); }
static int no_post(mlos_ep_t *ep, mlos_wr_t *wr) { return MLOS_ENOTSUP; }

const struct mlos_transport mlos_transport_verbs = {
    .name = "verbs",
    .listen = no_listen,
    .accept = no_accept,
    .listener_addr = no_addr,
    .listener_close = no_listener_close,
    .connect = no_connect,
    .close = no_close,
    .post = no_post,
};
