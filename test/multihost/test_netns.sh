#!/bin/bash
# Two "hosts" in network namespaces joined by a veth pair (10.77.0.1/24,
# 10.77.0.2/24): the master (mh_master) in one, mlos-remote-shard in the
# other, started by the local launcher behind `ip netns exec`. Tasks must be
# answered over tcp:10.77.0.1. Namespaces are deleted on every path.
#   test_netns.sh MH_MASTER REMOTE_SHARD
# Exit 77 (skip) without root, iproute2 or netns support.
set -u
MH=${1:?mh_master path}
SHARD=${2:?mlos-remote-shard path}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (ip netns)"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"

TAG=mlos$$
NS1=${TAG}a NS2=${TAG}b
cleanup() {
    ip netns pids "$NS2" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns pids "$NS1" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$NS1" 2>/dev/null
    ip netns del "$NS2" 2>/dev/null
    rm -f "${SECRET:-}"
    true
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$NS1" 2>/dev/null || skip "cannot create network namespaces here (ip netns add failed)"
ip netns add "$NS2" || skip "cannot create a second network namespace"
ip link add "${TAG}0" netns "$NS1" type veth peer name "${TAG}1" netns "$NS2" 2>/dev/null \
    || skip "cannot create a veth pair (no veth support in this kernel/sandbox)"
ip -n "$NS1" addr add 10.77.0.1/24 dev "${TAG}0"
ip -n "$NS2" addr add 10.77.0.2/24 dev "${TAG}1"
for ns in "$NS1" "$NS2"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS1" link set "${TAG}0" up
ip -n "$NS2" link set "${TAG}1" up
# Link up takes a moment; wait until the other "host" answers.
for i in $(seq 1 50); do
    ip netns exec "$NS1" ping -c1 -W1 10.77.0.2 >/dev/null 2>&1 && break
    command -v ping >/dev/null || { sleep 0.5; break; }
    sleep 0.1
done

# The shared secret: a file only we can read, removed on every path.
SECRET=$(mktemp)
chmod 600 "$SECRET"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET"
# The master only sees its own namespace: it must reach the worker through
# the veth, and the worker can only reach 10.77.0.1 (not 127.0.0.1).
ip netns exec "$NS1" "$MH" --listen tcp:10.77.0.1:0 --secret-file "$SECRET" --program "$SHARD" \
    --launcher local --wrapper "ip netns exec $NS2" --calls "${MLOS_MH_CALLS:-2000}" --bad-secret
rc=$?
exit $rc
