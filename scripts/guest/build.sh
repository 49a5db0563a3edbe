#!/usr/bin/env bash
# Builds Kloudak's tiny test guest from Debian packages only: Debian's cloud kernel booted directly
# (vmlinuz), a busybox initramfs (busybox init, a serial login, acpid, Debian's dropbear) that applies a
# cloud-init NoCloud seed (initrd.img) and a small qcow2 base disk for templates (disk.qcow2).
# Usage: scripts/guest/build.sh <outdir>
# Idempotent: does nothing when all outputs exist and were built from the same files of this folder (by
# content, not file times: checkouts of other versions share one lab and must not reuse each other's guest).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh <outdir>}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
inputs="$(find "$here" -type f ! -name README.md -print0 | sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)"

up_to_date() {
  local f
  for f in vmlinuz initrd.img disk.qcow2; do [ -f "$out/$f" ] || return 1; done
  [ "$(cat "$out/inputs" 2>/dev/null)" = "$inputs" ]
}
if up_to_date; then
  echo "guest image up to date in $out"
  exit 0
fi

for tool in apt-get apt-cache dpkg cpio gzip qemu-img mkfs.ext4 ldd /usr/sbin/dropbear; do
  command -v "$tool" >/dev/null || { echo "missing $tool (run scripts/install-deps.sh)" >&2; exit 1; }
done
busybox=/bin/busybox
# The static build: the initramfs has no libc to link against.
ldd_out="$(LC_ALL=C ldd "$busybox" 2>&1 || true)"
if ! grep -q 'not a dynamic' <<<"$ldd_out"; then
  echo "$busybox is not static: install busybox-static" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Newest Debian 12 cloud kernel the configured apt sources offer.
pkg="$(apt-cache pkgnames linux-image-6.1.0- | grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | sort -V | tail -1)"
[ -n "$pkg" ] || { echo "no linux-image-6.1.0-*-cloud-amd64 in apt sources (apt-get update?)" >&2; exit 1; }
echo "kernel package: $pkg"
# apt-get download writes to the current directory; _apt cannot write to a root-only mktemp dir.
chmod 755 "$work"
(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1) || (cd "$work" && apt-get download "$pkg")
dpkg -x "$work"/"$pkg"_*.deb "$work/pkg"
kver="${pkg#linux-image-}"
moddir="$work/pkg/lib/modules/$kver"
[ -d "$moddir" ] || { echo "no $moddir in $pkg" >&2; exit 1; }

# Initramfs tree.
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc/init.d,etc/acpi/PWRF,proc,sys,dev,run,tmp,mnt,root,lib/modules,lib/kloudak,usr/bin,usr/sbin}
chmod 1777 "$root/tmp"
# The kernel opens /dev/console for init before anything can mount devtmpfs.
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# PID 1 is busybox init (inittab): it runs rcS (init.sh) at boot, respawns the serial login, and runs rcK
# (shutdown.sh) before it powers off or reboots.
ln -s bin/busybox "$root/init"
install -m 0644 "$here/inittab" "$root/etc/inittab"
install -m 0755 "$here/init.sh" "$root/etc/init.d/rcS"
install -m 0755 "$here/shutdown.sh" "$root/etc/init.d/rcK"
install -m 0644 "$here/yaml.awk" "$here/cloud-config.awk" "$here/network-config.awk" "$root/lib/kloudak/"
install -m 0755 "$here/pingcount.sh" "$root/usr/bin/kloudak-pingcount"
install -m 0755 "$here/listen.sh" "$root/usr/bin/kloudak-listen"
# reboot leaves a mark first, so rcK can say "rebooting" rather than "powering off" (busybox init runs the
# same shutdown action for both).
rm "$root/bin/reboot"
printf '#!/bin/sh\n: >/run/kloudak-reboot\nexec /bin/busybox reboot "$@"\n' >"$root/bin/reboot"
chmod 755 "$root/bin/reboot"
# busybox acpid runs /etc/acpi/<action>/<parameter> for an event: the power button is PWRF/00000080.
printf '#!/bin/sh\nexec /bin/poweroff\n' >"$root/etc/acpi/PWRF/00000080"
chmod 755 "$root/etc/acpi/PWRF/00000080"

# Debian's dropbear with the shared libraries it needs (the initramfs has no libc of its own), found by ldd.
install -m 0755 /usr/sbin/dropbear "$root/usr/sbin/dropbear"
for lib in $(ldd /usr/sbin/dropbear | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# Load order matters (insmod resolves nothing itself): dependencies first. virtio for NICs and disks;
# scsi/ata/cdrom/isofs for the NoCloud seed on an IDE (pc machine) or virtio-scsi cdrom; evdev and button
# for the ACPI power button (an input device acpid reads).
wanted=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net
  virtio_blk scsi_common scsi_mod libata ata_piix virtio_scsi cdrom sr_mod isofs evdev button)
: >"$root/lib/modules/load-order"
for m in "${wanted[@]}"; do
  f="$(find "$moddir/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) | head -1)"
  if [ -z "$f" ]; then
    if grep -qE "/$m\.ko$" "$moddir/modules.builtin"; then
      echo "module $m: built in"
      continue
    fi
    echo "module $m: neither a module nor built into $kver" >&2
    exit 1
  fi
  # busybox insmod cannot read compressed modules: store them plain.
  case "$f" in
    *.ko.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -dc "$f" >"$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
  echo "$m" >>"$root/lib/modules/load-order"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
# No password until the seed sets one: no login on the console, none over SSH but with a key.
echo "root:*:19000:0:99999:7:::" >"$root/etc/shadow"
printf 'root:x:0:\ntty:x:5:\n' >"$root/etc/group"
chmod 600 "$root/etc/shadow"
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
# dropbear's libc looks users up through NSS: plain files (built into glibc).
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
echo "127.0.0.1 localhost" >"$root/etc/hosts"
printf '\nKloudak test guest \\n (\\l)\n\n' >"$root/etc/issue"
cat >"$root/etc/profile" <<'EOF'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='\h:\w\$ '
EOF

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -9) >"$work/initrd.img"

# Base disk: an empty ext4 the guest mounts (it counts its boots there, so a test can tell the
# disk survived a move to another host).
truncate -s 64M "$work/disk.raw"
mkfs.ext4 -q -F -L kloudak-disk "$work/disk.raw"
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"

# Each output appears atomically (tmp + rename): a killed build never leaves a truncated file that looks new.
cp "$work/pkg/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img.tmp" && mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$work/disk.qcow2" "$out/disk.qcow2.tmp" && mv "$out/disk.qcow2.tmp" "$out/disk.qcow2"
echo "$kver" >"$out/kernel-version"
echo "$inputs" >"$out/inputs"
chmod 644 "$out"/vmlinuz "$out"/initrd.img "$out"/disk.qcow2
echo "guest image built in $out (kernel $kver)"
