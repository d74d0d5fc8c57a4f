/* kind_x86_64.c -- bare-metal x86_64 shards in a QEMU microvm (kind.h).
 * The command line is qemu_x86_64.c's; this module decides the memory
 * size, the shard parameters (the host TSC rate, so the guest skips its
 * calibration) and whether KVM is used. */
#include <stdio.h>
#include <string.h>

#include "kind.h"
#include "kvm_probe.h"
#include "qemu_x86_64.h"

#define MiB ((size_t)1024 * 1024)

static int layout(size_t mem, size_t win_len, size_t *ram, size_t *win_off)
{
    /* 8 MiB: low memory and the image; 2 MiB: QEMU maps RAM in large pages */
    size_t need = mem + win_len + 8 * MiB;
    if (need < mem) /* wrapped */
        return MLOS_EINVAL;
    *ram = (need + 2 * MiB - 1) / (2 * MiB) * (2 * MiB);
    *win_off = *ram - win_len;
    return 0;
}

static int command(const struct mlos_kind_spawn *s, struct mlos_kind_cmd *cmd)
{
    const struct mlos_spawn_opts *o = s->opts;
    int rc, n = snprintf(cmd->buf, cmd->buflen, "mlos.window=0x%zx,0x%zx mlos.id=%u mlos.tsc_hz=%llu mlos.spin_us=%u mlos.mem=%zu",
                         s->win_off, s->win_len, s->shard_id, (unsigned long long)mlos_host_tsc_hz(), o->spin_us,
                         s->mem_bytes);
    if (n >= 0 && (size_t)n < cmd->buflen && s->group_bytes) /* right above its own RAM (qemu_x86_64.h) */
        n += snprintf(cmd->buf + n, cmd->buflen - (size_t)n, " mlos.group=0x%zx,0x%zx", s->ram_bytes, s->group_bytes);
    if (n >= 0 && (size_t)n < cmd->buflen && s->mem_max_bytes)
        n += snprintf(cmd->buf + n, cmd->buflen - (size_t)n, " mlos.mem_max=%zu", s->mem_max_bytes);
    if (n >= 0 && (size_t)n < cmd->buflen && s->boot_trace)
        n += snprintf(cmd->buf + n, cmd->buflen - (size_t)n, " mlos.boot_trace=1");
    if (n >= 0 && (size_t)n < cmd->buflen && s->cores > 1)
        n += snprintf(cmd->buf + n, cmd->buflen - (size_t)n, " mlos.cores=%u", s->cores);
    if (n < 0 || (size_t)n >= cmd->buflen)
        return MLOS_ETOOBIG;
    /* KVM asked for but unable to run a guest: fail now, not at the HELLO
     * timeout; MLOS_KVM_AUTO: KVM only where the probe ran a guest. */
    int kvm = o->kvm;
    if (kvm && (rc = mlos__kvm_probe(NULL, 0)) < 0) {
        if (kvm > 0)
            return rc;
        kvm = 0;
    }
    struct mlos_qemu_x86_64_cfg cfg = {
        .qemu_path = o->qemu ? o->qemu : "qemu-system-x86_64",
        .image = s->image,
        .ram_bytes = s->ram_bytes,
        .ram_fd = s->ram_fd,
        .doorbell_fd = s->doorbell_fd,
        .cmdline = cmd->buf,
        .kvm = kvm,
        .cores = s->cores,
        .group_bytes = s->group_bytes,
        .group_fd = s->group_fd,
    };
    cmd->env[0] = 0;
    rc = mlos_qemu_x86_64_argv(&cfg, cmd->argv, cmd->max_args, cmd->buf + n + 1, cmd->buflen - (size_t)n - 1);
    return rc < 0 ? rc : 0;
}

static void describe_exit(int64_t status, const void *window, size_t len, char *how, size_t cap)
{
    (void)window; /* isa-debug-exit carries the status: QEMU exits with (status << 1) | 1 */
    (void)len;
    mlos__kind_describe_qemu_exit(status, how, cap);
}

static int plain_image_ok(const struct mlos_image_info *info)
{
    /* ELF32 i386 (the Multiboot image) or a static x86-64 executable */
    return !strcmp(info->arch, "x86_64");
}

const struct mlos_kind mlos__kind_x86_64 = {
    .name = "x86_64",
    .default_image = "mlos-slave-x86_64.elf",
    .own_env = 0,
    .layout = layout,
    .low_reserved = 1 * MiB,
    .can_pause = 1,
    .max_cores = MLOS_MAX_CORES,
    .command = command,
    .describe_exit = describe_exit,
    .plain_image_ok = plain_image_ok,
    .code_ptr_bytes = 8,
};
