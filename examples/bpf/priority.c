/* Scheduling-hook extension: a priority policy. "sum_u64" is urgent (100),
 * calls with arguments over 64 KiB go last (-10), anything else gets
 * 10 minus the queue length, so a long queue lowers newcomers. */
#include "mlos_bpf_prog.h"

int64_t priority(const struct mlos_hook_sched_ctx *c)
{
    char urgent[8] = {'s', 'u', 'm', '_', 'u', '6', '4', 0};

    /* 8 bytes: the name region is zero padded, so this also checks the end */
    if (c->name_len == 7 && mlos_memeq(MLOS_REGION(c->name), urgent, 8))
        return 100;
    if (c->arg_len > 65536)
        return -10;
    return 10 - (int64_t)c->queue_len;
}
