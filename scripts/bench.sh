#!/usr/bin/env bash
# `npm run bench`: install what is missing (wrk and perf from Debian), build, and run
# bench/run.mjs, which writes bench/RESULTS.md. Takes a few minutes; not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/lib/install.sh
command -v wrk >/dev/null || apt_install wrk
# perf, for where workerd's CPU goes (optional: without it that section says it was skipped).
if ! command -v perf >/dev/null; then
  apt_install linux-perf 2>/dev/null \
    || echo "bench: linux-perf could not be installed; the CPU breakdown will be skipped" >&2
fi
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
bash scripts/build.sh
node bench/run.mjs
