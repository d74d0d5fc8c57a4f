/* mlos spawn [--arch A] [--mem M]: fork a detached master (master.c) that
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
#include "registry.h"

static int usage(void)
{
    fprintf(stderr, "usage: mlos spawn [--arch x86_64|ppc|process] [--mem SIZE]\n");
    return 2;
}

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

int mlos_cli_spawn(int argc, char **argv)
{
    const char *arch = "x86_64";
    uint64_t mem = 64ull << 20;
    char dir[512], line[512], memtxt[32];
    int p[2];
    pid_t pid;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if ((!strcmp(a, "--arch") || !strcmp(a, "--mem")) && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(a, "--arch=", 7) || !strncmp(a, "--mem=", 6))
            v = strchr(a, '=') + 1;
        else
            return usage();
        if (!strncmp(a, "--arch", 6))
            arch = v;
        else if (mlos_cli_parse_size(v, &mem) < 0 || mem < (1ull << 20)) {
            fprintf(stderr, "mlos: bad memory size '%s' (e.g. 64M, 1G; at least 1M)\n", v);
            return 2;
        }
    }
    if (strcmp(arch, "x86_64") && strcmp(arch, "ppc") && strcmp(arch, "process")) {
        fprintf(stderr, "mlos: unknown arch '%s' (x86_64, ppc, process)\n", arch);
        return 2;
    }
    if (mlos_registry_dir(dir, sizeof(dir)) < 0) {
        fprintf(stderr, "mlos: %s\n", mlos_registry_why());
        return 1;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("mlos: pipe");
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        perror("mlos: fork");
        return 1;
    }
    if (pid == 0) {
        close(p[0]);
        detach(p[1]);
        _exit(mlos_cli_master(arch, mem, 3));
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
    fprintf(stderr, "mlos: spawn failed: %s\n",
            !strncmp(line, "err ", 4) ? line + 4 : "the master exited before the shard was ready");
    return 1;
}
