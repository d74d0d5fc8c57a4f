/* mlos call [--raw] ID TASK [ARG | @FILE | --hex HEX]: run TASK on a shard
 * started by `mlos spawn`, through its master's control socket. The
 * argument is the bytes of ARG, the contents of FILE (@- is stdin) or the
 * bytes spelled by HEX; none means empty. The result goes to stdout, as hex
 * (32 bytes per line) unless --raw. A task that fails prints the shard's
 * explanation; exit 1. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "master_ops.h"

static const char usage_text[] =
    "usage: mlos call [--raw] ID TASK [ARG | @FILE | --hex HEX]\n"
    "Run TASK on shard ID (started by mlos spawn) and print its result.\n"
    "  ARG        the argument is these bytes (no terminating NUL)\n"
    "  @FILE      the argument is the contents of FILE (@- reads stdin)\n"
    "  --hex HEX  the argument is the bytes HEX spells (e.g. 0010000000000000)\n"
    "  --raw      write the result bytes as they are (default: hex, 32 bytes a line)\n"
    "Arguments are at most 1 MiB.\n";

/* Reads all of f into a malloc'ed buffer, at most max bytes. */
static int slurp(FILE *f, uint8_t **out, size_t *len, size_t max)
{
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (n > max) {
            free(b);
            return MLOS_ETOOBIG;
        }
        if (k == 0)
            break;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb)
                break;
            b = nb;
        }
    }
    if (!b || ferror(f)) {
        free(b);
        return MLOS_EIO;
    }
    *out = b;
    *len = n;
    return 0;
}

static int unhex(const char *s, uint8_t **out, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2)
        return -1;
    uint8_t *b = malloc(n / 2 + 1);
    if (!b)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        char h[3] = {s[i], s[i + 1], 0};
        if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1])) {
            free(b);
            return -1;
        }
        b[i / 2] = (uint8_t)strtoul(h, NULL, 16);
    }
    *out = b;
    *len = n / 2;
    return 0;
}

int mlos_cli_call(int argc, char **argv)
{
    const char *pos[3] = {0}, *hex = NULL;
    int npos = 0, raw = 0, fd, rc = 1;
    uint8_t *arg = NULL, *res = NULL;
    size_t arg_len = 0;
    char line[MLOS_CLI_LINE_MAX];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mlos_cli_is_help(a))
            return mlos_cli_usage(usage_text, 1);
        if (!strcmp(a, "--raw"))
            raw = 1;
        else if (!strcmp(a, "--hex") && i + 1 < argc)
            hex = argv[++i];
        else if (!strncmp(a, "--hex=", 6))
            hex = a + 6;
        else if (a[0] == '-' && a[1] && npos < 2)
            return mlos_cli_bad_option("call", a, usage_text);
        else if (npos < 3)
            pos[npos++] = a;
        else
            return mlos_cli_bad_option("call", a, usage_text);
    }
    if (npos < 2 || (hex && npos == 3))
        return mlos_cli_usage(usage_text, 0);
    if (strlen(pos[1]) >= 128 || strpbrk(pos[1], " \t\r\n")) {
        mlos_cli_error("call", "bad task name '%s'", pos[1]);
        return 2;
    }
    if (hex) {
        if (unhex(hex, &arg, &arg_len) < 0) {
            mlos_cli_error("call", "--hex '%s' is not an even number of hex digits", hex);
            return 2;
        }
    } else if (npos == 3 && pos[2][0] == '@') {
        const char *path = pos[2] + 1;
        FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        if (!f) {
            mlos_cli_error("call", "cannot read argument file '%s': %s", path, strerror(errno));
            return 1;
        }
        int r = slurp(f, &arg, &arg_len, MLOS_CLI_MAX_ARG);
        if (f != stdin)
            fclose(f);
        if (r < 0) {
            mlos_cli_error("call", "argument file '%s': %s", path,
                           r == MLOS_ETOOBIG ? "larger than 1 MiB" : "read error");
            return 1;
        }
    } else if (npos == 3) {
        arg_len = strlen(pos[2]);
        if (arg_len > MLOS_CLI_MAX_ARG) {
            mlos_cli_error("call", "argument larger than 1 MiB");
            return 2;
        }
        arg = (uint8_t *)strdup(pos[2]);
    }
    if ((fd = mlos_cli_open("call", pos[0])) < 0) {
        free(arg);
        return fd == -2 ? 2 : 1;
    }
    snprintf(line, sizeof(line), "call %s %zu\n", pos[1], arg_len);
    if (mlos_cli_send(fd, line, strlen(line)) < 0 || mlos_cli_send(fd, arg, arg_len) < 0) {
        mlos_cli_error("call", "cannot send the request: %s", strerror(errno));
        goto out;
    }
    if (mlos_cli_reply("call", fd, line, sizeof(line)) < 0)
        goto out;
    size_t len;
    uint64_t run_ns;
    if (sscanf(line, "ok %zu %" SCNu64, &len, &run_ns) != 2 || len > (64u << 20) || !(res = malloc(len + 1)) ||
        mlos_cli_recv(fd, res, len) < 0) {
        mlos_cli_error("call", "malformed answer from the master");
        goto out;
    }
    if (raw) {
        fwrite(res, 1, len, stdout);
    } else {
        for (size_t i = 0; i < len; i++)
            printf("%02x%s", res[i], (i % 32 == 31 || i + 1 == len) ? "\n" : "");
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    free(res);
    free(arg);
    close(fd);
    return rc;
}
