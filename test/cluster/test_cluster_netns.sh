#!/bin/bash
# Three "hosts" as network namespaces (A, B, C), each joined to the
# master's namespace (M) by its own veth pair (10.79.N.1 on M's side,
# 10.79.N.2 on the host's). Each host runs mlos-node, started by the local
# launcher behind `ip netns exec`; the master (cl_master) spreads a pool of
# QEMU slaves over them (2 per node) and runs the tasks. Mid-run it kills
# the agent of A (SIGKILL) and cuts the link of B (link down on B's side;
# B's agent is given a link timeout far beyond the test, so that only the
# fencing keeps its results out); every task must be answered once and
# correctly. Then B's link comes back, and B's agent must find its
# connection dead and exit. Afterwards nothing may be left: no process in
# any namespace, no registry record, no agent.
#   test_cluster_netns.sh CL_MASTER MLOS_NODE [ARCH] [TASKS] [MLOS_TOOL]
# Exit 77 (skip) without root, iproute2, netns/veth support or QEMU.
set -u
CL=${1:?cl_master path}
AGENT=${2:?mlos-node path}
ARCH=${3:-x86_64}
TASKS=${4:-200}
MLOS_TOOL=${5:-}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (ip netns)"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"
case $ARCH in
x86_64) command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed" ;;
ppc) command -v qemu-system-ppc >/dev/null || skip "qemu-system-ppc not installed" ;;
esac

TAG=cl$$
M=${TAG}m
HOSTS="a b c"
RT=$(mktemp -d)
SECRET=$RT/secret
cleanup() {
    for h in $HOSTS m; do
        ip netns pids "$TAG$h" 2>/dev/null | xargs -r kill -9 2>/dev/null
    done
    for h in $HOSTS m; do
        ip netns del "$TAG$h" 2>/dev/null
    done
    rm -rf "$RT"
    true
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$M" 2>/dev/null || skip "cannot create network namespaces here (ip netns add failed)"
ip -n "$M" link set lo up
n=0
NODES=()
for h in $HOSTS; do
    n=$((n + 1))
    ns=$TAG$h
    ip netns add "$ns" || skip "cannot create a network namespace"
    ip link add "${TAG}${h}0" netns "$M" type veth peer name "${TAG}${h}1" netns "$ns" 2>/dev/null \
        || skip "cannot create a veth pair (no veth support in this kernel/sandbox)"
    ip -n "$M" addr add "10.79.$n.1/24" dev "${TAG}${h}0"
    ip -n "$ns" addr add "10.79.$n.2/24" dev "${TAG}${h}1"
    ip -n "$ns" link set lo up
    ip -n "$M" link set "${TAG}${h}0" up
    ip -n "$ns" link set "${TAG}${h}1" up
    NODES+=(--node "host$h,10.79.$n.1,ip,netns,exec,$ns")
done
# Links take a moment to come up: wait until every host answers.
for h in $HOSTS; do
    i=0
    case $h in a) n=1 ;; b) n=2 ;; c) n=3 ;; esac
    while ! ip netns exec "$M" ping -c1 -W1 "10.79.$n.2" >/dev/null 2>&1; do
        command -v ping >/dev/null || { sleep 0.5; break; }
        i=$((i + 1))
        [ $i -lt 50 ] || { echo "FAIL: host $h unreachable"; exit 1; }
        sleep 0.1
    done
done

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET"
chmod 600 "$SECRET"
mkdir -m 0700 "$RT/run"
export MLOS_RUNTIME_DIR=$RT/run
export MLOS_QUIET=1

ip netns exec "$M" "$CL" --secret-file "$SECRET" --agent "$AGENT" --listen tcp:0.0.0.0:0 "${NODES[@]}" \
    --arch "$ARCH" --tasks "$TASKS" --node-max 2 --window 12 \
    --agent-args "hostb,--link-timeout,600000" \
    --kill "hosta@$((TASKS / 4))" \
    --cut "hostb@$((TASKS / 2))" --cut-cmd "ip -n ${TAG}b link set dev ${TAG}b1 down" \
    --heal-cmd "ip -n ${TAG}b link set dev ${TAG}b1 up" ${MLOS_TOOL:+--mlos "$MLOS_TOOL"}
rc=$?

# Nothing left behind: no process in any "host" (agents, QEMU, shards),
# no registry record of the master.
sleep 0.3
for h in $HOSTS m; do
    left=$(ip netns pids "$TAG$h" 2>/dev/null | xargs -r ps -o pid=,args= -p 2>/dev/null)
    if [ -n "$left" ]; then
        echo "FAIL: left running in host $h:"; echo "$left"
        rc=1
    fi
done
if [ -n "$(ls -A "$RT/run" 2>/dev/null)" ]; then
    echo "FAIL: left in the runtime directory: $(ls -A "$RT/run")"
    rc=1
fi
exit $rc
