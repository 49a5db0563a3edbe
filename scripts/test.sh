#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts the middleware, type-checks, lints, then runs every
# unit, integration and system test with Node's test runner. Usage: scripts/test.sh [test files...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
while IFS= read -r line; do export "${line?}"; done < <(scripts/services.sh postgres rabbitmq redis zookeeper)

if [ $# -gt 0 ]; then
  files=("$@")
else
  echo "== typecheck"; npx tsc --noEmit
  echo "== lint"; npx eslint --max-warnings 0 .
  mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
fi
echo "== tests (${#files[@]} files)"
# One file at a time: system tests share the lab hosts and the machine has two cores.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
