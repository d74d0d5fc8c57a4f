#!/bin/sh
# start.sh PORT WORKDIR -- run neuro-cgi under a private Apache httpd.
#
# Generates WORKDIR/httpd.conf from httpd.conf.in (prefork MPM, mod_cgi,
# ScriptAlias /neuro to the CGI), starts /usr/sbin/apache2 on
# 127.0.0.1:PORT, waits until GET /neuro answers 200, and prints the URL.
# Everything it writes lives in WORKDIR: run/ (pid, mutexes), logs/
# (error.log, access.log with %D microseconds, cgi.log), storage/ (the
# CGI's per-request directories), htdocs/. Stop it with stop.sh WORKDIR.
#
# Environment (all optional):
#   NEURO_CGI         the neuro-cgi executable; default: the first built one
#                     in build-cgi/ or build/ of this source tree
#   MLOS_IMAGE_PATH   where the CGI's master finds slave images and helpers
#   NEURO_STORAGE     default WORKDIR/storage
#   NEURO_MAX_BYTES   CGI upload limit, default 134217728 (128 MiB)
#   NEURO_MAX_VOXELS  default 50331648;  NEURO_MAX_SLAVES  default 8
#   NEURO_ATLAS_DIR   default /usr/share/mricron/templates
#   NEURO_KVM         1: x86_64 slaves under KVM (real hosts), default 0
#   NEURO_SLURM       1: each request's slaves on a Slurm allocation (srun
#                     starts one mlos-node per node), default 0; with
#                     NEURO_SLURM_NODES (1), NEURO_SLURM_PARTITION,
#                     NEURO_SLURM_TIMEOUT (30 s), NEURO_SLURM_TIME_LIMIT
#                     (10 min), NEURO_SLURM_HOST,
#                     NEURO_AGENT (see cgi/config.h)
#   NEURO_KEEP_SECONDS, NEURO_KEEP_BYTES  storage retention (the CGI's
#                     defaults when unset: 7 days, 4 GiB)
#   NEURO_LIMIT_REQUEST_BODY  Apache's LimitRequestBody, default twice
#                     NEURO_MAX_BYTES (so the CGI's clearer 413 comes first)
#   NEURO_HTTPD_USER  when run as root: the user the workers (and so the
#                     CGI and its slaves) run as, default www-data; Apache
#                     refuses to serve as root
#   APACHE2           default /usr/sbin/apache2
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 PORT WORKDIR" >&2
    exit 2
fi
port=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
apache=${APACHE2:-/usr/sbin/apache2}

case $port in
    ''|*[!0-9]*) echo "start.sh: bad port '$port'" >&2; exit 2 ;;
esac
if [ -z "${NEURO_CGI:-}" ]; then
    for c in "$top/build-cgi/examples/neuro-cgi/cgi/neuro-cgi" "$top/build/examples/neuro-cgi/cgi/neuro-cgi"; do
        if [ -x "$c" ]; then NEURO_CGI=$c; break; fi
    done
fi
if [ -z "${NEURO_CGI:-}" ] || [ ! -x "$NEURO_CGI" ]; then
    echo "start.sh: neuro-cgi not found; build it or set NEURO_CGI" >&2
    exit 1
fi
[ -x "$apache" ] || { echo "start.sh: $apache not found (apt-get install apache2)" >&2; exit 1; }

mkdir -p "$work"
work=$(cd "$work" && pwd)
cgi=$(cd "$(dirname "$NEURO_CGI")" && pwd)/$(basename "$NEURO_CGI")
storage=${NEURO_STORAGE:-$work/storage}
max_bytes=${NEURO_MAX_BYTES:-134217728}
limit=${NEURO_LIMIT_REQUEST_BODY:-$((max_bytes * 2))}
[ "$limit" -le 2147483647 ] || limit=2147483647 # Apache's maximum
mkdir -p "$work/run" "$work/logs" "$work/htdocs" "$storage"
chmod 700 "$storage" # uploads are medical images: the server's user only
: >"$work/logs/cgi.log"

# Apache drops root for its workers; the CGI then runs as that user and
# must be able to reach the program, its libraries, the slave images and
# the storage directory.
user_group=""
if [ "$(id -u)" = 0 ]; then
    user=${NEURO_HTTPD_USER:-www-data}
    group=$(id -gn "$user")
    user_group="User $user
Group $group"
    chmod 755 "$work"
    chown "$user:$group" "$storage" "$work/logs/cgi.log"
    for p in "$cgi" $(echo "${MLOS_IMAGE_PATH:-}" | tr ':' ' '); do
        [ -e "$p" ] || continue
        if ! setpriv --reuid="$user" --regid="$group" --clear-groups test -r "$p"; then
            echo "start.sh: $p is not readable by $user (the CGI's user); check directory permissions" >&2
            exit 1
        fi
    done
fi

# Extra variables the CGI should see, e.g. MLOS_VERBOSE for slave consoles.
extra=""
for v in MLOS_VERBOSE MLOS_IMAGE_DIR NEURO_KEEP_SECONDS NEURO_KEEP_BYTES; do
    eval "val=\${$v:-}"
    [ -n "$val" ] && extra="$extra
SetEnv $v \"$val\""
done

# sed with '|' delimiters: escape '|', '&' and '\' in substituted values
esc() { printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'; }
{
    sed -e "s|@WORKDIR@|$(esc "$work")|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@CGI@|$(esc "$cgi")|g" \
        -e "s|@CGI_DIR@|$(esc "$(dirname "$cgi")")|g" \
        -e "s|@STORAGE@|$(esc "$storage")|g" \
        -e "s|@LIMIT_REQUEST_BODY@|$limit|g" \
        -e "s|@NEURO_MAX_BYTES@|$max_bytes|g" \
        -e "s|@NEURO_MAX_VOXELS@|${NEURO_MAX_VOXELS:-50331648}|g" \
        -e "s|@NEURO_MAX_SLAVES@|${NEURO_MAX_SLAVES:-8}|g" \
        -e "s|@NEURO_KVM@|$(esc "${NEURO_KVM:-0}")|g" \
        -e "s|@NEURO_SLURM@|$(esc "${NEURO_SLURM:-0}")|g" \
        -e "s|@NEURO_SLURM_NODES@|$(esc "${NEURO_SLURM_NODES:-1}")|g" \
        -e "s|@NEURO_SLURM_PARTITION@|$(esc "${NEURO_SLURM_PARTITION:-}")|g" \
        -e "s|@NEURO_SLURM_TIMEOUT@|$(esc "${NEURO_SLURM_TIMEOUT:-30}")|g" \
        -e "s|@NEURO_SLURM_TIME_LIMIT@|$(esc "${NEURO_SLURM_TIME_LIMIT:-10}")|g" \
        -e "s|@NEURO_SLURM_HOST@|$(esc "${NEURO_SLURM_HOST:-}")|g" \
        -e "s|@NEURO_AGENT@|$(esc "${NEURO_AGENT:-}")|g" \
        -e "s|@NEURO_ATLAS_DIR@|$(esc "${NEURO_ATLAS_DIR:-/usr/share/mricron/templates}")|g" \
        -e "s|@MLOS_IMAGE_PATH@|$(esc "${MLOS_IMAGE_PATH:-}")|g" \
        -e "/@USER_GROUP@/d" -e "/@EXTRA_ENV@/d" "$here/httpd.conf.in"
    printf '%s\n%s\n' "$user_group" "$extra"
} >"$work/httpd.conf"

# The global environment must not leak in: Apache passes only what the
# configuration sets (plus PATH) to CGI programs.
if ! env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C "$apache" -f "$work/httpd.conf" -k start; then
    echo "start.sh: apache2 failed to start:" >&2
    cat "$work/logs/error.log" >&2 2>/dev/null || true
    exit 1
fi

url="http://127.0.0.1:$port/neuro"
i=0
while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)
    [ "$code" = 200 ] && break
    i=$((i + 1))
    if [ $i -ge 100 ]; then
        echo "start.sh: no answer from $url after 10 s (last status '$code'):" >&2
        tail -n 20 "$work/logs/error.log" >&2 2>/dev/null || true
        "$here/stop.sh" "$work" >/dev/null 2>&1 || true
        exit 1
    fi
    sleep 0.1
done
echo "$url"
