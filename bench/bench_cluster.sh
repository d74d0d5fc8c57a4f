#!/bin/bash
# Two "hosts" (network namespaces joined by a veth pair): the master in one,
# mlos-node and the raw TCP server in the other. Runs bench_cluster: raw TCP
# ping-pong and stream beside remote calls and puts through the agent.
#   bench/bench_cluster.sh BUILD_DIR [ARCH] [TRIPS] [MIB] [SPIN_US]
# Needs root. Prints what bench_cluster prints.
set -eu
B=$(cd "${1:?build dir}" && pwd)
ARCH=${2:-process}
TRIPS=${3:-5000}
MIB=${4:-512}
SPIN=${5:-0}
TAG=bc$$
T=$(mktemp -d)
cleanup() {
    ip netns pids ${TAG}n 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns pids ${TAG}m 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del ${TAG}m 2>/dev/null || true
    ip netns del ${TAG}n 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
ip netns add ${TAG}m
ip netns add ${TAG}n
ip link add ${TAG}0 netns ${TAG}m type veth peer name ${TAG}1 netns ${TAG}n
ip -n ${TAG}m addr add 10.80.0.1/24 dev ${TAG}0
ip -n ${TAG}n addr add 10.80.0.2/24 dev ${TAG}1
for ns in ${TAG}m ${TAG}n; do ip -n $ns link set lo up; done
ip -n ${TAG}m link set ${TAG}0 up
ip -n ${TAG}n link set ${TAG}1 up
sleep 1
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/secret"
chmod 600 "$T/secret"
export MLOS_IMAGE_PATH=$B/shards/x86_64:$B/shards/ppc:$B/shards/process:$B/master
export MLOS_REGISTRY=0 MLOS_QUIET=1
ip netns exec ${TAG}n "$B/bench/bench_cluster" serve 10.80.0.2 7111 &
RAWPID=$! # ip netns exec execs the program: its CPU time is the raw receiver's
ip netns exec ${TAG}m "$B/bench/bench_cluster" master --secret-file "$T/secret" --agent "$B/shards/node/mlos-node" \
    --node-ip 10.80.0.1 --wrapper "ip,netns,exec,${TAG}n" --raw 10.80.0.2:7111 --arch "$ARCH" \
    --trips "$TRIPS" --mib "$MIB" --spin-us "$SPIN" --raw-pid "$RAWPID"
