/* Explicit byte order for everything that crosses a shard boundary.
 *
 * Frame headers are big-endian (network order); shared-window and ring
 * control words are little-endian. These helpers compile to nothing or to a
 * byte swap depending on the host, so both x86_64 and big-endian PowerPC
 * read the same bytes the same way. Freestanding-safe.
 */
#ifndef MLOS_ENDIAN_H
#define MLOS_ENDIAN_H

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define MLOS_HOST_BIG_ENDIAN 1
#else
#define MLOS_HOST_BIG_ENDIAN 0
#endif

static inline uint16_t mlos_bswap16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t mlos_bswap32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t mlos_bswap64(uint64_t v) { return __builtin_bswap64(v); }

#if MLOS_HOST_BIG_ENDIAN
static inline uint16_t mlos_to_be16(uint16_t v) { return v; }
static inline uint32_t mlos_to_be32(uint32_t v) { return v; }
static inline uint32_t mlos_to_le32(uint32_t v) { return mlos_bswap32(v); }
static inline uint64_t mlos_to_le64(uint64_t v) { return mlos_bswap64(v); }
#else
static inline uint16_t mlos_to_be16(uint16_t v) { return mlos_bswap16(v); }
static inline uint32_t mlos_to_be32(uint32_t v) { return mlos_bswap32(v); }
static inline uint32_t mlos_to_le32(uint32_t v) { return v; }
static inline uint64_t mlos_to_le64(uint64_t v) { return v; }
#endif
/* Conversions are their own inverses. */
#define mlos_from_be16 mlos_to_be16
#define mlos_from_be32 mlos_to_be32
#define mlos_from_le32 mlos_to_le32
#define mlos_from_le64 mlos_to_le64

/* Integers in byte buffers of a fixed order (wire formats, task arguments
 * and results), byte by byte: right on any host order and alignment, and
 * compilers turn them into one load or store (plus a swap) where they can. */
static inline void mlos_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void mlos_put_le32(uint8_t *p, uint32_t v)
{
    mlos_put_le16(p, (uint16_t)v);
    mlos_put_le16(p + 2, (uint16_t)(v >> 16));
}
static inline void mlos_put_le64(uint8_t *p, uint64_t v)
{
    mlos_put_le32(p, (uint32_t)v);
    mlos_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t mlos_get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t mlos_get_le32(const uint8_t *p) { return mlos_get_le16(p) | (uint32_t)mlos_get_le16(p + 2) << 16; }
static inline uint64_t mlos_get_le64(const uint8_t *p) { return mlos_get_le32(p) | (uint64_t)mlos_get_le32(p + 4) << 32; }

static inline void mlos_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void mlos_put_be32(uint8_t *p, uint32_t v)
{
    mlos_put_be16(p, (uint16_t)(v >> 16));
    mlos_put_be16(p + 2, (uint16_t)v);
}
static inline void mlos_put_be64(uint8_t *p, uint64_t v)
{
    mlos_put_be32(p, (uint32_t)(v >> 32));
    mlos_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t mlos_get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t mlos_get_be32(const uint8_t *p) { return (uint32_t)mlos_get_be16(p) << 16 | mlos_get_be16(p + 2); }
static inline uint64_t mlos_get_be64(const uint8_t *p) { return (uint64_t)mlos_get_be32(p) << 32 | mlos_get_be32(p + 4); }

#endif
