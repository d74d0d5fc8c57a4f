/* Building argv arrays for QEMU; see argv_builder.h. */
#include "argv_builder.h"

#include <stdarg.h>
#include <stdio.h>

#include "mlos_error.h"

void mlos_argv_add(struct argv_builder *b, const char *s)
{
    if (b->argc + 1 >= b->max) { /* keep room for the NULL */
        b->err = MLOS_ETOOBIG;
        return;
    }
    b->argv[b->argc++] = (char *)s;
}

/* Format one argument into the shared buffer. */
void mlos_argv_addf(struct argv_builder *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->err)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->buf + b->used, b->len - b->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->len - b->used) {
        b->err = MLOS_ETOOBIG;
        return;
    }
    mlos_argv_add(b, b->buf + b->used);
    b->used += (size_t)n + 1;
}
