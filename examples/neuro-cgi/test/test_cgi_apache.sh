#!/bin/sh
# test_cgi_apache.sh NEURO_CGI SRCDIR [ARCH...] -- neuro-cgi under a real
# Apache httpd on a loopback port.
#
# Starts a private server with apache/start.sh, then: GET form, HEAD, a
# wrong method (405); ch2bet.nii.gz uploaded with curl -F on every ARCH
# (default: process) with and without the AAL atlas, volumes and regions
# compared with test/reference.py (nibabel + scipy) within 0.5%; a chunked
# upload (no CONTENT_LENGTH); and each bad input: not multipart (415),
# missing boundary, not NIfTI, truncated NIfTI, truncated upload (both a
# short body with a consistent length and a connection closed early), bad
# and unknown option values (400), too large by bytes, by chunked bytes and
# by voxels (413), wrong dimensions and atlas grid mismatch (422); a slave
# frozen (SIGSTOP) mid-request, answered right within 5 s. Every
# request that reached the CGI must have left its data in the storage
# directory. Finally the server is stopped (also on failure, by trap) and
# no httpd, CGI or QEMU process of this test may remain.
# Exit 77 (skip) when apache2, curl or python3 with nibabel are missing.
set -u

cgi=$1
src=$2
shift 2
arches=${*:-process}
here=$(cd "$(dirname "$0")" && pwd)
# "ppc?": ppc if its image is on MLOS_IMAGE_PATH and QEMU for it on PATH
want=""
for a in $arches; do
    if [ "$a" = "ppc?" ]; then
        a=""
        for d in $(echo "${MLOS_IMAGE_PATH:-}" | tr ':' ' '); do
            [ -r "$d/neuro-slave-ppc.elf" ] && command -v qemu-system-ppc >/dev/null && a=ppc
        done
    fi
    want="$want $a"
done
arches=$want
tpl=/usr/share/mricron/templates
py=/usr/bin/python3

[ -x /usr/sbin/apache2 ] || { echo "SKIP: apache2 not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
"$py" -c 'import nibabel, scipy' 2>/dev/null || { echo "SKIP: python3-nibabel/scipy missing"; exit 77; }
[ -r "$tpl/ch2bet.nii.gz" ] || { echo "SKIP: mricron-data not installed"; exit 77; }

work=$(mktemp -d /tmp/neuro-cgi-test.XXXXXX)
storage=$work/storage
fails=0
cleanup() {
    "$src/apache/stop.sh" "$work" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }

# ---- test inputs ----
mkdir -p "$work/in"
"$py" - "$work/in" <<'PYEOF' || { echo "FAIL - cannot make test images"; exit 1; }
import sys, gzip, numpy as np, nibabel as nib
d = sys.argv[1]
img = nib.load('/usr/share/mricron/templates/ch2bet.nii.gz')
a = np.asarray(img.dataobj)
# a small 2 mm image (91 x 109 x 91): quick runs, and the wrong grid for atlases
small = a[::2, ::2, ::2].astype(np.uint8)
aff = img.affine.copy(); aff[:3, :3] *= 2
nib.save(nib.Nifti1Image(small, aff), d + '/small.nii')
# the same head stored left-right flipped (x index toward the left), the
# sform saying so; and one with 1 x 1 x 3 mm voxels (every third slice)
flip = np.ascontiguousarray(a[::-1, :, :])
faff = img.affine @ np.array([[-1, 0, 0, a.shape[0] - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
nib.save(nib.Nifti1Image(flip, faff), d + '/flipped.nii')
thick = np.ascontiguousarray(a[:, :, ::3])
taff = img.affine.copy(); taff[:3, 2] *= 3
nib.save(nib.Nifti1Image(thick, taff), d + '/thick.nii')
# uncompressed ch2bet, and truncated copies
nib.save(nib.Nifti1Image(a, img.affine, img.header), d + '/ch2bet.nii')
raw = open(d + '/ch2bet.nii', 'rb').read()
open(d + '/trunc.nii', 'wb').write(raw[:len(raw) // 3])
gz = open('/usr/share/mricron/templates/ch2bet.nii.gz', 'rb').read()
open(d + '/trunc.nii.gz', 'wb').write(gz[:len(gz) // 2])
# 4-D with two volumes: wrong dimensions
nib.save(nib.Nifti1Image(np.stack([small, small], axis=3), aff), d + '/4d.nii')
# a header that claims 1000^3 voxels with (almost) no data: too large
h = nib.Nifti1Header(); h.set_data_shape((1000, 1000, 1000)); h.set_data_dtype(np.uint8)
open(d + '/huge.nii', 'wb').write(h.binaryblock + b'\0' * 4 + b'\1' * 1000)
open(d + '/hello.nii', 'w').write('hello, this is not an image\n')
# bigger than NEURO_MAX_BYTES (set below) but below LimitRequestBody
open(d + '/big.bin', 'wb').write(b'\0' * (9 << 20))
PYEOF

# ---- server ----
# retention: 64 MiB of storage, so the later requests of this test delete
# the earliest ones (kept checks run right after each request)
keep_bytes=67108864
export NEURO_MAX_BYTES=8388608 NEURO_MAX_SLAVES=4 NEURO_LIMIT_REQUEST_BODY=33554432 NEURO_KEEP_BYTES=$keep_bytes
export NEURO_CGI=$cgi
url=""
for try in 1 2 3 4 5; do
    port=$((20000 + ($$ * 7 + try * 997) % 30000))
    if url=$("$src/apache/start.sh" "$port" "$work" 2>"$work/start.err"); then
        break
    fi
    url=""
    "$src/apache/stop.sh" "$work" >/dev/null 2>&1
done
if [ -z "$url" ]; then
    cat "$work/start.err"
    echo "FAIL - apache did not start"
    exit 1
fi
echo "# server at $url (workdir $work)"

# req NAME EXPECTED_STATUS [curl args...]: the body goes to $work/out/NAME.
mkdir -p "$work/out"
req() {
    name=$1 want=$2
    shift 2
    got=$(curl -s -o "$work/out/$name" -D "$work/out/$name.hdr" -w '%{http_code}' --max-time 900 "$@" "$url")
    if [ "$got" = "$want" ]; then
        ok "$name: HTTP $got"
    else
        bad "$name: HTTP $got, expected $want: $(grep -o 'id="error">[^<]*' "$work/out/$name" 2>/dev/null)"
    fi
}
# has NAME TEXT: the response body contains TEXT (fixed string)
has() {
    if grep -qF -- "$2" "$work/out/$1"; then ok "$1: contains '$2'"; else bad "$1: lacks '$2'"; fi
}
# kept NAME FILE: the request's storage directory holds FILE
kept() {
    id=$(sed -n 's/^X-Neuro-Request: \([^\r]*\).*/\1/p' "$work/out/$1.hdr")
    if [ -n "$id" ] && [ -s "$storage/$id/$2" ]; then ok "$1: kept $2"; else bad "$1: $2 not kept (id '$id')"; fi
}
# no_slaves: no QEMU or slave process of this server is running
no_slaves() {
    left=""
    for env in /proc/[0-9]*/environ; do
        p=${env#/proc/}
        p=${p%/environ}
        if tr '\0' '\n' 2>/dev/null <"$env" | grep -qxF "NEURO_STORAGE=$storage"; then
            left="$left $p($(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | cut -c1-40))"
        fi
    done
    if [ -z "$left" ]; then ok "$1: no CGI or slave processes left"; else bad "$1: left running:$left"; fi
}

# ---- form and methods ----
req get 200
has get '<form id="upload" method="post" enctype="multipart/form-data"'
has get 'name="image"'
has get 'value="brodmann"'
req head 200 -I
req put 405 -X PUT --data-binary x
grep -qi '^Allow: GET, HEAD, POST' "$work/out/put.hdr" && ok "put: Allow header" || bad "put: no Allow header"
req delete 405 -X DELETE
case " $arches " in
    *" ppc "*) has get '<option value="ppc">' ;;
    *) has get '<option value="ppc" disabled>' ;;
esac

# ---- the real thing, compared with the reference ----
"$py" "$src/test/reference.py" "$tpl/ch2bet.nii.gz" >"$work/ref.json" || bad "reference.py failed"
"$py" "$src/test/reference.py" "$tpl/ch2bet.nii.gz" --atlas "$tpl/aal.nii.gz" >"$work/ref_aal.json" ||
    bad "reference.py --atlas failed"

# compare NAME REF: the report's embedded results against reference JSON
compare() {
    if "$py" - "$work/out/$1" "$2" <<'PYEOF'; then ok "$1: matches reference.py"; else bad "$1: differs from reference.py"; fi
import json, re, sys
html = open(sys.argv[1], encoding='utf-8').read()
m = re.search(r'<script type="application/json" id="results">(.*?)</script>', html, re.S)
got, ref = json.loads(m.group(1)), json.load(open(sys.argv[2]))
ok = True
def check(what, a, b, rel=0.005, absolute=0.0):
    global ok
    if abs(a - b) > max(rel * abs(b), absolute):
        print('#  %s: got %r, reference %r' % (what, a, b)); ok = False
for k in range(3):
    check('ml[%d]' % k, got['ml'][k], ref['ml'][k])
    check('center[%d]' % k, got['centers'][k], ref['centers'][k])
print('#  ml %s (reference %s), %d iterations (reference %d), shards %s' % (
    got['ml'], [round(v, 3) for v in ref['ml']], got['iterations'], ref['iterations'],
    [(s['arch'], s['z0'], s['z1']) for s in got['shards']]))
if 'regions' in ref:
    g = {r['label']: r for r in got.get('regions', [])}
    if sorted(g) != [r['label'] for r in ref['regions']]:
        print('#  region labels differ'); ok = False
    else:
        for r in ref['regions']:
            x = g[r['label']]
            if x['voxels'] != r['voxels']:
                print('#  region %d voxels %d vs %d' % (r['label'], x['voxels'], r['voxels'])); ok = False
            check('region %d mean' % r['label'], x['mean_smoothed'], r['mean_smoothed'])
            check('region %d gm_ml' % r['label'], x['gm_ml'], r['gm_ml'], absolute=0.05)
        check('regions total GM', sum(x['gm_ml'] for x in g.values()), sum(r['gm_ml'] for r in ref['regions']))
        if g.get(1, {}).get('name') != 'Precentral_L':
            print('#  region 1 is not named Precentral_L'); ok = False
sys.exit(0 if ok else 1)
PYEOF
}

for arch in $arches; do
    req "ch2bet-$arch" 200 -F "image=@$tpl/ch2bet.nii.gz" -F "kind=$arch" -F slaves=2
    compare "ch2bet-$arch" "$work/ref.json"
    has "ch2bet-$arch" 'id="volumes"'
    has "ch2bet-$arch" 'src="data:image/png;base64,'
    has "ch2bet-$arch" 'id="shards"'
    kept "ch2bet-$arch" results.json
    kept "ch2bet-$arch" report.html
    kept "ch2bet-$arch" axial.png
    kept "ch2bet-$arch" upload-ch2bet.nii.gz
    req "aal-$arch" 200 -F "kind=$arch" -F atlas=aal -F slaves=auto -F sigma=1.5 -F "image=@$tpl/ch2bet.nii.gz"
    compare "aal-$arch" "$work/ref_aal.json"
    has "aal-$arch" '<td class="l" data-v="1" title="labels 1 / 2">Precentral</td>'
    has "aal-$arch" 'id="regions-lr"'
    has "aal-$arch" 'Radiological convention'
    has "aal-$arch" '<span class="mk l">R</span><span class="mk r">L</span><span class="mk t">A</span>'
    has "aal-$arch" 'href="data:text/csv;charset=utf-8;base64,'
    kept "aal-$arch" results.csv
    no_slaves "after $arch runs"
done
# ---- a slave frozen mid-request ----
# As soon as a slave of a running analysis exists it is stopped (SIGSTOP)
# and left so: the pool notices (its process is stopped, no heartbeat),
# kills it and gives its slab to a replacement. The answer must still be
# the reference's, within 5 s of the freeze, with the slab marked replaced,
# and the frozen process must be gone.
freeze_kind=process
case " $arches " in *" x86_64 "*) freeze_kind=x86_64 ;; esac
# slave_pid: a slave (QEMU or a process shard) of this server's requests,
# if one runs: a descendant of a process carrying this server's
# NEURO_STORAGE (the CGI; slaves get an environment of their own)
ours_env() { tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | grep -qxF "NEURO_STORAGE=$storage"; }
slave_pid() {
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        case $(cat "$d/comm" 2>/dev/null) in
            qemu-system-*|neuro-shard-*) ;;
            *) continue ;;
        esac
        a=$p
        for up in 1 2 3 4; do
            a=$(awk '{print $4}' "/proc/$a/stat" 2>/dev/null) || break
            [ -n "$a" ] && [ "$a" -gt 1 ] || break
            ours_env "$a" && { echo "$p"; return; }
        done
    done
}
curl -s -o "$work/out/frozen" -D "$work/out/frozen.hdr" -w '%{http_code}' --max-time 120 \
    -F "image=@$tpl/ch2bet.nii.gz" -F "kind=$freeze_kind" -F atlas=aal -F slaves=2 "$url" >"$work/out/frozen.code" &
curl_pid=$!
frozen=""
for i in $(seq 1 500); do
    frozen=$(slave_pid)
    [ -n "$frozen" ] && break
    sleep 0.02
done
if [ -n "$frozen" ]; then
    # At once: a slave boots and analyses its slab in well under a second,
    # so waiting for it to reach the analysis can miss the request. Frozen
    # during its boot or during its work, it is lost either way and its
    # slab must go to a replacement (counted as replaced).
    kill -STOP "$frozen" 2>/dev/null
    t_freeze=$(date +%s%N)
fi
wait "$curl_pid"
t_answer=$(date +%s%N)
if [ -z "$frozen" ]; then
    bad "frozen: no slave process appeared"
elif [ "$(cat "$work/out/frozen.code")" != 200 ]; then
    bad "frozen: HTTP $(cat "$work/out/frozen.code") with slave $frozen frozen: $(grep -o 'id="error">[^<]*' "$work/out/frozen")"
else
    ms=$(( (t_answer - t_freeze) / 1000000 ))
    if [ "$ms" -lt 5000 ]; then ok "frozen: $freeze_kind slave $frozen frozen, answered $ms ms later"; else
        bad "frozen: answered $ms ms after slave $frozen was frozen (limit 5000)"; fi
    compare frozen "$work/ref_aal.json"
    if "$py" - "$work/out/frozen" <<'PYEOF'; then ok "frozen: a slab was given to a replacement"; else bad "frozen: no slab was replaced"; fi
import json, re, sys
html = open(sys.argv[1], encoding='utf-8').read()
got = json.loads(re.search(r'<script type="application/json" id="results">(.*?)</script>', html, re.S).group(1))
print('#  replaced per slab:', [s['replaced'] for s in got['shards']])
sys.exit(0 if sum(s['replaced'] for s in got['shards']) >= 1 else 1)
PYEOF
fi
if [ -n "$frozen" ] && [ -e "/proc/$frozen" ] && ! grep -q '^State:.*Z' "/proc/$frozen/status" 2>/dev/null; then
    kill -KILL "$frozen" 2>/dev/null
    bad "frozen: slave $frozen is still there"
fi
no_slaves "after the frozen slave"

# ---- orientation and aspect, end to end ----
req flipped 200 -F kind=process -F "image=@$work/in/flipped.nii"
has flipped 'voxel axes LAS'
req thick 200 -F kind=process -F "image=@$work/in/thick.nii"
id_of() { sed -n 's/^X-Neuro-Request: \([^\r]*\).*/\1/p' "$work/out/$1.hdr"; }
"$py" - "$storage/$(id_of ch2bet-process)" "$storage/$(id_of flipped)" "$storage/$(id_of thick)" <<'PYEOF' &&
import struct, sys, zlib
def png(path):
    d = open(path, 'rb').read(); p, idat = 8, b''
    while p < len(d):
        n, t = struct.unpack('>I4s', d[p:p + 8])
        if t == b'IHDR': w, h = struct.unpack('>II', d[p + 8:p + 16])
        if t == b'IDAT': idat += d[p + 8:p + 8 + n]
        p += 12 + n
    raw, s, rows, prev = zlib.decompress(idat), 3 * w, [], bytearray(3 * w)
    for y in range(h):
        f, line = raw[y * (s + 1)], bytearray(raw[y * (s + 1) + 1:(y + 1) * (s + 1)])
        for i in range(s):
            a = line[i - 3] if i >= 3 else 0; b = prev[i]; c = prev[i - 3] if i >= 3 else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            pred = [0, a, b, (a + b) // 2, a if pa <= pb and pa <= pc else b if pb <= pc else c][f]
            line[i] = (line[i] + pred) & 255
        rows.append(bytes(line)); prev = line
    return w, h, b''.join(rows)
ok = True
for view in ('axial', 'coronal', 'sagittal'):
    w1, h1, p1 = png(sys.argv[1] + '/%s.png' % view)
    w2, h2, p2 = png(sys.argv[2] + '/%s.png' % view)
    diff = sum(1 for i in range(0, len(p1), 3) if p1[i:i + 3] != p2[i:i + 3]) if (w1, h1) == (w2, h2) else -1
    print('#  %s: %dx%d vs flipped %dx%d, %d pixels differ' % (view, w1, h1, w2, h2, diff))
    ok &= 0 <= diff <= w1 * h1 // 1000  # segmentation may differ on a few boundary voxels
w, h, _ = png(sys.argv[3] + '/coronal.png')
print('#  1x1x3 mm coronal: %dx%d for 181 x 61 voxels' % (w, h))
ok &= abs(h / w - (61 * 3) / 181) < 0.02
sys.exit(0 if ok else 1)
PYEOF
    ok "orientation: a flipped copy shows the same pictures, thick slices keep their aspect" ||
    bad "orientation: pictures differ for a flipped copy, or the aspect is wrong"
req brodmann 200 -F kind=process -F atlas=brodmann -F "image=@$work/in/ch2bet.nii"
has brodmann 'Brodmann area'
req chunked 200 -H 'Transfer-Encoding: chunked' -F kind=process -F slaves=4 -F "image=@$work/in/small.nii"
has chunked 'id="volumes"'
"$py" - "$storage" <<'PYEOF' && ok "PNG files decode" || bad "PNG files do not decode"
import glob, struct, sys, zlib
files = glob.glob(sys.argv[1] + '/*/axial.png')
assert files
for f in files:
    d = open(f, 'rb').read(); p, idat = 8, b''
    assert d[:8] == b'\x89PNG\r\n\x1a\n'
    while p < len(d):
        n, t = struct.unpack('>I4s', d[p:p + 8])
        assert struct.unpack('>I', d[p + 8 + n:p + 12 + n])[0] == zlib.crc32(d[p + 4:p + 8 + n])
        if t == b'IHDR': w, h = struct.unpack('>II', d[p + 8:p + 16])
        if t == b'IDAT': idat += d[p + 8:p + 8 + n]
        p += 12 + n
    assert len(zlib.decompress(idat)) == h * (3 * w + 1)
PYEOF

# ---- slave kinds, empty images, options as documented ----
case " $arches " in
    *" ppc "*) ;; # ran above, compared with the reference
    *)
        req ppc-missing 422 -F kind=ppc -F "image=@$work/in/small.nii"
        has ppc-missing 'not installed'
        ;;
esac
# kind=ppc refused as a 4xx wherever it cannot run: the CGI run directly
# with no qemu-system-ppc on PATH and no image on MLOS_IMAGE_PATH
"$py" - "$cgi" "$work/in/small.nii" "$storage" >"$work/out/ppc-direct" <<'PYEOF'
import os, subprocess, sys
cgi, img, storage = sys.argv[1:]
b = b'PpcBoundary'
body = (b'--' + b + b'\r\nContent-Disposition: form-data; name="kind"\r\n\r\nppc\r\n--' + b +
        b'\r\nContent-Disposition: form-data; name="image"; filename="small.nii"\r\n\r\n' +
        open(img, 'rb').read() + b'\r\n--' + b + b'--\r\n')
env = {'PATH': '/nonexistent', 'MLOS_IMAGE_PATH': '/nonexistent', 'REQUEST_METHOD': 'POST',
       'CONTENT_TYPE': 'multipart/form-data; boundary=' + b.decode(), 'CONTENT_LENGTH': str(len(body)),
       'NEURO_STORAGE': storage + '-direct'}
r = subprocess.run([cgi], input=body, env=env, capture_output=True)
print(r.stdout.split(b'\n')[0].decode(), '|', r.stderr.decode().strip())
PYEOF
if grep -q '^Status: 422 .*not installed' "$work/out/ppc-direct"; then
    ok "ppc without its image or QEMU: 422 ($(cut -c1-90 "$work/out/ppc-direct"))"
else
    bad "ppc without its image or QEMU: $(cat "$work/out/ppc-direct")"
fi
rm -rf "$storage-direct"
# a storage directory of another user: refused, 500, the reason logged
if [ "$(id -u)" = 0 ]; then
    theirs=$work/theirs
    mkdir -m 777 "$theirs"
    chown 65534:65534 "$theirs"
else
    theirs=/tmp # root's
fi
env -i PATH=/usr/bin:/bin REQUEST_METHOD=POST CONTENT_TYPE='multipart/form-data; boundary=XyZ' CONTENT_LENGTH=0 \
    NEURO_STORAGE="$theirs" "$cgi" </dev/null >"$work/out/theirs" 2>"$work/out/theirs.err"
if head -n 1 "$work/out/theirs" | grep -q '^Status: 500' && grep -q "owned by uid .*refusing" "$work/out/theirs.err"; then
    ok "storage of another user: 500 and '$(cut -c1-80 "$work/out/theirs.err")' in the log"
else
    bad "storage of another user: $(head -n 1 "$work/out/theirs") / $(cat "$work/out/theirs.err")"
fi
"$py" - "$work/in" <<'PYEOF'
import sys, numpy as np, nibabel as nib
nib.save(nib.Nifti1Image(np.zeros((20, 20, 20), np.uint8), np.eye(4)), sys.argv[1] + '/zero.nii')
PYEOF
req zero 422 -F kind=process -F "image=@$work/in/zero.nii"
has zero 'no voxel above zero'
req emptysigma 400 -F sigma= -F "image=@$work/in/small.nii"
# (curl -F trims values: the padded one is sent as a body of our own)
{
    printf -- '--XyZ\r\nContent-Disposition: form-data; name="sigma"\r\n\r\n 1.5\r\n'
    printf -- '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="small.nii"\r\n\r\n'
    cat "$work/in/small.nii"
    printf -- '\r\n--XyZ--\r\n'
} >"$work/in/paddedbody"
req paddedsigma 400 -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary "@$work/in/paddedbody"
has paddedsigma 'sigma'
req hexsigma 400 -F sigma=0x1 -F "image=@$work/in/small.nii"
req expsigma 200 -F sigma=15e-1 -F kind=process -F "image=@$work/in/small.nii"

# ---- storage: private, and retention as requests arrive ----
if [ "$(stat -c %a "$storage")" = 700 ]; then ok "storage directory is 0700"; else
    bad "storage directory mode $(stat -c %a "$storage")"; fi
# a finished request from 2020 and a foreign directory: the next request
# deletes the first (older than NEURO_KEEP_SECONDS' default week), never
# the second
old=20200101T000000Z-1-0badc0de
mkdir -p "$storage/$old" "$storage/not-a-request"
echo "status: 200" >"$storage/$old/request.txt"
[ "$(id -u)" = 0 ] && chown -R "$(stat -c %u:%g "$storage")" "$storage/$old" "$storage/not-a-request"
req retention 200 -F kind=process -F "image=@$work/in/small.nii"
[ ! -e "$storage/$old" ] && ok "retention: a request older than the maximum age was deleted" ||
    bad "retention: $old still there"
grep -q 'neuro-cgi: retention removed' "$work/logs/error.log" && ok "retention: logged in the server's error log" ||
    bad "retention: nothing in the error log"
[ -d "$storage/not-a-request" ] && ok "retention: a foreign directory was left alone" ||
    bad "retention: a foreign directory was deleted"
rmdir "$storage/not-a-request"

# ---- bad input ----
req urlencoded 415 --data 'image=x'
has urlencoded 'multipart/form-data'
req noboundary 400 -H 'Content-Type: multipart/form-data' --data-binary 'x'
req notnifti 400 -F kind=process -F "image=@$work/in/hello.nii"
has notnifti 'NIfTI'
kept notnifti upload-hello.nii
kept notnifti request.body
req truncnii 400 -F kind=process -F "image=@$work/in/trunc.nii"
has truncnii 'truncated'
req truncgz 400 -F kind=process -F "image=@$work/in/trunc.nii.gz"
has truncgz 'truncated'
req badsigma 400 -F sigma=abc -F "image=@$work/in/small.nii"
has badsigma 'sigma'
req badatlas 400 --form-string 'atlas=<b>x</b>' -F "image=@$work/in/small.nii"
has badatlas '&lt;b&gt;x&lt;/b&gt;'
if grep -qF '<b>x</b>' "$work/out/badatlas"; then bad "badatlas: value echoed unescaped"; else ok "badatlas: escaped"; fi
req badkind 400 -F kind=arm64 -F "image=@$work/in/small.nii"
req badslaves 400 -F slaves=99 -F "image=@$work/in/small.nii"
req unknown 400 -F colour=red -F "image=@$work/in/small.nii"
req nofile 400 -F kind=process
req big 413 -F "image=@$work/in/big.bin"
has big 'larger than the limit'
req bigchunked 413 -H 'Transfer-Encoding: chunked' -F "image=@$work/in/big.bin"
kept bigchunked request.body
req huge 413 -F kind=process -F "image=@$work/in/huge.nii"
has huge 'too large'
req 4d 422 -F kind=process -F "image=@$work/in/4d.nii"
has 4d 'dimensions'
req grid 422 -F kind=process -F atlas=aal -F "image=@$work/in/small.nii"
has grid 'atlas grid mismatch'

# A multipart body cut short but with a matching Content-Length (the
# client's file was cut).
head -c 3000 "$work/in/small.nii" >"$work/in/part"
{
    printf -- '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="small.nii"\r\n\r\n'
    cat "$work/in/part"
} >"$work/in/cutbody"
req cutbody 400 -H 'Content-Type: multipart/form-data; boundary="XyZ"' --data-binary "@$work/in/cutbody"
has cutbody 'truncated'
kept cutbody request.body
# The client announces more than it sends and gives up after a pause
# (the CGI is running by then). Apache answers 400 itself and ends the
# CGI, which must still have spooled what arrived.
before=$(ls "$storage" | wc -l)
"$py" - "$port" "$work/in/ch2bet.nii" >"$work/out/shortbody" <<'PYEOF'
import socket, sys, time
data = open(sys.argv[2], 'rb').read()[:1000000]
head = (b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="ch2bet.nii"\r\n\r\n')
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'POST /neuro HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n'
          b'Content-Length: %d\r\nConnection: close\r\n\r\n' % (len(head) + 2 * len(data)) + head + data)
time.sleep(1.5)
s.shutdown(socket.SHUT_WR)  # the client gives up: fewer bytes than announced
s.settimeout(60)
out = b''
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.split(b'\r\n', 1)[0].decode('latin-1'))
PYEOF
status=$(head -n 1 "$work/out/shortbody")
case $status in
    'HTTP/1.1 400'*) ok "shortbody: $status" ;;
    *) bad "shortbody: '$status', expected 400" ;;
esac
sleep 1
newest=$(ls -t "$storage" | head -n 1)
if [ "$(ls "$storage" | wc -l)" -gt "$before" ] && grep -q '^status: 400' "$storage/$newest/request.txt" 2>/dev/null &&
    grep -q 'truncated' "$storage/$newest/request.txt" &&
    [ "$(stat -c %s "$storage/$newest/request.body")" -ge 1000000 ]; then
    ok "shortbody: the partial body was spooled and logged as truncated"
else
    bad "shortbody: no spooled partial body with a 'truncated' outcome"
fi
req toolarge-apache 413 -F "image=@$work/in/big.bin" -F "x=@$work/in/big.bin" -F "y=@$work/in/big.bin" -F "z=@$work/in/big.bin"

no_slaves "after all requests"
used=$(du -sb "$storage" | cut -f1)
if [ "$used" -le "$keep_bytes" ]; then ok "storage holds $used bytes, within NEURO_KEEP_BYTES=$keep_bytes"; else
    bad "storage holds $used bytes, more than NEURO_KEEP_BYTES=$keep_bytes"; fi

# ---- shutdown ----
"$src/apache/stop.sh" "$work"
if pgrep -f "$work/httpd.conf" >/dev/null; then bad "httpd still running"; else ok "httpd stopped"; fi
no_slaves "after stop"
pgrep -af qemu-system | grep -F "$work" && bad "QEMU of this test still running"

echo "# $fails failure(s)"
[ $fails -eq 0 ]
