/* qemu_boot.h -- the bare-QEMU baseline of the spawn benchmarks: start QEMU
 * with exactly the options the master uses (memfd RAM, console, doorbell
 * socketpair), boot `image` and time until QEMU exits. Shared by
 * bench_skeleton (empty kernel) and bench_ppc (slave images). The includer
 * defines _GNU_SOURCE before any header (memfd_create). */
#ifndef MLOS_BENCH_QEMU_BOOT_H
#define MLOS_BENCH_QEMU_BOOT_H

#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "kinds/qemu_ppc.h"
#include "kinds/qemu_x86_64.h"

static int bench_qemu_done;
static void bench_qemu_exit(uv_process_t *p, int64_t status, int sig)
{
    bench_qemu_done = 1;
    uv_close((uv_handle_t *)p, NULL);
}

/* Nanoseconds from spawn to exit, or 0 if QEMU could not be started. */
static uint64_t bench_qemu_boot_exit(uv_loop_t *loop, const char *arch, const char *image, size_t ram)
{
    int memfd = memfd_create("bench-ram", MFD_CLOEXEC), sv[2] = {-1, -1}, rc = -1;
    char *argv[64], buf[4096];
    uint64_t t = 0;

    if (memfd >= 0 && ftruncate(memfd, (off_t)ram) == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        if (!strcmp(arch, "ppc")) {
            struct mlos_qemu_ppc_cfg c = {.qemu_path = "qemu-system-ppc", .image = image, .ram_bytes = ram,
                                          .ram_fd = 4, .doorbell_fd = 3, .cmdline = ""};
            rc = mlos_qemu_ppc_argv(&c, argv, 64, buf, sizeof(buf));
        } else {
            struct mlos_qemu_x86_64_cfg c = {.qemu_path = "qemu-system-x86_64", .image = image, .ram_bytes = ram,
                                             .ram_fd = 4, .doorbell_fd = 3, .cmdline = ""};
            rc = mlos_qemu_x86_64_argv(&c, argv, 64, buf, sizeof(buf));
        }
    }
    if (rc >= 0) {
        uv_process_t proc;
        uv_process_options_t po = {0};
        uv_stdio_container_t stdio[5] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD}};
        stdio[2].data.fd = 2;
        stdio[3].flags = UV_INHERIT_FD;
        stdio[3].data.fd = sv[1];
        stdio[4].flags = UV_INHERIT_FD;
        stdio[4].data.fd = memfd;
        po.file = argv[0];
        po.args = argv;
        po.stdio = stdio;
        po.stdio_count = 5;
        po.exit_cb = bench_qemu_exit;
        bench_qemu_done = 0;
        uint64_t t0 = uv_hrtime();
        if (uv_spawn(loop, &proc, &po) == 0) {
            while (!bench_qemu_done)
                uv_run(loop, UV_RUN_ONCE);
            t = uv_hrtime() - t0;
            uv_run(loop, UV_RUN_NOWAIT);
        }
    }
    if (memfd >= 0)
        close(memfd);
    if (sv[0] >= 0) {
        close(sv[0]);
        close(sv[1]);
    }
    return t;
}

#endif
