/* start_x86_64.c -- C entry of the bare-metal x86_64 shard, exit, identity.
 *
 * Called once by boot_multiboot_x86_64.S in long mode with SSE, the
 * stack-protector canary and a zeroed .bss already set up. Brings up what
 * the shard needs to say HELLO, in dependency order, runs the portable
 * shard, and exits with its status through isa-debug-exit. Under QEMU TCG
 * every instruction run for the first time costs its translation (about
 * half a microsecond here), so what can wait does: the interrupt
 * controllers and the banner until the first sleep (x86_late_init), COM1
 * until the first console output. A shard with several cores sets up the
 * interrupt controllers at boot: its other cores are started with IPIs.
 */
#include <stdint.h>
#include <stdio.h>

#include "boottrace.h"
#include "mlos_bootargs.h"
#include "hal.h" /* mlos_shard_main: the library OS entry (it starts the memory service itself) */
#include "x86_64.h"

_Noreturn void x86_start(uint32_t magic, uint32_t mbi_phys, uint64_t tsc_entry);
_Noreturn void x86_start(uint32_t magic, uint32_t mbi_phys, uint64_t tsc_entry)
{
    uint64_t tsc0 = rdtsc(); /* clock origin: as early as C allows */

    mlos_boottrace_mark_at("entry", tsc_entry);
    mlos_boottrace_mark_at("long mode+bss", tsc0);
    x86_cpu_init();                      /* from here on faults are reported */
    mlos_hal_boot_mark("cpu");
    x86_bootinfo_init(magic, mbi_phys); /* copies the command line first */
    mlos_hal_boot_mark("bootinfo");
    x86_clock_init(mlos_hal_cmdline(), tsc0);
    mlos_hal_boot_mark("clock");
    /* Before HELLO: enabling the FIFO clears it, which must not eat a
     * doorbell the master sends after HELLO. COM1, the interrupt
     * controllers and the banner come later (x86_late_init, first output). */
    x86_uart_init(X86_COM2, 1);
    mlos_hal_boot_mark("com2");
    /* mlos.cores=N>1: the other cores are started now, by IPIs from the
     * LAPIC, so the interrupt controllers cannot wait for the first sleep
     * on such a shard; a one-core shard keeps them deferred. */
    uint64_t cores = 1;
    if (mlos_bootarg_u64(mlos_hal_cmdline(), "mlos.cores", 0, &cores) == 0 && cores > 1) {
        x86_smp_init(mlos_hal_cmdline(), x86_irq_init());
        mlos_hal_boot_mark("cores");
    }

    mlos_hal_exit(mlos_shard_main());
}

_Noreturn void mlos_hal_exit(int status)
{
    x86_banner();
    /* isa-debug-exit: QEMU exits with (status << 1) | 1. */
    outl(0xf4, (uint32_t)status);
    for (;;) /* no exit device: stop here */
        __asm__ volatile("cli; hlt");
}

const char *mlos_hal_arch(void) { return "x86_64"; }

void mlos_hal_tlb_refresh(void)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3)::"memory");
}
