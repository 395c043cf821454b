#!/usr/bin/env bash
# Run every fuzz target for RUNS inputs (default 1,000,000) and print one summary line each.
#   bash fuzz/run.sh [RUNS]
# Needs nightly and cargo-fuzz (cargo install cargo-fuzz --locked). Exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")"
runs="${1:-1000000}"
status=0
for target in credential key signature admin_json leak_report key_format; do
  log="$(mktemp)"
  if cargo +nightly fuzz run "$target" -- -runs="$runs" -rss_limit_mb=2048 >"$log" 2>&1; then
    result="ok"
  else
    result="CRASH (see fuzz/artifacts/$target)"
    status=1
  fi
  done_line=$(grep -E "^Done [0-9]+ runs" "$log" | tail -1 || true)
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1 || true)
  echo "$target: $result; ${done_line:-no summary}; $cov"
  [ "$result" = ok ] || tail -30 "$log"
  rm -f "$log"
done
exit $status
