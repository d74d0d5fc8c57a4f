/* mlos ps: the shards of every master on this host, from the registry
 * (registry.h). Columns: ID (<master pid>.<shard id>), MASTER (pid), ARCH,
 * STATE (starting, ready, dead), HOST PID (QEMU or process shard), MEMORY
 * (for the shard's allocator), CORES (in use / started), UPTIME (since the
 * spawn began), NODE. A header
 * line is always printed. --json prints one JSON array of objects instead
 * (sizes in bytes, times in Unix ms), -q the IDs alone, one per line, for
 * scripts (`mlos ps -q | xargs -n1 mlos stop`). Also removes the leftovers (socket, log) of
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

#include <jansson.h>

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
        if (sscanf(e->d_name, "master-%d.%7s", &pid, ext) != 2 || (strcmp(ext, "sock") && strcmp(ext, "log") && strcmp(ext, "ctl")))
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

static const char usage_text[] =
    "usage: mlos ps [--json | -q]\n"
    "List the shards of every master of this user on this host (with the node\n"
    "of shards a master runs on other nodes through their agents).\n"
    "  --json   one JSON array: id, master_pid, shard_id, arch, state, host_pid,\n"
    "           mem_bytes, start_time_ms, uptime_ms, spawned (started by mlos spawn),\n"
    "           node (\"\" on this host), cores, active_cores (not parked; 0: not known yet)\n"
    "  -q       shard IDs only, one per line\n";

static int print_json(const struct mlos_registry_rec *v, int n, uint64_t now)
{
    json_t *a = json_array();
    int rc = 1;
    for (int i = 0; a && i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%d.%u", v[i].master_pid, v[i].shard_id);
        json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:s, s:i, s:I, s:I, s:I, s:b, s:s, s:i, s:i}", "id", id, "master_pid",
                              v[i].master_pid, "shard_id", (json_int_t)v[i].shard_id, "arch", v[i].arch, "state",
                              v[i].state, "host_pid", v[i].host_pid, "mem_bytes", (json_int_t)v[i].mem_bytes,
                              "start_time_ms", (json_int_t)v[i].start_time_ms, "uptime_ms",
                              (json_int_t)(now > v[i].start_time_ms ? now - v[i].start_time_ms : 0), "spawned",
                              v[i].control[0] != 0, "node", v[i].node, "cores", (int)v[i].cores,
                              "active_cores", (int)v[i].active_cores);
        if (!o || json_array_append_new(a, o) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    char *text = a ? json_dumps(a, JSON_INDENT(2)) : NULL;
    if (text) {
        puts(text);
        rc = 0;
    } else {
        mlos_cli_error("ps", "cannot build the JSON output (out of memory)");
    }
    free(text);
    json_decref(a);
    return rc;
}

int mlos_cli_ps(int argc, char **argv)
{
    struct mlos_registry_rec *v;
    struct timeval tv;
    int n, json = 0, quiet = 0;

    for (int i = 1; i < argc; i++) {
        if (mlos_cli_is_help(argv[i]))
            return mlos_cli_usage(usage_text, 1);
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            quiet = 1;
        else
            return mlos_cli_bad_option("ps", argv[i], usage_text);
    }
    if (json && quiet) {
        mlos_cli_error("ps", "--json and -q exclude each other");
        return 2;
    }
    char dir[512];
    if (mlos_registry_dir(dir, sizeof(dir)) < 0) {
        fprintf(stderr, "mlos: %s\n", mlos_registry_why());
        return 1;
    }
    clean_dead_masters();
    if ((n = mlos_registry_list(&v)) < 0) {
        mlos_cli_error("ps", "cannot read the registry in the runtime directory");
        return 1;
    }
    gettimeofday(&tv, NULL);
    uint64_t now = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    if (json) {
        int rc = print_json(v, n, now);
        free(v);
        return rc;
    }
    if (quiet) {
        for (int i = 0; i < n; i++)
            printf("%d.%u\n", v[i].master_pid, v[i].shard_id);
        free(v);
        return 0;
    }
    printf("%-14s %-8s %-8s %-9s %-9s %-9s %-6s %-9s %s\n", "ID", "MASTER", "ARCH", "STATE", "HOST PID", "MEMORY",
           "CORES", "UPTIME", "NODE");
    for (int i = 0; i < n; i++) {
        char id[32], mem[32], up[32], host[16], cores[24] = "-";
        snprintf(id, sizeof(id), "%d.%u", v[i].master_pid, v[i].shard_id);
        mlos_cli_format_size(v[i].mem_bytes, mem, sizeof(mem));
        format_uptime(now > v[i].start_time_ms ? now - v[i].start_time_ms : 0, up, sizeof(up));
        snprintf(host, sizeof(host), "%d", v[i].host_pid);
        if (v[i].cores) /* in use / started, e.g. 1/2 with one parked */
            snprintf(cores, sizeof(cores), "%u/%u", v[i].active_cores, v[i].cores);
        printf("%-14s %-8d %-8s %-9s %-9s %-9s %-6s %-9s %s\n", id, v[i].master_pid, v[i].arch, v[i].state,
               v[i].host_pid ? host : "-", mem, cores, up, v[i].node[0] ? v[i].node : "-");
    }
    free(v);
    return 0;
}
