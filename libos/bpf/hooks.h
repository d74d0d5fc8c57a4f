/* libos/bpf/hooks.h -- hook points where a shard runs application-inserted
 * extensions: an eBPF program (bpf.h) or a trusted native C function.
 *
 * Each hook has one slot: setting a new extension replaces (and frees) the
 * old one; an empty slot means the built-in default. The master inserts
 * programs into running shards with the builtin task "bpf.load"
 * (shards/tasks/bpf_tasks.c).
 *
 * Contexts are what R1 points to. All fields are little-endian on every
 * host (the VM is little-endian); region fields hold the le64 host address
 * of a buffer of exactly the size given, zero padded, that the program may
 * read (and write, where marked) -- copies, so a program never sees past
 * the real data. Contexts are read-only except the TEST hook's.
 *
 *  hook            context                                       R0
 *  MLOS_HOOK_MSG   struct mlos_hook_msg_ctx: a frame arriving      0 drop, 1 accept,
 *                  from the master (header fields; for CALLs the   >= 2 route (the
 *                  task name and argument)                         runtime decides)
 *  MLOS_HOOK_SCHED struct mlos_hook_sched_ctx: a task about to     priority (signed;
 *                  be queued                                       higher runs first)
 *  MLOS_HOOK_EVENT struct mlos_hook_event_ctx: an event to          delivery mode
 *                  deliver                                         (MLOS_HOOK_EVENT_*)
 *  MLOS_HOOK_TEST  struct mlos_hook_test_ctx: 8 words + a 256-byte  anything (bpf.run)
 *                  data region, both writable
 *  MLOS_HOOK_KERNEL struct mlos_hook_kernel_ctx: 4 argument words   anything (bpf.run)
 *                  (writable: results) and a range of the shard's
 *                  bulk window, read-only or read-write as granted
 *  MLOS_HOOK_REDUCE struct mlos_hook_reduce_ctx: combine `in` into   0 ok, else an error
 *                  `inout`, count elements of elem_size bytes
 *  MLOS_HOOK_MEM   struct mlos_hook_mem_ctx: an allocation the     1 grant, 0 refuse
 *                  allocator is about to make
 *
 * Helpers allowed: MSG trace/hash32/memeq; SCHED trace/hash32/memeq/now_ns;
 * EVENT trace/now_ns; TEST all; KERNEL and REDUCE trace/hash32/memeq
 * (on fixed memory: the stack and the context); MEM now_ns.
 *
 * Instruction budgets (checked runs; see mlos_bpf_hook_desc): MSG, SCHED
 * 2^16, EVENT and MEM 2^14, TEST 2^26, REDUCE 2^30, KERNEL 2^36.
 *
 * Verified programs run in fast mode unless loaded with MLOS_BPF_CHECKED; a
 * checked run that faults counts as "no verdict" (the default applies).
 */
#ifndef MLOS_BPF_HOOKS_H
#define MLOS_BPF_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "bpf.h"

enum mlos_hook {
    MLOS_HOOK_MSG = 0,
    MLOS_HOOK_SCHED = 1,
    MLOS_HOOK_EVENT = 2,
    MLOS_HOOK_TEST = 3,
    MLOS_HOOK_KERNEL = 4, /* compute kernels over a range of the bulk window (bpf.run) */
    MLOS_HOOK_REDUCE = 5, /* user-defined reduction operator */
    MLOS_HOOK_MEM = 6,    /* memory policy: grant or refuse an allocation */
    MLOS_HOOK_COUNT
};

#define MLOS_HOOK_NAME_MAX 64   /* task-name region bytes */
#define MLOS_HOOK_ARG_HEAD 128  /* argument-head region bytes */
#define MLOS_HOOK_PAYLOAD_HEAD 256
#define MLOS_HOOK_TEST_DATA 256

/* R0 of the message hook */
#define MLOS_HOOK_MSG_DROP 0
#define MLOS_HOOK_MSG_ACCEPT 1

struct mlos_hook_msg_ctx {      /* 56 bytes */
    uint32_t type;              /*  0: frame type (MLOS_FRAME_*) */
    uint32_t request_id;        /*  4 */
    uint32_t length;            /*  8: payload bytes */
    uint32_t name_len;          /* 12: CALL: task name length, else 0 */
    uint32_t arg_len;           /* 16: CALL: argument length, else 0 */
    uint32_t name_hash;         /* 20: FNV-1a 32 of the task name */
    uint64_t name;              /* 24: region 0, MLOS_HOOK_NAME_MAX bytes */
    uint64_t arg;               /* 32: region 1, MLOS_HOOK_ARG_HEAD bytes */
    uint64_t payload;           /* 40: region 2, MLOS_HOOK_PAYLOAD_HEAD bytes */
    uint64_t reserved;          /* 48 */
};

struct mlos_hook_sched_ctx {    /* 24 bytes */
    uint32_t name_hash;         /*  0: FNV-1a 32 of the task name */
    uint32_t name_len;          /*  4 */
    uint32_t arg_len;           /*  8 */
    uint32_t queue_len;         /* 12: tasks already waiting */
    uint64_t name;              /* 16: region 0, MLOS_HOOK_NAME_MAX bytes */
};

enum { MLOS_HOOK_EVENT_NOW = 0, MLOS_HOOK_EVENT_DEFER = 1, MLOS_HOOK_EVENT_DROP = 2 };
struct mlos_hook_event_ctx {    /* 16 bytes, no regions */
    uint32_t kind;              /*  0 */
    uint32_t arg;               /*  4 */
    uint64_t data;              /*  8 */
};

struct mlos_hook_test_ctx {     /* 72 bytes */
    uint64_t w[8];              /*  0: writable words */
    uint64_t data;              /* 64: region 0, MLOS_HOOK_TEST_DATA bytes, writable */
};

/* Variable-length regions: at most this many bytes (the verifier's pointer
 * offsets stay below 2^29). */
#define MLOS_HOOK_KERNEL_MAX (1u << 29)
#define MLOS_HOOK_REDUCE_MAX (1u << 24)

struct mlos_hook_kernel_ctx {   /* 56 bytes */
    uint64_t arg[4];            /*  0: caller's words in, results out (writable) */
    uint64_t len;               /* 32: bytes of the range */
    uint64_t data;              /* 40: region 0: the range of the bulk window, len bytes */
    uint32_t writable;          /* 48: bit 0: the range is granted read-write */
    uint32_t reserved;          /* 52 */
};

struct mlos_hook_reduce_ctx {   /* 40 bytes, read-only */
    uint32_t elem_size;         /*  0: bytes per element */
    uint32_t count;             /*  4: elements */
    uint64_t len;               /*  8: bytes of each vector: elem_size * count */
    uint64_t inout;             /* 16: region 0, len bytes, read-write: the accumulator */
    uint64_t in;                /* 24: region 1, len bytes, read-only: combined into inout */
    uint64_t op;                /* 32: the caller's operator argument */
};

struct mlos_hook_mem_ctx {      /* 32 bytes, read-only, no regions */
    uint64_t size;              /*  0: bytes requested */
    uint64_t align;             /*  8: alignment requested */
    uint64_t in_use;            /* 16: heap bytes allocated now */
    uint64_t limit;             /* 24: heap bytes in all (0: unknown) */
};

/* The contract of a hook, or NULL for an unknown id. */
const struct mlos_bpf_hook_desc *mlos_hook_desc(int hook);

/* Native extension: gets the same context as a program (len bytes);
 * returns what R0 would be. */
typedef uint64_t (*mlos_hook_native_fn)(void *ctx, size_t len, void *user);

/* Install prog (from mlos_bpf_load with mlos_hook_desc(hook)); the hook
 * owns and later frees it. NULL empties the slot. MLOS_EINVAL if the
 * program was loaded for another hook. */
int mlos_hook_set(int hook, struct mlos_bpf_prog *prog);
/* Install a native C extension (fn NULL empties the slot). */
int mlos_hook_set_native(int hook, mlos_hook_native_fn fn, void *user);
/* 1 if something is installed at hook. */
int mlos_hook_installed(int hook);

/* Run the extension at hook on ctx. Returns 1 with *r0 set if one ran, 0
 * if the slot is empty, or a negative MLOS_E* if a checked run faulted. */
int mlos_hook_run(int hook, void *ctx, size_t len, uint64_t *r0);

/* ---- context builders: what the runtime calls at each hook point ----
 * Each returns the default when nothing is installed, without building
 * anything. */

/* A frame from the master. For CALLs pass the task name and argument
 * (else NULL/0). CALLs to "bpf.load" are never filtered, so the master
 * can always replace a bad filter. Returns MLOS_HOOK_MSG_DROP/ACCEPT/route. */
uint64_t mlos_hook_msg(uint32_t type, uint32_t request_id, const void *payload, size_t len, const char *name,
                       size_t name_len, const void *arg, size_t arg_len);
/* Priority of a task about to be queued (default 0). */
int64_t mlos_hook_sched(const char *name, size_t name_len, size_t arg_len, uint32_t queue_len);
/* Delivery mode of an event (default MLOS_HOOK_EVENT_NOW). */
uint64_t mlos_hook_event(uint32_t kind, uint32_t arg, uint64_t data);

/* Run the kernel at MLOS_HOOK_KERNEL over [data, data + len) with arg[4]
 * (updated in place with what the program left there), read-write if
 * writable. Returns 0 and *r0, MLOS_ENOENT if the hook is empty,
 * MLOS_EINVAL if len exceeds MLOS_HOOK_KERNEL_MAX, or a checked run's
 * fault (MLOS_EACCES, MLOS_ETIMEDOUT). */
int mlos_hook_kernel(void *data, size_t len, int writable, uint64_t arg[4], uint64_t *r0);

/* Reduction operator: combine count elements of elem_size bytes from in
 * into inout with the extension at MLOS_HOOK_REDUCE (op is passed to it).
 * Returns 0, MLOS_ENOENT (no operator installed), MLOS_EINVAL (sizes over
 * MLOS_HOOK_REDUCE_MAX, or the operator returned nonzero), or a checked
 * run's fault. This is the call a group reduce/allreduce makes per
 * contribution. */
int mlos_hook_reduce(void *inout, const void *in, size_t count, size_t elem_size, uint64_t op);
/* Reduce n vectors (contiguous, count elements each) into out, in order:
 * out = v0, then out = out (+) v_i. Same errors. */
int mlos_hook_reduce_local(void *out, const void *vectors, size_t n, size_t count, size_t elem_size, uint64_t op);

/* Memory policy: 1 if the allocation may go ahead (also when nothing is
 * installed or the policy faulted), 0 if the policy refuses it. */
int mlos_hook_mem_grant(size_t size, size_t align, size_t in_use, size_t limit);

/* FNV-1a 32, as the contexts' name_hash (and the hash32 helper). */
uint32_t mlos_hook_hash32(const void *p, size_t n);

#endif
