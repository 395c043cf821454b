#!/usr/bin/env bash
# `npm run bench`: install what is missing (wrk and perf from Debian), build, and run
# bench/run.mjs, which writes bench/RESULTS.md. Takes a few minutes; not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
# perf, for where workerd's CPU goes (optional: without it that section says it was skipped).
if ! command -v perf >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq linux-perf >/dev/null 2>&1 \
    || echo "bench: linux-perf could not be installed; the CPU breakdown will be skipped" >&2
fi
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
bash scripts/build.sh
node bench/run.mjs
