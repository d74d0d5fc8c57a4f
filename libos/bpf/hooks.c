/* libos/bpf/hooks.c -- the hook registry and the contexts of each hook. */
#include <string.h>

#include "hooks.h"
#include "mem.h"
#include "mlos_endian.h"
#include "mlos_error.h"

#define H(id) MLOS_BPF_HELPER_BIT(id)

static const struct mlos_bpf_hook_desc descs[MLOS_HOOK_COUNT] = {
    [MLOS_HOOK_MSG] = {"msg", sizeof(struct mlos_hook_msg_ctx), 0, 3,
                       {{24, MLOS_HOOK_NAME_MAX, 0}, {32, MLOS_HOOK_ARG_HEAD, 0}, {40, MLOS_HOOK_PAYLOAD_HEAD, 0}},
                       H(MLOS_BPF_HELPER_TRACE) | H(MLOS_BPF_HELPER_HASH32) | H(MLOS_BPF_HELPER_MEMEQ), 1ull << 16},
    [MLOS_HOOK_SCHED] = {"sched", sizeof(struct mlos_hook_sched_ctx), 0, 1, {{16, MLOS_HOOK_NAME_MAX, 0}},
                         H(MLOS_BPF_HELPER_TRACE) | H(MLOS_BPF_HELPER_HASH32) | H(MLOS_BPF_HELPER_MEMEQ) |
                             H(MLOS_BPF_HELPER_NOW_NS), 1ull << 16},
    [MLOS_HOOK_EVENT] = {"event", sizeof(struct mlos_hook_event_ctx), 0, 0, {{0}},
                         H(MLOS_BPF_HELPER_TRACE) | H(MLOS_BPF_HELPER_NOW_NS), 1ull << 14},
    [MLOS_HOOK_TEST] = {"test", sizeof(struct mlos_hook_test_ctx), 1, 1, {{64, MLOS_HOOK_TEST_DATA, 1}},
                        H(MLOS_BPF_HELPER_TRACE) | H(MLOS_BPF_HELPER_HASH32) | H(MLOS_BPF_HELPER_MEMEQ) |
                            H(MLOS_BPF_HELPER_NOW_NS), 1ull << 26},
    [MLOS_HOOK_KERNEL] = {"kernel", sizeof(struct mlos_hook_kernel_ctx), 1, 1,
                          {{40, MLOS_HOOK_KERNEL_MAX, 1, 1, 32, 1, 48}},
                          H(MLOS_BPF_HELPER_TRACE) | H(MLOS_BPF_HELPER_HASH32) | H(MLOS_BPF_HELPER_MEMEQ), 1ull << 36},
    [MLOS_HOOK_REDUCE] = {"reduce", sizeof(struct mlos_hook_reduce_ctx), 0, 2,
                          {{16, MLOS_HOOK_REDUCE_MAX, 1, 1, 8, 0, 0}, {24, MLOS_HOOK_REDUCE_MAX, 0, 1, 8, 0, 0}},
                          H(MLOS_BPF_HELPER_TRACE) | H(MLOS_BPF_HELPER_HASH32) | H(MLOS_BPF_HELPER_MEMEQ), 1ull << 30},
    [MLOS_HOOK_MEM] = {"mem", sizeof(struct mlos_hook_mem_ctx), 0, 0, {{0}}, H(MLOS_BPF_HELPER_NOW_NS), 1ull << 14},
};

_Static_assert(sizeof(struct mlos_hook_msg_ctx) == 56, "msg ctx layout");
_Static_assert(sizeof(struct mlos_hook_sched_ctx) == 24, "sched ctx layout");
_Static_assert(sizeof(struct mlos_hook_test_ctx) == 72, "test ctx layout");
_Static_assert(sizeof(struct mlos_hook_kernel_ctx) == 56, "kernel ctx layout");
_Static_assert(sizeof(struct mlos_hook_reduce_ctx) == 40, "reduce ctx layout");
_Static_assert(sizeof(struct mlos_hook_mem_ctx) == 32, "mem ctx layout");

struct slot {
    struct mlos_bpf_prog *prog;
    mlos_hook_native_fn native;
    void *user;
};
static struct slot slots[MLOS_HOOK_COUNT];

const struct mlos_bpf_hook_desc *mlos_hook_desc(int hook)
{
    return hook >= 0 && hook < MLOS_HOOK_COUNT ? &descs[hook] : NULL;
}

static void clear(struct slot *s)
{
    mlos_bpf_free(s->prog);
    *s = (struct slot){0};
}

/* The allocator asks this while a memory policy is installed. */
static int mem_policy(size_t size, size_t align, size_t in_use, size_t limit)
{
    return mlos_hook_mem_grant(size, align, in_use, limit);
}

int mlos_hook_set(int hook, struct mlos_bpf_prog *prog)
{
    if (!mlos_hook_desc(hook))
        return MLOS_EINVAL;
    /* The program was verified against a hook's contract: it must be this one. */
    if (prog && (mlos_bpf_hook(prog)->name != descs[hook].name || mlos_bpf_hook(prog)->ctx_size != descs[hook].ctx_size))
        return MLOS_EINVAL;
    clear(&slots[hook]);
    slots[hook].prog = prog;
    if (hook == MLOS_HOOK_MEM)
        mlos_mem_set_policy(prog ? mem_policy : NULL);
    return 0;
}

int mlos_hook_set_native(int hook, mlos_hook_native_fn fn, void *user)
{
    if (!mlos_hook_desc(hook))
        return MLOS_EINVAL;
    clear(&slots[hook]);
    slots[hook].native = fn;
    slots[hook].user = user;
    if (hook == MLOS_HOOK_MEM)
        mlos_mem_set_policy(fn ? mem_policy : NULL);
    return 0;
}

int mlos_hook_installed(int hook) { return mlos_hook_desc(hook) && (slots[hook].prog || slots[hook].native); }

int mlos_hook_run(int hook, void *ctx, size_t len, uint64_t *r0)
{
    struct slot *s;
    int rc;

    if (!mlos_hook_desc(hook))
        return MLOS_EINVAL;
    s = &slots[hook];
    if (s->native) {
        *r0 = s->native(ctx, len, s->user);
        return 1;
    }
    if (!s->prog)
        return 0;
    if (len < descs[hook].ctx_size)
        return MLOS_EINVAL; /* the verifier assumed the whole context */
    {
        unsigned flags = mlos_bpf_flags(s->prog);
        uint64_t budget = descs[hook].insn_budget;
        /* Backward jumps (and calls) the budget pays for, at the program's
         * length each. Trusted code that can loop runs checked, so the hook's
         * budget binds it too, unless the hook sets no limit. */
        uint64_t jumps = budget == UINT64_MAX ? UINT64_MAX : budget / mlos_bpf_ninsns(s->prog);
        int checked = (flags & MLOS_BPF_CHECKED) ||
                      ((flags & MLOS_BPF_TRUSTED) && mlos_bpf_may_loop(s->prog) && budget != UINT64_MAX);
        rc = mlos_bpf_run_ex(s->prog, ctx, len, checked ? MLOS_BPF_RUN_CHECKED : MLOS_BPF_RUN_FAST, jumps, r0);
    }
    return rc < 0 ? rc : 1;
}

uint32_t mlos_hook_hash32(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static void copy_padded(uint8_t *dst, size_t cap, const void *src, size_t len)
{
    size_t n = len < cap ? len : cap;
    if (n)
        memcpy(dst, src, n);
    memset(dst + n, 0, cap - n);
}

static uint64_t addr(const void *p) { return mlos_to_le64((uint64_t)(uintptr_t)p); }

uint64_t mlos_hook_msg(uint32_t type, uint32_t request_id, const void *payload, size_t len, const char *name,
                       size_t name_len, const void *arg, size_t arg_len)
{
    uint8_t nbuf[MLOS_HOOK_NAME_MAX], abuf[MLOS_HOOK_ARG_HEAD], pbuf[MLOS_HOOK_PAYLOAD_HEAD];
    struct mlos_hook_msg_ctx c;
    uint64_t r0;

    if (!mlos_hook_installed(MLOS_HOOK_MSG))
        return MLOS_HOOK_MSG_ACCEPT;
    if (name && name_len == 8 && !memcmp(name, "bpf.load", 8))
        return MLOS_HOOK_MSG_ACCEPT;
    copy_padded(nbuf, sizeof(nbuf), name, name ? name_len : 0);
    copy_padded(abuf, sizeof(abuf), arg, arg ? arg_len : 0);
    copy_padded(pbuf, sizeof(pbuf), payload, payload ? len : 0);
    c.type = mlos_to_le32(type);
    c.request_id = mlos_to_le32(request_id);
    c.length = mlos_to_le32((uint32_t)len);
    c.name_len = mlos_to_le32(name ? (uint32_t)name_len : 0);
    c.arg_len = mlos_to_le32(arg ? (uint32_t)arg_len : 0);
    c.name_hash = mlos_to_le32(mlos_hook_hash32(name, name ? name_len : 0));
    c.name = addr(nbuf);
    c.arg = addr(abuf);
    c.payload = addr(pbuf);
    c.reserved = 0;
    if (mlos_hook_run(MLOS_HOOK_MSG, &c, sizeof(c), &r0) != 1)
        return MLOS_HOOK_MSG_ACCEPT;
    return r0;
}

int64_t mlos_hook_sched(const char *name, size_t name_len, size_t arg_len, uint32_t queue_len)
{
    uint8_t nbuf[MLOS_HOOK_NAME_MAX];
    struct mlos_hook_sched_ctx c;
    uint64_t r0;

    if (!mlos_hook_installed(MLOS_HOOK_SCHED))
        return 0;
    copy_padded(nbuf, sizeof(nbuf), name, name_len);
    c.name_hash = mlos_to_le32(mlos_hook_hash32(name, name_len));
    c.name_len = mlos_to_le32((uint32_t)name_len);
    c.arg_len = mlos_to_le32((uint32_t)arg_len);
    c.queue_len = mlos_to_le32(queue_len);
    c.name = addr(nbuf);
    if (mlos_hook_run(MLOS_HOOK_SCHED, &c, sizeof(c), &r0) != 1)
        return 0;
    return (int64_t)r0;
}

uint64_t mlos_hook_event(uint32_t kind, uint32_t arg, uint64_t data)
{
    struct mlos_hook_event_ctx c;
    uint64_t r0;

    if (!mlos_hook_installed(MLOS_HOOK_EVENT))
        return MLOS_HOOK_EVENT_NOW;
    c.kind = mlos_to_le32(kind);
    c.arg = mlos_to_le32(arg);
    c.data = mlos_to_le64(data);
    if (mlos_hook_run(MLOS_HOOK_EVENT, &c, sizeof(c), &r0) != 1)
        return MLOS_HOOK_EVENT_NOW;
    return r0;
}

int mlos_hook_kernel(void *data, size_t len, int writable, uint64_t arg[4], uint64_t *r0)
{
    struct mlos_hook_kernel_ctx c;
    int rc;

    if (len > MLOS_HOOK_KERNEL_MAX)
        return MLOS_EINVAL;
    for (int i = 0; i < 4; i++)
        c.arg[i] = mlos_to_le64(arg[i]);
    c.len = mlos_to_le64(len);
    c.data = addr(data);
    c.writable = mlos_to_le32(writable ? 1 : 0);
    c.reserved = 0;
    rc = mlos_hook_run(MLOS_HOOK_KERNEL, &c, sizeof(c), r0);
    if (rc == 0)
        return MLOS_ENOENT;
    if (rc < 0)
        return rc;
    for (int i = 0; i < 4; i++)
        arg[i] = mlos_from_le64(c.arg[i]);
    return 0;
}

int mlos_hook_reduce(void *inout, const void *in, size_t count, size_t elem_size, uint64_t op)
{
    struct mlos_hook_reduce_ctx c;
    uint64_t r0;
    int rc;

    if (!elem_size || count > MLOS_HOOK_REDUCE_MAX / elem_size || elem_size > UINT32_MAX)
        return MLOS_EINVAL;
    c.elem_size = mlos_to_le32((uint32_t)elem_size);
    c.count = mlos_to_le32((uint32_t)count);
    c.len = mlos_to_le64((uint64_t)(count * elem_size));
    c.inout = addr(inout);
    c.in = addr(in);
    c.op = mlos_to_le64(op);
    rc = mlos_hook_run(MLOS_HOOK_REDUCE, &c, sizeof(c), &r0);
    if (rc == 0)
        return MLOS_ENOENT;
    if (rc < 0)
        return rc;
    return r0 == 0 ? 0 : MLOS_EINVAL;
}

int mlos_hook_reduce_local(void *out, const void *vectors, size_t n, size_t count, size_t elem_size, uint64_t op)
{
    const uint8_t *v = vectors;
    size_t bytes;

    if (!n || !elem_size || count > MLOS_HOOK_REDUCE_MAX / elem_size)
        return MLOS_EINVAL;
    if (!mlos_hook_installed(MLOS_HOOK_REDUCE))
        return MLOS_ENOENT;
    bytes = count * elem_size;
    memmove(out, v, bytes);
    for (size_t i = 1; i < n; i++) {
        int rc = mlos_hook_reduce(out, v + i * bytes, count, elem_size, op);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mlos_hook_mem_grant(size_t size, size_t align, size_t in_use, size_t limit)
{
    struct mlos_hook_mem_ctx c;
    uint64_t r0;

    if (!mlos_hook_installed(MLOS_HOOK_MEM))
        return 1;
    c.size = mlos_to_le64(size);
    c.align = mlos_to_le64(align);
    c.in_use = mlos_to_le64(in_use);
    c.limit = mlos_to_le64(limit);
    /* A policy that faults has no verdict: the allocation goes ahead, as
     * with no policy (refusing would let a broken policy starve the shard). */
    if (mlos_hook_run(MLOS_HOOK_MEM, &c, sizeof(c), &r0) != 1)
        return 1;
    return r0 != 0;
}
