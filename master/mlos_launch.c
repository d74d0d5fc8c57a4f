/* mlos-launch: exec a shard (QEMU or a process shard) so that it dies with
 * the master. libuv's uv_spawn cannot set a parent-death signal, and a QEMU
 * left behind by a crashed master would run forever. Usage:
 *   mlos-launch PROGRAM ARGS...
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    pid_t parent = getppid();
    if (argc < 2) {
        fprintf(stderr, "usage: mlos-launch PROGRAM [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
        perror("mlos-launch: prctl");
        return 1;
    }
    if (getppid() != parent) /* master died before prctl took effect */
        return 1;
    execvp(argv[1], argv + 1);
    fprintf(stderr, "mlos-launch: cannot run %s: %s\n", argv[1], strerror(errno));
    return 127;
}
