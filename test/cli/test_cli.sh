#!/bin/sh
# End to end: the mlos command on real shards.
#   test_cli.sh MLOS SOURCE_ROOT ARCH...
# For each ARCH: `mlos spawn --arch ARCH` returns once the shard is ready;
# `mlos ps` lists every shard "ready"; `mlos stop --all` stops them; then
# `mlos ps` is empty, the runtime directory holds no records or sockets,
# and no process of any master's session (mlos-launch, QEMU, process
# shard) is left. On the running shards: ps --json / -q, call (hex, raw,
# @FILE, --hex), put/get round trip and range errors, console. Also: help
# and --help on stdout, --version, each error message word for word,
# spawn -n with progress, --kvm yes/auto, mlos-shard-process run by hand,
# `mlos compose --check` accepting and refusing with the composer's message,
# and `mlos noise host`.
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

# ---- ps --json / -q ----
json=$("$MLOS" ps --json) || fail "ps --json failed"
echo "$json" | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert isinstance(v, list) and len(v) == int(sys.argv[1]), v
for r in v:
    assert r["id"] == "%d.%d" % (r["master_pid"], r["shard_id"]) and r["state"] == "ready" and r["spawned"] is True, r
    assert r["mem_bytes"] > 0 and r["host_pid"] > 0, r
# the same --mem gives the same allocator size whatever the kind
assert len(set(r["mem_bytes"] for r in v)) == 1 and 31 << 20 < v[0]["mem_bytes"] <= 32 << 20, v
' "$n" || fail "ps --json: $json"
[ "$("$MLOS" ps -q | sort)" = "$(echo "$ps_out" | tail -n +2 | awk '{print $1}' | sort)" ] || fail "ps -q IDs differ from ps"
"$MLOS" ps --bogus 2>/dev/null && fail "ps --bogus succeeded"

# ---- call, put, get, console on every spawned shard ----
tmp=$MLOS_RUNTIME_DIR/data
for id in $("$MLOS" ps -q); do
    out=$("$MLOS" call "$id" echo hello) || fail "call $id echo: $out"
    [ "$out" = "68656c6c6f" ] || fail "call echo (hex) said: $out"
    out=$("$MLOS" call --raw "$id" echo hello) || fail "call --raw $id echo"
    [ "$out" = "hello" ] || fail "call --raw echo said: $out"
    printf 'from a file' > "$tmp.arg"
    out=$("$MLOS" call --raw "$id" echo @"$tmp.arg") || fail "call $id echo @FILE"
    [ "$out" = "from a file" ] || fail "call echo @FILE said: $out"
    # four u64 (1, 2, 3, 4) at offset 4096, then sum_u64 over them
    printf '\001\000\000\000\000\000\000\000\002\000\000\000\000\000\000\000\003\000\000\000\000\000\000\000\004\000\000\000\000\000\000\000' > "$tmp.bin"
    "$MLOS" put "$id" 4K "$tmp.bin" || fail "put $id"
    "$MLOS" get -o "$tmp.back" "$id" 4096 32 || fail "get $id -o"
    cmp "$tmp.bin" "$tmp.back" || fail "get returned other bytes than put"
    [ "$("$MLOS" get "$id" 4104 8 | od -An -tu8 | tr -d ' ')" = 2 ] || fail "get to stdout"
    out=$("$MLOS" call "$id" sum_u64 --hex 00100000000000002000000000000000) || fail "call sum_u64: $out"
    [ "$out" = "0a00000000000000" ] || fail "sum_u64 of 1..4 said: $out"
    msg=$("$MLOS" call "$id" fail oops 2>&1) && fail "call of a failing task succeeded"
    case "$msg" in "mlos call: asked to fail: oops"*) ;; *) fail "failing task said: $msg" ;; esac
    msg=$("$MLOS" call "$id" no_such_task 2>&1) && fail "call of a missing task succeeded"
    case "$msg" in *"no_such_task"*) ;; *) fail "missing task said: $msg" ;; esac
    msg=$("$MLOS" get "$id" 1G 4 2>&1) && fail "get outside the window succeeded"
    case "$msg" in "mlos get: [1073741824, +4) is outside the bulk window"*) ;; *) fail "get out of range said: $msg" ;; esac
    msg=$("$MLOS" put "$id" 1G "$tmp.bin" 2>&1) && fail "put outside the window succeeded"
    case "$msg" in "mlos put: [1073741824, +32) is outside the bulk window"*) ;; *) fail "put out of range said: $msg" ;; esac
    msg=$("$MLOS" put "$id" 0 "$tmp.none" 2>&1) && fail "put of a missing file succeeded"
    case "$msg" in "mlos put: cannot read '$tmp.none'"*) ;; *) fail "put of a missing file said: $msg" ;; esac
    "$MLOS" console "$id" > "$tmp.con" || fail "console $id"
    rm -f "$tmp".*
done
for id in $("$MLOS" ps -q); do
    "$MLOS" ps --json | grep -q '"arch": "x86_64"' || break
    arch=$("$MLOS" ps | awk -v i="$id" '$1 == i {print $3}')
    [ "$arch" = x86_64 ] || continue
    "$MLOS" console "$id" | grep -q "x86_64 HAL up" || fail "console of $id lacks the boot line"
done
msg=$("$MLOS" call 999999.1 echo x 2>&1) && fail "call to an unknown shard succeeded"
[ "$msg" = "mlos call: no shard '999999.1' (see mlos ps)" ] || fail "call to an unknown shard said: $msg"

# ---- help, version, usage errors ----
"$MLOS" --version | grep -Eq '^mlos [0-9]+\.[0-9]+' || fail "--version"
for c in spawn ps stop call put get console compose; do
    out=$("$MLOS" help "$c") || fail "help $c failed"
    case "$out" in "usage: mlos $c"*) ;; *) fail "help $c said: $out" ;; esac
    out=$("$MLOS" "$c" --help 2>/dev/null) || fail "$c --help failed"
    case "$out" in "usage: mlos $c"*) ;; *) fail "$c --help said: $out" ;; esac
done
msg=$("$MLOS" compose --bogus 2>&1) && fail "compose --bogus succeeded"
[ "$(echo "$msg" | head -n 1)" = "mlos compose: unknown option '--bogus'" ] || fail "compose --bogus said: $msg"
msg=$("$MLOS" help nonesuch 2>&1) && fail "help nonesuch succeeded"
[ "$(echo "$msg" | head -n 1)" = "mlos: no command 'nonesuch'" ] || fail "help nonesuch said: $msg"
msg=$("$MLOS" stop --bogus 2>&1) && fail "stop --bogus succeeded"
[ "$(echo "$msg" | head -n 1)" = "mlos stop: unknown option '--bogus'" ] || fail "stop --bogus said: $msg"
msg=$("$MLOS" spawn --mem 100000G 2>&1) && fail "spawn --mem 100000G succeeded"
case "$msg" in "mlos spawn: --mem 100000G is more than this host's memory"*) ;; *) fail "spawn --mem 100000G said: $msg" ;; esac
msg=$("$MLOS" spawn --mem 3G 2>&1) && fail "spawn --mem 3G of x86_64 succeeded"
case "$msg" in "mlos spawn: --mem 3G is too large for a bare-metal x86_64 shard"*) ;; *) fail "spawn --mem 3G said: $msg" ;; esac
msg=$("$MLOS" spawn --arch process --image "$MLOS_RUNTIME_DIR/none" 2>&1) && fail "spawn --image of a missing file succeeded"
[ "$msg" = "mlos spawn: image '$MLOS_RUNTIME_DIR/none': No such file or directory" ] || fail "spawn --image said: $msg"
msg=$("$MLOS" spawn --arch vax 2>&1) && fail "spawn --arch vax succeeded"
[ "$msg" = "mlos spawn: unknown arch 'vax' (x86_64, ppc, process)" ] || fail "spawn --arch vax said: $msg"
# KVM: 'yes' works or fails at once naming KVM; 'auto' starts a shard either way
if echo " $* " | grep -q " x86_64 "; then
    t0=$(date +%s%N)
    if out=$("$MLOS" spawn --kvm yes --mem 32M 2>&1); then
        "$MLOS" stop "${out%% *}" >/dev/null || fail "stop of the KVM shard"
    else
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        case "$out" in "mlos spawn: --kvm yes: "*) ;; *) fail "spawn --kvm yes said: $out" ;; esac
        [ "$ms" -lt 2000 ] || fail "spawn --kvm yes took $ms ms to fail"
    fi
    out=$("$MLOS" spawn --kvm auto --mem 32M 2>&1) || fail "spawn --kvm auto: $out"
    "$MLOS" stop "${out%% *}" >/dev/null || fail "stop of the --kvm auto shard"
    msg=$("$MLOS" spawn --kvm maybe 2>&1) && fail "spawn --kvm maybe succeeded"
    [ "$msg" = "mlos spawn: bad --kvm 'maybe' (yes, no or auto)" ] || fail "spawn --kvm maybe said: $msg"
fi

# several shards at once, with progress on stderr
errf=$MLOS_RUNTIME_DIR/spawn.err
out=$("$MLOS" spawn --arch process --mem 16M -n 2 --progress 2>"$errf") || fail "spawn -n 2: $out $(cat "$errf")"
for id in $(echo "$out" | awk '{print $1}'); do masters="$masters ${id%%.*}"; done
[ "$(echo "$out" | grep -c ' ready (process, ')" -eq 2 ] || fail "spawn -n 2 said: $out"
[ "$(tail -n 1 "$errf")" = "mlos spawn: 2/2 ready" ] || fail "spawn -n 2 progress: $(cat "$errf")"
for id in $(echo "$out" | awk '{print $1}'); do "$MLOS" stop "$id" >/dev/null || fail "stop $id"; done
rm -f "$errf"
msg=$("$MLOS" spawn -n 0 2>&1) && fail "spawn -n 0 succeeded"
[ "$msg" = "mlos spawn: bad --count '0' (1 to 256)" ] || fail "spawn -n 0 said: $msg"

# mlos-shard-process run by hand (no master) explains itself
sp=""
for d in $(echo "${MLOS_IMAGE_PATH:-}" | tr ':' ' '); do [ -x "$d/mlos-shard-process" ] && sp=$d/mlos-shard-process && break; done
if [ -n "$sp" ]; then
    msg=$(env -u MLOS_SHARD_ARGS "$sp" 2>&1 3<&- 4<&-)
    rc=$?
    [ "$rc" -eq 2 ] || fail "mlos-shard-process by hand exited $rc: $msg"
    case "$msg" in "mlos-shard-process: no master"*) ;; *) fail "mlos-shard-process by hand said: $msg" ;; esac
fi
msg=$("$MLOS" spawn --arch process --mem 32M --image /bin/true 2>&1) && fail "spawn --image /bin/true succeeded"
echo "$msg"

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
"$MLOS" compose --check "$SRC/tools/compose/examples/events-x86_64.mlos" || fail "compose --check refused the example"
bad="$MLOS_RUNTIME_DIR/bad.mlos"
printf 'arch: x86_64\nservices: runtime event-delivery=immediate event-delivery=coalesced\n' > "$bad"
msg=$("$MLOS" compose --check "$bad" 2>&1) && fail "compose --check accepted a conflict"
[ "$msg" = "mlos compose: event-delivery: 'immediate' conflicts with 'coalesced'" ] || fail "compose said: $msg"
printf 'arch: x86_64\ncomponents: hal-ppc\n' > "$bad"
msg=$("$MLOS" compose --check "$bad" 2>&1) && fail "compose --check accepted an arch mismatch"
[ "$msg" = "mlos compose: hal-ppc is for ppc, manifest says x86_64" ] || fail "compose said: $msg"

# ---- noise: 'host' names the baseline alone; plots are PNG files ----
if "$MLOS" noise --help >/dev/null 2>&1; then
    nd=$MLOS_RUNTIME_DIR/noise
    out=$("$MLOS" help noise) || fail "help noise failed"
    case "$out" in "usage: mlos noise"*) ;; *) fail "help noise said: $out" ;; esac
    msg=$("$MLOS" noise host --quanta 64 --out "$nd" 2>&1) || fail "noise host: $msg"
    [ -z "$msg" ] || fail "noise printed progress on a non-terminal without --progress: $msg"
    for f in host.ftq.txt host.series.png host.spectrum.png summary.json; do [ -s "$nd/$f" ] || fail "noise wrote no $f"; done
    [ "$(head -c 8 "$nd/host.spectrum.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "spectrum is not a PNG"
    msg=$("$MLOS" noise host --quanta 64 --out "$nd" --progress 2>&1 >/dev/null) || fail "noise --progress"
    case "$msg" in "mlos noise: host: running 64 quanta"*) ;; *) fail "noise --progress said: $msg" ;; esac
    msg=$("$MLOS" noise --bogus 2>&1) && fail "noise --bogus succeeded"
    [ "$(echo "$msg" | head -n 1)" = "mlos noise: unknown argument '--bogus'" ] || fail "noise --bogus said: $msg"
    rm -rf "$nd"
fi

masters=""
cleanup
echo ok
