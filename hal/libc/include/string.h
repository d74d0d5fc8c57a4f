/* string.h -- freestanding subset for mlos bare-metal HALs.
 *
 * Memory functions work a machine word at a time where alignment allows:
 * byte loops (and x86 "rep movsb") are slow under QEMU TCG. Semantics are
 * ISO C's; no locale, no errno.
 */
#ifndef MLOS_FS_STRING_H
#define MLOS_FS_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);

size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

/* -ffreestanding turns off gcc's builtin knowledge of these functions, so
 * a 4-byte memcpy would become a call. Routing them through __builtin_*
 * lets gcc inline small constant-size cases and call ours otherwise.
 * string.c defines MLOS_FS_STRING_IMPL to see the plain declarations. */
#ifndef MLOS_FS_STRING_IMPL
#define memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define memmove(d, s, n) __builtin_memmove((d), (s), (n))
#define memset(d, c, n) __builtin_memset((d), (c), (n))
#define memcmp(a, b, n) __builtin_memcmp((a), (b), (n))
#define strlen(s) __builtin_strlen(s)
#endif

#endif
