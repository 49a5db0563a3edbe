#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts the middleware, type-checks, lints, then runs every
# unit, integration and system test with Node's test runner, and tears the lab hosts down at the end.
# Usage: scripts/test.sh [test files...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# Only the KLOUDAK_TEST_* lines are settings; daemons may print notes of their own (pg_ctlcluster's
# "Removed stale pid file." once broke this).
while IFS= read -r line; do
  if [[ $line =~ ^KLOUDAK_TEST_[A-Z_]+= ]]; then export "${line?}"; else echo "$line" >&2; fi
done < <(scripts/services.sh postgres rabbitmq redis zookeeper)
export KLOUDAK_LAB_DIR=${KLOUDAK_LAB_DIR:-/tmp/kloudak-lab-test}

# The lab's hosts have fixed names and addresses, and the chaos test restarts the middleware: both are one
# per machine. A run that uses them takes this machine-wide lock, so two checkouts testing at once wait for
# each other instead of breaking each other's hosts.
needs_machine=$(( $# == 0 ))
for f in "$@"; do
  case $f in *test/system/* | *test/chaos/* | *test/hardening/secrets* | *bench/*) needs_machine=1 ;; esac
done
if [ "$needs_machine" = 1 ]; then
  exec 9>"${KLOUDAK_TEST_LOCK:-/tmp/kloudak-test.lock}"
  flock -n 9 || { echo "== waiting for another run's lab (${KLOUDAK_TEST_LOCK:-/tmp/kloudak-test.lock})"; flock 9; }
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  echo "== typecheck"; npx tsc --noEmit
  echo "== lint"; npx eslint --max-warnings 0 .
  # The code as Prettier writes it (.prettierrc.json): a line past the width or a stray style fails here.
  npx prettier --check --log-level warn "{src,web/src,test,bench,scripts}/**/*.{ts,tsx,css}"
  if [ -f web/index.html ]; then echo "== dashboard build"; npm run --silent build:web; fi
  mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
  # A whole run starts from fresh lab hosts: whatever an earlier run or a developer left on them (a hung
  # libvirtd, guests, a cut cable) is not this run's to inherit. The QEMU capabilities cache stays.
  echo "== lab down"; ./bin/kloudak.js lab down --dir "$KLOUDAK_LAB_DIR" >/dev/null 2>&1 || true
fi

echo "== tests (${#files[@]} files)"
status=0
# One file at a time: system tests share the lab hosts and the machine has two cores.
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || status=$?
if [ $# -eq 0 ]; then
  echo "== lab down"; ./bin/kloudak.js lab down --dir "$KLOUDAK_LAB_DIR" >/dev/null 2>&1 || true
fi
exit $status
