#!/bin/sh
# test_cgi_browser.sh NEURO_CGI OUTDIR -- the report and the form in a real
# browser (headless Chromium), at tablet (768x1024) and desktop (1366x768)
# sizes.
#
# The CGI is run directly (CGI/1.1 environment, no web server) on
# MRIcron's ch2bet with the AAL atlas and process slaves. A copy of the
# report with a checking script appended is loaded in Chromium; the script
# writes its findings into the DOM, which --dump-dom prints. At each size:
# the page does not scroll sideways; every slice image loaded, fits the
# width and keeps its aspect; each carries its four orientation markers
# inside it; the region tables fit without scrolling and their text is at
# least 12 px; clicking a column header sorts the rows (both ways); the CSV
# and JSON download links decode to the results. A copy with an element
# too wide for the page must be reported as overflowing (the check can
# fail). The form: every sigma string of a list is accepted by Chromium's
# validation of the sigma box exactly when the CGI accepts it (a 422 for
# an all-zero image means the options passed, a 400 that they did not).
# Screenshots go to OUTDIR/report-{tablet,desktop}.png.
# Exit 77 (skip) without chromium, python3 or mricron-data.
set -u

cgi=$1
outdir=$2
tpl=/usr/share/mricron/templates
py=/usr/bin/python3
chrome=$(command -v chromium || command -v chromium-browser || true)

[ -n "$chrome" ] || { echo "SKIP: chromium not installed"; exit 77; }
[ -x "$py" ] || { echo "SKIP: python3 missing"; exit 77; }
[ -r "$tpl/ch2bet.nii.gz" ] && [ -r "$tpl/aal.nii.gz" ] || { echo "SKIP: mricron-data not installed"; exit 77; }

work=$(mktemp -d /tmp/neuro-cgi-browser.XXXXXX)
fails=0
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
mkdir -p "$outdir"

export NEURO_STORAGE="$work/storage" NEURO_ATLAS_DIR="$tpl"

# post OUT field=value... [image=@FILE]: run the CGI on a multipart POST;
# prints the status code, the body (headers stripped) goes to OUT
post() {
    "$py" - "$cgi" "$@" <<'PYEOF'
import os, subprocess, sys
cgi, out = sys.argv[1], sys.argv[2]
bnd = b'BrowserTestBoundary7'
body = b''
for a in sys.argv[3:]:
    k, v = a.split('=', 1)
    head = b'--' + bnd + b'\r\nContent-Disposition: form-data; name="' + k.encode() + b'"'
    if v.startswith('@'):
        data = open(v[1:], 'rb').read()
        head += b'; filename="' + os.path.basename(v[1:]).encode() + b'"'
    else:
        data = v.encode()
    body += head + b'\r\n\r\n' + data + b'\r\n'
body += b'--' + bnd + b'--\r\n'
env = dict(os.environ, REQUEST_METHOD='POST', CONTENT_LENGTH=str(len(body)),
           CONTENT_TYPE='multipart/form-data; boundary=' + bnd.decode())
r = subprocess.run([cgi], input=body, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
head, _, page = r.stdout.partition(b'\n\n')
open(out, 'wb').write(page)
print(head.split(b'\n')[0].split()[1].decode() if head.startswith(b'Status:') else 'none')
PYEOF
}

# browse URL WIDTH HEIGHT: the DOM after scripts ran
browse() {
    timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
        --user-data-dir="$work/chrome" --window-size="$2,$3" --virtual-time-budget=10000 \
        --dump-dom "$1" 2>"$work/chrome.err"
}
# shot URL WIDTH HEIGHT PNG: a screenshot of the top of the page
shot() {
    timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
        --user-data-dir="$work/chrome" --window-size="$2,$3" --hide-scrollbars \
        --screenshot="$4" "$1" >/dev/null 2>>"$work/chrome.err"
}

# ---- the report ----
status=$(post "$work/report.html" "image=@$tpl/ch2bet.nii.gz" atlas=aal kind=process slaves=2)
[ "$status" = 200 ] && ok "report: HTTP 200" || { bad "report: HTTP $status"; cat "$work/report.html" | head -c 2000; exit 1; }

cat >"$work/check.js" <<'JSEOF'
<script>
window.addEventListener('load', function () {
  var r = {}, W = window.innerWidth;
  r.width = W;
  r.overflow = document.documentElement.scrollWidth > W;
  var imgs = Array.prototype.slice.call(document.querySelectorAll('.slices img'));
  r.images = imgs.length;
  r.images_ok = imgs.every(function (im) {
    var b = im.getBoundingClientRect();
    var aspect = Math.abs(b.width / b.height - im.naturalWidth / im.naturalHeight);
    return im.complete && im.naturalWidth > 0 && b.right <= W + 0.5 && aspect < 0.02 &&
      im.naturalWidth == im.getAttribute('width') && im.naturalHeight == im.getAttribute('height');
  });
  r.markers_ok = Array.prototype.slice.call(document.querySelectorAll('.frame')).every(function (f) {
    var fb = f.querySelector('img').getBoundingClientRect(), mk = f.querySelectorAll('.mk');
    return mk.length == 4 && Array.prototype.every.call(mk, function (m) {
      var b = m.getBoundingClientRect();
      return b.width > 0 && b.left >= fb.left && b.right <= fb.right && b.top >= fb.top && b.bottom <= fb.bottom;
    });
  });
  var tables = Array.prototype.slice.call(document.querySelectorAll('table.sortable'));
  r.tables = tables.length;
  r.tables_fit = tables.every(function (t) { return t.getBoundingClientRect().width <= t.parentNode.clientWidth + 0.5; });
  r.min_font = Math.min.apply(null, Array.prototype.map.call(document.querySelectorAll('td, th, p'),
    function (e) { return parseFloat(getComputedStyle(e).fontSize); }));
  /* sorting: left GM (mL), column 2 of the paired table */
  var t = document.getElementById('regions-lr'), col = 2;
  function values() {
    return Array.prototype.map.call(t.tBodies[0].rows, function (row) { return +row.cells[col].dataset.v; });
  }
  var before = values(), btn = t.tHead.rows[1].cells[1].querySelector('button');
  r.sort_button = !!btn;
  if (btn) {
    btn.click();
    var up = values();
    btn.click();
    var down = values();
    r.sorted_up = up.every(function (v, i) { return i == 0 || up[i - 1] <= v; }) && up.length == before.length;
    r.sorted_down = down.every(function (v, i) { return i == 0 || down[i - 1] >= v; });
    r.sort_changed = up.join() != before.join();
  }
  /* downloads decode to the results */
  var results = JSON.parse(document.getElementById('results').textContent);
  function decode(id) {
    var h = document.getElementById(id).getAttribute('href');
    return decodeURIComponent(escape(atob(h.slice(h.indexOf(',') + 1))));
  }
  var csv = decode('dl-csv').split('\r\n'), json = JSON.parse(decode('dl-json'));
  r.csv_ok = csv[0] == 'section,label,name,hemisphere,voxels,volume_ml,mean_smoothed,gm_ml' &&
    csv.length == 1 + 3 + results.regions.length + 1 && csv[4].indexOf('region,1,Precentral_L,L,') == 0;
  r.json_ok = json.ml.join() == results.ml.join() && json.regions.length == results.regions.length;
  var pre = document.createElement('pre');
  pre.id = 'check';
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>
JSEOF

# checked COPY DOMFILE: the checker's findings as shell-readable key=value
findings() {
    "$py" - "$1" <<'PYEOF'
import html, json, re, sys
m = re.search(r'<pre id="check">(.*?)</pre>', open(sys.argv[1], encoding='utf-8').read(), re.S)
r = json.loads(html.unescape(m.group(1))) if m else {}
print(json.dumps(r))
for k, v in r.items():
    print('%s=%s' % (k, str(v).lower()))
PYEOF
}
expect() { # FILE KEY VALUE WHAT
    if grep -qx "$2=$3" "$1"; then ok "$4"; else bad "$4 ($(grep "^$2=" "$1" || echo "$2 missing"))"; fi
}

"$py" - "$work" <<'PYEOF'
import sys
w = sys.argv[1]
page = open(w + '/report.html', encoding='utf-8').read()
js = open(w + '/check.js').read()
open(w + '/checked.html', 'w').write(page.replace('</body>', js + '</body>'))
wide = '<div style="width:2000px;height:10px;background:red"></div>'
open(w + '/broken.html', 'w').write(page.replace('</body>', wide + js + '</body>'))
PYEOF

for size in tablet:768:1024 desktop:1366:768; do
    name=${size%%:*} wh=${size#*:}
    w=${wh%:*} h=${wh#*:}
    rm -f "$outdir/report-$name.png"
    shot "file://$work/report.html" "$w" "$h" "$outdir/report-$name.png"
    browse "file://$work/checked.html" "$w" "$h" >"$work/dom-$name.html"
    findings "$work/dom-$name.html" >"$work/f-$name"
    echo "# $name: $(head -n 1 "$work/f-$name")"
    expect "$work/f-$name" width "$w" "$name: viewport $w px wide"
    expect "$work/f-$name" overflow false "$name: no horizontal overflow"
    expect "$work/f-$name" images 3 "$name: three slice images"
    expect "$work/f-$name" images_ok true "$name: images loaded, fit, true aspect"
    expect "$work/f-$name" markers_ok true "$name: four orientation markers on each image"
    expect "$work/f-$name" tables 2 "$name: two sortable region tables"
    expect "$work/f-$name" tables_fit true "$name: region tables fit the width"
    if "$py" -c "import sys; v=[l for l in open(sys.argv[1]) if l.startswith('min_font=')]; sys.exit(0 if v and float(v[0].split('=')[1]) >= 12 else 1)" "$work/f-$name"; then
        ok "$name: text at least 12 px"
    else
        bad "$name: text smaller than 12 px"
    fi
    expect "$work/f-$name" sorted_up true "$name: header click sorts ascending"
    expect "$work/f-$name" sorted_down true "$name: second click sorts descending"
    expect "$work/f-$name" sort_changed true "$name: sorting changed the order"
    expect "$work/f-$name" csv_ok true "$name: CSV download decodes to the results"
    expect "$work/f-$name" json_ok true "$name: JSON download decodes to the results"
    [ -s "$outdir/report-$name.png" ] && ok "$name: screenshot $outdir/report-$name.png" || bad "$name: no screenshot"
done
# the check itself can fail: a page that is too wide is caught
browse "file://$work/broken.html" 768 1024 >"$work/dom-broken.html"
findings "$work/dom-broken.html" >"$work/f-broken"
expect "$work/f-broken" overflow true "control: a 2000 px element is reported as overflow"

# ---- the form's sigma box against the server ----
env REQUEST_METHOD=GET "$cgi" | "$py" -c "
import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d.partition(b'\n\n')[2])" >"$work/form.html"
"$py" - "$work" <<'PYEOF'
import json, sys
w = sys.argv[1]
cands = ['1.5', '0.1', '10', '2', '002', '.5', '1e0', '5e-1', '1E+1', '9.999', '0.15', '',
         ' 1.5', '1.5 ', '+1.5', '0x1', '1.', 'inf', 'nan', '-1', '0.09', '10.01', '1e2', '1,5', 'abc', '1e']
json.dump(cands, open(w + '/cands.json', 'w'))
js = '''<script>
window.addEventListener('load', function () {
  var s = document.getElementById('sigma'), out = {};
  %s.forEach(function (c) {
    /* what a user types: an invalid string makes the number box empty,
       which its required attribute refuses */
    s.value = c;
    out[c] = s.value === c && s.checkValidity();
  });
  var pre = document.createElement('pre'); pre.id = 'sigma-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>''' % json.dumps(cands)
page = open(w + '/form.html', encoding='utf-8').read()
open(w + '/form-checked.html', 'w').write(page.replace('</body>', js + '</body>'))
# an all-zero 8x8x8 uint8 image: options that pass get a 422 for it
import struct
h = bytearray(352)
struct.pack_into('<i', h, 0, 348)
struct.pack_into('<8h', h, 40, 3, 8, 8, 8, 1, 1, 1, 1)
struct.pack_into('<hh', h, 70, 2, 8)
struct.pack_into('<8f', h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
struct.pack_into('<f', h, 108, 352)
h[344:348] = b'n+1\0'
open(w + '/zero.nii', 'wb').write(bytes(h) + bytes(512))
PYEOF
browse "file://$work/form-checked.html" 768 1024 >"$work/dom-form.html"
"$py" - "$work/dom-form.html" "$work/cands.json" >"$work/browser-sigma" <<'PYEOF'
import html, json, re, sys
m = re.search(r'<pre id="sigma-check">(.*?)</pre>', open(sys.argv[1], encoding='utf-8').read(), re.S)
got = json.loads(html.unescape(m.group(1))) if m else {}
for c in json.load(open(sys.argv[2])):
    print('%s\t%s' % ('accept' if got.get(c) else ('refuse' if c in got else 'missing'), c))
PYEOF
n=0
while IFS="$(printf '\t')" read -r verdict cand; do
    n=$((n + 1))
    status=$(post "$work/sigma-$n.html" "image=@$work/zero.nii" "sigma=$cand" kind=process)
    case $status in
        422) server=accept ;;
        400) server=refuse ;;
        *) server="status-$status" ;;
    esac
    if [ "$verdict" = "$server" ]; then
        ok "sigma '$cand': browser and server both $verdict"
    else
        bad "sigma '$cand': browser $verdict, server $server"
    fi
done <"$work/browser-sigma"
[ "$n" -ge 20 ] && ok "sigma: $n values compared" || bad "sigma: only $n values compared"
# the all-zero image itself: 422 with a reason, not a 500
grep -q 'no voxel above zero' "$work/sigma-1.html" && ok "all-zero image: 422 names the reason" ||
    bad "all-zero image: no reason given"

echo "# $fails failure(s)"
[ $fails -eq 0 ]
