/* mlos_exit.h -- the exit statuses of a shard, and how a PowerPC shard
 * reports one.
 *
 * A shard's exit status is part of what master and shard agree on: the
 * master turns it into the text of MLOS_ESHARDDIED/MLOS_ESPAWN. The STOP
 * message carries the status a well-behaved shard exits with (0 normally);
 * the codes below are the ones the shard picks itself when something goes
 * wrong, kept apart so the master can tell them from each other. One list,
 * here, for every HAL, the libc and the runtime. x86_64 encodes a status s
 * as QEMU exit code (s << 1) | 1 (isa-debug-exit); process shards exit(s).
 */
#ifndef MLOS_EXIT_H
#define MLOS_EXIT_H

#include <stdint.h>

#define MLOS_SHARD_EXIT_BOOT 94   /* HAL: not booted as expected (no Multiboot, no device tree, no RAM) */
#define MLOS_SHARD_EXIT_NOMEM 95  /* runtime: memory could not be set up */
#define MLOS_SHARD_EXIT_PROTO 96  /* runtime/HAL: the master broke the protocol (bad window, bad frame) */
#define MLOS_SHARD_EXIT_STACK 97  /* libc: stack smashing detected (-fstack-protector) */
#define MLOS_SHARD_EXIT_ABORT 98  /* libc: abort() or a failed assert() */
#define MLOS_SHARD_EXIT_CRASH 99  /* HAL: fatal CPU exception */

/* PowerPC: QEMU's bamboo machine has no isa-debug-exit, and a
 * guest-requested reset under -no-reboot makes QEMU exit with code 0
 * whatever the guest meant. So the status travels through the shared
 * window instead:
 *
 *   1. mlos_hal_exit(status) stores mlos_ppc_exit_word(status) as a
 *      little-endian u64 into the window header's reserved[MLOS_PPC_EXIT_SLOT]
 *      (mlos_window_hdr.h; the master formats the window with it zero),
 *   2. then requests a system reset (DBCR0[RST] = 0b11);
 *   3. QEMU, started with -no-reboot, exits;
 *   4. the master, seeing QEMU exit, reads the word from its mapping of the
 *      same memfd (master/kinds/qemu_ppc.h: mlos_qemu_ppc_exit_status).
 *
 * The slot is written only by the shard, only once, at exit. A shard that
 * never found its window cannot report: the master then sees QEMU's code
 * 0 without the word and says so.
 */
#define MLOS_PPC_EXIT_SLOT 6            /* index into mlos_window_hdr.reserved[] */
#define MLOS_PPC_EXIT_MAGIC 0x45584954u /* "EXIT": tells a report from zeroed memory */

static inline uint64_t mlos_ppc_exit_word(int status)
{
    return (uint64_t)MLOS_PPC_EXIT_MAGIC << 32 | (uint32_t)status;
}

/* 1 and *status if word is a report, else 0. */
static inline int mlos_ppc_exit_decode(uint64_t word, int *status)
{
    if ((uint32_t)(word >> 32) != MLOS_PPC_EXIT_MAGIC)
        return 0;
    *status = (int)(uint32_t)word;
    return 1;
}

#endif
