#!/bin/sh
# /init of Kloudak's test guest (busybox sh, PID 1). Applies the tiny cloud-init NoCloud subset that
# scripts/guest/README.md documents, then reports `kloudak-guest up <hostname> <ip>` on the serial console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "kloudak-guest: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run/seed /mnt/seed /mnt/disk
mount -t tmpfs tmpfs /run
mkdir -p /run/seed
exec </dev/console >/dev/console 2>&1
# Keep kernel chatter off the console: tests read it line by line.
dmesg -n 1

while read -r m; do
  insmod "/lib/modules/$m.ko" 2>/dev/null || say "insmod $m failed"
done </lib/modules/load-order
ip link set lo up

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

# --- YAML subset -> flat records. Values may be bare, "double" (\" and \\ escapes) or 'single' quoted.
AWK_LIB='
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function unq(s,   out, i, c) {
  s = trim(s)
  if (s ~ /^".*"$/) {
    s = substr(s, 2, length(s) - 2); out = ""
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c == "\\" && i < length(s)) { i++; c = substr(s, i, 1); if (c == "n") c = "\n"; else if (c == "t") c = "\t" }
      out = out c
    }
    return out
  }
  if (s ~ /^\047.*\047$/) { s = substr(s, 2, length(s) - 2); gsub(/\047\047/, "\047", s); return s }
  sub(/[ \t]+#.*$/, "", s)
  return s
}
function indent(s) { match(s, /^ */); return RLENGTH }
'
# meta-data and user-data: H <hostname>, P <password>, R <runcmd line>.
records="$(awk "$AWK_LIB"'
/^[ \t]*(#.*)?$/ { next }
{ ind = indent($0); line = substr($0, ind + 1) }
ind == 0 { inrun = 0 }
ind == 0 && line ~ /^local-hostname:/ { if (h == "") h = unq(substr(line, 16)); next }
ind == 0 && line ~ /^hostname:/ { h = unq(substr(line, 10)); next }
ind == 0 && line ~ /^password:/ { print "P " unq(substr(line, 10)); next }
ind == 0 && line ~ /^runcmd:/ { inrun = 1; next }
inrun && line ~ /^- / { print "R " unq(substr(line, 3)); next }
END { if (h != "") print "H " h }
' /run/seed/meta-data /run/seed/user-data)"

# network-config (version 2): one record per ethernets entry: id|mac|set-name|addr,addr|gateway.
ifaces="$(awk "$AWK_LIB"'
function flush() { if (id != "") print id "|" mac "|" name "|" addrs "|" gw; id = "" }
/^[ \t]*(#.*)?$/ { next }
{ ind = indent($0); line = substr($0, ind + 1) }
ind == 0 { flush(); section = line; sub(/:.*/, "", section); inaddr = 0; next }
section != "ethernets" { next }
ind == 2 && line ~ /:$/ { flush(); id = substr(line, 1, length(line) - 1); mac = ""; name = ""; addrs = ""; gw = ""; inaddr = 0; next }
inaddr && line ~ /^- / && ind >= addrind { a = unq(substr(line, 3)); addrs = addrs (addrs == "" ? "" : ",") a; next }
{ inaddr = 0 }
line ~ /^macaddress:/ { mac = tolower(unq(substr(line, 12))); next }
line ~ /^set-name:/ { name = unq(substr(line, 10)); next }
line ~ /^addresses:/ {
  v = unq(substr(line, 11))
  if (v ~ /^\[/) { gsub(/[][" \047]/, "", v); addrs = v } else { inaddr = 1; addrind = ind }
  next
}
line ~ /^gateway4:/ { gw = unq(substr(line, 10)); next }
line ~ /^(- )?to:/ { v = line; sub(/^(- )?to:/, "", v); v = unq(v); isdef = (v == "default" || v == "0.0.0.0/0"); next }
line ~ /^(- )?via:/ { v = line; sub(/^(- )?via:/, "", v); if (isdef && gw == "") gw = unq(v); next }
END { flush() }
' /run/seed/network-config)"

# --- hostname and root password.
hostname="$(echo "$records" | sed -n 's/^H //p' | tail -1)"
[ -n "$hostname" ] || hostname=kloudak-guest
hostname "$hostname"
echo "$hostname" >/etc/hostname
password="$(echo "$records" | sed -n 's/^P //p' | tail -1)"
if [ -n "$password" ]; then
  hash="$(mkpasswd -m sha512 "$password")"
  echo "root:$hash:19000:0:99999:7:::" >/etc/shadow
fi

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

# --- the template disk, when attached: count boots there (shows a disk survived a move).
if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt/disk 2>/dev/null; then
  boots=$(($(cat /mnt/disk/boots 2>/dev/null || echo 0) + 1))
  echo "$boots" >/mnt/disk/boots
  sync
  umount /mnt/disk
  say "disk vda boots=$boots"
fi

# --- runcmd, in order, output on the console.
n=0
echo "$records" | sed -n 's/^R //p' >/run/runcmd
while IFS= read -r cmd; do
  n=$((n + 1))
  say "runcmd $n: $cmd"
  sh -c "$cmd" </dev/null
  say "runcmd $n exit $?"
done </run/runcmd

echo "kloudak-guest up $hostname ${first_ip:-none}"
while :; do sleep 3600; done
