/* neuro-cgi -- brain MRI tissue analysis as a CGI/1.1 program (RFC 3875).
 *
 *   GET, HEAD  the upload form (form.c)
 *   POST       multipart/form-data with a NIfTI image and options
 *              (options.h): spool, analyse on mlos slaves, answer with
 *              the HTML report (analyze.c, report.c)
 *   other      405, with Allow
 *
 * Settings come from the environment (config.h). The whole response is
 * built in memory first so that any failure can still choose the status.
 * The server's stdout pipe is moved off fd 1 before slaves are started, so
 * no child process can hold the response open after we exit.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "analyze.h"
#include "config.h"
#include "fileio.h"
#include "form.h"
#include "http.h"
#include "page.h"

/* request.txt: what came in and how it ended, next to the spooled data. */
static void log_request(const struct response *resp, const char *method)
{
    static const char *const vars[] = {"CONTENT_TYPE", "CONTENT_LENGTH", "REMOTE_ADDR", "HTTP_USER_AGENT",
                                       "REQUEST_URI"};
    struct strbuf sb = STRBUF_INIT;

    sb_printf(&sb, "id: %s\nmethod: %s\n", resp->spool.id, method);
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);

        sb_printf(&sb, "%s: ", vars[i]);
        /* one line per field whatever the client sent */
        for (const char *p = v ? v : ""; *p; p++)
            sb_append(&sb, (*p == '\n' || *p == '\r') ? " " : p, 1);
        sb_puts(&sb, "\n");
    }
    sb_printf(&sb, "status: %d\nresult: %s\n", resp->status, resp->message);
    if (!sb_failed(&sb))
        spool_write(&resp->spool, "request.txt", sb.data, sb.len);
    sb_free(&sb);
}

static void on_term(int sig)
{
    (void)sig;
    analyze_terminated = 1;
}

int main(void)
{
    double t0 = analyze_now_ms();
    const char *method = getenv("REQUEST_METHOD");
    struct response resp = {.status = 200, .content_type = "text/html; charset=utf-8", .body = STRBUF_INIT};
    struct cgi_config cfg;
    char err[256], extra[160] = "";
    int out, devnull, head, rc;
    struct sigaction sa = {.sa_handler = on_term};

    signal(SIGPIPE, SIG_IGN); /* a client gone away is a write error, not death mid-cleanup */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL); /* until the body is spooled; see analyze.h */
    out = fcntl(1, F_DUPFD_CLOEXEC, 3);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (out < 0 || devnull < 0)
        return 1;
    dup2(devnull, 1); /* children inherit /dev/null, not the server's pipe */

    method = method ? method : "";
    head = !strcmp(method, "HEAD");
    if (config_load(&cfg, err, sizeof err) < 0) {
        resp.status = 500;
        page_error(&resp.body, 500, err, NULL);
    } else if (!strcmp(method, "GET") || head) {
        form_page(&resp.body, &cfg);
    } else if (!strcmp(method, "POST")) {
        analyze_post(&cfg, 0, t0, &resp);
        dup2(devnull, 0);
        if (resp.have_spool) {
            snprintf(extra, sizeof extra, "X-Neuro-Request: %s\n", resp.spool.id);
            log_request(&resp, method);
        }
    } else {
        resp.status = 405;
        snprintf(resp.message, sizeof resp.message, "method %.32s not allowed; use GET for the form, POST to upload",
                 method);
        page_error(&resp.body, 405, resp.message, NULL);
        snprintf(extra, sizeof extra, "Allow: GET, HEAD, POST\n");
    }
    if (sb_failed(&resp.body)) {
        static const char oom[] = "out of memory\n";

        http_respond(out, 503, "text/plain; charset=utf-8", NULL, oom, sizeof oom - 1, head);
        return 1;
    }
    if (resp.status >= 400)
        fprintf(stderr, "neuro-cgi: %d %s\n", resp.status, resp.message); /* Apache's error log */
    rc = http_respond(out, resp.status, resp.content_type, extra[0] ? extra : NULL, resp.body.data, resp.body.len,
                      head);
    /* EOF for the server now: exiting frees ~100 MB of volumes first (the
     * kernel tears down memory before it closes files) */
    close(out);
    sb_free(&resp.body);
    return rc < 0; /* the client may be gone; nothing more to do */
}
