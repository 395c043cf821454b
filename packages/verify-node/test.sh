#!/usr/bin/env bash
# The Node verifier's checks: its tests (shared vectors, error codes, properties, middleware),
# then packaging as a user installs it: `npm pack`, the tarball installed into a fresh directory,
# and a smoke verification from there. Idempotent; prints `verify-node: N passed, 0 failed`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PATH="$root/node_modules/.bin:$PATH"
cd "$here"
out=$(node --test --test-reporter=tap test/*.test.mjs 2>&1) || { echo "$out"; exit 1; }
passed=$(echo "$out" | awk '/^# pass /{print $3}')
failed=$(echo "$out" | awk '/^# fail /{print $3}')
[ "$failed" = 0 ] || { echo "$out"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tarball=$(npm pack --silent --pack-destination "$tmp" 2>/dev/null | tail -n1)
mkdir -p "$tmp/app"
cd "$tmp/app"
echo '{"name":"smoke","version":"1.0.0","type":"module","private":true}' > package.json
npm install --silent --no-audit --no-fund --offline "$tmp/$tarball" >/dev/null
cp "$root/crates/keygate-verify/tests/data/signatures.json" vectors.json
cat > smoke.mjs <<'JS'
import fs from "node:fs";
import { verify } from "@keygate/verify";
const c = JSON.parse(fs.readFileSync("vectors.json", "utf8"))[0];
const v = c.inputs;
const headers = { host: v.host, "keygate-signature": c.header, "keygate-account": v.account, "keygate-key-id": v.key_id,
  "keygate-mode": v.mode, "keygate-key-type": v.key_type, "keygate-request-id": v.request_id, "keygate-verified": v.verified };
const id = await verify({ headers, method: v.method, path: v.path }, { secrets: c.secret, now: v.t });
if (id.account !== v.account) throw new Error("smoke verification failed");
console.log(`installed package verified ${id.requestId}`);
JS
node smoke.mjs
# The types ship with it.
test -f node_modules/@keygate/verify/src/index.d.ts
echo "verify-node: $((passed + 1)) passed, 0 failed"
