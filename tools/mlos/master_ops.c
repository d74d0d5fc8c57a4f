/* The data requests of the detached master: call, put, get, console
 * (master_ops.h has the wire format). One op per connection; every op is
 * on one list so that a stopping shard can end them all. An op is freed
 * when nothing refers to it any more: the connection (until master.c
 * detaches it), a call in flight, and each write in flight. */
#define _GNU_SOURCE
#include "master_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLLOW_CHECK_MS 200 /* how soon `console -f` notices that the shard died */

enum op_kind { OP_CALL, OP_PUT, OP_GET, OP_CONSOLE, OP_FOLLOW };

struct mlos_cli_op {
    enum op_kind kind;
    mlos_shard_t *shard;
    uv_stream_t *stream; /* NULL once detached */
    mlos_cli_op_done_cb done;
    int refs;
    int answered;        /* the final answer is queued */
    int calling;         /* mlos_call in flight */
    char task[128];
    uint64_t offset;
    uint8_t *buf;        /* payload being read */
    size_t need, have;
    char sink[256];      /* reads past the payload (a follower's idle socket) */
    mlos_call_t req;
    struct mlos_cli_op *next;
};

struct out {
    uv_write_t w;
    struct mlos_cli_op *op;
    int last;
    size_t len;
    char data[];
};

static struct mlos_cli_op *ops;
static void check_followers(uv_timer_t *t);
static uv_timer_t follow_timer;
static int follow_timer_on;

static void unref(struct mlos_cli_op *op)
{
    if (--op->refs > 0)
        return;
    for (struct mlos_cli_op **p = &ops; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    free(op->buf);
    free(op);
}

static void finish(struct mlos_cli_op *op)
{
    if (op->stream) {
        uv_stream_t *s = op->stream;
        op->stream = NULL; /* master.c closes it; detach follows */
        op->done(s);
    }
}

static void write_cb(uv_write_t *w, int status)
{
    struct out *o = (struct out *)w;
    struct mlos_cli_op *op = o->op;
    if ((o->last || status < 0) && op->stream)
        finish(op);
    free(o);
    unref(op);
}

/* Queue head (a line) and body; last: the connection ends after it. */
static void emit(struct mlos_cli_op *op, const char *head, const void *body, size_t len, int last)
{
    size_t hl = head ? strlen(head) : 0;
    struct out *o;
    if (!op->stream)
        return;
    if (last)
        op->answered = 1;
    if (!(o = malloc(sizeof(*o) + hl + len + 1))) {
        finish(op);
        return;
    }
    if (hl)
        memcpy(o->data, head, hl);
    if (len)
        memcpy(o->data + hl, body, len);
    o->op = op;
    o->last = last;
    o->len = hl + len;
    uv_buf_t b = uv_buf_init(o->data, (unsigned)o->len);
    op->refs++;
    if (uv_write(&o->w, op->stream, &b, 1, write_cb) < 0) {
        op->refs--;
        free(o);
        finish(op);
    }
}

static void emit_error(struct mlos_cli_op *op, int code, const char *msg)
{
    char line[512];
    snprintf(line, sizeof(line), "error %d %s\n", code, msg);
    for (char *p = line + strlen("error "); p[1]; p++) /* one line, whatever the shard said */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    emit(op, line, NULL, 0, 1);
}

static void call_cb(mlos_call_t *req, int status)
{
    struct mlos_cli_op *op = req->data;
    char head[64];
    op->calling = 0;
    if (status == 0) {
        snprintf(head, sizeof(head), "ok %zu %" PRIu64 "\n", req->result_len, req->run_ns);
        emit(op, head, req->result, req->result_len, 1);
    } else {
        emit_error(op, status, req->error ? req->error : mlos_strerror(status));
    }
    unref(op);
}

static void run(struct mlos_cli_op *op)
{
    int rc;
    if (op->stream)
        uv_read_stop(op->stream);
    if (!mlos_shard_alive(op->shard)) {
        emit_error(op, MLOS_ESHARDDIED, "the shard is not running (see mlos console)");
        return;
    }
    switch (op->kind) {
    case OP_CALL:
        op->req.data = op;
        op->refs++;
        op->calling = 1;
        if ((rc = mlos_call(op->shard, &op->req, op->task, op->buf, op->need, call_cb)) < 0) {
            op->calling = 0;
            op->refs--;
            emit_error(op, rc, rc == MLOS_ETOOBIG ? "argument larger than the shard's ring takes" : mlos_strerror(rc));
        }
        break;
    case OP_PUT:
        if ((rc = mlos_put(op->shard, op->offset, op->buf, op->need)) < 0)
            emit_error(op, rc, "offset and length outside the shard's bulk window");
        else
            emit(op, "ok\n", NULL, 0, 1);
        break;
    default:
        break;
    }
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *v = x;
    return 0;
}

int mlos_cli_op_start(mlos_shard_t *shard, uv_stream_t *stream, const char *line, const char *extra, size_t n,
                      mlos_cli_op_done_cb done, struct mlos_cli_op **out)
{
    char verb[16] = "", a1[160] = "", a2[32] = "", a3[8] = "";
    uint64_t x = 0, y = 0;
    size_t bulk_len = 0;
    struct mlos_cli_op *op;

    if (sscanf(line, "%15s %159s %31s %7s", verb, a1, a2, a3) < 1 ||
        (strcmp(verb, "call") && strcmp(verb, "put") && strcmp(verb, "get") && strcmp(verb, "console")))
        return MLOS_ENOTASK;
    if (!(op = calloc(1, sizeof(*op))))
        return MLOS_ENOMEM;
    op->shard = shard;
    op->stream = stream;
    op->done = done;
    op->refs = 1; /* the connection */
    op->next = ops;
    ops = op;
    *out = op;
    if (mlos_shard_alive(shard))
        mlos_shard_bulk(shard, &bulk_len);

    if (!strcmp(verb, "call")) {
        op->kind = OP_CALL;
        if (!a1[0] || parse_u64(a2, &y) < 0 || a3[0] || strlen(a1) >= sizeof(op->task)) {
            emit_error(op, MLOS_EINVAL, "usage: call TASK ARGLEN");
            return 0;
        }
        if (y > MLOS_CLI_MAX_ARG) {
            emit_error(op, MLOS_ETOOBIG, "argument too large (at most 1 MiB)");
            return 0;
        }
        snprintf(op->task, sizeof(op->task), "%s", a1);
    } else if (!strcmp(verb, "put") || !strcmp(verb, "get")) {
        op->kind = verb[0] == 'p' ? OP_PUT : OP_GET;
        if (parse_u64(a1, &x) < 0 || parse_u64(a2, &y) < 0 || a3[0]) {
            emit_error(op, MLOS_EINVAL, op->kind == OP_PUT ? "usage: put OFFSET LEN" : "usage: get OFFSET LEN");
            return 0;
        }
        if (!mlos_shard_alive(shard)) {
            emit_error(op, MLOS_ESHARDDIED, "the shard is not running (see mlos console)");
            return 0;
        }
        if (x > bulk_len || y > bulk_len - x) {
            char why[160];
            snprintf(why, sizeof(why), "[%" PRIu64 ", +%" PRIu64 ") is outside the bulk window (%zu bytes)", x, y,
                     bulk_len);
            emit_error(op, MLOS_ERANGE, why);
            return 0;
        }
        op->offset = x;
    } else {
        const char *tail = mlos_shard_console_tail(shard);
        char head[32];
        if (a1[0] && strcmp(a1, "follow")) {
            emit_error(op, MLOS_EINVAL, "usage: console [follow]");
            return 0;
        }
        op->kind = a1[0] ? OP_FOLLOW : OP_CONSOLE;
        snprintf(head, sizeof(head), "ok %zu\n", strlen(tail));
        emit(op, head, tail, strlen(tail), op->kind == OP_CONSOLE);
        if (op->kind == OP_FOLLOW && !mlos_shard_alive(shard))
            emit(op, NULL, NULL, 0, 1); /* nothing more will come */
        if (op->kind == OP_FOLLOW && !op->answered && !follow_timer_on) {
            uv_timer_init(stream->loop, &follow_timer);
            uv_timer_start(&follow_timer, check_followers, FOLLOW_CHECK_MS, FOLLOW_CHECK_MS);
            follow_timer_on = 1;
        }
        return 0;
    }
    op->need = (size_t)y;
    if (op->kind == OP_GET) {
        char head[48];
        uint8_t *data = malloc(op->need ? op->need : 1);
        if (!data) {
            emit_error(op, MLOS_ENOMEM, "out of memory");
            return 0;
        }
        int rc = mlos_get(shard, op->offset, data, op->need);
        if (rc < 0) {
            emit_error(op, rc, mlos_strerror(rc));
        } else {
            snprintf(head, sizeof(head), "ok %zu\n", op->need);
            emit(op, head, data, op->need, 1);
        }
        free(data);
        return 0;
    }
    if (!(op->buf = malloc(op->need ? op->need : 1))) {
        emit_error(op, MLOS_ENOMEM, "out of memory");
        return 0;
    }
    op->have = n < op->need ? n : op->need;
    memcpy(op->buf, extra, op->have);
    if (op->have == op->need)
        run(op);
    return 0;
}

void mlos_cli_op_alloc(struct mlos_cli_op *op, uv_buf_t *b)
{
    if (op->buf && op->have < op->need && !op->answered) {
        b->base = (char *)op->buf + op->have;
        b->len = op->need - op->have;
    } else {
        b->base = op->sink;
        b->len = sizeof(op->sink);
    }
}

void mlos_cli_op_read(struct mlos_cli_op *op, ssize_t n)
{
    if (n <= 0 || !op->buf || op->answered || op->calling || op->have >= op->need)
        return; /* a follower's socket, or bytes past the payload: ignored */
    op->have += (size_t)n;
    if (op->have == op->need)
        run(op);
}

void mlos_cli_op_detach(struct mlos_cli_op *op)
{
    op->stream = NULL;
    unref(op);
}

static void timer_closed(uv_handle_t *h) { (void)h; }

static void end_followers(void)
{
    int left = 0;
    for (struct mlos_cli_op *op = ops; op; op = op->next)
        if (op->kind == OP_FOLLOW && !op->answered)
            emit(op, NULL, NULL, 0, 1);
    for (struct mlos_cli_op *op = ops; op; op = op->next)
        left += op->kind == OP_FOLLOW && !op->answered;
    if (!left && follow_timer_on) {
        follow_timer_on = 0;
        uv_close((uv_handle_t *)&follow_timer, timer_closed);
    }
}

static void check_followers(uv_timer_t *t)
{
    (void)t;
    int any = 0;
    for (struct mlos_cli_op *op = ops; op; op = op->next)
        any |= op->kind == OP_FOLLOW && !op->answered && op->stream;
    if (!any || !ops || !mlos_shard_alive(ops->shard))
        end_followers();
}

void mlos_cli_op_console(mlos_shard_t *shard, const char *line, size_t len)
{
    (void)shard;
    fprintf(stderr, "[shard] %.*s\n", (int)len, line);
    for (struct mlos_cli_op *op = ops; op; op = op->next)
        if (op->kind == OP_FOLLOW && !op->answered) {
            char *copy = malloc(len + 1);
            if (!copy)
                continue;
            memcpy(copy, line, len);
            copy[len] = '\n';
            emit(op, NULL, copy, len + 1, 0);
            free(copy);
        }
}

void mlos_cli_op_shard_gone(void)
{
    for (struct mlos_cli_op *op = ops; op; op = op->next)
        if (!op->answered && !op->calling && op->kind != OP_FOLLOW)
            emit_error(op, MLOS_ESTOPPED, "the shard is stopping");
    end_followers();
}
