/* kind_process.c -- process shards: mlos-shard-process (or an image built
 * by `mlos build --arch process`) as a Linux process on this host (kind.h).
 * The memfd is just the window; the shard maps it from fd 4 and reads its
 * parameters from MLOS_SHARD_ARGS in the explicit environment it gets. */
#include <stdio.h>
#include <string.h>

#include "kind.h"

static int layout(size_t mem, size_t win_len, size_t *ram, size_t *win_off)
{
    /* the window, then the allocator's arena in the same memory file, so
     * that what the shard gives back can be punched out by the master */
    size_t arena = (mem + 4095) / 4096 * 4096;
    if (arena < mem || win_len + arena < arena)
        return MLOS_EINVAL;
    *ram = win_len + arena;
    *win_off = 0;
    return 0;
}

static int command(const struct mlos_kind_spawn *s, struct mlos_kind_cmd *cmd)
{
    int n = snprintf(cmd->env, cmd->envlen,
                     "MLOS_SHARD_ARGS=mlos.window=0x0,0x%zx mlos.arena=0x%zx,0x%zx mlos.id=%u mlos.spin_us=%u "
                     "mlos.mem=%zu",
                     s->win_len, s->win_len, s->ram_bytes - s->win_len, s->shard_id, s->opts->spin_us, s->mem_bytes);
    if (n >= 0 && (size_t)n < cmd->envlen && s->group_bytes) /* from its own descriptor (group_fd) */
        n += snprintf(cmd->env + n, cmd->envlen - (size_t)n, " mlos.group=0x0,0x%zx", s->group_bytes);
    if (n >= 0 && (size_t)n < cmd->envlen && s->mem_max_bytes)
        n += snprintf(cmd->env + n, cmd->envlen - (size_t)n, " mlos.mem_max=%zu", s->mem_max_bytes);
    if (n >= 0 && (size_t)n < cmd->envlen && s->boot_trace)
        n += snprintf(cmd->env + n, cmd->envlen - (size_t)n, " mlos.boot_trace=1");
    if (n < 0 || (size_t)n >= cmd->envlen || cmd->max_args < 2)
        return MLOS_ETOOBIG;
    cmd->argv[0] = (char *)s->image;
    cmd->argv[1] = NULL;
    return 0;
}

static void describe_exit(int64_t status, const void *window, size_t len, char *how, size_t cap)
{
    (void)window;
    (void)len;
    snprintf(how, cap, "exited with code %d", (int)status);
}

static int plain_image_ok(const struct mlos_image_info *info)
{
    if (!strcmp(info->arch, "process")) /* has a program interpreter */
        return 1;
#if defined(__x86_64__)
    /* A static x86-64 program could be either kind of x86_64 shard. */
    return !strcmp(info->arch, "x86_64") && !strncmp(info->machine, "x86-64/", 7);
#else
    return 0;
#endif
}

const struct mlos_kind mlos__kind_process = {
    .name = "process",
    .default_image = "mlos-shard-process",
    .own_env = 1,
    .layout = layout,
    .max_cores = 1,
    .one_core_why = "the process HAL is single-threaded",
    .command = command,
    .describe_exit = describe_exit,
    .plain_image_ok = plain_image_ok,
    .code_ptr_bytes = 8,
};
