/* spool.c -- per-request storage directories (see spool.h). */
#include "spool.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

/* mkdir -p for the storage root. */
static int mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int spool_create(const char *storage, struct spool *sp, char *err, size_t errlen)
{
    time_t now = time(NULL);
    struct tm tm;
    char stamp[20];

    if (!storage || storage[0] != '/') {
        snprintf(err, errlen, "storage directory must be an absolute path (NEURO_STORAGE)");
        return -1;
    }
    if (mkdirs(storage) < 0) {
        snprintf(err, errlen, "cannot create storage directory: %s", strerror(errno));
        return -1;
    }
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int attempt = 0; attempt < 16; attempt++) {
        uint32_t rnd;

        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
            rnd = (uint32_t)clock() ^ ((uint32_t)getpid() << 16) ^ (uint32_t)attempt * 2654435761u;
        snprintf(sp->id, sizeof sp->id, "%s-%ld-%08x", stamp, (long)getpid(), rnd);
        if (snprintf(sp->dir, sizeof sp->dir, "%s/%s", storage, sp->id) >= (int)sizeof sp->dir) {
            snprintf(err, errlen, "storage path too long");
            return -1;
        }
        if (mkdir(sp->dir, 0755) == 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    snprintf(err, errlen, "cannot create request directory: %s", strerror(errno));
    return -1;
}

int spool_path(const struct spool *sp, const char *name, char *out, size_t cap)
{
    return snprintf(out, cap, "%s/%s", sp->dir, name) >= (int)cap ? -1 : 0;
}

int spool_write(const struct spool *sp, const char *name, const void *p, size_t n)
{
    char path[4200];

    if (spool_path(sp, name, path, sizeof path) < 0)
        return -1;
    return fileio_write(path, p, n);
}

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t m = strlen(suf);

    return n >= m && !strncasecmp(s + n - m, suf, m);
}

void spool_safe_name(const char *client, char *out, size_t cap)
{
    const char *base = client ? client : "", *p;
    const char *suffix = "";
    size_t n = 0, limit, blen;

    for (p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    blen = strlen(base);
    /* keep the client's own spelling of the suffix (.NII stays .NII) */
    if (ends_with(base, blen, ".nii.gz"))
        suffix = base + blen - 7;
    else if (ends_with(base, blen, ".nii"))
        suffix = base + blen - 4;
    limit = (cap > 101 ? 100 : cap - 1) - strlen(suffix);
    n = (size_t)snprintf(out, cap, "upload-");
    for (p = base; p < base + blen - strlen(suffix) && n < limit; p++) {
        char c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            c = '_';
        out[n++] = c;
    }
    out[n] = '\0';
    if (n == 7) { /* nothing but the prefix */
        snprintf(out, cap, "upload%s", *suffix ? suffix : ".nii");
        return;
    }
    snprintf(out + n, cap - n, "%s", suffix);
}
