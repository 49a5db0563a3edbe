#!/bin/sh
# /etc/init.d/rcS of Kloudak's test guest, run once per boot by busybox init (PID 1, see inittab) before the
# serial login. Applies the cloud-init NoCloud subset that scripts/guest/README.md documents, starts the ACPI
# and SSH daemons, runs bootcmd/runcmd and reports `kloudak-guest up <hostname> <ip>` on the serial console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "kloudak-guest: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/seed /run/cloud/runcmd /run/cloud/bootcmd /mnt/seed /mnt/disk
# Keep kernel chatter off the console: tests read it line by line.
dmesg -n 1

while read -r m; do
  insmod "/lib/modules/$m.ko" 2>/dev/null || say "insmod $m failed"
done </lib/modules/load-order
ip link set lo up
# ACPI: the power button (virsh shutdown, and libvirt's ACPI reboot) runs /etc/acpi/PWRF/00000080 (poweroff).
acpid -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid || say "acpid failed"

# Facts a test compares with the domain's definition (after a resize, for instance).
say "cpus $(nproc) mem_kib $(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"

# --- find the NoCloud seed: an ISO9660 volume labelled cidata (label at byte 32808, 32 bytes).
is_cidata() {
  label="$(dd if="$1" bs=1 skip=32808 count=32 2>/dev/null | tr -d ' \000')"
  [ "$label" = "cidata" ] || [ "$label" = "CIDATA" ]
}
seed=""
i=0
while [ -z "$seed" ] && [ $i -lt 50 ]; do
  for d in /dev/sr* /dev/hd* /dev/vd* /dev/sd*; do
    [ -b "$d" ] && is_cidata "$d" && seed="$d" && break
  done
  [ -n "$seed" ] || { sleep 0.2; i=$((i + 1)); }
done
if [ -n "$seed" ] && mount -t iso9660 -o ro "$seed" /mnt/seed; then
  cp /mnt/seed/* /run/seed/ 2>/dev/null
  umount /mnt/seed
else
  say "no NoCloud seed (no cdrom labelled cidata)"
fi
touch /run/seed/meta-data /run/seed/user-data /run/seed/network-config

# --- the YAML subset (cloud-config.awk, network-config.awk): files in /run/cloud, records for the NICs.
awk -v out=/run/cloud -f /lib/kloudak/yaml.awk -f /lib/kloudak/cloud-config.awk \
  /run/seed/meta-data /run/seed/user-data || say "cannot read user-data"
ifaces="$(awk -f /lib/kloudak/yaml.awk -f /lib/kloudak/network-config.awk /run/seed/network-config)"

# Each command of a list, in order, with its output on the console.
run_list() {
  n=0
  for f in /run/cloud/"$1"/*; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    say "$1 $n: $(head -1 "$f")"
    sh "$f" </dev/null
    say "$1 $n exit $?"
  done
}

# --- hostname and root password.
hostname="$(cat /run/cloud/hostname 2>/dev/null)"
[ -n "$hostname" ] || hostname=kloudak-guest
hostname "$hostname"
echo "$hostname" >/etc/hostname
echo "127.0.1.1 $hostname" >>/etc/hosts
have_password=""
if [ -s /run/cloud/password ]; then
  hash="$(mkpasswd -m sha512 -P 0 </run/cloud/password)"
  echo "root:$hash:19000:0:99999:7:::" >/etc/shadow
  have_password=1
fi
rm -f /run/cloud/password

run_list bootcmd

# --- SSH: dropbear on port 22; root's keys from ssh_authorized_keys; passwords only with ssh_pwauth: true
# and a password. In the background: generating the host key waits for the kernel's random pool, which
# under TCG fills a second or two into boot, while the network and the disk are set up.
start_ssh() {
  mkdir -p /root/.ssh /etc/dropbear
  chmod 700 /root /root/.ssh
  keys=0
  if [ -s /run/cloud/ssh_authorized_keys ]; then
    cp /run/cloud/ssh_authorized_keys /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
    keys=$(grep -c . /root/.ssh/authorized_keys)
  fi
  pwauth=off
  [ "$(cat /run/cloud/ssh_pwauth 2>/dev/null)" = true ] && [ -n "$have_password" ] && pwauth=on
  noauth=-s
  [ "$pwauth" = on ] && noauth=""
  if dropbear -R -p 22 -P /run/dropbear.pid $noauth; then
    say "ssh on port 22: $keys keys, password login $pwauth"
  else
    say "dropbear failed"
  fi
  touch /run/ssh-done
}
start_ssh &

# --- interfaces, matched by MAC (NICs may appear a moment after virtio_net loads).
dev_by_mac() {
  for n in /sys/class/net/*; do
    [ "$(cat "$n/address" 2>/dev/null)" = "$1" ] && { echo "${n##*/}"; return 0; }
  done
  return 1
}
first_ip=""
have_gw=""
echo "$ifaces" | while IFS='|' read -r id mac name addrs gw; do
  [ -n "$id" ] || continue
  dev=""
  i=0
  while [ $i -lt 25 ]; do
    if [ -n "$mac" ]; then dev="$(dev_by_mac "$mac")"; elif [ -e "/sys/class/net/$id" ]; then dev="$id"; fi
    [ -n "$dev" ] && break
    sleep 0.2
    i=$((i + 1))
  done
  if [ -z "$dev" ]; then
    say "no interface for $id (mac $mac)"
    continue
  fi
  if [ -n "$name" ] && [ "$name" != "$dev" ]; then
    ip link set dev "$dev" name "$name" && dev="$name"
  fi
  ip link set dev "$dev" up
  for a in $(echo "$addrs" | tr ',' ' '); do
    ip addr add "$a" dev "$dev" || say "cannot add $a to $dev"
    [ -n "$first_ip" ] || { first_ip="${a%%/*}"; echo "$first_ip" >/run/first-ip; }
  done
  if [ -n "$gw" ] && [ -z "$have_gw" ]; then
    ip route add default via "$gw" dev "$dev" && have_gw=1
  fi
  say "$dev ($mac) addresses ${addrs:-none} gateway ${gw:-none}"
done
first_ip="$(cat /run/first-ip 2>/dev/null)"

# --- the template disk, when attached: count boots there (shows a disk survived a move, or a snapshot's
# revert). Unmounted again at once: a forced power-off never finds it dirty.
if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt/disk 2>/dev/null; then
  boots=$(($(cat /mnt/disk/boots 2>/dev/null || echo 0) + 1))
  echo "$boots" >/mnt/disk/boots
  sync
  umount /mnt/disk
  say "disk vda boots=$boots"
fi

# Up means every service runs: wait for SSH (bounded: a guest without it still comes up).
i=0
while [ ! -e /run/ssh-done ] && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done

run_list runcmd

echo "kloudak-guest up $hostname ${first_ip:-none}"
