#!/bin/busybox sh
# The guest's init (tools/armtest): modules, network, the hw/v4l2 tests
# against vivid, then camd with a password set through camctl.
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
for m in $(cat /modules.order); do
	case "$m" in
	vivid.ko) insmod /lib/modules/$m n_devs=1 node_types=0x1 || echo "ARMTEST insmod $m failed" ;;
	*) insmod /lib/modules/$m || echo "ARMTEST insmod $m failed" ;;
	esac
done
echo "ARMTEST modules loaded: $(ls /dev/video* 2>/dev/null)"
ip link set lo up
ip link set eth0 up
# The host's loopback is 10.0.2.2 on this network; no default route, so
# nothing else is reachable.
ip addr add 10.0.2.15/24 dev eth0
echo "ARMTEST network: $(ip -4 addr show eth0 | grep inet)"
echo "ARMTEST uname: $(uname -m) $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"

start=$(cut -d' ' -f1 /proc/uptime)
PEERCAM_V4L2_DEVICE=/dev/video0 /v4l2.test -test.v -test.timeout 120s 2>&1
echo "ARMTEST v4l2test rc=$? started=$start"

mkdir -p /state
/camd -config /camd.yaml &
i=0
while [ ! -e /state/identity.key ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
/camctl -state /state passwd < /password
echo "ARMTEST passwd rc=$?"
echo "ARMTEST id $(/camctl -state /state id -json)"
wait
echo "ARMTEST camd exited"
poweroff -f
