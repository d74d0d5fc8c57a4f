/* spool.c -- per-request storage directories (see spool.h). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

/* mkdir -p for the storage root: parents as usual (0755), the storage
 * directory itself 0700 -- it holds the uploads. */
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
    return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* Open the storage directory, refusing one that is not a real directory
 * of ours: another local user who created it first could otherwise read
 * every upload, or plant entries for the retention to act on. A directory
 * of ours with a looser mode (made by an older version, or by hand with
 * mkdir) is tightened to 0700. Returns the fd, or -1 with err set. */
static int open_storage(const char *storage, char *err, size_t errlen)
{
    struct stat st;
    int fd;

    if (mkdirs(storage) < 0) {
        snprintf(err, errlen, "cannot create storage directory %s: %s", storage, strerror(errno));
        return -1;
    }
    fd = open(storage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            snprintf(err, errlen, "storage directory %s is a symbolic link or not a directory: refusing it", storage);
        else
            snprintf(err, errlen, "cannot open storage directory %s: %s", storage, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
        snprintf(err, errlen, "storage directory %s is owned by uid %ld, not by the server's user (uid %ld): "
                 "refusing it (chown it, or set NEURO_STORAGE)", storage, (long)st.st_uid, (long)geteuid());
        close(fd);
        return -1;
    }
    if ((st.st_mode & 077) && fchmod(fd, 0700) < 0) {
        snprintf(err, errlen, "cannot make storage directory %s private (0700): %s", storage, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int spool_parse_id(const char *name, time_t *when)
{
    struct tm tm = {0};
    const char *p = name;
    int n = 0;

    /* YYYYMMDDTHHMMSSZ-<pid>-<8 hex> and nothing else: only what
     * spool_create makes is ever deleted */
    for (int i = 0; i < 16; i++) {
        char c = p[i];
        int want_digit = i != 8 && i != 15;

        if (want_digit ? (c < '0' || c > '9') : c != (i == 8 ? 'T' : 'Z'))
            return -1;
    }
    p += 16;
    if (*p++ != '-')
        return -1;
    while (*p >= '0' && *p <= '9')
        p++, n++;
    if (!n || n > 10 || *p++ != '-')
        return -1;
    for (n = 0; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
        n++;
    if (n != 8 || *p)
        return -1;
    if (sscanf(name, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *when = timegm(&tm);
    return *when == (time_t)-1 ? -1 : 0;
}

struct entry {
    char name[SPOOL_ID_MAX];
    time_t when;
    unsigned long long bytes;
    int done;
};

/* Bytes of the files in request directory name, and whether it is
 * finished (its request.txt is written last). -1 if it is not a directory. */
static int measure(int sfd, const char *name, struct entry *e)
{
    int fd = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *de;

    e->bytes = 0;
    e->done = 0;
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((de = readdir(d))) {
        struct stat st;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            e->bytes += (unsigned long long)st.st_size;
        e->done |= !strcmp(de->d_name, "request.txt");
    }
    closedir(d);
    return 0;
}

/* Delete request directory name and the files in it. 0, or -1. */
static int remove_request(int sfd, const char *name)
{
    int fd = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *de;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(dirfd(d), de->d_name, 0); /* files only: the CGI makes nothing else */
    closedir(d);
    return unlinkat(sfd, name, AT_REMOVEDIR);
}

static int by_age(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    return x->when < y->when ? -1 : x->when > y->when ? 1 : strcmp(x->name, y->name);
}

/* The retention pass over an open, locked storage directory. */
static int prune_fd(int fd, const struct spool_policy *keep, unsigned long long reserve, time_t now,
                    struct spool_usage *u, char *err, size_t errlen)
{
    struct entry *v = NULL;
    size_t n = 0, cap = 0;
    unsigned long long total = 0;
    int dfd = dup(fd), rc = 0;
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    struct dirent *de;

    memset(u, 0, sizeof *u);
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        snprintf(err, errlen, "cannot list the storage directory: %s", strerror(errno));
        return SPOOL_EIO;
    }
    while ((de = readdir(d))) {
        struct entry e;

        if (strlen(de->d_name) >= sizeof e.name || spool_parse_id(de->d_name, &e.when) < 0)
            continue; /* not ours: never touched, not counted */
        snprintf(e.name, sizeof e.name, "%s", de->d_name);
        if (measure(fd, e.name, &e) < 0)
            continue;
        if (n == cap) {
            struct entry *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);

            if (!nv) {
                closedir(d);
                free(v);
                snprintf(err, errlen, "out of memory listing the storage directory");
                return SPOOL_EIO;
            }
            v = nv;
        }
        v[n++] = e;
    }
    closedir(d);
    if (n) /* v is NULL when the directory holds no request */
        qsort(v, n, sizeof *v, by_age);
    /* A directory without request.txt is a request still running,
     * unless it is older than any request can take: then its CGI died. */
    for (size_t i = 0; i < n; i++)
        v[i].done |= now - v[i].when > SPOOL_STALE_SECONDS;
    for (size_t i = 0; i < n; i++) {
        int old = now - v[i].when > (time_t)keep->max_age_s;

        if (old && v[i].done && remove_request(fd, v[i].name) == 0) {
            u->removed++, u->removed_bytes += v[i].bytes;
            v[i].bytes = 0, v[i].done = -1; /* gone */
            continue;
        }
        total += v[i].bytes;
    }
    for (size_t i = 0; i < n && total + reserve > keep->max_bytes; i++) {
        if (v[i].done != 1 || remove_request(fd, v[i].name) < 0)
            continue;
        u->removed++, u->removed_bytes += v[i].bytes;
        total -= v[i].bytes;
        v[i].done = -1;
    }
    for (size_t i = 0; i < n; i++)
        u->kept += v[i].done != -1;
    u->kept_bytes = total;
    if (total + reserve > keep->max_bytes) {
        snprintf(err, errlen, "storage is full: %llu bytes in requests still running, %llu more needed, limit %llu "
                 "(NEURO_KEEP_BYTES); try again later", total, reserve, keep->max_bytes);
        rc = SPOOL_EFULL;
    }
    free(v);
    return rc;
}

int spool_prune(const char *storage, const struct spool_policy *keep, unsigned long long reserve, time_t now,
                struct spool_usage *u, char *err, size_t errlen)
{
    int fd = open_storage(storage, err, errlen), rc;

    if (fd < 0)
        return SPOOL_EIO;
    flock(fd, LOCK_EX);
    rc = prune_fd(fd, keep, reserve, now, u, err, errlen);
    close(fd); /* and the lock with it */
    return rc;
}

int spool_create(const char *storage, const struct spool_policy *keep, unsigned long long reserve, struct spool *sp,
                 struct spool_usage *usage, char *err, size_t errlen)
{
    time_t now = time(NULL);
    struct spool_usage none, *u = usage ? usage : &none;

    memset(u, 0, sizeof *u);
    struct tm tm;
    char stamp[20];
    int fd, rc;

    if (!storage || storage[0] != '/') {
        snprintf(err, errlen, "storage directory must be an absolute path (NEURO_STORAGE)");
        return SPOOL_EIO;
    }
    if ((fd = open_storage(storage, err, errlen)) < 0)
        return SPOOL_EIO;
    /* One CGI at a time prunes and creates, so that two never delete the
     * same directory or both count the same free room. */
    flock(fd, LOCK_EX);
    if (keep && (rc = prune_fd(fd, keep, reserve, now, u, err, errlen)) < 0) {
        close(fd);
        return rc;
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
            close(fd);
            return SPOOL_EIO;
        }
        if (mkdirat(fd, sp->id, 0700) == 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    snprintf(err, errlen, "cannot create request directory: %s", strerror(errno));
    close(fd);
    return SPOOL_EIO;
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
