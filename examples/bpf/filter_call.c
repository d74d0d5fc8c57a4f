/* Message-hook extension: drop CALLs to the task "crash" (the master can
 * still reach every other task, and bpf.load is never filtered).
 * R0: MLOS_HOOK_MSG_DROP or MLOS_HOOK_MSG_ACCEPT. */
#include "mlos_bpf_prog.h"

#define FRAME_CALL 2 /* rpc/wire/frame.h MLOS_FRAME_CALL */

uint64_t filter_call(const struct mlos_hook_msg_ctx *c)
{
    char bad[8] = {'c', 'r', 'a', 's', 'h', 0, 0, 0};

    if (c->type != FRAME_CALL || c->name_len != 5)
        return MLOS_HOOK_MSG_ACCEPT;
    return mlos_memeq(MLOS_REGION(c->name), bad, 5) ? MLOS_HOOK_MSG_DROP : MLOS_HOOK_MSG_ACCEPT;
}
