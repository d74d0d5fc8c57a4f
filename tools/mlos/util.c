/* Helpers shared by the mlos subcommands: sizes and socket paths. */
#define _GNU_SOURCE
#include <ctype.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void mlos_cli_format_size(uint64_t b, char *out, size_t cap)
{
    if (b >= (1ull << 30) && b % (1ull << 30) == 0)
        snprintf(out, cap, "%llu GiB", (unsigned long long)(b >> 30));
    else if (b >= (1ull << 20))
        snprintf(out, cap, "%llu MiB", (unsigned long long)(b >> 20));
    else if (b >= (1ull << 10))
        snprintf(out, cap, "%llu KiB", (unsigned long long)(b >> 10));
    else
        snprintf(out, cap, "%llu B", (unsigned long long)b);
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
