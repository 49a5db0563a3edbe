#!/bin/sh
# kloudak-listen <port> [text]: a TCP server on <port> in the background that answers every connection with
# `<text>` (default: `kloudak-guest <hostname> port <port>`) and closes it. Returns at once, so a runcmd
# item may start it; prints `kloudak-guest: listening on tcp <port>`. For firewall tests.
port="$1"
case "$port" in
'' | *[!0-9]*)
  echo "usage: kloudak-listen <port> [text]" >&2
  exit 2
  ;;
esac
text="${2:-kloudak-guest $(hostname) port $port}"
# nc -ll: a server that keeps listening after each connection; -e runs echo with the connection as stdout.
setsid nc -ll -p "$port" -e echo "$text" </dev/null >/dev/null 2>&1 &
i=0
while [ $i -lt 50 ] && ! netstat -ltn 2>/dev/null | grep -q ":$port "; do
  sleep 0.1
  i=$((i + 1))
done
if netstat -ltn 2>/dev/null | grep -q ":$port "; then
  echo "kloudak-guest: listening on tcp $port"
else
  echo "kloudak-guest: cannot listen on tcp $port" >&2
  exit 1
fi
