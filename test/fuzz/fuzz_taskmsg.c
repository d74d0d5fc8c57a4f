/* fuzz_taskmsg.c -- the in-place TaskCall/TaskReply codec (rpc/wire/taskmsg.c)
 * against protobuf-c, which the master uses on the other end.
 *
 * For every input:
 *   - decode it as a TaskCall with both. Whatever ours accepts,
 *     protobuf-c must accept with the same task and arg (taskmsg.h's
 *     contract); the view must lie inside the input; ours may refuse
 *     more, but only with MLOS_EDECODE.
 *   - an accepted call re-encoded by mlos_taskcall_encode is byte for byte
 *     what protobuf-c packs for the same fields, and decodes to them again.
 *   - the input read as TaskReply fields (status, run_ns, result, error)
 *     encodes exactly as protobuf-c packs them, and protobuf-c unpacks our
 *     bytes to the same values.
 * Any difference aborts with the bytes involved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlos.pb-c.h"
#include "mlos_error.h"
#include "taskmsg.h"

static void fail(const char *what, const uint8_t *p, size_t len)
{
    fprintf(stderr, "fuzz_taskmsg: %s on %zu bytes:", what, len);
    for (size_t i = 0; i < len && i < 64; i++)
        fprintf(stderr, " %02x", p[i]);
    fputc('\n', stderr);
    abort();
}

static void check_call(const uint8_t *p, size_t len)
{
    struct mlos_taskcall_view v;
    int rc = mlos_taskcall_decode(p, len, &v);
    if (rc != 0) {
        if (rc != MLOS_EDECODE)
            fail("decode returned an undocumented error", p, len);
        return;
    }
    if (v.task_len && ((const uint8_t *)v.task < p || v.task_len > (size_t)(p + len - (const uint8_t *)v.task)))
        fail("task view outside the input", p, len);
    if (v.arg_len && (v.arg < p || v.arg_len > (size_t)(p + len - v.arg)))
        fail("arg view outside the input", p, len);
    if (v.task_len && memchr(v.task, 0, v.task_len))
        fail("accepted a task name with a NUL inside", p, len);

    Mlos__TaskCall *c = mlos__task_call__unpack(NULL, len, p);
    if (!c)
        fail("ours accepts, protobuf-c refuses", p, len);
    if (strlen(c->task) != v.task_len || memcmp(c->task, v.task, v.task_len) || c->arg.len != v.arg_len ||
        (v.arg_len && memcmp(c->arg.data, v.arg, v.arg_len)))
        fail("ours and protobuf-c decode different fields", p, len);

    /* round trip through both encoders (a fresh message: protobuf-c would
     * pack the unknown fields it kept as well) */
    Mlos__TaskCall fresh = MLOS__TASK_CALL__INIT;
    fresh.task = c->task;
    fresh.arg = c->arg;
    size_t n = mlos_taskcall_size(v.task, v.task_len, v.arg_len), m = mlos__task_call__get_packed_size(&fresh);
    uint8_t *ours = malloc(n ? n : 1), *theirs = malloc(m ? m : 1);
    if (!ours || !theirs)
        abort();
    if (n != m || mlos_taskcall_encode(v.task, v.task_len, v.arg, v.arg_len, ours) != n ||
        mlos__task_call__pack(&fresh, theirs) != m || memcmp(ours, theirs, n))
        fail("re-encoding differs from protobuf-c's", p, len);
    struct mlos_taskcall_view w;
    if (mlos_taskcall_decode(ours, n, &w) != 0 || w.task_len != v.task_len || memcmp(w.task, v.task, v.task_len) ||
        w.arg_len != v.arg_len || (v.arg_len && memcmp(w.arg, v.arg, v.arg_len)))
        fail("re-encoded call decodes differently", p, len);
    free(ours);
    free(theirs);
    mlos__task_call__free_unpacked(c, NULL);
}

static void check_reply(const uint8_t *p, size_t len)
{
    struct mlos_taskreply_fields f = {0};
    Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;
    uint8_t hdr[13] = {0};
    char *error;
    size_t split;

    memcpy(hdr, p, len < sizeof(hdr) ? len : sizeof(hdr));
    p += len < sizeof(hdr) ? len : sizeof(hdr);
    len -= len < sizeof(hdr) ? len : sizeof(hdr);
    f.status = (int32_t)((uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24);
    for (int i = 0; i < 8; i++)
        f.run_ns |= (uint64_t)hdr[4 + i] << (8 * i);
    split = len ? hdr[12] % (len + 1) : 0;
    f.result = p, f.result_len = split;
    /* the error is a C string on protobuf-c's side: cut at the first NUL */
    error = malloc(len - split + 1);
    if (!error)
        abort();
    memcpy(error, p + split, len - split);
    error[len - split] = 0;
    f.error = error, f.error_len = strlen(error);

    r.status = f.status;
    r.result.data = (uint8_t *)p;
    r.result.len = split;
    r.error = error;
    r.run_ns = f.run_ns;
    size_t n = mlos_taskreply_size(&f), m = mlos__task_reply__get_packed_size(&r);
    uint8_t *ours = malloc(n ? n : 1), *theirs = malloc(m ? m : 1);
    if (!ours || !theirs)
        abort();
    if (n != m || mlos_taskreply_encode(&f, ours) != n || mlos__task_reply__pack(&r, theirs) != m ||
        memcmp(ours, theirs, n))
        fail("reply encoding differs from protobuf-c's", ours, n);
    Mlos__TaskReply *u = mlos__task_reply__unpack(NULL, n, ours);
    if (!u || u->status != f.status || u->run_ns != f.run_ns || u->result.len != split ||
        (split && memcmp(u->result.data, p, split)) || strcmp(u->error, error))
        fail("protobuf-c unpacks our reply to other values", ours, n);
    mlos__task_reply__free_unpacked(u, NULL);
    free(ours);
    free(theirs);
    free(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_call(data, size);
    check_reply(data, size);
    return 0;
}
