#!/usr/bin/env bash
# `npm test`: install what is missing, then run every test layer; any failure fails the run.
#   1. native: cargo test (core unit tests with known-answer vectors, property tests), formatting,
#      lints, and the benchmarks built (not run)
#   2. browsers: wasm-bindgen-test of the core in headless Chromium and Firefox
#   3. e2e: end to end through real workerd (wrangler dev) with local KV and Durable Objects
#   4. bundles: wrangler deploy --dry-run of the full worker and of the lean edge
#   5. packages: the origin's verifier packages for Node and Python, their tests and their
#      installation as users install them (npm pack, pip install into a fresh venv)
#
# `npm test -- native` (or browser, e2e, bundles, packages; several may be named) runs only those
# layers. With no argument, all five run: that is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
all=(native browser e2e bundles packages)
layers=("$@")
[ ${#layers[@]} -eq 0 ] && layers=("${all[@]}")
for l in "${layers[@]}"; do
  case " ${all[*]} " in *" $l "*) ;; *) echo "usage: npm test [-- native|browser|e2e|bundles|packages ...]" >&2; exit 2 ;; esac
done
wants() { case " ${layers[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

mkdir -p .e2e
log=.e2e/test.log
exec > >(tee "$log") 2>&1
# The browser layer and the e2e layer (the portal and console in Chromium) need the browsers.
if wants browser || wants e2e; then bash scripts/setup.sh --browsers; else bash scripts/setup.sh; fi
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if wants native; then
  step "native: format, lints, cargo test"
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  cargo clippy --target wasm32-unknown-unknown --quiet -- -D warnings
  # The lean edge build (wrangler.edge.toml) is the same crate without the `authority` feature.
  cargo clippy --target wasm32-unknown-unknown --no-default-features --quiet -- -D warnings
  # keygate's own e2e build with a settable test-mode authority clock (tests/e2e/test-clock).
  cargo clippy --target wasm32-unknown-unknown --features test-clock --quiet -- -D warnings
  cargo test --workspace
  # The benchmarks are not run here (too slow and noisy), but they must always build.
  cargo bench --workspace --no-run --quiet
  # (e), the Rust pass-through, lives outside the workspace: clippy builds it for its target.
  cargo fmt --manifest-path bench/rust-passthrough/Cargo.toml -- --check
  CARGO_TARGET_DIR="$PWD/target/rust-passthrough" cargo clippy --manifest-path bench/rust-passthrough/Cargo.toml \
    --target wasm32-unknown-unknown --quiet -- -D warnings
  node --check bench/run.mjs && node --check bench/profile.mjs && node --check bench/lib.mjs
fi

if wants browser; then
  step "browsers: wasm-bindgen-test of keygate-core in headless Chromium and Firefox"
  CHROMEDRIVER="$(command -v chromedriver)" WASM_BINDGEN_USE_BROWSER=1 \
    cargo test -p keygate-core --target wasm32-unknown-unknown --test browser
  GECKODRIVER="$(command -v geckodriver)" WASM_BINDGEN_USE_BROWSER=1 \
    cargo test -p keygate-core --target wasm32-unknown-unknown --test browser
fi

if wants e2e || wants bundles; then
  bash scripts/build.sh
fi

if wants e2e; then
  bash scripts/build.sh test-clock
  step "e2e: end to end through workerd"
  node tests/e2e/run.mjs
fi

if wants bundles; then
  step "bundles: wrangler deploy --dry-run, the full worker and the lean edge"
  for config in wrangler.toml wrangler.edge.toml; do
    rm -rf .e2e/dist
    KEYGATE_SKIP_BUILD=1 CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false \
      wrangler deploy --dry-run --config "$config" --outdir .e2e/dist
    test -n "$(find .e2e/dist -name '*.wasm' -size +1k)"
  done
  # The lean edge's budget: its wasm, gzip -9, at most 200 KB (what `npm run bench` reports).
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    const n = zlib.gzipSync(fs.readFileSync("build-edge/index_bg.wasm"), { level: 9 }).length;
    console.log(`lean edge: ${(n / 1000).toFixed(1)} KB gzipped (budget 200 KB)`);
    if (n > 200000) { console.error("the lean edge is over its 200 KB budget"); process.exit(1); }
  '
fi

if wants packages; then
  step "packages: the origin's verifiers for Node and Python"
  bash packages/verify-node/test.sh
  bash packages/verify-python/test.sh
fi

# One closing line over the layers that ran: cargo's and node's own counts, added up.
passed=$(grep -aoE 'test result: ok\. [0-9]+ passed|ℹ pass [0-9]+|^verify-(node|python): [0-9]+ passed' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
echo "test layers passed: ${layers[*]}"
echo "npm test: $passed passed, 0 failed"
