/* stdlib.c -- allocator forwarding, abort, assert and stack-protector hooks.
 *
 * Prebuilt static libraries (libprotobuf-c.a) call malloc/free and the glibc
 * failure hooks directly; here they land on the libos heap and on the HAL
 * console + exit. Exit statuses are distinct so the master can tell them
 * apart from the QEMU exit code (mlos_exit.h): MLOS_SHARD_EXIT_ABORT for
 * abort/assert, MLOS_SHARD_EXIT_STACK for stack smashing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hal.h" /* the console, exit, and the library OS heap behind malloc */
#include "mlos_exit.h"

void *malloc(size_t n) { return mlos_malloc(n); }
void *calloc(size_t n, size_t m) { return mlos_calloc(n, m); }
void *realloc(void *p, size_t n) { return mlos_realloc(p, n); }
void free(void *p) { mlos_free(p); }

static void say(const char *s)
{
    mlos_hal_console_write(s, strlen(s));
}

_Noreturn void abort(void)
{
    say("mlos: abort()\n");
    mlos_hal_exit(MLOS_SHARD_EXIT_ABORT);
}

_Noreturn void __assert_fail(const char *expr, const char *file, unsigned int line, const char *func)
{
    char num[12];
    int i = (int)sizeof(num) - 1;

    num[i] = '\0';
    do {
        num[--i] = (char)('0' + line % 10);
        line /= 10;
    } while (line && i > 0);
    say("mlos: assertion failed: ");
    say(expr ? expr : "?");
    say(" at ");
    say(file ? file : "?");
    say(":");
    say(&num[i]);
    say(" in ");
    say(func ? func : "?");
    say("\n");
    mlos_hal_exit(MLOS_SHARD_EXIT_ABORT);
}

/* Called by code built with -fstack-protector when a canary was
 * overwritten. The stack is corrupt: print and leave without returning. */
_Noreturn void __stack_chk_fail(void)
{
    say("mlos: stack smashing detected\n");
    mlos_hal_exit(MLOS_SHARD_EXIT_STACK);
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* Overflow saturates at ULLONG_MAX; no errno on bare metal. */
unsigned long long strtoull(const char *s, char **end, int base)
{
    const char *p = s;
    unsigned long long v = 0;
    int any = 0, neg = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && digit_value(p[2]) < 16) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = p[0] == '0' ? 8 : 10;
    }
    for (;; p++) {
        int d = digit_value(*p);
        if (d >= base)
            break;
        if (v > (~0ULL - (unsigned)d) / (unsigned)base)
            v = ~0ULL;
        else
            v = v * (unsigned)base + (unsigned)d;
        any = 1;
    }
    if (end)
        *end = (char *)(any ? p : s);
    return neg ? -v : v;
}

unsigned long strtoul(const char *s, char **end, int base)
{
    unsigned long long v = strtoull(s, end, base);
    return v > (unsigned long)-1 ? (unsigned long)-1 : (unsigned long)v;
}
