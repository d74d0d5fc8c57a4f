/* stdlib.h -- freestanding subset for mlos bare-metal HALs.
 *
 * The allocator functions forward to the libos heap (libos/mem.h), which
 * must be initialised (mlos_mem_init_from_hal) before the first call.
 * abort() prints a message on the HAL console and exits with status 98.
 */
#ifndef MLOS_FS_STDLIB_H
#define MLOS_FS_STDLIB_H

#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void free(void *p);

_Noreturn void abort(void);

unsigned long strtoul(const char *s, char **end, int base);
unsigned long long strtoull(const char *s, char **end, int base);

#endif
