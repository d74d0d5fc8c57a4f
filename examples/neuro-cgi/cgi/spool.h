/* spool.h -- the storage directory: one subdirectory per request.
 *
 * Layout: $NEURO_STORAGE/<id>/ where id = YYYYMMDDTHHMMSSZ-<pid>-<8 hex
 * random> (sortable by time, unique: created with mkdir, which fails if it
 * exists, and retried with new random bits). Inside: request.body (the raw
 * body as received), request.txt (method, headers, outcome), the upload
 * as upload-<sanitized name>, and on success report.html, results.json and
 * the slice PNGs. Nothing is deleted by the CGI: failed requests keep
 * their data for inspection.
 */
#ifndef NEURO_SPOOL_H
#define NEURO_SPOOL_H

#include <stddef.h>

#define SPOOL_ID_MAX 64

struct spool {
    char id[SPOOL_ID_MAX];
    char dir[4096];
};

/* Create the storage directory if needed (0755) and a new request
 * subdirectory in it. Returns 0 or -1 with the reason in err. */
int spool_create(const char *storage, struct spool *sp, char *err, size_t errlen);

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
