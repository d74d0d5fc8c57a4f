# test/multihost/slurm_env.sh -- start/stop a private single-node Slurm
# (munged + slurmctld + slurmd, all as root, all state under $SLURM_TMP).
# Sourced by test_slurm.sh. Functions return non-zero with a reason in
# $SLURM_SKIP when Slurm cannot run here.

slurm_start() {
    SLURM_TMP=$(mktemp -d /tmp/mlos-slurm.XXXXXX) || return 1
    local t=$SLURM_TMP
    mkdir -p "$t/munge" "$t/state" "$t/spool" "$t/log" "$t/run"
    chmod 700 "$t/munge"
    # munged refuses group/world-writable parents of its socket dir.
    chmod 755 "$t"
    if ! mungekey -c -k "$t/munge/munge.key" -b 1024 2>"$t/log/mungekey.err"; then
        dd if=/dev/urandom of="$t/munge/munge.key" bs=1024 count=1 2>/dev/null
    fi
    chmod 400 "$t/munge/munge.key"
    MUNGE_SOCK=$t/munge/munge.socket
    munged --force -S "$MUNGE_SOCK" --key-file="$t/munge/munge.key" \
        --pid-file="$t/run/munged.pid" --log-file="$t/log/munged.log" --seed-file="$t/munge/seed" \
        2>"$t/log/munged.err" || { SLURM_SKIP="munged does not start: $(tail -c 300 "$t/log/munged.err")"; return 1; }
    # Fixed ports unlikely to clash; the test is not parallel.
    cat >"$t/slurm.conf" <<CONF
ClusterName=mlostest
SlurmctldHost=localhost
SlurmctldPort=${MLOS_SLURMCTLD_PORT:-16817}
SlurmdPort=${MLOS_SLURMD_PORT:-16818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/linear
ReturnToService=2
StateSaveLocation=$t/state
SlurmdSpoolDir=$t/spool/slurmd-%n
SlurmctldPidFile=$t/run/slurmctld.pid
SlurmdPidFile=$t/run/slurmd.pid
SlurmctldLogFile=$t/log/slurmctld.log
SlurmdLogFile=$t/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=5
KillWait=2
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=10 State=UP
CONF
    export SLURM_CONF=$t/slurm.conf
    slurmctld -i -f "$SLURM_CONF" 2>"$t/log/slurmctld.err" \
        || { SLURM_SKIP="slurmctld does not start: $(tail -c 300 "$t/log/slurmctld.err") $(tail -n 3 "$t/log/slurmctld.log" 2>/dev/null)"; return 1; }
    slurmd -f "$SLURM_CONF" 2>"$t/log/slurmd.err" \
        || { SLURM_SKIP="slurmd does not start: $(tail -c 300 "$t/log/slurmd.err") $(tail -n 3 "$t/log/slurmd.log" 2>/dev/null)"; return 1; }
    local i state
    for i in $(seq 1 60); do
        state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n1)
        case "$state" in idle*) return 0 ;; esac
        sleep 0.5
    done
    SLURM_SKIP="node never became idle (state '$state'); slurmd log: $(tail -n 5 "$t/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
    return 1
}

_kill_pidfile() {
    local f=$1 pid i
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
}

slurm_stop() {
    [ -n "${SLURM_TMP:-}" ] && [ -d "$SLURM_TMP" ] || return 0
    if [ -n "${SLURM_CONF:-}" ]; then
        scancel --full --quiet -u root 2>/dev/null || true
    fi
    _kill_pidfile "$SLURM_TMP/run/slurmd.pid"
    _kill_pidfile "$SLURM_TMP/run/slurmctld.pid"
    _kill_pidfile "$SLURM_TMP/run/munged.pid"
    if [ -n "${MLOS_KEEP_SLURM_LOGS:-}" ]; then
        echo "slurm logs kept in $SLURM_TMP/log" >&2
    else
        rm -rf "$SLURM_TMP"
    fi
    SLURM_TMP=
}
