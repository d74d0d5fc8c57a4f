#!/bin/bash
# A real single-node Slurm started by the test (munged, slurmctld, slurmd as
# root, all state in a temp dir, see slurm_env.sh); the master launches
# mlos-remote-shard through the slurm launcher (srun) and gets tasks
# answered. Everything is stopped and removed on every path.
#   test_slurm.sh MH_MASTER REMOTE_SHARD
# Exit 77 (skip) without root or the slurm-wlm/munge packages, or when the
# daemons cannot run here (the reason is printed).
set -u
MH=${1:?mh_master path}
SHARD=${2:?mlos-remote-shard path}
HERE=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (runs slurmctld/slurmd/munged as root)"
for p in munged mungekey slurmctld slurmd srun sinfo scancel squeue; do
    command -v "$p" >/dev/null || skip "$p not installed (Debian packages: slurm-wlm munge)"
done
# A Slurm already configured on this machine would be ours to disturb: skip.
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    skip "a slurmctld/slurmd is already running on this host"
fi

. "$HERE/slurm_env.sh"
trap 'slurm_stop; rm -f "${SECRET:-}"' EXIT
trap 'exit 1' INT TERM HUP

if ! slurm_start; then
    skip "Slurm cannot run here: $SLURM_SKIP"
fi
echo "slurm up: $(sinfo -h -N -o '%N %T %c')"

SECRET=$(mktemp)
chmod 600 "$SECRET"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET"
"$MH" --listen tcp:127.0.0.1:0 --secret-file "$SECRET" --program "$SHARD" --launcher slurm --nodelist localhost \
    --calls "${MLOS_MH_CALLS:-1000}"
rc=$?
rm -f "$SECRET"
# Nothing of ours may stay queued or running.
left=$(squeue -h -o '%j %T' 2>/dev/null | grep -c '^mlos-' || true)
if [ "$rc" = 0 ] && [ "$left" != 0 ]; then
    echo "FAIL: $left mlos job(s) left in squeue:"; squeue
    rc=1
fi
exit $rc
