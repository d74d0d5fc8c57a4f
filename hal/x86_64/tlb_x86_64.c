/* tlb_x86_64.c -- a software TLB sized for large working sets, under an
 * emulator.
 *
 * Under QEMU TCG a guest's TLB is a table inside QEMU that starts at 256
 * entries and is resized only when the guest flushes it (a CR3 reload), by
 * at most a doubling per flush, and only if more than 70% of it was filled
 * since the previous flush. A shard never flushes on its own, so it would
 * keep 256 entries forever, and a task with a scattered working set of
 * megabytes (a histogram hit at random, say) would miss on most accesses:
 * two to three times slower. Tasks should not have to know that, so the
 * HAL grows the table once at boot: it fills it with consecutive pages
 * (one read each: consecutive pages land in consecutive entries) and
 * flushes, five times, which leaves 8192 entries (32 MiB of working set).
 * Nothing flushes afterwards, so it keeps that size.
 *
 * Not under KVM (CPUID's hypervisor leaf says "KVMKVMKVM"): there the CPU's
 * own TLB does this job, and reading guest memory nobody touched yet would
 * only cost exits. QEMU's default TCG CPU sets no hypervisor bit at all, so
 * an emulator cannot be recognised positively; on real hardware the same
 * few thousand reads and five flushes cost well under a millisecond.
 */
#include <stdint.h>

#include "hal.h"
#include "x86_64.h"

#define TLB_FIRST 256u   /* QEMU's initial table */
#define TLB_ROUNDS 5     /* 256 -> 8192 entries */

static void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static int under_kvm(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    if (!(c & (1u << 31))) /* no hypervisor bit: TCG or real hardware */
        return 0;
    cpuid(0x40000000u, &a, &b, &c, &d);
    /* "KVMKVMKVM\0\0\0" in ebx, ecx, edx */
    return b == 0x4b4d564bu && c == 0x564b4d56u && d == 0x4du;
}

void x86_tlb_grow(void)
{
    struct mlos_hal_region r[16];
    int n = mlos_hal_mem_regions(r, 16);
    uintptr_t base = 0;
    size_t need = (size_t)(TLB_FIRST << (TLB_ROUNDS - 1)) * MLOS_HAL_PAGE_SIZE;

    if (under_kvm())
        return;
    for (int i = 0; i < n && i < 16 && !base; i++) {
        uintptr_t b = (r[i].base + MLOS_HAL_PAGE_SIZE - 1) & ~(uintptr_t)(MLOS_HAL_PAGE_SIZE - 1);
        if (b + need <= r[i].base + r[i].len)
            base = b;
    }
    if (!base)
        return; /* less memory than that: the small table will do */
    for (unsigned k = 0; k < TLB_ROUNDS; k++) {
        unsigned pages = TLB_FIRST << k;
        for (unsigned p = 0; p < pages; p++)
            (void)*(volatile const uint8_t *)(base + (uintptr_t)p * MLOS_HAL_PAGE_SIZE);
        mlos_hal_tlb_refresh();
    }
}
