/* bootmem.h -- what every bare-metal HAL learns at boot, kept in one place.
 *
 * A boot-info parser (Multiboot, device tree) feeds: the shard parameter
 * string, the RAM it found, and the ranges in use (image, loader data, the
 * window). bootmem turns that into the page-aligned free regions and the
 * window, and implements mlos_hal_cmdline, mlos_hal_mem_regions,
 * mlos_hal_window and mlos_hal_group_mem from hal.h for every bare-metal HAL.
 * Single-threaded, boot time only; no allocation.
 *
 * Two steps, so that HELLO waits only for the first: before HELLO the HAL
 * gives the parameters (mlos_bootmem_set_cmdline) and the window; the RAM,
 * the ranges in use and the group memory come from a reader the HAL hands
 * to mlos_bootmem_defer_map, run once right after HELLO
 * (mlos_hal_boot_finish) or by whatever needs the map first
 * (mlos_hal_mem_regions, mlos_hal_mem_offset, mlos_hal_group_mem). HELLO's
 * memory size comes from the parameters meanwhile (mlos_hal_mem_budget).
 */
#ifndef MLOS_BOOTMEM_H
#define MLOS_BOOTMEM_H

#include <stddef.h>
#include <stdint.h>

#define MLOS_BOOTMEM_CMDLINE_MAX 4096
#define MLOS_BOOTMEM_MAX_RANGES 32

/* Copy the shard parameter string (at most len bytes, stops at NUL). */
void mlos_bootmem_set_cmdline(const char *s, size_t len);

/* Take mlos.window=BASE,SIZE from the parameters if it lies page aligned
 * inside [lo, hi) (memory the HAL maps); otherwise say so on the console
 * and run without it. */
void mlos_bootmem_parse_window(uint64_t lo, uint64_t hi);

/* The same for the group memory, mlos.group=BASE,SIZE. Separate because a
 * HAL may map it elsewhere than RAM (a PCI BAR on the PowerPC board). */
void mlos_bootmem_parse_group(uint64_t lo, uint64_t hi);

/* Read the memory map with reader() when it is first needed (see above).
 * reader calls mlos_bootmem_add_ram, _reserve, _parse_group as needed
 * and mlos_bootmem_finish last. The loader's data it reads must stay
 * untouched until then: nothing allocates before the map is read. */
void mlos_bootmem_defer_map(void (*reader)(void));

/* RAM [lo, hi): shrunk inward to whole pages. */
void mlos_bootmem_add_ram(uint64_t lo, uint64_t hi);

/* Exclude [lo, hi) exactly (limits of what the HAL maps). */
void mlos_bootmem_exclude(uint64_t lo, uint64_t hi);

/* Exclude len bytes in use at addr, widened outward to whole pages. */
void mlos_bootmem_reserve(uint64_t addr, uint64_t len);

/* Exclude the window and publish the remaining ranges, sorted, as the
 * regions mlos_hal_mem_regions reports. Call once, last. */
void mlos_bootmem_finish(void);

#endif
