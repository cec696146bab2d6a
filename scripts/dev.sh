#!/usr/bin/env bash
# Applies local D1 migrations and starts `wrangler dev` with local state in .wrangler/state.
# Extra arguments go to wrangler dev (e.g. `npm run dev -- --port 8790`).
set -euo pipefail
cd "$(dirname "$0")/.."
CI=true wrangler d1 migrations apply DB --local
exec wrangler dev --local "$@"
