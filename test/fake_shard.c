/* fake-shard: a misbehaving process shard for the master's robustness
 * tests. It attaches to the window like a real shard, then does what
 * MLOS_FAKE_MODE says:
 *   garbage     a frame with a bad magic
 *   badtype     a valid frame of an unknown type
 *   badlength   a header whose length runs past the published data
 *   undecodable a HELLO whose payload is not protobuf
 *   strayreply  a valid HELLO, then a REPLY to a call never made
 *   silent      attach and never say anything
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal.h"
#include "hal_linux.h"
#include "mlos.pb-c.h"
#include "mlos_endian.h"
#include "ring.h"
#include "window.h"

static struct mlos_ring out;

static void hello(void)
{
    Mlos__Hello h = MLOS__HELLO__INIT;
    uint8_t buf[64];
    h.arch = "process";
    size_t n = mlos__hello__pack(&h, buf);
    mlos_ring_push(&out, MLOS_FRAME_HELLO, 0, buf, (uint32_t)n);
    mlos_hal_doorbell_ring();
}

int main(void)
{
    uv_loop_t loop;
    struct mlos_hal_linux_cfg cfg = {.window_fd = 4, .doorbell_fd = 3, .mem_bytes = 1 << 20};
    const char *mode = getenv("MLOS_FAKE_MODE");
    void *w;
    size_t len;

    uv_loop_init(&loop);
    if (!mode || mlos_hal_linux_init(&loop, &cfg) < 0 || mlos_hal_window(&w, &len) < 0)
        return 2;
    struct mlos_window_hdr *h = w;
    uint64_t off = mlos_from_le64(h->to_master_off);
    mlos_ring_attach(&out, (uint8_t *)w + off, len - off);

    if (!strcmp(mode, "garbage")) {
        mlos_ring_push(&out, MLOS_FRAME_HELLO, 0, "xxxx", 4);
        out.data[0] = 'X';
    } else if (!strcmp(mode, "badtype")) {
        mlos_ring_push(&out, MLOS_FRAME_HELLO, 0, "xxxx", 4);
        out.data[5] = 99;
    } else if (!strcmp(mode, "badlength")) {
        mlos_ring_push(&out, MLOS_FRAME_HELLO, 0, "xxxx", 4);
        out.data[13] = 0x01; /* length += 64 KiB, far past head */
    } else if (!strcmp(mode, "undecodable")) {
        mlos_ring_push(&out, MLOS_FRAME_HELLO, 0, "\xff\xff\xff\xff", 4);
    } else if (!strcmp(mode, "strayreply")) {
        Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;
        uint8_t buf[16];
        hello();
        usleep(100000);
        mlos_ring_push(&out, MLOS_FRAME_REPLY, 4242, buf, (uint32_t)mlos__task_reply__pack(&r, buf));
    } else if (strcmp(mode, "silent")) {
        return 2;
    }
    mlos_hal_doorbell_ring();
    for (;;)
        mlos_hal_wait(UINT64_MAX); /* until the master kills us */
}
