/* Multi-core shards end to end (mlos_spawn_opts.cores, mlos_shard_cores,
 * MLOS_CALL_CONCURRENT, mlos_parallel_for).
 *   test_cores ARCH CASE...
 *   ARCH x86_64:  parfor      a task's parallel-for gives the host's result
 *                             on 2 cores and, parked, on 1
 *                 concurrent  two concurrent calls run on different cores at
 *                             the same time; plain calls stay on core 0
 *                 park        park and unpark while concurrent calls and
 *                             parallel-fors keep running: every result right
 *                 bad         core counts refused with clear errors
 *   ARCH ppc | process: refused  more than one core is refused (MLOS_ENOTSUP);
 *                                with one, a parallel-for runs whole on it
 *   ARCH process:       hostile  a shard that claims cores it was not given is
 *                                believed no further, and fenced when it answers
 *                                with counts it does not have
 * Every case checks that its shards and descriptors are gone after. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mlos.h"
#include "mlos_endian.h"
#include "pool_util.h"
#include "registry.h"
#include "uvwarm.h"

#define N_VALUES 65536
#define ROUNDS 64

static const char *arch;
static uv_loop_t *loop;
static uint64_t values[N_VALUES];

static void spawn2(mlos_shard_t *s)
{
    struct mlos_spawn_opts o = {.arch = arch, .cores = 2, .bulk_bytes = 1u << 20};
    int rc = mlos_spawn_sync(loop, s, &o);
    if (rc < 0)
        fprintf(stderr, "spawn failed: %s\n%s\n", mlos_strerror(rc), mlos_shard_console_tail(s));
    CHECK_EQ(rc, 0);
    CHECK_EQ(s->cores, 2);
    CHECK_EQ(s->active_cores, 2);
}

static uint64_t mix1(uint64_t x, uint32_t rounds)
{
    for (uint32_t r = 0; r < rounds; r++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        x += r;
    }
    return x;
}

static uint64_t host_mix(void)
{
    uint64_t s = 0;
    for (size_t i = 0; i < N_VALUES; i++)
        s += mix1(values[i], ROUNDS);
    return s;
}

static void put_values(mlos_shard_t *s)
{
    for (size_t i = 0; i < N_VALUES; i++)
        values[i] = i * 0x9E3779B97F4A7C15ull + 7;
    uint8_t *b = malloc(sizeof(values));
    for (size_t i = 0; i < N_VALUES; i++)
        mlos_put_le64(b + 8 * i, values[i]);
    CHECK_EQ(mlos_put(s, 0, b, sizeof(values)), 0);
    free(b);
}

static void mix_arg(uint8_t a[20])
{
    mlos_put_le64(a, 0);
    mlos_put_le64(a + 8, sizeof(values));
    mlos_put_le32(a + 16, ROUNDS);
}

/* par.mix, synchronously: the sum, and how many cores shared it */
static uint64_t par_mix(mlos_shard_t *s, uint32_t *used)
{
    uint8_t a[20];
    void *res = NULL;
    size_t len = 0;
    char err[256] = "";
    mix_arg(a);
    int rc = mlos_call_sync(s, "par.mix", a, sizeof(a), &res, &len, err, sizeof(err));
    if (rc)
        fprintf(stderr, "par.mix: %s\n", err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(len, 12);
    uint64_t sum = mlos_get_le64(res);
    *used = mlos_get_le32((uint8_t *)res + 8);
    free(res);
    return sum;
}

/* What `mlos ps` reads for shard s: its registry record's cores, in use
 * and started, as "active/cores" ("" if there is no record). */
static const char *ps_cores(const mlos_shard_t *s)
{
    static char out[32];
    struct mlos_registry_rec *v = NULL;
    int n = mlos_registry_list(&v);
    out[0] = 0;
    for (int i = 0; i < n; i++)
        if (v[i].master_pid == getpid() && v[i].shard_id == s->id)
            snprintf(out, sizeof(out), "%u/%u", v[i].active_cores, v[i].cores);
    free(v);
    return out;
}

static void case_parfor(void)
{
    int fds0 = count_fds();
    mlos_shard_t s;
    mlos_cores_t c;
    uint32_t used;

    spawn2(&s);
    put_values(&s);
    uint64_t want = host_mix();
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(par_mix(&s, &used), want);
    double ms2 = ms_since(t0);
    CHECK_EQ(used, 2);
    CHECK(!strcmp(ps_cores(&s), "2/2"));
    CHECK_EQ(mlos_shard_cores_sync(&s, &c, 1), 0);
    CHECK_EQ(c.active, 1);
    CHECK_EQ(s.active_cores, 1);
    CHECK(!strcmp(ps_cores(&s), "1/2")); /* mlos ps shows the parked core */
    t0 = uv_hrtime();
    CHECK_EQ(par_mix(&s, &used), want);
    double ms1 = ms_since(t0);
    CHECK_EQ(used, 1);
    CHECK_EQ(mlos_shard_cores_sync(&s, &c, 2), 0);
    CHECK(!strcmp(ps_cores(&s), "2/2"));
    CHECK_EQ(par_mix(&s, &used), want);
    CHECK_EQ(used, 2);
    printf("par.mix of %d values x %d rounds: %.1f ms on 2 cores, %.1f ms on 1\n", N_VALUES, ROUNDS, ms2, ms1);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(count_fds(), fds0);
}

/* ---- concurrent calls ---- */
struct spin_res {
    int done, status;
    uint32_t core;
    uint64_t t0, t1;
};

static void on_spin(mlos_call_t *c, int status)
{
    struct spin_res *r = c->data;
    r->done = 1;
    r->status = status;
    if (status == 0 && c->result_len == 24) {
        r->core = mlos_get_le32(c->result);
        r->t0 = mlos_get_le64(c->result + 8);
        r->t1 = mlos_get_le64(c->result + 16);
    } else if (status) {
        fprintf(stderr, "core.spin: %s\n", c->error);
    }
}

static void spin_call(mlos_shard_t *s, mlos_call_t *c, struct spin_res *r, uint64_t ns, unsigned flags)
{
    uint8_t a[8];
    struct mlos_call_opts o = {.flags = flags};
    memset(r, 0, sizeof(*r));
    c->data = r;
    mlos_put_le64(a, ns);
    CHECK_EQ(mlos_call_ex(s, c, "core.spin", a, sizeof(a), &o, on_spin), 0);
}

static void case_concurrent(void)
{
    int fds0 = count_fds();
    mlos_shard_t s;
    mlos_call_t c[3];
    struct spin_res r[3];

    spawn2(&s);
    /* 200 ms each: long enough that under any host load the two overlap
     * only if they really run at the same time */
    spin_call(&s, &c[0], &r[0], 200000000, MLOS_CALL_CONCURRENT);
    spin_call(&s, &c[1], &r[1], 200000000, MLOS_CALL_CONCURRENT);
    RUN_UNTIL(loop, r[0].done && r[1].done, 30000);
    CHECK(r[0].done && r[1].done);
    CHECK_EQ(r[0].status, 0);
    CHECK_EQ(r[1].status, 0);
    printf("concurrent: core %u [%.1f, %.1f] ms, core %u [%.1f, %.1f] ms\n", r[0].core, r[0].t0 / 1e6,
           r[0].t1 / 1e6, r[1].core, r[1].t0 / 1e6, r[1].t1 / 1e6);
    CHECK(r[0].core != r[1].core);
    CHECK(r[0].t0 < r[1].t1 && r[1].t0 < r[0].t1); /* they overlapped */
    /* a plain call runs on core 0, in order */
    spin_call(&s, &c[2], &r[2], 1000, 0);
    RUN_UNTIL(loop, r[2].done, 30000);
    CHECK_EQ(r[2].status, 0);
    CHECK_EQ(r[2].core, 0);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(count_fds(), fds0);
}

/* ---- park and unpark under load ---- */
#define LOAD 24
struct mix_res {
    int done, status;
    uint64_t sum;
    uint32_t used;
};
static struct mix_res mres[LOAD];
static mlos_call_t mcalls[LOAD];
static int cores_done;

static void on_mix(mlos_call_t *c, int status)
{
    struct mix_res *r = c->data;
    r->done = 1;
    r->status = status;
    if (status == 0 && c->result_len == 12) {
        r->sum = mlos_get_le64(c->result);
        r->used = mlos_get_le32(c->result + 8);
    }
}

static void on_cores(mlos_cores_t *c, int status)
{
    if (status)
        fprintf(stderr, "cores: %s\n", c->error);
    CHECK_EQ(status, 0);
    cores_done++;
}

static void case_park(void)
{
    int fds0 = count_fds();
    mlos_shard_t s;
    mlos_cores_t creq[LOAD];
    uint8_t a[20];
    int ncores_reqs = 0, done;

    spawn2(&s);
    put_values(&s);
    uint64_t want = host_mix();
    mix_arg(a);
    cores_done = 0;
    for (int i = 0; i < LOAD; i++) {
        struct mlos_call_opts o = {.flags = i % 2 ? MLOS_CALL_CONCURRENT : 0};
        memset(&mres[i], 0, sizeof(mres[i]));
        mcalls[i].data = &mres[i];
        CHECK_EQ(mlos_call_ex(&s, &mcalls[i], "par.mix", a, sizeof(a), &o, on_mix), 0);
        if (i % 4 == 3) /* park, unpark, park, ... between the calls */
            CHECK_EQ(mlos_shard_cores(&s, &creq[ncores_reqs++], (i / 4) % 2 ? 2 : 1, on_cores), 0);
    }
    RUN_UNTIL(loop, ({
                  done = 0;
                  for (int i = 0; i < LOAD; i++)
                      done += mres[i].done;
                  done == LOAD && cores_done == ncores_reqs;
              }),
              120000);
    CHECK_EQ(cores_done, ncores_reqs);
    int on1 = 0, on2 = 0;
    for (int i = 0; i < LOAD; i++) {
        CHECK_EQ(mres[i].status, 0);
        CHECK_EQ(mres[i].sum, want);
        CHECK(mres[i].used == 1 || mres[i].used == 2);
        on1 += mres[i].used == 1;
        on2 += mres[i].used == 2;
    }
    printf("park: %d parallel-fors on 1 core, %d on 2, all right\n", on1, on2);
    CHECK(on1 > 0 && on2 > 0);
    /* parked to one core, a concurrent call has nowhere else to go */
    mlos_cores_t c;
    mlos_call_t sc;
    struct spin_res sr;
    CHECK_EQ(mlos_shard_cores_sync(&s, &c, 1), 0);
    spin_call(&s, &sc, &sr, 1000, MLOS_CALL_CONCURRENT);
    RUN_UNTIL(loop, sr.done, 30000);
    CHECK_EQ(sr.status, 0);
    CHECK_EQ(sr.core, 0);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(count_fds(), fds0);
}

static void case_bad(void)
{
    int fds0 = count_fds();
    mlos_shard_t s;
    mlos_cores_t c;
    struct mlos_spawn_opts o = {.arch = arch, .cores = MLOS_MAX_CORES + 1};

    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), MLOS_EINVAL);
    spawn2(&s);
    CHECK_EQ(mlos_shard_cores(&s, &c, 0, on_cores), MLOS_ERANGE);
    CHECK_EQ(mlos_shard_cores(&s, &c, 3, on_cores), MLOS_ERANGE);
    printf("%s\n", c.error);
    CHECK(strstr(c.error, "has 2 cores"));
    CHECK_EQ(mlos_shard_cores(&s, &c, 2, NULL), MLOS_EINVAL);
    mlos_shard_stop_sync(&s);
    /* a one-core shard: only 1 */
    o.cores = 0;
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    CHECK_EQ(s.cores, 1);
    CHECK_EQ(mlos_shard_cores(&s, &c, 2, on_cores), MLOS_ERANGE);
    CHECK_EQ(mlos_shard_cores_sync(&s, &c, 1), 0);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(count_fds(), fds0);
}

static void case_refused(void)
{
    mlos_shard_t s;
    struct mlos_spawn_opts o = {.arch = arch, .cores = 2};
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), MLOS_ENOTSUP);
    o.cores = 1;
    o.bulk_bytes = 1u << 20;
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    CHECK_EQ(s.cores, 1);
    /* the task-side API works on one core: the whole range, same result */
    uint32_t used = 0;
    put_values(&s);
    CHECK_EQ(par_mix(&s, &used), host_mix());
    CHECK_EQ(used, 1);
    mlos_shard_stop_sync(&s);
}

static void case_hostile(void)
{
    int fds0 = count_fds();
    mlos_shard_t s;
    mlos_cores_t c;
    struct mlos_spawn_opts o = {.arch = "process", .image = "hostile-shard-live", .hello_timeout_ms = 5000};

    setenv("MLOS_HOSTILE_MODE", "cores-lie", 1);
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    CHECK_EQ(s.cores, 1); /* it said 4 */
    CHECK_EQ(s.active_cores, 1);
    CHECK_EQ(mlos_shard_cores_sync(&s, &c, 1), MLOS_EPROTO);
    printf("%s\n", c.error);
    CHECK(strstr(c.error, "broke the protocol: CORES_SET"));
    CHECK_EQ(s.active_cores, 1);
    RUN_UNTIL(loop, !mlos_shard_alive(&s), 5000);
    CHECK(!mlos_shard_alive(&s));
    mlos_shard_stop_sync(&s);
    unsetenv("MLOS_HOSTILE_MODE");
    CHECK_EQ(count_fds(), fds0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_cores ARCH CASE...\n");
        return 2;
    }
    arch = argv[1];
    loop = uv_default_loop();
    uvwarm(loop);
    for (int i = 2; i < argc; i++) {
        uint64_t t0 = uv_hrtime();
        if (!strcmp(argv[i], "parfor"))
            case_parfor();
        else if (!strcmp(argv[i], "concurrent"))
            case_concurrent();
        else if (!strcmp(argv[i], "park"))
            case_park();
        else if (!strcmp(argv[i], "bad"))
            case_bad();
        else if (!strcmp(argv[i], "refused"))
            case_refused();
        else if (!strcmp(argv[i], "hostile"))
            case_hostile();
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
        printf("%s %s: ok (%.0f ms)\n", arch, argv[i], ms_since(t0));
        CHECK_EQ(count_children(), 0);
    }
    CHECK_DONE();
}
