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

# examples/sveltekit-app: the `sv create` demo template with @sveltejs/adapter-cloudflare
# (`npx sv create --template demo --types ts --add sveltekit-adapter=adapter:cloudflare+cfTarget:workers`,
# then wrangler dropped from its devDependencies: the repository's wrangler is used). Commits the
# adapter's assets directory (.svelte-kit/cloudflare) and worker/_worker.js, the adapter's worker
# as wrangler bundles it (its imports need node_modules, ~70 packages, which a deploy then would).
build_sveltekit() {
  local t0=$SECONDS
  (
    cd sveltekit-app
    npm ci --no-audit --no-fund
    rm -rf .svelte-kit worker
    # The adapter writes its worker where wrangler's `main` says: build with the generated value,
    # then let wrangler bundle it into worker/ (the committed config's `main`).
    cp wrangler.jsonc wrangler.jsonc.committed
    trap 'mv -f wrangler.jsonc.committed wrangler.jsonc' EXIT
    sed -i 's|"main": "./worker/_worker.js"|"main": ".svelte-kit/cloudflare/_worker.js"|' wrangler.jsonc
    npx --no-install vite build
    npx --prefix ../.. --no-install wrangler deploy --dry-run --outdir worker
    rm -f worker/_worker.js.map worker/README.md
  )
  echo "sveltekit-app: npm ci + vite build + wrangler bundle in $((SECONDS - t0)) s; commit examples/sveltekit-app/.svelte-kit/cloudflare and worker/"
}
build_sveltekit
