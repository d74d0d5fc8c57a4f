/* master/launcher_slurm.c -- the "slurm" launcher (launcher.h): srun
 * allocates a node and runs the remote worker there; scancel on stop. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

static unsigned job_seq;

int mlos__launch_slurm_argv(mlos_launch_t *l, const struct mlos_launch_opts *o, const char **argv, int cap)
{
    /* the strings only have to live until uv_spawn, which
     * mlos_launch_start calls right after this returns */
    static __thread char b_node[300], b_part[300], b_name[100], b_imm[40], b_time[40], b_nodes[40];
    int n = 0;
    const char *srun = o->srun ? o->srun : "srun";

    snprintf(l->job_name, sizeof(l->job_name), "mlos-%d-%u", (int)getpid(), ++job_seq);
    snprintf(l->scancel, sizeof(l->scancel), "%s", o->scancel ? o->scancel : "scancel");
    snprintf(b_name, sizeof(b_name), "--job-name=%s", l->job_name);
    snprintf(b_imm, sizeof(b_imm), "--immediate=%u", o->alloc_timeout_s ? o->alloc_timeout_s : 30);
    snprintf(b_time, sizeof(b_time), "--time=%u", o->time_limit_min ? o->time_limit_min : 60);
    if (cap < 12)
        return MLOS_EINVAL;
    argv[n++] = srun;
    if (o->nodes) { /* one per node of the allocation: node agents */
        snprintf(b_nodes, sizeof(b_nodes), "-N%u", o->nodes);
        argv[n++] = b_nodes;
        argv[n++] = "--ntasks-per-node=1";
    } else {
        argv[n++] = "-N1";
        argv[n++] = "-n1";
    }
    argv[n++] = b_name;
    argv[n++] = b_imm;
    argv[n++] = b_time;
    argv[n++] = "--kill-on-bad-exit=1";
    argv[n++] = "--quiet";
    if (o->nodelist && *o->nodelist) {
        snprintf(b_node, sizeof(b_node), "--nodelist=%s", o->nodelist);
        argv[n++] = b_node;
    }
    if (o->partition && *o->partition) {
        snprintf(b_part, sizeof(b_part), "--partition=%s", o->partition);
        argv[n++] = b_part;
    }
    return n;
}

static int run_quiet(char *const argv[], char *out, size_t cap, unsigned timeout_s)
{
    int p[2], st = 0;
    pid_t pid;
    size_t got = 0;
    if (pipe(p) < 0)
        return -1;
    if ((pid = fork()) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        alarm(timeout_s);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    if (out && cap) {
        ssize_t r;
        while (got + 1 < cap && (r = read(p[0], out + got, cap - 1 - got)) > 0)
            got += (size_t)r;
        out[got] = 0;
    }
    close(p[0]);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void mlos__launch_slurm_cancel(mlos_launch_t *l)
{
    char name[100];
    char *argv[] = {l->scancel, "--quiet", name, NULL};
    snprintf(name, sizeof(name), "--name=%s", l->job_name);
    (void)run_quiet(argv, NULL, 0, 10);
}

int mlos_launch_slurm_available(char *why, size_t cap)
{
    char out[512];
    char *srun_v[] = {"srun", "--version", NULL};
    char *sinfo[] = {"sinfo", "-h", "-o", "%P %a %D %T", NULL};
    int rc = run_quiet(srun_v, out, sizeof(out), 10);
    if (rc == 127) {
        snprintf(why, cap, "srun not found in PATH (Debian: slurm-client / slurm-wlm)");
        return MLOS_ENOENT;
    }
    rc = run_quiet(sinfo, out, sizeof(out), 10);
    if (rc != 0) {
        out[strcspn(out, "\n")] = 0;
        snprintf(why, cap, "sinfo failed (exit %d): %s", rc, out);
        return MLOS_EIO;
    }
    if (!out[0]) {
        snprintf(why, cap, "sinfo shows no partitions");
        return MLOS_EIO;
    }
    return 0;
}
