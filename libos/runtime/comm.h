/* libos/runtime/comm.h -- a shard's group memberships, private to the runtime.
 *
 * comm.c keeps the memberships (joined with the "mlos.group.join" task),
 * the rings to each peer and the wait loop every blocking comm call runs
 * (progress, the master's heartbeats, one-sided requests from peers, the
 * down marks the master writes, sleeping on the doorbell); comm_peer.c
 * two-sided messages and one-sided put/get. coll.c builds the collectives on the
 * wait loop with a small engine of send / receive / ordered-fold steps.
 *
 * Transport per pair. Everything above the rings sees a peer as three ring
 * pairs (tx[k][peer], rx[k][peer]) with the ring.h protocol: reserve /
 * commit / peek / release plus the two wait flags. Peers on the same node
 * share those rings in the group memory (the master's, or a node agent's
 * copy of it). A peer on another node plugs in the same way: its rings
 * are local memory that a relay (the master for its host, the agent for
 * its node: master/group_relay.h) fills from and drains to the network,
 * ringing this member's doorbell as a WAKE would; the engine, the fold
 * order and the failure marks do not change.
 *
 * Environment. What a member does around the rings -- allocate scratch
 * buffers, answer whoever supervises it while it waits, sleep and be
 * woken, wake its peers -- depends on where it runs: a shard does it with
 * its HAL and the master's ring (the slave's table, set by the join
 * task); the master, when it takes a rank itself, runs the same code on a
 * thread of its own with its own table (master/group_master.c). The ring
 * protocol, the collectives and the failure marks are the same code.
 */
#ifndef MLOS_RUNTIME_COMM_H
#define MLOS_RUNTIME_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "group_wire.h"
#include "mlos_coll.h"
#include "ring.h"

#define MLOS_COMM_MAX_GROUPS 8  /* memberships per shard */
#define MLOS_COMM_MAX_REGIONS 8 /* exposed regions per membership */

struct comm_region {
    uint64_t key; /* 0: free slot */
    uint8_t *base;
    size_t len;
    unsigned access;
};

struct mlos_comm;

/* How a member waits and wakes where it runs (see above). Every entry is
 * required. prepare_wait/done_wait bracket sleep; sleep returns at once if
 * a wake-up came since the last done_wait (none may be lost), else at a
 * wake-up or deadline_ns (mlos_hal_now_ns clock) at the latest. */
struct mlos_comm_env {
    void *(*alloc)(size_t n); /* scratch buffers and task results */
    void (*free)(void *p);
    void (*service)(struct mlos_comm *c);     /* each pass: answer the supervisor (heartbeats) */
    int (*prepare_wait)(struct mlos_comm *c); /* 1: something came for the member itself, stay awake */
    void (*done_wait)(struct mlos_comm *c);
    void (*sleep)(struct mlos_comm *c, uint64_t deadline_ns);
    void (*wake)(struct mlos_comm *c, uint64_t ranks); /* ring these peers' doorbells */
};

struct mlos_comm {
    const struct mlos_comm_env *env;
    void *env_arg; /* the environment's own state */
    uint32_t id, gen, n, rank;
    uint8_t *slice;
    size_t slice_len;
    struct mlos_group_hdr *hdr; /* shared: only dead[] and abort are read, each load used once */
    struct mlos_ring tx[3][MLOS_GROUP_MAX], rx[3][MLOS_GROUP_MAX]; /* [kind][peer] */
    uint32_t want[3][MLOS_GROUP_MAX]; /* payload bytes a blocked send waits room for, 0: not blocked */
    uint64_t spin_ns;
    uint32_t chunk;    /* collective frame payload: a quarter ring, multiple of 64 */
    uint32_t seq;      /* collectives started since join: frames carry it */
    uint64_t wake;     /* ranks to wake at the next flush */
    int progressed;    /* the last pass moved something */
    int failed_rank;
    char error[200];
    struct comm_region regions[MLOS_COMM_MAX_REGIONS];
    /* one-sided: this member's outstanding request (one at a time) */
    uint32_t rma_seq;
    int rma_peer, rma_done, rma_status;
    uint8_t *rma_dst;   /* get: where the DATA goes */
    size_t rma_len;
    int put_err[MLOS_GROUP_MAX]; /* serving: first error of the put each peer is sending */
};

/* Attach c (zeroed but for env and env_arg) as rank j->rank of the
 * group whose slice of slice_len bytes is at slice, with the layout of j
 * (never the slice's header). 0, or MLOS_EPROTO with why in c->error. */
int mlos__comm_attach(struct mlos_comm *c, const struct mlos_group_join *j, uint8_t *slice, size_t slice_len);

/* The membership mlos_comm_self returns on this thread (NULL: none). */
void mlos__comm_set_current(struct mlos_comm *c);

/* Scratch memory from c's environment (NULL c: the shard's heap). */
void *mlos__comm_alloc(struct mlos_comm *c, size_t n);
void mlos__comm_free(struct mlos_comm *c, void *p);

/* Record why c failed (kept for mlos_comm_error); returns err. */
int mlos__comm_fail(struct mlos_comm *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The wait loop: call step(c, arg) until it returns 1 (done) or < 0
 * (error), between passes serving peers and the master and, when nothing
 * moves for spin_ns, sleeping until a doorbell. step sets c->progressed
 * when it moved data and records blocked sends in c->want. Returns 0 or
 * the error (a down peer: MLOS_ESHARDDIED, abort: MLOS_ETIMEDOUT /
 * MLOS_ESTOPPED). */
int mlos__comm_wait(struct mlos_comm *c, int (*step)(struct mlos_comm *c, void *arg), void *arg);

/* A peer consumed from or produced into ring (kind, peer): wake it at the
 * next flush if it sleeps on that. */
void mlos__comm_note_tx(struct mlos_comm *c, int kind, int peer);
void mlos__comm_note_rx(struct mlos_comm *c, int kind, int peer);
/* Send the wake-ups noted so far (one WAKE frame to the master). */
void mlos__comm_flush_wakes(struct mlos_comm *c);

/* comm_peer.c: serve what peers sent on their one-sided rings (requests,
 * and the replies to this member's own); an error only for a peer that
 * broke the protocol. */
int mlos__comm_serve(struct mlos_comm *c);

/* ---- hooks for the slave loop (slave.c) ---- */
/* Serve one-sided requests of every membership (between tasks). */
void mlos__comm_idle(void);
/* Before the slave sleeps: ask peers to ring when they send a request; 1
 * if one is already waiting (do not sleep). After: clear that. */
int mlos__comm_idle_arm(void);
void mlos__comm_idle_disarm(void);

/* ---- from slave.c, for the wait loop ---- */
/* Answer PINGs at the head of the master's ring (nothing else is taken). */
void mlos__slave_service(void);
/* Sleep protocol on the master's ring: 1 if a frame arrived since the
 * last call (one at the head that is not a PING waits for the task). */
int mlos__slave_prepare_wait(void);
void mlos__slave_done_wait(void);
/* Send a frame to the master (WAKE). */
int mlos__slave_frame(uint8_t type, const void *data, size_t len);

#endif
