#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running Kloudak: installs what is missing, then
# runs every service in one process on the embedded backends (`kloudak up`). Extra arguments go to `kloudak up`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f web/dist/index.html ] || [ ! -f web/index.html ] || npm run build:web
exec ./bin/kloudak.js up "$@"
