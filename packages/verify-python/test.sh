#!/usr/bin/env bash
# The Python verifier's checks: its unit tests against the source tree (shared vectors, every
# refusal, tolerance, properties, WSGI and ASGI middleware, the echo origin), then packaging as a
# user installs it: a fresh virtual environment, `pip install --no-index --no-build-isolation`
# (offline: the in-tree build backend needs nothing), and a smoke verification with the installed
# copy from outside the source tree. Idempotent, from any directory; the last line is
# `verify-python: N passed, 0 failed`. PYTHON=python3.X to pick the interpreter.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# The project's venv for this package (kept between runs; made again if broken).
venv="$root/.e2e/venv-verify-python"
if ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
  rm -rf "$venv"
  mkdir -p "$root/.e2e"
  "$python" -m venv "$venv"
fi

cd "$here"
out=$(PYTHONPATH="$here/src" "$venv/bin/python" -m unittest discover -s tests -t tests 2>&1) && ok=1 || ok=0
ran=$(printf '%s\n' "$out" | sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\} in .*/\1/p' | tail -n1)
skipped=$(printf '%s\n' "$out" | sed -n 's/^OK (skipped=\([0-9][0-9]*\))$/\1/p' | tail -n1)
if [ "$ok" != 1 ] || [ -z "$ran" ] || [ "$ran" = 0 ]; then
  printf '%s\n' "$out"
  echo "verify-python: unit tests failed"
  exit 1
fi

# Packaging: install into a fresh venv offline, then use the installed copy from elsewhere.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
if ! log=$("$tmp/venv/bin/pip" install --no-index --no-build-isolation "$here" 2>&1); then
  printf '%s\n' "$log"
  echo "verify-python: offline install failed"
  exit 1
fi
cp "$root/crates/keygate-verify/tests/data/signatures.json" "$tmp/vectors.json"
cat > "$tmp/smoke.py" <<'PY'
import json, os, sys
import keygate_verify
from keygate_verify import verify

installed = os.path.dirname(keygate_verify.__file__)
assert installed.startswith(sys.prefix), f"not the installed copy: {installed}"
assert os.path.isfile(os.path.join(installed, "py.typed")), "py.typed is not installed"
c = json.load(open("vectors.json", encoding="utf-8"))[0]
v = c["inputs"]
headers = {"Host": v["host"], "Keygate-Signature": c["header"], "Keygate-Account": v["account"],
           "Keygate-Key-Id": v["key_id"], "Keygate-Mode": v["mode"], "Keygate-Key-Type": v["key_type"],
           "Keygate-Request-Id": v["request_id"], "Keygate-Verified": v["verified"]}
identity = verify(headers, v["method"], v["host"], v["path"], c["secret"], now=v["t"])
assert identity.account == v["account"] and identity.signed_at == v["t"], identity
print(f"installed package verified {identity.request_id}")
PY
(cd "$tmp" && "$tmp/venv/bin/python" -I smoke.py)

passed=$((ran - ${skipped:-0}))
echo "verify-python: $passed passed, 0 failed${skipped:+, $skipped skipped}"
