#!/bin/bash
# A shard group over "hosts" in network namespaces: the master (M) with a
# member of its own, host a with two members, host b with one, each host
# joined to M by a veth pair (10.78.N.1 on M's side). test_cluster_groups
# netns checks every collective, cuts b's link during barriers (its rank
# must fail within the heartbeat bound), re-forms that rank on a, heals
# the link and waits for b's agent to leave. Afterwards no process may be
# left in any namespace.
#   test_cluster_groups_netns.sh TEST_CLUSTER_GROUPS MLOS_NODE
# Exit 77 (skip) without root, iproute2 or netns/veth support.
set -u
T=${1:?test_cluster_groups path}
AGENT=${2:?mlos-node path}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (ip netns)"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"

TAG=gn$$
M=${TAG}m
HOSTS="a b"
cleanup() {
    for h in $HOSTS m; do
        ip netns pids "$TAG$h" 2>/dev/null | xargs -r kill -9 2>/dev/null
    done
    for h in $HOSTS m; do
        ip netns del "$TAG$h" 2>/dev/null
    done
    true
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$M" 2>/dev/null || skip "cannot create network namespaces here (ip netns add failed)"
ip -n "$M" link set lo up
n=0
SPEC=
for h in $HOSTS; do
    n=$((n + 1))
    ns=$TAG$h
    ip netns add "$ns" || skip "cannot create a network namespace"
    ip link add "${TAG}${h}0" netns "$M" type veth peer name "${TAG}${h}1" netns "$ns" 2>/dev/null \
        || skip "cannot create a veth pair (no veth support in this kernel/sandbox)"
    ip -n "$M" addr add "10.78.$n.1/24" dev "${TAG}${h}0"
    ip -n "$ns" addr add "10.78.$n.2/24" dev "${TAG}${h}1"
    ip -n "$ns" link set lo up
    ip -n "$M" link set "${TAG}${h}0" up
    ip -n "$ns" link set "${TAG}${h}1" up
    SPEC="${SPEC:+$SPEC;}host$h,10.78.$n.1,ip,netns,exec,$ns"
done
for n in 1 2; do
    i=0
    while ! ip netns exec "$M" ping -c1 -W1 "10.78.$n.2" >/dev/null 2>&1; do
        command -v ping >/dev/null || { sleep 0.5; break; }
        i=$((i + 1))
        [ $i -lt 50 ] || { echo "FAIL: host $n unreachable"; exit 1; }
        sleep 0.1
    done
done

ip netns exec "$M" "$T" "$AGENT" process netns "$SPEC" "ip -n ${TAG}b link set dev ${TAG}b1 down" \
    "ip -n ${TAG}b link set dev ${TAG}b1 up"
rc=$?

sleep 0.3
for h in $HOSTS m; do
    left=$(ip netns pids "$TAG$h" 2>/dev/null | xargs -r ps -o pid=,args= -p 2>/dev/null)
    if [ -n "$left" ]; then
        echo "FAIL: left running in host $h:"; echo "$left"
        rc=1
    fi
done
exit $rc
