/* qemu_common.h -- the parts of a shard's QEMU command line that do not
 * depend on the machine: guest RAM is the master's memfd, COM/UART 0 is the
 * console on QEMU's stdout, the doorbell is a chardev on the master's
 * socketpair, and the kernel with its parameters. The machine-specific
 * builders (qemu_x86_64.c, qemu_ppc.c) add the rest. */
#ifndef MLOS_QEMU_COMMON_H
#define MLOS_QEMU_COMMON_H

#include <stddef.h>

#include "argv_builder.h"

/* -m, and RAM = memory-backend-file on /proc/self/fd/ram_fd, shared. */
void mlos_qemu_add_ram(struct argv_builder *b, size_t ram_bytes, int ram_fd);
/* chardev "con" (stdio, ^C-proof) as the first serial port, and chardev
 * "db" on doorbell_fd; the caller attaches "db" to its second UART. */
void mlos_qemu_add_console_and_doorbell(struct argv_builder *b, int doorbell_fd);
/* -no-reboot -kernel image -append cmdline, the NULL terminator; returns
 * argc or the builder's first error. */
int mlos_qemu_finish(struct argv_builder *b, const char *image, const char *cmdline);

#endif
