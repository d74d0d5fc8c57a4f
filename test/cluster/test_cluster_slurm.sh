#!/bin/bash
# A real single-node Slurm started by the test (test/multihost/slurm_env.sh):
# the master starts mlos-node through the slurm launcher (srun -N1
# --ntasks-per-node=1: one agent per allocated node) and runs a pool of QEMU slaves through it. Every task must
# be answered correctly; afterwards no mlos job may be queued or running and
# no slave process may be left.
#   test_cluster_slurm.sh CL_MASTER MLOS_NODE [ARCH] [TASKS]
# Exit 77 (skip) without root, the slurm-wlm/munge packages or QEMU, or
# when the daemons cannot run here (the reason is printed).
set -u
CL=${1:?cl_master path}
AGENT=${2:?mlos-node path}
ARCH=${3:-x86_64}
TASKS=${4:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (runs slurmctld/slurmd/munged as root)"
for p in munged mungekey slurmctld slurmd srun sinfo scancel squeue; do
    command -v "$p" >/dev/null || skip "$p not installed (Debian packages: slurm-wlm munge)"
done
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    skip "a slurmctld/slurmd is already running on this host"
fi

. "$HERE/../multihost/slurm_env.sh"
RT=$(mktemp -d)
trap 'slurm_stop; rm -rf "$RT"' EXIT
trap 'exit 1' INT TERM HUP

if ! slurm_start; then
    skip "Slurm cannot run here: $SLURM_SKIP"
fi
echo "slurm up: $(sinfo -h -N -o '%N %T %c')"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RT/secret"
chmod 600 "$RT/secret"
mkdir -m 0700 "$RT/run"
export MLOS_RUNTIME_DIR=$RT/run
export MLOS_QUIET=1
export MLOS_TEST_TAG=cl$$
"$CL" --secret-file "$RT/secret" --agent "$AGENT" --launcher slurm --nodelist localhost \
    --listen tcp:127.0.0.1:0 --node "slurmnode,127.0.0.1" --arch "$ARCH" --tasks "$TASKS" --node-max 3 --window 6 \
    --slurm-nodes 1
rc=$?
left=$(squeue -h -o '%j %T' 2>/dev/null | grep -c '^mlos-' || true)
if [ "$left" != 0 ]; then
    echo "FAIL: $left mlos job(s) left in squeue:"; squeue
    rc=1
fi
# No agent and no slave of this run: they inherit MLOS_TEST_TAG (srun
# exports the environment, the agent passes it on to QEMU).
sleep 0.3
stray=
for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    [ "$pid" = $$ ] && continue
    if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx "MLOS_TEST_TAG=$MLOS_TEST_TAG"; then
        stray="$stray$(ps -o pid=,args= -p "$pid")
"
    fi
done
if [ -n "$stray" ]; then
    echo "FAIL: left running:"; echo "$stray"
    rc=1
fi
if [ -n "$(ls -A "$RT/run" 2>/dev/null)" ]; then
    echo "FAIL: left in the runtime directory: $(ls -A "$RT/run")"
    rc=1
fi
exit $rc
