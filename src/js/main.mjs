// Flotilla's main module: the Rust Worker (worker-build output, in two builds) plus what Rust
// cannot declare itself (workers-rs has no WorkerEntrypoint classes and no ctx.exports).
//
// Two wasm modules from the one crate (scripts/build.sh):
// - build/site/: the visitor-only build (`--features site`): sites on `<slug>.<domain>`, path
//   mode and custom domains, the ASSETS binding. Every request enters it first; it is the only
//   one a visitor's cold start instantiates.
// - build/: the full build: the management API, /client/v4, MCP (and its Durable Object), the
//   dashboard, the queue consumer and the cron trigger. Imported on first use only: the site
//   build marks a request it does not serve (`__FLOTILLA_FORWARD`) and it goes here.
// The two share nothing but this isolate: their caches stay in step through src/js/bridge.mjs
// (src/platform/serve/cache.rs has the rules).
//
// AssetBinding is the `ASSETS` fetcher handed to each deployment's server code, created as
// `ctx.exports.AssetBinding({ props: { deploymentId, projectId } })`. Props are set by the
// platform when it builds the loader's env and cannot be changed by the code holding the
// binding, so a tenant's code can only ever read its own deployment's assets.
import { DurableObject, WorkerEntrypoint } from 'cloudflare:workers';
// Before the builds: each registers its cache hook with it as it is instantiated.
import './bridge.mjs';
import Site from '../../build/site/index.js';
// Module sources for tenant isolates, not code of ours (wrangler.toml bundles them as Text):
// the D1 and R2 APIs built around our entrypoint stubs (src/deploy/shims.rs explains why).
import wrapShim from './tenant/wrap.js';
import d1Shim from './tenant/d1.js';
import r2Shim from './tenant/r2.js';
import cacheShim from './tenant/cache.js';
import imagesShim from './tenant/images.js';

// Keyed by the module names the generated main module imports (src/deploy/shims.rs SHIM_*), as
// the loader's `modules` takes them: src/platform/serve/loader.rs copies them in one call.
globalThis.__flotillaTenantShims = {
  '__flotilla/wrap.js': { js: wrapShim },
  '__flotilla/d1.js': { js: d1Shim },
  '__flotilla/r2.js': { js: r2Shim },
  '__flotilla/cache.js': { js: cacheShim },
  '__flotilla/images.js': { js: imagesShim },
};

/*
 * NEVER_FREE: objects of the builds' classes (InvocationRecorder, TailViewer, ...) are never
 * `.free()`d by hand here. worker-build wraps each exported class in a Proxy; `free()` called
 * through it unregisters the Proxy, not the object its FinalizationRegistry holds, so the
 * finalizer frees the same Rust allocation a second time when the object is collected. That
 * double free corrupted dlmalloc's state, and unrelated requests later trapped with "memory
 * access out of bounds" (measured: 3 of 4 runs of session-expiry.test.mjs with a `.free()` per
 * tail event, 0 of 4 without). The finalizer frees each one once (and never into a
 * re-initialised instance: it checks the instance id). scripts/check-js-glue.sh (npm test) enforces it.
 */
let fullModule;
/** The full build, instantiated the first time a request, batch, alarm or cron needs it. */
function full() {
  fullModule ??= import('../../build/index.js');
  return fullModule;
}

/** Names the Rust side reads from `env` (never present in the real env). */
const MAKE_ASSETS = '__FLOTILLA_MAKE_ASSETS';
const MAKE_BINDING = '__FLOTILLA_MAKE_BINDING';
const ASSETS_FOR = '__FLOTILLA_ASSETS_FOR';
/** This invocation's ctx.waitUntil: a deploy runs its workflow at once under it (Rust reads it). */
const WAIT_UNTIL = '__FLOTILLA_WAIT_UNTIL';
/** Set by the site build on a request only the full build serves (src/entry.rs `forward`). */
const FORWARD = '__FLOTILLA_FORWARD';

// Built here rather than in Rust: wasm-bindgen calls functions through `.call`, and reading
// `.call` on an RPC stub is itself an RPC method lookup.
function platformEnv(env, ctx) {
  const makeAssets = (deploymentId, projectId) => ctx.exports.AssetBinding({ props: { deploymentId, projectId } });
  return envWith(env, { [MAKE_ASSETS]: makeAssets, [MAKE_BINDING]: makeBinding(ctx), [WAIT_UNTIL]: (p) => ctx.waitUntil(p) });
}

/** A tenant's resource binding of `kind`, or its isolate's tail (src/platform/serve/loader.rs
 * `resource_binding`). */
function makeBinding(ctx) {
  return (kind, projectId, id) => {
    switch (kind) {
      case 'kv':
        return ctx.exports.TenantKv({ props: { projectId, namespaceId: id } });
      case 'sql':
        return ctx.exports.TenantSql({ props: { projectId, databaseId: id } });
      case 'bucket':
        return ctx.exports.TenantBucket({ props: { projectId, bucketId: id } });
      case 'cache':
        return ctx.exports.TenantCache({ props: { projectId } });
      case 'images':
        return ctx.exports.TenantImages({ props: { projectId } });
      case 'service':
        return ctx.exports.TenantService({ props: { projectId, slug: id } });
      case 'tail':
        return ctx.exports.InvocationTail({ props: { projectId, deploymentId: id } });
      default:
        throw new Error(`no binding of kind ${kind}`);
    }
  };
}

function envWith(env, extra) {
  const out = Object.create(env);
  for (const [k, v] of Object.entries(extra)) Object.defineProperty(out, k, { value: v, enumerable: false });
  return out;
}

/**
 * `length` bytes of an asset body from `offset` on (a Range request for an ASSETS_KV body, which
 * KV can only read whole; src/platform/store/kv.rs `KvAssets::body`): the bytes before are
 * skipped as the value streams and the read stops after the last one, so nothing is buffered.
 * The result has a known length (Content-Length). A body shorter than it should be errors the
 * stream rather than sending a short 206.
 */
globalThis.__flotillaSlice = function slice(stream, offset, length) {
  const { readable, writable } = new FixedLengthStream(length);
  copyPart(stream.getReader(), writable.getWriter(), offset, length);
  return readable;
};

async function copyPart(reader, writer, skip, left) {
  try {
    while (left > 0) {
      const { done, value } = await reader.read();
      if (done) throw new Error('asset body ended before the range');
      if (skip >= value.byteLength) {
        skip -= value.byteLength;
        continue;
      }
      const chunk = value.subarray(skip, skip + Math.min(left, value.byteLength - skip));
      skip = 0;
      left -= chunk.byteLength;
      await writer.write(chunk);
    }
    await writer.close();
    reader.cancel().catch(() => {});
  } catch (e) {
    writer.abort(e).catch(() => {});
    reader.cancel(e).catch(() => {});
  }
}

/**
 * One Worker Loader dispatch for src/platform/serve/loader.rs, in a single call across the wasm
 * boundary (piece by piece, the request copy, stub lookups, timer and response copy cost more
 * than the platform's own routing). Rust decides everything; this only carries it out:
 * - `url` (or `undefined`) replaces the request's URL, `prefix` ('' for none) becomes the only
 *   `X-Forwarded-Prefix` (a visitor's own is dropped); untouched requests are not copied;
 * - `loadCode(env, projectId, deploymentId, outbound, envRef)` is the Rust code builder, called by the
 *   loader only for a cold isolate;
 * - resolves to the user code's Response, to `undefined` after `timeoutMs`, or to whatever
 *   else the code returned (Rust reports it); rejects when the code threw.
 */
globalThis.__flotillaDispatch = function dispatch(loader, isolateId, loadCode, env, projectId, deploymentId, outbound, envRef, request, url, prefix, timeoutMs) {
  // The same Rust closure every time (one per isolate): the fast path below reuses it.
  loadCodeFn = loadCode;
  return run(loader, isolateId, () => loadCode(env, projectId, deploymentId, outbound, envRef), request, url, prefix, timeoutMs);
};

const VERSION_OVERRIDES = 'cloudflare-workers-version-overrides';
/** Protected previews' bypass token (src/platform/serve/preview.rs reads them). */
const BYPASS = ['x-flotilla-bypass', 'x-vercel-protection-bypass'];

/** Never throws: every failure is a rejected promise (Rust awaits it as one). */
function run(loader, isolateId, getCode, request, url, prefix, timeoutMs) {
  let pending;
  try {
    let forwarded = request;
    // Cloudflare's version override and the bypass token are the platform's to read, never the
    // tenant code's.
    const h = request.headers;
    if (url !== undefined || prefix !== '' || h.has('x-forwarded-prefix') || h.has(VERSION_OVERRIDES) || h.has(BYPASS[0]) || h.has(BYPASS[1])) {
      forwarded = new Request(url ?? request.url, request);
      forwarded.headers.delete('x-forwarded-prefix');
      forwarded.headers.delete(VERSION_OVERRIDES);
      for (const name of BYPASS) forwarded.headers.delete(name);
      if (prefix !== '') forwarded.headers.set('x-forwarded-prefix', prefix);
    }
    pending = loader.get(isolateId, getCode).getEntrypoint().fetch(forwarded);
  } catch (e) {
    return Promise.reject(e);
  }
  // One promise and one timer (cheaper than Promise.race over a second promise).
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, timeoutMs);
    pending.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

/*
 * The visitor fast path (src/platform/serve/fast.rs has the rules). Rust offers a Host header whose
 * every request is one dispatch with fixed arguments (a `<slug>.<domain>` host whose active
 * deployment's server code answers every path), valid until the routing record it came from
 * expires; any invalidation in this isolate clears them all. Such requests are dispatched here
 * without entering wasm; everything else, and every request whose user code gives no Response,
 * goes to Rust. What Rust would add is added here the same way: `x-request-id` (the
 * visitor's own when short and plain, as src/platform/http.rs `request_id`) and the sampled
 * log line (src/routing/access_log.rs `LogPolicy::should_log` and `request_line`).
 */
const FAST = new Map();
/** Bound for isolates that see many hosts (src/platform/serve/cache.rs ROUTE_ENTRIES). */
const FAST_ENTRIES = 4096;
/** Set by the fast path when the user code gave no Response (read by src/entry.rs). */
const FAST_FAILED = '__FLOTILLA_FAST_FAILED';
let loadCodeFn;
let fastSeq = 0;

globalThis.__flotillaFastPut = function fastPut(host, isolateId, projectId, deploymentId, outbound, envRef, timeoutMs, untilMs, logEvery, slowMs) {
  if (!FAST.has(host) && FAST.size >= FAST_ENTRIES) FAST.delete(FAST.keys().next().value);
  FAST.set(host, { isolateId, projectId, deploymentId, outbound, envRef, timeoutMs, fromMs: Date.now(), untilMs, logEvery, slowMs });
};

globalThis.__flotillaFastClear = function fastClear() {
  FAST.clear();
};

/** The fast path's entry for this request, if it has a fresh one. */
function fastEntry(request) {
  if (FAST.size === 0 || loadCodeFn === undefined) return undefined;
  const host = request.headers.get('host');
  const hit = host === null ? undefined : FAST.get(host);
  if (hit === undefined) return undefined;
  // A request that may be pinned to another deployment (src/routing/pin.rs) is Rust's to
  // decide: the entry's target is the active deployment.
  // So is one naming a version with Cloudflare's override header (honoured only with a token).
  if (request.headers.has('x-deployment-id') || request.url.includes('dpl=') || (request.headers.get('cookie') ?? '').includes('dpl=') || request.headers.has(VERSION_OVERRIDES)) return undefined;
  const now = Date.now();
  // A clock that went backwards counts as expired, as in src/routing/cache.rs.
  if (now >= hit.fromMs && now < hit.untilMs) return hit;
  FAST.delete(host);
  return undefined;
}

const PLAIN_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** 24 hex digits like Rust's ids: 16 random per isolate, then a counter (unique, and cheap). */
let idPrefix;
let idCount = 0;

function requestId(request) {
  const given = request.headers.get('x-request-id');
  if (given !== null && PLAIN_ID.test(given)) return given;
  if (idPrefix === undefined || idCount === 0xffffffff) {
    idPrefix = '';
    for (const b of crypto.getRandomValues(new Uint8Array(8))) idPrefix += b.toString(16).padStart(2, '0');
    idCount = 0;
  }
  idCount += 1;
  return idPrefix + idCount.toString(16).padStart(8, '0');
}

async function fastServe(hit, request, env, ctx) {
  const started = Date.now();
  const id = requestId(request);
  let threw = false;
  let value;
  try {
    const getCode = () => loadCodeFn(platformEnv(env, ctx), hit.projectId, hit.deploymentId, hit.outbound, hit.envRef);
    value = await run(env.LOADER, hit.isolateId, getCode, request, undefined, '', hit.timeoutMs);
  } catch (e) {
    threw = true;
    value = e;
  }
  if (threw || !(value instanceof Response)) {
    const failed = { projectId: hit.projectId, threw, value, timeoutMs: hit.timeoutMs };
    return new Site(ctx, envWith(platformEnv(env, ctx), { [FAST_FAILED]: failed })).fetch(request);
  }
  // A fetched response's headers are immutable: one copy, as src/platform/serve/loader.rs `settle`.
  const headers = new Headers(value.headers);
  headers.set('x-request-id', id);
  const init = { status: value.status, statusText: value.statusText, headers };
  if (value.webSocket) init.webSocket = value.webSocket;
  const out = new Response(value.status === 101 ? null : value.body, init);
  const now = Date.now();
  const ms = now - started;
  fastSeq += 1;
  if (value.status >= 500 || ms >= hit.slowMs || (hit.logEvery !== 0 && fastSeq % hit.logEvery === 0)) {
    const path = new URL(request.url).pathname;
    console.log(JSON.stringify({ level: 'info', requestId: id, at: new Date(now).toISOString(), method: request.method, path, status: value.status, ms }));
  }
  return out;
}

/*
 * Test instances only (`FAULT_INJECTION=enabled`), and only for a request that asks with
 * `x-flotilla-ops: count`: the storage operations the full build made while answering it, by
 * service, in the response header `x-flotilla-ops` (`d1=N kv=N r2=N queue=N`; every statement of
 * a D1 batch counts, a KV bulk get counts once). tests/integration/budget.test.mjs holds
 * src/deploy/budget.rs's per-step model to these counts. Work left to waitUntil after the
 * response is not counted.
 */
const COUNTED = { DB: 'd1', ASSETS_KV: 'kv', ROUTES_KV: 'kv', BLOBS: 'r2', DEPLOY_QUEUE: 'queue' };
const REAL = Symbol('real');

function countingEnv(env, ops) {
  const extra = {};
  for (const [name, kind] of Object.entries(COUNTED)) {
    if (env[name] !== undefined) extra[name] = kind === 'd1' ? countD1(env[name], ops) : counted(env[name], ops, kind);
  }
  return extra;
}

/** `target` whose methods count one `kind` operation per call (`wrap` maps what they return). */
function counted(target, ops, kind, wrap = (v) => v, special = {}) {
  return new Proxy(target, {
    get(t, p) {
      if (p === REAL) return t;
      const v = Reflect.get(t, p);
      if (typeof v !== 'function' || p === 'constructor') return v;
      if (special[p]) return special[p](t, v);
      return (...a) => {
        ops[kind] += 1;
        return wrap(v.apply(t, a));
      };
    },
  });
}

function countD1(db, ops) {
  const statement = (s) => counted(s, ops, 'd1', undefined, { bind: (t, v) => (...a) => statement(v.apply(t, a)) });
  return counted(db, ops, 'd1', undefined, {
    prepare: (t, v) => (...a) => statement(v.apply(t, a)),
    batch: (t, v) => (stmts) => {
      ops.d1 += stmts.length;
      return v.call(t, stmts.map((s) => s[REAL] ?? s));
    },
  });
}

function fullFetch(request, env, ctx) {
  const count = env.FAULT_INJECTION === 'enabled' && request.headers.get('x-flotilla-ops') === 'count';
  if (!count) return full().then((m) => new m.default(ctx, platformEnv(env, ctx)).fetch(request));
  const ops = { d1: 0, kv: 0, r2: 0, queue: 0 };
  const countedEnv = envWith(platformEnv(env, ctx), countingEnv(env, ops));
  return full().then((m) => new m.default(ctx, countedEnv).fetch(request)).then((resp) => {
    const out = new Response(resp.body, resp);
    out.headers.set('x-flotilla-ops', Object.entries(ops).map(([k, n]) => `${k}=${n}`).join(' '));
    return out;
  });
}

// An object, not a WorkerEntrypoint class: no instance to construct per request on the hot path.
export default {
  fetch(request, env, ctx) {
    const hit = fastEntry(request);
    if (hit !== undefined) return fastServe(hit, request, env, ctx);
    const siteEnv = platformEnv(env, ctx);
    return new Site(ctx, siteEnv).fetch(request).then((resp) => {
      if (siteEnv[FORWARD] !== true) return resp;
      return fullFetch(request, env, ctx);
    });
  },

  async queue(batch, env, ctx) {
    const m = await full();
    return new m.default(ctx, platformEnv(env, ctx)).queue(batch);
  },

  // The cron trigger (wrangler.toml [triggers]): without this handler the runtime finds none
  // and the sweep, purge retries and GC never run.
  async scheduled(controller, env, ctx) {
    const m = await full();
    return new m.default(ctx, platformEnv(env, ctx)).scheduled(controller);
  },
};

/** The MCP session Durable Object lives in the full build; this loads it on first use. */
export class McpSession {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.inner = undefined;
  }

  async session() {
    if (this.inner === undefined) {
      const m = await full();
      this.inner ??= new m.McpSession(this.state, this.env);
    }
    return this.inner;
  }

  async fetch(request) {
    return (await this.session()).fetch(request);
  }

  async alarm() {
    return (await this.session()).alarm();
  }
}

export class AssetBinding extends WorkerEntrypoint {
  fetch(request) {
    const { deploymentId, projectId } = this.ctx.props ?? {};
    if (typeof deploymentId !== 'string' || typeof projectId !== 'string') {
      return new Response('asset binding without a deployment', { status: 500 });
    }
    return new Site(this.ctx, envWith(this.env, { [ASSETS_FOR]: { deploymentId, projectId } })).fetch(request);
  }
}

/**
 * A KV binding of server code (`config.bindings`, issue 27), created as
 * `ctx.exports.TenantKv({ props: { projectId, namespaceId } })` like AssetBinding. Every method
 * forwards to the full build's TenantKvStore (src/platform/store/tenant_kv.rs), which applies
 * the rules of src/storage/kv.rs to the platform's TENANT_KV; nothing is decided here.
 */
export class TenantKv extends WorkerEntrypoint {
  // Private (#): RPC exposes every public method of the class to the tenant, and these are ours.
  #kv;

  async #store() {
    const m = await full();
    this.#kv ??= new m.TenantKvStore(this.env, this.ctx.props?.namespaceId ?? '');
    return this.#kv;
  }

  async get(key, options) { return (await this.#store()).get(key, options); }

  async getWithMetadata(key, options) { return (await this.#store()).getWithMetadata(key, options); }

  async put(key, value, options) { return (await this.#store()).put(key, value, options); }

  async delete(key) { return (await this.#store()).delete(key); }

  async list(options) { return (await this.#store()).list(options); }
}

/**
 * A SQL binding of server code (issue 27), created as
 * `ctx.exports.TenantSql({ props: { projectId, databaseId } })`. Every method forwards to the
 * full build's TenantSqlStore (src/platform/store/tenant_sql.rs), which checks the statements
 * (src/storage/sql.rs), runs them in the database's own TenantSqlDatabase object and answers
 * D1's shapes; the tenant-side D1 client is src/js/tenant/d1.js.
 */
export class TenantSql extends WorkerEntrypoint {
  // Private (#): RPC exposes every public method of the class to the tenant.
  #sql;

  async #store() {
    const m = await full();
    this.#sql ??= new m.TenantSqlStore(this.env, this.ctx.props?.databaseId ?? '');
    return this.#sql;
  }

  /** `[{sql, params}]` -> D1's per-query results, run atomically. */
  async query(queries) { return (await this.#store()).query(queries); }

  /** D1's `exec(sql)`: `{count, duration}`. */
  async exec(sql) { return (await this.#store()).exec(String(sql)); }
}

const FULL = Symbol('full');

/**
 * One tenant SQL database (SQLite Durable Object, `idFromName(databaseId)`), reached only by
 * the full build (src/platform/store/tenant_sql.rs), never by tenant code. Glue: it runs exactly
 * the statement list it is given, all or nothing, and reports what SQLite said; the rules and
 * shapes are Rust's (src/storage/sql.rs has the JSON protocol).
 */
export class TenantSqlDatabase extends DurableObject {
  run(plan) {
    const { max, queries } = JSON.parse(plan);
    const storage = this.ctx.storage;
    const sql = storage.sql;
    const before = sql.databaseSize;
    const results = [];
    let index = 0;
    try {
      storage.transactionSync(() => {
        let total = sql.exec('SELECT total_changes() AS c').one().c;
        for (; index < queries.length; index++) {
          const q = queries[index];
          const t0 = performance.now();
          const params = q.params.map((p) => (Array.isArray(p) ? new Uint8Array(p).buffer : p));
          const c = sql.exec(q.sql, ...params);
          const rows = [];
          for (const row of c.raw()) rows.push(row.map((v) => (v instanceof ArrayBuffer ? Array.from(new Uint8Array(v)) : v)));
          const { c: now, r: lastRowId } = sql.exec('SELECT total_changes() AS c, last_insert_rowid() AS r').one();
          results.push({ columns: c.columnNames, rows, read: c.rowsRead, written: c.rowsWritten, changes: now - total, lastRowId, ms: performance.now() - t0 });
          total = now;
        }
        if (sql.databaseSize > max && sql.databaseSize > before) throw FULL;
      });
    } catch (e) {
      if (e === FULL) return JSON.stringify({ ok: false, full: true, index: queries.length - 1 });
      return JSON.stringify({ ok: false, error: String(e?.message ?? e), index });
    }
    return JSON.stringify({ ok: true, size: sql.databaseSize, results });
  }

  size() {
    return this.ctx.storage.sql.databaseSize;
  }

  /** Removes every table and row (the database was deleted). */
  async destroy() {
    await this.ctx.storage.deleteAll();
    return true;
  }
}

/**
 * A bucket binding of server code (issue 27), created as
 * `ctx.exports.TenantBucket({ props: { projectId, bucketId } })`; tenant code sees it through
 * src/js/tenant/r2.js. Every method forwards to the full build's TenantBucketStore
 * (src/platform/store/tenant_bucket.rs), which applies the rules of src/storage/bucket.rs to
 * the platform's BLOBS; nothing is decided here. Multipart calls name their upload by
 * `(key, uploadId)`: the upload object cannot cross RPC.
 */
export class TenantBucket extends WorkerEntrypoint {
  // Private (#): RPC exposes every public method of the class to the tenant, and these are ours.
  #bucket;

  async #store() {
    const m = await full();
    this.#bucket ??= new m.TenantBucketStore(this.env, this.ctx.props?.bucketId ?? '');
    return this.#bucket;
  }

  async head(key) { return (await this.#store()).head(key); }

  async get(key, options) { return (await this.#store()).get(key, options); }

  async put(key, value, options) { return (await this.#store()).put(key, value, options); }

  async delete(keys) { return (await this.#store()).delete(keys); }

  async list(options) { return (await this.#store()).list(options); }

  async createMultipartUpload(key, options) { return (await this.#store()).createMultipartUpload(key, options); }

  async uploadPart(key, uploadId, partNumber, value, options) {
    return (await this.#store()).uploadPart(key, uploadId, partNumber, value, options);
  }

  async completeMultipartUpload(key, uploadId, parts) {
    return (await this.#store()).completeMultipartUpload(key, uploadId, parts);
  }

  async abortMultipartUpload(key, uploadId) { return (await this.#store()).abortMultipartUpload(key, uploadId); }
}

/**
 * The tail of every isolate the loader starts (`tails` in src/platform/serve/loader.rs), created
 * as `ctx.exports.InvocationTail({ props: { projectId, deploymentId } })`. The runtime calls
 * `tail(events)` after each run's response; the full build keeps them (src/platform/jobs/tail.rs).
 * Tenant code never holds this binding.
 */
export class InvocationTail extends WorkerEntrypoint {
  async tail(events) {
    const { projectId, deploymentId } = this.ctx.props ?? {};
    const m = await full();
    // Never `.free()`d by hand: see NEVER_FREE below.
    return new m.InvocationRecorder(this.env).record(projectId ?? '', deploymentId ?? '', JSON.stringify(events));
  }
}

/**
 * The Cache API of server code (issue 28), created as `ctx.exports.TenantCache({ props: {
 * projectId } })` and used only by src/js/tenant/cache.js in the tenant's isolate. Requests
 * arrive as (url, method, headers); which calls reach the platform's Cache API and under which
 * cache name (always inside the project's own) is decided by the full build
 * (src/storage/cache.rs). `name` is null for `caches.default`.
 */
export class TenantCache extends WorkerEntrypoint {
  // Private (#): RPC exposes every public method of the class to the tenant.
  #rules;
  #caches = new Map();

  async #open(name) {
    this.#rules ??= new (await full()).TenantCacheRules();
    let cache = this.#caches.get(name);
    if (cache === undefined) {
      cache = await caches.open(this.#rules.name(this.ctx.props?.projectId ?? '', name ?? undefined));
      this.#caches.set(name, cache);
    }
    return cache;
  }

  async match(name, url, method, headers, ignoreMethod) {
    const cache = await this.#open(name);
    if (!this.#rules.matches(String(method), ignoreMethod === true)) return undefined;
    return cache.match(new Request(url, { headers }));
  }

  async put(name, url, method, headers, response) {
    const cache = await this.#open(name);
    const h = response.headers;
    const store = this.#rules.put(String(method), response.status, h.get('cache-control') ?? undefined, h.get('vary') ?? undefined, h.has('set-cookie'));
    if (!store) {
      await response.body?.cancel();
      return;
    }
    await cache.put(new Request(url, { headers }), response);
  }

  async delete(name, url, method, headers, ignoreMethod) {
    const cache = await this.#open(name);
    if (!this.#rules.matches(String(method), ignoreMethod === true)) return false;
    return cache.delete(new Request(url, { headers }));
  }
}

/**
 * The `images` binding of server code (issue 28), created as `ctx.exports.TenantImages({ props:
 * { projectId } })`; tenant code sees it through src/js/tenant/images.js. Format and size, and
 * the output's content type, are the full build's (src/runtime/images.rs); nothing is
 * transformed: `output` answers the input's bytes.
 */
export class TenantImages extends WorkerEntrypoint {
  // Private (#): RPC exposes every public method of the class to the tenant.
  async #read(stream) {
    const rules = new (await full()).TenantImageRules();
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    return { rules, bytes, prefix: bytes.subarray(0, rules.prefixBytes()) };
  }

  async info(stream) {
    const { rules, bytes, prefix } = await this.#read(stream);
    return rules.info(prefix, bytes.byteLength);
  }

  async output(stream, format) {
    const { rules, bytes, prefix } = await this.#read(stream);
    const type = rules.outputType(prefix, typeof format === 'string' ? format : undefined);
    return new Response(bytes, { headers: { 'content-type': type } });
  }
}

/**
 * A service binding of server code (issue 28, wrangler `{type: "service"}`), created as
 * `ctx.exports.TenantService({ props: { projectId, slug } })`: a fetcher whose every request
 * goes to the project `slug`'s own origin (`<slug>.<PLATFORM_DOMAIN>`) through the visitor
 * build, so it gets exactly what that project's visitors get: its active deployment, assets
 * first unless run_worker_first, its access rules. The deploy checked the caller reaches
 * `slug` (src/api/deployments.rs `resolve_services`); nothing else is reachable from here.
 */
export class TenantService extends WorkerEntrypoint {
  fetch(request) {
    const slug = this.ctx.props?.slug;
    if (typeof slug !== 'string' || slug === '') return new Response('service binding without a project', { status: 500 });
    const url = new URL(request.url);
    const host = `${slug}.${this.env.PLATFORM_DOMAIN}`;
    url.hostname = host;
    url.port = '';
    const forwarded = new Request(url, request);
    // The Host header decides the route (src/entry.rs), whatever the caller sent.
    forwarded.headers.set('host', host);
    forwarded.headers.delete('x-forwarded-prefix');
    return new Site(this.ctx, platformEnv(this.env, this.ctx)).fetch(forwarded);
  }
}

/**
 * Live tail (issue 29): one object per project (`idFromName(projectId)`) holding its viewers'
 * Server-Sent Event streams. Glue: which records a viewer sees and how they are framed is the
 * full build's TailViewer (src/observe/tail.rs); this only writes what it answers.
 * - `POST /viewer` (body: the filter GET /__api/projects/:id/tail validated) opens a stream, or
 *   answers 429 past MAX_VIEWERS;
 * - `POST /publish` (body: a JSON array of /logs-shaped records, from InvocationRecorder) writes
 *   them; with no viewer it answers at once without reading the body.
 * - `POST /ticket` stores a `wrangler tail` session's single-use secret (src/api/cf_tail.rs);
 *   `GET /socket?id&secret` (a WebSocket upgrade) uses it up and opens the `trace-v1` socket;
 *   `POST /close` ends that session.
 * Never awaited by anything serving a visitor: the recorder runs after the response, and a
 * viewer whose unread frames pass MAX_QUEUED is disconnected rather than waited for.
 */
const TAIL_MAX_VIEWERS = 10; // src/observe/tail.rs MAX_VIEWERS
const TAIL_MAX_QUEUED = 64; // src/observe/tail.rs MAX_QUEUED_FRAMES
const TAIL_HEARTBEAT_MS = 15_000; // src/observe/tail.rs HEARTBEAT_SECS
const SSE_TEXT = new TextEncoder();

export class TailHub extends DurableObject {
  viewers = new Set();

  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === '/publish') {
      if (this.viewers.size === 0) return new Response(null, { status: 204 });
      await this.publish(await request.text());
      return new Response(null, { status: 204 });
    }
    if (path === '/viewer') return this.open(await request.text());
    if (path === '/ticket') {
      const t = await request.json();
      await this.ctx.storage.put(`ticket:${t.id}`, t);
      return new Response(null, { status: 204 });
    }
    if (path === '/socket') return this.socket(new URL(request.url).searchParams);
    if (path === '/close') {
      const { id } = await request.json();
      await this.ctx.storage.delete(`ticket:${id}`);
      for (const v of this.viewers) if (v.tailId === id) this.drop(v);
      return new Response(null, { status: 204 });
    }
    return new Response(null, { status: 404 });
  }

  async open(filterJson) {
    if (this.viewers.size >= TAIL_MAX_VIEWERS) return new Response(null, { status: 429 });
    const { readable, writable } = new TransformStream();
    const viewer = { filterJson, writer: writable.getWriter(), queued: 0, timer: undefined };
    this.viewers.add(viewer);
    viewer.timer = setInterval(() => this.write(viewer, ': keepalive\n\n'), TAIL_HEARTBEAT_MS);
    viewer.writer.closed.catch(() => {}).finally(() => this.drop(viewer));
    this.write(viewer, ': connected\n\n');
    return new Response(readable, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' },
    });
  }

  /**
   * The `wrangler tail` WebSocket: 101 with `trace-v1`, or 401 (unknown, used, expired). `secret`
   * is the SHA-256 of the URL's secret (src/api/cf_tail.rs), compared with the stored hash.
   */
  async socket(params) {
    const id = params.get('id') ?? '';
    const key = `ticket:${id}`;
    const t = await this.ctx.storage.get(key);
    if (t === undefined || t.secret !== params.get('secret') || Date.now() > t.until) return new Response(null, { status: 401 });
    if (this.viewers.size >= TAIL_MAX_VIEWERS) return new Response(null, { status: 429 });
    await this.ctx.storage.delete(key);
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    const viewer = { filterJson: JSON.stringify(t.filter), socket: server, tailId: id, scriptName: t.scriptName };
    this.viewers.add(viewer);
    server.addEventListener('close', () => this.drop(viewer));
    server.addEventListener('error', () => this.drop(viewer));
    return new Response(null, { status: 101, webSocket: client, headers: { 'sec-websocket-protocol': 'trace-v1' } });
  }

  /**
   * A viewer keeps its filter as JSON text, never a wasm object: each publish makes the filter
   * and uses it within one synchronous step; the garbage collector frees it (NEVER_FREE).
   */
  async publish(recordsJson) {
    const m = await full();
    for (const viewer of [...this.viewers]) {
      if (!this.viewers.has(viewer)) continue;
      const filter = new m.TailViewer(viewer.filterJson);
      let out;
      try {
        out = viewer.socket !== undefined ? filter.trace(recordsJson, viewer.scriptName) : filter.frames(recordsJson);
      } catch {
        this.drop(viewer);
        continue;
      }
      if (viewer.socket !== undefined) {
        try {
          for (const msg of JSON.parse(out)) viewer.socket.send(msg);
        } catch {
          this.drop(viewer);
        }
      } else if (out !== '') {
        this.write(viewer, out);
      }
    }
  }

  /** Queues `text` for `viewer`; one that has too much unread is dropped, never waited for. */
  write(viewer, text) {
    if (!this.viewers.has(viewer)) return;
    if (viewer.queued >= TAIL_MAX_QUEUED) {
      this.drop(viewer);
      return;
    }
    viewer.queued += 1;
    viewer.writer.write(SSE_TEXT.encode(text)).then(
      () => { viewer.queued -= 1; },
      () => this.drop(viewer),
    );
  }

  drop(viewer) {
    if (!this.viewers.delete(viewer)) return;
    if (viewer.socket !== undefined) {
      try { viewer.socket.close(1000, 'tail ended'); } catch { /* already closed */ }
      return;
    }
    clearInterval(viewer.timer);
    viewer.writer.abort('dropped').catch(() => {});
  }
}
