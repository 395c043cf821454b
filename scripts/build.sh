#!/usr/bin/env bash
# Build the worker bundle (build/worker/shim.mjs + wasm). wrangler runs this as its build command.
# worker-build would download wasm-bindgen and esbuild; point it at the local ones instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Test harnesses build once, then start several `wrangler dev`s that must not rebuild in parallel.
if [ -n "${KEYGATE_SKIP_BUILD:-}" ] && [ -f build/worker/shim.mjs ]; then
  exit 0
fi
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_BINDGEN_BIN
if [ -x node_modules/esbuild/bin/esbuild ]; then
  export ESBUILD_BIN="$PWD/node_modules/esbuild/bin/esbuild"
fi
exec worker-build --release
