#!/usr/bin/env bash
# Idempotent setup for a fresh machine or a reused one: Rust wasm target, worker-build,
# wasm-bindgen-cli matching Cargo.lock, npm deps (wrangler on Node 22, binaryen, esbuild),
# .dev.vars with random secrets. Only crates.io and npm are needed (no GitHub downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[setup] $*"; }
t0=$(date +%s)

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

WORKER_BUILD_VERSION=0.8.7
if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (takes ~7 min on 2 cores, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$WBG_VERSION" ]; then
  echo "[setup] cannot find wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WBG_VERSION"; then
  say "installing wasm-bindgen-cli $WBG_VERSION (takes ~6 min, once)"
  # --locked fails for this crate (a locked dependency is missing from the index).
  cargo install wasm-bindgen-cli --version "$WBG_VERSION"
fi

if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/binaryen/bin/wasm-opt ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund
fi

if [ ! -f .dev.vars ]; then
  say "creating .dev.vars with random local secrets"
  {
    echo "API_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } > .dev.vars
fi
# Added later than the others: existing .dev.vars files get it on the next setup run.
if ! grep -q '^SECRETS_KEY=' .dev.vars; then
  say "adding SECRETS_KEY (encrypts project secrets at rest) to .dev.vars"
  echo "SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >> .dev.vars
fi

say "ready in $(( $(date +%s) - t0 )) s"
