/* kind.h -- what the master does differently for each kind of shard
 * (private to the master).
 *
 * mlos_spawn (master/shard.c) is the same for every kind: it makes the
 * sealed memfd and the window, the doorbell socketpair, runs mlos-launch
 * with a command line and watches the process. What differs is behind
 * this table, one module per kind:
 *
 *   kind_x86_64.c   bare metal in a QEMU microvm (TCG or KVM)
 *   kind_ppc.c      bare metal PowerPC 440 in a QEMU bamboo board
 *   kind_process.c  a Linux process on this host (mlos-shard-process)
 *
 * Each kind says how big the shared memory is and where the window sits in
 * it, builds the command line, turns the host process's end into words,
 * and judges an image that carries no mlos note. A new kind is one more
 * module and one more table entry (kind.c); nothing in shard.c names one.
 */
#ifndef MLOS_KIND_H
#define MLOS_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "mlos.h"
#include "mlos_image.h"

/* Where the spawn put things, for the command line: fds as numbered in
 * the launched process, sizes as mlos_spawn computed them. */
struct mlos_kind_spawn {
    const struct mlos_spawn_opts *opts; /* never NULL */
    uint32_t shard_id;
    const char *image;                  /* resolved image path */
    size_t ram_bytes;                   /* the memfd: guest RAM, or just the window */
    size_t win_off, win_len;            /* the window inside it (guest physical address == offset) */
    size_t mem_bytes;                   /* what the shard's allocator is to manage (mlos.mem=): what was asked
                                         * for, not the slack of its guest RAM (hal/libc/bootmem.c) */
    size_t mem_max_bytes;               /* elastic: the RAM is sized for this much, mem_bytes of it granted
                                         * now (mlos.mem_max=); 0: fixed at mem_bytes */
    unsigned cores;                     /* vCPUs asked for (mlos.cores=); 0/1: one */
    int boot_trace;                     /* 1: the shard reports its boot phases (mlos.boot_trace=1) */
    int ram_fd, doorbell_fd;
    size_t group_bytes;                 /* group memory (mlos_group.h) to map beside RAM, 0: none */
    int group_fd;                       /* its memfd, as numbered in the launched process */
};

/* The command line mlos-launch runs, and for a kind that gets an explicit
 * environment, the MLOS_SHARD_ARGS=... entry of it. argv points into buf
 * or at strings of the spawn; env is "" for kinds that keep the master's
 * environment. */
struct mlos_kind_cmd {
    char **argv;
    int max_args;
    char *buf;
    size_t buflen;
    char *env;
    size_t envlen;
};

struct mlos_kind {
    const char *name;          /* mlos_spawn_opts.arch, the image note's arch, the registry's arch */
    const char *default_image; /* found with mlos_image_find when opts.image is NULL */
    /* 1: the shard is a Linux process on this host that could read the
     * master's environment, so it gets an explicit one (shard_env.c);
     * 0: a guest, which cannot see its QEMU's environment. */
    int own_env;
    /* Size of the memfd and the window's offset in it for mem_bytes of
     * allocator memory and a window of win_len. 0, or MLOS_EINVAL if the
     * kind cannot hold that much. The allocator's memory is the rest of
     * the memfd: below a window at the top (above low_reserved) or above a
     * window at offset 0; a shrink may punch only there (resize.c). */
    int (*layout)(size_t mem_bytes, size_t win_len, size_t *ram_bytes, size_t *win_off);
    /* Bytes at the start of guest RAM the boot keeps (low memory, the
     * image): never the allocator's. */
    size_t low_reserved;
    /* Cores a shard of this kind can have, and if that is one, why (the
     * refusal of cores > 1 says it). */
    unsigned max_cores;
    const char *one_core_why;
    /* 1: a QEMU that can be started paused (-S) and resumed over QMP
     * (mlos__spawn's paused spares); 0: nothing to hold. */
    int can_pause;
    /* Fill cmd (argv NULL-terminated). 0, or MLOS_ETOOBIG / MLOS_EINVAL
     * from the command-line builder, or MLOS_ESPAWN (x86_64: KVM asked
     * for and unusable). */
    int (*command)(const struct mlos_kind_spawn *s, struct mlos_kind_cmd *cmd);
    /* The host process exited with status (not by a signal): say how,
     * e.g. "exited with status 3", "crashed (fatal exception)". window is
     * the master's mapping of the shard's window (len bytes; may be NULL),
     * where a kind without an exit device leaves its status. */
    void (*describe_exit)(int64_t status, const void *window, size_t len, char *how, size_t cap);
    /* An image without an mlos note, inspected into info: may it be booted
     * as this kind? Only the ELF machine is known then. */
    int (*plain_image_ok)(const struct mlos_image_info *info);
    /* Width of a pointer in the code of this kind's images (the task
     * table holds pointers): the x86_64 Multiboot image is ELF32 around
     * 64-bit code, so the ELF class does not tell. */
    unsigned code_ptr_bytes;
};

/* The kind called name, or NULL. */
const struct mlos_kind *mlos__kind_find(const char *name);

/* mlos__kind_find for a caller that reports: the kind, or NULL with err
 * saying "unknown shard kind 'NAME' (known: x86_64 ppc process)". */
const struct mlos_kind *mlos__kind_lookup(const char *name, char *err, size_t cap);

/* The kinds, for listing: the i-th, NULL past the last. */
const struct mlos_kind *mlos__kind_at(size_t i);

/* Shared by the QEMU kinds: QEMU's exit code when the guest reported
 * through an isa-debug-exit style code, (status << 1) | 1; an even code is
 * QEMU's own (e.g. 0 after a reset under -no-reboot, 1 on its errors). */
void mlos__kind_describe_qemu_exit(int64_t status, char *how, size_t cap);

extern const struct mlos_kind mlos__kind_x86_64, mlos__kind_ppc, mlos__kind_process;

#endif
