/* test_taskmsg.c -- the hand codec of TaskCall/TaskReply (rpc/wire/taskmsg.h)
 * against protobuf-c, which the master uses on the other end:
 *   - replies: byte-identical encodings over edge values;
 *   - calls: whatever protobuf-c packs decodes to the same fields;
 *   - hostile input (random bytes, mutations of valid calls, every
 *     truncation): the decoder never reads outside the buffer (run under
 *     valgrind/ASan to see that), and whatever it accepts protobuf-c
 *     accepts with the same task and arg. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mlos.pb-c.h"
#include "mlos_error.h"
#include "taskmsg.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static int disagreements;

/* Decode with both; if ours accepts, protobuf-c must accept with the
 * same fields. Returns ours' status. */
static int compare_decode(const uint8_t *p, size_t len)
{
    struct mlos_taskcall_view v;
    int rc = mlos_taskcall_decode(p, len, &v);
    Mlos__TaskCall *c = mlos__task_call__unpack(NULL, len, p);

    if (rc == 0) {
        int same = c && strlen(c->task) == v.task_len && !memcmp(c->task, v.task, v.task_len) &&
                   c->arg.len == v.arg_len && (!v.arg_len || !memcmp(c->arg.data, v.arg, v.arg_len));
        if (!same && disagreements++ < 5) {
            fprintf(stderr, "disagreement on %zu bytes:", len);
            for (size_t i = 0; i < len && i < 32; i++)
                fprintf(stderr, " %02x", p[i]);
            fprintf(stderr, "\n");
        }
    } else {
        CHECK_EQ(rc, MLOS_EDECODE);
    }
    if (c)
        mlos__task_call__free_unpacked(c, NULL);
    return rc;
}

static void reply_matches(int32_t status, size_t rlen, const char *error, uint64_t run_ns)
{
    uint8_t data[300], ours[400], theirs[400];
    Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;

    for (size_t i = 0; i < rlen; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    r.status = status;
    r.result.data = data;
    r.result.len = rlen;
    r.error = (char *)error;
    r.run_ns = run_ns;
    struct mlos_taskreply_fields f = {status, data, rlen, error, strlen(error), run_ns};
    size_t n = mlos_taskreply_size(&f), m = mlos__task_reply__get_packed_size(&r);
    CHECK_EQ(n, m);
    CHECK_EQ(mlos_taskreply_encode(&f, ours), n);
    mlos__task_reply__pack(&r, theirs);
    CHECK(n == m && memcmp(ours, theirs, n) == 0);
    /* and it unpacks to the same values */
    Mlos__TaskReply *u = mlos__task_reply__unpack(NULL, n, ours);
    CHECK(u && u->status == status && u->result.len == rlen && u->run_ns == run_ns && !strcmp(u->error, error));
    if (u)
        mlos__task_reply__free_unpacked(u, NULL);
}

static const char *hello_name(size_t i, void *user) { return ((const char *const *)user)[i]; }

/* Our Hello encoder writes protobuf-c's bytes, which unpack to the fields. */
static void hello_matches(const char *arch, uint32_t id, size_t n, uint64_t mem, uint64_t boot, uint32_t abi,
                          uint64_t mem_max, uint32_t cores, uint32_t active)
{
    static const char *const names[] = {
        "echo", "", "sum_u64", "a-task-name-long-enough-to-need-no-second-varint-byte",
        /* 150 bytes: a two-byte length, which the encoder makes room for after copying */
        "a-task-name-of-a-hundred-and-fifty-bytes-0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789"};
    Mlos__Hello h = MLOS__HELLO__INIT;
    uint8_t ours[512], theirs[512];
    h.arch = (char *)arch;
    h.shard_id = id;
    h.n_tasks = n;
    h.tasks = (char **)names;
    h.mem_bytes = mem;
    h.boot_ns = boot;
    h.abi = abi;
    h.mem_max_bytes = mem_max;
    h.cores = cores;
    h.active_cores = active;
    struct mlos_hello_fields f = {arch, id, n, hello_name, (void *)names, mem, boot, abi, mem_max, cores, active};
    size_t m = mlos__hello__get_packed_size(&h), len = mlos_hello_encode(&f, ours, sizeof(ours));
    CHECK_EQ(len, m);
    /* too little room is refused, not overrun (the room asked for is a bound, not exact) */
    CHECK_EQ(mlos_hello_encode(&f, ours, m / 2), 0);
    mlos_hello_encode(&f, ours, sizeof(ours));
    mlos__hello__pack(&h, theirs);
    CHECK(len == m && memcmp(ours, theirs, len) == 0);
    Mlos__Hello *u = mlos__hello__unpack(NULL, len, ours);
    CHECK(u && !strcmp(u->arch, arch) && u->shard_id == id && u->n_tasks == n && u->mem_bytes == mem &&
          u->boot_ns == boot && u->abi == abi && u->mem_max_bytes == mem_max && u->cores == cores &&
          u->active_cores == active);
    for (size_t i = 0; u && i < n; i++)
        CHECK(!strcmp(u->tasks[i], names[i]));
    if (u)
        mlos__hello__free_unpacked(u, NULL);
}

int main(void)
{
    /* ---- hellos ---- */
    const char *arches[] = {"", "x86_64", "process"};
    uint64_t big[] = {0, 1, 300, (uint64_t)1 << 35, UINT64_MAX};
    for (size_t a = 0; a < 3; a++)
        for (size_t n = 0; n <= 5; n++)
            for (size_t b = 0; b < 5; b++)
                for (size_t c = 0; c < 5; c++) /* the elastic and cores fields, each 0 (unwritten) to the widest */
                    hello_matches(arches[a], (uint32_t)big[b], n, big[(b + 1) % 5], big[(b + 2) % 5], b ? 1 : 0,
                                  big[c], (uint32_t)big[(c + b) % 5], (uint32_t)big[(c + 2 * b + 1) % 5]);

    /* ---- replies ---- */
    int32_t statuses[] = {0, 1, -1, -2, 63, -64, 64, -65, MLOS_EDECODE, INT32_MAX, INT32_MIN};
    size_t lens[] = {0, 1, 8, 127, 128, 300};
    uint64_t ns[] = {0, 1, 127, 128, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    const char *errors[] = {"", "x", "no task named 'nope' in this shard"};
    for (size_t a = 0; a < sizeof statuses / sizeof statuses[0]; a++)
        for (size_t b = 0; b < sizeof lens / sizeof lens[0]; b++)
            for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
                for (size_t d = 0; d < 3; d++)
                    reply_matches(statuses[a], lens[b], errors[d], ns[c]);

    /* ---- calls packed by protobuf-c, and by our encoder ---- */
    static uint8_t arg[70000];
    for (size_t i = 0; i < sizeof arg; i++)
        arg[i] = (uint8_t)rnd();
    const char *tasks[] = {"", "echo", "neuro_smooth", "a-task-name-that-is-rather-long-for-one-byte-length..."};
    size_t alens[] = {0, 1, 8, 127, 128, 16383, 16384, sizeof arg};
    static uint8_t buf[70100], mine[70100];
    for (size_t t = 0; t < 4; t++) {
        for (size_t a = 0; a < sizeof alens / sizeof alens[0]; a++) {
            Mlos__TaskCall c = MLOS__TASK_CALL__INIT;
            c.task = (char *)tasks[t];
            c.arg.data = arg;
            c.arg.len = alens[a];
            size_t n = mlos__task_call__pack(&c, buf);
            struct mlos_taskcall_view v;
            CHECK_EQ(mlos_taskcall_decode(buf, n, &v), 0);
            CHECK(v.task_len == strlen(tasks[t]) && !memcmp(v.task, tasks[t], v.task_len));
            CHECK(v.arg_len == alens[a] && (!v.arg_len || !memcmp(v.arg, arg, v.arg_len)));
            CHECK_EQ(mlos_taskcall_size(tasks[t], strlen(tasks[t]), alens[a]), n);
            CHECK_EQ(mlos_taskcall_encode(tasks[t], strlen(tasks[t]), arg, alens[a], mine), n);
            CHECK(memcmp(mine, buf, n) == 0);
        }
    }

    /* ---- the protobuf rules a peer may use: unknown fields of every
     * scalar wire type are skipped, the last occurrence wins ---- */
    {
        const uint8_t m[] = {0x0a, 1, 'a',                 /* task "a" */
                             0x18, 0x96, 0x01,             /* field 3 varint */
                             0x21, 1, 2, 3, 4, 5, 6, 7, 8, /* field 4 fixed64 */
                             0x2d, 1, 2, 3, 4,             /* field 5 fixed32 */
                             0x32, 2, 'z', 'z',            /* field 6 bytes */
                             0x12, 1, 'X',                 /* arg "X" */
                             0x0a, 2, 'o', 'k',            /* task again: "ok" wins */
                             0x80, 0x01, 0x00};            /* field 16 varint: a two-byte tag */
        struct mlos_taskcall_view v;
        CHECK_EQ(mlos_taskcall_decode(m, sizeof m, &v), 0);
        CHECK(v.task_len == 2 && !memcmp(v.task, "ok", 2) && v.arg_len == 1 && v.arg[0] == 'X');
        CHECK_EQ(compare_decode(m, sizeof m), 0);
        /* refused: a group, field number 0, task as a varint, a length past
         * the end, a varint that never ends */
        const uint8_t g[] = {0x1b, 0x1c}, z[] = {0x02, 0}, tv[] = {0x08, 1}, past[] = {0x0a, 5, 'a'},
                      endless[] = {0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        CHECK_EQ(mlos_taskcall_decode(g, sizeof g, &v), MLOS_EDECODE);
        CHECK_EQ(mlos_taskcall_decode(z, sizeof z, &v), MLOS_EDECODE);
        CHECK_EQ(mlos_taskcall_decode(tv, sizeof tv, &v), MLOS_EDECODE);
        CHECK_EQ(mlos_taskcall_decode(past, sizeof past, &v), MLOS_EDECODE);
        CHECK_EQ(mlos_taskcall_decode(endless, sizeof endless, &v), MLOS_EDECODE);
        CHECK(mlos__task_call__unpack(NULL, sizeof past, past) == NULL); /* protobuf-c agrees on that one */
        /* empty payload: all defaults */
        CHECK_EQ(mlos_taskcall_decode(m, 0, &v), 0);
        CHECK(v.task_len == 0 && v.arg_len == 0);
    }

    /* ---- hostile input ---- */
    {
        Mlos__TaskCall c = MLOS__TASK_CALL__INIT;
        uint8_t good[64], m[64];
        c.task = "sum_u64";
        c.arg.data = arg;
        c.arg.len = 16;
        size_t n = mlos__task_call__pack(&c, good);
        for (size_t cut = 0; cut < n; cut++) /* every truncation */
            compare_decode(good, cut);
        int accepted = 0;
        for (int i = 0; i < 200000; i++) {
            memcpy(m, good, n);
            int flips = 1 + (int)(rnd() % 3);
            for (int k = 0; k < flips; k++)
                m[rnd() % n] = (uint8_t)rnd();
            accepted += compare_decode(m, n) == 0;
        }
        for (int i = 0; i < 200000; i++) {
            size_t len = rnd() % sizeof m;
            for (size_t k = 0; k < len; k++)
                m[k] = (uint8_t)rnd();
            accepted += compare_decode(m, len) == 0;
        }
        printf("fuzz: %d of 400000 mutated/random calls accepted, %d disagreements with protobuf-c\n", accepted,
               disagreements);
        CHECK(accepted > 1000); /* the comparison saw many accepted inputs */
        CHECK_EQ(disagreements, 0);
    }
    CHECK_DONE();
}
