#!/usr/bin/env bash
# Build the worker bundles. wrangler runs this as its build command.
#   bash scripts/build.sh        both: the full worker (build/) and the lean edge (build-edge/)
#   bash scripts/build.sh full   the full worker only: wrangler.toml's bundle
#   bash scripts/build.sh edge   the lean edge only (no `authority` feature): wrangler.edge.toml's
#   bash scripts/build.sh rust-passthrough   the benchmark's bare Rust pass-through (bench/)
#   bash scripts/build.sh test-clock   the full worker with the `test-clock` feature
#                                      (build-test-clock/): keygate's own e2e tests only
# worker-build would download wasm-bindgen and esbuild; point it at the local ones instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Test harnesses build once, then start several `wrangler dev`s that must not rebuild in parallel.
which="${1:-both}"
case "$which" in
  full) dirs=(build) ;;
  edge) dirs=(build-edge) ;;
  both) dirs=(build build-edge) ;;
  rust-passthrough) dirs=(bench/rust-passthrough/build) ;;
  test-clock) dirs=(build-test-clock) ;;
  *) echo "usage: $0 [full|edge|both|rust-passthrough|test-clock]" >&2; exit 2 ;;
esac
if [ -n "${KEYGATE_SKIP_BUILD:-}" ]; then
  missing=0
  for d in "${dirs[@]}"; do [ -f "$d/worker/shim.mjs" ] || missing=1; done
  [ "$missing" = 0 ] && exit 0
fi
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_BINDGEN_BIN
if [ -x node_modules/esbuild/bin/esbuild ]; then
  export ESBUILD_BIN="$PWD/node_modules/esbuild/bin/esbuild"
fi
for d in "${dirs[@]}"; do
  if [ "$d" = build ]; then
    worker-build --release
  elif [ "$d" = build-test-clock ]; then
    worker-build --release --out-dir build-test-clock . --features test-clock
  elif [ "$d" = bench/rust-passthrough/build ]; then
    (cd bench/rust-passthrough && CARGO_TARGET_DIR="$OLDPWD/target/rust-passthrough" worker-build --release)
  else
    worker-build --release --out-dir build-edge . --no-default-features
  fi
done
