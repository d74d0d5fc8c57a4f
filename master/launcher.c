/* master/launcher.c -- the launcher interface (launcher.h) and the "local"
 * launcher: uv_spawn of a remote worker on this host, optionally behind a
 * wrapper command. The "slurm" argv and cancel live in launcher_slurm.c. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"

extern char **environ;

#define MAX_ARGV 64

static void maybe_done(mlos_launch_t *l)
{
    /* report once both the process ended and its stderr hit EOF */
    if (l->exited == 1 && !uv_is_active((uv_handle_t *)&l->err_pipe)) {
        l->exited = 2;
        if (l->on_exit)
            l->on_exit(l, l->exit_status, l->err);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    mlos_launch_t *l = h->data;
    l->handles--;
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
    mlos_launch_t *l = p->data;
    l->pid = 0;
    l->exit_status = sig ? 128 + sig : (int)status;
    l->exited = 1;
    uv_timer_stop(&l->kill_timer);
    maybe_done(l);
}

static void err_alloc(uv_handle_t *h, size_t want, uv_buf_t *b)
{
    static char buf[4096];
    b->base = buf;
    b->len = sizeof(buf);
}

static void err_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    mlos_launch_t *l = s->data;
    if (n > 0) {
        size_t cur = strlen(l->err), cap = sizeof(l->err) - 1;
        if ((size_t)n >= cap) {
            memcpy(l->err, b->base + n - cap, cap);
            l->err[cap] = 0;
        } else {
            if (cur + (size_t)n > cap) {
                size_t drop = cur + (size_t)n - cap;
                memmove(l->err, l->err + drop, cur - drop + 1);
                cur -= drop;
            }
            memcpy(l->err + cur, b->base, (size_t)n);
            l->err[cur + (size_t)n] = 0;
        }
        if (getenv("MLOS_VERBOSE"))
            fwrite(b->base, 1, (size_t)n, stderr);
    } else if (n < 0) {
        uv_read_stop(s);
        maybe_done(l);
    }
}

int mlos_launch_start(uv_loop_t *loop, mlos_launch_t *l, const struct mlos_launch_opts *o,
                      mlos_launch_exit_cb on_exit)
{
    const char *argv[MAX_ARGV + 1];
    char **env = NULL, *secvar = NULL;
    const char *kind;
    void *user = l ? l->data : NULL;
    int n = 0, rc, ne = 0;
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];

    if (!loop || !l || !o || !o->master_addr)
        return MLOS_EINVAL;
    memset(l, 0, sizeof(*l));
    l->data = user;
    l->loop = loop;
    l->on_exit = on_exit;
    kind = o->launcher ? o->launcher : getenv("MLOS_LAUNCHER");
    if (!kind || !*kind)
        kind = "local";
    if (strcmp(kind, "slurm") == 0) {
        if ((n = mlos__launch_slurm_argv(l, o, argv, MAX_ARGV - 8)) < 0)
            return n;
    } else if (strcmp(kind, "local") == 0) {
        for (const char *const *w = o->wrapper; w && *w && n < MAX_ARGV - 8; w++)
            argv[n++] = *w;
    } else {
        fprintf(stderr, "mlos launcher: unknown launcher '%s' (local, slurm)\n", kind);
        return MLOS_EINVAL;
    }
    snprintf(l->kind, sizeof(l->kind), "%s", kind);
    argv[n++] = o->program ? o->program : "mlos-remote-shard";
    argv[n++] = "--master";
    argv[n++] = o->master_addr;
    if (o->insecure)
        argv[n++] = "--insecure";
    for (const char *const *a = o->extra_args; a && *a; a++) {
        if (n >= MAX_ARGV)
            return MLOS_EINVAL;
        argv[n++] = *a;
    }
    argv[n] = NULL;

    /* environment: ours, with the secret (or the file holding it) as the
     * launch options say, instead of whatever we inherited */
    if ((o->secret && *o->secret) || (o->secret_file && *o->secret_file)) {
        static const char *const drop[] = {"MLOS_REMOTE_SECRET=", "MLOS_REMOTE_SECRET_FILE=", "MLOS_REMOTE_TOKEN=",
                                           "MLOS_REMOTE_INSECURE="};
        size_t cnt = 0;
        while (environ[cnt])
            cnt++;
        if (!(env = calloc(cnt + 2, sizeof(char *))) ||
            (o->secret && *o->secret ? asprintf(&secvar, "MLOS_REMOTE_SECRET=%s", o->secret)
                                     : asprintf(&secvar, "MLOS_REMOTE_SECRET_FILE=%s", o->secret_file)) < 0) {
            free(env);
            return MLOS_ENOMEM;
        }
        for (size_t i = 0; i < cnt; i++) {
            int keep = 1;
            for (size_t k = 0; k < sizeof(drop) / sizeof(drop[0]); k++)
                keep &= strncmp(environ[i], drop[k], strlen(drop[k])) != 0;
            if (keep)
                env[ne++] = environ[i];
        }
        env[ne++] = secvar;
        env[ne] = NULL;
    }

    uv_pipe_init(loop, &l->err_pipe, 0);
    l->err_pipe.data = l;
    memset(&po, 0, sizeof(po));
    memset(stdio, 0, sizeof(stdio));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&l->err_pipe;
    po.file = argv[0];
    po.args = (char **)argv;
    po.env = env;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_proc_exit;
    l->proc.data = l;
    rc = uv_spawn(loop, &l->proc, &po);
    free(env);
    if (secvar) {
        explicit_bzero(secvar, strlen(secvar));
        free(secvar);
    }
    if (rc < 0) {
        fprintf(stderr, "mlos launcher (%s): cannot start %s: %s%s\n", l->kind, argv[0], uv_strerror(rc),
                strcmp(l->kind, "slurm") == 0 && rc == UV_ENOENT ? " (Slurm client not installed: apt-get install slurm-client)" : "");
        uv_close((uv_handle_t *)&l->err_pipe, NULL);
        uv_close((uv_handle_t *)&l->proc, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        return rc == UV_ENOENT || rc == UV_EACCES ? MLOS_ENOENT : MLOS_EIO;
    }
    l->pid = l->proc.pid;
    l->handles = 3; /* proc, pipe, timer */
    uv_read_start((uv_stream_t *)&l->err_pipe, err_alloc, err_read);
    uv_timer_init(loop, &l->kill_timer);
    l->kill_timer.data = l;
    return 0;
}

static void on_kill_timer(uv_timer_t *t)
{
    mlos_launch_t *l = t->data;
    if (!l->exited)
        uv_process_kill(&l->proc, SIGKILL);
}

void mlos_launch_stop(mlos_launch_t *l)
{
    uint64_t end;
    if (!l || !l->loop || l->stopping)
        return;
    l->stopping = 1;
    if (strcmp(l->kind, "slurm") == 0)
        mlos__launch_slurm_cancel(l);
    if (!l->exited) {
        uv_process_kill(&l->proc, SIGTERM);
        uv_timer_start(&l->kill_timer, on_kill_timer, 2000, 0);
    }
    end = uv_hrtime() + 5000000000ull;
    while (l->exited < 2 && uv_hrtime() < end)
        uv_run(l->loop, UV_RUN_ONCE);
    if (!l->exited)
        uv_process_kill(&l->proc, SIGKILL);
    uv_close((uv_handle_t *)&l->proc, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&l->err_pipe))
        uv_close((uv_handle_t *)&l->err_pipe, on_handle_closed);
    uv_close((uv_handle_t *)&l->kill_timer, on_handle_closed);
    while (l->handles > 0)
        uv_run(l->loop, UV_RUN_ONCE);
}
