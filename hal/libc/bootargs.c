/* bootargs.c -- see mlos_bootargs.h. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mlos_bootargs.h"

/* Byte loops, no strlen/strncmp and no division: this runs at boot, where
 * under QEMU TCG every distinct instruction costs its translation, and the
 * keys and values are a few bytes long. */
const char *mlos_bootarg_find(const char *cmdline, const char *key, size_t *len)
{
    const char *p = cmdline;

    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *word = p, *k = key;
        while (*k && *p == *k)
            p++, k++;
        int match = !*k && (*p == '=' || *p == ' ' || !*p);
        const char *val = *p == '=' ? p + 1 : p;
        while (*p && *p != ' ')
            p++;
        if (match && p > word) {
            *len = (size_t)(p - val);
            return val;
        }
    }
    return NULL;
}

/* Few branches rather than few instructions: each branch ends a block of
 * translated code. Conditions are combined with | where both sides are
 * cheap, and overflow is the CPU's flag (no division). */
int mlos_bootarg_u64(const char *cmdline, const char *key, int index, uint64_t *out)
{
    size_t len;
    const char *v = mlos_bootarg_find(cmdline, key, &len);
    const char *end, *digits;
    uint64_t n = 0;

    if (!v)
        return -1;
    end = v + len;
    for (; index > 0 && v < end; v++) /* past the index-th comma-separated field's comma */
        index -= *v == ',';
    if (index > 0)
        return -1;
    int hex = end - v >= 2 && v[0] == '0' && (v[1] | 0x20) == 'x';
    uint64_t base = hex ? 16 : 10;
    v += hex ? 2 : 0;
    for (digits = v; v < end && *v != ','; v++) {
        unsigned c = (unsigned char)*v, d = c - '0';
        if (d > 9) {
            d = (c | 0x20) - 'a' + 10; /* a-f and A-F, only in hex */
            if ((d - 10 > 5) | !hex)
                return -1;
        }
        int over = __builtin_mul_overflow(n, base, &n);
        over |= __builtin_add_overflow(n, (uint64_t)d, &n);
        if (over)
            return -1;
    }
    if (v == digits)
        return -1;
    *out = n;
    return 0;
}
