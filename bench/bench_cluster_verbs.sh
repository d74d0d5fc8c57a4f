#!/bin/sh
# Calls and puts through a node agent over verbs, beside Debian perftest's
# ib_write_lat / ib_write_bw on the same Soft-RoCE device in the same run:
# boots the host's kernel under QEMU with rxe (test/verbs/run_guest.py) and
# runs bench_cluster there, master and agent on 10.0.2.15 (rxe0).
#   bench/bench_cluster_verbs.sh BUILD_DIR [TRIPS] [MIB] [SPIN_US] [LINK_SPIN_US]
# Needs what the verbs tests need, and perftest. Prints what bench_cluster
# prints (and the guest's boot lines).
set -eu
B=$(cd "${1:?build dir}" && pwd)
TRIPS=${2:-2000}
MIB=${3:-256}
SPIN=${4:-0}
LINK_SPIN=${5:-0}
S=$(cd "$(dirname "$0")/.." && pwd)
for p in ib_write_lat ib_write_bw; do
    command -v $p >/dev/null || { echo "bench_cluster_verbs: $p not found (apt-get install perftest)" >&2; exit 77; }
done
LAT=$(command -v ib_write_lat)
BW=$(command -v ib_write_bw)
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# one shell line for the guest: the secret file, the image path, the run
CMD="umask 077; echo $SECRET > /tmp/secret; MLOS_IMAGE_PATH=$B/shards/process:$B/master MLOS_REGISTRY=0 MLOS_QUIET=1 \
$B/bench/bench_cluster master --listen verbs:10.0.2.15 --perftest rxe0 --node-ip 10.0.2.15 \
--secret-file /tmp/secret --agent $B/shards/node/mlos-node --trips $TRIPS --mib $MIB --spin-us $SPIN --link-spin-us $LINK_SPIN"
exec python3 "$S/test/verbs/run_guest.py" --cache "$B/test/verbs/guest" \
    --bin "$B/bench/bench_cluster" --bin "$B/shards/node/mlos-node" --bin "$B/shards/process/mlos-shard-process" \
    --bin "$B/master/mlos-launch" --bin "$LAT" --bin "$BW" --timeout 1500 -- sh -c "$CMD"
