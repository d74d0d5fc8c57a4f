/* stdio.h -- freestanding subset for mlos bare-metal HALs: formatting only.
 *
 * Supported conversions: %d %i %u %x %X %p %s %c %%, length modifiers
 * hh h l ll z j t, flags '-' and '0', field width and precision (also
 * '*'). Precision limits %s and sets the minimum digit count for integers.
 * Returns the length the full output would have had, as C99 requires;
 * output is always NUL-terminated when size > 0. No streams, no floats.
 */
#ifndef MLOS_FS_STDIO_H
#define MLOS_FS_STDIO_H

#include <stdarg.h>
#include <stddef.h>

int snprintf(char *restrict buf, size_t size, const char *restrict fmt, ...)
    __attribute__((format(printf, 3, 4)));
int vsnprintf(char *restrict buf, size_t size, const char *restrict fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
