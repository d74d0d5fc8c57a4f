/* tlb_x86_64.c -- the software TLB of QEMU TCG sized to what a task uses.
 *
 * Under QEMU TCG a guest's TLB is a table inside QEMU that starts at 256
 * entries and is resized only when the guest flushes it (a CR3 reload): at
 * most doubled when more than 70% of it was filled since the previous
 * flush, shrunk to about what was used when less than 30% was for 100 ms.
 * A shard that never flushes keeps 256 entries, and a task with a
 * scattered working set of megabytes (a histogram hit at random, say)
 * misses on most accesses; a table much larger than the working set is
 * slow too (its lookups miss the host's caches). Tasks should not have to
 * know any of that, so while a task runs (mlos_hal_task_begin/end, called
 * by the runtime) the LAPIC timer interrupts every TICK_NS and its handler
 * (vectors_x86_64.S) reloads CR3: QEMU then keeps the table sized to the
 * task's working set. Growing it is slow when the host is loaded (a
 * doubling needs 70% of it filled within one period, which a thrashing
 * guest that gets little CPU does not reach), so the table is also grown
 * once, at the first sleep after HELLO (x86_late_init), to 8192 entries
 * (32 MiB of working set): read consecutive pages (one read each: they land
 * in consecutive entries) of an alias window that costs no memory, and
 * flush, five times. From there the ticks shrink it to what tasks use.
 *
 * Measured on neuro-cgi's kernels (2-core host shared with other builds):
 * several times faster than with no flush at all, but on a lightly loaded
 * host still slower than the flush every 65536 voxels the histogram task
 * used to do itself (x86_64 analysis of ch2bet on 2 slaves ~1.3-2.2 s
 * against ~0.7-0.9 s): a timer cannot know where a task's phases begin.
 * Periods of 0.25, 1, 2 and 4 ms were tried; 2 ms did best on the lightly
 * loaded host, 0.25 ms on a heavily loaded one.
 *
 * Interrupts are enabled for that time only; their handlers run on their
 * own stack (IST2, cpu_x86_64.c), so code built with a red zone is never
 * overwritten. Not under KVM (CPUID's hypervisor leaf says "KVMKVMKVM"):
 * there the CPU's own TLB does this job. On real hardware the flushes cost
 * a few refills a tick.
 */
#include <stdint.h>

#include "hal.h"
#include "x86_64.h"

#define TICK_NS 2000000u /* TLB refresh period while a task runs */
#define TLB_FIRST 256u   /* QEMU's initial table */
#define TLB_ROUNDS 5     /* 256 -> 8192 entries */

static int can_tick;               /* not under KVM, and the LAPIC timer works */
volatile uint32_t x86_tlb_ticking; /* a task runs with the tick on (read by the timer handler) */

static void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static int under_kvm(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    if (!(c & (1u << 31))) /* no hypervisor bit: TCG (its default CPU sets none) or real hardware */
        return 0;
    cpuid(0x40000000u, &a, &b, &c, &d);
    /* "KVMKVMKVM\0\0\0" in ebx, ecx, edx */
    return b == 0x4b4d564bu && c == 0x564b4d56u && d == 0x4du;
}

void x86_tlb_init(int irq_ok)
{
    /* The pages read to fill the table are the boot page tables' alias
     * window (X86_TLB_ALIAS_VA): 32 MiB of addresses over one 2 MiB page
     * that is resident anyway. QEMU fills its TLB per 4 KiB page even
     * inside a large page, so each read takes an entry, while touching
     * free guest RAM instead would have made 32 MiB of the host's memory
     * resident for nothing (and kept it from an elastic shrink). */
    const uintptr_t base = X86_TLB_ALIAS_VA;
    _Static_assert((TLB_FIRST << (TLB_ROUNDS - 1)) * MLOS_HAL_PAGE_SIZE <= X86_TLB_ALIAS_BYTES, "alias window");

    if (under_kvm())
        return;
    can_tick = irq_ok;
    for (unsigned k = 0; k < TLB_ROUNDS; k++) {
        for (unsigned p = 0; p < TLB_FIRST << k; p++)
            (void)*(volatile const uint8_t *)(base + (uintptr_t)p * MLOS_HAL_PAGE_SIZE);
        mlos_hal_tlb_refresh();
    }
}

/* Core 0 only: the tick flag is one for the shard, and the other cores'
 * task-state segments give interrupts no stack of their own (IST2), so a
 * task on another core runs without the tick (its TLB keeps QEMU's size). */
void mlos_hal_task_begin(void)
{
    if (!can_tick || mlos_hal_core_self() != 0)
        return;
    x86_tlb_ticking = 1;
    x86_apic_timer_periodic_ns(TICK_NS);
    __asm__ volatile("sti" ::: "memory");
}

void mlos_hal_task_end(void)
{
    if (!x86_tlb_ticking || mlos_hal_core_self() != 0)
        return;
    __asm__ volatile("cli" ::: "memory");
    x86_tlb_ticking = 0;
    x86_apic_timer_oneshot_ns(0);
}

/* mlos_hal_wait used the timer and left interrupts off: a task that
 * waited gets its tick back. */
void x86_tlb_tick_resume(void)
{
    if (!x86_tlb_ticking)
        return;
    x86_apic_timer_periodic_ns(TICK_NS);
    __asm__ volatile("sti" ::: "memory");
}
