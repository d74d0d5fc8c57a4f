/* mlos stop ID|PID|--all: stop shards. ID is <master pid>.<shard id>; PID
 * alone means every shard of that master; --all every shard started by
 * `mlos spawn`. A `mlos spawn` master is sent "stop" on its control
 * socket; we wait for "stopped" and for the process to exit (10 s). Any
 * other master (an application's, with shards here or on other nodes) is
 * sent "stop <shard id>" on its stop socket (master/control.c): it kills
 * that shard as a fence would, and its owner sees the shard die (a pool
 * replaces it); we wait until the record is gone or dead (10 s). Exit 0 if
 * every selected shard stopped, 1 otherwise (also: no such shard). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "registry.h"

#define STOP_TIMEOUT_MS 10000
#define REPLY_TIMEOUT_MS 5000 /* an application master answers "stop <id>" at once */

static const char usage_text[] =
    "usage: mlos stop ID | PID | --all\n"
    "Stop shards: ID (PID.N) one shard, PID every shard of that master (mlos spawn\n"
    "masters or applications', here or on other nodes), --all every shard started\n"
    "by mlos spawn. A stopped shard of an application dies as if lost.\n";

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Gone, or a zombie nobody reaped yet (our parent may not reap). */
static int process_gone(int pid)
{
    char path[64], buf[512];
    FILE *f;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return 1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

/* Send one request line on a master's socket and read its one-line reply
 * (without the newline) into reply, until deadline. The peer is
 * untrusted: a reply must be printable text ending in a newline within
 * rcap - 1 bytes and before the deadline; anything else (longer, late,
 * cut short, binary) is refused with why set, as is a master that cannot
 * be reached. Returns the reply's length or -1. */
static int ask(const char *path, const char *req, unsigned timeout_ms, char *reply, size_t rcap, char *why, size_t cap)
{
    uint64_t deadline = now_ms() + timeout_ms;
    size_t got = 0, len = strlen(req);
    char *nl = NULL;
    int fd = mlos_cli_connect_own(path, why, cap);

    if (fd < 0)
        return -1;
    /* a few bytes into an empty socket buffer: never blocks; a master that
     * closed gives EPIPE, not a SIGPIPE that would kill us silently */
    if (send(fd, req, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) {
        snprintf(why, cap, "cannot talk to its master: %s", strerror(errno));
        close(fd);
        return -1;
    }
    while (!nl && got < rcap - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = (int64_t)(deadline - now_ms());
        int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            snprintf(why, cap, "its master sent %s within %llu ms", got ? "no complete reply" : "no reply",
                     (unsigned long long)timeout_ms);
            close(fd);
            return -1;
        }
        ssize_t n = read(fd, reply + got, rcap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 && !got) {
                snprintf(why, cap, "its master closed the connection without a reply");
            } else {
                snprintf(why, cap, "its master's reply was cut short%s%s", n < 0 ? ": " : "",
                         n < 0 ? strerror(errno) : "");
            }
            close(fd);
            return -1;
        }
        nl = memchr(reply + got, '\n', (size_t)n);
        got += (size_t)n;
    }
    close(fd);
    if (!nl) {
        snprintf(why, cap, "its master's reply is longer than %zu bytes (garbled)", rcap - 2);
        return -1;
    }
    *nl = 0;
    for (const char *c = reply; *c; c++)
        if (*c < 0x20 || *c > 0x7e) {
            snprintf(why, cap, "its master's reply is garbled (byte 0x%02x at %zu is not text)",
                     (unsigned)(unsigned char)*c, (size_t)(c - reply));
            return -1;
        }
    if ((size_t)(nl - reply) != strlen(reply)) {
        snprintf(why, cap, "its master's reply is garbled (a NUL byte at %zu)", strlen(reply));
        return -1;
    }
    return (int)(nl - reply);
}

/* Returns 0 once the master answered "stopped" and exited. */
static int stop_master(const struct mlos_registry_rec *r, char *why, size_t cap)
{
    char reply[64];
    uint64_t deadline = now_ms() + STOP_TIMEOUT_MS;

    if (ask(r->control, "stop\n", STOP_TIMEOUT_MS, reply, sizeof(reply), why, cap) < 0)
        return -1;
    if (strcmp(reply, "stopped")) {
        snprintf(why, cap, "its master did not confirm the stop (it said '%.100s')", reply);
        return -1;
    }
    while (!process_gone(r->master_pid)) { /* the master exits right after */
        if (now_ms() > deadline) {
            snprintf(why, cap, "its master (pid %d) did not exit", r->master_pid);
            return -1;
        }
        usleep(10000);
    }
    return 0;
}

/* The record of (pid, id) is gone or dead? */
static int record_done(int pid, uint32_t id)
{
    struct mlos_registry_rec *v;
    int n = mlos_registry_list(&v), done = 1;
    for (int i = 0; i < n; i++)
        if (v[i].master_pid == pid && v[i].shard_id == id && strcmp(v[i].state, "dead"))
            done = 0;
    if (n >= 0)
        free(v);
    return done;
}

/* Ask an application master to stop one shard on its stop socket;
 * returns 0 once it said so and the shard's record is gone or dead. */
static int stop_one(const struct mlos_registry_rec *r, char *why, size_t cap)
{
    char req[48], reply[200], want[32];
    uint64_t deadline = now_ms() + STOP_TIMEOUT_MS;

    snprintf(req, sizeof(req), "stop %u\n", r->shard_id);
    snprintf(want, sizeof(want), "stopped %u", r->shard_id);
    /* the master answers at once; the shard's end is waited for below */
    if (ask(r->stop_socket, req, REPLY_TIMEOUT_MS, reply, sizeof(reply), why, cap) < 0)
        return -1;
    if (!strncmp(reply, "error: ", 7)) {
        snprintf(why, cap, "its master answered: %.150s", reply + 7);
        return -1;
    }
    if (strcmp(reply, want)) {
        snprintf(why, cap, "its master's reply is not '%s' but '%.100s'", want, reply);
        return -1;
    }
    while (!record_done(r->master_pid, r->shard_id)) {
        if (now_ms() > deadline) {
            snprintf(why, cap, "its master took the stop but still lists it as running");
            return -1;
        }
        usleep(10000);
    }
    return 0;
}

int mlos_cli_stop(int argc, char **argv)
{
    struct mlos_registry_rec *v;
    int all = 0, want_pid = 0, n, matched = 0, failed = 0;
    unsigned want_id = 0, has_id = 0;
    char why[300];

    for (int i = 1; i < argc; i++)
        if (mlos_cli_is_help(argv[i]))
            return mlos_cli_usage(usage_text, 1);
    for (int i = 2; i < argc; i++)
        return mlos_cli_bad_option("stop", argv[i], usage_text);
    if (argc != 2)
        return mlos_cli_usage(usage_text, 0);
    if (!strcmp(argv[1], "--all")) {
        all = 1;
    } else if (argv[1][0] == '-') {
        return mlos_cli_bad_option("stop", argv[1], usage_text);
    } else {
        int h;
        if (mlos_cli_parse_id(argv[1], &want_pid, &want_id, &h) < 0) {
            mlos_cli_error("stop", "bad shard id '%s' (PID.N, PID or --all)", argv[1]);
            return 2;
        }
        has_id = (unsigned)h;
    }
    char dir[512];
    if (mlos_registry_dir(dir, sizeof(dir)) < 0) {
        fprintf(stderr, "mlos: %s\n", mlos_registry_why());
        return 1;
    }
    if ((n = mlos_registry_list(&v)) < 0) {
        mlos_cli_error("stop", "cannot read the registry in the runtime directory");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const struct mlos_registry_rec *r = &v[i];
        if (!all && (r->master_pid != want_pid || (has_id && r->shard_id != want_id)))
            continue;
        matched++;
        if (!r->control[0]) {
            if (all)
                continue;
            if (!r->stop_socket[0]) {
                mlos_cli_error("stop", "shard %d.%u: its master %d serves no stop socket for it (its registry "
                               "record names none: a shard of a second loop, or the socket could not be "
                               "created); stop it from its program",
                               r->master_pid, r->shard_id, r->master_pid);
                failed++;
            } else if (stop_one(r, why, sizeof(why)) < 0) {
                mlos_cli_error("stop", "shard %d.%u: %s", r->master_pid, r->shard_id, why);
                failed++;
            } else {
                printf("stopped %d.%u%s%s\n", r->master_pid, r->shard_id, r->node[0] ? " on " : "", r->node);
            }
            continue;
        }
        if (i > 0 && v[i - 1].master_pid == r->master_pid && v[i - 1].control[0] && (all || !has_id))
            continue; /* same master, already asked */
        if (stop_master(r, why, sizeof(why)) < 0) {
            mlos_cli_error("stop", "shard %d.%u: %s", r->master_pid, r->shard_id, why);
            failed++;
        } else {
            printf("stopped %d.%u\n", r->master_pid, r->shard_id);
        }
    }
    free(v);
    if (!matched && !all) {
        mlos_cli_error("stop", "no shard '%s' (see mlos ps)", argv[1]);
        return 1;
    }
    return failed ? 1 : 0;
}
