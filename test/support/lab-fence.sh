#!/bin/sh
# The lab's fence agent (compute's FENCE_COMMAND in failover tests): `lab-fence.sh <host> <address> <domain>...`
# kills the qemu processes of those domains inside that lab host's network namespace, as pulling the host's
# power would, leaving the host's daemons (and other tests' guests) alone. Exits 0 once they are gone.
set -u
host=$1; shift 2
ns=$(stat -L -c %i "/run/netns/$host" 2>/dev/null) || { echo "lab-fence: no lab host $host" >&2; exit 2; }
pids=""
for p in $(pgrep -f '^/usr/bin/qemu-system'); do
  [ "$(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null)" = "$ns" ] || continue
  args=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) || continue
  for d in "$@"; do
    case "$args" in *"-name guest=$d,"*) kill -9 "$p" && pids="$pids $p" ;; esac
  done
done
for _ in $(seq 100); do
  alive=""
  for p in $pids; do [ -e "/proc/$p" ] && alive=1; done
  [ -z "$alive" ] && { echo "lab-fence: $host: killed$pids"; exit 0; }
  sleep 0.1
done
echo "lab-fence: $host: still running:$pids" >&2
exit 1
