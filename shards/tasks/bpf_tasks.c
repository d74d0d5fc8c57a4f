/* Builtin tasks that let the master insert eBPF extensions into a running
 * slave (libos/bpf). Every integer is little-endian.
 *
 * "bpf.load"  install (or remove) the extension at a hook
 *   arg:    u8 hook (enum mlos_hook), u8 flags (bit 0 trusted: skip the
 *           verifier; bit 1 checked: bounds-check at run time), u16 0,
 *           le32 code_len, code_len bytes of eBPF code (clang -target bpfel).
 *           code_len 0 empties the hook.
 *   result: le32 number of instruction slots installed.
 *   errors: MLOS_EINVAL with the verifier's message ("insn 3: ..."),
 *           MLOS_ETOOBIG, MLOS_ENOMEM.
 *
 * "bpf.run"   run the extension at a hook on a context the caller supplies
 *   arg:    u8 hook, u8[3] 0, then per hook
 *             TEST:  le64 w[8], then up to 256 data bytes (zero padded)
 *             MSG:   le32 type, le32 request_id, le32 name_len, name, arg (rest)
 *             SCHED: le32 arg_len, le32 queue_len, name (rest)
 *             EVENT: le32 kind, le32 arg, le64 data
 *   result: le64 R0 (the hook's default if the hook is empty, except TEST);
 *           for TEST followed by w[8] and the 256 data bytes after the run.
 *   errors: MLOS_ENOENT (TEST hook empty), MLOS_EACCES / MLOS_ETIMEDOUT
 *           (a checked run faulted).
 */
#include <stdint.h>
#include <string.h>

#include "bpf/hooks.h"
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
    if ((a[1] & ~3u) || a[2] || a[3])
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.load: unknown flags 0x%x or nonzero reserved bytes", a[1]);
    if (len != ctx->arg_len - 8)
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.load: length %u but %zu code bytes", len, ctx->arg_len - 8);
    if (a[1] & 1)
        flags |= MLOS_BPF_TRUSTED;
    if (a[1] & 2)
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

static int bpf_run_task(struct mlos_task_ctx *ctx)
{
    const uint8_t *a = ctx->arg, *in = a + 4;
    size_t len = ctx->arg_len - 4;
    uint8_t out[8];
    uint64_t r0;

    if (ctx->arg_len < 4 || a[1] || a[2] || a[3])
        return mlos_task_fail(ctx, MLOS_EINVAL, "bpf.run wants hook, 0, 0, 0, then the hook's input");
    switch (a[0]) {
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
