#!/usr/bin/env bash
# Starts the middleware daemons on loopback when they are not running (no systemd on our machines), and
# prints the URLs to use. Usage: scripts/services.sh [postgres] [rabbitmq] [redis] [zookeeper]
set -euo pipefail
PG_PASSWORD=${KLOUDAK_PG_PASSWORD:-kloudak}

wait_for() { # what, tries, command...
  local what=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "services: $what did not come up" >&2; return 1
}

start_postgres() {
  if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
    local v; v=$(pg_lsclusters -h | awk 'NR==1{print $1}')
    [ -n "$v" ] || { pg_createcluster 15 main >/dev/null; v=15; }
    pg_ctlcluster "$v" main start >&2
  fi
  wait_for postgres 30 su postgres -c "psql -qAtc 'select 1'"
  su postgres -c "psql -qc \"ALTER USER postgres PASSWORD '$PG_PASSWORD'\"" >/dev/null
  echo "KLOUDAK_TEST_PG=postgres://postgres:$PG_PASSWORD@127.0.0.1:5432"
}

start_rabbitmq() {
  if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    service rabbitmq-server start >/dev/null 2>&1 || rabbitmq-server -detached >&2
  fi
  wait_for rabbitmq 90 rabbitmq-diagnostics -q ping
  echo "KLOUDAK_TEST_AMQP=amqp://guest:guest@127.0.0.1:5672"
}

start_redis() {
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    service redis-server start >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379
  fi
  wait_for redis 30 redis-cli -h 127.0.0.1 ping
  echo "KLOUDAK_TEST_REDIS=redis://127.0.0.1:6379"
}

start_zookeeper() {
  if ! echo ruok | timeout 2 bash -c 'cat > /dev/tcp/127.0.0.1/2181' 2>/dev/null || ! /usr/share/zookeeper/bin/zkServer.sh status >/dev/null 2>&1; then
    mkdir -p /var/lib/zookeeper /var/log/zookeeper
    ZOO_LOG_DIR=/var/log/zookeeper /usr/share/zookeeper/bin/zkServer.sh start >/dev/null 2>&1 || true
  fi
  wait_for zookeeper 60 /usr/share/zookeeper/bin/zkServer.sh status
  echo "KLOUDAK_TEST_ZOOKEEPER=127.0.0.1:2181"
}

for s in "${@:-postgres rabbitmq redis zookeeper}"; do
  for one in $s; do "start_$one"; done
done
