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

int mlos_bootarg_u64(const char *cmdline, const char *key, int index, uint64_t *out)
{
    size_t len;
    const char *v = mlos_bootarg_find(cmdline, key, &len);
    const char *end;
    uint64_t n = 0;
    unsigned base = 10;
    int digits = 0;

    if (!v)
        return -1;
    end = v + len;
    for (; index > 0; index--) { /* skip to the index-th comma-separated field */
        while (v < end && *v != ',')
            v++;
        if (v == end)
            return -1;
        v++;
    }
    if (end - v >= 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        v += 2;
    }
    for (; v < end && *v != ','; v++) {
        unsigned d;
        if (*v >= '0' && *v <= '9')
            d = (unsigned)(*v - '0');
        else if (base == 16 && *v >= 'a' && *v <= 'f')
            d = (unsigned)(*v - 'a' + 10);
        else if (base == 16 && *v >= 'A' && *v <= 'F')
            d = (unsigned)(*v - 'A' + 10);
        else
            return -1;
        uint64_t lim = base == 16 ? UINT64_MAX / 16 : UINT64_MAX / 10; /* constants: no division at run time */
        if (n > lim || (n == lim && d > (base == 16 ? UINT64_MAX % 16 : UINT64_MAX % 10)))
            return -1;
        n = n * base + d;
        digits++;
    }
    if (!digits)
        return -1;
    *out = n;
    return 0;
}
