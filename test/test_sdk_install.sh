#!/bin/sh
# The installed SDK, used the way an outside user would: install into a
# temporary DESTDIR, then -- with nothing but that tree on the paths -- build
# examples/offload (its own tasks) for every slave arch that can run here,
# run it and check its answers; build images with `mlos build` (also from a
# manifest); read them with `mlos image info`; check that a wrong-arch and
# an ABI-mismatched image are refused before boot with a message naming
# both; the prefix moved elsewhere still composes and builds with the source
# and build trees hidden; the error cases of `mlos build`; MLOS_TASK in a master program; a
# C++ program including every installed header; no internal header
# installed; libmlos exporting only what the installed headers declare.
# Usage: test_sdk_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# meson test has built everything; --no-rebuild keeps this test from
# running ninja beside other tests.
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/root" -name mlos-slave-process.pc | head -1)
[ -n "$pc" ] || fail "mlos-slave-process.pc not installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
prefix=$(cd "$libdir/../.." && pwd)
[ -d "$prefix/bin" ] || prefix=$(cd "$libdir/.." && pwd)
bin=$prefix/bin
inc=$prefix/include/mlos
imagedir=$libdir/mlos

# Only the installed tree: no variable pointing into the source or build tree.
unset MLOS_COMPONENT_PATH MLOS_IMAGE_PATH PKG_CONFIG_SYSROOT_DIR
export PKG_CONFIG_PATH="$pcdir" LD_LIBRARY_PATH="$libdir" MLOS_IMAGE_PATH="$imagedir"
export PATH="$bin:/usr/local/bin:/usr/bin:/bin" TMPDIR="$tmp"
MLOS=$bin/mlos

# ---- nothing installed refers to the source or build tree ----
for f in "$pcdir"/mlos*.pc; do
    ! grep -q -e "$src" -e "$build" "$f" || fail "$f refers to the source or build tree"
done
# The programs and libraries as installed, debug info included (the build
# maps its paths relative to the build directory).
for f in "$bin"/mlos* "$libdir"/libmlos.so.*.* "$imagedir"/mlos-launch "$imagedir"/mlos-shard-process \
    "$imagedir"/mlos-remote-shard "$imagedir"/mlos-slave-x86_64.elf "$imagedir"/mlos-slave-ppc.elf \
    "$imagedir"/sdk/*/*.a; do
    [ -f "$f" ] || continue
    ! grep -q -a -F -e "$src" -e "$build" "$f" ||
        fail "$f carries a source or build path: $(strings -a "$f" | grep -F -e "$src" -e "$build" | head -1)"
done

# ---- headers: the public set, no internals ----
for h in mlos.h task.h pool.h msg.h error.h endian.h image.h abi.h shard_msg.h; do
    [ -f "$inc/$h" ] || fail "<mlos/$h> not installed"
done
for h in frame.h ring.h window.h taskmsg.h mem.h evloop.h hal.h master_internal.h registry.h; do
    [ ! -e "$inc/$h" ] || fail "internal header $h is installed"
done

# ---- which slave kinds can be built and run here ----
arches=process
if [ -f "$pcdir/mlos-slave-x86_64.pc" ] && command -v qemu-system-x86_64 >/dev/null; then
    arches="$arches x86_64"
fi
if [ -f "$pcdir/mlos-slave-ppc.pc" ] && command -v qemu-system-ppc >/dev/null && command -v powerpc-linux-gnu-gcc >/dev/null; then
    arches="$arches ppc"
fi
echo "slave kinds: $arches"

# ---- examples/offload through its Makefile (pkg-config only) ----
cp -r "$src/examples/offload" "$tmp/offload"
make -s -C "$tmp/offload" ARCHES="$arches" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make of examples/offload"; }
out=$(cd "$tmp/offload" && make -s check ARCHES="$arches") || { echo "$out"; fail "examples/offload check"; }
echo "$out"
for a in $arches; do
    echo "$out" | grep -q "^$a: histogram .*: ok" || fail "$a histogram"
    echo "$out" | grep -q "^$a: dot product .* ok$" || fail "$a dot product"
done

# ---- mlos build, then mlos image info ----
cd "$tmp/offload"
for a in $arches; do
    t0=$(date +%s%N)
    "$MLOS" build --arch "$a" -o "built-$a.img" -Wall -Werror offload_tasks.c >/dev/null || fail "mlos build --arch $a"
    t1=$(date +%s%N)
    echo "mlos build --arch $a: $(( (t1 - t0) / 1000000 )) ms"
    ./offload "$a" "./built-$a.img" 4096 >/dev/null || fail "offload on the mlos-built $a image"
    info=$("$MLOS" image info "built-$a.img")
    echo "$info" | grep -q "^arch: $a$" || fail "image info arch: $info"
    echo "$info" | grep -q "^abi: [0-9]" || fail "image info abi: $info"
    echo "$info" | grep "^tasks" | grep -q " offload.histogram" || fail "image info tasks: $info"
    echo "$info" | grep "^tasks" | grep -q " sum_u64" || fail "image info misses the built-in tasks: $info"
    "$MLOS" image info --json "built-$a.img" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["arch"] == sys.argv[1], d
assert "offload.dot" in d["tasks"] and "offload.histogram" in d["tasks"], d
assert d["note"] is True and d["abi"] >= 1, d
' "$a" || fail "image info --json for $a"
done

# A manifest: exactly the components it selects, plus the user's tasks.
if echo "$arches" | grep -q x86_64; then
    cat >app.mlos <<EOF
name: offload-small
arch: x86_64
services: runtime event-delivery=coalesced
tasks: builtin
EOF
    "$MLOS" compose --sources app.mlos >composed.txt || fail "installed composer refused app.mlos"
    ! grep -v "^$prefix/share/mlos/components/" composed.txt | grep -q . || fail "composer used components outside the prefix"
    "$MLOS" build --arch x86_64 --manifest app.mlos -o small.img offload_tasks.c >/dev/null || fail "mlos build --manifest"
    "$MLOS" image info small.img | grep -q "^components: .*coalesced" || fail "manifest image components"
    ! "$MLOS" image info small.img | grep -q neuro || fail "manifest image has components it did not ask for"
    ./offload x86_64 ./small.img 4096 >/dev/null || fail "offload on the manifest image"
fi
if echo "$arches" | grep -q ppc; then
    printf 'name: offload-small-ppc\narch: ppc\nservices: runtime event-delivery=coalesced\ntasks: builtin\n' >app-ppc.mlos
    "$MLOS" build --arch ppc --manifest app-ppc.mlos -o small-ppc.img offload_tasks.c >/dev/null || fail "mlos build --manifest (ppc)"
    "$MLOS" image info small-ppc.img | grep -q "^components: .*hal-ppc" || fail "ppc manifest image components"
    ./offload ppc ./small-ppc.img 4096 >/dev/null || fail "offload on the ppc manifest image"
fi

# ---- relocatable, and nothing read from the source or build tree ----
# The prefix copied elsewhere and used with the source and build trees
# hidden (empty tmpfs over them in a private mount namespace): the composer
# and mlos build find the components and kits beside themselves.
moved=$tmp/moved
cp -a "$prefix" "$moved"
mlibdir=$moved${libdir#"$prefix"}
cat >"$tmp/reloc.sh" <<'RELOC'
set -eu
src=$1 build=$2 moved=$3 mlibdir=$4 arches=$5 hidden=$6
fail() { echo "FAIL (relocated prefix): $*" >&2; exit 1; }
if [ "$hidden" = yes ]; then
    mount -t tmpfs -o size=64k mlos-hidden "$src"
    if [ -e "$build/build.ninja" ]; then mount -t tmpfs -o size=64k mlos-hidden "$build"; fi
    [ ! -e "$src/meson.build" ] && [ ! -e "$build/build.ninja" ] || fail "the trees are not hidden"
fi
export PATH="$moved/bin:/usr/local/bin:/usr/bin:/bin" PKG_CONFIG_PATH="$mlibdir/pkgconfig" \
    LD_LIBRARY_PATH="$mlibdir" MLOS_IMAGE_PATH="$mlibdir/mlos"
M=$moved/bin/mlos
printf 'name: reloc\narch: x86_64\nservices: runtime event-delivery=coalesced\ntasks: builtin\n' >reloc.mlos
"$M" compose --sources reloc.mlos >reloc.txt || fail "mlos compose"
"$moved/bin/mlos-compose" --sources reloc.mlos >reloc2.txt || fail "mlos-compose"
cmp -s reloc.txt reloc2.txt || fail "mlos compose and mlos-compose disagree"
grep -q "^$moved/share/mlos/components/libos/ed_coalesced.c$" reloc.txt || fail "composed sources: $(head -3 reloc.txt)"
! grep -v "^$moved/share/mlos/components/" reloc.txt | grep -q . || fail "composer used components outside the moved prefix"
"$M" build --arch process -o reloc-process.img offload_tasks.c >/dev/null || fail "mlos build --arch process"
./offload process ./reloc-process.img 4096 >/dev/null || fail "offload on the relocated process image"
for a in x86_64 ppc; do
    case " $arches " in *" $a "*) ;; *) continue ;; esac
    sed "s/^arch: .*/arch: $a/" reloc.mlos >"reloc-$a.mlos"
    "$M" build --arch "$a" --manifest "reloc-$a.mlos" -o "reloc-$a.img" offload_tasks.c >/dev/null ||
        fail "mlos build --manifest for $a"
    "$M" image info "reloc-$a.img" | grep -q "^components: .*coalesced" || fail "$a manifest image components"
    ./offload "$a" "./reloc-$a.img" 4096 >/dev/null || fail "offload on the relocated $a manifest image"
done
echo "relocated prefix: compose and build ok for $arches (source and build trees hidden: $hidden)"
RELOC
case "$tmp/" in
"$src"/* | "$build"/*) ns="" ;; # the temporary tree would be hidden with them
*)
    if [ "$(id -u)" = 0 ]; then ns="unshare -m"; else ns="unshare -Urm"; fi
    $ns true 2>/dev/null || ns=""
    ;;
esac
if [ -n "$ns" ]; then
    $ns sh "$tmp/reloc.sh" "$src" "$build" "$moved" "$mlibdir" "$arches" yes ||
        fail "the relocated prefix with the source and build trees hidden"
else
    echo "no private mount namespace here: the relocated prefix is checked with the trees in place"
    sh "$tmp/reloc.sh" "$src" "$build" "$moved" "$mlibdir" "$arches" no || fail "the relocated prefix"
fi
rm -rf "$moved" reloc*.mlos reloc*.txt reloc-*.img

# ---- image info on damaged files: an error or an answer, never a crash ----
img=$tmp/offload/built-process.img
python3 - "$img" "$tmp/damaged" <<'EOF'
import os, random, sys
data = open(sys.argv[1], "rb").read()
os.makedirs(sys.argv[2])
rnd = random.Random(7)
for i, n in enumerate([0, 4, 16, 52, 63, 64, 200, 4096, len(data) // 2, len(data) - 1]):
    open(f"{sys.argv[2]}/cut{i}", "wb").write(data[:n])
for i in range(150):
    b = bytearray(data)
    # the ELF header and the section table (at the end) are where a parser can go wrong
    for _ in range(rnd.randint(1, 8)):
        r = rnd.random()
        pos = rnd.randrange(0, 128) if r < 0.4 else rnd.randrange(len(b) - 4096, len(b)) if r < 0.8 else rnd.randrange(len(b))
        b[pos] = rnd.randrange(256)
    open(f"{sys.argv[2]}/flip{i}", "wb").write(bytes(b))
EOF
for f in "$tmp"/damaged/*; do
    set +e
    "$MLOS" image info "$f" >/dev/null 2>&1
    rc=$?
    set -e
    [ "$rc" -le 1 ] || fail "mlos image info on a damaged image exited with $rc ($(basename "$f"))"
done
"$MLOS" image info "$tmp/offload/offload.c" >/dev/null 2>"$tmp/err" && fail "image info accepted a C file"
grep -q "is not" "$tmp/err" || fail "image info on a non-ELF file: $(cat "$tmp/err")"

# ---- progress: a line per step with --progress (or on a terminal), none otherwise ----
"$MLOS" build --arch process --progress -o progress.img offload_tasks.c 2>"$tmp/err" >/dev/null || fail "mlos build --progress"
grep -q "^mlos build: \[1\] compiling offload_tasks.c$" "$tmp/err" || { cat "$tmp/err"; fail "no compile progress line"; }
grep -q "^mlos build: linking the process image progress.img$" "$tmp/err" || { cat "$tmp/err"; fail "no link progress line"; }
"$MLOS" build --arch process -o progress.img offload_tasks.c 2>"$tmp/err" >/dev/null || fail "mlos build (quiet)"
[ ! -s "$tmp/err" ] || { cat "$tmp/err"; fail "progress lines without --progress and without a terminal"; }
rm -f progress.img

# ---- mlos build errors: one line, status 1, no image ----
expect_error() { # WANT-SUBSTRING mlos-build-args...
    want=$1
    shift
    rm -f err.img
    if "$MLOS" build "$@" >"$tmp/out" 2>"$tmp/err"; then fail "mlos build $* succeeded"; fi
    [ ! -e err.img ] || fail "mlos build $* left an image"
    grep -q "^mlos build: .*$want" "$tmp/err" || { cat "$tmp/err"; fail "mlos build $*: no message '$want'"; }
    [ "$(grep -c '^mlos build:' "$tmp/err")" = 1 ] || fail "mlos build $*: not one message"
}
expect_error "unknown arch 'sparc'" --arch sparc -o err.img offload_tasks.c
printf 'int broken = ;\n' >broken.c
expect_error "broken.c does not compile for process" --arch process -o err.img broken.c
printf 'name: bad\narch: x86_64\nservices: runtime event-delivery=immediate event-delivery=coalesced\ntasks: builtin\n' >bad.mlos
if [ -f "$pcdir/mlos-slave-x86_64.pc" ]; then
    expect_error "conflicts with" --arch x86_64 --manifest bad.mlos -o err.img offload_tasks.c
else
    expect_error "no x86_64 kit installed" --arch x86_64 -o err.img offload_tasks.c
fi
expect_error "manifest composes bare-metal images" --arch process --manifest bad.mlos -o err.img offload_tasks.c
printf '#include <mlos/task.h>\nstatic int e(struct mlos_task_ctx *c) { return 0; }\nMLOS_TASK("echo", e);\n' >dup.c
expect_error "task 'echo' is defined twice" --arch process -o err.img dup.c
if [ -f "$pcdir/mlos-slave-ppc.pc" ]; then # a PATH without the cross compiler
    mkdir "$tmp/nocross"
    err=$(PATH="$tmp/nocross" "$MLOS" build --arch ppc -o err.img offload_tasks.c 2>&1) && fail "built ppc without a compiler"
    echo "$err" | grep -q "^mlos build: the ppc compiler 'powerpc-linux-gnu-gcc' is not installed" || fail "no-compiler message: $err"
fi
"$MLOS" build --arch x86_64 >/dev/null 2>&1 && fail "mlos build without -o succeeded"

# ---- MLOS_TASK in a master program does not compile ----
if cc -c dup.c -o "$tmp/m.o" $(pkg-config --cflags mlos) 2>"$tmp/err"; then
    fail "MLOS_TASK compiled in a master program"
fi
grep -q "MLOS_TASK only works in slave code" "$tmp/err" || { cat "$tmp/err"; fail "MLOS_TASK message"; }

# ---- C++: every installed header, and the pre-boot refusal ----
{
    for h in "$inc"/*.h; do echo "#include <mlos/$(basename "$h")>"; done
    # every exported function, referenced from C++: links only with C linkage
    echo "static const void *const api[] = {"
    nm -D --defined-only "$(find "$libdir" -maxdepth 1 -name 'libmlos.so.*.*' | head -1)" |
        awk '$2 == "T" { printf "    (const void *)&%s,\n", $3 }'
    echo "};"
    cat <<'EOF'
#include <cstdio>
#include <cstring>
// argv: ARCH IMAGE -> "rc ms message" for a spawn of IMAGE as ARCH
int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    uv_loop_t *loop = uv_default_loop();
    mlos_shard_t s;
    std::memset(&s, 0, sizeof(s));
    struct mlos_spawn_opts o;
    std::memset(&o, 0, sizeof(o));
    o.arch = argv[1];
    o.image = argv[2];
    uint64_t t0 = uv_hrtime();
    int rc = mlos_spawn_sync(loop, &s, &o);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    if (rc == 0)
        mlos_shard_stop_sync(&s);
    char err[1024] = "";
    mlos_image_check(argv[2], argv[1], err, sizeof(err));
    std::printf("%d %.2f %s (%zu API functions, %s)\n", rc, ms, err, sizeof(api) / sizeof(api[0]),
                mlos_strerror(MLOS_EINVAL));
    return 0;
}
EOF
} >"$tmp/all.cc"
g++ -std=c++11 -Wall -Wextra -Werror -o "$tmp/allcc" "$tmp/all.cc" $(pkg-config --cflags --libs mlos) ||
    fail "a C++ program including every installed header does not build"

refused() { # ARCH IMAGE RC WANT...
    r=$(MLOS_QUIET=1 "$tmp/allcc" "$1" "$2")
    echo "spawn $1 $(basename "$2"): $r"
    rc=${r%% *}
    ms=$(echo "$r" | cut -d' ' -f2)
    [ "$rc" = "$3" ] || fail "spawn of $2 as $1: status $rc, want $3"
    awk -v t="$ms" 'BEGIN { exit !(t < 100) }' || fail "refusal took $ms ms"
    shift 3
    for w in "$@"; do echo "$r" | grep -q -- "$w" || fail "message lacks '$w': $r"; done
}
other=$(echo "$arches" | grep -q x86_64 && echo x86_64 || echo process)
# MLOS_ESPAWN = -13, MLOS_EVERSION = -7 (mlos_error.h)
refused ppc "$tmp/offload/built-$other.img" -13 "built for $other" "not for ppc"
if [ "$other" = x86_64 ]; then
    refused process "$tmp/offload/built-x86_64.img" -13 "built for x86_64" "not for process"
fi
python3 - "$tmp/offload/built-process.img" "$tmp/abi9.img" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
note = data.find(b"arch=process\nabi=")
assert note >= 0, "no note"
i = note + len(b"arch=process\nabi=")
end = data.index(b"\n", i)
open(sys.argv[2], "wb").write(data[:i] + b"9" * (end - i) + data[end:])
EOF
chmod +x "$tmp/abi9.img"
refused process "$tmp/abi9.img" -7 "speaks ABI 9" "this master speaks ABI"

# ---- libmlos exports exactly the functions its installed headers declare ----
so=$(find "$libdir" -maxdepth 1 -name 'libmlos.so.*.*' | head -1)
nm -D --defined-only "$so" | awk '{print $NF}' | sort -u >"$tmp/exported"
echo "libmlos exports $(wc -l <"$tmp/exported") symbols"
python3 - "$tmp/exported" "$inc"/*.h <<'EOF'
import re, sys
exported = set(open(sys.argv[1]).read().split())
declared = set()
for h in sys.argv[2:]:
    t = open(h).read()
    t = re.sub(r"/\*.*?\*/", " ", t, flags=re.S)
    t = re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", " ", t, flags=re.M)  # macros
    t = re.sub(r"static inline[^{;]*\{(?:[^{}]|\{[^{}]*\})*\}", " ", t)  # inline helpers
    declared |= set(re.findall(r"\b(mlos_[A-Za-z0-9_]+)\s*\(", t))
extra, missing = sorted(exported - declared), sorted(declared - exported)
if extra:
    sys.exit("exported but not declared in an installed header: " + " ".join(extra))
if missing:
    sys.exit("declared in an installed header but not exported: " + " ".join(missing))
EOF
echo "ok"
