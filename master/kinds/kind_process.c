/* kind_process.c -- process shards: mlos-shard-process (or an image built
 * by `mlos build --arch process`) as a Linux process on this host (kind.h).
 * The memfd is just the window; the shard maps it from fd 4 and reads its
 * parameters from MLOS_SHARD_ARGS in the explicit environment it gets. */
#include <stdio.h>
#include <string.h>

#include "kind.h"

static int layout(size_t mem, size_t win_len, size_t *ram, size_t *win_off)
{
    (void)mem; /* the shard's allocator takes its memory from its own process */
    *ram = win_len;
    *win_off = 0;
    return 0;
}

static int command(const struct mlos_kind_spawn *s, struct mlos_kind_cmd *cmd)
{
    int n = snprintf(cmd->env, cmd->envlen, "MLOS_SHARD_ARGS=mlos.window=0x0,0x%zx mlos.id=%u mlos.mem=%zu mlos.spin_us=%u",
                     s->win_len, s->shard_id, s->mem_bytes, s->opts->spin_us);
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
    .command = command,
    .describe_exit = describe_exit,
    .plain_image_ok = plain_image_ok,
    .code_ptr_bytes = 8,
};
