/* mlos ps: the shards of every master on this host, from the registry
 * (registry.h). Columns: ID (<master pid>.<shard id>), MASTER (pid), ARCH,
 * STATE (starting, ready, dead), HOST PID (QEMU or process shard), MEMORY
 * (for the shard's allocator), UPTIME (since the spawn began). A header
 * line is always printed. Also removes the leftovers (socket, log) of
 * `mlos spawn` masters that no longer run. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "registry.h"

static void clean_dead_masters(void)
{
    char dir[512], path[1024];
    struct dirent *e;
    DIR *d;
    int pid;
    if (mlos_registry_dir(dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
        return;
    while ((e = readdir(d))) {
        char ext[8];
        if (sscanf(e->d_name, "master-%d.%7s", &pid, ext) != 2 || (strcmp(ext, "sock") && strcmp(ext, "log")))
            continue;
        if (kill(pid, 0) < 0 && errno == ESRCH) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static void format_uptime(uint64_t ms, char *out, size_t cap)
{
    uint64_t s = ms / 1000;
    if (s >= 86400)
        snprintf(out, cap, "%llud%02lluh", (unsigned long long)(s / 86400), (unsigned long long)(s % 86400 / 3600));
    else
        snprintf(out, cap, "%llu:%02llu:%02llu", (unsigned long long)(s / 3600), (unsigned long long)(s % 3600 / 60),
                 (unsigned long long)(s % 60));
}

int mlos_cli_ps(int argc, char **argv)
{
    struct mlos_registry_rec *v;
    struct timeval tv;
    int n;

    if (argc > 1) {
        fprintf(stderr, "usage: mlos ps\n");
        return 2;
    }
    char dir[512];
    if (mlos_registry_dir(dir, sizeof(dir)) < 0) {
        fprintf(stderr, "mlos: %s\n", mlos_registry_why());
        return 1;
    }
    clean_dead_masters();
    if ((n = mlos_registry_list(&v)) < 0) {
        fprintf(stderr, "mlos: cannot read the registry in the runtime directory\n");
        return 1;
    }
    gettimeofday(&tv, NULL);
    uint64_t now = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    printf("%-14s %-8s %-8s %-9s %-9s %-9s %s\n", "ID", "MASTER", "ARCH", "STATE", "HOST PID", "MEMORY", "UPTIME");
    for (int i = 0; i < n; i++) {
        char id[32], mem[32], up[32], host[16];
        snprintf(id, sizeof(id), "%d.%u", v[i].master_pid, v[i].shard_id);
        mlos_cli_format_size(v[i].mem_bytes, mem, sizeof(mem));
        format_uptime(now > v[i].start_time_ms ? now - v[i].start_time_ms : 0, up, sizeof(up));
        snprintf(host, sizeof(host), "%d", v[i].host_pid);
        printf("%-14s %-8d %-8s %-9s %-9s %-9s %s\n", id, v[i].master_pid, v[i].arch, v[i].state,
               v[i].host_pid ? host : "-", mem, up);
    }
    free(v);
    return 0;
}
