#!/bin/sh
# bench_group.sh BUILD_DIR [ITERS] [bench_group options...]
#
# Shard-group collectives beside MPICH in the same run: builds
# bench_group_mpi.c with mpicc (Debian: mpich), runs it with mpirun -np N
# for N = 2, 4, 8, then BUILD_DIR/bench/bench_group (process shards and
# x86_64 slaves, sleeping and polling). Polling needs free cores: with more
# members than cores the spinning ranks wait for the scheduler.
set -eu
build=$(cd "${1:?usage: bench_group.sh BUILD_DIR [ITERS] [options]}" && pwd)
iters=${2:-2000}
[ $# -ge 2 ] && shift 2 || shift 1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export MLOS_IMAGE_PATH="$build/shards/x86_64:$build/shards/ppc:$build/shards/process:$build/master:$build/bench"
echo "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v mpicc >/dev/null && command -v mpirun >/dev/null; then
    mpicc -O2 -o "$tmp/bench_group_mpi" "$here/bench_group_mpi.c"
    for n in 2 4 8; do
        # --oversubscribe is Open MPI's; MPICH's hydra runs N > cores as is.
        # (the header line is bench_group's)
        mpirun -np "$n" "$tmp/bench_group_mpi" "$iters" </dev/null
    done
else
    echo "mpicc/mpirun not found (Debian: apt-get install mpich): no MPICH baseline"
fi
"$build/bench/bench_group" -i "$iters" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
