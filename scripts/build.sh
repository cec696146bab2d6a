#!/usr/bin/env bash
# Builds the Worker's two wasm modules with worker-build (src/js/main.mjs says why two):
#   build/       the full build (management API, MCP, queue, cron; loaded on first use)
#   build/site/  the visitor-only build (`--features site`; every request enters it first)
# pointing worker-build at locally installed tools because its own downloads come from GitHub,
# which is unreachable here (TOOLCHAIN.md).
#   FLOTILLA_SKIP_BUILD=1  reuse build/ as is (the test harness builds once, then starts wrangler)
#   FLOTILLA_NO_OPT=1      skip wasm-opt (faster dev builds, larger wasm)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FLOTILLA_SKIP_BUILD:-}" = "1" ] && [ -f build/index.js ] && [ -f build/site/index.js ]; then
  exit 0
fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/binaryen/bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/esbuild/bin/esbuild}"
# worker-build sets WASM_BINDGEN_USE_JS_SYS, which cargo does not track: keep its artifacts
# apart from plain `cargo build/clippy --target wasm32` runs.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/worker-build}"
args=(--release)
if [ "${FLOTILLA_NO_OPT:-}" = "1" ]; then args+=(--no-opt); fi
# The full build first: worker-build empties its out-dir, and build/site/ lives inside build/.
worker-build "${args[@]}"
exec worker-build "${args[@]}" --out-dir build/site . --features site
