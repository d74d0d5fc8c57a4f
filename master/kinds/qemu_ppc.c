/* qemu_ppc.c -- QEMU command line and exit status for PowerPC shards; see qemu_ppc.h. */
#include "qemu_ppc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mlos_endian.h"
#include "qemu_common.h"
#include "mlos_error.h"
#include "mlos_exit.h"
#include "window.h"

#define MIB ((size_t)1024 * 1024)
#define MAX_BANKS 4
#define MIN_RAM (32 * MIB)
#define MAX_RAM (1024 * MIB)

/* QEMU's 4xx SDRAM model splits RAM greedily into at most MAX_BANKS banks
 * of these sizes and refuses any remainder. */
static int bamboo_ram_ok(size_t bytes)
{
    static const size_t bank[] = { 256 * MIB, 128 * MIB, 64 * MIB, 32 * MIB, 16 * MIB, 8 * MIB, 4 * MIB };
    size_t left = bytes;
    for (int b = 0; b < MAX_BANKS && left; b++) {
        size_t i = 0;
        while (i < sizeof(bank) / sizeof(bank[0]) && bank[i] > left)
            i++;
        if (i == sizeof(bank) / sizeof(bank[0]))
            return 0;
        left -= bank[i];
    }
    return left == 0;
}

size_t mlos_qemu_ppc_ram_size(size_t need)
{
    size_t r = need < MIN_RAM ? MIN_RAM : (need + 4 * MIB - 1) / (4 * MIB) * (4 * MIB);
    for (; r <= MAX_RAM; r += 4 * MIB)
        if (bamboo_ram_ok(r))
            return r;
    return 0;
}

int mlos_qemu_ppc_argv(const struct mlos_qemu_ppc_cfg *cfg, char **argv, int max_args, char *buf, size_t buflen)
{
    struct argv_builder b = { argv, 0, max_args, buf, 0, buflen, 0 };

    if (!cfg || !argv || !buf || max_args < 1 || !cfg->qemu_path || !cfg->image || cfg->ram_fd < 0 ||
        cfg->doorbell_fd < 0 || cfg->ram_bytes < MIN_RAM || cfg->ram_bytes % MIB || !bamboo_ram_ok(cfg->ram_bytes))
        return MLOS_EINVAL;
    if (strchr(cfg->image, ',')) /* would need escaping in QEMU option syntax */
        return MLOS_EINVAL;
    /* a PCI BAR: a power of two */
    if (cfg->group_bytes && (cfg->group_bytes < MIB || cfg->group_bytes > MLOS_QEMU_PPC_GROUP_MAX ||
                             (cfg->group_bytes & (cfg->group_bytes - 1)) || cfg->group_fd < 0))
        return MLOS_EINVAL;

    mlos_argv_add(&b, cfg->qemu_path);
    mlos_argv_add(&b, "-M");
    mlos_argv_add(&b, "bamboo");
    mlos_argv_add(&b, "-nodefaults");
    mlos_argv_add(&b, "-no-user-config");
    mlos_argv_add(&b, "-display");
    mlos_argv_add(&b, "none");
    mlos_argv_add(&b, "-accel");
    mlos_argv_add(&b, "tcg");
    mlos_qemu_add_ram(&b, cfg->ram_bytes, cfg->ram_fd);
    mlos_qemu_add_console_and_doorbell(&b, cfg->doorbell_fd);
    mlos_argv_add(&b, "-serial");
    mlos_argv_add(&b, "chardev:db");
    if (cfg->group_bytes) {
        mlos_argv_add(&b, "-object");
        mlos_argv_addf(&b, "memory-backend-file,id=grp,size=%zu,mem-path=/proc/self/fd/%d,share=on",
                       cfg->group_bytes, cfg->group_fd);
        mlos_argv_add(&b, "-device");
        mlos_argv_add(&b, "ivshmem-plain,memdev=grp");
    }
    return mlos_qemu_finish(&b, cfg->image, cfg->cmdline);
}

int mlos_qemu_ppc_exit_status(const void *window, size_t len, int *status)
{
    const struct mlos_window_hdr *h = window;
    uint64_t word;

    if (!window || len < sizeof(*h))
        return 0;
    memcpy(&word, &h->reserved[MLOS_PPC_EXIT_SLOT], sizeof(word));
    return mlos_ppc_exit_decode(mlos_from_le64(word), status);
}
