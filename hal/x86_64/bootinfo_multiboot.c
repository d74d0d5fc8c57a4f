/* bootinfo_multiboot.c -- command line, free memory and the window from
 * the Multiboot v1 information.
 *
 * Everything is copied out of the Multiboot structures at boot, so the
 * HAL never touches them again. Free memory is the Multiboot memory map's
 * available ranges minus: everything below 1 MiB (BIOS, legacy holes), the
 * image including .bss and boot stack, the Multiboot info, command line
 * and map, the shared window, and everything above 4 GiB (only the first
 * 4 GiB are mapped). Regions are page aligned inward.
 *
 * The window comes from "mlos.window=0x<gpa>,0x<size>". The master places
 * it in guest RAM (a memfd, so file offset == guest physical address).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hal.h"
#include "mlos_bootargs.h"
#include "mlos_error.h"
#include "x86_64.h"

#define MB_BOOT_MAGIC 0x2BADB002u
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER (1u << 9)
#define MMAP_AVAILABLE 1u

#define CMDLINE_MAX 4096
#define MAX_REGIONS 32
#define LOW_LIMIT 0x100000ull
#define MAPPED_LIMIT 0x100000000ull
#define PAGE MLOS_HAL_PAGE_SIZE

struct __attribute__((packed)) mb_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
    uint32_t drives_length, drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name;
};

struct __attribute__((packed)) mb_mmap_entry {
    uint32_t size; /* of the rest of the entry: the next one is at +size+4 */
    uint64_t addr, len;
    uint32_t type;
};

struct range {
    uint64_t lo, hi; /* [lo, hi) */
};

static char cmdline[CMDLINE_MAX];
static struct mlos_hal_region regions[MAX_REGIONS];
static int nregions;
static void *window_base;
static size_t window_len;

/* Remove [h.lo, h.hi) from the region list, splitting where needed. */
static void punch(struct range *r, int *n, struct range h)
{
    for (int i = 0; i < *n; i++) {
        if (h.hi <= r[i].lo || h.lo >= r[i].hi)
            continue;
        if (h.lo > r[i].lo && h.hi < r[i].hi && *n < MAX_REGIONS) {
            r[*n] = (struct range){ h.hi, r[i].hi }; /* the part above the hole */
            (*n)++;
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

/* QEMU prefixes the Multiboot command line with the kernel file name and a
 * space; the shard's parameters are what follows. Other loaders pass the
 * -append string as is. Paths with spaces are therefore not supported
 * (mlos_qemu_x86_64_argv refuses them). */
static const char *shard_params(const struct mb_info *mbi, const char *line)
{
    if ((mbi->flags & MBI_LOADER) && mbi->boot_loader_name &&
        strncmp((const char *)(uintptr_t)mbi->boot_loader_name, "qemu", 4) == 0) {
        const char *sp = strchr(line, ' ');
        return sp ? sp + 1 : "";
    }
    return line;
}

static void parse_window(void)
{
    uint64_t base, len;

    if (mlos_bootarg_u64(cmdline, "mlos.window", 0, &base) != 0)
        return;
    if (mlos_bootarg_u64(cmdline, "mlos.window", 1, &len) != 0 || len == 0 || base % PAGE != 0 ||
        base < LOW_LIMIT || base >= MAPPED_LIMIT || len > MAPPED_LIMIT - base) {
        x86_console_puts("mlos: ignoring malformed or unmapped mlos.window\n");
        return;
    }
    window_base = (void *)(uintptr_t)base;
    window_len = (size_t)len;
}

void x86_bootinfo_init(uint32_t magic, uint32_t mbi_phys)
{
    const struct mb_info *mbi = (const struct mb_info *)(uintptr_t)mbi_phys;
    struct range r[MAX_REGIONS];
    int n = 0;

    if (magic != MB_BOOT_MAGIC) {
        x86_console_puts("mlos: not booted by a Multiboot loader\n");
        mlos_hal_exit(94); /* 95-99 are taken by libos/slave.h */
    }

    if (mbi->flags & MBI_CMDLINE) {
        const char *line = shard_params(mbi, (const char *)(uintptr_t)mbi->cmdline);
        size_t len = strnlen(line, CMDLINE_MAX - 1);
        memcpy(cmdline, line, len);
        cmdline[len] = '\0';
    }
    parse_window();

    if (mbi->flags & MBI_MMAP) {
        uintptr_t p = mbi->mmap_addr, end = p + mbi->mmap_length;
        while (p + sizeof(struct mb_mmap_entry) <= end && n < MAX_REGIONS) {
            const struct mb_mmap_entry *e = (const struct mb_mmap_entry *)p;
            if (e->type == MMAP_AVAILABLE && e->len)
                r[n++] = (struct range){ e->addr, e->addr + e->len };
            p += e->size + 4;
        }
    } else if (mbi->flags & MBI_MEM) {
        r[n++] = (struct range){ LOW_LIMIT, LOW_LIMIT + (uint64_t)mbi->mem_upper * 1024 };
    }
    for (int i = 0; i < n; i++) /* page align inward */
        r[i] = (struct range){ (r[i].lo + PAGE - 1) & ~(uint64_t)(PAGE - 1), r[i].hi & ~(uint64_t)(PAGE - 1) };

    punch(r, &n, (struct range){ 0, LOW_LIMIT });
    punch(r, &n, (struct range){ MAPPED_LIMIT, UINT64_MAX });
    punch(r, &n, pages_of((uintptr_t)__image_start, (uintptr_t)(__image_end - __image_start)));
    punch(r, &n, pages_of(mbi_phys, sizeof(*mbi)));
    if (mbi->flags & MBI_CMDLINE)
        punch(r, &n, pages_of(mbi->cmdline, strlen((const char *)(uintptr_t)mbi->cmdline) + 1));
    if (mbi->flags & MBI_MMAP)
        punch(r, &n, pages_of(mbi->mmap_addr, mbi->mmap_length));
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
