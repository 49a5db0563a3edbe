#!/bin/sh
# /etc/init.d/rcK of Kloudak's test guest: busybox init runs it on poweroff, reboot and halt (an ACPI power
# button press runs poweroff) before it signals every process and powers off; the disk is left clean.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
echo "kloudak-guest: powering off"
[ -f /run/dropbear.pid ] && kill "$(cat /run/dropbear.pid)" 2>/dev/null
# Whatever a user or runcmd mounted from a disk: unmount it (read-only when busy), then flush.
sync
awk '$1 ~ /^\/dev\// { print $2 }' /proc/mounts | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || mount -o remount,ro "$m" 2>/dev/null
done
sync
echo "kloudak-guest: disks synced and unmounted"
