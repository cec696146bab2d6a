// What an anonymous visitor can make the platform read (issue 26, item 5). Unknown slugs, custom
// hosts and `<prefix>--<slug>` previews are answered from the isolate's cache for
// ROUTE_CACHE_TTL_MS after one storage read, like known ones; `/health` is generic and reads
// nothing unless the operator's admin token asks for the detailed checks.
//
// The observable: after the first miss, each test makes the name exist by writing wrangler dev's
// local D1 directly (tests/lib/state.mjs `d1Write`: no API call, so no isolate is told). A
// request inside the TTL still gets the cached 404 -- had it read storage it would have found
// the name and served the site -- and the first request after the TTL is served. Each write
// is one the Worker's reconcile-on-miss path really reads (D1 is the truth behind ROUTES_KV).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { api, call, freshProject, expectError, BASE, TOKEN } from '../lib/client.mjs';
import { deploySite, upload, visit, sleep } from '../lib/site.mjs';
import { d1Write, d1Rows } from '../lib/state.mjs';
import { ROOT } from '../lib/server.mjs';

const PORT = new URL(BASE).port;
const rand = () => randomBytes(4).toString('hex');
// The bound the Worker runs with (wrangler.toml; the runner does not override it).
const TTL = Number(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8').match(/^ROUTE_CACHE_TTL_MS\s*=\s*"(\d+)"/m)[1]);
const HOME = '<h1>abuse home</h1>';

/** A deployed project (its one deployment completed and live). */
async function liveProject(name) {
  const p = await freshProject(name);
  const { deploy } = await deploySite(p.id, { '/index.html': HOME });
  return { p, dep: deploy.deployment };
}

/**
 * `first` misses; `appear()` makes the name exist in D1 behind the Worker's back; a request
 * inside the TTL still misses (no storage read), the first one after it is served.
 */
async function missIsCached(get, appear) {
  const t0 = Date.now();
  assert.equal((await get()).status, 404, 'unknown at first');
  appear();
  const again = await get();
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < TTL - 500, `the second request came ${elapsed} ms after the first: too late to tell`);
  assert.equal(again.status, 404, 'inside the TTL the cached miss answers: storage was not read again');
  await sleep(t0 + TTL + 300 - Date.now());
  const later = await get();
  assert.equal(later.status, 200, 'after the TTL storage is read again and the name is found');
  assert.equal(later.body, HOME);
}

test('an unknown slug costs one storage read per TTL, in subdomain and path mode', async () => {
  const { p } = await liveProject('abuse-slug');
  const ghost = `ghost-${rand()}`;
  await missIsCached(() => visit('/', { host: `${ghost}.localhost:${PORT}` }), () => {
    assert.equal(d1Write('UPDATE projects SET slug = ? WHERE id = ?', ghost, p.id), 1);
  });
  const other = `ghost-${rand()}`;
  await missIsCached(() => visit(`/__project/${other}/`), () => {
    assert.equal(d1Write('UPDATE projects SET slug = ? WHERE id = ?', other, p.id), 1);
  });
});

test('an unknown custom host costs one storage read per TTL', async () => {
  const { p } = await liveProject('abuse-host');
  const host = `www.${rand()}.example.com`;
  await missIsCached(() => visit('/', { host }), () => {
    const now = Date.now();
    const n = d1Write(
      "INSERT INTO domains (hostname, project_id, created_at, status, verification, updated_at, verified_at) VALUES (?, ?, ?, 'active', 'x', ?, ?)",
      host, p.id, now, now, now,
    );
    assert.equal(n, 1);
  });
});

test('an unknown preview prefix costs one D1 read per TTL', async () => {
  const { p, dep } = await liveProject('abuse-prefix');
  const host = `${dep.id.slice(0, 8)}--${p.slug}.localhost:${PORT}`;
  // Not ready (as if it had failed): the prefix names nothing servable.
  assert.equal(d1Write("UPDATE deployments SET status = 'failed' WHERE id = ?", dep.id), 1);
  await missIsCached(() => visit('/', { host }), () => {
    assert.equal(d1Write("UPDATE deployments SET status = 'completed' WHERE id = ?", dep.id), 1);
  });
});

test('a deployment that becomes ready drops the cached miss for its prefix at once', async () => {
  const { p } = await liveProject('abuse-ready');
  const { jwt } = await upload(p.id, { '/index.html': '<h1>v2</h1>' });
  // `once:activate`: the immediate run fails at its last step, so the deployment stays pending
  // until the queue backstop finishes it (seconds): time to ask for its preview first.
  const r = await api.deploy(p.id, { completionJwt: jwt, fault: 'once:activate' }, { headers: { prefer: 'respond-async' } });
  assert.equal(r.status, 202, r.text);
  const id = r.body.deployment.id;
  const hostFor = (prefix) => `${prefix}--${p.slug}.localhost:${PORT}`;
  const ready = () => d1Rows('SELECT status FROM deployments WHERE id = ?', id)[0]?.status === 'completed';
  // Every prefix of its id (8..36 characters, none ending in the `-` that would run into the
  // `--`) is its own cache entry. Asking for a new one every 150 ms while it is pending keeps a
  // miss cached moments ago (one cycle outlasts the TTL, so a reused one is read again): when
  // D1 says ready, the last one asked is a miss at most ~200 ms old, which only an
  // invalidation can drop before the TTL runs out.
  const prefixes = [];
  for (let n = 8; n <= id.length; n++) if (id[n - 1] !== '-') prefixes.push(id.slice(0, n));
  const t0 = Date.now();
  let misses = 0;
  let last;
  let served;
  while (!ready()) {
    assert.ok(Date.now() - t0 < 40_000, 'the deployment completes');
    last = prefixes[misses % prefixes.length];
    served = await visit('/', { host: hostFor(last) });
    if (served.status === 200) break; // it completed between the check and the visit
    assert.equal(served.status, 404, 'no site while it is pending');
    misses++;
    await sleep(150);
  }
  assert.ok(misses > 0, 'a miss was cached while it was pending');
  if (served.status !== 200) {
    await sleep(50); // the activating request drops the misses right after its swap commits
    served = await visit('/', { host: hostFor(last) });
  }
  assert.equal(served.status, 200, `the miss for ${last} cached moments ago is gone once it is ready`);
  assert.equal(served.body, '<h1>v2</h1>');
});

test('the preview lookup is one index seek over ready deployments (plan of the local D1)', () => {
  const sql = readFileSync(join(ROOT, 'src', 'routing', 'preview_lookup.sql'), 'utf8');
  const dir = join(process.env.FLOTILLA_STATE_DIR, 'v3', 'd1/miniflare-D1DatabaseObject');
  const plans = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite')) {
    const db = new DatabaseSync(join(dir, f), { readOnly: true });
    try { plans.push(db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((r) => r.detail).join('; ')); } catch (e) { if (!/no such table/.test(e.message)) throw e; } finally { db.close(); }
  }
  assert.deepEqual(plans, ['SEARCH deployments USING INDEX deployments_ready_by_project (project_id=? AND id>? AND id<?)']);
});

test('/health is generic for everyone; the detailed checks need the admin token', async () => {
  const pub = await call('GET', '/health', { token: null });
  assert.equal(pub.status, 200, pub.text);
  assert.deepEqual(pub.body, { success: true, status: 'ok' }, 'no checks, no binding names, no errors');
  for (const name of ['d1', 'Kv', 'r2', 'Queue', 'durableObject', 'loader', 'DB', 'ROUTES_KV', 'BLOBS']) {
    assert.ok(!pub.text.includes(name), `the public answer names ${name}: ${pub.text}`);
  }
  // A token does not change the public answer; only ?detail=1 asks for the checks.
  assert.deepEqual((await call('GET', '/health')).body, pub.body);

  const detail = await call('GET', '/health?detail=1');
  assert.equal(detail.status, 200, detail.text);
  assert.equal(detail.body.status, 'ok');
  for (const check of ['d1', 'assetsKv', 'routesKv', 'r2', 'deployQueue', 'deadLetterQueue', 'durableObject', 'loader']) {
    assert.equal(detail.body.checks[check]?.ok, true, `${check}: ${detail.text}`);
  }
  expectError(assert, await call('GET', '/health?detail=1', { token: null }), 401, 'unauthorized');
  expectError(assert, await call('GET', '/health?detail=1', { token: TOKEN + 'x' }), 401, 'unauthorized');
  const scoped = await call('POST', '/__api/tokens', { body: { name: `health-${rand()}`, projects: '*', scopes: ['admin'] } });
  assert.equal(scoped.status, 201, scoped.text);
  expectError(assert, await call('GET', '/health?detail=1', { token: scoped.body.secret }), 401, 'unauthorized');
  assert.doesNotMatch((await call('GET', '/health?detail=1', { token: null })).text, /"checks"|"d1"|routesKv|durableObject/);
});
