/* taskmsg.c -- hand codec of TaskCall / TaskReply (see taskmsg.h). */
#include "taskmsg.h"

#include <string.h>

#include "mlos_error.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* A varint of at most maxb bytes at *p (< end). Returns 0 or -1. */
static int get_varint(const uint8_t **p, const uint8_t *end, int maxb, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < maxb && *p < end; i++) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1; /* truncated or over-long */
}

int mlos_taskcall_decode(const uint8_t *p, size_t len, struct mlos_taskcall_view *v)
{
    const uint8_t *end = p + len;

    v->task = "", v->task_len = 0, v->arg = NULL, v->arg_len = 0, v->flags = 0;
    while (p < end) {
        uint64_t tag, n;
        if (get_varint(&p, end, 5, &tag) < 0 || tag >> 32 || tag >> 3 == 0)
            return MLOS_EDECODE;
        switch (tag & 7) {
        case WT_VARINT:
            if ((tag >> 3) <= 2 || get_varint(&p, end, 10, &n) < 0)
                return MLOS_EDECODE; /* fields 1 and 2 are length-delimited */
            if (tag >> 3 == 3)
                v->flags = (uint32_t)n; /* uint32: protobuf-c keeps the low 32 bits too */
            break;
        case WT_I64:
        case WT_I32:
            n = (tag & 7) == WT_I64 ? 8 : 4;
            if ((tag >> 3) <= 3 || (size_t)(end - p) < n)
                return MLOS_EDECODE;
            p += n;
            break;
        case WT_LEN:
            /* a 32-bit length: five bytes at most, nothing above bit 31 */
            if (get_varint(&p, end, 5, &n) < 0 || n >> 32 || n > (size_t)(end - p) || tag >> 3 == 3)
                return MLOS_EDECODE; /* field 3 (flags) is a varint */
            if (tag >> 3 == 1) {
                /* task names are C strings on both ends: a NUL inside
                 * would name another task (protobuf-c would cut there) */
                if (n && memchr(p, 0, (size_t)n))
                    return MLOS_EDECODE;
                v->task = (const char *)p, v->task_len = (size_t)n;
            } else if (tag >> 3 == 2) {
                v->arg = p, v->arg_len = (size_t)n;
            }
            p += n;
            break;
        default: /* groups: deprecated, and nothing of ours uses them */
            return MLOS_EDECODE;
        }
    }
    return 0;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80)
        v >>= 7, n++;
    return n;
}

static uint8_t *put_varint(uint8_t *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *o++ = (uint8_t)v;
    return o;
}

static uint8_t *put_len_field(uint8_t *o, uint8_t tag, const void *data, size_t len)
{
    *o++ = tag;
    o = put_varint(o, len);
    if (len)
        memcpy(o, data, len);
    return o + len;
}

static uint32_t zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }

size_t mlos_taskreply_size(const struct mlos_taskreply_fields *r)
{
    size_t n = 0;
    if (r->status)
        n += 1 + varint_size(zigzag32(r->status));
    if (r->result_len)
        n += 1 + varint_size(r->result_len) + r->result_len;
    if (r->error_len)
        n += 1 + varint_size(r->error_len) + r->error_len;
    if (r->run_ns)
        n += 1 + varint_size(r->run_ns);
    return n;
}

size_t mlos_taskreply_encode(const struct mlos_taskreply_fields *r, uint8_t *out)
{
    uint8_t *o = out;
    if (r->status) {
        *o++ = 1 << 3 | WT_VARINT;
        o = put_varint(o, zigzag32(r->status));
    }
    if (r->result_len)
        o = put_len_field(o, 2 << 3 | WT_LEN, r->result, r->result_len);
    if (r->error_len)
        o = put_len_field(o, 3 << 3 | WT_LEN, r->error, r->error_len);
    if (r->run_ns) {
        *o++ = 4 << 3 | WT_VARINT;
        o = put_varint(o, r->run_ns);
    }
    return (size_t)(o - out);
}

size_t mlos_taskcall_size(const char *task, size_t task_len, size_t arg_len)
{
    (void)task;
    return (task_len ? 1 + varint_size(task_len) + task_len : 0) + (arg_len ? 1 + varint_size(arg_len) + arg_len : 0);
}

size_t mlos_taskcall_encode(const char *task, size_t task_len, const void *arg, size_t arg_len, uint8_t *out)
{
    uint8_t *o = out;
    if (task_len)
        o = put_len_field(o, 1 << 3 | WT_LEN, task, task_len);
    if (arg_len)
        o = put_len_field(o, 2 << 3 | WT_LEN, arg, arg_len);
    return (size_t)(o - out);
}

/* The Hello writers are out of line on purpose: Hello is coded once per
 * boot, where each distinct instruction costs its TCG translation, so one
 * copy of each loop beats an inlined copy per field. */
static __attribute__((noinline)) uint8_t *hello_varint(uint8_t *o, uint8_t tag, uint64_t v)
{
    if (!v)
        return o; /* proto3: zero scalars are not written */
    *o++ = tag;
    return put_varint(o, v);
}

/* One pass that copies and counts: names are short, so the bytes go two
 * past the tag (room for a one-byte length) and only a name of 128 bytes
 * or more is moved up for its longer length. No strlen or memcpy: they
 * would be translated at boot just for this. */
static __attribute__((noinline)) uint8_t *hello_string(uint8_t *o, uint8_t tag, const char *s, size_t *room)
{
    size_t len = 0, max = *room - 11; /* tag, a length varint of at most 10 bytes, the bytes */
    if (*room < 11)
        return NULL;
    if (!s)
        s = "";
    for (; s[len]; len++) {
        if (len == max)
            return NULL;
        o[2 + len] = (uint8_t)s[len];
    }
    *o++ = tag;
    if (len >= 0x80) { /* a longer length: make room for it */
        uint8_t tmp[10];
        size_t n = (size_t)(put_varint(tmp, len) - tmp);
        memmove(o + n, o + 1, len);
        memcpy(o, tmp, n);
        o += n;
    } else {
        *o++ = (uint8_t)len;
    }
    *room -= len + 11;
    return o + len;
}

size_t mlos_hello_encode(const struct mlos_hello_fields *h, uint8_t *out, size_t cap)
{
    uint8_t *o = out;
    size_t room = cap;

    /* every scalar field: tag + at most 10 varint bytes */
    if (room < 7 * 11)
        return 0;
    room -= 7 * 11;
    if (h->arch && h->arch[0] && !(o = hello_string(o, 1 << 3 | WT_LEN, h->arch, &room)))
        return 0;
    o = hello_varint(o, 2 << 3 | WT_VARINT, h->shard_id);
    for (size_t i = 0; i < h->n_tasks; i++) /* repeated: every element, empty ones too */
        if (!(o = hello_string(o, 3 << 3 | WT_LEN, h->task_name(i, h->user), &room)))
            return 0;
    /* fields 4..9 in one loop: one call site, not six */
    const uint64_t tail[6] = {h->mem_bytes, h->boot_ns, h->abi, h->mem_max_bytes, h->cores, h->active_cores};
    for (unsigned f = 0; f < 6; f++)
        o = hello_varint(o, (uint8_t)((4 + f) << 3 | WT_VARINT), tail[f]);
    return (size_t)(o - out);
}
