/* bootargs.c -- see mlos_bootargs.h. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mlos_bootargs.h"

const char *mlos_bootarg_find(const char *cmdline, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    const char *p = cmdline;

    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - word);
        if (wlen >= klen && strncmp(word, key, klen) == 0) {
            if (wlen == klen) {
                *len = 0;
                return word + wlen;
            }
            if (word[klen] == '=') {
                *len = wlen - klen - 1;
                return word + klen + 1;
            }
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
        if (n > (UINT64_MAX - d) / base)
            return -1;
        n = n * base + d;
        digits++;
    }
    if (!digits)
        return -1;
    *out = n;
    return 0;
}
