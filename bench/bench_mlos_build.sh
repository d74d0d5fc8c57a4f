#!/bin/sh
# How long `mlos build` takes for a small task file, per slave arch, from a
# fresh `meson install` into a temporary prefix: the median of RUNS builds,
# beside the same compile, link and post-link done by hand with the kit's
# pkg-config values in the same run (what mlos build itself adds is the
# difference). Also prints how many symbols the installed libmlos exports.
#   bench/bench_mlos_build.sh [BUILD_DIR] [RUNS]     (default: build, 5)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
runs=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/root" -name mlos-slave-process.pc | head -1)
[ -n "$pc" ] || { echo "no mlos-slave-process.pc installed from $build"; exit 1; }
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
bin=$(find "$tmp/root" -path '*/bin/mlos' | head -1)
export PKG_CONFIG_PATH="$pcdir" LD_LIBRARY_PATH="$libdir"
unset MLOS_COMPONENT_PATH MLOS_IMAGE_PATH

cd "$tmp"
cat >tasks.c <<'EOF'
#include <mlos/task.h>

/* one small task: the sum of the argument's bytes */
static int sum_bytes(struct mlos_task_ctx *ctx)
{
    uint64_t s = 0;
    for (size_t i = 0; i < ctx->arg_len; i++)
        s += ctx->arg[i];
    uint8_t out[8];
    mlos_put_le64(out, s);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("bench.sum_bytes", sum_bytes);
EOF

now_ms() { python3 -c 'import time; print("%.1f" % (time.monotonic() * 1000))'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

by_hand() { # ARCH: the kit's steps, as examples/offload/Makefile does them
    p=mlos-slave-$1
    cc=$(pkg-config --variable=cc "$p")
    $cc $(pkg-config --cflags "$p") -c tasks.c -o hand.o
    $cc hand.o $(pkg-config --libs "$p") -o hand.linked
    post=$(pkg-config --variable=postlink "$p")
    if [ -n "$post" ]; then $post hand.linked hand.img; else cp hand.linked hand.img; fi
}

echo "mlos build of a one-task file, median of $runs runs (ms); by hand = the kit's pkg-config steps"
printf '%-8s %10s %10s\n' arch "mlos build" "by hand"
for a in x86_64 ppc process; do
    [ -f "$pcdir/mlos-slave-$a.pc" ] || { echo "$a: no kit installed"; continue; }
    if [ "$a" = ppc ] && ! command -v powerpc-linux-gnu-gcc >/dev/null; then
        echo "ppc: no cross compiler"
        continue
    fi
    "$bin" build --arch "$a" -o warm.img tasks.c >/dev/null # warm the page cache
    : >mlos.ms
    : >hand.ms
    i=0
    while [ "$i" -lt "$runs" ]; do
        t0=$(now_ms)
        "$bin" build --arch "$a" -o built.img tasks.c >/dev/null
        t1=$(now_ms)
        by_hand "$a" >/dev/null
        t2=$(now_ms)
        echo "$t1 $t0" | awk '{ print $1 - $2 }' >>mlos.ms
        echo "$t2 $t1" | awk '{ print $1 - $2 }' >>hand.ms
        i=$((i + 1))
    done
    printf '%-8s %10s %10s\n' "$a" "$(median <mlos.ms)" "$(median <hand.ms)"
done
so=$(find "$libdir" -maxdepth 1 -name 'libmlos.so.*.*' | head -1)
echo "libmlos exported symbols (nm -D --defined-only): $(nm -D --defined-only "$so" | wc -l)"
echo "load while measuring: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
