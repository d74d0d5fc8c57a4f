/* master/cluster.h -- node agents: bare-metal slaves and process shards on
 * other nodes, as ordinary mlos_shard_t handles.
 *
 * Every node runs one agent (shards/node/mlos-node), started by a launcher
 * (master/launcher.h: srun on each node of a Slurm allocation, or the local
 * launcher / a host list for tests). The agent connects to the master's
 * cluster listener, both prove they know the shared secret (remote_auth.h),
 * and the agent reports its node: name, cores, memory, whether KVM runs a
 * guest there. On request it boots slaves on its node exactly as a local
 * master does (mlos_spawn) and relays their calls, replies and bulk data
 * (protocol: rpc/abi/node_proto.h).
 *
 *   mlos_cluster_t c;
 *   mlos_cluster_listen(&c, loop, "tcp:0.0.0.0:0", &(struct mlos_cluster_opts){.secret_file = f});
 *   ... start agents with --master <mlos_cluster_addr>, mlos_cluster_wait_nodes(&c, 3, 30000);
 *   struct mlos_pool_opts po = {.placement = mlos_cluster_placement(&c), .node_max = 2, ...};
 *   ... mlos_pool_init / mlos_pool_call as usual ...
 *   mlos_cluster_close_sync(&c);   (after the pools and shards are closed)
 *
 * A shard from mlos_node_spawn (or from a pool with the placement) takes
 * mlos_call / mlos_call_ex / mlos_put / mlos_shard_stop like a local one;
 * shard->node names its node, shard->pid is its pid there and the registry
 * (`mlos ps`) shows both. mlos_get and mlos_shard_ep return MLOS_ENOTSUP
 * (results come back in replies, or mlos_node_get reads the window: RDMA
 * READ over a verbs link, GET requests the agent answers otherwise),
 * mlos_shard_bulk returns NULL (the window is on the other node; its size
 * is still reported).
 *
 * Liveness, end to end: the agent pings each of its slaves with the
 * heartbeat set on its handle (mlos_shard_heartbeat; pools set theirs) and
 * reports a slave that dies or stops answering at once; the master pings
 * every agent each heartbeat_ms, and a node that leaves a PING unanswered
 * for heartbeat_timeout_ms, or whose connection breaks, is LOST: its
 * connection is closed and every shard on it fails with MLOS_ESHARDDIED
 * "node N lost: ...", so pools re-run idempotent calls on other nodes.
 * Silence counts from the first PING the node leaves unanswered (a master
 * whose loop was blocked does not fence healthy nodes). Bound with the
 * defaults (a PING every 200 ms, 800 ms to answer it): a node that falls
 * silent is fenced within 1.0 s plus loop latency; a broken connection at
 * once. Each connection carries a fencing token (rpc/abi/node_proto.h):
 * nothing a lost node sends afterwards reaches a call, and a node that
 * comes back is a new node with no shards.
 *
 * Errors are negative MLOS_E*; callbacks run on the loop.
 */
#ifndef MLOS_CLUSTER_H
#define MLOS_CLUSTER_H

#include <stdint.h>
#include <uv.h>

#include "mlos.h"
#include "mlos_pool.h"
#include "msg.h"
#include "remote_auth.h"

typedef struct mlos_cluster_s mlos_cluster_t;
typedef struct mlos_node_s mlos_node_t;

/* A node joined (up 1) or was lost / left (up 0, why says how). */
typedef void (*mlos_node_cb)(mlos_cluster_t *c, mlos_node_t *n, int up, const char *why);

struct mlos_cluster_opts {
    const char *secret;        /* shared secret, else secret_file, else the environment (remote_auth.h) */
    const char *secret_file;
    int insecure;              /* no secret: accept agents without authentication */
    unsigned heartbeat_ms;     /* PING to every agent: 200 */
    unsigned heartbeat_timeout_ms; /* a PING unanswered this long loses the node: 800 */
    unsigned hello_timeout_ms; /* connection to NODE_HELLO: 10000 */
    unsigned link_spin_us;     /* polling mode of each node's link (mlos_ep_set_spin): verbs links poll their
                                * completion queue this long after each message instead of sleeping; 0: off.
                                * Other links ignore it. The agent's side: mlos-node --link-spin-us */
    mlos_node_cb on_node;      /* optional */
};

#define MLOS_CLUSTER_HEARTBEAT_MS 200
#define MLOS_CLUSTER_HEARTBEAT_TIMEOUT_MS 800

struct mlos_node_shard; /* private */

/* One agent, allocated by the cluster; valid from on_node(up) until the
 * cluster is closed (a lost node stays listed as lost). */
struct mlos_node_s {
    void *data;
    /* read-only */
    uint32_t id;             /* 1, 2, ... per cluster */
    uint32_t epoch;          /* fencing token of this connection */
    char name[64];           /* the agent's node name (its host name unless told otherwise) */
    unsigned cores;
    uint64_t mem_bytes;
    int kvm;                 /* 1 if KVM runs a guest on the node */
    char kvm_why[160];       /* else why not */
    int agent_pid;           /* on the node */
    unsigned max_shards;     /* the agent's own limit */
    unsigned shards;         /* shard handles on it (starting, ready, stopping) */
    int lost;                /* 1 once lost or gone */
    uint64_t hb_rtt_ns;      /* last PING -> PONG */
    uint64_t lost_ns;        /* silence or failure -> fenced (0 before) */
    uint64_t out_bytes;      /* queued for the agent, not yet sent (puts queue in memory: a producer
                              * that outruns the network waits while this is high) */
    uint64_t rdma_put_bytes; /* put into slave windows by RDMA WRITE (verbs link) */
    uint64_t rdma_get_bytes; /* read from them by RDMA READ */
    uint64_t rdma_refused;   /* RDMA requests its agent's NIC refused (MLOS_EKEY ...) */
    uint64_t get_bytes;      /* read from slave windows by GET requests its agent answered (tcp link) */
    /* private */
    mlos_cluster_t *c;
    mlos_ep_t ep;
    int state, ep_open, bye_pending;
    uint8_t nonce_w[MLOS_REMOTE_NONCE], nonce_m[MLOS_REMOTE_NONCE];
    uint64_t t_accept, last_rx_ms, ping_wait_ms;
    uint32_t ping_seq;
    unsigned tick;
    struct mlos_node_shard *list;
    void (*ps_cb)(mlos_node_t *, int, const char *, size_t, void *);
    void *ps_arg;
    uint32_t ps_req;
    void *gets;              /* GET requests out (cluster_get.c) */
    uint32_t get_seq;
    mlos_node_t *next;
};

struct mlos_cluster_s {
    void *data;
    uv_loop_t *loop;
    /* read-only */
    unsigned nnodes;         /* live nodes */
    unsigned lost;           /* nodes lost since listen */
    unsigned rejected;       /* connections refused (authentication, protocol, timeout) */
    uint64_t stale_dropped;  /* messages dropped: wrong epoch, unknown or fenced shard */
    uint64_t rdma_stale;     /* agents' PUT_STALE: an RDMA put reached a window that was gone */
    uint64_t rdma_forged;    /* agents' PUT_FORGED: an RDMA put named a key they never gave out */
    /* private */
    mlos_domain_t dom;
    mlos_listener_t lis;
    uv_timer_t tick;
    uv_check_t check;
    uint64_t last_judge_ms;
    struct mlos_remote_secret secret;
    struct mlos_cluster_opts o;
    struct mlos_pool_placement placement;
    mlos_node_t *nodes;
    uint32_t next_id, epoch_base;
    int closing, handles_open;
    void (*on_close)(mlos_cluster_t *);
    void *rdma;              /* registered staging memory for RDMA puts (cluster_rdma.c) */
};

/* Listen on addr ("tcp:0.0.0.0:0" picks a port; "verbs:IP:PORT" opens the
 * RDMA device, MLOS_ENOTSUP without one). MLOS_EAUTH without a secret
 * unless insecure. */
int mlos_cluster_listen(mlos_cluster_t *c, uv_loop_t *loop, const char *addr, const struct mlos_cluster_opts *o);
int mlos_cluster_addr(const mlos_cluster_t *c, char *out, size_t cap);

/* Run the loop until n nodes are up, or timeout_ms: 0 or MLOS_ETIMEDOUT. */
int mlos_cluster_wait_nodes(mlos_cluster_t *c, unsigned n, unsigned timeout_ms);
/* The i-th live node (oldest first), or NULL. */
mlos_node_t *mlos_cluster_node_at(mlos_cluster_t *c, unsigned i);
mlos_node_t *mlos_cluster_node_by_id(mlos_cluster_t *c, uint32_t id);

/* Start a shard on the node (mlos_spawn's contract and options; the agent
 * finds images in its own $MLOS_IMAGE_PATH: of opts->image only the file
 * name is sent, and looked up there (MLOS_ENOENT if it is not); opts->qemu
 * is not sent, opts->kvm is: 1 fails at once on a node without a working KVM,
 * MLOS_KVM_AUTO falls back to TCG there). MLOS_ESHARDDIED if the node is
 * lost. */
int mlos_node_spawn(mlos_node_t *n, mlos_shard_t *shard, const struct mlos_spawn_opts *opts, mlos_spawn_cb cb);

/* Ask the agent what runs on its node; cb gets its answer, one line per
 * shard "id arch state pid mem_bytes" (status 0), or an error. One query at
 * a time per node (MLOS_EAGAIN). */
int mlos_node_ps(mlos_node_t *n, void (*cb)(mlos_node_t *n, int status, const char *text, size_t len, void *arg),
                 void *arg);

/* A placement for mlos_pool_opts over the live nodes; valid as long as c. */
const struct mlos_pool_placement *mlos_cluster_placement(mlos_cluster_t *c);

/* ---- RDMA into slave windows (verbs links) ----
 * Over a verbs: link the agent registers each slave's window with its RDMA
 * device and reports the key when the shard starts. mlos_put of such a
 * shard is then an RDMA WRITE into the slave's memory: staged once here in
 * registered memory (src is free again on return, as mlos_put promises),
 * nothing copied on the node, and ordered before later calls like a put
 * over tcp. Over tcp (or when the agent could not register the window) a
 * put travels as PUT messages, sent from src when the link is idle and
 * copied when it is busy (mlos_sendv), which the agent reads off the socket
 * straight into the window (mlos_ep_set_place). */
struct mlos_node_window {
    struct mlos_rkey key; /* the agent's region over the window (its address space) */
    uint32_t epoch;       /* the registration's number on that agent */
};

/* The window of a cluster shard that puts reach by RDMA: 0 and *out, or
 * MLOS_ENOTSUP (puts are copied by its agent), MLOS_ESHARDDIED (not ready,
 * or its window was released), MLOS_EINVAL (not a cluster shard). */
int mlos_node_shard_window(const mlos_shard_t *shard, struct mlos_node_window *out);

typedef void (*mlos_node_rdma_cb)(void *arg, int status);

/* Read len (> 0) bytes of the shard's window at offset into dst: by RDMA
 * READ where the agent registered the window (verbs), else by GET requests
 * its agent answers with the window's bytes (node_proto.h: at most
 * MLOS_NODE_GET_MAX per request, two out per get, so what the agent queues
 * stays bounded). cb(arg, status) once they are in dst, which stays valid
 * until then. Ordered after the replies already received and the puts
 * issued before: a get issued after a call's reply sees what the call
 * wrote. MLOS_ERANGE outside the window, MLOS_EINVAL for len 0,
 * MLOS_ESHARDDIED if the shard is not ready or its node is lost; cb gets
 * MLOS_ESHARDDIED if the node is lost or the slave gone before the answer,
 * MLOS_EPROTO if the agent answered wrongly (its node is then lost), and
 * MLOS_EKEY if the agent's NIC refused the key. */
int mlos_node_get(mlos_shard_t *shard, size_t offset, void *dst, size_t len, mlos_node_rdma_cb cb, void *arg);

/* A put with an explicit window key, as mlos_put makes for a shard with a
 * window but without checking that the key is still the shard's: for
 * tests and tools that check how an agent treats stale and forged keys.
 * src stays valid until cb, which gets MLOS_EKEY when the agent's NIC
 * refused the key; the agent answers the notice after it with PUT_STALE or
 * PUT_FORGED (counted in rdma_stale, rdma_forged). MLOS_ESHARDDIED if the
 * node is lost, MLOS_ERANGE outside w's region. */
int mlos_node_put_window(mlos_node_t *n, uint32_t shard_id, const struct mlos_node_window *w, uint64_t offset,
                         void *src, size_t len, mlos_node_rdma_cb cb, void *arg);

/* Stop listening, tell every agent to stop its shards and exit, drop every
 * node; shards still open read as dead and must still be stopped. cb (may
 * be NULL) once everything is released. */
void mlos_cluster_close(mlos_cluster_t *c, void (*cb)(mlos_cluster_t *c));
void mlos_cluster_close_sync(mlos_cluster_t *c);

#endif
