/* kind_ppc.c -- bare-metal PowerPC 440 shards in a QEMU bamboo board
 * (kind.h). The board takes only some RAM sizes and has no exit device:
 * the shard leaves its status in the window (qemu_ppc.h), read here. */
#include <stdio.h>
#include <string.h>

#include "kind.h"
#include "qemu_ppc.h"

#define MiB ((size_t)1024 * 1024)

static int layout(size_t mem, size_t win_len, size_t *ram, size_t *win_off)
{
    /* below the window: the allocator's memory and 8 MiB for the image,
     * at least 32 MiB (QEMU puts the device tree at 24 MiB) */
    size_t low = mem + 8 * MiB > 32 * MiB ? mem + 8 * MiB : 32 * MiB;
    if (low < mem || win_len + low < low)
        return MLOS_EINVAL;
    if (!(*ram = mlos_qemu_ppc_ram_size(win_len + low)))
        return MLOS_EINVAL; /* more than the board holds */
    *win_off = *ram - win_len;
    return 0;
}

static int command(const struct mlos_kind_spawn *s, struct mlos_kind_cmd *cmd)
{
    const struct mlos_spawn_opts *o = s->opts;
    /* no mlos.tsc_hz: the timebase rate comes from the board's device tree */
    int n = snprintf(cmd->buf, cmd->buflen, "mlos.window=0x%zx,0x%zx mlos.id=%u mlos.spin_us=%u mlos.mem=%zu", s->win_off,
                     s->win_len, s->shard_id, o->spin_us, s->mem_bytes);
    if (n >= 0 && (size_t)n < cmd->buflen && s->mem_max_bytes)
        n += snprintf(cmd->buf + n, cmd->buflen - (size_t)n, " mlos.mem_max=%zu", s->mem_max_bytes);
    if (n >= 0 && (size_t)n < cmd->buflen && s->group_bytes) /* a PCI BAR the guest places (qemu_ppc.h) */
        n += snprintf(cmd->buf + n, cmd->buflen - (size_t)n, " mlos.group=0x%x,0x%zx", MLOS_QEMU_PPC_GROUP_GPA,
                      s->group_bytes);
    if (n >= 0 && (size_t)n < cmd->buflen && s->boot_trace)
        n += snprintf(cmd->buf + n, cmd->buflen - (size_t)n, " mlos.boot_trace=1");
    if (n < 0 || (size_t)n >= cmd->buflen)
        return MLOS_ETOOBIG;
    struct mlos_qemu_ppc_cfg cfg = {
        .qemu_path = o->qemu ? o->qemu : "qemu-system-ppc",
        .image = s->image,
        .ram_bytes = s->ram_bytes,
        .ram_fd = s->ram_fd,
        .doorbell_fd = s->doorbell_fd,
        .cmdline = cmd->buf,
        .group_bytes = s->group_bytes,
        .group_fd = s->group_fd,
    };
    cmd->env[0] = 0;
    int rc = mlos_qemu_ppc_argv(&cfg, cmd->argv, cmd->max_args, cmd->buf + n + 1, cmd->buflen - (size_t)n - 1);
    return rc < 0 ? rc : 0;
}

static void describe_exit(int64_t status, const void *window, size_t len, char *how, size_t cap)
{
    int reported;
    /* The shard's reset under -no-reboot ends QEMU with 0; the status it
     * meant is in the window, reported in the same encoding as x86_64's. */
    if (status == 0 && mlos_qemu_ppc_exit_status(window, len, &reported))
        status = (int64_t)reported << 1 | 1;
    mlos__kind_describe_qemu_exit(status, how, cap);
}

static int plain_image_ok(const struct mlos_image_info *info) { return !strcmp(info->arch, "ppc"); }

const struct mlos_kind mlos__kind_ppc = {
    .name = "ppc",
    .default_image = "mlos-slave-ppc.elf",
    .own_env = 0,
    .layout = layout,
    .low_reserved = 1 * MiB,
    .can_pause = 1,
    .max_cores = 1,
    .one_core_why = "QEMU's bamboo board is a single PowerPC 440",
    .command = command,
    .describe_exit = describe_exit,
    .plain_image_ok = plain_image_ok,
    .code_ptr_bytes = 4,
};
