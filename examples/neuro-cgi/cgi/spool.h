/* spool.h -- the storage directory: one subdirectory per request.
 *
 * Layout: $NEURO_STORAGE/<id>/ where id = YYYYMMDDTHHMMSSZ-<pid>-<8 hex
 * random> (sortable by time, unique: created with mkdir, which fails if it
 * exists, and retried with new random bits). Inside: request.body (the raw
 * body as received), request.txt (method, headers, outcome), the upload
 * as upload-<sanitized name>, and on success report.html, results.json and
 * the slice PNGs; request.txt is written last.
 *
 * The storage directory is created 0700 and must be a real directory
 * owned by the server's user (a looser mode is tightened); anything else
 * is refused with a message naming the owner. Retention runs as each
 * request arrives, under an exclusive flock on the directory: request
 * directories older than max_age_s are deleted, then the oldest finished
 * ones until the total plus the new request's reserve fits max_bytes.
 * Only names spool_create makes are touched or counted. A directory
 * without request.txt belongs to a request still running and is kept,
 * until it is older than SPOOL_STALE_SECONDS (its CGI died). Requests
 * running at the same time may each use their reserve, so the total can
 * pass max_bytes by what they write.
 */
#ifndef NEURO_SPOOL_H
#define NEURO_SPOOL_H

#include <stddef.h>
#include <time.h>

#define SPOOL_ID_MAX 64
#define SPOOL_STALE_SECONDS 3600

#define SPOOL_EIO -1    /* storage unusable (misconfigured, not ours, I/O): 500 */
#define SPOOL_EFULL -2  /* no room even after retention: 503, try later */

struct spool_policy {
    unsigned long long max_age_s;
    unsigned long long max_bytes;
};

struct spool_usage {
    size_t removed, kept;
    unsigned long long removed_bytes, kept_bytes;
};

struct spool {
    char id[SPOOL_ID_MAX];
    char dir[4096];
};

/* Create the storage directory if needed (0700), apply the retention
 * policy keep (NULL: none) making room for reserve bytes, and create a new
 * request subdirectory (0700). u (may be NULL) receives what retention
 * did. Returns 0, or SPOOL_EIO / SPOOL_EFULL with the reason in err. */
int spool_create(const char *storage, const struct spool_policy *keep, unsigned long long reserve, struct spool *sp,
                 struct spool_usage *u, char *err, size_t errlen);

/* The retention pass alone, as if at time now (for tests and tools):
 * fills u. Returns 0, SPOOL_EIO or SPOOL_EFULL (err says why). */
int spool_prune(const char *storage, const struct spool_policy *keep, unsigned long long reserve, time_t now,
                struct spool_usage *u, char *err, size_t errlen);

/* A request directory name's time (UTC), or -1 if it is not one. */
int spool_parse_id(const char *name, time_t *when);

/* Full path of a file in the request directory. Returns 0 or -1 if too long. */
int spool_path(const struct spool *sp, const char *name, char *out, size_t cap);

/* Write a file into the request directory (atomically). Returns 0 or -1. */
int spool_write(const struct spool *sp, const char *name, const void *p, size_t n);

/* A safe local name for an uploaded file: "upload-" and the last path
 * component of the client's name, bytes outside [A-Za-z0-9._-] replaced by
 * '_', at most 100 bytes, keeping a ".nii"/".nii.gz" suffix; "upload.nii"
 * when nothing is left. The prefix keeps it clear of the CGI's own files
 * (request.body, report.html, ...). */
void spool_safe_name(const char *client_name, char *out, size_t cap);

#endif
