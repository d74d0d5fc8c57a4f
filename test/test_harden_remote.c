/* Remote workers and masters authenticate each other (master/remote_auth.h).
 *
 *   test_harden_remote WORKER_PROGRAM
 *
 * A fake worker (raw msg.h endpoint) against the real master
 * (mlos_remote_listen): no authentication, a wrong secret, a replayed
 * transcript of a good session, and the master's own MAC reflected back are
 * all refused (MLOS_EAUTH, counted in auth_failed) and never announced; the
 * right secret gets through to HELLO. A fake master (raw msg.h listener)
 * against the real worker (mlos-remote-shard): without the secret, with a
 * wrong one, or replaying a good session's answer, it is refused (the
 * worker exits 2) and never sees the worker's HELLO or region key. The real
 * pair works with the secret from a 0600 file; a secret file with group or
 * other access, a symlink or a short secret is refused; without a secret
 * both refuse to run unless --insecure / opts.insecure says so, an insecure
 * master and a secure worker refuse each other, and $MLOS_REMOTE_TOKEN is
 * refused with a message.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "frame.h"
#include "launcher.h"
#include "mlos.pb-c.h"
#include "remote.h"
#include "remote_auth.h"
#include "msg_transport.h"

static uv_loop_t *loop;
static const char *program;
static char dir[] = "/tmp/mlos-harden-remote-XXXXXX";
static char secret_path[128];
static const char *SECRET = "0123456789abcdef-the-shared-secret";

static void run_for(unsigned ms, int *until)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while ((!until || !*until) && uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT), usleep(200);
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fchmod(fd, mode) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* ---- launching the real worker ---- */

static void w_exit(mlos_launch_t *l, int status, const char *err) {}

/* Start the worker at addr; extra: more arguments (NULL-terminated). */
static void launch(mlos_launch_t *l, const char *addr, const char *secret, const char *secret_file,
                   const char *const *extra)
{
    struct mlos_launch_opts o = {.launcher = "local", .program = program, .master_addr = addr, .secret = secret,
                                 .secret_file = secret_file, .extra_args = extra};
    memset(l, 0, sizeof(*l));
    CHECK_EQ(mlos_launch_start(loop, l, &o, w_exit), 0);
}

/* The worker's exit status (-1: still running after ms); releases the launch. */
static int wait_worker_exit(mlos_launch_t *l, unsigned ms)
{
    run_for(ms, &l->exited);
    int st = l->exited ? l->exit_status : -1;
    if (!l->exited)
        fprintf(stderr, "worker did not exit: %s\n", l->err);
    mlos_launch_stop(l);
    return st;
}

/* ---- a fake peer on raw msg.h ---- */

static mlos_domain_t fdom;
static mlos_ep_t fep;
static mlos_listener_t flis;
static int f_connected, f_failed, f_accepted, f_nmsg, f_got_hello, f_got_rkey;
static uint32_t f_type;
static uint8_t f_msg[256];
static size_t f_len;

static void f_recv(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    struct mlos_frame_hdr h;
    const uint8_t *payload;
    f_nmsg++;
    f_type = type;
    f_len = len < sizeof(f_msg) ? len : sizeof(f_msg);
    memcpy(f_msg, data, f_len);
    if (type == MLOS_REMOTE_MSG_RKEY)
        f_got_rkey = 1;
    else if (mlos_frame_decode(data, len, MLOS_EP_MAX_MSG, &h, &payload) > 0 && h.type == MLOS_FRAME_HELLO)
        f_got_hello = 1;
}
static void f_fail(mlos_ep_t *ep, int status) { f_failed = 1; }
static void f_connect(mlos_ep_t *ep, int status) { f_connected = status == 0 ? 1 : -1; }

static void f_reset(void) { f_connected = f_failed = f_accepted = f_nmsg = f_got_hello = f_got_rkey = 0; }

static void f_close(void)
{
    if (fep.state != MLOS_EP_CLOSED && fep.state != MLOS_EP_CLOSING && fep.state != MLOS_EP_INIT)
        mlos_ep_close(&fep, NULL);
    run_for(20, NULL);
}

static struct owned {
    mlos_wr_t wr;
    uint8_t b[128];
} outs[16];
static int nout;
static void out_done(mlos_wr_t *wr, int st) {}

static void f_send(uint32_t type, const void *p, size_t n)
{
    struct owned *o = &outs[nout++ % 16];
    memcpy(o->b, p, n);
    CHECK_EQ(mlos_send(&fep, &o->wr, type, o->b, n, out_done), 0);
}

static int f_wait_msg(int n)
{
    uint64_t end = uv_hrtime() + 5000000000ull;
    while (f_nmsg < n && !f_failed && uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT);
    return f_nmsg >= n;
}

static void f_hello(void)
{
    Mlos__Hello h = MLOS__HELLO__INIT;
    h.arch = "fake";
    CHECK_EQ(mlos_send_frame(&fep, MLOS_FRAME_HELLO, 0, &h.base), 0);
}

/* ---- fake worker against the real master ---- */

static mlos_remote_t R;
static int announced;
static void on_worker(mlos_remote_t *r, mlos_remote_worker_t *w) { announced++; }

static void fw_connect(const char *addr)
{
    f_reset();
    fep.on_recv = f_recv;
    fep.on_fail = f_fail;
    CHECK_EQ(mlos_connect(&fdom, &fep, addr, 3000, f_connect), 0);
    while (!f_connected)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(f_connected, 1);
}

/* CHALLENGE with nonce_w; the master's RESPONSE lands in f_msg. */
static int fw_challenge(const uint8_t nonce_w[MLOS_REMOTE_NONCE])
{
    uint8_t ch[MLOS_REMOTE_AUTH_CHALLENGE_SIZE] = {MLOS_REMOTE_AUTH_CHALLENGE, MLOS_REMOTE_AUTH_VERSION};
    memcpy(ch + 2, nonce_w, MLOS_REMOTE_NONCE);
    f_send(MLOS_REMOTE_MSG_AUTH, ch, sizeof(ch));
    return f_wait_msg(1) && f_type == MLOS_REMOTE_MSG_AUTH && f_len == MLOS_REMOTE_AUTH_RESPONSE_SIZE &&
           f_msg[0] == MLOS_REMOTE_AUTH_RESPONSE;
}

static void fw_proof(const uint8_t mac[MLOS_REMOTE_MAC])
{
    uint8_t pr[MLOS_REMOTE_AUTH_PROOF_SIZE] = {MLOS_REMOTE_AUTH_PROOF, MLOS_REMOTE_AUTH_VERSION};
    memcpy(pr + 2, mac, MLOS_REMOTE_MAC);
    f_send(MLOS_REMOTE_MSG_AUTH, pr, sizeof(pr));
}

/* The master refused this connection: dropped, counted, never announced. */
static void expect_refused(unsigned auth_before, const char *what)
{
    run_for(3000, &f_failed);
    if (!f_failed || R.auth_failed != auth_before + 1)
        fprintf(stderr, "master did not refuse: %s\n", what);
    CHECK_EQ(f_failed, 1);
    CHECK_EQ(R.auth_failed, auth_before + 1);
    CHECK_EQ(announced, 0);
    f_close();
}

static void fake_worker(void)
{
    struct mlos_remote_secret good, wrong;
    uint8_t nw[MLOS_REMOTE_NONCE], nm1[MLOS_REMOTE_NONCE], mac[MLOS_REMOTE_MAC], proof1[MLOS_REMOTE_MAC];
    char addr[128];
    unsigned before;

    CHECK_EQ(mlos_remote_secret_load(&good, SECRET, NULL, 0, NULL, 0), 0);
    CHECK_EQ(mlos_remote_secret_load(&wrong, "0123456789abcdef-not-the-secret", NULL, 0, NULL, 0), 0);
    memset(&R, 0, sizeof(R));
    CHECK_EQ(mlos_remote_listen(&R, loop, "tcp:127.0.0.1:0", &(struct mlos_remote_opts){.secret_file = secret_path},
                                on_worker),
             0);
    CHECK_EQ(mlos_remote_addr(&R, addr, sizeof(addr)), 0);
    CHECK_EQ(mlos_domain_init(&fdom, loop, 0), 0);

    /* no authentication at all: HELLO first */
    before = R.auth_failed;
    fw_connect(addr);
    f_hello();
    expect_refused(before, "HELLO without authentication");

    /* the wrong secret */
    before = R.auth_failed;
    fw_connect(addr);
    mlos_remote_nonce(nw);
    CHECK(fw_challenge(nw));
    CHECK(!mlos_remote_mac_ok(&wrong, MLOS_REMOTE_ROLE_MASTER, nw, f_msg + 2, f_msg + 2 + MLOS_REMOTE_NONCE));
    CHECK(memmem(f_msg, f_len, SECRET, strlen(SECRET)) == NULL); /* nothing of the secret on the wire */
    mlos_remote_mac(&wrong, MLOS_REMOTE_ROLE_WORKER, nw, f_msg + 2, mac);
    fw_proof(mac);
    expect_refused(before, "wrong secret");

    /* the master's own MAC reflected back as the worker's */
    before = R.auth_failed;
    fw_connect(addr);
    mlos_remote_nonce(nw);
    CHECK(fw_challenge(nw));
    fw_proof(f_msg + 2 + MLOS_REMOTE_NONCE);
    expect_refused(before, "reflected MAC");

    /* a good session: the master proves itself, accepts the proof, announces HELLO */
    fw_connect(addr);
    mlos_remote_nonce(nw);
    CHECK(fw_challenge(nw));
    CHECK(mlos_remote_mac_ok(&good, MLOS_REMOTE_ROLE_MASTER, nw, f_msg + 2, f_msg + 2 + MLOS_REMOTE_NONCE));
    memcpy(nm1, f_msg + 2, MLOS_REMOTE_NONCE);
    mlos_remote_mac(&good, MLOS_REMOTE_ROLE_WORKER, nw, nm1, proof1);
    fw_proof(proof1);
    f_hello();
    run_for(3000, &announced);
    CHECK_EQ(announced, 1);
    CHECK_EQ(R.nworkers, 1);
    f_close();
    run_for(500, NULL);
    announced = 0;

    /* replaying that session's transcript: the master's nonce is new */
    before = R.auth_failed;
    fw_connect(addr);
    f_nmsg = 0;
    CHECK(fw_challenge(nw));
    CHECK(memcmp(f_msg + 2, nm1, MLOS_REMOTE_NONCE) != 0);
    fw_proof(proof1);
    f_hello();
    expect_refused(before, "replayed transcript");

    mlos_remote_close_sync(&R);
    mlos_remote_secret_clear(&good);
    mlos_remote_secret_clear(&wrong);
}

/* ---- fake master against the real worker ---- */

enum fm_mode { FM_NO_SECRET, FM_WRONG, FM_GOOD, FM_REPLAY };
static enum fm_mode fm_mode;
static uint8_t fm_saved[MLOS_REMOTE_NONCE + MLOS_REMOTE_MAC]; /* a good session's nonce_m + mac_m */

static void fm_conn(mlos_listener_t *l, int status)
{
    if (status == 0 && !f_accepted) {
        fep.on_recv = f_recv;
        fep.on_fail = f_fail;
        if (mlos_accept(l, &fep) == 0)
            f_accepted = 1;
    }
}

/* Answer the worker's CHALLENGE as fm_mode says. */
static void fm_answer(void)
{
    struct mlos_remote_secret s;
    uint8_t rep[MLOS_REMOTE_AUTH_RESPONSE_SIZE] = {MLOS_REMOTE_AUTH_RESPONSE, MLOS_REMOTE_AUTH_VERSION};
    uint8_t nw[MLOS_REMOTE_NONCE];
    CHECK(f_type == MLOS_REMOTE_MSG_AUTH && f_len == MLOS_REMOTE_AUTH_CHALLENGE_SIZE);
    memcpy(nw, f_msg + 2, MLOS_REMOTE_NONCE);
    mlos_remote_nonce(rep + 2);
    if (fm_mode == FM_NO_SECRET) {
        mlos_remote_nonce(rep + 2 + MLOS_REMOTE_NONCE); /* can only guess */
    } else if (fm_mode == FM_REPLAY) {
        memcpy(rep + 2, fm_saved, sizeof(fm_saved));
    } else {
        CHECK_EQ(mlos_remote_secret_load(&s, fm_mode == FM_GOOD ? SECRET : "0123456789abcdef-not-the-secret", NULL,
                                         0, NULL, 0),
                 0);
        mlos_remote_mac(&s, MLOS_REMOTE_ROLE_MASTER, nw, rep + 2, rep + 2 + MLOS_REMOTE_NONCE);
        mlos_remote_secret_clear(&s);
        if (fm_mode == FM_GOOD)
            memcpy(fm_saved, rep + 2, sizeof(fm_saved));
    }
    f_send(MLOS_REMOTE_MSG_AUTH, rep, sizeof(rep));
}

static void fake_master_case(enum fm_mode mode, const char *what)
{
    mlos_launch_t l;
    char addr[128];
    f_reset();
    fm_mode = mode;
    CHECK_EQ(mlos_listen(&fdom, &flis, "tcp:127.0.0.1:0", fm_conn), 0);
    flis.data = NULL;
    CHECK_EQ(mlos_listener_addr(&flis, addr, sizeof(addr)), 0);
    launch(&l, addr, NULL, secret_path, NULL);
    run_for(5000, &f_accepted);
    CHECK_EQ(f_accepted, 1);
    CHECK(f_wait_msg(1));
    fm_answer();
    if (mode == FM_GOOD) {
        /* the worker accepts, proves itself, then says HELLO and sends its key */
        uint64_t end = uv_hrtime() + 5000000000ull;
        while (!(f_got_hello && f_got_rkey) && !f_failed && uv_hrtime() < end)
            uv_run(loop, UV_RUN_NOWAIT);
        CHECK(f_got_hello && f_got_rkey);
        CHECK(f_nmsg >= 3);
        CHECK_EQ(mlos_send_frame(&fep, MLOS_FRAME_STOP, 0, NULL), 0);
        CHECK_EQ(wait_worker_exit(&l, 5000), 0); /* stopped: a normal end */
        f_close();
    } else {
        int st = wait_worker_exit(&l, 5000);
        if (st != 2)
            fprintf(stderr, "worker did not refuse: %s\n", what);
        CHECK_EQ(st, 2);
        run_for(200, &f_failed);
        CHECK_EQ(f_nmsg, 1); /* only the CHALLENGE: no HELLO, no region key */
        CHECK(!f_got_hello && !f_got_rkey);
        f_close();
    }
    mlos_listener_close(&flis);
    run_for(20, NULL);
}

static void fake_master(void)
{
    fake_master_case(FM_NO_SECRET, "fake master without the secret");
    fake_master_case(FM_WRONG, "fake master with a wrong secret");
    fake_master_case(FM_GOOD, "good master");
    fake_master_case(FM_REPLAY, "fake master replaying a good session");
}

/* ---- the real pair, secrets and --insecure ---- */

static int call_echo(mlos_remote_t *r)
{
    void *res = NULL;
    size_t n = 0;
    char err[128] = "";
    mlos_remote_worker_t *w = mlos_remote_worker_at(r, 0);
    int rc = w ? mlos_remote_call_sync(w, "echo", "hi!", 3, &res, &n, err, sizeof(err), NULL) : -1;
    int ok = rc == 0 && n == 3 && !memcmp(res, "hi!", 3);
    free(res);
    return ok;
}

static void real_pair(void)
{
    mlos_remote_t r;
    mlos_launch_t l;
    char addr[128];
    static const char *const insecure[] = {"--insecure", NULL};

    /* secure master, secure worker: works */
    memset(&r, 0, sizeof(r));
    CHECK_EQ(mlos_remote_listen(&r, loop, "tcp:127.0.0.1:0", &(struct mlos_remote_opts){.secret_file = secret_path},
                                NULL),
             0);
    mlos_remote_addr(&r, addr, sizeof(addr));
    launch(&l, addr, NULL, secret_path, NULL);
    CHECK_EQ(mlos_remote_wait_workers(&r, 1, 10000), 0);
    CHECK(call_echo(&r));
    /* a worker with the wrong secret, given as a value: both refuse */
    mlos_launch_t l2;
    unsigned before = r.auth_failed;
    launch(&l2, addr, "0123456789abcdef-not-the-secret", NULL, NULL);
    CHECK_EQ(wait_worker_exit(&l2, 10000), 2);
    run_for(1000, NULL);
    CHECK_EQ(r.nworkers, 1);
    CHECK(r.auth_failed == before || r.auth_failed == before + 1); /* the worker may hang up first */
    /* an insecure worker to a secure master: refused */
    before = r.auth_failed;
    launch(&l2, addr, NULL, NULL, insecure);
    CHECK_EQ(wait_worker_exit(&l2, 10000), 2);
    CHECK_EQ(r.auth_failed, before + 1);
    CHECK_EQ(r.nworkers, 1);
    mlos_remote_close_sync(&r);
    CHECK_EQ(wait_worker_exit(&l, 10000), 0);

    /* no secret anywhere: the master refuses to listen, the worker to run */
    memset(&r, 0, sizeof(r));
    CHECK_EQ(mlos_remote_listen(&r, loop, "tcp:127.0.0.1:0", NULL, NULL), MLOS_EAUTH);
    launch(&l2, "tcp:127.0.0.1:1", NULL, NULL, NULL);
    CHECK_EQ(wait_worker_exit(&l2, 5000), 2);
    /* the old token is refused with a message, not used */
    setenv("MLOS_REMOTE_TOKEN", "some-old-token-value", 1);
    CHECK_EQ(mlos_remote_listen(&r, loop, "tcp:127.0.0.1:0", NULL, NULL), MLOS_EAUTH);
    launch(&l2, "tcp:127.0.0.1:1", NULL, NULL, NULL);
    CHECK_EQ(wait_worker_exit(&l2, 5000), 2);
    CHECK(strstr(l2.err, "MLOS_REMOTE_SECRET_FILE") != NULL);
    unsetenv("MLOS_REMOTE_TOKEN");

    /* insecure only when asked: master and worker both say so */
    memset(&r, 0, sizeof(r));
    CHECK_EQ(mlos_remote_listen(&r, loop, "tcp:127.0.0.1:0", &(struct mlos_remote_opts){.insecure = 1}, NULL), 0);
    mlos_remote_addr(&r, addr, sizeof(addr));
    launch(&l, addr, NULL, NULL, insecure);
    CHECK_EQ(mlos_remote_wait_workers(&r, 1, 10000), 0);
    CHECK(call_echo(&r));
    /* a worker with a secret does not accept an insecure master */
    launch(&l2, addr, NULL, secret_path, NULL);
    CHECK_EQ(wait_worker_exit(&l2, 10000), 2);
    CHECK_EQ(r.nworkers, 1);
    mlos_remote_close_sync(&r);
    CHECK_EQ(wait_worker_exit(&l, 10000), 0);
}

static void secret_files(void)
{
    struct mlos_remote_secret s;
    char p[160], why[256];

    CHECK_EQ(mlos_remote_secret_load(&s, NULL, secret_path, 0, why, sizeof(why)), 0);
    CHECK_EQ(s.len, strlen(SECRET)); /* the trailing newline is not part of it */
    snprintf(p, sizeof(p), "%s/open", dir);
    CHECK_EQ(write_file(p, SECRET, 0644), 0);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, p, 0, why, sizeof(why)), MLOS_EAUTH);
    CHECK(strstr(why, "0600") != NULL);
    CHECK_EQ(write_file(p, SECRET, 0640), 0);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, p, 0, why, sizeof(why)), MLOS_EAUTH);
    unlink(p);
    snprintf(p, sizeof(p), "%s/link", dir);
    CHECK_EQ(symlink(secret_path, p), 0);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, p, 0, why, sizeof(why)), MLOS_EAUTH);
    unlink(p);
    snprintf(p, sizeof(p), "%s/short", dir);
    CHECK_EQ(write_file(p, "short\n", 0600), 0);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, p, 0, why, sizeof(why)), MLOS_EAUTH);
    unlink(p);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, dir, 0, why, sizeof(why)), MLOS_EAUTH); /* a directory */
    /* the environment, in order: file, then value */
    setenv("MLOS_REMOTE_SECRET", "from-the-environment-value", 1);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, NULL, 0, why, sizeof(why)), 0);
    CHECK(s.len == strlen("from-the-environment-value"));
    setenv("MLOS_REMOTE_SECRET_FILE", secret_path, 1);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, NULL, 0, why, sizeof(why)), 0);
    CHECK(s.len == strlen(SECRET));
    unsetenv("MLOS_REMOTE_SECRET_FILE");
    unsetenv("MLOS_REMOTE_SECRET");
    /* nothing: refused unless insecure is asked for, by argument or environment */
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, NULL, 0, why, sizeof(why)), MLOS_EAUTH);
    CHECK(strstr(why, "--insecure") != NULL);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, NULL, 1, why, sizeof(why)), 0);
    CHECK_EQ(s.len, 0);
    setenv("MLOS_REMOTE_INSECURE", "1", 1);
    CHECK_EQ(mlos_remote_secret_load(&s, NULL, NULL, 0, why, sizeof(why)), 0);
    CHECK_EQ(s.len, 0);
    unsetenv("MLOS_REMOTE_INSECURE");
}

int main(int argc, char **argv)
{
    char cmd[256];
    if (argc < 2) {
        fprintf(stderr, "usage: test_harden_remote WORKER_PROGRAM\n");
        return 2;
    }
    program = argv[1];
    /* only what each case sets */
    unsetenv("MLOS_REMOTE_SECRET");
    unsetenv("MLOS_REMOTE_SECRET_FILE");
    unsetenv("MLOS_REMOTE_TOKEN");
    unsetenv("MLOS_REMOTE_INSECURE");
    loop = uv_default_loop();
    CHECK(mkdtemp(dir) != NULL);
    snprintf(secret_path, sizeof(secret_path), "%s/secret", dir);
    snprintf(cmd, sizeof(cmd), "%s\n", SECRET);
    CHECK_EQ(write_file(secret_path, cmd, 0600), 0);
    if (check_failures)
        CHECK_DONE();

    secret_files();
    fake_worker();
    fake_master();
    real_pair();

    mlos_domain_close(&fdom);
    unlink(secret_path);
    rmdir(dir);
    run_for(20, NULL);
    CHECK_DONE();
}
