/* The client side of a detached master's control socket (master_ops.h has
 * the wire format), shared by call, put, get and console. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "mlos_error.h"
#include "registry.h"

int mlos_cli_open(const char *cmd, const char *idtxt)
{
    struct mlos_registry_rec *v;
    int pid, has_id, n, fd = -1, found = 0;
    unsigned id;

    if (mlos_cli_parse_id(idtxt, &pid, &id, &has_id) < 0) {
        mlos_cli_error(cmd, "bad shard id '%s' (PID.N as mlos ps shows it)", idtxt);
        return -2;
    }
    if ((n = mlos_registry_list(&v)) < 0) {
        mlos_cli_error(cmd, "cannot read the registry in the runtime directory");
        return -1;
    }
    for (int i = 0; i < n && !found; i++) {
        if (v[i].master_pid != pid || (has_id && v[i].shard_id != id))
            continue;
        found = 1;
        if (!v[i].control[0]) {
            mlos_cli_error(cmd, "shard %d.%u belongs to an application master, not to 'mlos spawn'", pid,
                           v[i].shard_id);
            break;
        }
        char why[600];
        if ((fd = mlos_cli_connect_own(v[i].control, why, sizeof(why))) < 0)
            mlos_cli_error(cmd, "shard %s: %s", idtxt, why);
    }
    free(v);
    if (!found)
        mlos_cli_error(cmd, "no shard '%s' (see mlos ps)", idtxt);
    return fd;
}

int mlos_cli_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int mlos_cli_recv(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t k = read(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int mlos_cli_recv_line(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t k = read(fd, buf + len, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        if (buf[len] == '\n') {
            buf[len] = 0;
            return 0;
        }
        len++;
    }
    return -1;
}

int mlos_cli_reply(const char *cmd, int fd, char *line, size_t cap)
{
    if (mlos_cli_recv_line(fd, line, cap) < 0) {
        mlos_cli_error(cmd, "the master closed the connection without an answer");
        return -1;
    }
    if (!strncmp(line, "ok", 2) && (line[2] == 0 || line[2] == ' '))
        return 0;
    int code = 0, off = 0;
    if (sscanf(line, "error %d %n", &code, &off) >= 1 && off > 0) {
        mlos_cli_error(cmd, "%s (%s)", line + off, mlos_strerror(code));
        return -1;
    }
    mlos_cli_error(cmd, "the master answered '%.80s'", line);
    return -1;
}
