/* Machine-independent pieces of a shard's QEMU command line; see qemu_common.h. */
#include "qemu_common.h"

#define MIB (1024u * 1024u)

void mlos_qemu_add_ram(struct argv_builder *b, size_t ram_bytes, int ram_fd)
{
    mlos_argv_add(b, "-m");
    mlos_argv_addf(b, "%zuM", ram_bytes / MIB);
    mlos_argv_add(b, "-object");
    mlos_argv_addf(b, "memory-backend-file,id=mem,size=%zu,mem-path=/proc/self/fd/%d,share=on", ram_bytes, ram_fd);
    mlos_argv_add(b, "-machine");
    mlos_argv_add(b, "memory-backend=mem");
}

void mlos_qemu_add_console_and_doorbell(struct argv_builder *b, int doorbell_fd)
{
    /* signal=off: a ^C meant for the master must not kill the guest. */
    mlos_argv_add(b, "-chardev");
    mlos_argv_add(b, "stdio,id=con,signal=off");
    mlos_argv_add(b, "-serial");
    mlos_argv_add(b, "chardev:con");
    mlos_argv_add(b, "-chardev");
    mlos_argv_addf(b, "socket,id=db,fd=%d", doorbell_fd);
}

int mlos_qemu_finish(struct argv_builder *b, const char *image, const char *cmdline)
{
    mlos_argv_add(b, "-no-reboot"); /* x86: triple faults end QEMU; ppc: the shard's reset is its exit */
    mlos_argv_add(b, "-kernel");
    mlos_argv_add(b, image);
    mlos_argv_add(b, "-append");
    mlos_argv_add(b, cmdline ? cmdline : "");
    if (b->err)
        return b->err;
    b->argv[b->argc] = NULL;
    return b->argc;
}
