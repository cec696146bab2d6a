#!/usr/bin/env bash
# Lint for src/js (the JS glue): objects of the Rust builds' classes are never freed by hand.
# worker-build wraps each exported class in a Proxy, and `.free()` through it leaves the object
# registered with its FinalizationRegistry, which frees the allocation again later: a double
# free that corrupts the wasm heap (src/js/main.mjs NEVER_FREE has the measurements).
set -uo pipefail
cd "$(dirname "$0")/.."
hits=$(grep -rnE '\.free\(\)|\[Symbol\.dispose\]|\busing\s' src/js --include='*.mjs' --include='*.js' | grep -v '^\s*//' | grep -vE '^[^:]+:[0-9]+:\s*(\*|//)')
if [ -n "$hits" ]; then
  echo "check-js-glue: src/js frees wasm objects by hand (see NEVER_FREE in src/js/main.mjs):"
  echo "$hits"
  exit 1
fi
echo "check-js-glue: ok"
