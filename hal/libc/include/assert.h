/* assert.h -- freestanding assert for mlos bare-metal HALs.
 *
 * A failed assertion prints file, line and expression on the HAL console
 * and exits with status 98. Same entry point as glibc (__assert_fail) so
 * that prebuilt static libraries such as libprotobuf-c.a link unchanged.
 * Deliberately no include guard: NDEBUG may change between inclusions.
 */
#undef assert

_Noreturn void __assert_fail(const char *expr, const char *file, unsigned int line, const char *func);

#ifdef NDEBUG
#define assert(e) ((void)0)
#else
#define assert(e) ((e) ? (void)0 : __assert_fail(#e, __FILE__, __LINE__, __func__))
#endif

#ifndef __cplusplus
#define static_assert _Static_assert
#endif
