/* Scheduling-hook extension: deadline classes. A task named "<name>.<d>",
 * d a decimal number of one to three digits, runs before tasks with larger
 * d (its priority is 1000 - d); other tasks get 0, minus one per 16 tasks
 * already waiting, so a long queue does not starve the classed ones. */
#include "mlos_bpf_prog.h"

static inline uint64_t digit(uint8_t ch) { return ch >= '0' && ch <= '9'; }

/* The byte k places from the end of the name. The mask changes nothing for
 * 1 <= k <= n <= 64, and tells the verifier the index stays in the region. */
#define FROM_END(k) name[(n - (k)) & (MLOS_HOOK_NAME_MAX - 1)]

int64_t sched_deadline(const struct mlos_hook_sched_ctx *c)
{
    const uint8_t *name = (const uint8_t *)MLOS_REGION(c->name);
    uint64_t n = c->name_len;

    if (n >= 2 && n <= MLOS_HOOK_NAME_MAX) {
        uint8_t a = FROM_END(1), b = FROM_END(2);
        if (digit(a) && b == '.')
            return 1000 - (int64_t)(a - '0');
        if (n >= 3 && digit(a) && digit(b) && FROM_END(3) == '.')
            return 1000 - (int64_t)((b - '0') * 10 + (a - '0'));
        if (n >= 4 && digit(a) && digit(b) && digit(FROM_END(3)) && FROM_END(4) == '.')
            return 1000 - (int64_t)((FROM_END(3) - '0') * 100 + (b - '0') * 10 + (a - '0'));
    }
    return -(int64_t)(c->queue_len / 16);
}
