/* mlos spawn [--arch A] [--mem M] [--image PATH] [--kvm W] [-n N]: fork
 * detached masters (master.c), each of which starts one shard and keeps it
 * until `mlos stop`. Prints "<pid>.<id> ready (<arch>, <mem>)" for each
 * once its shard said HELLO; exit 0. On failure prints the reason; exit 1
 * (with -n, if any failed; the others keep running). With -n and a
 * terminal (or --progress), "k/N ready" on stderr as the shards come up. The master's own diagnostics go
 * to <runtime dir>/master-<pid>.log (removed when it exits cleanly). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "kinds/kind.h"
#include "mlos.h"
#include "registry.h"

static const char usage_text[] =
    "usage: mlos spawn [--arch x86_64|ppc|process] [--mem SIZE] [--image PATH] [--kvm WHEN]\n"
    "                  [-n COUNT] [--progress]\n"
    "Start shards, each under a detached master; print each ID once it is ready.\n"
    "  --arch A      x86_64 (bare metal, default), ppc (bare metal) or process\n"
    "  --mem SIZE    memory for the shard's allocator (default 64M; 1M at least;\n"
    "                bare-metal guests have at most 3G of RAM in all)\n"
    "  --image PATH  the shard image (default: found on MLOS_IMAGE_PATH)\n"
    "  --kvm WHEN    x86_64 under KVM: no (default, TCG), yes (fail at once if KVM\n"
    "                cannot run a guest here), auto (KVM if a quick probe works)\n"
    "  -n, --count N start N shards at once (1 to 256); exit 1 if any failed\n"
    "  --progress    \"k/N ready\" on stderr as they come (default when it is a terminal)\n";

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
        /* A fresh file, never through a link: a leftover with our pid is a
         * dead master's log (the directory is ours, checked). */
        unlink(log);
        fd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            fd = open("/dev/null", O_WRONLY);
    } else {
        fd = open("/dev/null", O_WRONLY);
    }
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 3)
        close(fd);
    fcntl(3, F_SETFD, FD_CLOEXEC); /* not into QEMU */
}

struct child {
    pid_t pid;
    int fd; /* read end of its ready pipe, -1 once answered */
    char line[512];
    size_t len;
};

/* Fork one detached master; 0 or -1 (message printed). */
static int start_one(struct child *c, const char *arch, uint64_t mem, const char *image, int kvm)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        mlos_cli_error("spawn", "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    if ((c->pid = fork()) < 0) {
        mlos_cli_error("spawn", "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (c->pid == 0) {
        close(p[0]);
        detach(p[1]);
        _exit(mlos_cli_master(arch, mem, image, kvm, 3));
    }
    close(p[1]);
    c->fd = p[0];
    c->len = 0;
    return 0;
}

/* The master's one line arrived (or its pipe closed): report it. */
static int finish_one(struct child *c)
{
    char id[64], rarch[32], memtxt[32];
    unsigned long long rmem;
    int status;
    close(c->fd);
    c->fd = -1;
    c->line[c->len] = 0;
    c->line[strcspn(c->line, "\n")] = 0;
    if (sscanf(c->line, "ok %63s %31s %llu", id, rarch, &rmem) == 3) {
        mlos_cli_format_size(rmem, memtxt, sizeof(memtxt));
        printf("%s ready (%s, %s)\n", id, rarch, memtxt);
        fflush(stdout);
        return 0; /* the master lives on, detached */
    }
    waitpid(c->pid, &status, 0); /* it exits after a failed start */
    mlos_cli_error("spawn", "%s",
                   !strncmp(c->line, "err ", 4) ? c->line + 4 : "the master exited before the shard was ready");
    return -1;
}

/* Start count masters at once (their shards boot in parallel) and report
 * each as it is ready. progress: 0 none, 1 a line per change, 2 one line
 * rewritten in place (a terminal). */
static int start_all(const char *arch, uint64_t mem, const char *image, int kvm, unsigned count, int progress)
{
    struct child *c = calloc(count, sizeof(*c));
    unsigned started = 0, ready = 0, failed = 0;
    if (!c) {
        mlos_cli_error("spawn", "out of memory");
        return 1;
    }
    for (; started < count; started++)
        if (start_one(&c[started], arch, mem, image, kvm) < 0)
            break;
    failed = count - started; /* never started */
    while (ready + failed < count) {
        struct pollfd pf[count];
        nfds_t n = 0;
        for (unsigned i = 0; i < started; i++)
            if (c[i].fd >= 0)
                pf[n++] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
        if (n == 0 || poll(pf, n, -1) < 0) {
            if (n && errno == EINTR)
                continue;
            break;
        }
        for (unsigned i = 0; i < started; i++) {
            if (c[i].fd < 0)
                continue;
            nfds_t k = 0;
            while (k < n && pf[k].fd != c[i].fd)
                k++;
            if (k == n || !pf[k].revents)
                continue;
            ssize_t r = read(c[i].fd, c[i].line + c[i].len, sizeof(c[i].line) - 1 - c[i].len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r > 0)
                c[i].len += (size_t)r;
            if (r > 0 && c[i].len < sizeof(c[i].line) - 1 && !memchr(c[i].line, '\n', c[i].len))
                continue;
            if (progress == 2)
                fputs("\r\033[K", stderr); /* the result lines go above the progress line */
            if (finish_one(&c[i]) == 0)
                ready++;
            else
                failed++;
            if (progress && count > 1) {
                char msg[96];
                int m = snprintf(msg, sizeof(msg), "mlos spawn: %u/%u ready", ready, count);
                if (failed)
                    snprintf(msg + m, sizeof(msg) - (size_t)m, ", %u failed", failed);
                fprintf(stderr, progress == 2 ? "%s" : "%s\n", msg);
            }
        }
    }
    if (progress == 2 && count > 1)
        fputc('\n', stderr);
    free(c);
    return failed ? 1 : 0;
}

int mlos_cli_spawn(int argc, char **argv)
{
    const char *arch = "x86_64", *image = NULL, *memarg = "64M";
    int kvm = 0;
    uint64_t mem = 64ull << 20;
    char dir[512], memtxt[32], image_abs[4096];
    unsigned count = 1;
    int progress = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (mlos_cli_is_help(a))
            return mlos_cli_usage(usage_text, 1);
        if (!strcmp(a, "--progress")) {
            progress = 1;
            continue;
        }
        if ((!strcmp(a, "-n") || !strcmp(a, "--count")) && i + 1 < argc) {
            char *end;
            unsigned long n = strtoul(argv[++i], &end, 10);
            if (*end || end == argv[i] || argv[i][0] == '-' || n < 1 || n > 256) {
                mlos_cli_error("spawn", "bad --count '%s' (1 to 256)", argv[i]);
                return 2;
            }
            count = (unsigned)n;
            continue;
        }
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
    if (!mlos__kind_find(arch)) {
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
        mlos_cli_error("spawn", "%s", mlos_registry_why());
        return 1;
    }
    return start_all(arch, mem, image, kvm, count, mlos_cli_progress_wanted(progress) ? (isatty(2) ? 2 : 1) : 0);
}
