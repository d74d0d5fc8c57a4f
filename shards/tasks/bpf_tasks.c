/* Builtin tasks that let the master insert eBPF extensions into a running
 * slave (libos/bpf) and run them: "bpf.load" and "bpf.run". Their argument
 * and result layouts are in rpc/abi/mlos_bpf_abi.h (installed), so a
 * master can build them without this file.
 */
#include <stdint.h>
#include <string.h>

#include "bpf/hooks.h"
#include "mlos_bpf_abi.h"
#include "mlos_task.h"
#include "mlos_endian.h"

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int bpf_load_task(struct mlos_task_ctx *ctx)
{
    const uint8_t *a = ctx->arg;
    const struct mlos_bpf_hook_desc *desc;
    struct mlos_bpf_prog *prog;
    char err[MLOS_BPF_ERR_MAX];
    uint32_t len, n;
    unsigned flags = 0;
    uint8_t out[4];
    int rc;

    if (ctx->arg_len < 8)
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.load wants hook, flags, 0, le32 length, code");
    desc = mlos_hook_desc(a[0]);
    len = le32(a + 4);
    if (!desc)
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.load: no hook %u", a[0]);
    if ((a[1] & ~(unsigned)(MLOS_BPF_LOAD_TRUSTED | MLOS_BPF_LOAD_CHECKED)) || a[2] || a[3])
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.load: unknown flags 0x%x or nonzero reserved bytes", a[1]);
    if (len != ctx->arg_len - 8)
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.load: length %u but %zu code bytes", len, ctx->arg_len - 8);
    if (a[1] & MLOS_BPF_LOAD_TRUSTED)
        flags |= MLOS_BPF_TRUSTED;
    if (a[1] & MLOS_BPF_LOAD_CHECKED)
        flags |= MLOS_BPF_CHECKED;
    if (len == 0) {
        mlos_hook_set(a[0], NULL);
        n = 0;
    } else {
        rc = mlos_bpf_load(a + 8, len, desc, flags, &prog, err, sizeof(err));
        if (rc < 0)
            return mlos_task_fail(ctx, rc, "bpf.load at hook '%s': %s", desc->name, err);
        n = mlos_bpf_ninsns(prog);
        mlos_hook_set(a[0], prog);
    }
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(n >> (8 * i));
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("bpf.load", bpf_load_task);

static int run_test_hook(struct mlos_task_ctx *ctx, const uint8_t *in, size_t len)
{
    uint8_t data[MLOS_HOOK_TEST_DATA], out[8 + 64 + MLOS_HOOK_TEST_DATA];
    struct mlos_hook_test_ctx c;
    uint64_t r0 = 0;
    int rc;

    if (len < 64 || len > 64 + sizeof(data))
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run test: want 64 context bytes and up to %u data bytes",
                              (unsigned)sizeof(data));
    memcpy(c.w, in, 64); /* already little-endian, as the VM wants */
    memset(data, 0, sizeof(data));
    memcpy(data, in + 64, len - 64);
    mlos_put_le64((uint8_t *)&c.data, (uint64_t)(uintptr_t)data);
    rc = mlos_hook_run(MLOS_HOOK_TEST, &c, sizeof(c), &r0);
    if (rc == 0)
        return mlos_task_fail(ctx, MLOS_ENOENT, "bpf.run: no extension at hook 'test'");
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "bpf.run: checked run stopped: %s", mlos_strerror(rc));
    mlos_put_le64(out, r0);
    memcpy(out + 8, c.w, 64);
    memcpy(out + 72, data, sizeof(data));
    return mlos_task_result(ctx, out, sizeof(out));
}

/* A kernel over [offset, offset + length) of the bulk window. */
static int run_kernel_hook(struct mlos_task_ctx *ctx, int writable, const uint8_t *in, size_t len)
{
    uint8_t out[MLOS_BPF_RUN_KERNEL_OUT];
    uint64_t off, n, arg[4], r0 = 0;
    int rc;

    if (len != MLOS_BPF_RUN_KERNEL_ARGS)
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run kernel: want le64 offset, le64 length, le64 arg[4]");
    off = le64(in);
    n = le64(in + 8);
    for (int i = 0; i < 4; i++)
        arg[i] = le64(in + 16 + 8 * i);
    if (!ctx->bulk)
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run kernel: this shard has no bulk window");
    if (off > ctx->bulk_len || n > ctx->bulk_len - off)
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run kernel: range [%llu, +%llu) outside the %zu-byte bulk window",
                              (unsigned long long)off, (unsigned long long)n, ctx->bulk_len);
    rc = mlos_hook_kernel(ctx->bulk + off, (size_t)n, writable, arg, &r0);
    if (rc == MLOS_ENOENT)
        return mlos_task_fail(ctx, rc, "bpf.run: no extension at hook 'kernel'");
    if (rc == MLOS_EINVAL)
        return mlos_task_fail(ctx, rc, "bpf.run kernel: range longer than %u bytes", (unsigned)MLOS_HOOK_KERNEL_MAX);
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "bpf.run: checked run stopped: %s", mlos_strerror(rc));
    mlos_put_le64(out, r0);
    for (int i = 0; i < 4; i++)
        mlos_put_le64(out + 8 + 8 * i, arg[i]);
    return mlos_task_result(ctx, out, sizeof(out));
}

static int bpf_run_task(struct mlos_task_ctx *ctx)
{
    const uint8_t *a = ctx->arg, *in = a + 4;
    size_t len = ctx->arg_len - 4;
    uint8_t out[8];
    uint64_t r0;

    if (ctx->arg_len < MLOS_BPF_RUN_HDR || a[2] || a[3] ||
        (a[1] && !(a[0] == MLOS_HOOK_KERNEL && a[1] == MLOS_BPF_RUN_WRITE)))
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run wants hook, access, 0, 0, then the hook's input");
    switch (a[0]) {
    case MLOS_HOOK_KERNEL:
        return run_kernel_hook(ctx, a[1] & MLOS_BPF_RUN_WRITE, in, len);
    case MLOS_HOOK_TEST:
        return run_test_hook(ctx, in, len);
    case MLOS_HOOK_MSG: {
        uint32_t nl;
        if (len < 12 || (nl = le32(in + 8)) > len - 12)
            return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run msg: le32 type, id, name_len, name, arg");
        r0 = mlos_hook_msg(le32(in), le32(in + 4), in, len, (const char *)in + 12, nl, in + 12 + nl, len - 12 - nl);
        break;
    }
    case MLOS_HOOK_SCHED:
        if (len < 8)
            return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run sched: le32 arg_len, queue_len, name");
        r0 = (uint64_t)mlos_hook_sched((const char *)in + 8, len - 8, le32(in), le32(in + 4));
        break;
    case MLOS_HOOK_EVENT:
        if (len != 16)
            return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run event: le32 kind, le32 arg, le64 data");
        r0 = mlos_hook_event(le32(in), le32(in + 4), le64(in + 8));
        break;
    default:
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run: no hook %u", a[0]);
    }
    mlos_put_le64(out, r0);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("bpf.run", bpf_run_task);

_Static_assert((int)MLOS_BPF_ABI_HOOK_KERNEL == (int)MLOS_HOOK_KERNEL &&
                   (int)MLOS_BPF_ABI_HOOK_TEST == (int)MLOS_HOOK_TEST &&
                   (int)MLOS_BPF_ABI_HOOK_MEM == (int)MLOS_HOOK_MEM && (int)MLOS_BPF_ABI_HOOK_MSG == (int)MLOS_HOOK_MSG,
               "mlos_bpf_abi.h hook ids follow enum mlos_hook");
