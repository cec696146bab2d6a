// Flotilla's main module: the Rust Worker (worker-build output) plus one entrypoint that Rust
// cannot declare itself (workers-rs has no WorkerEntrypoint classes and no ctx.exports).
//
// AssetBinding is the `ASSETS` fetcher handed to each deployment's server code, created as
// `ctx.exports.AssetBinding({ props: { deploymentId, projectId } })`. Props are set by the
// platform when it builds the loader's env and cannot be changed by the code holding the
// binding, so a tenant's code can only ever read its own deployment's assets.
import { WorkerEntrypoint } from 'cloudflare:workers';
import Flotilla from '../../build/index.js';

export { McpSession } from '../../build/index.js';

/** Names the Rust side reads from `env` (never present in the real env). */
const MAKE_ASSETS = '__FLOTILLA_MAKE_ASSETS';
const ASSETS_FOR = '__FLOTILLA_ASSETS_FOR';
/** This invocation's ctx.waitUntil: a deploy runs its workflow at once under it (Rust reads it). */
const WAIT_UNTIL = '__FLOTILLA_WAIT_UNTIL';

// Built here rather than in Rust: wasm-bindgen calls functions through `.call`, and reading
// `.call` on an RPC stub is itself an RPC method lookup.
function platformEnv(env, ctx) {
  const makeAssets = (deploymentId, projectId) => ctx.exports.AssetBinding({ props: { deploymentId, projectId } });
  return envWith(env, { [MAKE_ASSETS]: makeAssets, [WAIT_UNTIL]: (p) => ctx.waitUntil(p) });
}

function envWith(env, extra) {
  const out = Object.create(env);
  for (const [k, v] of Object.entries(extra)) Object.defineProperty(out, k, { value: v, enumerable: false });
  return out;
}

/**
 * One Worker Loader dispatch for src/platform/loader.rs, in a single call across the wasm
 * boundary (piece by piece, the request copy, stub lookups, timer and response copy cost more
 * than the platform's own routing). Rust decides everything; this only carries it out:
 * - `url` (or `undefined`) replaces the request's URL, `prefix` ('' for none) becomes the only
 *   `X-Forwarded-Prefix` (a visitor's own is dropped); untouched requests are not copied;
 * - `loadCode(env, projectId, deploymentId, outbound)` is the Rust code builder, called by the
 *   loader only for a cold isolate;
 * - resolves to the user code's Response, to `undefined` after `timeoutMs`, or to whatever
 *   else the code returned (Rust reports it); rejects when the code threw.
 */
globalThis.__flotillaDispatch = async function dispatch(loader, isolateId, loadCode, env, projectId, deploymentId, outbound, request, url, prefix, timeoutMs) {
  let forwarded = request;
  if (url !== undefined || prefix !== '' || request.headers.has('x-forwarded-prefix')) {
    forwarded = new Request(url ?? request.url, request);
    forwarded.headers.delete('x-forwarded-prefix');
    if (prefix !== '') forwarded.headers.set('x-forwarded-prefix', prefix);
  }
  const stub = loader.get(isolateId, () => loadCode(env, projectId, deploymentId, outbound));
  const pending = stub.getEntrypoint().fetch(forwarded);
  let timer;
  const expired = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); });
  try {
    return await Promise.race([pending, expired]);
  } finally {
    clearTimeout(timer);
  }
};

export default class extends WorkerEntrypoint {
  fetch(request) {
    return new Flotilla(this.ctx, platformEnv(this.env, this.ctx)).fetch(request);
  }

  queue(batch) {
    return new Flotilla(this.ctx, platformEnv(this.env, this.ctx)).queue(batch);
  }
}

export class AssetBinding extends WorkerEntrypoint {
  fetch(request) {
    const { deploymentId, projectId } = this.ctx.props ?? {};
    if (typeof deploymentId !== 'string' || typeof projectId !== 'string') {
      return new Response('asset binding without a deployment', { status: 500 });
    }
    return new Flotilla(this.ctx, envWith(this.env, { [ASSETS_FOR]: { deploymentId, projectId } })).fetch(request);
  }
}
