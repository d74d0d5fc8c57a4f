#!/bin/sh
# End to end: the mlos command on real shards.
#   test_cli.sh MLOS SOURCE_ROOT ARCH...
# For each ARCH: `mlos spawn --arch ARCH` returns once the shard is ready;
# `mlos ps` lists every shard "ready"; `mlos stop --all` stops them; then
# `mlos ps` is empty, the runtime directory holds no records or sockets,
# and no process of any master's session (mlos-launch, QEMU, process
# shard) is left. Also: `mlos compose --check` accepts and refuses with the
# composer's message, and usage errors exit non-zero.
set -u
MLOS=$1
SRC=$2
shift 2
MLOS_RUNTIME_DIR=$(mktemp -d /tmp/mlos-cli-test-XXXXXX)
export MLOS_RUNTIME_DIR
masters=""

cleanup() {
    for m in $masters; do kill -TERM "$m" 2>/dev/null; done
    sleep 0.5
    for m in $masters; do pkill -KILL -s "$m" 2>/dev/null; done
    rm -rf "$MLOS_RUNTIME_DIR"
}
fail() {
    echo "FAIL: $*" >&2
    for f in "$MLOS_RUNTIME_DIR"/master-*.log; do [ -s "$f" ] && { echo "--- $f"; cat "$f"; } >&2; done
    cleanup
    exit 1
}
# live (non-zombie) processes in session $1
session_procs() { ps -o pid=,stat=,args= -s "$1" 2>/dev/null | awk '$2 !~ /^Z/'; }

# ---- spawn ----
n=0
for arch in "$@"; do
    out=$("$MLOS" spawn --arch "$arch" --mem 32M 2>&1) || fail "spawn $arch: $out"
    echo "$out"
    case "$out" in *" ready ($arch, "*) ;; *) fail "spawn $arch said: $out" ;; esac
    id=${out%% *}
    masters="$masters ${id%%.*}"
    n=$((n + 1))
done

# ---- ps ----
ps_out=$("$MLOS" ps) || fail "ps failed"
echo "$ps_out"
[ "$(echo "$ps_out" | head -n 1 | awk '{print $1, $2, $3, $4}')" = "ID MASTER ARCH STATE" ] || fail "ps header"
[ "$(echo "$ps_out" | tail -n +2 | grep -c .)" -eq "$n" ] || fail "ps should list $n shards"
for arch in "$@"; do
    echo "$ps_out" | awk -v a="$arch" '$3 == a && $4 == "ready"' | grep -q . || fail "no ready $arch shard in ps"
done
hosts=$(echo "$ps_out" | tail -n +2 | awk '{print $5}')
for h in $hosts; do kill -0 "$h" 2>/dev/null || fail "host process $h of a ready shard is not running"; done
for m in $masters; do
    [ -S "$MLOS_RUNTIME_DIR/master-$m.sock" ] || fail "no control socket for master $m"
    [ -n "$(session_procs "$m")" ] || fail "master $m has no processes"
done

# ---- usage errors ----
"$MLOS" stop 999999.1 2>/dev/null && fail "stop of an unknown shard succeeded"
"$MLOS" spawn --arch vax 2>/dev/null && fail "spawn --arch vax succeeded"
"$MLOS" bogus 2>/dev/null && fail "unknown command succeeded"

# ---- stop --all ----
"$MLOS" stop --all || fail "stop --all failed"
ps_out=$("$MLOS" ps) || fail "ps failed"
echo "$ps_out"
[ "$(echo "$ps_out" | tail -n +2 | grep -c .)" -eq 0 ] || fail "ps not empty after stop --all"
for m in $masters; do
    left=$(session_procs "$m")
    [ -z "$left" ] || fail "processes left in the session of master $m: $left"
done
for h in $hosts; do
    if kill -0 "$h" 2>/dev/null && ! ps -o stat= -p "$h" | grep -q Z; then fail "host process $h still runs"; fi
done
left=$(ls "$MLOS_RUNTIME_DIR")
[ -z "$left" ] || fail "runtime directory not empty: $left"
"$MLOS" stop --all || fail "stop --all with nothing to stop failed"

# ---- compose ----
"$MLOS" compose --check "$SRC/tools/compose/examples/neuro-x86_64.mlos" || fail "compose --check refused the example"
bad="$MLOS_RUNTIME_DIR/bad.mlos"
printf 'arch: x86_64\nservices: runtime event-delivery=immediate event-delivery=coalesced\n' > "$bad"
msg=$("$MLOS" compose --check "$bad" 2>&1) && fail "compose --check accepted a conflict"
[ "$msg" = "mlos compose: event-delivery: 'immediate' conflicts with 'coalesced'" ] || fail "compose said: $msg"
printf 'arch: x86_64\ncomponents: hal-ppc\n' > "$bad"
msg=$("$MLOS" compose --check "$bad" 2>&1) && fail "compose --check accepted an arch mismatch"
[ "$msg" = "mlos compose: hal-ppc is for ppc, manifest says x86_64" ] || fail "compose said: $msg"

masters=""
cleanup
echo ok
