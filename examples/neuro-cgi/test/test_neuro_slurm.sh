#!/bin/bash
# neuro-cgi with its slaves on a Slurm allocation (NEURO_SLURM=1): a private
# single-node Slurm (test/multihost/slurm_env.sh: munged, slurmctld, slurmd)
# on ports of its own, then
#   - test_neuro_cluster over srun-started agents: byte-identical to local;
#   - neuro-cli --cluster slurm against a local run of ch2bet + AAL (times
#     of both printed);
#   - the CGI itself, NEURO_SLURM=1, against NEURO_SLURM=0: the same
#     results.json (timings and ids aside);
#   - errors as a clear 503 page within their bounds: no Slurm on PATH (run
#     first, also where Slurm is not installed), an unknown partition,
#     agents that cannot reach this host (not joined in time), more nodes
#     than the allocation has (neuro-cli: exit 2 with srun's reason);
#   - afterwards no mlos job in squeue, no agent or slave of this run, and
#     nothing in its runtime directory.
#   test_neuro_slurm.sh TEST_NEURO_CLUSTER MLOS_NODE NEURO_CLI NEURO_CGI ARCH...
# Exit 77 (skip) only where the Slurm packages (or root, which the daemons
# need) are missing.
set -u
TNC=${1:?test_neuro_cluster} AGENT=${2:?mlos-node} CLI=${3:?neuro-cli} CGI=${4:?neuro-cgi}
shift 4
ARCHES=${*:-process}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
IMG=/usr/share/mricron/templates/ch2bet.nii.gz
skip() { echo "SKIP: $*"; exit 77; }
TIMEOUT=$(command -v timeout)
fail=0
bad() { echo "FAIL: $*"; fail=1; }

RT=$(mktemp -d)
cleanup() { type slurm_stop >/dev/null 2>&1 && slurm_stop; rm -rf "$RT"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mkdir -m 0700 "$RT/run" "$RT/st"
export MLOS_RUNTIME_DIR=$RT/run MLOS_QUIET=1

# post ARCH OUT [VAR=VALUE...]: the CGI on an upload of ch2bet with AAL
post() {
    local arch=$1 out=$2
    shift 2
    python3 - "$arch" "$RT/body" <<'PY'
import sys
arch, path = sys.argv[1], sys.argv[2]
img = open('/usr/share/mricron/templates/ch2bet.nii.gz', 'rb').read()
b = 'nsBOUNDARY1234'
def field(n, v):
    return ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, n, v)).encode()
body = field('kind', arch) + field('slaves', '3') + field('atlas', 'aal')
body += ('--%s\r\nContent-Disposition: form-data; name="image"; filename="ch2bet.nii.gz"\r\n'
         'Content-Type: application/octet-stream\r\n\r\n' % b).encode() + img + b'\r\n'
body += ('--%s--\r\n' % b).encode()
open(path, 'wb').write(body)
PY
    env -i PATH="${CGI_PATH:-$PATH}" REQUEST_METHOD=POST CONTENT_TYPE="multipart/form-data; boundary=nsBOUNDARY1234" \
        CONTENT_LENGTH="$(stat -c %s "$RT/body")" NEURO_STORAGE="$RT/st" MLOS_IMAGE_PATH="$MLOS_IMAGE_PATH" \
        MLOS_RUNTIME_DIR="$MLOS_RUNTIME_DIR" MLOS_QUIET=1 MLOS_TEST_TAG="${MLOS_TEST_TAG:-}" \
        ${SLURM_CONF:+SLURM_CONF=$SLURM_CONF} NEURO_AGENT="$AGENT" NEURO_SLURM_HOST=127.0.0.1 "$@" \
        "$TIMEOUT" 300 "$CGI" <"$RT/body" >"$out" 2>"$out.err"
}
status_of() { sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$1"; }
results_of() { # the results.json the response's request id names
    local id
    id=$(sed -n 's/^X-Neuro-Request: \([^[:space:]]*\).*/\1/p' "$1" | head -n1)
    echo "$RT/st/$id/results.json"
}

[ -r "$IMG" ] || skip "mricron-data not installed"
command -v python3 >/dev/null || skip "python3 not installed"

# no Slurm where the server is told to use it: a 503 page at once
t0=$(date +%s%N)
CGI_PATH=/nonexistent post process "$RT/noslurm" NEURO_SLURM=1
ms=$((($(date +%s%N) - t0) / 1000000))
st=$(status_of "$RT/noslurm")
echo "NEURO_SLURM=1 without Slurm: status $st after $ms ms: $(grep -o 'no slaves on Slurm[^<]*' "$RT/noslurm" | head -n1)"
[ "$st" = 503 ] || bad "no Slurm: status '$st', not 503"
grep -q "Slurm is not usable here" "$RT/noslurm" || bad "no Slurm: the page does not say why"
[ "$ms" -lt 20000 ] || bad "no Slurm: $ms ms to answer"

for p in munged mungekey slurmctld slurmd srun sinfo scancel squeue; do
    command -v "$p" >/dev/null || skip "$p not installed (Debian packages: slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || skip "needs root (runs slurmctld/slurmd/munged as root)"

# ports of our own: the cluster suite's Slurm may run beside this one
export MLOS_SLURMCTLD_PORT=16837 MLOS_SLURMD_PORT=16838
. "$TOP/test/multihost/slurm_env.sh"
if ! slurm_start; then
    echo "FAIL: Slurm is installed but does not start: $SLURM_SKIP"
    exit 1
fi
echo "slurm up: $(sinfo -h -N -o '%N %T %c')"
# agents and slaves of this run carry it (srun exports the environment), the daemons do not
export MLOS_TEST_TAG=ns$$

# the library path, every arch: byte for byte
"$TNC" "$AGENT" slurm 1 $ARCHES || bad "test_neuro_cluster over Slurm"

# neuro-cli: a ch2bet request locally and over the Slurm agents
arch=${ARCHES%% *}
"$CLI" --json --arch "$arch" --shards 3 --atlas /usr/share/mricron/templates/aal.nii.gz "$IMG" >"$RT/l.json" ||
    bad "neuro-cli locally"
t0=$(date +%s%N)
"$CLI" --json --arch "$arch" --shards 3 --atlas /usr/share/mricron/templates/aal.nii.gz --cluster slurm \
    --agent "$AGENT" "$IMG" >"$RT/s.json" || bad "neuro-cli --cluster slurm"
wall=$((($(date +%s%N) - t0) / 1000000))
python3 - "$RT/l.json" "$RT/s.json" "$wall" "$arch" <<'PY' || fail=1
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
diff = [k for k in a if k != 'time_ms' and a[k] != b.get(k)]
print('neuro-cli %s x3 ch2bet+aal: analysis %.0f ms locally, %.0f ms on the Slurm agents (%s ms with agents '
      'started and stopped); %s' % (sys.argv[4], a['time_ms']['analysis'], b['time_ms']['analysis'], sys.argv[3],
                                    'identical' if not diff else 'DIFFER in %s' % diff))
sys.exit(1 if diff else 0)
PY

# more nodes than the allocation can have: srun's reason, exit 2, bounded
t0=$(date +%s%N)
timeout 120 "$CLI" --json --arch "$arch" --shards 1 --cluster slurm --nodes 2 --agent "$AGENT" "$IMG" \
    >/dev/null 2>"$RT/n2.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "--nodes 2 on one node: exit $rc after $ms ms: $(head -c 300 "$RT/n2.err")"
[ "$rc" = 2 ] || bad "--nodes 2: exit $rc, not 2"
grep -q "no node agents" "$RT/n2.err" || bad "--nodes 2: no clear message"

# the CGI with NEURO_SLURM=1 against NEURO_SLURM=0
post "$arch" "$RT/local" NEURO_SLURM=0
post "$arch" "$RT/slurm" NEURO_SLURM=1 NEURO_SLURM_NODES=1
[ "$(status_of "$RT/local")" = 200 ] || bad "CGI locally: $(status_of "$RT/local") $(head -c 300 "$RT/local.err")"
[ "$(status_of "$RT/slurm")" = 200 ] || bad "CGI NEURO_SLURM=1: $(status_of "$RT/slurm") $(grep -o 'no slaves[^<]*' "$RT/slurm")"
python3 - "$(results_of "$RT/local")" "$(results_of "$RT/slurm")" <<'PY' || fail=1
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def same(k):
    if k == 'shards':  # their timings differ; where each slab went and what it was must not
        keep = ('arch', 'z0', 'z1', 'replaced')
        return [{f: s[f] for f in keep} for s in a[k]] == [{f: s[f] for f in keep} for s in b[k]]
    return a[k] == b.get(k)
diff = [k for k in a if k not in ('time_ms', 'request_id') and not same(k)]
print('CGI ch2bet+aal: request %.0f ms locally, %.0f ms with NEURO_SLURM=1; results %s' % (
    a['time_ms'].get('request', 0), b['time_ms'].get('request', 0), 'identical' if not diff else 'DIFFER in %s' % diff))
sys.exit(1 if diff else 0)
PY

# an unknown partition: srun refuses, the page says so
t0=$(date +%s%N)
post "$arch" "$RT/part" NEURO_SLURM=1 NEURO_SLURM_PARTITION=nosuchpart NEURO_SLURM_TIMEOUT=20
ms=$((($(date +%s%N) - t0) / 1000000))
st=$(status_of "$RT/part")
echo "unknown partition: status $st after $ms ms: $(grep -o 'no slaves on Slurm[^<]*' "$RT/part" | head -n1)"
[ "$st" = 503 ] || bad "unknown partition: status '$st', not 503"
[ "$ms" -lt 60000 ] || bad "unknown partition: $ms ms to answer"

# agents that cannot reach this host (TEST-NET address): not joined in time
t0=$(date +%s%N)
post "$arch" "$RT/nojoin" NEURO_SLURM=1 NEURO_SLURM_HOST=192.0.2.1 NEURO_SLURM_TIMEOUT=8
ms=$((($(date +%s%N) - t0) / 1000000))
st=$(status_of "$RT/nojoin")
echo "agents that cannot connect: status $st after $ms ms: $(grep -o 'no slaves on Slurm[^<]*' "$RT/nojoin" | head -n1)"
[ "$st" = 503 ] || bad "agents that cannot connect: status '$st', not 503"
grep -q "joined within 8000 ms" "$RT/nojoin" || bad "agents that cannot connect: the page does not say so"
[ "$ms" -lt 30000 ] || bad "agents that cannot connect: $ms ms to answer"

# a cancelled step may still be COMPLETING for Slurm's KillWait (2 s here)
seen=
for i in $(seq 1 50); do
    jobs=$(squeue -h -o '%j %T' 2>/dev/null | grep '^mlos-' || true)
    [ -z "$jobs" ] && break
    seen="$seen$jobs; "
    sleep 0.2
done
[ -n "$seen" ] && echo "jobs seen ending: $(echo "$seen" | tr '\n' ' ' | head -c 300)"
[ -z "$jobs" ] || { bad "mlos job(s) left in squeue after 10 s: $jobs"; squeue; }
sleep 0.3
for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    [ "$pid" = $$ ] && continue
    if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx "MLOS_TEST_TAG=$MLOS_TEST_TAG"; then
        bad "left running: $(ps -o pid=,args= -p "$pid")"
    fi
done
[ -z "$(ls -A "$RT/run" 2>/dev/null)" ] || bad "left in the runtime directory: $(ls -A "$RT/run")"
[ $fail = 0 ] && echo ok
exit $fail
