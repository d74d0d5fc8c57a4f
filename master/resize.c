/* resize.c -- elastic shard memory on the master (mlos_shard_resize, mlos.h).
 *
 * A RESIZE frame travels like a call (in order behind earlier calls, failed
 * with them when the shard dies). The shard answers RESIZED with the limit
 * it set and the free ranges it gives back, which it holds unused. Here
 * every range is checked against the part of the memory file that is the
 * shard's allocator memory (never the window with its rings and bulk
 * area, which this process maps and reads), punched out of the file so
 * that the host frees the pages, and acknowledged with RELEASED so that
 * the shard may use them again. A shard that reports anything else is
 * broken: it is fenced, and nothing is punched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"
#include "mlos.pb-c.h"
#include "registry.h"

#define PAGE 4096u
#define MAX_RANGES 512 /* asked per shrink: bounds the answer we accept */
#define MiB (1024.0 * 1024.0)

static int refuse(mlos_resize_t *req, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(mlos_resize_t *req, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->msg, sizeof(req->msg), fmt, ap);
    va_end(ap);
    req->status = rc;
    req->error = req->msg;
    return rc;
}

static void finish(mlos_resize_t *req, int status, const char *error)
{
    req->status = status;
    req->error = status ? (error && error[0] ? error : mlos_strerror(status)) : NULL;
    req->rtt_ns = uv_hrtime() - req->call.t0;
    req->cb(req, status);
}

/* The carrier call completed without a RESIZED: the shard died, stopped
 * or the request expired. */
static void carrier_done(mlos_call_t *c, int status)
{
    mlos_resize_t *req = c->data;
    if (status == 0) /* only on_resized completes with 0, and it does not come here */
        status = MLOS_EPROTO;
    snprintf(req->msg, sizeof(req->msg), "resize of shard %u to %llu bytes: %s", req->shard->id,
             (unsigned long long)req->target_bytes, c->error ? c->error : mlos_strerror(status));
    finish(req, status, req->msg);
}

int mlos_shard_resize(mlos_shard_t *shard, mlos_resize_t *req, size_t bytes, mlos_resize_cb cb)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    Mlos__Resize msg = MLOS__RESIZE__INIT;
    void *frame;
    size_t len;

    if (!req)
        return MLOS_EINVAL;
    void *user = req->data;
    memset(req, 0, sizeof(*req));
    req->data = user;
    req->target_bytes = bytes;
    if (!shard || !cb)
        return refuse(req, MLOS_EINVAL, "resize needs a shard and a callback");
    if (!im)
        return refuse(req, MLOS_EINVAL, "shard was not spawned or is already released");
    if (im->state != SHARD_READY || im->fenced)
        return refuse(req, mlos__not_running_err(im),
                      "shard %u is not running (%s)", shard->id,
                      im->state == SHARD_STARTING ? "still starting" : im->state == SHARD_DEAD ? "dead" : "stopping");
    if (!shard->mem_max_bytes)
        return refuse(req, MLOS_ENOTSUP,
                      "shard %u has a fixed memory size: spawn it with mem_max_bytes to resize it (or its image "
                      "predates elastic memory)",
                      shard->id);
    if (bytes % PAGE)
        return refuse(req, MLOS_EINVAL, "resize of shard %u to %zu bytes: not a multiple of %u", shard->id, bytes,
                      PAGE);
    if (bytes < MLOS_RESIZE_MIN_BYTES || bytes > shard->mem_max_bytes)
        return refuse(req, MLOS_ERANGE,
                      "resize of shard %u to %zu bytes (%.1f MiB): outside %u bytes to its maximum %llu bytes "
                      "(%.1f MiB, mem_max_bytes)",
                      shard->id, bytes, bytes / MiB, MLOS_RESIZE_MIN_BYTES,
                      (unsigned long long)shard->mem_max_bytes, shard->mem_max_bytes / MiB);
    msg.limit_bytes = bytes;
    msg.max_ranges = MAX_RANGES;
    len = mlos__resize__get_packed_size(&msg);
    if (!(frame = malloc(len)))
        return refuse(req, MLOS_ENOMEM, "out of memory");
    mlos__resize__pack(&msg, frame);
    req->shard = shard;
    req->cb = cb;
    req->call.data = req;
    int rc = mlos__submit(im, &req->call, MLOS_FRAME_RESIZE, frame, len, carrier_done);
    if (rc < 0)
        return refuse(req, rc, "resize of shard %u: %s", shard->id, mlos_strerror(rc));
    return 0;
}

/* Check the ranges of a RESIZED answer; 0, or -1 with why filled in. */
static int check_ranges(const struct mlos_shard_impl *im, const Mlos__Resized *r, uint64_t *total, char *why,
                        size_t cap)
{
    uint64_t sum = 0;

    if (r->n_ranges % 2 || r->n_ranges / 2 > MAX_RANGES) {
        snprintf(why, cap, "%zu range words (pairs of offset and length, at most %u pairs)", r->n_ranges,
                 MAX_RANGES);
        return -1;
    }
    for (size_t i = 0; i < r->n_ranges; i += 2) {
        uint64_t off = r->ranges[i], len = r->ranges[i + 1];
        if (!len || off % PAGE || len % PAGE || off < im->give_lo || off >= im->give_hi ||
            len > im->give_hi - off) {
            snprintf(why, cap, "range %zu [0x%llx, +0x%llx) is not whole pages inside its memory [0x%llx, 0x%llx)",
                     i / 2, (unsigned long long)off, (unsigned long long)len, (unsigned long long)im->give_lo,
                     (unsigned long long)im->give_hi);
            return -1;
        }
        sum += len;
    }
    if (sum > im->give_hi - im->give_lo) {
        snprintf(why, cap, "ranges of %llu bytes overlap (more than its %llu bytes of memory)",
                 (unsigned long long)sum, (unsigned long long)(im->give_hi - im->give_lo));
        return -1;
    }
    *total = sum;
    return 0;
}

/* Punching frees the file's pages: about a millisecond per MiB on a busy
 * host. Past this much it runs on the libuv thread pool, so that the loop
 * (other shards' calls and heartbeats) goes on meanwhile. */
#define PUNCH_OFF_LOOP_BYTES (8u << 20)

struct punch {
    uv_work_t work;
    struct mlos_shard_impl *im;
    mlos_resize_t *req;
    uint32_t id;
    int fd, err, shard_status;
    uint64_t t0;
    size_t n;        /* range words */
    uint64_t words[]; /* (offset, length) pairs, checked */
};

static void punch_ranges(struct punch *pu)
{
    for (size_t i = 0; i < pu->n; i += 2)
        if (fallocate(pu->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pu->words[i],
                      (off_t)pu->words[i + 1]) < 0 && !pu->err)
            pu->err = errno;
}

/* The ranges are out of the file: let the shard have them again and
 * report. */
static void punched(struct punch *pu)
{
    struct mlos_shard_impl *im = pu->im;
    mlos_resize_t *req = pu->req;
    int status = pu->shard_status;

    req->punch_ns = uv_hrtime() - pu->t0;
    if (pu->n && im->state == SHARD_READY && !im->fenced)
        mlos__queue_released(im, pu->id);
    if (pu->err) {
        req->released_bytes = 0;
        if (status == 0 || status == MLOS_EBUSY) {
            status = MLOS_EIO;
            snprintf(req->msg, sizeof(req->msg), "shard %u resized, but its memory could not be given back: %s",
                     req->shard->id, strerror(pu->err));
        }
    }
    free(pu);
    finish(req, status, req->msg);
}

static void punch_work(uv_work_t *w) { punch_ranges(w->data); }

static void punch_done(uv_work_t *w, int status)
{
    struct punch *pu = w->data;
    struct mlos_shard_impl *im = pu->im;
    (void)status; /* queued work cannot be cancelled by us */
    punched(pu);
    if (--im->punching == 0 && im->release_waits) {
        im->release_waits = 0;
        mlos__release_memory(im);
    }
}

int mlos__on_resized(struct mlos_shard_impl *im, uint32_t id, const uint8_t *p, uint32_t len)
{
    mlos_call_t *c = mlos__take_pending(im, id, MLOS_FRAME_RESIZE);
    mlos_resize_t *req;
    Mlos__Resized *r;
    struct punch *pu;
    char why[200];
    uint64_t total = 0;

    if (!c)
        return MLOS_EPROTO; /* an answer to nothing we asked */
    req = c->data;
    mlos__hb_alive(im);
    r = mlos__resized__unpack(NULL, len, p);
    if (!r) {
        mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: RESIZED does not decode", im->shard->id);
        snprintf(req->msg, sizeof(req->msg), "%.200s", im->death_msg);
        finish(req, MLOS_EPROTO, req->msg);
        return 0;
    }
    why[0] = 0;
    if (r->status > 0 || (r->status == 0 && r->limit_bytes > req->target_bytes))
        snprintf(why, sizeof(why), "status %d with limit %llu for a target of %llu", (int)r->status,
                 (unsigned long long)r->limit_bytes, (unsigned long long)req->target_bytes);
    else if (r->limit_bytes > im->mem_max || r->in_use_bytes > r->limit_bytes)
        snprintf(why, sizeof(why), "limit %llu / in use %llu bytes beyond its maximum %llu",
                 (unsigned long long)r->limit_bytes, (unsigned long long)r->in_use_bytes,
                 (unsigned long long)im->mem_max);
    else
        check_ranges(im, r, &total, why, sizeof(why));
    if (why[0] || !(pu = malloc(sizeof(*pu) + r->n_ranges * sizeof(uint64_t)))) {
        if (why[0])
            mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: RESIZED %s", im->shard->id, why);
        else /* the shard keeps the pages held: it loses their use, nothing is lost */
            mlos__shard_fail(im, MLOS_ENOMEM, "shard %u: no memory to handle its resize", im->shard->id);
        mlos__resized__free_unpacked(r, NULL);
        snprintf(req->msg, sizeof(req->msg), "%.200s", im->death_msg);
        finish(req, why[0] ? MLOS_EPROTO : MLOS_ENOMEM, req->msg);
        return 0;
    }
    /* Checked: copy what the punch needs, the shard's bytes stay behind. */
    *pu = (struct punch){.im = im, .req = req, .id = id, .fd = im->mem_fd, .shard_status = r->status,
                         .t0 = uv_hrtime(), .n = r->n_ranges};
    if (r->n_ranges) /* none: protobuf-c leaves the array NULL */
        memcpy(pu->words, r->ranges, r->n_ranges * sizeof(uint64_t));
    req->mem_bytes = r->limit_bytes;
    req->in_use_bytes = r->in_use_bytes;
    req->ranges = (uint32_t)(r->n_ranges / 2);
    req->released_bytes = total;
    if ((r->status == 0 || r->status == MLOS_EBUSY) && im->shard->mem_bytes != r->limit_bytes) {
        im->shard->mem_bytes = r->limit_bytes;
        mlos__registry_state(im->shard, "ready"); /* mlos ps shows the grant */
    }
    if (r->status == MLOS_EBUSY)
        snprintf(req->msg, sizeof(req->msg),
                 "shrink of shard %u to %llu bytes went part of the way: limit %llu bytes, %llu bytes in use",
                 im->shard->id, (unsigned long long)req->target_bytes, (unsigned long long)r->limit_bytes,
                 (unsigned long long)r->in_use_bytes);
    else if (r->status < 0)
        snprintf(req->msg, sizeof(req->msg), "shard %u refused the resize to %llu bytes: %s", im->shard->id,
                 (unsigned long long)req->target_bytes, mlos_strerror(r->status));
    mlos__resized__free_unpacked(r, NULL);
    /* Punch: the pages leave the memory file, and with it the resident
     * memory of the shard's process (QEMU maps the file as guest RAM). */
    if (total >= PUNCH_OFF_LOOP_BYTES) {
        pu->work.data = pu;
        if (uv_queue_work(im->loop, &pu->work, punch_work, punch_done) == 0) {
            im->punching++;
            return 0;
        }
    }
    punch_ranges(pu);
    punched(pu);
    return 0;
}

static void sync_cb(mlos_resize_t *req, int status) { *(int *)req->data = 1; }

int mlos_shard_resize_sync(mlos_shard_t *shard, mlos_resize_t *req, size_t bytes)
{
    int done = 0, rc;
    if (!req)
        return MLOS_EINVAL;
    req->data = &done;
    rc = mlos_shard_resize(shard, req, bytes, sync_cb);
    if (rc < 0)
        return rc;
    uv_loop_t *loop = shard->impl->loop; /* the shard may be released before the loop returns */
    while (!done)
        uv_run(loop, UV_RUN_ONCE);
    return req->status;
}
