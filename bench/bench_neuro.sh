#!/bin/sh
# Neuro analysis timing: neuro-cli on the MRIcron ch2bet template for 1, 2
# and 4 slave shards of each architecture (fixed-point kernel, and the
# float32 kernel for comparison), beside the nibabel+scipy reference
# pipeline measured in the same run. Best of REPS runs each.
#   bench/bench_neuro.sh [BUILD_DIR] [REPS]     (default: build, 3)
# NEURO_BENCH_ATLAS=aal (or brodmann) adds that atlas's per-region table to
# both pipelines; NEURO_BENCH_FLOAT=0 skips the float32 kernel rows.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-3}
cli=$build/examples/neuro-cgi/neuro-cli
ref=$src/examples/neuro-cgi/test/reference.py
img=/usr/share/mricron/templates/ch2bet.nii.gz
atlas=${NEURO_BENCH_ATLAS:-none}
aopt=
[ "$atlas" = none ] || aopt="--atlas /usr/share/mricron/templates/$atlas.nii.gz"
kernels="fixed float"
[ "${NEURO_BENCH_FLOAT:-1}" = 0 ] && kernels=fixed
py=/usr/bin/python3
# neuro's own images first (examples/neuro-cgi builds them), then the stock ones
export MLOS_IMAGE_PATH=$build/examples/neuro-cgi:$build/shards/x86_64:$build/shards/process:$build/master MLOS_QUIET=1
[ -x "$cli" ] || { echo "build neuro-cli first ($cli)"; exit 1; }
[ -r "$img" ] || { echo "needs mricron-data ($img)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

best() { # file with one JSON per line, key path -> min
    $py -c 'import json,sys
v=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ks=sys.argv[2].split(".")
def get(o):
    for k in ks: o=o[k]
    return o
print("%.1f" % min(get(o) for o in v))' "$1" "$2"
}

: >"$tmp/ref"
for i in $(seq "$reps"); do $py "$ref" "$img" $aopt >>"$tmp/ref"; done
rt=$(best "$tmp/ref" time_ms.total)
echo "atlas: $atlas; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "reference pipeline (nibabel load + scipy gaussian_filter + numpy k-means): best ${rt} ms" \
     "(load $(best "$tmp/ref" time_ms.load), smooth $(best "$tmp/ref" time_ms.smooth), kmeans $(best "$tmp/ref" time_ms.kmeans))"
printf '%-8s %-6s %6s %12s %10s %12s %10s\n' arch kernel shards analysis_ms load_ms request_ms speedup
archs=process
[ -f "$build/shards/x86_64/mlos-slave-x86_64.elf" ] && archs="process x86_64"
for arch in $archs; do
    for kernel in $kernels; do
        flag=; [ $kernel = float ] && flag=--float
        for n in 1 2 4; do
            : >"$tmp/o"
            for i in $(seq "$reps"); do "$cli" --json $flag --arch $arch --shards $n $aopt "$img" >>"$tmp/o"; done
            a=$(best "$tmp/o" time_ms.analysis) l=$(best "$tmp/o" time_ms.load)
            awk -v A=$arch -v K=$kernel -v N=$n -v a="$a" -v l="$l" -v r="$rt" \
                'BEGIN { printf "%-8s %-6s %6d %12.1f %10.1f %12.1f %9.1fx\n", A, K, N, a, l, a + l, r / (a + l) }'
        done
    done
done
echo "request_ms = NIfTI load (gunzip + parse) + analysis (spawn, put, smooth, k-means, read back, stop)"
