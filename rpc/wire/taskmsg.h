/* rpc/wire/taskmsg.h -- TaskCall, TaskReply and Hello (mlos.proto) coded by hand.
 *
 * Why: every call a slave runs decodes one TaskCall and encodes one
 * TaskReply. protobuf-c's generic, descriptor-driven code allocates the
 * message, its string and its bytes, and under QEMU TCG that alone cost a
 * bare-metal slave ~3.4 us per call (unpack+free 1.7 us, pack 0.8 us, the
 * rest in copies), against a transport floor of ~1.2 us. These two
 * functions do the same on the frame in place: no allocation, no copy.
 *
 * Contract, checked against protobuf-c by test/test_taskmsg.c:
 *   - mlos_taskcall_decode accepts every encoding protobuf-c produces, and
 *     whatever it accepts, protobuf-c accepts with the same task and arg
 *     (last occurrence of a field wins; unknown fields of wire types 0, 1,
 *     2 and 5 are skipped). It may refuse more (groups, field number 0,
 *     over-long varints, a task name with a NUL inside, which protobuf-c
 *     would silently cut short): a refusal is MLOS_EDECODE, as a failed
 *     unpack.
 *   - mlos_taskreply_encode writes exactly the bytes protobuf-c packs for
 *     the same field values (proto3: zero and empty fields omitted).
 * Both run in bare-metal images: no libc beyond memcpy/memchr.
 */
#ifndef MLOS_TASKMSG_H
#define MLOS_TASKMSG_H

#include <stddef.h>
#include <stdint.h>

/* A decoded TaskCall: views into the decoded buffer, valid while it is.
 * task is not NUL-terminated. */
struct mlos_taskcall_view {
    const char *task;
    size_t task_len;
    const uint8_t *arg;
    size_t arg_len;
    uint32_t flags; /* MLOS_TASKCALL_* */
};

/* TaskCall.flags */
#define MLOS_TASKCALL_CONCURRENT 1u /* may run on any free core, beside other such calls */

/* Decode len bytes at p. Returns 0, or MLOS_EDECODE (v unspecified). */
int mlos_taskcall_decode(const uint8_t *p, size_t len, struct mlos_taskcall_view *v);

/* The fields of a TaskReply to encode; result/error may be NULL when
 * their length is 0. */
struct mlos_taskreply_fields {
    int32_t status;
    const void *result;
    size_t result_len;
    const char *error;
    size_t error_len;
    uint64_t run_ns;
};

/* Encoded size of r. */
size_t mlos_taskreply_size(const struct mlos_taskreply_fields *r);

/* Encode r at out (mlos_taskreply_size(r) bytes of room); returns the
 * bytes written. */
size_t mlos_taskreply_encode(const struct mlos_taskreply_fields *r, uint8_t *out);

/* Encode a TaskCall the same way (hosts that want to skip protobuf-c;
 * also the test's reference for the decoder). */
size_t mlos_taskcall_size(const char *task, size_t task_len, size_t arg_len);
size_t mlos_taskcall_encode(const char *task, size_t task_len, const void *arg, size_t arg_len, uint8_t *out);

/* A shard's Hello, coded the same way (same bytes as protobuf-c packs),
 * for the same reason at boot: under QEMU TCG a slave pays the translation
 * of every instruction it runs for the first time, and protobuf-c's
 * generic packer plus the allocation of the names array were about 1 ms of
 * a bare-metal slave's boot. The task names come from task_name(i, user)
 * for i < n_tasks (NUL-terminated; NULL counts as empty). The encoder
 * writes at most cap bytes; the caller reserves room without knowing the
 * exact size (a ring frame may be committed shorter than reserved). */
struct mlos_hello_fields {
    const char *arch;
    uint32_t shard_id;
    size_t n_tasks;
    const char *(*task_name)(size_t i, void *user);
    void *user;
    uint64_t mem_bytes;
    uint64_t boot_ns;
    uint32_t abi;
    uint64_t mem_max_bytes; /* 0: fixed size */
    uint32_t cores, active_cores;
};

/* Encode h at out; returns the bytes written (> 0), or 0 if they would
 * not fit in cap (nothing usable written then). */
size_t mlos_hello_encode(const struct mlos_hello_fields *h, uint8_t *out, size_t cap);

#endif
