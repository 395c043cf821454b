#!/usr/bin/env bash
# `npm start`: install what is missing, build, and run keygate locally under wrangler dev (HTTPS,
# local KV and Durable Objects) in front of a demo echo origin; then print demo keys and curls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
bash scripts/build.sh
exec node scripts/demo.mjs
