/* tlb_ppc440.c -- the 440's software-managed TLB: our own memory map.
 *
 * QEMU's bamboo loader enters the image with two TLB entries mapping all
 * 4 GiB 1:1 (slots 0 and 1). That would let a wild pointer scribble over
 * anything, so we replace them with:
 *   - RAM from 1 MiB to its top, 1:1, supervisor read/write/execute, in the
 *     largest 440 page sizes that fit the alignment (1 MiB, 16 MiB,
 *     256 MiB). The first MiB stays unmapped so NULL pointers fault.
 *   - the board's I/O page (UARTs), caching-inhibited and guarded.
 *   - on request (ivshmem_bamboo.c): a PCI configuration page, briefly,
 *     and the group memory's BAR, read/write but never executable.
 * Anything else -- a wild pointer such as the crash task's -- takes a
 * data TLB miss, which is fatal (exception_ppc440.c).
 *
 * All entries are global (TID 0, translation space 0). The new entries
 * go into slots 2.. while the loader's slot 0 still covers the code doing
 * this; then slots 0, 1 and the unused rest are invalidated. QEMU resolves
 * the brief overlap by slot order (the translations are identical anyway);
 * invalidating a valid entry makes it flush its own TLB cache.
 *
 * 440 TLB words (tlbwe RS,RA,WS):
 *   0 PAGEID: EPN[0:21] | V 0x200 | TS 0x100 | SIZE << 4  (TID from MMUCR)
 *   1 XLAT:   RPN[0:21] | ERPN (bits 28:31, 0 here)
 *   2 ATTRIB: W 0x800 I 0x400 M 0x200 G 0x100 E 0x80 | UX UW UR 0x38 | SX SW SR 0x7
 */
#include <stdint.h>

#include "ppc440.h"

#define TLB_SLOTS 64
#define FIRST_SLOT 2 /* 0 and 1 belong to the loader until we are done */
#define IO_SLOT (TLB_SLOTS - 1)

#define TLB0_V 0x200u
#define TLB_SIZE_1M 5u
#define TLB_SIZE_16M 7u
#define TLB_SIZE_256M 9u
#define TLB_SIZE_4K 1u

static uint32_t next_slot = FIRST_SLOT;

static void tlb_write(uint32_t slot, uint32_t w0, uint32_t w1, uint32_t w2)
{
    __asm__ volatile("tlbwe %0, %3, 0\n\t"
                     "tlbwe %1, %3, 1\n\t"
                     "tlbwe %2, %3, 2\n\t"
                     "isync" ::"r"(w0), "r"(w1), "r"(w2), "r"(slot) : "memory");
}

static void tlb_invalidate(uint32_t slot)
{
    __asm__ volatile("tlbwe %0, %1, 0\n\tisync" ::"r"(0u), "r"(slot) : "memory");
}

/* 32-bit arithmetic throughout: everything mapped lies below 4 GiB, and
 * 64-bit arithmetic is a libgcc call on this CPU (translated at boot
 * under TCG). */
int ppc440_tlb_map(uint32_t base, uint32_t top, uint32_t attrib, uint32_t *mapped_top)
{
    static const struct {
        uint32_t bytes, code;
    } sizes[] = { { 256u << 20, TLB_SIZE_256M }, { 16u << 20, TLB_SIZE_16M }, { 1u << 20, TLB_SIZE_1M } };
    uint32_t a = base;
    int rc = 0;

    while (a < top && top - a >= (1u << 20)) {
        if (next_slot == IO_SLOT) {
            rc = -1;
            break;
        }
        int i = 0;
        while (a % sizes[i].bytes || top - a < sizes[i].bytes)
            i++;
        tlb_write(next_slot++, a | TLB0_V | sizes[i].code << 4, a, attrib);
        a += sizes[i].bytes;
    }
    *mapped_top = a;
    return rc;
}

int ppc440_tlb_init(uint64_t ram_top, uint64_t *mapped_top)
{
    uint32_t top;

    mtspr(SPR_MMUCR, 0); /* STID 0: the entries we write are global */
    mtspr(SPR_PID, 0);
    __asm__ volatile("isync" ::: "memory");
    if (ram_top > 0x80000000ull) /* stay clear of the PCI and I/O space at the top */
        ram_top = 0x80000000ull;
    int rc = ppc440_tlb_map(PPC440_LOW_UNMAPPED, (uint32_t)ram_top, TLB2_SX_SW_SR, &top);
    *mapped_top = top;
    tlb_write(IO_SLOT, BAMBOO_IO_PAGE | TLB0_V | TLB_SIZE_4K << 4, BAMBOO_IO_PAGE, TLB2_I | TLB2_G | TLB2_SW_SR);
    tlb_invalidate(0);
    tlb_invalidate(1);
    for (uint32_t s = next_slot; s < IO_SLOT; s++)
        tlb_invalidate(s);
    return rc;
}

void ppc440_tlb_map_io(uint32_t page)
{
    if (next_slot < IO_SLOT)
        tlb_write(next_slot++, page | TLB0_V | TLB_SIZE_4K << 4, page, TLB2_I | TLB2_G | TLB2_SW_SR);
}

void ppc440_tlb_unmap_last(void)
{
    if (next_slot > FIRST_SLOT)
        tlb_invalidate(--next_slot);
}
