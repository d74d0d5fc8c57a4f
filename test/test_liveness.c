/* Liveness and call deadlines against shards that look alive but are not
 * (test/hostile_shard_live.c), and the environment a process shard gets.
 *
 *   logger    a shard that LOGs every 100 ms (and forges PONGs) but never
 *             answers: fenced within the heartbeat bound, its call fails
 *   deadline  a real shard running a long "spin": the call with a deadline
 *             fails with MLOS_ETIMEDOUT on time, the shard stays up and its
 *             late reply is dropped; with MLOS_CALL_FENCE the shard is killed
 *   ponger    a shard that answers PINGs but swallows calls: heartbeats keep
 *             it, the call deadline catches it
 *   pool      pool call_timeout_ms: an idempotent call that overran on one
 *             shard is re-run on another and succeeds; a non-idempotent one
 *             fails with MLOS_ETIMEDOUT saying it overran
 *   env       a process shard sees only its args, MLOS_* switches and the
 *             few variables shard_env.c allows
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "mlos.h"
#include "mlos_pool.h"
#include "pool_util.h"
#include "uvwarm.h"

static uv_loop_t *loop;

static int done, got_status, got_timed_out;
static char got_err[512], got_result[64];
static uint64_t t_done;

static void call_cb(mlos_call_t *req, int status)
{
    done = 1;
    got_status = status;
    got_timed_out = req->timed_out;
    snprintf(got_err, sizeof(got_err), "%s", req->error ? req->error : "");
    snprintf(got_result, sizeof(got_result), "%.*s", status ? 0 : (int)req->result_len,
             status ? "" : (const char *)req->result);
    t_done = uv_hrtime();
}

static void reset(void)
{
    done = got_status = got_timed_out = 0;
    got_err[0] = got_result[0] = 0;
}

static int spawn_hostile(mlos_shard_t *s, const char *mode)
{
    struct mlos_spawn_opts o = {.arch = "process", .image = "hostile-shard-live", .hello_timeout_ms = 5000};
    setenv("MLOS_HOSTILE_MODE", mode, 1);
    return mlos_spawn_sync(loop, s, &o);
}

static void case_logger(void)
{
    mlos_shard_t s;
    mlos_call_t c;
    CHECK_EQ(spawn_hostile(&s, "logger"), 0);
    int pid = s.pid;
    CHECK_EQ(mlos_shard_heartbeat(&s, 100, 300), 0);
    reset();
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_call(&s, &c, "echo", "x", 1, call_cb), 0);
    RUN_UNTIL(loop, done, 3000);
    double ms = (double)(t_done - t0) / 1e6;
    printf("logger: call failed after %.0f ms: %s\n", done ? ms : -1.0, got_err);
    CHECK(done);
    CHECK_EQ(got_status, MLOS_ETIMEDOUT);
    CHECK(strstr(got_err, "stopped answering") != NULL);
    /* bound: timeout (300) after the call, or interval + timeout when idle; plus loop latency */
    CHECK(ms < 1000); /* old rule: never (any frame was a sign of life) */
    CHECK(!mlos_shard_alive(&s));
    RUN_UNTIL(loop, !pid_alive(pid), 2000);
    CHECK(!pid_alive(pid)); /* fenced: SIGKILL */
    mlos_shard_stop_sync(&s);

    /* idle, no call at all: fenced by the PINGs alone */
    CHECK_EQ(spawn_hostile(&s, "logger"), 0);
    CHECK_EQ(mlos_shard_heartbeat(&s, 100, 300), 0);
    t0 = uv_hrtime();
    RUN_UNTIL(loop, !mlos_shard_alive(&s), 3000);
    printf("logger: idle shard fenced after %.0f ms\n", ms_since(t0));
    CHECK(!mlos_shard_alive(&s));
    CHECK(ms_since(t0) < 1100);
    mlos_shard_stop_sync(&s);
}

static void case_deadline(void)
{
    struct mlos_spawn_opts so = {.arch = "process", .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20};
    struct mlos_call_opts co = {.timeout_ms = 200};
    mlos_shard_t s;
    mlos_call_t c;
    uint8_t arg[8];

    CHECK_EQ(mlos_spawn_sync(loop, &s, &so), 0);
    /* options are checked */
    struct mlos_call_opts bad = {.timeout_ms = 1, .flags = 0x80};
    CHECK_EQ(mlos_call_ex(&s, &c, "echo", "x", 1, &bad, call_cb), MLOS_EINVAL);
    /* a deadline that is met changes nothing */
    reset();
    CHECK_EQ(mlos_call_ex(&s, &c, "echo", "ok", 2, &co, call_cb), 0);
    RUN_UNTIL(loop, done, 3000);
    CHECK_EQ(got_status, 0);
    CHECK(!strcmp(got_result, "ok"));

    /* a task longer than its deadline: MLOS_ETIMEDOUT on time, shard kept */
    mlos_put_le64(arg, 700ull * 1000000ull); /* 700 ms */
    reset();
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_call_ex(&s, &c, "spin", arg, 8, &co, call_cb), 0);
    RUN_UNTIL(loop, done, 3000);
    double ms = (double)(t_done - t0) / 1e6;
    printf("deadline: spin failed after %.0f ms: %s\n", ms, got_err);
    CHECK_EQ(got_status, MLOS_ETIMEDOUT);
    CHECK(got_timed_out);
    CHECK(strstr(got_err, "overran its 200 ms deadline") != NULL);
    CHECK(ms >= 190 && ms < 650); /* before the 700 ms spin could answer */
    CHECK(mlos_shard_alive(&s));
    /* the next call waits for the spin to end; the spin's late reply is
     * dropped, not taken for a protocol breach */
    reset();
    CHECK_EQ(mlos_call(&s, &c, "echo", "after", 5, call_cb), 0);
    RUN_UNTIL(loop, done, 3000);
    CHECK_EQ(got_status, 0);
    CHECK(!strcmp(got_result, "after"));
    CHECK(mlos_shard_alive(&s));

    /* with MLOS_CALL_FENCE: the shard is killed */
    int pid = s.pid;
    co.flags = MLOS_CALL_FENCE;
    mlos_put_le64(arg, 60ull * 1000000000ull); /* 60 s */
    reset();
    t0 = uv_hrtime();
    CHECK_EQ(mlos_call_ex(&s, &c, "spin", arg, 8, &co, call_cb), 0);
    RUN_UNTIL(loop, done, 3000);
    printf("deadline+fence: failed after %.0f ms: %s\n", (double)(t_done - t0) / 1e6, got_err);
    CHECK_EQ(got_status, MLOS_ETIMEDOUT);
    CHECK(got_timed_out);
    CHECK(!mlos_shard_alive(&s));
    RUN_UNTIL(loop, !pid_alive(pid), 2000);
    CHECK(!pid_alive(pid));
    CHECK_EQ(mlos_call(&s, &c, "echo", "x", 1, call_cb), MLOS_ESHARDDIED);
    mlos_shard_stop_sync(&s);
}

#define MANY 70
static int many_status[MANY], many_done;
static void many_cb(mlos_call_t *req, int status)
{
    int *st = req->data;
    many_done++;
    if (status == MLOS_ETIMEDOUT && strstr(req->error, "overran its 100 ms deadline"))
        *st = 1;
    else if (status == MLOS_ETIMEDOUT && strstr(req->error, "fenced: 65 calls overran"))
        *st = 2;
    else
        *st = 3;
}

static void case_ponger(void)
{
    struct mlos_call_opts co = {.timeout_ms = 800};
    mlos_shard_t s;
    mlos_call_t c;
    CHECK_EQ(spawn_hostile(&s, "ponger"), 0);
    CHECK_EQ(mlos_shard_heartbeat(&s, 100, 300), 0);
    RUN_UNTIL(loop, 0, 500);
    CHECK(mlos_shard_alive(&s)); /* it does answer PINGs */
    reset();
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_call_ex(&s, &c, "echo", "x", 1, &co, call_cb), 0);
    RUN_UNTIL(loop, done, 3000);
    double ms = (double)(t_done - t0) / 1e6;
    printf("ponger: call failed after %.0f ms: %s\n", ms, got_err);
    CHECK_EQ(got_status, MLOS_ETIMEDOUT);
    CHECK(strstr(got_err, "overran its 800 ms deadline") != NULL);
    CHECK(ms >= 790 && ms < 1500);
    CHECK(mlos_shard_alive(&s)); /* without MLOS_CALL_FENCE it stays */

    /* overrun calls it never answers are remembered up to a bound: one
     * more and the shard is fenced rather than remembered */
    static mlos_call_t many[MANY];
    co.timeout_ms = 100;
    memset(many_status, 0, sizeof(many_status));
    many_done = 0;
    for (int i = 0; i < MANY; i++) {
        many[i].data = &many_status[i];
        CHECK_EQ(mlos_call_ex(&s, &many[i], "echo", "x", 1, &co, many_cb), 0);
    }
    RUN_UNTIL(loop, many_done == MANY, 3000);
    CHECK_EQ(many_done, MANY);
    int overran = 0, fenced = 0;
    for (int i = 0; i < MANY; i++) {
        overran += many_status[i] == 1;
        fenced += many_status[i] == 2;
    }
    printf("ponger: %d calls overran and were dropped, %d failed with the shard fenced\n", overran, fenced);
    /* 63 remembered (64 with the call above), the 64th to overrun fences
     * the shard, the 6 others fail with it */
    CHECK_EQ(overran, 64);
    CHECK_EQ(overran + fenced, MANY);
    CHECK(!mlos_shard_alive(&s));
    mlos_shard_stop_sync(&s);
}

static int pdone, pstatus;
static unsigned pattempts;
static char perr[512], presult[64];
static void pool_cb(mlos_pool_call_t *req, int status)
{
    pdone = 1;
    pstatus = status;
    pattempts = req->attempts;
    snprintf(perr, sizeof(perr), "%s", req->error ? req->error : "");
    snprintf(presult, sizeof(presult), "%.*s", status ? 0 : (int)req->result_len, status ? "" : (const char *)req->result);
}

static void pool_once(unsigned flags, const char *mark)
{
    struct mlos_pool_opts o = {.spawn = {.arch = "process", .image = "hostile-shard-live"},
                               .max_shards = 2, .min_shards = 1, .call_timeout_ms = 300};
    mlos_pool_t p;
    mlos_pool_call_t req;
    unlink(mark);
    setenv("MLOS_HOSTILE_MODE", "once", 1);
    setenv("MLOS_HOSTILE_MARK", mark, 1);
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    RUN_UNTIL(loop, p.ready == 1, 10000); /* the first shard: the one that swallows calls */
    CHECK_EQ(p.ready, 1);
    pdone = 0;
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_pool_call(&p, &req, "echo", "hi", 2, flags, pool_cb), 0);
    RUN_UNTIL(loop, pdone, 10000);
    printf("pool (%s): status %d after %.0f ms, %u attempt(s): %s%s\n", flags ? "idempotent" : "not idempotent",
           pstatus, ms_since(t0), pattempts, presult, perr);
    CHECK(pdone);
    if (flags & MLOS_POOL_IDEMPOTENT) {
        CHECK_EQ(pstatus, 0);
        CHECK(!strcmp(presult, "hi"));
        CHECK_EQ(pattempts, 2);
    } else {
        CHECK_EQ(pstatus, MLOS_ETIMEDOUT);
        CHECK(strstr(perr, "task 'echo' overran its 300 ms deadline") != NULL);
        CHECK(strstr(perr, "not idempotent") != NULL);
        CHECK_EQ(pattempts, 1);
    }
    CHECK_EQ(p.failed, 1); /* the shard that overran was fenced */
    mlos_pool_close_sync(&p);
    unlink(mark);
}

static void case_pool(void)
{
    char mark[64];
    snprintf(mark, sizeof(mark), "/tmp/mlos-liveness-mark.%d", (int)getpid());
    pool_once(MLOS_POOL_IDEMPOTENT, mark);
    pool_once(0, mark);
}

static char envlines[8192];
static int env_end;
static void on_console(mlos_shard_t *s, const char *line, size_t len)
{
    (void)s;
    if (len == 7 && !memcmp(line, "ENV-END", 7))
        env_end = 1;
    else if (len > 4 && !memcmp(line, "ENV ", 4) && strlen(envlines) + len < sizeof(envlines) - 2) {
        strncat(envlines, line + 4, len - 4);
        strcat(envlines, "\n");
    }
}

static int has_var(const char *name)
{
    char pat[80];
    snprintf(pat, sizeof(pat), "%s\n", name);
    for (const char *p = envlines; (p = strstr(p, pat)); p++)
        if (p == envlines || p[-1] == '\n')
            return 1;
    return 0;
}

static void case_env(void)
{
    struct mlos_spawn_opts o = {.arch = "process", .image = "hostile-shard-live", .on_console = on_console};
    mlos_shard_t s;
    setenv("MLOS_HOSTILE_MODE", "env", 1);
    setenv("APP_DB_PASSWORD", "hunter2", 1);
    setenv("HOME", "/root", 1);
    setenv("PATH", "/usr/bin:/bin", 1);
    setenv("LANG", "C.UTF-8", 1);
    setenv("MLOS_REMOTE_TOKEN", "secret", 1);
    setenv("MLOS_VERBOSE", "1", 1);
    setenv("LD_PRELOAD", "", 1);
    envlines[0] = 0;
    env_end = 0;
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    RUN_UNTIL(loop, env_end, 3000);
    unsetenv("MLOS_VERBOSE");
    printf("env of the shard:\n%s", envlines);
    CHECK(env_end);
    CHECK(has_var("MLOS_SHARD_ARGS"));
    CHECK(has_var("MLOS_HOSTILE_MODE"));
    CHECK(has_var("MLOS_VERBOSE"));
    CHECK(!has_var("APP_DB_PASSWORD"));
    CHECK(!has_var("HOME"));
    CHECK(!has_var("PATH"));
    CHECK(!has_var("LANG"));
    CHECK(!has_var("LD_PRELOAD"));
    CHECK(!has_var("MLOS_REMOTE_TOKEN"));
    /* every line is one of the allowed kinds */
    for (char *p = envlines, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        int ok = !strncmp(p, "MLOS_", 5) || !strncmp(p, "LD_LIBRARY_PATH\n", 16) || !strncmp(p, "ASAN_OPTIONS\n", 13) ||
                 !strncmp(p, "UBSAN_OPTIONS\n", 14) || !strncmp(p, "LSAN_OPTIONS\n", 13);
        if (!ok)
            fprintf(stderr, "unexpected variable in the shard: %.*s\n", (int)(nl - p), p);
        CHECK(ok);
    }
    mlos_shard_stop_sync(&s);
}

int main(int argc, char **argv)
{
    loop = uv_default_loop();
    uvwarm(loop);
    setenv("MLOS_QUIET", "1", 1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "logger"))
            case_logger();
        else if (!strcmp(argv[i], "deadline"))
            case_deadline();
        else if (!strcmp(argv[i], "ponger"))
            case_ponger();
        else if (!strcmp(argv[i], "pool"))
            case_pool();
        else if (!strcmp(argv[i], "env"))
            case_env();
        else {
            fprintf(stderr, "usage: test_liveness logger|deadline|ponger|pool|env...\n");
            return 2;
        }
    }
    CHECK_DONE();
}
