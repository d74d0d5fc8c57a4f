/* Kernel-hook extension: a loop over a range of the shard's bulk window,
 * run by "bpf.run". arg[0] gets the FNV-1a 32 hash of the range, arg[1]
 * the number of bytes equal to the caller's arg[2]; with a read-write
 * grant and arg[3] != 0 the bytes are also replaced by their complement.
 * Returns the byte sum. Ranges over 16 MiB are refused (-1), which also
 * gives the verifier the loop's bound. */
#include "mlos_bpf_prog.h"

#define MAX_LEN (16u << 20)

int64_t kernel_sum(struct mlos_hook_kernel_ctx *c)
{
    uint8_t *p = (uint8_t *)(uintptr_t)c->data;
    uint64_t n = c->len, sum = 0, same = 0, want = c->arg[2] & 0xff, invert = c->arg[3];
    uint32_t h = 2166136261u;

    if (n > MAX_LEN)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        sum += b;
        same += ((uint64_t)(b ^ want) - 1) >> 63; /* 1 if equal, without a branch in the loop body */
        h = (h ^ b) * 16777619u;
    }
    if (invert) /* a loop of its own: the verifier wants a loop's blocks in order, tested at the bottom */
        for (uint64_t i = 0; i < n; i++)
            p[i] = (uint8_t)~p[i];
    c->arg[0] = h;
    c->arg[1] = same;
    return (int64_t)sum;
}
