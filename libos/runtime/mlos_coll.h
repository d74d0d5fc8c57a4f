/* mlos_coll.h -- what a task sees of its shard group: rank and size,
 * messages between members, one-sided access to a peer's exposed memory,
 * and collectives (installed as <mlos/coll.h>).
 *
 * The master makes a group (<mlos/group.h>) and runs a task on every
 * member at once with mlos_group_call; inside that task
 *
 *     struct mlos_comm *c = mlos_comm_self();
 *     double part = ..., sum;
 *     int rc = mlos_allreduce(c, &part, &sum, 1, MLOS_COLL_F64, MLOS_COLL_SUM);
 *     if (rc < 0)
 *         return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
 *
 * Every call blocks the task until its part is done (tasks run to
 * completion; the runtime keeps answering the master's heartbeats and
 * serves peers' one-sided requests meanwhile). Every member must make the
 * same collective calls in the same order with matching arguments (root,
 * sizes, type, op); a mismatch is detected where the sizes differ
 * (MLOS_EPROTO).
 *
 * Errors (negative MLOS_E*; mlos_comm_error says more):
 *   MLOS_ESHARDDIED  a member went down; mlos_comm_failed_rank names it.
 *                    The group stays broken until the master re-forms it.
 *   MLOS_ETIMEDOUT   the master aborted the group call (its deadline).
 *   MLOS_ECANCELED   another rank's task failed: the master ended the call.
 *   MLOS_ESTOPPED    the master is closing the group.
 *   MLOS_EPROTO      a peer sent what this collective did not expect.
 *   MLOS_EINVAL      bad argument (rank out of range, NULL buffer, ...).
 *   MLOS_ENOMEM      no memory for a temporary buffer.
 *   MLOS_EKEY / MLOS_ERANGE / MLOS_EACCES   one-sided access refused by the target.
 *   MLOS_ETOOBIG     a received message is larger than the buffer.
 *
 * Data layout. Broadcast, gather, allgather, send/recv and put/get move
 * bytes as they are. Reduce and allreduce work on typed elements in the
 * member's own byte order; between members they travel little-endian, so
 * x86_64 and PowerPC members combine the same values.
 *
 * Reduction order (determinism). Whatever the algorithm, message size,
 * transport or arch mix, element k of a reduce/allreduce result is the left
 * fold in rank order
 *
 *     r = v_0[k];  r = r (+) v_1[k];  ...;  r = r (+) v_{N-1}[k]
 *
 * computed in IEEE-754 binary64 (round to nearest, no contraction, no
 * extended precision) for MLOS_COLL_F64, so results are bit-identical
 * across runs and arch mixes. Across N it means: two groups of different
 * sizes give the same bits exactly when they fold the same sequence of
 * contributions -- in particular, extra ranks that contribute the identity
 * (-0.0 for SUM, +inf for MIN, -inf for MAX) leave a result unchanged. A
 * program that wants a result independent of how it splits its data over N
 * ranks folds fixed blocks: each rank computes per-block partials for the
 * blocks it owns and the blocks are combined in block order (an allgather
 * of the partials, then a local fold), which is what mlos_allreduce itself
 * does across ranks. MIN/MAX: r = (x < r) ? x : r (resp. x > r), so a NaN
 * already in r stays and a NaN x is skipped; -0.0 and +0.0 keep whichever
 * came first.
 *
 * Algorithms (N ranks, message of m bytes): barrier: dissemination,
 * ceil(log2 N) rounds. Broadcast: binomial tree, pipelined in chunks of a
 * quarter ring. Allgather and allreduce for N*m <= 8 KiB: Bruck's
 * allgather (ceil(log2 N) steps, any N) of the contributions, then a local
 * fold; larger allreduce: reduce-scatter (each rank folds its 1/N segment
 * from every rank's chunks, in rank order, straight from the rings) and an
 * allgather of the segments, both pipelined: every rank sends and receives
 * 2 m (N-1)/N bytes, as a ring allreduce does, in one step instead of N-1
 * (shared memory gives every pair its own rings). Gather and reduce: a
 * binomial tree for N*m <= 8 KiB, else direct to the root (reduce:
 * reduce-scatter, then the segments to the root).
 */
#ifndef MLOS_COLL_H
#define MLOS_COLL_H

#include <stddef.h>
#include <stdint.h>

#include "mlos_error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mlos_comm; /* a shard's membership of one group; owned by the runtime */

/* The group of the group call this task runs for, or NULL (a plain call). */
struct mlos_comm *mlos_comm_self(void);
int mlos_comm_rank(const struct mlos_comm *c);
int mlos_comm_size(const struct mlos_comm *c);
/* Why the last call failed ("" if it did not), and the rank that went
 * down (-1 if none). */
const char *mlos_comm_error(const struct mlos_comm *c);
int mlos_comm_failed_rank(const struct mlos_comm *c);

/* ---- two-sided: ordered per pair, flow controlled ---- */

/* Send len bytes to rank dst with a tag; returns once they are in the
 * pair's ring (waits while it is full). */
int mlos_comm_send(struct mlos_comm *c, int dst, uint32_t tag, const void *buf, size_t len);
/* Receive the next message from rank src into buf (cap bytes): *len and
 * *tag (either may be NULL) say what came. A message larger than cap is
 * consumed and dropped: MLOS_ETOOBIG with *len its size. */
int mlos_comm_recv(struct mlos_comm *c, int src, void *buf, size_t cap, size_t *len, uint32_t *tag);

/* ---- one-sided: into a region a peer exposed ---- */

#define MLOS_COMM_READ 1u
#define MLOS_COMM_WRITE 2u
/* Let peers put into (MLOS_COMM_WRITE) and/or get from (MLOS_COMM_READ)
 * [base, base+len) of this shard's memory; *key is the secret to hand them
 * (e.g. with mlos_allgather: as a number, so in a fixed byte order such as
 * mlos_put_le64's when members may differ in endianness, as PowerPC and
 * x86_64 ones do). The region stays exposed until
 * mlos_comm_unexpose or the end of the group call. At most 8 at a time
 * (MLOS_ENOMEM). Requests are served while this member is in any comm call
 * or idle between tasks. */
int mlos_comm_expose(struct mlos_comm *c, void *base, size_t len, unsigned access, uint64_t *key);
int mlos_comm_unexpose(struct mlos_comm *c, uint64_t key);
/* Copy len bytes to / from offset off of rank peer's region key. The
 * target checks key, bounds and rights: MLOS_EKEY, MLOS_ERANGE,
 * MLOS_EACCES. Returns when the target has applied (put) or sent (get)
 * the bytes. */
int mlos_comm_put(struct mlos_comm *c, int peer, uint64_t key, uint64_t off, const void *src, size_t len);
int mlos_comm_get(struct mlos_comm *c, int peer, uint64_t key, uint64_t off, void *dst, size_t len);

/* ---- collectives ---- */

enum mlos_coll_type {
    MLOS_COLL_U64 = 0,
    MLOS_COLL_I64 = 1,
    MLOS_COLL_F64 = 2,
};
enum mlos_coll_op {
    MLOS_COLL_SUM = 0,
    MLOS_COLL_MIN = 1,
    MLOS_COLL_MAX = 2,
    MLOS_COLL_USER = 3, /* the application's operator at MLOS_HOOK_REDUCE (eBPF or native,
                         * libos/bpf/hooks.h); see mlos_reduce_user */
};

int mlos_barrier(struct mlos_comm *c);
/* buf: len bytes, input at root, output elsewhere. */
int mlos_bcast(struct mlos_comm *c, void *buf, size_t len, int root);
/* count elements of type from in, folded into out (count elements) at
 * root (out may be NULL elsewhere). in == out is allowed. */
int mlos_reduce(struct mlos_comm *c, const void *in, void *out, size_t count, enum mlos_coll_type type,
                enum mlos_coll_op op, int root);
int mlos_allreduce(struct mlos_comm *c, const void *in, void *out, size_t count, enum mlos_coll_type type,
                   enum mlos_coll_op op);
/* Reduce/allreduce with the operator at MLOS_HOOK_REDUCE: elements of
 * elem_size bytes (moved as bytes: the operator owns their byte order),
 * op_arg passed to it; the same rank-order fold. MLOS_ENOENT if no
 * operator is installed on this member. */
int mlos_reduce_user(struct mlos_comm *c, const void *in, void *out, size_t count, size_t elem_size,
                     uint64_t op_arg, int root);
int mlos_allreduce_user(struct mlos_comm *c, const void *in, void *out, size_t count, size_t elem_size,
                        uint64_t op_arg);
/* len bytes from every rank into out (N*len bytes, rank order) at root
 * (out may be NULL elsewhere) / on every rank. */
int mlos_gather(struct mlos_comm *c, const void *in, size_t len, void *out, int root);
int mlos_allgather(struct mlos_comm *c, const void *in, size_t len, void *out);

#ifdef __cplusplus
}
#endif

#endif
