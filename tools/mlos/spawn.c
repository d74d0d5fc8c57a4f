/* mlos spawn [--arch A] [--mem M] [--image PATH]: fork a detached master (master.c) that
 * starts one shard and keeps it until `mlos stop`. Prints
 * "<pid>.<id> ready (<arch>, <mem>)" once the shard said HELLO; exit 0.
 * On failure prints the reason; exit 1. The master's own diagnostics go
 * to <runtime dir>/master-<pid>.log (removed when it exits cleanly). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "mlos.h"
#include "registry.h"

static const char usage_text[] =
    "usage: mlos spawn [--arch x86_64|ppc|process] [--mem SIZE] [--image PATH]\n"
    "Start one shard under a detached master; print its ID once it is ready.\n"
    "  --arch A      x86_64 (bare metal, default), ppc (bare metal) or process\n"
    "  --mem SIZE    memory for the shard's allocator (default 64M; 1M at least;\n"
    "                bare-metal guests have at most 3G of RAM in all)\n"
    "  --image PATH  the shard image (default: found on MLOS_IMAGE_PATH)\n"
    "  --kvm WHEN    x86_64 under KVM: no (default, TCG), yes (fail at once if KVM\n"
    "                cannot run a guest here), auto (KVM if a quick probe works)\n";

/* In the child: a session of its own, stdio away from the terminal or the
 * test harness (so nobody waits on our pipes), no inherited descriptors. */
static void detach(int ready_fd)
{
    char dir[512], log[600];
    int fd;

    setsid();
    if (ready_fd != 3) {
        dup2(ready_fd, 3);
        close(ready_fd);
    }
    close_range(4, ~0u, 0);
    fd = open("/dev/null", O_RDONLY);
    dup2(fd, 0);
    if (fd > 3)
        close(fd);
    if (mlos_registry_dir(dir, sizeof(dir)) == 0) {
        snprintf(log, sizeof(log), "%s/master-%d.log", dir, (int)getpid());
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    } else {
        fd = open("/dev/null", O_WRONLY);
    }
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 3)
        close(fd);
    fcntl(3, F_SETFD, FD_CLOEXEC); /* not into QEMU */
}

int mlos_cli_spawn(int argc, char **argv)
{
    const char *arch = "x86_64", *image = NULL, *memarg = "64M";
    int kvm = 0;
    uint64_t mem = 64ull << 20;
    char dir[512], line[512], memtxt[32], image_abs[4096];
    int p[2];
    pid_t pid;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (mlos_cli_is_help(a))
            return mlos_cli_usage(usage_text, 1);
        int named = !strcmp(a, "--arch") || !strcmp(a, "--mem") || !strcmp(a, "--image") || !strcmp(a, "--kvm");
        if (named && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(a, "--arch=", 7) || !strncmp(a, "--mem=", 6) || !strncmp(a, "--image=", 8) ||
                 !strncmp(a, "--kvm=", 6))
            v = strchr(a, '=') + 1;
        else if (named) {
            mlos_cli_error("spawn", "%s needs a value", a);
            return mlos_cli_usage(usage_text, 0);
        } else
            return mlos_cli_bad_option("spawn", a, usage_text);
        if (!strncmp(a, "--arch", 6))
            arch = v;
        else if (!strncmp(a, "--kvm", 5)) {
            if (!strcmp(v, "yes"))
                kvm = 1;
            else if (!strcmp(v, "no"))
                kvm = 0;
            else if (!strcmp(v, "auto"))
                kvm = MLOS_KVM_AUTO;
            else {
                mlos_cli_error("spawn", "bad --kvm '%s' (yes, no or auto)", v);
                return 2;
            }
        }
        else if (!strncmp(a, "--image", 7))
            image = v;
        else if (mlos_cli_parse_size(v, &mem) < 0 || mem < (1ull << 20)) {
            mlos_cli_error("spawn", "bad memory size '%s' (e.g. 64M, 1G; at least 1M)", v);
            return 2;
        } else
            memarg = v;
    }
    if (strcmp(arch, "x86_64") && strcmp(arch, "ppc") && strcmp(arch, "process")) {
        mlos_cli_error("spawn", "unknown arch '%s' (x86_64, ppc, process)", arch);
        return 2;
    }
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0 && mem > (uint64_t)pages * (uint64_t)psz) {
        mlos_cli_format_size((uint64_t)pages * (uint64_t)psz, memtxt, sizeof(memtxt));
        mlos_cli_error("spawn", "--mem %s is more than this host's memory (%s)", memarg, memtxt);
        return 2;
    }
    if (strcmp(arch, "process") && mem > (3ull << 30) - (64ull << 20)) {
        /* The guest RAM holds the allocator's memory, the window and the image. */
        mlos_cli_error("spawn", "--mem %s is too large for a bare-metal %s shard (at most 2G + 960M)", memarg, arch);
        return 2;
    }
    if (kvm && strcmp(arch, "x86_64")) {
        mlos_cli_error("spawn", "--kvm is for x86_64 shards, not %s", arch);
        return 2;
    }
    if (image) {
        if (access(image, R_OK) < 0 || !realpath(image, image_abs)) {
            mlos_cli_error("spawn", "image '%s': %s", image, strerror(errno));
            return 1;
        }
        image = image_abs; /* the master runs elsewhere in time, not in place */
    }
    if (mlos_registry_dir(dir, sizeof(dir)) < 0) {
        mlos_cli_error("spawn", "cannot create the runtime directory (MLOS_RUNTIME_DIR, else $XDG_RUNTIME_DIR/mlos, else /tmp/mlos-$UID)");
        return 1;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        mlos_cli_error("spawn", "pipe: %s", strerror(errno));
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        mlos_cli_error("spawn", "fork: %s", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        close(p[0]);
        detach(p[1]);
        _exit(mlos_cli_master(arch, mem, image, kvm, 3));
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(line) - 1 && (n = read(p[0], line + len, sizeof(line) - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    close(p[0]);
    line[len] = 0;
    line[strcspn(line, "\n")] = 0;

    char id[64], rarch[32];
    unsigned long long rmem;
    if (sscanf(line, "ok %63s %31s %llu", id, rarch, &rmem) == 3) {
        mlos_cli_format_size(rmem, memtxt, sizeof(memtxt));
        printf("%s ready (%s, %s)\n", id, rarch, memtxt);
        return 0; /* the master lives on, detached */
    }
    int status;
    waitpid(pid, &status, 0); /* it exits after a failed start */
    mlos_cli_error("spawn", "%s", !strncmp(line, "err ", 4) ? line + 4 : "the master exited before the shard was ready");
    return 1;
}
