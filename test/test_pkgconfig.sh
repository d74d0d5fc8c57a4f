#!/bin/sh
# An outside program builds against the installed library with nothing but
#   cc app.c $(pkg-config --cflags --libs mlos)
# and runs against the installed shard images.
# Usage: test_pkgconfig.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Builds what no test depends on (e.g. mlos-noise) before installing.
meson install -C "$build" --destdir "$tmp/root" --quiet >/dev/null
pc=$(find "$tmp/root" -name mlos.pc | head -1)
[ -n "$pc" ] || { echo "mlos.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$tmp/root"
cc -Wall -Werror -o "$tmp/hello" "$src/examples/hello/hello.c" $(pkg-config --cflags --libs mlos)
libdir=$(dirname "$(find "$tmp/root" -name 'libmlos.so*' | head -1)")
images=$(dirname "$(find "$tmp/root" -name mlos-launch | head -1)")
for f in mlos-launch mlos-shard-process; do
    [ -x "$images/$f" ] || { echo "$f not installed in $images"; exit 1; }
done
for h in mlos.h mlos_error.h mlos_task.h task.h pool.h msg.h; do
    [ -f "$(dirname "$(find "$tmp/root" -name mlos.h | head -1)")/$h" ] || { echo "header $h not installed"; exit 1; }
done
# Run with the installed images only (no build-tree path).
LD_LIBRARY_PATH="$libdir" MLOS_IMAGE_PATH="$images" "$tmp/hello" process 1000
if [ -f "$images/mlos-slave-x86_64.elf" ]; then
    LD_LIBRARY_PATH="$libdir" MLOS_IMAGE_PATH="$images" "$tmp/hello" x86_64 1000
fi
