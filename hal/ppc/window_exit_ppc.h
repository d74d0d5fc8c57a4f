/* window_exit_ppc.h -- how a PowerPC shard reports its exit status.
 *
 * QEMU's bamboo machine has no isa-debug-exit, and a guest-requested reset
 * under -no-reboot makes QEMU exit with code 0 whatever the guest meant.
 * So the status travels through the shared window instead:
 *
 *   1. mlos_hal_exit(status) stores MLOS_PPC_EXIT_WORD(status) as a
 *      little-endian u64 into the window header's reserved[MLOS_PPC_EXIT_SLOT]
 *      (rpc/window.h; the master formats the window with it zero),
 *   2. then requests a system reset (DBCR0[RST] = 0b11);
 *   3. QEMU, started with -no-reboot, exits;
 *   4. the master, seeing QEMU exit, reads the word from its mapping of the
 *      same memfd (master/kinds/qemu_ppc.h: mlos_qemu_ppc_exit_status).
 *
 * The slot is written only by the shard, only once, at exit. A shard that
 * never found its window cannot report: the master then sees QEMU's code
 * 0 without the word and says so.
 */
#ifndef MLOS_WINDOW_EXIT_PPC_H
#define MLOS_WINDOW_EXIT_PPC_H

#include <stdint.h>

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
