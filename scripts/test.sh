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

if [ $# -gt 0 ]; then
  files=("$@")
else
  echo "== typecheck"; npx tsc --noEmit
  echo "== lint"; npx eslint --max-warnings 0 .
  if [ -f web/index.html ]; then echo "== dashboard build"; npm run --silent build:web; fi
  mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
fi

echo "== tests (${#files[@]} files)"
status=0
# One file at a time: system tests share the lab hosts and the machine has two cores.
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || status=$?
if [ $# -eq 0 ]; then
  echo "== lab down"; ./bin/kloudak.js lab down --dir "$KLOUDAK_LAB_DIR" >/dev/null 2>&1 || true
fi
exit $status
