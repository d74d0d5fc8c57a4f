/* qemu_x86_64.h -- host-side helpers for bare-metal x86_64 shards in QEMU.
 *
 * The master runs each bare-metal shard as a QEMU microvm under TCG:
 *   - guest RAM is a caller-created memfd (passed as an inherited fd), so
 *     the master maps the shared window straight from it: file offset ==
 *     guest physical address; nothing is left behind in /dev/shm;
 *   - COM1 is the shard console, written to QEMU's stdout;
 *   - COM2 is the doorbell, one byte per ring in each direction, carried by
 *     an inherited socket (one end of a socketpair);
 *   - isa-debug-exit at port 0xf4 makes QEMU exit with (status << 1) | 1;
 *     -no-reboot turns a triple fault into a plain exit.
 * These helpers only format the command line and measure the host TSC; the
 * caller creates the fds, clears FD_CLOEXEC on them in the child (or dup2s
 * them to the numbers given in the config) and spawns the process.
 */
#ifndef MLOS_QEMU_X86_64_H
#define MLOS_QEMU_X86_64_H

#include <stddef.h>
#include <stdint.h>

struct mlos_qemu_x86_64_cfg {
    const char *qemu_path; /* e.g. "qemu-system-x86_64" (searched in PATH by the spawner) */
    const char *image;     /* Multiboot ELF32 (mlos-slave-x86_64.elf); no spaces or commas */
    size_t ram_bytes;      /* guest RAM == size of ram_fd; a multiple of 1 MiB, <= 3 GiB */
    int ram_fd;            /* memfd of ram_bytes, as numbered in the QEMU process */
    int doorbell_fd;       /* connected stream socket, as numbered in the QEMU process */
    const char *cmdline;   /* shard parameters ("key=value ..."); NULL or "" for none */
    int kvm;               /* nonzero: -accel kvm -cpu host (real hosts); else TCG */
    unsigned cores;        /* vCPUs: -smp N, under TCG multi-threaded (one host thread each); 0/1: one */
};

/* Fill argv with a NULL-terminated QEMU command line for cfg, formatting the
 * strings into buf (buflen bytes; argv entries point into buf or at cfg's
 * strings). Returns argc, or MLOS_EINVAL (bad cfg: missing path, RAM size
 * not a multiple of 1 MiB or above 3 GiB, negative fd, image path with a
 * space or comma) or MLOS_ETOOBIG (max_args or buflen too small). */
int mlos_qemu_x86_64_argv(const struct mlos_qemu_x86_64_cfg *cfg, char **argv, int max_args, char *buf,
                          size_t buflen);

/* The host TSC rate in Hz, measured once (2 ms, 20 ms on a busy host, against
 * CLOCK_MONOTONIC_RAW) and cached. Under TCG the guest TSC is the host TSC,
 * so the master passes this as mlos.tsc_hz= and the shard skips its own
 * calibration. 0 if the host has no usable TSC. Thread-safe. */
uint64_t mlos_host_tsc_hz(void);

#endif
