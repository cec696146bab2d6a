#!/usr/bin/env bash
# Runs every test: native unit tests, lints (host + wasm32), then the integration tests that
# build the wasm Worker, start `wrangler dev` on a free port and drive it over HTTP.
# Ends with one summary line "N passed, M failed" and a non-zero exit on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
log=$(mktemp -d)
fail=0

echo "== native unit tests =="
cargo test --workspace 2>&1 | tee "$log/unit.txt"
unit_rc=${PIPESTATUS[0]}
unit_pass=$(grep -E '^test result:' "$log/unit.txt" | awk '{s += $4} END {print s + 0}')
unit_fail=$(grep -E '^test result:' "$log/unit.txt" | awk '{s += $6} END {print s + 0}')
[ "$unit_rc" -ne 0 ] && { fail=1; [ "$unit_fail" -eq 0 ] && unit_fail=1; }

echo "== lint: self-contained, clippy (host, wasm32 full and visitor builds) and rustfmt =="
lint_rc=0
bash scripts/check-self-contained.sh || lint_rc=1
bash scripts/check-js-glue.sh || lint_rc=1
cargo clippy --workspace --all-targets -- -D warnings || lint_rc=1
CARGO_TARGET_DIR=target/clippy-wasm cargo clippy --target wasm32-unknown-unknown -- -D warnings || lint_rc=1
CARGO_TARGET_DIR=target/clippy-wasm cargo clippy --target wasm32-unknown-unknown --features site -- -D warnings || lint_rc=1
cargo fmt --all -- --check >/dev/null || { echo "cargo fmt: files need formatting (run cargo fmt)"; lint_rc=1; }
[ "$lint_rc" -ne 0 ] && fail=1

echo "== integration tests (wasm Worker under wrangler dev) =="
node tests/run-integration.mjs 2>&1 | tee "$log/int.txt"
int_rc=${PIPESTATUS[0]}
int_line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$log/int.txt" | tail -1)
int_pass=$(echo "$int_line" | awk '{print $2 + 0}')
int_fail=$(echo "$int_line" | awk '{print $4 + 0}')
[ "$int_rc" -ne 0 ] && { fail=1; [ "${int_fail:-0}" -eq 0 ] && int_fail=1; }

lint_fail=$lint_rc
total_pass=$(( unit_pass + ${int_pass:-0} ))
total_fail=$(( unit_fail + ${int_fail:-0} + lint_fail ))
echo
echo "== summary: unit ${unit_pass} passed/${unit_fail} failed; lint $([ $lint_rc -eq 0 ] && echo clean || echo FAILED); integration ${int_pass:-0} passed/${int_fail:-0} failed; $(( $(date +%s) - t0 )) s =="
echo "${total_pass} passed, ${total_fail} failed"
exit $fail
