/* mlos console [-f] ID: the console output of a shard started by
 * `mlos spawn` (the last 4 KiB its master kept); with -f, then every new
 * line as the shard writes it, until the shard stops or dies, or ^C. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "master_ops.h"

static const char usage_text[] =
    "usage: mlos console [-f] ID\n"
    "Print the console output of shard ID (the last 4 KiB).\n"
    "  -f, --follow   then print new lines as they come, until the shard goes\n";

int mlos_cli_console(int argc, char **argv)
{
    const char *id = NULL;
    int follow = 0, fd, rc = 1;
    char line[MLOS_CLI_LINE_MAX], buf[4096];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mlos_cli_is_help(a))
            return mlos_cli_usage(usage_text, 1);
        if (!strcmp(a, "-f") || !strcmp(a, "--follow"))
            follow = 1;
        else if (a[0] == '-' || id)
            return mlos_cli_bad_option("console", a, usage_text);
        else
            id = a;
    }
    if (!id)
        return mlos_cli_usage(usage_text, 0);
    if ((fd = mlos_cli_open("console", id)) < 0)
        return fd == -2 ? 2 : 1;
    snprintf(line, sizeof(line), follow ? "console follow\n" : "console\n");
    if (mlos_cli_send(fd, line, strlen(line)) < 0 || mlos_cli_reply("console", fd, line, sizeof(line)) < 0)
        goto out;
    size_t len;
    if (sscanf(line, "ok %zu", &len) != 1 || len > sizeof(buf) || mlos_cli_recv(fd, buf, len) < 0) {
        mlos_cli_error("console", "malformed answer from the master");
        goto out;
    }
    fwrite(buf, 1, len, stdout);
    fflush(stdout);
    if (follow) {
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) { /* lines until the master ends the stream */
            fwrite(buf, 1, (size_t)n, stdout);
            fflush(stdout);
        }
    }
    rc = 0;
out:
    close(fd);
    return rc;
}
