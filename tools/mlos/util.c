/* Helpers shared by the mlos subcommands: sizes, socket paths, shard IDs,
 * usage and error messages, peer credentials. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "registry.h"

int mlos_cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    v = strtoull(s, &end, 10);
    if (!strcasecmp(end, "") || !strcasecmp(end, "b"))
        mul = 1;
    else if (!strcasecmp(end, "k") || !strcasecmp(end, "kib") || !strcasecmp(end, "kb"))
        mul = 1ull << 10;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib") || !strcasecmp(end, "mb"))
        mul = 1ull << 20;
    else if (!strcasecmp(end, "g") || !strcasecmp(end, "gib") || !strcasecmp(end, "gb"))
        mul = 1ull << 30;
    else
        return -1;
    if (v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

/* Whole units when exact, else one decimal: 64 MiB, 31.9 MiB, 23.5 GiB.
 * Truncated, not rounded, so a size never reads larger than it is. */
void mlos_cli_format_size(uint64_t b, char *out, size_t cap)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && b >= (1ull << (10 * (u + 1))))
        u++;
    uint64_t whole = b >> (10 * u), rest = b - (whole << (10 * u));
    if (u == 0 || rest == 0)
        snprintf(out, cap, "%llu %s", (unsigned long long)whole, unit[u]);
    else
        snprintf(out, cap, "%llu.%llu %s", (unsigned long long)whole,
                 (unsigned long long)(rest * 10 >> (10 * u)), unit[u]);
}

int mlos_cli_peer_uid(int fd, unsigned *uid)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr))
        return -1;
    *uid = (unsigned)cr.uid;
    return 0;
}

int mlos_cli_socket_path(int pid, char *out, size_t cap)
{
    char dir[512];
    if (mlos_registry_dir(dir, sizeof(dir)) < 0)
        return -1;
    int n = snprintf(out, cap, "%s/master-%d.sock", dir, pid);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int mlos_cli_is_help(const char *arg) { return arg && (!strcmp(arg, "-h") || !strcmp(arg, "--help")); }

int mlos_cli_usage(const char *usage, int to_stdout)
{
    fputs(usage, to_stdout ? stdout : stderr);
    return to_stdout ? 0 : 2;
}

void mlos_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mlos %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int mlos_cli_bad_option(const char *cmd, const char *opt, const char *usage)
{
    if (opt[0] == '-')
        mlos_cli_error(cmd, "unknown option '%s'", opt);
    else
        mlos_cli_error(cmd, "unexpected argument '%s'", opt);
    return mlos_cli_usage(usage, 0);
}

int mlos_cli_parse_id(const char *s, int *pid, unsigned *id, int *has_id)
{
    char extra;
    int k;
    if (!s || *s < '0' || *s > '9')
        return -1;
    k = sscanf(s, "%d.%u%c", pid, id, &extra);
    if (k == 2 && *pid > 0) {
        *has_id = 1;
        return 0;
    }
    if (k == 1 && !strchr(s, '.') && *pid > 0) {
        *has_id = 0;
        return 0;
    }
    return -1;
}

int mlos_cli_progress_wanted(int flag)
{
    return flag || isatty(2);
}

int mlos_cli_connect_own(const char *path, char *why, size_t cap)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    unsigned peer = ~0u; /* ~0u: could not tell */
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(why, cap, "control socket path too long: %s", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Talk only to a master of ours: the socket file must be ours (a
     * record may name any path) and so must the process serving it. */
    if (lstat(path, &st) == 0 && (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())) {
        snprintf(why, cap, "refusing its control socket %s: %s uid %u, not yours (uid %u)", path,
                 S_ISSOCK(st.st_mode) ? "a socket of" : "not a socket, owned by", (unsigned)st.st_uid,
                 (unsigned)geteuid());
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* connect waits while the listener's backlog is full (a master that
     * never accepts): bounded by a send timeout, cleared after */
    struct timeval tmo = {.tv_sec = MLOS_CLI_CONNECT_TIMEOUT_S}, none = {0};
    if (fd >= 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(why, cap, "cannot reach its master at %s: %s", path,
                 errno == EAGAIN || errno == EINPROGRESS ? "it accepts no connection (timed out)" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
    if (mlos_cli_peer_uid(fd, &peer) < 0 || peer != (unsigned)geteuid()) {
        snprintf(why, cap, "refusing its control socket %s: served by uid %u, not by you (uid %u)", path, peer,
                 (unsigned)geteuid());
        close(fd);
        return -1;
    }
    return fd;
}
