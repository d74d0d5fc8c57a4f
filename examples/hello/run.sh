#!/bin/sh
# Build mlos and run the hello demo on a fresh Debian machine: installs the
# packages it needs (as root, or via sudo), builds, boots one bare-metal
# x86_64 slave and has it sum a buffer.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get install -y --no-install-recommends $(cat .ci/packages-core) >/dev/null
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
MLOS_IMAGE_PATH="$top/build/shards/x86_64:$top/build/shards/process:$top/build/master" exec build/examples/hello/hello "$@"
