#!/bin/sh
# /etc/init.d/rcK of Kloudak's test guest: busybox init runs it on poweroff, reboot and halt (an ACPI power
# button press runs poweroff; Ctrl-Alt-Del runs reboot) before it signals every process and powers off or
# resets; the disks are left clean.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
if [ -e /run/kloudak-reboot ]; then
  echo "kloudak-guest: rebooting"
else
  echo "kloudak-guest: powering off"
fi
[ -f /run/dropbear.pid ] && kill "$(cat /run/dropbear.pid)" 2>/dev/null
# Whatever a user or runcmd mounted from a disk: unmount it (read-only when busy), then flush.
sync
awk '$1 ~ /^\/dev\// { print $2 }' /proc/mounts | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || mount -o remount,ro "$m" 2>/dev/null
done
sync
echo "kloudak-guest: disks synced and unmounted"
