/* mlos put ID OFFSET FILE / mlos get ID OFFSET LEN [-o FILE]: one-sided
 * copies into and out of the bulk window of a shard started by
 * `mlos spawn` (mlos_put/mlos_get in its master). OFFSET and LEN take the
 * size suffixes of --mem (4K, 1M) or plain bytes. FILE "-" is stdin for
 * put; get writes to stdout unless -o. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "master_ops.h"

static const char put_usage[] =
    "usage: mlos put ID OFFSET FILE\n"
    "Copy FILE (- for stdin) into the bulk window of shard ID at OFFSET.\n"
    "OFFSET takes a size suffix (4K, 1M) or is plain bytes.\n";
static const char get_usage[] =
    "usage: mlos get [-o FILE] ID OFFSET LEN\n"
    "Copy LEN bytes at OFFSET out of the bulk window of shard ID to stdout\n"
    "(or to FILE with -o). OFFSET and LEN take a size suffix (4K, 1M).\n";

/* Positional arguments and -o; returns the count or -1 (usage printed). */
static int args(const char *cmd, const char *usage, int argc, char **argv, const char **pos, int max,
                const char **outfile, int *rc)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mlos_cli_is_help(a)) {
            *rc = mlos_cli_usage(usage, 1);
            return -1;
        }
        if (outfile && !strcmp(a, "-o") && i + 1 < argc)
            *outfile = argv[++i];
        else if ((a[0] == '-' && a[1]) || n == max) {
            *rc = mlos_cli_bad_option(cmd, a, usage);
            return -1;
        } else
            pos[n++] = a;
    }
    if (n != max) {
        *rc = mlos_cli_usage(usage, 0);
        return -1;
    }
    return n;
}

static int size_arg(const char *cmd, const char *what, const char *s, uint64_t *v)
{
    if (mlos_cli_parse_size(s, v) == 0)
        return 0;
    mlos_cli_error(cmd, "bad %s '%s' (bytes, or with a suffix: 4K, 1M)", what, s);
    return -1;
}

int mlos_cli_put(int argc, char **argv)
{
    const char *pos[3];
    int rc = 2, fd;
    uint64_t off;
    char line[MLOS_CLI_LINE_MAX];
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;

    if (args("put", put_usage, argc, argv, pos, 3, NULL, &rc) < 0)
        return rc;
    if (size_arg("put", "offset", pos[1], &off) < 0)
        return 2;
    FILE *f = strcmp(pos[2], "-") ? fopen(pos[2], "rb") : stdin;
    if (!f) {
        mlos_cli_error("put", "cannot read '%s': %s", pos[2], strerror(errno));
        return 1;
    }
    for (;;) { /* whole file first: the master checks the range before it reads any */
        if (len == cap) {
            uint8_t *nd = realloc(data, cap = cap ? cap * 2 : 65536);
            if (!nd) {
                mlos_cli_error("put", "out of memory reading '%s'", pos[2]);
                goto fail_file;
            }
            data = nd;
        }
        size_t k = fread(data + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    if (ferror(f)) {
        mlos_cli_error("put", "read error on '%s'", pos[2]);
        goto fail_file;
    }
    if (f != stdin)
        fclose(f);
    rc = 1;
    if ((fd = mlos_cli_open("put", pos[0])) < 0) {
        free(data);
        return fd == -2 ? 2 : 1;
    }
    snprintf(line, sizeof(line), "put %llu %zu\n", (unsigned long long)off, len);
    /* The payload follows the header at once. A master that refuses the
     * header (range, dead shard) answers and closes without reading it: a
     * failed send is then no error of its own, the answer says why. */
    int sent = mlos_cli_send(fd, line, strlen(line)) == 0 && mlos_cli_send(fd, data, len) == 0;
    int err = errno;
    if (mlos_cli_reply("put", fd, line, sizeof(line)) == 0) {
        if (sent)
            rc = 0;
        else
            mlos_cli_error("put", "cannot send the data: %s", strerror(err));
    }
    close(fd);
    free(data);
    return rc;
fail_file:
    if (f != stdin)
        fclose(f);
    free(data);
    return 1;
}

int mlos_cli_get(int argc, char **argv)
{
    const char *pos[3], *outfile = NULL;
    int rc = 2, fd;
    uint64_t off, len;
    char line[MLOS_CLI_LINE_MAX];

    if (args("get", get_usage, argc, argv, pos, 3, &outfile, &rc) < 0)
        return rc;
    if (size_arg("get", "offset", pos[1], &off) < 0 || size_arg("get", "length", pos[2], &len) < 0)
        return 2;
    if ((fd = mlos_cli_open("get", pos[0])) < 0)
        return fd == -2 ? 2 : 1;
    rc = 1;
    snprintf(line, sizeof(line), "get %llu %llu\n", (unsigned long long)off, (unsigned long long)len);
    if (mlos_cli_send(fd, line, strlen(line)) < 0) {
        mlos_cli_error("get", "cannot send the request: %s", strerror(errno));
        goto out;
    }
    if (mlos_cli_reply("get", fd, line, sizeof(line)) < 0)
        goto out;
    size_t n;
    uint8_t *buf;
    if (sscanf(line, "ok %zu", &n) != 1 || n != len || !(buf = malloc(n ? n : 1)) || mlos_cli_recv(fd, buf, n) < 0) {
        mlos_cli_error("get", "malformed answer from the master");
        goto out;
    }
    FILE *f = outfile ? fopen(outfile, "wb") : stdout;
    if (!f) {
        mlos_cli_error("get", "cannot write '%s': %s", outfile, strerror(errno));
    } else {
        size_t w = fwrite(buf, 1, n, f);
        int bad = f == stdout ? fflush(f) : fclose(f);
        if (w != n || bad)
            mlos_cli_error("get", "write error on '%s'", outfile ? outfile : "stdout");
        else
            rc = 0;
    }
    free(buf);
out:
    close(fd);
    return rc;
}
