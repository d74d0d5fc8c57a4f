/* qemu_ppc.h -- host-side helpers for bare-metal PowerPC shards in QEMU.
 *
 * The master runs each PowerPC shard as a QEMU "bamboo" board (PPC440EPb
 * core, 32-bit big-endian; hal/ppc/README.md says why) under TCG:
 *   - guest RAM is a caller-created memfd (an inherited fd), so the master
 *     maps the shared window straight from it: file offset == guest
 *     physical address; the window sits at the top of RAM;
 *   - the first UART is the shard console, written to QEMU's stdout;
 *   - the second UART is the doorbell, one byte per ring in each
 *     direction, carried by an inherited socket (one end of a socketpair);
 *   - the shard passes its exit status through the window header
 *     (rpc/abi/mlos_exit.h) and then resets the board, which ends
 *     QEMU because of -no-reboot: QEMU's own exit code is 0 then, and
 *     mlos_qemu_ppc_exit_status() reads the real status.
 *   - a group memory (mlos_group.h), if any, is an "ivshmem-plain" PCI
 *     device whose BAR2 the guest places at MLOS_QEMU_PPC_GROUP_GPA (the
 *     board has no second RAM range to offer; hal/ppc/ivshmem_bamboo.c).
 * The shard parameters reach the guest as the device tree's
 * /chosen/bootargs (-append). These helpers only format the command line
 * and decode the status; the caller creates the fds and spawns QEMU.
 */
#ifndef MLOS_QEMU_PPC_H
#define MLOS_QEMU_PPC_H

#include <stddef.h>
#include <stdint.h>

struct mlos_qemu_ppc_cfg {
    const char *qemu_path; /* e.g. "qemu-system-ppc" (searched in PATH by the spawner) */
    const char *image;     /* ELF32 big-endian PowerPC kernel (mlos-slave-ppc.elf); no commas */
    size_t ram_bytes;      /* guest RAM == size of ram_fd: a value mlos_qemu_ppc_ram_size() returned */
    int ram_fd;            /* memfd of ram_bytes, as numbered in the QEMU process */
    int doorbell_fd;       /* connected stream socket, as numbered in the QEMU process */
    const char *cmdline;   /* shard parameters ("key=value ..."); NULL or "" for none */
    size_t group_bytes;    /* group memory: a power of two, 1 MiB..MLOS_QEMU_PPC_GROUP_MAX; 0: none */
    int group_fd;          /* its memfd, as numbered in the QEMU process */
};

/* Where the guest puts the group memory's BAR: above the largest RAM the
 * board takes (1 GiB) and below its I/O space; a BAR is naturally aligned,
 * so the largest group that fits there is 1 GiB. */
#define MLOS_QEMU_PPC_GROUP_GPA 0x80000000u
#define MLOS_QEMU_PPC_GROUP_MAX ((size_t)1 << 30)

/* The smallest guest RAM size >= need that the bamboo board accepts (at
 * most 4 SDRAM banks of 4..256 MiB each, so 1 GiB at most), and never less
 * than 32 MiB (QEMU puts the device tree at 24 MiB). 0 if need > 1 GiB. */
size_t mlos_qemu_ppc_ram_size(size_t need);

/* Fill argv with a NULL-terminated QEMU command line for cfg, formatting
 * strings into buf (buflen bytes). Returns argc, or MLOS_EINVAL (bad cfg:
 * missing path, invalid RAM or group size, negative fd, image path with a
 * comma)
 * or MLOS_ETOOBIG (max_args or buflen too small). */
int mlos_qemu_ppc_argv(const struct mlos_qemu_ppc_cfg *cfg, char **argv, int max_args, char *buf, size_t buflen);

/* After QEMU exited: the status the shard reported in its window header
 * (len bytes at window). Returns 1 and sets *status, or 0 if the shard
 * reported nothing (died before finding its window, or a non-PowerPC
 * shard, whose HAL never writes that word). */
int mlos_qemu_ppc_exit_status(const void *window, size_t len, int *status);

#endif
