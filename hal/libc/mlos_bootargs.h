/* mlos_bootargs.h -- parsing the shard parameter string on bare metal.
 *
 * The master passes "key=value key=value ..." (space separated, no quoting)
 * as the boot command line. These helpers are shared by every bare-metal
 * HAL (x86_64 Multiboot, PowerPC device tree bootargs).
 */
#ifndef MLOS_BOOTARGS_H
#define MLOS_BOOTARGS_H

#include <stddef.h>
#include <stdint.h>

/* Find key in cmdline. On success returns a pointer to the value (not
 * NUL-terminated: it ends at the next space or NUL) and stores its length
 * in *len. Returns NULL if the key is absent. A bare "key" without '='
 * yields an empty value. */
const char *mlos_bootarg_find(const char *cmdline, const char *key, size_t *len);

/* Parse an unsigned number (decimal, or hex with 0x) from the value of key.
 * Stops at end_char (e.g. ',') or the end of the value. Returns 0 and
 * stores the number, or -1 if the key is absent or the number malformed.
 * For "key=a,b" use index 0 and 1 to get a and b. */
int mlos_bootarg_u64(const char *cmdline, const char *key, int index, uint64_t *out);

#endif
