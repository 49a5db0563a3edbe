#!/usr/bin/env bash
# Installs what Kloudak needs on Debian 12 (as root), idempotently: Debian packages for the middleware, the
# hypervisor hosts and the browser tests, then the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# package.json's engines (and every dependency's) hold from Node 20.19 on; say so plainly instead of npm's warnings.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "Kloudak needs Node.js >= 20.19 (this machine has $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

PACKAGES=(
  postgresql redis-server rabbitmq-server zookeeper
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils openvswitch-switch openssh-server
  genisoimage cpio busybox-static dropbear-bin iproute2 ethtool iputils-ping procps tmux chromium python3-minimal
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
