/* control.c -- the stop socket every master serves, so that `mlos stop`
 * reaches the shards of application masters too, wherever they run.
 *
 * While a master has shards on the loop of its first shard, it listens on
 * <runtime dir>/master-<pid>.ctl (the registry's directory: 0700 and the
 * user's own; the socket itself 0600) and its registry records name it
 * (stop_socket). One request per connection, one line:
 *
 *   stop <shard id>\n   ->  "stopped <id>\n" | "error: <why>\n"
 *
 * Only our own user or root may ask (SO_PEERCRED); anyone else gets
 * "error: permission denied ..." without being read.
 *
 * A stopped shard is condemned as by a fence: the calls it owes fail with
 * MLOS_ESTOPPED, its process (or, for a shard on a node, the agent's
 * slave) is killed, and its owner sees it die as it would any lost shard
 * (a pool replaces a member). The handles are unreferenced, so they never
 * keep the application's loop running; the socket goes away with the last
 * shard. Only shards of the loop the socket is served on are reachable
 * (those of another thread's loop would have to be stopped on that
 * thread): the records of the others name no stop socket, and `mlos stop`
 * says it cannot reach them. Masters started by `mlos spawn` have their own control socket
 * (registry.h) and serve no second one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "master_internal.h"
#include "registry.h"

#define CTL_LINE_MAX 64

struct ctl_client {
    uv_pipe_t pipe;
    char line[CTL_LINE_MAX];
    size_t len;
    int answered;
    uv_write_t wr;
    char reply[160];
};

/* Shards are added and removed on their loops' threads; the socket is
 * served on the first one's. */
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uv_loop_t *loop;
    uv_pipe_t server;
    int listening, closing; /* closing: the server handle is not reusable yet */
    int failed;             /* could not listen: not again until the shards are gone */
    char path[108];
    struct mlos_shard_impl **shards; /* of this loop, served by the socket */
    size_t n, cap;
} ctl;

static void on_closed_client(uv_handle_t *h) { free(h->data); }

static void client_close(struct ctl_client *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->pipe))
        uv_close((uv_handle_t *)&c->pipe, on_closed_client);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    client_close(w->data);
}

static void answer(struct ctl_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void answer(struct ctl_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reply, sizeof(c->reply) - 1, fmt, ap);
    va_end(ap);
    strcat(c->reply, "\n");
    c->answered = 1;
    uv_buf_t b = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0)
        client_close(c);
}

static struct mlos_shard_impl *find(uint32_t id)
{
    for (size_t i = 0; i < ctl.n; i++)
        if (ctl.shards[i]->shard->id == id)
            return ctl.shards[i];
    return NULL;
}

static void serve(struct ctl_client *c)
{
    char *end = NULL;
    unsigned long id;

    if (strncmp(c->line, "stop ", 5) || !c->line[5]) {
        answer(c, "error: unknown request (this socket takes 'stop <shard id>')");
        return;
    }
    errno = 0;
    id = strtoul(c->line + 5, &end, 10);
    if (errno || *end || id == 0 || id > UINT32_MAX) {
        answer(c, "error: bad shard id '%.20s'", c->line + 5);
        return;
    }
    pthread_mutex_lock(&ctl_lock);
    struct mlos_shard_impl *im = find((uint32_t)id); /* of this loop: safe to touch here */
    pthread_mutex_unlock(&ctl_lock);
    if (!im) {
        answer(c, "error: master %d has no shard %lu", (int)getpid(), id);
        return;
    }
    if (im->state == SHARD_READY) {
        mlos__shard_fail(im, MLOS_ESTOPPED, "shard %u was stopped by mlos stop", im->shard->id);
        mlos__fence(im);
    } else if (im->state == SHARD_STARTING) {
        mlos__shard_fail(im, MLOS_ESTOPPED, "shard %u was stopped by mlos stop while it started", im->shard->id);
    } /* else stopping or dead already: nothing more to do */
    answer(c, "stopped %lu", id);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct ctl_client *c = h->data;
    (void)hint;
    *b = uv_buf_init(c->line + c->len, (unsigned)(sizeof(c->line) - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct ctl_client *c = s->data;
    (void)b;
    if (c->answered)
        return;
    if (n < 0) {
        client_close(c);
        return;
    }
    c->len += (size_t)n;
    c->line[c->len] = 0;
    char *nl = memchr(c->line, '\n', c->len);
    if (nl) {
        *nl = 0;
        uv_read_stop(s);
        serve(c);
    } else if (c->len >= sizeof(c->line) - 1) {
        uv_read_stop(s);
        answer(c, "error: request longer than %d bytes", CTL_LINE_MAX - 2);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ctl_client *c;
    if (status < 0 || !(c = calloc(1, sizeof(*c))))
        return;
    uv_pipe_init(ctl.loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        client_close(c);
        return;
    }
    uv_unref((uv_handle_t *)&c->pipe);
    /* The directory (0700) and the socket (0600) keep other users out
     * already; this holds even if those modes were loosened. Our own user
     * or root may stop our shards, anyone else is told so and nothing
     * they send is read. */
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
        cl != sizeof(cred)) {
        client_close(c);
        return;
    }
    if (cred.uid != geteuid() && cred.uid != 0) {
        answer(c, "error: permission denied (uid %u may not stop the shards of uid %u)", (unsigned)cred.uid,
               (unsigned)geteuid());
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

static void start_listening(uv_loop_t *loop);

static void on_server_closed(uv_handle_t *h)
{
    (void)h;
    pthread_mutex_lock(&ctl_lock);
    ctl.closing = 0;
    if (ctl.n > 0) /* shards came while it closed */
        start_listening(ctl.loop);
    pthread_mutex_unlock(&ctl_lock);
}

static void stop_listening(void)
{
    if (!ctl.listening)
        return;
    ctl.listening = 0;
    ctl.closing = 1;
    uv_close((uv_handle_t *)&ctl.server, on_server_closed);
    unlink(ctl.path);
    mlos_registry_set_stop_socket(NULL);
}

static void start_listening(uv_loop_t *loop)
{
    char dir[512];
    if (ctl.failed)
        return;
    if (mlos_registry_has_control() || !mlos__registry_enabled() || mlos_registry_dir(dir, sizeof(dir)) < 0)
        return; /* without the registry no record could name the socket */
    int n = snprintf(ctl.path, sizeof(ctl.path), "%s/master-%d.ctl", dir, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(ctl.path))
        return;
    unlink(ctl.path); /* a dead master of the same pid left it */
    uv_pipe_init(loop, &ctl.server, 0);
    mode_t old = umask(0077);
    int rc = uv_pipe_bind(&ctl.server, ctl.path);
    umask(old);
    if (rc < 0 || uv_listen((uv_stream_t *)&ctl.server, 8, on_connection) < 0) {
        ctl.closing = 1, ctl.failed = 1;
        uv_close((uv_handle_t *)&ctl.server, on_server_closed);
        if (rc == 0)
            unlink(ctl.path);
        return;
    }
    uv_unref((uv_handle_t *)&ctl.server);
    ctl.listening = 1;
    mlos_registry_set_stop_socket(ctl.path);
}

int mlos__control_add(struct mlos_shard_impl *im)
{
    int served = 0;
    pthread_mutex_lock(&ctl_lock);
    if (ctl.n == 0 && !ctl.listening && !ctl.closing)
        ctl.loop = im->loop; /* the socket is served on the loop of the first shard */
    if (im->loop == ctl.loop) { /* shards of other loops (threads) are not served */
        if (ctl.n == ctl.cap) {
            size_t cap = ctl.cap ? 2 * ctl.cap : 16;
            void *p = realloc(ctl.shards, cap * sizeof(*ctl.shards));
            if (p)
                ctl.shards = p, ctl.cap = cap;
        }
        if (ctl.n < ctl.cap)
            ctl.shards[ctl.n++] = im, served = 1;
        if (ctl.n == 1 && !ctl.listening && !ctl.closing)
            start_listening(ctl.loop);
    }
    pthread_mutex_unlock(&ctl_lock);
    return served;
}

void mlos__control_remove(struct mlos_shard_impl *im)
{
    pthread_mutex_lock(&ctl_lock);
    for (size_t i = 0; i < ctl.n; i++)
        if (ctl.shards[i] == im) {
            ctl.shards[i] = ctl.shards[--ctl.n];
            if (ctl.n == 0) {
                stop_listening(); /* listed shards are all of the socket's own loop */
                ctl.failed = 0;
            }
            break;
        }
    pthread_mutex_unlock(&ctl_lock);
}
