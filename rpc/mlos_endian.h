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

#endif
