#!/bin/sh
# kloudak-pingcount <ip>: pings <ip> every 100 ms in the background, for as long as the guest runs, and prints
# `kloudak-guest: ping <ip> sent=N received=M` (totals since it started) on the console about once a second.
# Returns at once, so a runcmd item may start it. A live-migration test reads the guest's own loss from it.
case "$1" in
'' | -*)
  echo "usage: kloudak-pingcount <ip>" >&2
  exit 2
  ;;
esac
if [ "$2" != --run ]; then
  setsid "$0" "$1" --run </dev/null >/dev/console 2>&1 &
  exit 0
fi
ip="$1"
sent=0
received=0
while :; do
  # A round of 10 at 100 ms; late replies count for up to a second after the last one is sent.
  out="$(ping -q -c 10 -i 0.1 -W 1 "$ip" 2>&1)"
  s="$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) packets received.*/\1 \2/p')"
  if [ -n "$s" ]; then
    set -- $s
    sent=$((sent + $1))
    received=$((received + $2))
  else
    # ping could not even send (no route yet, say): the round counts as sent and lost.
    sent=$((sent + 10))
    sleep 1
  fi
  echo "kloudak-guest: ping $ip sent=$sent received=$received"
done
