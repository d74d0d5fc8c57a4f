#!/bin/sh
# fetch_protobuf_c_source.sh DEST VERSION
#
# Puts Debian's protobuf-c source package, unpacked with its Debian
# patches, at DEST/protobuf-c-VERSION and prints that path. The bare-metal
# PowerPC image compiles protobuf-c.c from it: Debian ships no big-endian
# 32-bit build of libprotobuf-c, and its source is the legitimate one.
#
# Uses only apt's ordinary client: "apt-get source" with a private
# deb-src list derived from the machine's own first "deb" entry (same
# mirror, suite and keyring), and private state/cache directories under
# DEST, so the system's apt configuration and lists are left untouched.
# Needs dpkg-dev (dpkg-source). Does nothing if the tree is already there.
# Fails (non-zero, message on stderr) if the source or the exact VERSION
# (the installed libprotobuf-c-dev's, so headers and library agree) cannot
# be had.
set -eu
dest=$1
ver=$2
tree="$dest/protobuf-c-$ver"
if [ -f "$tree/protobuf-c/protobuf-c.c" ]; then
    echo "$tree"
    exit 0
fi
mkdir -p "$dest/apt/lists/partial" "$dest/apt/cache/archives/partial" "$dest/apt/etc"

# The first binary entry of the system's sources: deb822 (.sources) first,
# then one-line sources.list format. Prints "URI SUITE KEYRING".
first_deb() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            /^[[:space:]]*$/ { if (deb && uri && suite) exit; deb = uri = suite = key = ""; next }
            /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { suite = $2 }
            /^Signed-By:/ { key = $2 }
            END { if (deb && uri && suite) print uri, suite, key }' "$f" | grep . && return 0
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i + 1), ""; exit }' "$f" |
            grep . && return 0
    done
    return 1
}
set -- $(first_deb) || { echo "fetch_protobuf_c_source: no deb entry in /etc/apt sources" >&2; exit 1; }
uri=$1
suite=$2
key=${3:-}
opts=""
[ -n "$key" ] && opts="[signed-by=$key] "
echo "deb-src ${opts}$uri $suite main" >"$dest/apt/etc/sources.list"

apt="apt-get -q -o Dir::Etc::SourceList=$dest/apt/etc/sources.list -o Dir::Etc::SourceParts=/nonexistent \
 -o Dir::State::Lists=$dest/apt/lists -o Dir::Cache=$dest/apt/cache -o Debug::NoLocking=1"
$apt update >&2
cd "$dest"
$apt source --only-source "protobuf-c" >&2
if [ ! -f "$tree/protobuf-c/protobuf-c.c" ]; then
    echo "fetch_protobuf_c_source: Debian's protobuf-c source is not version $ver (the installed libprotobuf-c-dev)" >&2
    ls -d "$dest"/protobuf-c-* >&2 || true
    exit 1
fi
rm -rf "$dest/apt"
echo "$tree"
