#!/bin/sh
# Install what the tests need and run them: the one command for a fresh
# Debian machine (bookworm), also what CI runs (.ci/run).
#
#   tools/run-tests.sh [BUILDDIR [meson test arguments...]]
#
# As root it installs the packages of .ci/packages-core and .ci/packages
# with apt-get; otherwise through sudo if there is one, else it checks
# nothing and goes on (tests whose tools are missing skip). Then
# `meson setup BUILDDIR` (default build; wiped and set up again if it
# exists, so that options and new dependencies are picked up) and
# `meson test -C BUILDDIR --print-errorlogs` with the extra arguments.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${1:-build}
[ $# -gt 0 ] && shift
pkgs=$(cat .ci/packages-core .ci/packages)
if [ "$(id -u)" = 0 ]; then
    apt_get="apt-get"
elif command -v sudo >/dev/null 2>&1; then
    apt_get="sudo apt-get"
else
    apt_get=""
    echo "run-tests: not root and no sudo: not installing packages (missing tools make their tests skip)" >&2
fi
if [ -n "$apt_get" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists yet; an up-to-date one is quick.
    $apt_get update -qq >/dev/null || echo "run-tests: apt-get update failed; trying the install anyway" >&2
    # shellcheck disable=SC2086 # one word per package
    $apt_get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
# An existing build directory is set up again from scratch (new options and
# dependencies are picked up); one that is not a meson build yet is set up.
meson setup --wipe "$build" >/dev/null 2>&1 || meson setup "$build" >/dev/null
exec meson test -C "$build" --print-errorlogs "$@"
