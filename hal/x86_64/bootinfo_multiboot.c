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
 *
 * Only the command line and the window are read before HELLO; the memory
 * map, the group memory and the reserved ranges are read after it
 * (read_map, through mlos_bootmem_defer_map). The Multiboot data lies in
 * RAM that nothing touches until then: the allocator waits for the map.
 */
#include <stddef.h>
#include <stdint.h>

#include "hal.h"
#include "bootmem.h"
#include "mlos_exit.h"
#include "x86_64.h"

#define MB_BOOT_MAGIC 0x2BADB002u
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER (1u << 9)
#define MMAP_AVAILABLE 1u

#define LOW_LIMIT 0x100000ull
#define MAPPED_LIMIT 0x100000000ull

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

/* "qemu" as the loader name's first four bytes, read as one word */
#define LOADER_QEMU (0x71u | 0x65u << 8 | 0x6du << 16 | 0x75u << 24)

static const struct mb_info *boot_mbi;

/* The memory map, after HELLO: available RAM cut to [1 MiB, 4 GiB) (below
 * is BIOS and legacy holes, above is not mapped), minus what is in use. */
static void read_map(void)
{
    const struct mb_info *mbi = boot_mbi;
    uint32_t flags = mbi->flags;

    mlos_bootmem_parse_group(LOW_LIMIT, MAPPED_LIMIT); /* the second RAM range, inside the same map */
    if (flags & MBI_CMDLINE) {
        const char *line = (const char *)(uintptr_t)mbi->cmdline, *end = line;
        while (*end)
            end++;
        mlos_bootmem_reserve(mbi->cmdline, (uint64_t)(end - line) + 1);
    }
    if (flags & MBI_MMAP) {
        uintptr_t p = mbi->mmap_addr, end = p + mbi->mmap_length;
        while (p + sizeof(struct mb_mmap_entry) <= end) {
            const struct mb_mmap_entry *e = (const struct mb_mmap_entry *)p;
            uint64_t lo = e->addr, hi = e->addr + e->len;
            lo = lo < LOW_LIMIT ? LOW_LIMIT : lo;
            hi = hi > MAPPED_LIMIT || hi < e->addr ? MAPPED_LIMIT : hi;
            if (e->type == MMAP_AVAILABLE && hi > lo)
                mlos_bootmem_add_ram(lo, hi);
            p += e->size + 4;
        }
        mlos_bootmem_reserve(mbi->mmap_addr, mbi->mmap_length);
    } else if (flags & MBI_MEM) {
        uint64_t hi = LOW_LIMIT + (uint64_t)mbi->mem_upper * 1024;
        mlos_bootmem_add_ram(LOW_LIMIT, hi > MAPPED_LIMIT ? MAPPED_LIMIT : hi);
    }

    mlos_bootmem_reserve((uintptr_t)__image_start, (uintptr_t)(__image_end - __image_start));
    mlos_bootmem_reserve((uintptr_t)mbi, sizeof(*mbi));
    mlos_bootmem_finish();
}

/* Under QEMU TCG every distinct block of code run before HELLO costs its
 * translation (several microseconds each), and this runs once: so it is
 * written as a few short loops over the loader's data, with no generic
 * string helpers.
 *
 * QEMU prefixes the Multiboot command line with the kernel file name and a
 * space; the shard's parameters are what follows. Other loaders pass the
 * -append string as is. Paths with spaces are therefore not supported
 * (mlos_qemu_x86_64_argv refuses them). */
void x86_bootinfo_init(uint32_t magic, uint32_t mbi_phys)
{
    const struct mb_info *mbi = (const struct mb_info *)(uintptr_t)mbi_phys;

    if (magic != MB_BOOT_MAGIC) {
        x86_console_puts("mlos: not booted by a Multiboot loader\n");
        mlos_hal_exit(MLOS_SHARD_EXIT_BOOT);
    }
    uint32_t flags = mbi->flags;

    if (flags & MBI_CMDLINE) {
        const char *line = (const char *)(uintptr_t)mbi->cmdline, *params = line, *end = line;
        const unsigned char *name = (const unsigned char *)(uintptr_t)mbi->boot_loader_name;
        int skip_word = (flags & MBI_LOADER) && name &&
                        (uint32_t)(name[0] | name[1] << 8 | name[2] << 16 | (uint32_t)name[3] << 24) == LOADER_QEMU;
        /* one pass: the end of the line, and what follows its first space */
        for (; *end; end++)
            if (skip_word && *end == ' ') {
                params = end + 1;
                skip_word = 0;
            }
        if (skip_word) /* a QEMU line with no space: no parameters */
            params = end;
        mlos_bootmem_set_cmdline(params, (size_t)(end - params));
    }
    mlos_bootmem_parse_window(LOW_LIMIT, MAPPED_LIMIT);
    boot_mbi = mbi;
    mlos_bootmem_defer_map(read_map);
}
