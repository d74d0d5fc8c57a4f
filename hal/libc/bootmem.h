/* bootmem.h -- what every bare-metal HAL learns at boot, kept in one place.
 *
 * A boot-info parser (Multiboot, device tree) feeds: the shard parameter
 * string, the RAM it found, and the ranges in use (image, loader data, the
 * window). bootmem turns that into the page-aligned free regions and the
 * window, and implements mlos_hal_cmdline, mlos_hal_mem_regions,
 * mlos_hal_window and mlos_hal_group_mem from hal.h for every bare-metal HAL.
 * Single-threaded, boot time only; no allocation.
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
