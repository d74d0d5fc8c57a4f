/* analyze.h -- one POST request from spooled body to finished report.
 *
 * Steps, each failure mapped to an HTTP status with a message for the
 * client (RFC 9110 status semantics):
 *   413 CONTENT_LENGTH over NEURO_MAX_BYTES (decided before reading), or
 *       more than that many bytes without a length, or an image over
 *       NEURO_MAX_VOXELS;
 *   400 malformed CONTENT_LENGTH, body shorter than CONTENT_LENGTH
 *       (truncated upload), malformed multipart, bad or unknown fields,
 *       not NIfTI, truncated NIfTI;
 *   415 not multipart/form-data;
 *   422 wrong dimensions, unsupported datatype, atlas grid mismatch, more
 *       slaves than slices, no voxel above zero, a slave kind that is not
 *       installed;
 *   500 server-side failures (storage unusable or not ours, atlas files,
 *       analysis errors);
 *   503 out of memory, slaves that could not be started or died, or no
 *       storage room left after retention.
 * Everything received is written to the request's storage directory before
 * it is examined, and stays there whatever the outcome until the retention
 * policy (spool.h) removes it.
 */
#ifndef NEURO_ANALYZE_H
#define NEURO_ANALYZE_H

#include <signal.h>

#include "config.h"
#include "spool.h"
#include "strbuf.h"

struct response {
    int status;
    const char *content_type;
    struct strbuf body;
    char message[512];  /* the outcome, for request.txt and error pages */
    int have_spool;
    struct spool spool;
};

/* Set (by main's SIGTERM handler) when the server wants the CGI gone,
 * typically because the client went away mid-upload: Apache closes our
 * stdin, then sends SIGTERM, then SIGKILL 3 s later. While the body is
 * being received the handler only sets this flag, so the partial body
 * still reaches storage; the analysis is then not started. */
extern volatile sig_atomic_t analyze_terminated;

/* Handle a POST whose body is on fd in. Fills resp (status, body). t0_ms:
 * when the CGI started, for the total time. */
void analyze_post(const struct cgi_config *cfg, int in, double t0_ms, struct response *resp);

/* Monotonic milliseconds. */
double analyze_now_ms(void);

#endif
