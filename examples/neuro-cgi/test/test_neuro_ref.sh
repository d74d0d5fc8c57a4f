#!/bin/sh
# Compare neuro-cli with the independent nibabel+scipy reference on the
# MRIcron ch2bet template, with and without the AAL atlas, for each shard
# architecture given and 1 and 3 shards; then lose a shard mid-run.
#   test_neuro_ref.sh NEURO_CLI REFERENCE_PY ARCH...
# Tolerances: tissue volumes 0.5 %, region GM mL and means 1 % (absolute
# floor 0.05 mL for near-empty regions). Afterwards no shard process of this
# build may be left running. Skips (77) without the data or python modules.
set -eu
cli=$1 ref=$2
shift 2
tpl=/usr/share/mricron/templates
py=/usr/bin/python3
img=$tpl/ch2bet.nii.gz atlas=$tpl/aal.nii.gz
[ -r "$img" ] && [ -r "$atlas" ] || { echo "SKIP: mricron-data not installed"; exit 77; }
$py -c 'import nibabel, scipy' 2>/dev/null || { echo "SKIP: python3-nibabel/python3-scipy missing"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MLOS_QUIET=1

# our own shard processes: QEMU or process shards started from this build
ours() {
    pgrep -f "qemu-system.*mlos-slave" | while read -r p; do
        tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -q "${MLOS_IMAGE_PATH%%:*}" && echo "$p"
    done
    pgrep -f "$(dirname "$(dirname "$(dirname "$cli")")")/shards/process/mlos-shard-process" || true
}
before=$(ours | sort | tr '\n' ' ')

$py "$ref" "$img" >"$tmp/ref.json"
$py "$ref" "$img" --atlas "$atlas" >"$tmp/ref_atlas.json"

compare() { # ours.json ref.json label
    $py - "$1" "$2" "$3" <<'PY'
import json, sys
a, r, what = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
bad = []
for k in range(3):
    d = abs(a['ml'][k] - r['ml'][k]) / r['ml'][k]
    if d > 0.005:
        bad.append('class %d: %.3f mL vs reference %.3f (%.2f%%)' % (k + 1, a['ml'][k], r['ml'][k], 100 * d))
if 'regions' in r:
    ra = {g['label']: g for g in a.get('regions', [])}
    if sorted(ra) != [g['label'] for g in r['regions']]:
        bad.append('region labels differ')
    for g in r['regions']:
        o = ra.get(g['label'])
        if not o:
            continue
        if o['voxels'] != g['voxels']:
            bad.append('region %d: %d voxels vs %d' % (g['label'], o['voxels'], g['voxels']))
        if abs(o['mean_smoothed'] - g['mean_smoothed']) > 0.01 * abs(g['mean_smoothed']) + 1e-6:
            bad.append('region %d: mean %.4f vs %.4f' % (g['label'], o['mean_smoothed'], g['mean_smoothed']))
        if abs(o['gm_ml'] - g['gm_ml']) > max(0.01 * g['gm_ml'], 0.05):
            bad.append('region %d: GM %.3f mL vs %.3f' % (g['label'], o['gm_ml'], g['gm_ml']))
print('%-28s ml %s (ref %s) iterations %d (ref %d) analysis %.0f ms %s' % (
    what, ['%.2f' % v for v in a['ml']], ['%.2f' % v for v in r['ml']], a['iterations'], r['iterations'],
    a['time_ms']['analysis'], 'OK' if not bad else 'FAIL'))
for b in bad[:20]:
    print('   ', b)
sys.exit(1 if bad else 0)
PY
}

fail=0
for arch in "$@"; do
    for n in 1 3; do
        "$cli" --json --arch "$arch" --shards "$n" "$img" >"$tmp/a.json" || { echo "neuro-cli failed"; fail=1; continue; }
        compare "$tmp/a.json" "$tmp/ref.json" "$arch x$n" || fail=1
        "$cli" --json --arch "$arch" --shards "$n" --atlas "$atlas" "$img" >"$tmp/b.json" || { echo "neuro-cli failed"; fail=1; continue; }
        compare "$tmp/b.json" "$tmp/ref_atlas.json" "$arch x$n + aal" || fail=1
    done
    # lose slab 2's shard before k-means round 5: replaced, same answer
    "$cli" --json --arch "$arch" --shards 3 --atlas "$atlas" --test-crash 2:5 "$img" >"$tmp/c.json" 2>"$tmp/c.err" ||
        { cat "$tmp/c.err"; echo "neuro-cli failed after a shard crash"; fail=1; continue; }
    compare "$tmp/c.json" "$tmp/ref_atlas.json" "$arch x3 + aal, crash" || fail=1
    $py - "$tmp/b.json" "$tmp/c.json" <<'PY' || fail=1
import json, sys
b, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ok = c['replaced'] == [0, 1, 0] and all(b[k] == c[k] for k in ('voxels', 'iterations', 'regions', 'centers'))
print('    crash: replaced %s, result %s' % (c['replaced'], 'unchanged' if ok else 'DIFFERENT'))
sys.exit(0 if ok else 1)
PY
done

sleep 0.2
after=$(ours | sort | tr '\n' ' ')
if [ "$after" != "$before" ]; then
    echo "shard processes left behind: before [$before] after [$after]"
    fail=1
fi
exit $fail
