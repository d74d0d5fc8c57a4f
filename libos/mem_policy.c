/* Who decides whether the default heap grants an allocation. Apart from
 * the heap itself so that the extension layer, which installs its memory
 * hook here, links without the allocator (as its fuzz target does). */
#include "mem.h"

static mlos_mem_policy_fn g_policy;

void mlos_mem_set_policy(mlos_mem_policy_fn fn)
{
    g_policy = fn;
}

mlos_mem_policy_fn mlos__mem_policy(void)
{
    return g_policy;
}
