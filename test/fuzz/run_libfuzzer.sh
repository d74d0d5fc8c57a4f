#!/bin/sh
# run_libfuzzer.sh FUZZER SEED_DIR [libFuzzer flags...]
# A short libFuzzer run for the test suite: new inputs go to a private
# temporary corpus (the checked-in seeds stay as they are), crash inputs
# are kept under $MESON_BUILD_ROOT or the current directory as
# fuzz-crash-<target>-*, and the temporary corpus is removed afterwards.
set -eu
fuzzer=$1 seeds=$2
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/mlos-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
name=$(basename "$fuzzer")
keep=${MESON_BUILD_ROOT:-.}
rc=0
"$fuzzer" -artifact_prefix="$keep/fuzz-crash-$name-" -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 "$@" "$work" "$seeds" || rc=$?
exit $rc
