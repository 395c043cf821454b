#!/usr/bin/env bash
# Install everything keygate needs, idempotently: each step checks first and does nothing when
# its tool is already there at the right version.
#
#   scripts/setup.sh             toolchain for building and running (npm start)
#   scripts/setup.sh --browsers  also the browsers and drivers for the wasm browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

browsers=false
[ "${1:-}" = "--browsers" ] && browsers=true

source scripts/lib/install.sh

# Version of a package as pinned in Cargo.lock.
locked() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock; }

# 1. The wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# 2. wasm-bindgen-cli, exactly Cargo.lock's wasm-bindgen (no --locked: its locked webpki-roots
#    is missing from the registry).
wb=$(locked wasm-bindgen)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wb" ]; then
  say "installing wasm-bindgen-cli $wb"
  cargo install wasm-bindgen-cli --version "$wb" --force
fi

# 3. worker-build, the same version as the worker crate.
wv=$(locked worker)
if ! worker-build --version 2>/dev/null | grep -qE "(^| )v?$wv\$"; then
  say "installing worker-build $wv (a few minutes)"
  cargo install worker-build --version "$wv" --locked --force
fi

# 4. npm dependencies (wrangler, and Node 22 for npm scripts).
if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  # Not `npm ci`: the registry reachable here lacks workerd's darwin/windows builds, so the lock
  # file cannot list them and `npm ci` refuses it. `--no-save` installs the locked versions and
  # leaves package-lock.json untouched.
  npm install --no-save --no-audit --no-fund
fi

# 5. Local secrets, random, generated once each, git-ignored.
touch .dev.vars && chmod 600 .dev.vars
add_secret() {
  if ! grep -q "^$1=" .dev.vars; then
    say "generating $1 in .dev.vars"
    echo "$1=\"$2$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')\"" >> .dev.vars
  fi
}
add_secret KEY_PEPPER ""
add_secret ADMIN_TOKEN "adm_"
add_secret ORIGIN_SIGNING_SECRET "sig_"

if $browsers; then
  # 6. Browsers and drivers from Debian; geckodriver from crates.io.
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v firefox-esr >/dev/null || command -v firefox >/dev/null || missing+=(firefox-esr)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} with apt"
    apt_install "${missing[@]}"
  fi
  if ! command -v geckodriver >/dev/null; then
    say "installing geckodriver from crates.io"
    cargo install geckodriver --locked
  fi
fi
say "ready"
