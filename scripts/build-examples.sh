#!/usr/bin/env bash
# Rebuilds what examples/ commits: examples/astro-app/dist (`astro build` with
# @astrojs/cloudflare), deployed as is by tests/integration/apps.test.mjs. Building in CI would
# cost an npm install of ~300 packages (~330 MB, ~30 s here) for a 6 s build, so the output is
# committed; run this after changing the app or its versions, and commit dist/ with it.
# examples/hono-app has nothing to build: wrangler bundles hono at deploy (its test runs `npm ci`,
# one package, ~1 s). npm packages come from the npm registry only (the lock files pin them).
set -euo pipefail
cd "$(dirname "$0")/../examples"
export ASTRO_TELEMETRY_DISABLED=1

t0=$SECONDS
(
  cd astro-app
  npm ci --no-audit --no-fund
  rm -rf dist
  npx --no-install astro build
)
echo "astro-app: npm ci + astro build in $((SECONDS - t0)) s; commit examples/astro-app/dist"

t0=$SECONDS
(cd hono-app && npm ci --no-audit --no-fund)
echo "hono-app: npm ci in $((SECONDS - t0)) s (wrangler bundles it at deploy)"
