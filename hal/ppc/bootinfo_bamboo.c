/* bootinfo_bamboo.c -- command line, timebase rate, RAM, free memory and
 * the window from the device tree QEMU's bamboo loader passes in r3.
 *
 * QEMU fills the tree (its bamboo.dtb, edited at boot) with:
 *   /chosen/bootargs                 the -append string: the shard parameters
 *   /memory/reg                      <address size> of all RAM (at 0)
 *   /cpus/cpu@0/timebase-frequency   the timebase rate (400 MHz)
 * Everything is copied out at boot, so the HAL never reads the tree again.
 * RAM is then mapped (tlb_ppc440.c) and the free regions are the mapped RAM
 * minus: the image including .bss and stacks, the device tree, and the
 * shared window. Regions are page aligned inward.
 *
 * The window comes from "mlos.window=0x<gpa>,0x<size>". The master places
 * it at the top of guest RAM (a memfd, so file offset == guest physical
 * address). A group memory, if any, is a PCI device (ivshmem_bamboo.c).
 *
 * Only what HELLO needs is done before it: the parameters, the timebase
 * rate and the RAM size (to check the window against). The loader's two
 * TLB entries map everything meanwhile; our own map (tlb_ppc440.c), the
 * group memory's device and the free regions are set up after HELLO
 * (read_map, through mlos_bootmem_defer_map), before the first call.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bootmem.h"
#include "fdt.h"
#include "hal.h"
#include "mlos_exit.h"
#include "ppc440.h"

#define DEFAULT_TB_HZ 400000000u

static uint32_t tb_hz;
static const void *boot_fdt;
static uint32_t boot_fdt_size;
static uint64_t boot_ram_hi;

/* ppc440_tlb_init maps all RAM below 2 GiB in 1, 16 and 256 MiB pages:
 * from 1 MiB that takes at most 37 entries of the 61 it has, so what it
 * maps is known before it runs. */
static uint64_t mappable_top(uint64_t ram_hi)
{
    uint64_t top = ram_hi > 0x80000000ull ? 0x80000000ull : ram_hi;
    return top & ~(uint64_t)0xfffff;
}

/* After HELLO: our own TLB entries, the group memory, the free regions. */
static void read_map(void)
{
    uint64_t mapped_top;

    if (ppc440_tlb_init(boot_ram_hi, &mapped_top) < 0)
        ppc_console_puts("mlos: TLB full: RAM above the mapped limit is not used\n");
    ppc_ivshmem_group_init();
    mlos_bootmem_add_ram(PPC440_LOW_UNMAPPED, mapped_top);
    mlos_bootmem_reserve((uintptr_t)__image_start, (uintptr_t)(__image_end - __image_start));
    mlos_bootmem_reserve((uintptr_t)boot_fdt, boot_fdt_size);
    mlos_bootmem_finish();
}

/* What the boot reads from the tree, looked up from one call site: before
 * HELLO every call return and branch target costs a TCG translation. */
enum { P_BOOTARGS, P_TB_HZ, P_ADDR_CELLS, P_SIZE_CELLS, P_MEM_REG, NPROPS };
static const struct {
    const char *path, *name;
} props[NPROPS] = {
    {"/chosen", "bootargs"}, {"/cpus/cpu@0", "timebase-frequency"}, {"/", "#address-cells"},
    {"/", "#size-cells"},    {"/memory", "reg"},
};

/* The tree is big-endian and only 4-byte aligned: read bytes. */
static inline uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* A value of n (1 or 2) cells at p, straight-line. */
static inline uint64_t cells(const uint8_t *p, uint32_t n)
{
    uint64_t hi = be32(p), lo = be32(p + 4 * (n - 1));
    return n == 2 ? hi << 32 | lo : lo;
}

void ppc_bootinfo_init(const void *fdt)
{
    uint32_t fdt_size = fdt_total_size(fdt), len[NPROPS];
    const uint8_t *v[NPROPS];
    uint64_t ram_lo = 0, ram_hi = 0;

    if (!fdt_size) {
        ppc_console_puts("mlos: no device tree in r3: not booted by QEMU's bamboo loader?\n");
        mlos_hal_exit(MLOS_SHARD_EXIT_BOOT);
    }
    for (int i = 0; i < NPROPS; i++) {
        len[i] = 0;
        v[i] = fdt_getprop(fdt, props[i].path, props[i].name, &len[i]);
        len[i] = v[i] ? len[i] : 0; /* absent: length 0, so no test below passes */
    }
    if (v[P_BOOTARGS])
        mlos_bootmem_set_cmdline((const char *)v[P_BOOTARGS], len[P_BOOTARGS]);
    uint32_t tl = len[P_TB_HZ];
    tb_hz = (tl == 4) | (tl == 8) ? (uint32_t)cells(v[P_TB_HZ], tl / 4) : 0;
    if (!tb_hz) {
        ppc_console_puts("mlos: no timebase-frequency in the device tree; assuming 400 MHz\n");
        tb_hz = DEFAULT_TB_HZ;
    }
    uint32_t ac = len[P_ADDR_CELLS] == 4 ? be32(v[P_ADDR_CELLS]) : 2;
    uint32_t sc = len[P_SIZE_CELLS] == 4 ? be32(v[P_SIZE_CELLS]) : 1;
    if ((ac - 1 <= 1) & (sc - 1 <= 1) & (len[P_MEM_REG] >= 4 * (ac + sc))) {
        ram_lo = cells(v[P_MEM_REG], ac);
        ram_hi = ram_lo + cells(v[P_MEM_REG] + 4 * ac, sc);
    }
    if (ram_lo != 0 || ram_hi <= PPC440_LOW_UNMAPPED) {
        ppc_console_puts("mlos: no usable /memory in the device tree\n");
        mlos_hal_exit(MLOS_SHARD_EXIT_BOOT);
    }

    mlos_bootmem_parse_window(PPC440_LOW_UNMAPPED, mappable_top(ram_hi));
    boot_fdt = fdt;
    boot_fdt_size = fdt_size;
    boot_ram_hi = ram_hi;
    mlos_bootmem_defer_map(read_map);
}

uint32_t ppc_bootinfo_tb_hz(void) { return tb_hz; }
