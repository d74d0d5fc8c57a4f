#!/bin/sh
# The reference keeps up with the code: every environment variable the
# sources read (getenv("NAME")) is in docs/guide/environment.rst, every
# task registered in shards/tasks (MLOS_TASK("name", ...)) is in
# docs/guide/builtin-tasks.rst.
#   check_coverage.sh SOURCE_ROOT
set -eu
top=$1
fail=0
vars=$(grep -rhoE 'getenv\("[A-Za-z0-9_]+"\)' --include='*.c' --include='*.h' \
        "$top/master" "$top/rpc" "$top/libos" "$top/hal" "$top/shards" "$top/tools" "$top/examples" "$top/test" |
    sed 's/getenv("\(.*\)")/\1/' | sort -u)
for v in $vars; do
    grep -q "\`\`$v\`\`" "$top/docs/guide/environment.rst" || { echo "not documented: environment variable $v" >&2; fail=1; }
done
tasks=$(grep -rhoE 'MLOS_TASK\("[^"]+"' "$top/shards/tasks" | sed 's/MLOS_TASK("//; s/"$//' | sort -u)
for t in $tasks; do
    grep -q "^\`\`$t\`\`\$" "$top/docs/guide/builtin-tasks.rst" || { echo "not documented: built-in task $t" >&2; fail=1; }
done
[ -n "$vars" ] && [ -n "$tasks" ] || { echo "found nothing to check: patterns out of date?" >&2; fail=1; }
[ "$fail" = 0 ] && echo "ok: $(echo "$vars" | wc -w) variables, $(echo "$tasks" | wc -w) tasks"
exit "$fail"
