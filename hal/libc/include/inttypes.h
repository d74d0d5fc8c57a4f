/* inttypes.h -- printf format macros for the fixed-width types.
 *
 * Derived from the compiler's own type choices (__INT64_TYPE__ is long on
 * LP64 targets, long long on 32-bit ones) so one header fits every ISA.
 */
#ifndef MLOS_FS_INTTYPES_H
#define MLOS_FS_INTTYPES_H

#include <stdint.h>

#if __SIZEOF_LONG__ == 8
#define MLOS_FS_PRI64 "l"
#else
#define MLOS_FS_PRI64 "ll"
#endif
#if __SIZEOF_POINTER__ == 8
#define MLOS_FS_PRIPTR MLOS_FS_PRI64
#else
#define MLOS_FS_PRIPTR ""
#endif

#define PRId8 "d"
#define PRId16 "d"
#define PRId32 "d"
#define PRId64 MLOS_FS_PRI64 "d"
#define PRIi32 "i"
#define PRIi64 MLOS_FS_PRI64 "i"
#define PRIu8 "u"
#define PRIu16 "u"
#define PRIu32 "u"
#define PRIu64 MLOS_FS_PRI64 "u"
#define PRIx8 "x"
#define PRIx16 "x"
#define PRIx32 "x"
#define PRIx64 MLOS_FS_PRI64 "x"
#define PRIX32 "X"
#define PRIX64 MLOS_FS_PRI64 "X"
#define PRIuPTR MLOS_FS_PRIPTR "u"
#define PRIxPTR MLOS_FS_PRIPTR "x"

#endif
