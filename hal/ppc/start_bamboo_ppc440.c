/* start_bamboo_ppc440.c -- C entry of the bare-metal PowerPC shard, exit, identity.
 *
 * Called once by boot_bamboo_ppc440.S with .bss zeroed, the stack-protector
 * guard seeded, the device tree and the timebase at entry. Brings the HAL up in dependency
 * order, runs the portable shard, and exits with its status.
 *
 * Exit (see mlos_exit.h): the status goes into the window header,
 * then a system reset is requested through DBCR0; the master runs QEMU
 * with -no-reboot, so the reset ends QEMU and the master reads the status
 * from the window.
 */
#include <stdint.h>
#include <stdio.h>

#include "boottrace.h"
#include "hal.h"
#include "mlos_endian.h"
#include "ppc440.h"
#include "mlos_exit.h"
#include "mlos_window_hdr.h"

/* -mstack-protector-guard=global: the canary; seeded by the boot code. */
uintptr_t __stack_chk_guard;

_Noreturn void ppc_start(const void *fdt, uint32_t tbu_entry, uint32_t tbl_entry);
_Noreturn void ppc_start(const void *fdt, uint32_t tbu_entry, uint32_t tbl_entry)
{
    uint64_t tb0 = ppc_timebase(); /* clock origin: as early as C allows */

    mlos_boottrace_mark_at("entry", (uint64_t)tbu_entry << 32 | tbl_entry);
    mlos_boottrace_mark_at("bss", tb0);
    ppc440_vectors_init(); /* from here on faults are reported */
    mlos_hal_boot_mark("vectors");
    ppc_uart_init(BAMBOO_UART0, 0);
    mlos_hal_boot_mark("uart0");
    ppc_bootinfo_init(fdt); /* copies the tree's data, maps RAM */
    mlos_hal_boot_mark("bootinfo");
    ppc_clock_init(tb0, ppc_bootinfo_tb_hz());
    ppc_uart_init(BAMBOO_UART1, 1);
    mlos_hal_boot_mark("uart1");
    int irq_ok = ppc440_uic_init(BAMBOO_UIC_DOORBELL_IRQ) == 0;
    ppc_wait_init(irq_ok);
    mlos_hal_boot_mark("uic");
    mlos_hal_exit(mlos_shard_main());
}

/* The boot banner, once: on the first sleep (after HELLO: under QEMU TCG,
 * formatting and printing it cost about a millisecond of translated code
 * that nothing before HELLO needs) or at exit for a shard that never
 * slept. */
void ppc_banner(void)
{
    static int done;
    char line[160];

    if (done)
        return;
    done = 1;
    snprintf(line, sizeof(line), "mlos: ppc440 HAL up: pvr %08x msr %08x, timebase %u Hz%s\n", (unsigned)mfspr(SPR_PVR),
             (unsigned)mfmsr(), (unsigned)ppc_bootinfo_tb_hz(),
             ppc_wait_interrupts() ? "" : ", NO interrupts: waits poll the doorbell UART");
    ppc_console_puts(line);
}

_Noreturn void mlos_hal_exit(int status)
{
    void *base;
    size_t len;

    ppc_banner();
    if (mlos_hal_window(&base, &len) == 0 && len >= sizeof(struct mlos_window_hdr)) {
        struct mlos_window_hdr *h = base;
        h->reserved[MLOS_PPC_EXIT_SLOT] = mlos_to_le64(mlos_ppc_exit_word(status));
    }
    ppc_sync(); /* the status is in memory before QEMU stops */
    mtspr(SPR_DBCR0, DBCR0_RST_SYSTEM);
    for (;;) /* no reset: sleep with interrupts off until killed */
        mtmsr((mfmsr() & ~MSR_EE) | MSR_WE);
}

const char *mlos_hal_arch(void) { return "ppc"; }

/* The 440's TLB is the guest's own (static entries set up at boot); no
 * flush that would let QEMU grow its soft TLB is cheap here. */
void mlos_hal_tlb_refresh(void) {}
void mlos_hal_task_begin(void) {} /* its TLB is the guest's own (software-loaded) */
void mlos_hal_task_end(void) {}
