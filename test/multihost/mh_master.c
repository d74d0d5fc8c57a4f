/* mh_master: the master side of the multi-host tests.
 *
 *   mh_master --listen tcp:IP:0 --secret-file F --program PATH [--launcher local|slurm]
 *             [--wrapper "ip netns exec NS"] [--nodelist N] [--calls N] [--bad-secret]
 *
 * Listens, launches one remote worker through the launcher, waits for its
 * HELLO and checks: echo of several sizes, a failing task, an unknown task,
 * put into the worker's bulk region + sum_u64, a round-trip measurement
 * (median and p99 of --calls echo calls of 64 bytes); with --bad-secret also
 * that a worker with the wrong secret is refused. The worker gets the
 * secret file's path (same host, or a shared file system). Then stops the worker and
 * the launch. Exit: 0 pass, 1 fail, 77 skip (launcher not usable here). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launcher.h"
#include "remote.h"

static int fails;
#define EXPECT(c, ...)                                                                                           \
    do {                                                                                                         \
        if (!(c)) {                                                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);                                         \
            fprintf(stderr, __VA_ARGS__);                                                                        \
            fprintf(stderr, "\n");                                                                               \
            fails++;                                                                                             \
        }                                                                                                        \
    } while (0)

static int launch_exited, launch_status;
static char launch_err[1024];
static void on_exit_cb(mlos_launch_t *l, int status, const char *err)
{
    launch_exited = 1;
    launch_status = status;
    snprintf(launch_err, sizeof(launch_err), "%s", err);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static char *split_words(char *s, const char **out, int cap)
{
    int n = 0;
    for (char *t = strtok(s, " "); t && n < cap - 1; t = strtok(NULL, " "))
        out[n++] = t;
    out[n] = NULL;
    return s;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", 1, 0, 'l'},   {"secret-file", 1, 0, 't'},   {"program", 1, 0, 'p'},
                                         {"launcher", 1, 0, 'L'}, {"wrapper", 1, 0, 'w'}, {"nodelist", 1, 0, 'n'},
                                         {"calls", 1, 0, 'c'},    {"bad-secret", 0, 0, 'b'},
                                         {"partition", 1, 0, 'P'}, {0, 0, 0, 0}};
    const char *listen = "tcp:127.0.0.1:0", *secret_file = NULL, *program = "mlos-remote-shard", *launcher = "local";
    const char *nodelist = NULL, *partition = NULL, *wrapper_argv[16] = {NULL};
    char *wrapper = NULL;
    unsigned calls = 1000;
    int bad_secret = 0, c, rc;
    uv_loop_t *loop = uv_default_loop();
    mlos_remote_t r;
    mlos_launch_t la, lb;
    char addr[128], err[256];
    struct mlos_launch_opts lo;
    mlos_remote_worker_t *w;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 't': secret_file = optarg; break;
        case 'p': program = optarg; break;
        case 'L': launcher = optarg; break;
        case 'w': wrapper = strdup(optarg); split_words(wrapper, wrapper_argv, 16); break;
        case 'n': nodelist = optarg; break;
        case 'c': calls = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'b': bad_secret = 1; break;
        case 'P': partition = optarg; break;
        default: return 2;
        }
    }
    if (strcmp(launcher, "slurm") == 0 && mlos_launch_slurm_available(err, sizeof(err)) < 0) {
        printf("SKIP: slurm launcher not usable: %s\n", err);
        return 77;
    }
    memset(&r, 0, sizeof(r));
    if ((rc = mlos_remote_listen(&r, loop, listen, &(struct mlos_remote_opts){.secret_file = secret_file}, NULL)) < 0) {
        fprintf(stderr, "listen %s: %s\n", listen, mlos_strerror(rc));
        return 1;
    }
    mlos_remote_addr(&r, addr, sizeof(addr));
    printf("master listening on %s (launcher %s)\n", addr, launcher);

    memset(&lo, 0, sizeof(lo));
    lo.launcher = launcher;
    lo.program = program;
    lo.master_addr = addr;
    lo.secret_file = secret_file;
    lo.wrapper = wrapper_argv[0] ? wrapper_argv : NULL;
    lo.nodelist = nodelist;
    lo.partition = partition;
    lo.alloc_timeout_s = 20;
    lo.time_limit_min = 5;
    memset(&la, 0, sizeof(la));
    if ((rc = mlos_launch_start(loop, &la, &lo, on_exit_cb)) < 0) {
        fprintf(stderr, "launch: %s\n", mlos_strerror(rc));
        mlos_remote_close_sync(&r);
        return 1;
    }
    printf("launched pid %d %s\n", la.pid, la.job_name);
    /* wait for the HELLO, but give up as soon as the launch itself ended
     * (e.g. srun could not get an allocation) */
    {
        uint64_t end = uv_hrtime() + 30000000000ull;
        while (r.nworkers < 1 && !launch_exited && uv_hrtime() < end)
            mlos_remote_wait_workers(&r, 1, 100);
        rc = r.nworkers >= 1 ? 0 : MLOS_ETIMEDOUT;
    }
    EXPECT(rc == 0, "no worker connected (launch exited=%d status=%d: %s)", launch_exited, launch_status, la.err);
    if (rc == 0 && (w = mlos_remote_worker_at(&r, 0))) {
        int has_echo = 0;
        void *res = NULL;
        size_t rlen = 0;
        uint64_t rtt, *rtts;
        for (size_t i = 0; i < w->ntasks; i++)
            has_echo |= strcmp(w->tasks[i], "echo") == 0;
        printf("worker %u: arch %s over %s, %zu tasks, mem %llu, bulk %llu, up after %.1f ms\n", w->id, w->arch,
               w->transport, w->ntasks, (unsigned long long)w->mem_bytes, (unsigned long long)w->bulk_len,
               w->boot_ns / 1e6);
        EXPECT(has_echo, "worker offers no echo task");

        /* echo, several sizes */
        size_t sizes[] = {0, 1, 100, 4096, 100000, 900000};
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            uint8_t *buf = malloc(sizes[k] + 1);
            for (size_t i = 0; i < sizes[k]; i++)
                buf[i] = (uint8_t)(i * 31 + k);
            rc = mlos_remote_call_sync(w, "echo", buf, sizes[k], &res, &rlen, err, sizeof(err), NULL);
            EXPECT(rc == 0 && rlen == sizes[k] && (!rlen || memcmp(res, buf, rlen) == 0), "echo %zu: rc %d (%s) len %zu",
                   sizes[k], rc, rc ? err : "", rlen);
            free(res);
            res = NULL;
            free(buf);
        }
        /* failing task and unknown task */
        rc = mlos_remote_call_sync(w, "fail", "boom", 4, &res, &rlen, err, sizeof(err), NULL);
        EXPECT(rc == MLOS_ETASK && strstr(err, "boom"), "fail: rc %d err '%s'", rc, err);
        rc = mlos_remote_call_sync(w, "no.such.task", NULL, 0, &res, &rlen, err, sizeof(err), NULL);
        EXPECT(rc == MLOS_ENOTASK, "unknown task: rc %d err '%s'", rc, err);
        /* put into the bulk region, then sum_u64 over it */
        {
            enum { N = 4096 };
            uint64_t *v = malloc(N * 8), sum = 0;
            uint8_t arg[16] = {0}, *out;
            for (unsigned i = 0; i < N; i++)
                sum += v[i] = 0x9E3779B97F4A7C15ull * (i + 1);
            rc = mlos_remote_put_sync(w, 4096, v, N * 8);
            EXPECT(rc == 0, "put: %s", mlos_strerror(rc));
            arg[0] = 0x00, arg[1] = 0x10;                  /* offset 4096, le64 */
            arg[8] = 0x00, arg[9] = 0x80;                  /* length 32768, le64 */
            rc = mlos_remote_call_sync(w, "sum_u64", arg, 16, &res, &rlen, err, sizeof(err), NULL);
            out = res;
            uint64_t got = 0;
            for (int i = 7; rc == 0 && rlen == 8 && i >= 0; i--)
                got = got << 8 | out[i];
            EXPECT(rc == 0 && rlen == 8 && got == sum, "sum_u64 after put: rc %d (%s) got %llx want %llx", rc,
                   rc ? err : "", (unsigned long long)got, (unsigned long long)sum);
            free(res);
            res = NULL;
            EXPECT(mlos_remote_put_sync(w, w->bulk_len - 4, v, 8) == MLOS_ERANGE, "put out of range not refused");
            free(v);
        }
        /* round trips */
        if (calls) {
            uint8_t p[64] = {1};
            rtts = calloc(calls, sizeof(*rtts));
            for (unsigned i = 0; i < calls; i++) {
                rc = mlos_remote_call_sync(w, "echo", p, sizeof(p), &res, &rlen, err, sizeof(err), &rtt);
                free(res);
                res = NULL;
                if (rc) {
                    EXPECT(rc == 0, "rtt call %u: %s", i, err);
                    break;
                }
                rtts[i] = rtt;
            }
            qsort(rtts, calls, sizeof(*rtts), cmp_u64);
            printf("RTT echo 64 B over %u calls: min %.1f us, median %.1f us, p99 %.1f us\n", calls, rtts[0] / 1e3,
                   rtts[calls / 2] / 1e3, rtts[calls * 99 / 100] / 1e3);
            free(rtts);
        }
        printf("worker answered %llu calls\n", (unsigned long long)w->calls_done);
    }

    /* a worker with the wrong secret must be refused */
    if (bad_secret && !fails) {
        unsigned before = r.rejected;
        lo.secret = "definitely-not-the-shared-secret";
        memset(&lb, 0, sizeof(lb));
        if (mlos_launch_start(loop, &lb, &lo, NULL) == 0) {
            uint64_t end = uv_hrtime() + 15000000000ull;
            while (r.rejected == before && uv_hrtime() < end)
                uv_run(loop, UV_RUN_ONCE);
            EXPECT(r.rejected > before, "worker with a bad secret was not refused");
            EXPECT(r.nworkers == 1, "bad-secret worker counted as connected (%u)", r.nworkers);
            mlos_launch_stop(&lb);
        } else
            EXPECT(0, "second launch failed");
    }

    /* stop: STOP to the worker, it exits 0 by itself */
    mlos_remote_close_sync(&r);
    {
        uint64_t end = uv_hrtime() + 10000000000ull;
        while (!launch_exited && uv_hrtime() < end)
            uv_run(loop, UV_RUN_ONCE);
    }
    EXPECT(launch_exited && launch_status == 0, "worker did not exit cleanly after STOP (exited %d, status %d): %s",
           launch_exited, launch_status, la.err);
    mlos_launch_stop(&la);
    free(wrapper);
    printf("%s\n", fails ? "FAILED" : "PASS");
    return fails ? 1 : 0;
}
