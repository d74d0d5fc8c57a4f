/* The detached master behind `mlos spawn`: one libuv loop, one shard, and
 * a unix socket (<runtime dir>/master-<pid>.sock) taking line requests:
 *
 *   stop\n   stop the shard (STOP, then kill after the grace period),
 *            answer "stopped\n" once everything is released, exit 0
 *   ping\n   answer "pong <state>\n" (alive or dead)
 *   call, put, get, console: data requests, handled by master_ops.c
 *
 * SIGTERM, SIGINT and SIGHUP stop the shard the same way. If the shard dies
 * on its own, the master stays (the registry shows it "dead") until told to
 * stop. The registry records of the shard carry the socket path
 * (registry.h, control:). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "kinds/kind.h"
#include "master_ops.h"
#include "mlos.h"
#include "registry.h"

#define MAX_CLIENTS 16

struct client {
    uv_pipe_t pipe;
    char buf[MLOS_CLI_LINE_MAX];
    size_t len;
    int wants_stopped;
    struct mlos_cli_op *op; /* a data request owns the connection */
};

static struct {
    uv_loop_t loop;
    mlos_shard_t shard;
    uv_pipe_t server;
    uv_signal_t sig[3];
    char sock[108];
    int ready_fd, stopping, exit_code;
    uint64_t mem;
    struct client *clients[MAX_CLIENTS];
} M;

/* The one line for `mlos spawn`, then the pipe is closed. */
static void report(const char *kind, const char *text)
{
    if (M.ready_fd < 0)
        return;
    dprintf(M.ready_fd, "%s %s\n", kind, text);
    close(M.ready_fd);
    M.ready_fd = -1;
}

static void client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    if (c->op)
        mlos_cli_op_detach(c->op);
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (M.clients[i] == c)
            M.clients[i] = NULL;
    free(c);
}

static void op_done(uv_stream_t *s)
{
    if (!uv_is_closing((uv_handle_t *)s))
        uv_close((uv_handle_t *)s, client_closed);
}

static void write_done(uv_write_t *w, int status)
{
    struct client *c = w->data;
    free(w);
    if (!uv_is_closing((uv_handle_t *)&c->pipe))
        uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void answer(struct client *c, const char *text)
{
    uv_write_t *w = malloc(sizeof(*w) + strlen(text) + 1);
    if (!w) {
        uv_close((uv_handle_t *)&c->pipe, client_closed);
        return;
    }
    char *copy = (char *)(w + 1);
    strcpy(copy, text);
    uv_buf_t b = uv_buf_init(copy, (unsigned)strlen(copy));
    w->data = c;
    if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, write_done) < 0) {
        free(w);
        uv_close((uv_handle_t *)&c->pipe, client_closed);
    }
}

/* Everything of the shard is released: answer, close the rest, let the
 * loop end. */
static void shard_closed(mlos_shard_t *s)
{
    report("err", "stopped before the shard was ready");
    mlos_cli_op_shard_gone(); /* data requests answer, then close */
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (M.clients[i] && !M.clients[i]->op && !uv_is_closing((uv_handle_t *)&M.clients[i]->pipe)) {
            if (M.clients[i]->wants_stopped)
                answer(M.clients[i], "stopped\n");
            else
                uv_close((uv_handle_t *)&M.clients[i]->pipe, client_closed);
        }
    uv_close((uv_handle_t *)&M.server, NULL);
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&M.sig[i], NULL);
    unlink(M.sock);
}

static void begin_stop(void)
{
    if (M.stopping)
        return;
    M.stopping = 1;
    unlink(M.sock); /* nobody new can find us */
    if (mlos_shard_stop(&M.shard, shard_closed) < 0)
        shard_closed(&M.shard);
}

static void on_signal(uv_signal_t *h, int sig) { begin_stop(); }

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct client *c = h->data;
    if (c->op) {
        mlos_cli_op_alloc(c->op, b);
        return;
    }
    b->base = c->buf + c->len;
    b->len = sizeof(c->buf) - 1 - c->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct client *c = s->data;
    char *nl;
    if (n < 0) {
        if (!c->wants_stopped && !uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, client_closed);
        return;
    }
    if (c->op) {
        mlos_cli_op_read(c->op, n);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    if (!(nl = strchr(c->buf, '\n'))) {
        if (c->len == sizeof(c->buf) - 1)
            uv_close((uv_handle_t *)s, client_closed);
        return;
    }
    *nl = 0;
    if (mlos_cli_op_start(&M.shard, s, c->buf, nl + 1, c->len - (size_t)(nl + 1 - c->buf), op_done, &c->op) == 0)
        return;
    uv_read_stop(s);
    if (!strcmp(c->buf, "stop")) {
        c->wants_stopped = 1;
        begin_stop();
    } else if (!strcmp(c->buf, "ping")) {
        answer(c, mlos_shard_alive(&M.shard) ? "pong alive\n" : "pong dead\n");
    } else {
        answer(c, "error unknown request\n");
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct client *c;
    int slot = -1;
    if (status < 0 || !(c = calloc(1, sizeof(*c))))
        return;
    uv_pipe_init(&M.loop, &c->pipe, 0);
    c->pipe.data = c;
    for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
        if (!M.clients[i])
            slot = i;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 || slot < 0 || M.stopping) {
        uv_close((uv_handle_t *)&c->pipe, client_closed);
        return;
    }
    /* Requests from our own user (or root) only; the 0600 socket in a
     * 0700 directory keeps others out already, this holds even if those
     * modes were changed. A refused peer is told so; nothing it sends is read. */
    uv_os_fd_t fd;
    unsigned peer = ~0u; /* ~0u: could not tell */
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 || mlos_cli_peer_uid(fd, &peer) < 0 ||
        (peer != (unsigned)geteuid() && peer != 0)) {
        fprintf(stderr, "mlos master: refused a control connection from uid %u\n", peer);
        if (peer != ~0u)
            answer(c, "error permission denied\n");
        else
            uv_close((uv_handle_t *)&c->pipe, client_closed);
        return;
    }
    M.clients[slot] = c;
    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

static void on_spawn(mlos_shard_t *s, int status)
{
    char id[80];
    if (status == 0) {
        snprintf(id, sizeof(id), "%d.%u %s %llu", (int)getpid(), s->id, s->arch,
                 (unsigned long long)(s->mem_bytes ? s->mem_bytes : M.mem));
        report("ok", id);
        return;
    }
    char why[600];
    const char *tail = mlos_shard_console_tail(s);
    const char *last = tail;
    for (const char *p = tail; *p; p++) /* last non-empty console line */
        if (*p == '\n' && p[1] && p[1] != '\n')
            last = p + 1;
    snprintf(why, sizeof(why), "%s%s%.*s", mlos_strerror(status), *last ? "; console: " : "",
             (int)strcspn(last, "\n"), last);
    report("err", why);
    M.exit_code = 1;
    begin_stop();
}

/* Why mlos_spawn refused, in the user's terms. */
static void spawn_error(char *why, size_t cap, int rc, const char *arch, const char *image, uint64_t mem, int kvm)
{
    char size[32];
    const struct mlos_kind *kind = mlos__kind_find(arch);
    const char *name = image ? image : kind ? kind->default_image : arch;
    mlos_cli_format_size(mem, size, sizeof(size));
    char kvm_why[256];
    if (rc == MLOS_ESPAWN && kvm > 0 && !strcmp(arch, "x86_64") && mlos_kvm_usable(kvm_why, sizeof(kvm_why)) < 0)
        snprintf(why, cap, "--kvm yes: %s", kvm_why);
    else if (rc == MLOS_ENOENT)
        snprintf(why, cap, "no %s or no mlos-launch on MLOS_IMAGE_PATH or in %s", name, mlos_image_dir());
    else if (rc == MLOS_EINVAL)
        snprintf(why, cap, "cannot start a %s shard of %s from %s (memory size or image path refused)", arch,
                 size, name);
    else if (rc == MLOS_ENOMEM || rc == MLOS_EIO)
        snprintf(why, cap, "cannot set up %s of shard memory: %s", size, mlos_strerror(rc));
    else
        snprintf(why, cap, "%s (%s shard, %s, image %s)", mlos_strerror(rc), arch, size, name);
}

int mlos_cli_master(const char *arch, uint64_t mem_bytes, const char *image, int kvm, int ready_fd)
{
    struct mlos_spawn_opts o = {0};
    int rc;
    char dir[512], log[600];

    memset(&M, 0, sizeof(M));
    M.ready_fd = ready_fd;
    M.mem = mem_bytes;
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&M.loop) < 0 || mlos_cli_socket_path((int)getpid(), M.sock, sizeof(M.sock)) < 0) {
        report("err", "cannot set up the master");
        return 1;
    }
    unlink(M.sock);
    uv_pipe_init(&M.loop, &M.server, 0);
    /* The socket is born 0600 (bind creates it with ~umask bits). */
    mode_t old_mask = umask(0177);
    rc = uv_pipe_bind(&M.server, M.sock);
    umask(old_mask);
    if (rc < 0 || (rc = uv_listen((uv_stream_t *)&M.server, 8, on_connection)) < 0) {
        char why[300];
        snprintf(why, sizeof(why), "control socket %s: %s", M.sock, uv_strerror(rc));
        report("err", why);
        return 1;
    }
    static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&M.loop, &M.sig[i]);
        uv_signal_start(&M.sig[i], on_signal, sigs[i]);
    }
    mlos_registry_set_control(M.sock);
    o.arch = arch;
    o.image = image;
    o.mem_bytes = (size_t)mem_bytes;
    o.on_console = mlos_cli_op_console;
    o.kvm = kvm;
    if ((rc = mlos_spawn(&M.loop, &M.shard, &o, on_spawn)) < 0) {
        char why[600];
        spawn_error(why, sizeof(why), rc, arch, image, mem_bytes, kvm);
        report("err", why);
        shard_closed(&M.shard); /* nothing to release; closes our handles */
        M.exit_code = 1;
    }
    uv_run(&M.loop, UV_RUN_DEFAULT);
    uv_loop_close(&M.loop);
    unlink(M.sock);
    if (M.exit_code == 0 && mlos_registry_dir(dir, sizeof(dir)) == 0) {
        snprintf(log, sizeof(log), "%s/master-%d.log", dir, (int)getpid());
        unlink(log);
    }
    return M.exit_code;
}
