#!/bin/busybox sh
# test/verbs/init.sh -- /init of the Soft-RoCE guest (see guest_image.py).
#
# Brings up an rxe device on a dummy netdev (rxe sends to its own address
# through its loopback path, so no NIC is emulated), then runs the command
# the host passed base64-encoded in the kernel parameter mlos_cmd (the
# kernel hands unknown parameters to init as environment variables).
# Output ends with one line the host parses:
#   MLOS-VERBS-RESULT rc=N      N: the command's exit status, or 90+ when
#                               the guest could not set up RDMA
# and the guest powers off (QEMU runs with -no-reboot, so it exits).
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

finish() {
    echo "MLOS-VERBS-RESULT rc=$1"
    sync
    poweroff -f
    sleep 5
}

IP=${mlos_ip:-10.0.2.15}
echo "MLOS-VERBS-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
for m in $(cat /etc/mlos/modules); do
    insmod "$m" || { echo "insmod $m failed"; finish 90; }
done
ip link set lo up
ip link show dummy0 >/dev/null 2>&1 || ip link add dummy0 type dummy || finish 91
ip addr add "$IP/24" dev dummy0 && ip link set dummy0 up || finish 91
rdma link add rxe0 type rxe netdev dummy0 || { echo "rdma link add failed"; finish 92; }
rdma link show
ulimit -l unlimited 2>/dev/null
echo "MLOS-VERBS-READY uptime=$(cut -d' ' -f1 /proc/uptime)"

cd /tmp
cmd=$(echo "$mlos_cmd" | base64 -d)
echo "MLOS-VERBS-RUN $cmd"
t0=$(cut -d' ' -f1 /proc/uptime)
sh -c "$cmd"
rc=$?
echo "MLOS-VERBS-TIME start=$t0 end=$(cut -d' ' -f1 /proc/uptime)"
finish $rc
