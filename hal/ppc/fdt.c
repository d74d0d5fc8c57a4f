/* fdt.c -- see fdt.h. */
#include "fdt.h"

#include <stddef.h>
#include <stdint.h>

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u
#define MAX_DEPTH 8

struct fdt_hdr {
    uint32_t magic, totalsize, off_dt_struct, off_dt_strings, off_mem_rsvmap, version, last_comp_version,
        boot_cpuid_phys, size_dt_strings, size_dt_struct;
};

/* The tree is big-endian and only 4-byte aligned: read bytes. */
static uint32_t be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

uint64_t fdt_cells(const void *p, uint32_t ncells)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < ncells; i++)
        v = v << 32 | be32((const uint8_t *)p + 4 * i);
    return v;
}

uint32_t fdt_total_size(const void *fdt)
{
    const uint8_t *h = fdt;
    uint32_t total, so, ss, to, ts;

    if (!fdt || be32(h) != FDT_MAGIC || be32(h + offsetof(struct fdt_hdr, version)) < 16)
        return 0;
    total = be32(h + offsetof(struct fdt_hdr, totalsize));
    so = be32(h + offsetof(struct fdt_hdr, off_dt_struct));
    ts = be32(h + offsetof(struct fdt_hdr, size_dt_struct));
    to = be32(h + offsetof(struct fdt_hdr, off_dt_strings));
    ss = be32(h + offsetof(struct fdt_hdr, size_dt_strings));
    if (total < sizeof(struct fdt_hdr) || so > total || ts > total - so || to > total || ss > total - to || so % 4)
        return 0;
    return total;
}

/* Byte loops rather than the string functions: the tree is read before
 * HELLO, where under QEMU TCG each distinct piece of code costs its
 * translation, and these strings are a few bytes long. */
static inline size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

/* strncmp(a, b, max) == 0 */
static inline int same_string(const char *a, const char *b, size_t max)
{
    for (size_t i = 0; i < max; i++) {
        if (a[i] != b[i])
            return 0;
        if (!a[i])
            break;
    }
    return 1;
}

/* Does node name match path component comp (length clen)? */
static int name_matches(const char *name, const char *comp, size_t clen)
{
    int at = 0;
    for (size_t i = 0; i < clen; i++) {
        if (name[i] != comp[i])
            return 0;
        at |= comp[i] == '@';
    }
    return name[clen] == '\0' || (name[clen] == '@' && !at);
}

const void *fdt_getprop(const void *fdt, const char *path, const char *name, uint32_t *len)
{
    const uint8_t *h = fdt;
    const char *comp[MAX_DEPTH];
    size_t clen[MAX_DEPTH];
    int ncomp = 0, depth = 0, matched = 0;

    if (!fdt_total_size(fdt) || !path || path[0] != '/')
        return NULL;
    for (const char *p = path + 1; *p && ncomp < MAX_DEPTH;) {
        size_t n = 0;
        while (p[n] && p[n] != '/')
            n++;
        if (n) {
            comp[ncomp] = p;
            clen[ncomp++] = n;
        }
        p += n + (p[n] == '/');
    }

    const uint8_t *s = h + be32(h + offsetof(struct fdt_hdr, off_dt_struct));
    const uint8_t *end = s + be32(h + offsetof(struct fdt_hdr, size_dt_struct));
    const char *strs = (const char *)h + be32(h + offsetof(struct fdt_hdr, off_dt_strings));
    uint32_t strs_len = be32(h + offsetof(struct fdt_hdr, size_dt_strings));

    while (s + 4 <= end) {
        uint32_t tok = be32(s);
        s += 4;
        switch (tok) {
        case FDT_BEGIN_NODE: {
            const char *nm = (const char *)s;
            size_t n = bounded_len(nm, (size_t)(end - s));
            if (n == (size_t)(end - s))
                return NULL; /* unterminated name */
            s += (n + 1 + 3) & ~(size_t)3;
            depth++;
            /* depth 1 is the root; depth d > 1 is path component d - 2 */
            if (matched == depth - 1 && (depth == 1 || (depth - 2 < ncomp && name_matches(nm, comp[depth - 2], clen[depth - 2]))))
                matched = depth;
            break;
        }
        case FDT_END_NODE:
            if (depth == 0)
                return NULL;
            if (matched == depth)
                matched--;
            depth--;
            break;
        case FDT_PROP: {
            if (end - s < 8)
                return NULL;
            uint32_t plen = be32(s), nameoff = be32(s + 4);
            s += 8;
            if (plen > (size_t)(end - s))
                return NULL;
            if (matched == depth && depth == ncomp + 1 && nameoff < strs_len &&
                same_string(strs + nameoff, name, strs_len - nameoff)) {
                *len = plen;
                return s;
            }
            s += (plen + 3) & ~(uint32_t)3;
            break;
        }
        case FDT_NOP:
            break;
        default: /* FDT_END or garbage */
            return NULL;
        }
    }
    return NULL;
}
