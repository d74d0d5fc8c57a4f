/* mlos_bpf_abi.h -- the wire layout of the builtin tasks that insert and
 * run eBPF extensions in a running shard ("bpf.load", "bpf.run"), for
 * masters that build their arguments. Installed with the public headers;
 * needs nothing but <stdint.h>. Every integer is little-endian.
 *
 * "bpf.load"  install (or remove) the extension at a hook
 *   arg     MLOS_BPF_LOAD_HDR bytes, then code_len bytes of eBPF code
 *           (the .text of clang -target bpfel -O2 -c):
 *             0  u8     hook (enum mlos_bpf_abi_hook)
 *             1  u8     flags: MLOS_BPF_LOAD_TRUSTED (skip the verifier: the
 *                       application's own code), MLOS_BPF_LOAD_CHECKED (check
 *                       every access at run time)
 *             2  u16    0
 *             4  le32   code_len; 0 empties the hook
 *   result  le32 instruction slots installed
 *   errors  MLOS_EINVAL with the verifier's message ("insn 3: ..."),
 *           MLOS_ETOOBIG (more than 4096 slots), MLOS_ENOMEM
 *
 * "bpf.run"   run the extension at a hook
 *   arg     MLOS_BPF_RUN_HDR bytes:
 *             0  u8     hook
 *             1  u8     KERNEL: MLOS_BPF_RUN_WRITE to grant the range
 *                       read-write (else read-only); other hooks 0
 *             2  u16    0
 *           then per hook:
 *             KERNEL  le64 offset, le64 length (a range of the shard's bulk
 *                     window), le64 arg[4]                   (48 bytes)
 *             TEST    le64 w[8], then up to 256 data bytes (zero padded)
 *             MSG     le32 type, le32 request_id, le32 name_len, name, arg
 *             SCHED   le32 arg_len, le32 queue_len, name
 *             EVENT   le32 kind, le32 arg, le64 data
 *   result  le64 R0 (a hook's default when it is empty, except TEST and
 *           KERNEL), followed for KERNEL by the le64 arg[4] the program
 *           left (MLOS_BPF_RUN_KERNEL_OUT bytes in all), for TEST by w[8]
 *           and the 256 data bytes after the run. A KERNEL run writes its
 *           results into the bulk window range (when granted read-write)
 *           and arg[].
 *   errors  MLOS_ENOENT (TEST/KERNEL hook empty), MLOS_EINVAL (bad
 *           layout, range outside the bulk window, no bulk window),
 *           MLOS_EACCES / MLOS_ETIMEDOUT (a checked run faulted or ran out
 *           of the hook's instruction budget)
 */
#ifndef MLOS_BPF_ABI_H
#define MLOS_BPF_ABI_H

#include <stdint.h>

/* Hook ids (the same values as enum mlos_hook in libos/bpf/hooks.h). */
enum mlos_bpf_abi_hook {
    MLOS_BPF_ABI_HOOK_MSG = 0,
    MLOS_BPF_ABI_HOOK_SCHED = 1,
    MLOS_BPF_ABI_HOOK_EVENT = 2,
    MLOS_BPF_ABI_HOOK_TEST = 3,
    MLOS_BPF_ABI_HOOK_KERNEL = 4,
    MLOS_BPF_ABI_HOOK_REDUCE = 5,
    MLOS_BPF_ABI_HOOK_MEM = 6,
};

#define MLOS_BPF_LOAD_TRUSTED 0x01u
#define MLOS_BPF_LOAD_CHECKED 0x02u
#define MLOS_BPF_LOAD_HDR 8

#define MLOS_BPF_RUN_WRITE 0x01u
#define MLOS_BPF_RUN_HDR 4
#define MLOS_BPF_RUN_KERNEL_ARGS 48 /* after the header: offset, length, arg[4] */
#define MLOS_BPF_RUN_KERNEL_OUT 40  /* R0, arg[4] */

/* Fill a bpf.load header (the code follows it). */
static inline void mlos_bpf_abi_load_hdr(uint8_t out[MLOS_BPF_LOAD_HDR], unsigned hook, unsigned flags,
                                         uint32_t code_len)
{
    out[0] = (uint8_t)hook;
    out[1] = (uint8_t)flags;
    out[2] = out[3] = 0;
    for (int i = 0; i < 4; i++)
        out[4 + i] = (uint8_t)(code_len >> (8 * i));
}

/* Fill a complete bpf.run argument for the KERNEL hook. */
static inline void mlos_bpf_abi_kernel_run(uint8_t out[MLOS_BPF_RUN_HDR + MLOS_BPF_RUN_KERNEL_ARGS], int writable,
                                           uint64_t offset, uint64_t length, const uint64_t arg[4])
{
    uint64_t w[6] = {offset, length, arg[0], arg[1], arg[2], arg[3]};
    out[0] = MLOS_BPF_ABI_HOOK_KERNEL;
    out[1] = writable ? MLOS_BPF_RUN_WRITE : 0;
    out[2] = out[3] = 0;
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < 8; i++)
            out[MLOS_BPF_RUN_HDR + 8 * k + i] = (uint8_t)(w[k] >> (8 * i));
}

#endif
