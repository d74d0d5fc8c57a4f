#!/bin/sh
# stop.sh WORKDIR -- stop the Apache started by start.sh PORT WORKDIR.
#
# Asks the server to stop (SIGTERM to the parent, which ends its workers),
# waits up to 10 s, then SIGKILLs it. Afterwards any process still carrying
# this server's NEURO_STORAGE in its environment -- a CGI that outlived its
# worker, or that CGI's slaves -- is killed by pid, so nothing of this
# server is left running. Safe to call when nothing runs.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 WORKDIR" >&2
    exit 2
fi
work=$(cd "$1" 2>/dev/null && pwd) || exit 0
pidfile=$work/run/httpd.pid
apache=${APACHE2:-/usr/sbin/apache2}

if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$apache" -f "$work/httpd.conf" -k stop 2>/dev/null ||
            kill -TERM "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
fi

# Stragglers: match the exact storage setting from our generated config.
storage=$(sed -n 's/^SetEnv NEURO_STORAGE "\(.*\)"$/\1/p' "$work/httpd.conf" 2>/dev/null)
if [ -n "$storage" ]; then
    for env in /proc/[0-9]*/environ; do
        p=${env#/proc/}
        p=${p%/environ}
        [ "$p" = $$ ] && continue
        if tr '\0' '\n' 2>/dev/null <"$env" | grep -qxF "NEURO_STORAGE=$storage"; then
            kill -KILL "$p" 2>/dev/null
        fi
    done
fi
exit 0
