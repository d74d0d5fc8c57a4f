/* Reduction-operator extension: element-wise saturating addition of
 * unsigned 32-bit vectors, inout[i] = min(inout[i] + in[i], 2^32 - 1), for
 * a group reduce/allreduce (or mlos_hook_reduce_local). Refuses (returns
 * 1) other element sizes and vectors over a million elements. */
#include "mlos_bpf_prog.h"

int64_t reduce_satadd(const struct mlos_hook_reduce_ctx *c)
{
    uint32_t *acc = (uint32_t *)(uintptr_t)c->inout;
    const uint32_t *in = (const uint32_t *)(uintptr_t)c->in;
    uint32_t n = c->count;

    if (c->elem_size != 4 || n > (1u << 20))
        return 1;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t s = (uint64_t)acc[i] + in[i];
        acc[i] = s > 0xffffffffu ? 0xffffffffu : (uint32_t)s;
    }
    return 0;
}
