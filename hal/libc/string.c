/* string.c -- memory and string functions for bare-metal shards.
 *
 * Why word loops: under QEMU TCG every guest instruction costs tens of host
 * instructions, and "rep movsb"/"rep stosb" are emulated byte by byte, so
 * copying a machine word per iteration is several times faster than bytes.
 * Words are accessed through a may_alias type so the compiler does not
 * assume they cannot overlap the caller's objects. Unaligned heads and tails
 * fall back to bytes; memcpy only uses words when both pointers share the
 * same alignment, which covers the common (heap, ring) cases.
 *
 * The bare-metal flags include -fno-tree-loop-distribute-patterns so that
 * gcc does not turn these loops back into calls to themselves.
 */
#define MLOS_FS_STRING_IMPL /* plain declarations, no __builtin_ macros */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uintptr_t __attribute__((may_alias)) word_t;
#define WSIZE sizeof(word_t)
#define WMASK (WSIZE - 1)

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if ((((uintptr_t)d ^ (uintptr_t)s) & WMASK) == 0) {
        while (n && ((uintptr_t)d & WMASK)) {
            *d++ = *s++;
            n--;
        }
        while (n >= 4 * WSIZE) { /* unrolled: fewer loop branches under TCG */
            word_t a = ((const word_t *)s)[0], b = ((const word_t *)s)[1];
            word_t c = ((const word_t *)s)[2], e = ((const word_t *)s)[3];
            ((word_t *)d)[0] = a;
            ((word_t *)d)[1] = b;
            ((word_t *)d)[2] = c;
            ((word_t *)d)[3] = e;
            d += 4 * WSIZE;
            s += 4 * WSIZE;
            n -= 4 * WSIZE;
        }
        while (n >= WSIZE) {
            *(word_t *)d = *(const word_t *)s;
            d += WSIZE;
            s += WSIZE;
            n -= WSIZE;
        }
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    /* Forward copy is safe unless dst starts inside [src, src+n). */
    if ((uintptr_t)d - (uintptr_t)s >= n)
        return memcpy(dst, src, n);

    d += n;
    s += n;
    if ((((uintptr_t)d ^ (uintptr_t)s) & WMASK) == 0) {
        while (n && ((uintptr_t)d & WMASK)) {
            *--d = *--s;
            n--;
        }
        while (n >= WSIZE) {
            d -= WSIZE;
            s -= WSIZE;
            *(word_t *)d = *(const word_t *)s;
            n -= WSIZE;
        }
    }
    while (n--)
        *--d = *--s;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    word_t w = (unsigned char)c;

    w *= (word_t)-1 / 0xff; /* replicate the byte into every byte of the word */
    while (n && ((uintptr_t)d & WMASK)) {
        *d++ = (unsigned char)c;
        n--;
    }
    while (n >= 4 * WSIZE) {
        ((word_t *)d)[0] = w;
        ((word_t *)d)[1] = w;
        ((word_t *)d)[2] = w;
        ((word_t *)d)[3] = w;
        d += 4 * WSIZE;
        n -= 4 * WSIZE;
    }
    while (n >= WSIZE) {
        *(word_t *)d = w;
        d += WSIZE;
        n -= WSIZE;
    }
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;

    /* Skip equal words quickly, then find the differing byte bytewise. */
    if ((((uintptr_t)x | (uintptr_t)y) & WMASK) == 0) {
        while (n >= WSIZE && *(const word_t *)x == *(const word_t *)y) {
            x += WSIZE;
            y += WSIZE;
            n -= WSIZE;
        }
    }
    for (; n; n--, x++, y++) {
        if (*x != *y)
            return *x < *y ? -1 : 1;
    }
    return 0;
}

void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;

    for (; n; n--, p++) {
        if (*p == (unsigned char)c)
            return (void *)p;
    }
    return NULL;
}

/* Nonzero iff some byte of w is zero (the classic "haszero" bit trick). */
static inline int word_has_zero(word_t w)
{
    const word_t ones = (word_t)-1 / 0xff;
    return ((w - ones) & ~w & (ones << 7)) != 0;
}

size_t strlen(const char *s)
{
    const char *p = s;

    while ((uintptr_t)p & WMASK) {
        if (!*p)
            return (size_t)(p - s);
        p++;
    }
    /* Aligned word reads never cross a page boundary, so reading past the
     * terminator inside the last word cannot fault. */
    while (!word_has_zero(*(const word_t *)p))
        p += WSIZE;
    while (*p)
        p++;
    return (size_t)(p - s);
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;

    while (n < max && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

    while (*x && *x == *y) {
        x++;
        y++;
    }
    return (*x > *y) - (*x < *y);
}

int strncmp(const char *a, const char *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

    for (; n; n--, x++, y++) {
        if (*x != *y)
            return (*x > *y) - (*x < *y);
        if (!*x)
            return 0;
    }
    return 0;
}

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}
