#!/bin/sh
# bench_neuro_cgi.sh [BUILD_DIR] [REPEATS] [IMAGE] -- full-request time of
# neuro-cgi under Apache httpd, beside the nibabel + scipy pipeline.
#
# Starts a private Apache (examples/neuro-cgi/apache/start.sh) on a loopback
# port, POSTs IMAGE (default MRIcron's ch2bet.nii.gz, 181x217x181) with curl
# -F for 1, 2 and 4 slaves of each kind (x86_64 if the bare-metal image is
# built, and process), REPEATS times each (default 3), and takes curl's
# time_total: upload, CGI start, NIfTI decoding, slave start-up, analysis,
# PNG rendering, report. In the same run it times
# examples/neuro-cgi/test/reference.py on the same image (process wall time
# and the script's own analysis time). Prints a table of medians (min-max)
# and each row's speedup: the reference's median wall time over the row's.
# NEURO_BENCH_ATLAS=aal (or brodmann) asks for that atlas's region table in
# every request and in the reference run.
# The server is stopped on exit, whatever happens.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
reps=${2:-3}
image=${3:-/usr/share/mricron/templates/ch2bet.nii.gz}
py=/usr/bin/python3
atlas=${NEURO_BENCH_ATLAS:-none}
aref=
[ "$atlas" = none ] || aref="--atlas /usr/share/mricron/templates/$atlas.nii.gz"
export NEURO_CGI=$build/examples/neuro-cgi/cgi/neuro-cgi
# neuro's own images first (examples/neuro-cgi builds them), then the stock ones
export MLOS_IMAGE_PATH=$build/examples/neuro-cgi:$build/shards/x86_64:$build/shards/process:$build/master
[ -x "$NEURO_CGI" ] || { echo "build first: $NEURO_CGI missing" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-neuro-cgi.XXXXXX)
trap '"$top/examples/neuro-cgi/apache/stop.sh" "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT
trap 'exit 1' INT TERM
url=""
for try in 1 2 3 4 5; do
    port=$((20000 + ($$ * 13 + try * 991) % 30000))
    url=$("$top/examples/neuro-cgi/apache/start.sh" "$port" "$work" 2>/dev/null) && break
    url=""
done
[ -n "$url" ] || { echo "apache did not start" >&2; exit 1; }

kinds=process
[ -f "$build/shards/x86_64/mlos-slave-x86_64.elf" ] && kinds="x86_64 process"

# median FILE: the median of the numbers in FILE
median() {
    sort -n "$1" | awk '{v[NR] = $1} END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# stats FILE: "median (min-max)" of the numbers in FILE, in ms
stats() {
    sort -n "$1" | awk '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%8.0f (%.0f-%.0f)", m, v[1], v[NR] }'
}

# the reference pipeline first: every row's speedup is against its median
: >"$work/rt" && : >"$work/ra"
for r in $(seq "$reps"); do
    s=$(date +%s%N)
    "$py" "$top/examples/neuro-cgi/test/reference.py" "$image" $aref >"$work/ref.json"
    e=$(date +%s%N)
    echo $(((e - s) / 1000000)) >>"$work/rt"
    "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["time_ms"]["total"])' "$work/ref.json" >>"$work/ra"
done
ref_median=$(median "$work/rt")

echo "neuro-cgi full-request time, $(basename "$image"), atlas $atlas, $reps runs each, $(nproc) CPUs," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %-22s %-24s %s\n' "pipeline" "request ms median" "analysis ms (CGI's own)" "speedup"
for kind in $kinds; do
    for n in 1 2 4; do
        : >"$work/t" && : >"$work/a"
        for r in $(seq "$reps"); do
            t=$(curl -s -o "$work/out.html" -w '%{http_code} %{time_total}' -F "image=@$image" -F "kind=$kind" -F "atlas=$atlas" \
                -F "slaves=$n" "$url")
            case $t in 200\ *) ;; *) echo "request failed: $t" >&2; exit 1 ;; esac
            echo "${t#* }" | awk '{printf "%.3f\n", $1 * 1000}' >>"$work/t"
            sed -n 's/.*"time_ms":{[^}]*"analysis":\([0-9.]*\).*/\1/p' "$work/out.html" >>"$work/a"
        done
        printf '%-28s %-22s %-24s %s\n' "neuro-cgi $kind x$n" "$(stats "$work/t")" "$(stats "$work/a")" \
            "$(awk -v r="$ref_median" -v m="$(median "$work/t")" 'BEGIN { printf "%.1fx", r / m }')"
    done
done
printf '%-28s %-22s %-24s %s\n' "nibabel+scipy (python3)" "$(stats "$work/rt")" "$(stats "$work/ra")" "1.0x"
