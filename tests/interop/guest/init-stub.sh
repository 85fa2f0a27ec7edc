#!/bin/sh
# PID 1 of every interop guest (baked into the image as /sbin/vpnconc-init).
# Kept deliberately tiny and generic: everything scenario-specific arrives
# at boot time over a 9p share (mount tag "cfg"), so changing a scenario
# never requires rebuilding the cached image.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -sfn /run /var/run
mkdir -p /run/lock
echo "VPNCONC-STAGE stub-init uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
modprobe -q 9pnet_virtio; modprobe -q 9p
mkdir -p /mnt/cfg
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 cfg /mnt/cfg \
   && [ -x /mnt/cfg/guest-main.sh ]; then
  exec /bin/bash /mnt/cfg/guest-main.sh
fi
echo "VPNCONC-RESULT fatal=no-config-share" > /dev/ttyS0
echo "VPNCONC-DONE status=fail" > /dev/ttyS0
sync
echo o > /proc/sysrq-trigger
sleep 5
