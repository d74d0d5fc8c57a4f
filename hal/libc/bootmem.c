/* Boot-time memory map and parameters shared by the bare-metal HALs; see
 * bootmem.h. */
#include "bootmem.h"

#include <string.h>

#include "hal.h"
#include "mlos_bootargs.h"
#include "mlos_error.h"

#define PAGE ((uint64_t)MLOS_HAL_PAGE_SIZE)

struct range {
    uint64_t lo, hi; /* [lo, hi) */
};

static char cmdline[MLOS_BOOTMEM_CMDLINE_MAX];
static struct range ranges[MLOS_BOOTMEM_MAX_RANGES];
static int nranges;
static struct mlos_hal_region regions[MLOS_BOOTMEM_MAX_RANGES];
static int nregions;
static void *window_base;
static size_t window_len;
static void *group_base;
static size_t group_len;
/* The HAL's memory-map reader, run on first need (mlos_bootmem_defer_map). */
static void (*map_reader)(void);

void mlos_bootmem_defer_map(void (*reader)(void)) { map_reader = reader; }

/* Run the deferred map reader once, before anything that needs the map:
 * the regions, offsets and the group memory. */
static void map_ready(void)
{
    void (*reader)(void) = map_reader;
    if (reader) {
        map_reader = NULL;
        reader();
        mlos_hal_boot_mark("memmap");
    }
}

void mlos_hal_boot_finish(void) { map_ready(); }

/* One byte loop, not strnlen + memcpy: this runs before HELLO, where under
 * QEMU TCG every distinct block of code costs its translation and the
 * string is a couple of hundred bytes. */
void mlos_bootmem_set_cmdline(const char *s, size_t len)
{
    size_t n = 0, max = len < sizeof(cmdline) ? len : sizeof(cmdline) - 1;
    while (n < max && s[n]) {
        cmdline[n] = s[n];
        n++;
    }
    cmdline[n] = '\0';
}

/* key=BASE,SIZE inside [lo, hi), page aligned: 1 and the range, else 0
 * (a console line if the key is there but unusable). */
static int parse_range(const char *key, uint64_t lo, uint64_t hi, void **out_base, size_t *out_len)
{
    static const char bad[] = "mlos: ignoring malformed or unmapped ";
    uint64_t base, len = 0;

    if (mlos_bootarg_u64(cmdline, key, 0, &base) != 0)
        return 0;
    /* | rather than ||: each is cheap, and every branch target before
     * HELLO costs a TCG translation */
    int wrong = mlos_bootarg_u64(cmdline, key, 1, &len) != 0;
    wrong |= (len == 0) | (base % PAGE != 0) | (base < lo) | (base >= hi) | (len > hi - base);
    if (wrong) {
        mlos_hal_console_write(bad, sizeof(bad) - 1);
        mlos_hal_console_write(key, strlen(key));
        mlos_hal_console_write("\n", 1);
        return 0;
    }
    *out_base = (void *)(uintptr_t)base;
    *out_len = (size_t)len;
    return 1;
}

void mlos_bootmem_parse_window(uint64_t lo, uint64_t hi)
{
    parse_range("mlos.window", lo, hi, &window_base, &window_len);
}

void mlos_bootmem_parse_group(uint64_t lo, uint64_t hi)
{
    parse_range("mlos.group", lo, hi, &group_base, &group_len);
}

void mlos_bootmem_add_ram(uint64_t lo, uint64_t hi)
{
    if (nranges < MLOS_BOOTMEM_MAX_RANGES)
        ranges[nranges++] = (struct range){(lo + PAGE - 1) & ~(PAGE - 1), hi & ~(PAGE - 1)};
}

/* Remove [lo, hi) from the ranges, splitting one where the hole is inside. */
void mlos_bootmem_exclude(uint64_t lo, uint64_t hi)
{
    for (int i = 0; i < nranges; i++) {
        struct range *r = &ranges[i];
        if (hi <= r->lo || lo >= r->hi)
            continue;
        if (lo > r->lo && hi < r->hi && nranges < MLOS_BOOTMEM_MAX_RANGES) {
            ranges[nranges++] = (struct range){hi, r->hi}; /* the part above the hole */
            r->hi = lo;
        } else if (lo > r->lo) {
            r->hi = lo;
        } else {
            r->lo = hi > r->hi ? r->hi : hi;
        }
    }
}

void mlos_bootmem_reserve(uint64_t addr, uint64_t len)
{
    mlos_bootmem_exclude(addr & ~(PAGE - 1), (addr + len + PAGE - 1) & ~(PAGE - 1));
}

void mlos_bootmem_finish(void)
{
    if (window_base)
        mlos_bootmem_reserve((uintptr_t)window_base, window_len);
    if (group_base) /* shared with other guests: never the allocator's */
        mlos_bootmem_reserve((uintptr_t)group_base, group_len);
    /* Keep non-empty ranges, sorted by address (a handful: insertion sort). */
    nregions = 0;
    for (int i = 0; i < nranges; i++) {
        if (ranges[i].hi <= ranges[i].lo)
            continue;
        int j = nregions++;
        while (j > 0 && regions[j - 1].base > ranges[i].lo) {
            regions[j] = regions[j - 1];
            j--;
        }
        regions[j] = (struct mlos_hal_region){(uintptr_t)ranges[i].lo, (size_t)(ranges[i].hi - ranges[i].lo)};
    }
    /* mlos.mem=BYTES: the allocator manages what the master asked for, as a
     * process shard does, not whatever slack the guest RAM has; so every
     * kind reports the same size for the same request. Lowest regions first. */
    /* mlos.mem_max=BYTES: an elastic shard's allocator manages that much
     * and is granted mlos.mem of it at a time (libos/mem.h: the limit). */
    /* The lowest region that holds all of it is used alone: then the
     * regions are the one range mlos_hal_mem_budget promised before the
     * map was read (what HELLO reported). Only a map with no such region
     * spreads the budget over several. */
    size_t budget;
    if (mlos_hal_mem_budget(&budget) == 0) {
        for (int i = 0; i < nregions; i++)
            if (regions[i].len >= budget) {
                regions[0] = (struct mlos_hal_region){regions[i].base, budget};
                nregions = 1;
                return;
            }
        for (int i = 0; i < nregions; i++) {
            if (budget == 0) {
                nregions = i;
                break;
            }
            if (regions[i].len > budget)
                regions[i].len = (size_t)budget;
            budget -= regions[i].len;
        }
    }
}

const char *mlos_hal_cmdline(void) { return cmdline; }

int mlos_hal_param_u64(const char *key, int index, uint64_t *out)
{
    return mlos_bootarg_u64(cmdline, key, index, out) == 0 ? 0 : MLOS_ENOENT;
}

int mlos_hal_mem_budget(size_t *bytes)
{
    uint64_t budget;
    if ((mlos_bootarg_u64(cmdline, "mlos.mem_max", 0, &budget) != 0 &&
         mlos_bootarg_u64(cmdline, "mlos.mem", 0, &budget) != 0) ||
        budget < PAGE || budget > SIZE_MAX)
        return MLOS_ENOENT;
    *bytes = (size_t)(budget & ~(PAGE - 1));
    return 0;
}

int mlos_hal_mem_regions(struct mlos_hal_region *out, int max)
{
    if (max < 0 || (max > 0 && !out))
        return MLOS_EINVAL;
    map_ready();
    for (int i = 0; i < nregions && i < max; i++)
        out[i] = regions[i];
    return nregions;
}

int mlos_hal_mem_offset(uintptr_t addr, uint64_t *off)
{
    /* Identity-mapped: the physical address is the offset in guest RAM,
     * which is the master's memory file from 0. */
    map_ready();
    for (int i = 0; i < nregions; i++)
        if (addr >= regions[i].base && addr - regions[i].base < regions[i].len) {
            *off = addr;
            return 0;
        }
    return MLOS_ERANGE;
}

int mlos_hal_window(void **base, size_t *len)
{
    if (!window_base)
        return MLOS_ENOENT;
    *base = window_base;
    *len = window_len;
    return 0;
}

int mlos_hal_group_mem(void **base, size_t *len)
{
    map_ready(); /* the group memory is set up with the map (it may lie inside it) */
    if (!group_base)
        return MLOS_ENOENT;
    *base = group_base;
    *len = group_len;
    return 0;
}
