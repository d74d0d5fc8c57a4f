/* argv_builder.h -- building a NULL-terminated argv in caller memory, for
 * the QEMU command lines (qemu_x86_64.c, qemu_ppc.c). Arguments are either
 * borrowed strings or formatted into the caller's buffer; the first error
 * (too many arguments, buffer full) sticks in err as MLOS_ETOOBIG. */
#ifndef MLOS_ARGV_BUILDER_H
#define MLOS_ARGV_BUILDER_H

#include <stddef.h>

struct argv_builder {
    char **argv;
    int argc, max;
    char *buf;
    size_t used, len;
    int err;
};

void mlos_argv_add(struct argv_builder *b, const char *s);
void mlos_argv_addf(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
