/* Minimal assertion helpers for mlos tests: print the failing expression
 * and location and exit at the first failure. Later checks usually depend
 * on earlier ones (a shard that did not start cannot answer), and going on
 * only turns one clear message into minutes of timeouts. */
#ifndef MLOS_TEST_CHECK_H
#define MLOS_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#define CHECK(cond)                                                                                              \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                             \
            check_failures++;                                                                                    \
            exit(1);                                                                                             \
        }                                                                                                        \
    } while (0)

#define CHECK_EQ(a, b)                                                                                           \
    do {                                                                                                         \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                                    \
        if (va_ != vb_) {                                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, va_,   \
                    vb_);                                                                                        \
            check_failures++;                                                                                    \
            exit(1);                                                                                             \
        }                                                                                                        \
    } while (0)

#define CHECK_DONE()                                                                                             \
    do {                                                                                                         \
        if (check_failures) {                                                                                    \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                                             \
            return 1;                                                                                            \
        }                                                                                                        \
        printf("ok\n");                                                                                          \
        return 0;                                                                                                \
    } while (0)

#endif
