/* `mlos stop` against a master that answers badly: every reply is
 * untrusted. A fake application master (this process: its registry record
 * names a stop socket served by a thread here) answers "stop 1" in one
 * bad way per case; `mlos stop` must exit 1 with a clear message, within
 * its time bounds, never hang, crash or echo raw bytes:
 *
 *   silent    reads the request, never answers   "no reply within 5000 ms"
 *   noaccept  never accepts, backlog full         "accepts no connection"
 *   flood     1 MiB without a newline             "longer than"
 *   binary    control bytes in the line           "garbled (byte 0x01"
 *   nul       a NUL inside the line               "NUL byte"
 *   wrongid   "stopped 2" for shard 1             "is not 'stopped 1'"
 *   close     closes without a word               "without a reply"
 *   partial   half a line, then closes            "cut short"
 *   refused   "error: permission denied"          "answered: permission denied"
 *   ok        "stopped 1", record removed         exit 0, "stopped PID.1 on fake-node"
 *
 *   test_stop_replies MLOS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "registry.h"

static const char *mode, *seen; /* seen: the mode the server took up last */
static char sock_path[300];
static int listen_fd = -1, quit;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void say(int fd, const char *p, size_t n) { (void)!send(fd, p, n, MSG_NOSIGNAL); }

/* One connection, answered the way the current case wants. */
static void serve(int fd, const char *mode)
{
    char req[64];
    ssize_t n = read(fd, req, sizeof(req) - 1);
    req[n > 0 ? n : 0] = 0;
    if (!strcmp(mode, "silent")) {
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 15000); /* until the client gives up and closes */
    } else if (!strcmp(mode, "flood")) {
        static char junk[1 << 20];
        memset(junk, 'A', sizeof(junk));
        say(fd, junk, sizeof(junk)); /* blocks until the client closes: EPIPE */
    } else if (!strcmp(mode, "binary")) {
        say(fd, "stopped \x01\x1b[2J\n", 14);
    } else if (!strcmp(mode, "nul")) {
        say(fd, "stopped 1\0junk\n", 15);
    } else if (!strcmp(mode, "wrongid")) {
        say(fd, "stopped 2\n", 10);
    } else if (!strcmp(mode, "partial")) {
        say(fd, "stopp", 5);
    } else if (!strcmp(mode, "refused")) {
        const char *r = "error: permission denied (uid 65534 may not stop the shards of uid 0)\n";
        say(fd, r, strlen(r));
    } else if (!strcmp(mode, "ok")) {
        CHECK(!strcmp(req, "stop 1\n"));
        mlos_registry_remove((int)getpid(), 1);
        say(fd, "stopped 1\n", 10);
    } /* close: nothing */
    close(fd);
}

static void *server(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&quit, __ATOMIC_ACQUIRE)) {
        struct pollfd p = {listen_fd, POLLIN, 0};
        const char *m = __atomic_load_n(&mode, __ATOMIC_ACQUIRE);
        __atomic_store_n(&seen, m, __ATOMIC_RELEASE);
        if (poll(&p, 1, 50) <= 0 || !strcmp(m, "noaccept"))
            continue;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            serve(fd, m);
    }
    return NULL;
}

static void write_record(void)
{
    struct mlos_registry_rec r;
    memset(&r, 0, sizeof(r));
    r.master_pid = (int)getpid();
    r.master_start = mlos_registry_proc_start(getpid());
    r.shard_id = 1;
    snprintf(r.arch, sizeof(r.arch), "process");
    snprintf(r.state, sizeof(r.state), "ready");
    r.host_pid = 1;
    r.mem_bytes = 16u << 20;
    snprintf(r.node, sizeof(r.node), "fake-node");
    snprintf(r.stop_socket, sizeof(r.stop_socket), "%s", sock_path);
    CHECK_EQ(mlos_registry_write(&r), 0);
}

/* `mlos stop PID.1`: its exit status, stdout + stderr in out, the time taken. */
static int run_stop(const char *mlos, char *out, size_t cap, uint64_t *ms)
{
    char id[32];
    int pfd[2];
    snprintf(id, sizeof(id), "%d.1", (int)getpid());
    CHECK(pipe2(pfd, O_CLOEXEC) == 0);
    uint64_t t0 = now_ms();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        execl(mlos, mlos, "stop", id, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(pfd[0], out + got, cap - 1 - got)) > 0 && got + (size_t)n < cap - 1)
        got += (size_t)n;
    if (n > 0)
        got += (size_t)n;
    out[got] = 0;
    close(pfd[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    *ms = now_ms() - t0;
    CHECK(WIFEXITED(status)); /* never killed by a signal (SIGPIPE, SIGSEGV) */
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((*s < 0x20 || *s > 0x7e) && *s != '\n')
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *mode, *want;
        int rc;
        uint64_t min_ms, max_ms;
    } cases[] = {
        {"silent", "no reply within 5000 ms", 1, 4500, 9000},
        {"noaccept", "accepts no connection", 1, 4500, 9000},
        {"flood", "longer than", 1, 0, 4000},
        {"binary", "garbled (byte 0x01", 1, 0, 4000},
        {"nul", "NUL byte", 1, 0, 4000},
        {"wrongid", "is not 'stopped 1'", 1, 0, 4000},
        {"close", "without a reply", 1, 0, 4000},
        {"partial", "cut short", 1, 0, 4000},
        {"refused", "answered: permission denied", 1, 0, 4000},
        {"ok", " on fake-node", 0, 0, 4000},
    };
    char dir[] = "/tmp/mlos-stop-replies-XXXXXX", out[4096];
    pthread_t th;

    if (argc != 2) {
        fprintf(stderr, "usage: test_stop_replies MLOS\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    CHECK(mkdtemp(dir) != NULL);
    setenv("MLOS_RUNTIME_DIR", dir, 1);
    snprintf(sock_path, sizeof(sock_path), "%s/master-%d.ctl", dir, (int)getpid());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(sock_path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(listen_fd >= 0);
    CHECK(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(chmod(sock_path, 0600) == 0);
    CHECK(listen(listen_fd, 0) == 0); /* backlog 0: one queued connection fills it (noaccept) */
    mode = "close";
    CHECK(pthread_create(&th, NULL, server, NULL) == 0);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms;
        int filler = -1;
        __atomic_store_n(&mode, cases[i].mode, __ATOMIC_RELEASE);
        while (__atomic_load_n(&seen, __ATOMIC_ACQUIRE) != cases[i].mode)
            usleep(1000); /* done with the last case's connection */
        write_record();
        if (!strcmp(cases[i].mode, "noaccept")) { /* queue one connection nobody accepts */
            filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            CHECK(filler >= 0 && connect(filler, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        }
        int rc = run_stop(argv[1], out, sizeof(out), &ms);
        printf("%-8s exit %d after %llu ms: %s", cases[i].mode, rc, (unsigned long long)ms, out);
        CHECK_EQ(rc, cases[i].rc);
        CHECK(strstr(out, cases[i].want) != NULL);
        CHECK(printable(out)); /* nothing of the reply's raw bytes reaches the terminal */
        CHECK(ms >= cases[i].min_ms && ms <= cases[i].max_ms);
        if (filler >= 0) {
            /* drain the queue: the filler and anything behind it */
            __atomic_store_n(&mode, "close", __ATOMIC_RELEASE);
            close(filler);
            usleep(200000);
        }
    }
    __atomic_store_n(&quit, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    close(listen_fd);
    unlink(sock_path);
    mlos_registry_remove((int)getpid(), 1);
    CHECK(rmdir(dir) == 0); /* nothing left behind */
    CHECK_DONE();
}
