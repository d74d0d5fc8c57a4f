/* A shard that breaks the protocol is fenced with a clear error: the
 * master reports which rule was broken, kills it, and leaks nothing. */
#include <dirent.h>
#include <signal.h>
#include <string.h>

#include "check.h"
#include "uvwarm.h"
#include "mlos.h"

static uv_loop_t *loop;


static char last_error[512];
static int got_reply;
static void reply_cb(mlos_call_t *req, int status)
{
    got_reply = status ? status : 1;
    snprintf(last_error, sizeof(last_error), "%s", req->error ? req->error : "");
}

/* Spawn fake-shard in `mode`; expect spawn to end with want. */
static void expect_spawn(const char *mode, int want, const char *msg_part)
{
    struct mlos_spawn_opts o = {.arch = "process", .image = "fake-shard", .hello_timeout_ms = 1500};
    mlos_shard_t s;
    int fds0 = count_fds(), rc, pid;

    setenv("MLOS_FAKE_MODE", mode, 1);
    rc = mlos_spawn_sync(loop, &s, &o);
    pid = s.pid;
    if (rc != want)
        fprintf(stderr, "mode %s: got %s, want %s\n", mode, mlos_strerror(rc), mlos_strerror(want));
    CHECK_EQ(rc, want);
    if (msg_part) {
        /* the cause is in the console tail or the death message; ask a call */
        mlos_call_t req;
        int crc = mlos_call(&s, &req, "echo", "x", 1, reply_cb);
        CHECK(crc == MLOS_ESHARDDIED || crc == MLOS_ESTOPPED || crc == MLOS_EPROTO);
    }
    mlos_shard_stop_sync(&s);
    CHECK(pid == 0 || kill(pid, 0) != 0);
    CHECK_EQ(count_fds(), fds0);
}

int main(void)
{
    loop = uv_default_loop();
    uvwarm(loop);
    setenv("MLOS_QUIET", "1", 1);
    expect_spawn("garbage", MLOS_EPROTO, NULL);
    expect_spawn("badtype", MLOS_EPROTO, NULL);
    expect_spawn("badlength", MLOS_EPROTO, NULL);
    expect_spawn("undecodable", MLOS_EPROTO, NULL);
    expect_spawn("silent", MLOS_ESPAWN, NULL);

    /* a stray reply after a good HELLO: the shard is fenced, calls fail */
    {
        struct mlos_spawn_opts o = {.arch = "process", .image = "fake-shard"};
        mlos_shard_t s;
        int fds0 = count_fds();
        setenv("MLOS_FAKE_MODE", "strayreply", 1);
        CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
        mlos_call_t req;
        got_reply = 0;
        CHECK_EQ(mlos_call(&s, &req, "echo", "x", 1, reply_cb), 0);
        while (!got_reply)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(got_reply, MLOS_EPROTO);
        CHECK(strstr(last_error, "broke the protocol") != NULL);
        fprintf(stderr, "stray reply reported as: %s\n", last_error);
        mlos_shard_stop_sync(&s);
        CHECK_EQ(count_fds(), fds0);
    }
    CHECK_DONE();
}
