#!/bin/sh
# boot_blocks.sh -- translated blocks from a bare-metal shard's entry to
# HELLO under QEMU TCG, per boot-trace phase and per function.
#
# Under TCG a boot costs about one translation per distinct block of guest
# code it runs (a block ends at every branch target and call return), so
# this count is the steady figure of the boot; times in the boot trace move
# with the host's load. Runs one shard of each kind given through a QEMU
# wrapper that adds "-d exec,nochain" (every block run is logged), stops it,
# and counts the distinct blocks between _start and mlos_hal_boot_finish
# (the runtime calls it right after HELLO).
#
# Usage: bench/boot_blocks.sh BUILD_DIR [ARCH[=MAX]...]   (ARCH: x86_64, ppc;
#        default: both). With =MAX it fails (exit 1) if the count is above
#        MAX or HELLO was not reached: the test boot-blocks uses that as a
#        generous bound that only a real regression of the early path
#        crosses. Exits 77 (skip) without python3 or nm.
set -eu
command -v python3 >/dev/null && command -v nm >/dev/null || { echo "boot_blocks: needs python3 and nm"; exit 77; }
build=$(cd "$1" && pwd); shift
[ $# -gt 0 ] || set -- x86_64 ppc
tmp=$(mktemp -d)
trap 'MLOS_RUNTIME_DIR=$tmp/rt "$build/tools/mlos/mlos" stop --all >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
mkdir -m 700 "$tmp/rt" "$tmp/bin"
export MLOS_RUNTIME_DIR=$tmp/rt MLOS_QUIET=1
export MLOS_IMAGE_PATH=$build/shards/ppc:$build/shards/x86_64:$build/shards/process:$build/master
for q in qemu-system-x86_64 qemu-system-ppc; do
    real=$(command -v $q) || continue
    printf '#!/bin/sh\nexec %s "$@" -d exec,nochain -D %s/%s.log\n' "$real" "$tmp" "$q" > "$tmp/bin/$q"
    chmod +x "$tmp/bin/$q"
done
status=0
for spec in "$@"; do
    arch=${spec%%=*} max=
    [ "$arch" = "$spec" ] || max=${spec#*=}
    case $arch in
    x86_64) q=qemu-system-x86_64 elf=$build/shards/x86_64/mlos-slave-x86_64.elf ;;
    ppc) q=qemu-system-ppc elf=$build/shards/ppc/mlos-slave-ppc.elf ;;
    *) echo "boot_blocks: unknown arch $arch" >&2; exit 2 ;;
    esac
    [ -x "$tmp/bin/$q" ] && [ -f "$elf" ] || { echo "$arch: $q or $elf not found"; [ -z "$max" ] || exit 77; continue; }
    PATH=$tmp/bin:$PATH "$build/tools/mlos/mlos" spawn --arch "$arch" >/dev/null
    "$build/tools/mlos/mlos" stop --all >/dev/null
    echo "== $arch"
    python3 - "$tmp/$q.log" "$elf" "$max" <<'PY' || status=1
import bisect, collections, re, subprocess, sys
log, elf, limit = sys.argv[1], sys.argv[2], sys.argv[3]
syms = []
for line in subprocess.run(['nm', '-n', elf], capture_output=True, text=True, check=True).stdout.splitlines():
    p = line.split()
    if len(p) == 3 and p[1] in 'tTwW':
        syms.append((int(p[0], 16), p[2]))
addrs = [a for a, _ in syms]
by = {n: a for a, n in syms}
marks = {by.get('mlos_hal_boot_mark'), by.get('mlos_boottrace_mark_at')}
entry, stop = by['_start'], by['mlos_hal_boot_finish']
rx = re.compile(r'Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/')
seen, per_fn, phases, cur = set(), collections.Counter(), [], 0
firmware, started, reached, in_mark = set(), False, False, False
for line in open(log, errors='replace'):
    m = rx.match(line)
    if not m:
        continue
    pc = int(m.group(1), 16)
    if not started:
        if pc != entry:
            firmware.add(pc)
            continue
        started = True
    if pc == stop:
        reached = True
        break
    if pc in marks and not in_mark:
        phases.append(cur)
        cur = 0
    in_mark = pc in marks
    if pc not in seen:
        seen.add(pc)
        cur += 1
        per_fn[syms[bisect.bisect_right(addrs, pc) - 1][1]] += 1
phases.append(cur)
print('blocks before _start (firmware, loader): %d' % len(firmware))
print('blocks _start -> HELLO: %d%s' % (len(seen), '' if reached else ' (HELLO not reached)'))
print('per phase (boot trace order; each mark ends one):', ' '.join(map(str, phases)))
print('most per function:', ', '.join('%s %d' % kv for kv in per_fn.most_common(12)))
if limit and (not reached or len(seen) > int(limit)):
    print('FAIL: %d blocks to HELLO, bound %s' % (len(seen), limit))
    sys.exit(1)
PY
    rm -f "$tmp/$q.log"
done
exit $status
