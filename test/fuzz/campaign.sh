#!/bin/bash
# campaign.sh -- long libFuzzer campaigns over the test/fuzz targets.
#
#   test/fuzz/campaign.sh [-b BUILDDIR] [-o OUTDIR] [-n EXECS | -t SECONDS]
#                         [-j JOBS] [-N NICE] [TARGET...]
#
#   -b  build directory holding test/fuzz/fuzz_*_libfuzzer (default: build)
#   -o  where corpora, crash inputs and logs go (default: fuzz-campaign);
#       a second campaign into the same directory resumes from its corpora
#   -n  executions per target (libFuzzer -runs), default 10000000
#   -t  seconds per target instead (-max_total_time)
#   -j  targets fuzzed at once (default 1)
#   -N  nice level (default 19: campaigns yield to everything else)
#   TARGET  ring taskmsg tcp_wire verbs_wire cgi_form nifti bpf (default: all built;
#           bpf is the eBPF verifier+interpreter target, test/fuzz_bpf_verify,
#           seeded from corpus/bpf)
#
# Prints, per target: executions, seconds, executions per second, edges
# covered (libFuzzer's "cov"), features ("ft"), corpus size and crashes.
# Exit status 1 if any target crashed or failed. Crash inputs are
# OUTDIR/TARGET/crash-*; replay one with the target's binary and its path.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=build out=fuzz-campaign runs=10000000 secs= jobs=1 nicelevel=19
while getopts b:o:n:t:j:N: opt; do
    case $opt in
    b) build=$OPTARG ;;
    o) out=$OPTARG ;;
    n) runs=$OPTARG ;;
    t) secs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    N) nicelevel=$OPTARG ;;
    *) sed -n '3,10p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

# input size limits, as in test/fuzz/meson.build
declare -A maxlen=([ring]=2048 [taskmsg]=1024 [tcp_wire]=512 [verbs_wire]=1024 [cgi_form]=4096 [nifti]=4096 [bpf]=1024)
# the eBPF target lives in test/ (it shares the VM's build with the bpf suite)
binary() { if [ "$1" = bpf ]; then echo "$build/test/fuzz_bpf_verify"; else echo "$build/test/fuzz/fuzz_${1}_libfuzzer"; fi; }
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for t in ring taskmsg tcp_wire verbs_wire cgi_form nifti bpf; do
        [ -x "$(binary "$t")" ] && targets+=("$t")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "campaign.sh: no libFuzzer targets in $build/test/fuzz (needs clang with libFuzzer)" >&2
    exit 77
fi

run_one() {
    local t=$1 bin dir="$out/$t"
    bin=$(binary "$t")
    local limit=(-runs="$runs")
    [ -n "$secs" ] && limit=(-max_total_time="$secs")
    mkdir -p "$dir/corpus"
    # rss/timeouts: a slow or memory-hungry input is a bug too
    nice -n "$nicelevel" "$bin" "${limit[@]}" -max_len="${maxlen[$t]:-4096}" -timeout=10 -rss_limit_mb=2048 \
        -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" "$here/corpus/$t" >"$dir/log" 2>&1
    echo $? >"$dir/rc"
}

mkdir -p "$out"
for t in "${targets[@]}"; do
    [ -x "$(binary "$t")" ] || { echo "campaign.sh: no target $t in $build" >&2; exit 2; }
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    echo "campaign.sh: $t started $(date -u +%H:%M:%S)"
    run_one "$t" &
done
wait

status=0
printf '%-11s %12s %8s %9s %6s %7s %7s %s\n' target execs seconds exec/s cov ft corpus result
for t in "${targets[@]}"; do
    d="$out/$t" log="$out/$t/log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    persec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    secs_done=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(find "$d/corpus" -type f | wc -l)
    crashes=$(find "$d" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
    rc=$(cat "$d/rc" 2>/dev/null || echo '?')
    result=ok
    if [ "$rc" != 0 ] || [ "$crashes" -gt 0 ]; then
        result="FAILED (rc $rc, $crashes crash inputs, see $log)"
        status=1
    fi
    printf '%-11s %12s %8s %9s %6s %7s %7s %s\n' "$t" "${execs:-?}" "${secs_done:-?}" "${persec:-?}" "${cov:-?}" \
        "${ft:-?}" "$corp" "$result"
done
exit $status
