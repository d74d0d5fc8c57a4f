/* master/launcher.h -- how a shard process gets started, on this host or
 * on other machines.
 *
 * Two launch paths exist:
 *
 *  - mlos_spawn() (master/shard.c), unchanged: fork/exec on the master's
 *    host through mlos-launch, which sets a parent-death signal and execs
 *    QEMU (bare metal) or mlos-shard-process, handing over the doorbell
 *    socketpair on fd 3 and the memfd window on fd 4. Such shards can only
 *    live on the master's host: the window is shared memory.
 *
 *  - this interface, for remote workers (shards/remote/mlos-remote-shard,
 *    master/remote.h): the worker only needs the master's messaging
 *    address and the shared secret, so it can run anywhere the address is
 *    reachable.
 *    A launcher starts it:
 *
 *      "local"  uv_spawn of the worker on this host, optionally behind a
 *               wrapper command (e.g. {"ip","netns","exec","ns2"} to put it
 *               in another network namespace, or {"ssh","host"}). Stop:
 *               SIGTERM, then SIGKILL after 2 s.
 *      "slurm"  srun -N1 -n1 (or -N<nodes> --ntasks-per-node=1) [--nodelist=..] [--partition=..]
 *               --job-name=mlos-<pid>-<n> --immediate=<alloc timeout>
 *               --time=<limit> --kill-on-bad-exit=1 <worker> <args>:
 *               Slurm allocates a node and runs the worker there. Stop:
 *               scancel --name=<job name> (plus SIGTERM/SIGKILL to srun).
 *               Errors: MLOS_ENOENT when srun is not installed (message
 *               says so); when the allocation fails or times out, srun
 *               exits and on_exit gets the status and srun's own message.
 *
 * The worker's arguments are always: --master ADDR (and --insecure when
 * asked for). The secret goes through the environment, never the command
 * line (which ps/squeue show to everyone): $MLOS_REMOTE_SECRET when
 * opts.secret is set, else $MLOS_REMOTE_SECRET_FILE when opts.secret_file
 * is (the path must hold the secret, mode 0600, on the worker's node); with
 * neither, the worker inherits ours. srun exports the environment by
 * default. See remote_auth.h.
 * The launcher does not wait for the worker to connect: use
 * mlos_remote_wait_workers() (remote.h) for that.
 */
#ifndef MLOS_LAUNCHER_H
#define MLOS_LAUNCHER_H

#include <stdint.h>
#include <uv.h>

#include "mlos_error.h"

typedef struct mlos_launch_s mlos_launch_t;
/* The launched process (srun, or the worker itself) exited: status is its
 * exit code (or 128+signal); err holds the tail of its stderr. */
typedef void (*mlos_launch_exit_cb)(mlos_launch_t *l, int status, const char *err);

struct mlos_launch_opts {
    const char *launcher;     /* "local" (default) or "slurm"; $MLOS_LAUNCHER if NULL */
    const char *program;      /* worker path as seen on the target node: default "mlos-remote-shard" */
    const char *master_addr;  /* required: what the worker connects to, e.g. "tcp:10.0.0.1:7000" */
    const char *secret;       /* passed as $MLOS_REMOTE_SECRET */
    const char *secret_file;  /* else passed as $MLOS_REMOTE_SECRET_FILE */
    int insecure;             /* pass --insecure: the worker runs without a secret */
    const char *const *extra_args; /* more worker arguments, NULL-terminated (may be NULL) */
    /* local */
    const char *const *wrapper; /* argv prefix, NULL-terminated (may be NULL) */
    /* slurm */
    const char *nodelist;     /* --nodelist */
    const char *partition;    /* --partition */
    unsigned nodes;           /* 0: one process on one node (srun -N1 -n1, a remote worker); N: one process
                               * on each of N nodes (srun -N N --ntasks-per-node=1: node agents over an
                               * allocation, one job step for all of them) */
    unsigned alloc_timeout_s; /* --immediate: give up if no node within this: 30 */
    unsigned time_limit_min;  /* --time: 60 */
    const char *srun;         /* default "srun" from PATH */
    const char *scancel;      /* default "scancel" from PATH */
};

struct mlos_launch_s {
    void *data;
    /* read-only */
    char kind[8];             /* "local" / "slurm" */
    char job_name[64];        /* slurm: the --job-name given to srun */
    int pid;                  /* srun or the local worker, 0 once exited */
    int exited, exit_status;
    char err[1024];           /* tail of the process's stderr */
    /* private */
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t err_pipe;
    uv_timer_t kill_timer;
    mlos_launch_exit_cb on_exit;
    char scancel[256];
    int handles, stopping;
};

/* Start a worker. Returns 0 (on_exit runs when the process ends; the
 * launch must still be released with mlos_launch_stop) or an error at once
 * (nothing to release): MLOS_EINVAL (bad options / unknown launcher),
 * MLOS_ENOENT (srun / worker program not found, message on stderr). */
int mlos_launch_start(uv_loop_t *loop, mlos_launch_t *l, const struct mlos_launch_opts *opts,
                      mlos_launch_exit_cb on_exit);

/* Stop: slurm: scancel the job; then SIGTERM the process, SIGKILL after
 * 2 s. Runs the loop until the process is gone and every handle released
 * (synchronous, bounded by ~5 s). Safe to call after on_exit. */
void mlos_launch_stop(mlos_launch_t *l);

/* Synchronous check that Slurm is usable from here (srun on PATH and
 * `sinfo -h` answers within 10 s). 0, or MLOS_ENOENT / MLOS_EIO with a
 * reason in why. */
int mlos_launch_slurm_available(char *why, size_t cap);

/* internal, between launcher.c and launcher_slurm.c */
int mlos__launch_slurm_argv(mlos_launch_t *l, const struct mlos_launch_opts *o, const char **argv, int cap);
void mlos__launch_slurm_cancel(mlos_launch_t *l);

#endif
