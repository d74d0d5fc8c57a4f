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
 * address).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fdt.h"
#include "hal.h"
#include "mlos_bootargs.h"
#include "mlos_error.h"
#include "ppc440.h"

#define CMDLINE_MAX 4096
#define MAX_REGIONS 8
#define PAGE MLOS_HAL_PAGE_SIZE
#define DEFAULT_TB_HZ 400000000u

struct range {
    uint64_t lo, hi; /* [lo, hi) */
};

static char cmdline[CMDLINE_MAX];
static struct mlos_hal_region regions[MAX_REGIONS];
static int nregions;
static void *window_base;
static size_t window_len;
static uint32_t tb_hz;

/* Remove [h.lo, h.hi) from the range list, splitting where needed. */
static void punch(struct range *r, int *n, struct range h)
{
    for (int i = 0; i < *n; i++) {
        if (h.hi <= r[i].lo || h.lo >= r[i].hi)
            continue;
        if (h.lo > r[i].lo && h.hi < r[i].hi && *n < MAX_REGIONS) {
            r[(*n)++] = (struct range){ h.hi, r[i].hi }; /* the part above the hole */
            r[i].hi = h.lo;
        } else if (h.lo > r[i].lo) {
            r[i].hi = h.lo;
        } else {
            r[i].lo = h.hi > r[i].hi ? r[i].hi : h.hi;
        }
    }
}

static struct range pages_of(uint64_t addr, uint64_t len)
{
    return (struct range){ addr & ~(uint64_t)(PAGE - 1), (addr + len + PAGE - 1) & ~(uint64_t)(PAGE - 1) };
}

static uint32_t root_cells(const void *fdt, const char *name, uint32_t dflt)
{
    uint32_t len;
    const void *p = fdt_getprop(fdt, "/", name, &len);
    return p && len == 4 ? (uint32_t)fdt_cells(p, 1) : dflt;
}

static void parse_window(uint64_t mapped_top)
{
    uint64_t base, len;

    if (mlos_bootarg_u64(cmdline, "mlos.window", 0, &base) != 0)
        return;
    if (mlos_bootarg_u64(cmdline, "mlos.window", 1, &len) != 0 || len == 0 || base % PAGE != 0 ||
        base < PPC440_LOW_UNMAPPED || base >= mapped_top || len > mapped_top - base) {
        ppc_console_puts("mlos: ignoring malformed or unmapped mlos.window\n");
        return;
    }
    window_base = (void *)(uintptr_t)base;
    window_len = (size_t)len;
}

void ppc_bootinfo_init(const void *fdt)
{
    uint32_t fdt_size = fdt_total_size(fdt), len;
    const void *p;
    uint64_t ram_lo = 0, ram_hi = 0, mapped_top;

    if (!fdt_size) {
        ppc_console_puts("mlos: no device tree in r3: not booted by QEMU's bamboo loader?\n");
        mlos_hal_exit(94); /* 95-99 are taken by libos/slave.h */
    }
    if ((p = fdt_getprop(fdt, "/chosen", "bootargs", &len)) != NULL) {
        size_t n = strnlen(p, len < CMDLINE_MAX ? len : CMDLINE_MAX - 1);
        memcpy(cmdline, p, n);
        cmdline[n] = '\0';
    }
    p = fdt_getprop(fdt, "/cpus/cpu@0", "timebase-frequency", &len);
    tb_hz = p && (len == 4 || len == 8) ? (uint32_t)fdt_cells(p, len / 4) : 0;
    if (!tb_hz) {
        ppc_console_puts("mlos: no timebase-frequency in the device tree; assuming 400 MHz\n");
        tb_hz = DEFAULT_TB_HZ;
    }
    uint32_t ac = root_cells(fdt, "#address-cells", 2), sc = root_cells(fdt, "#size-cells", 1);
    p = fdt_getprop(fdt, "/memory", "reg", &len);
    if (p && ac >= 1 && ac <= 2 && sc >= 1 && sc <= 2 && len >= 4 * (ac + sc)) {
        ram_lo = fdt_cells(p, ac);
        ram_hi = ram_lo + fdt_cells((const uint8_t *)p + 4 * ac, sc);
    }
    if (ram_lo != 0 || ram_hi <= PPC440_LOW_UNMAPPED) {
        ppc_console_puts("mlos: no usable /memory in the device tree\n");
        mlos_hal_exit(94);
    }

    if (ppc440_tlb_init(ram_hi, &mapped_top) < 0)
        ppc_console_puts("mlos: TLB full: RAM above the mapped limit is not used\n");
    parse_window(mapped_top);

    struct range r[MAX_REGIONS] = { { PPC440_LOW_UNMAPPED, mapped_top & ~(uint64_t)(PAGE - 1) } };
    int n = 1;
    punch(r, &n, pages_of((uintptr_t)__image_start, (uintptr_t)(__image_end - __image_start)));
    punch(r, &n, pages_of((uintptr_t)fdt, fdt_size));
    if (window_base)
        punch(r, &n, pages_of((uintptr_t)window_base, window_len));

    /* Keep non-empty ranges, sorted by address (n is tiny: insertion sort). */
    nregions = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].hi <= r[i].lo)
            continue;
        int j = nregions++;
        while (j > 0 && regions[j - 1].base > r[i].lo) {
            regions[j] = regions[j - 1];
            j--;
        }
        regions[j] = (struct mlos_hal_region){ (uintptr_t)r[i].lo, (size_t)(r[i].hi - r[i].lo) };
    }
}

uint32_t ppc_bootinfo_tb_hz(void) { return tb_hz; }

const char *mlos_hal_cmdline(void) { return cmdline; }

int mlos_hal_mem_regions(struct mlos_hal_region *out, int max)
{
    if (max < 0 || (max > 0 && !out))
        return MLOS_EINVAL;
    for (int i = 0; i < nregions && i < max; i++)
        out[i] = regions[i];
    return nregions;
}

int mlos_hal_window(void **base, size_t *len)
{
    if (!window_base)
        return MLOS_ENOENT;
    *base = window_base;
    *len = window_len;
    return 0;
}
