// The runtime APIs apps expect in server code (issue 28): the Cache API (caches.default and
// caches.open, scoped to the project), the images binding and service bindings. Each runs in
// the tenant's Worker Loader isolate through the generated main module (src/deploy/shims.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, freshProject } from '../lib/client.mjs';
import { prepare, request } from '../lib/site.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');

async function deploy(project, source, config = {}, expect = 200) {
  const { manifest, bodies } = prepare({ '/index.html': `static ${Math.random()}` });
  const s = await call('POST', `/__api/projects/${project.id}/assets-upload-session`, { body: { manifest } });
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await call('POST', `/__api/projects/${project.id}/assets/upload`, { body: Object.fromEntries(b.map((h) => [h, bodies[h]])), token: s.body.result.jwt });
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(source) } };
  const d = await call('POST', `/__api/projects/${project.id}/deploy`, { body: { completionJwt: jwt, serverCode, run_worker_first: true, config } });
  assert.equal(d.status, expect, d.text);
  return d;
}

async function json(project, path) {
  const r = await request(`/__project/${project.slug}${path}`);
  assert.equal(r.status, 200, `${path}: ${r.body}`);
  return JSON.parse(r.body);
}

// Touches caches.default at top level, as SvelteKit's worker does.
const CACHE_APP = `const cache = caches.default;
const KEY = 'https://cache.test/item';
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    const v = u.searchParams.get('v');
    const err = (p) => p.then(() => 'ok', (e) => e.constructor.name + ': ' + e.message);
    switch (u.pathname) {
      case '/put':
        await cache.put(KEY, new Response(v, { headers: { 'cache-control': 'max-age=300', 'content-type': 'text/x-item' } }));
        return Response.json({ ok: true });
      case '/get': {
        const r = await cache.match(KEY);
        return Response.json({ hit: r ? await r.text() : null, type: r?.headers.get('content-type') ?? null });
      }
      case '/named': {
        const c = await caches.open('things');
        const before = await c.match(KEY);
        await c.put(new Request(KEY), new Response('named ' + v, { headers: { 'cache-control': 'max-age=300' } }));
        const after = await c.match(KEY);
        return Response.json({ before: before ? await before.text() : null, after: await after.text() });
      }
      case '/rules': {
        const out = {};
        out.postMatch = (await cache.match(new Request(KEY, { method: 'POST' }))) === undefined;
        out.postMatchIgnored = (await cache.match(new Request(KEY, { method: 'POST' }), { ignoreMethod: true })) !== undefined;
        out.postPut = await err(cache.put(new Request(KEY, { method: 'POST' }), new Response('x')));
        out.partial = await err(cache.put(KEY + '?p', new Response('x', { status: 206 })));
        await cache.put(KEY + '?nostore', new Response('x', { headers: { 'cache-control': 'no-store' } }));
        out.noStore = (await cache.match(KEY + '?nostore')) === undefined;
        await cache.put(KEY + '?del', new Response('x', { headers: { 'cache-control': 'max-age=300' } }));
        out.deleted = await cache.delete(KEY + '?del');
        out.goneAfterDelete = (await cache.match(KEY + '?del')) === undefined;
        out.deletedAgain = await cache.delete(KEY + '?del');
        out.envKeys = Object.keys(env).filter((k) => k.startsWith('__'));
        return Response.json(out);
      }
      default:
        return new Response('plain');
    }
  },
};`;

test('Cache API: caches.default at top level works, and two projects caching one URL never see each other', { timeout: 120_000 }, async () => {
  const a = await freshProject('cache a');
  const b = await freshProject('cache b');
  assert.equal((await deploy(a, CACHE_APP)).body.deployment.status, 'completed');
  assert.equal((await deploy(b, CACHE_APP)).body.deployment.status, 'completed');

  assert.deepEqual(await json(a, '/get'), { hit: null, type: null });
  await json(a, '/put?v=from-a');
  assert.deepEqual(await json(a, '/get'), { hit: 'from-a', type: 'text/x-item' });
  assert.deepEqual(await json(b, '/get'), { hit: null, type: null }, 'project b must not see a\'s entry');
  await json(b, '/put?v=from-b');
  assert.deepEqual(await json(b, '/get'), { hit: 'from-b', type: 'text/x-item' });
  assert.deepEqual(await json(a, '/get'), { hit: 'from-a', type: 'text/x-item' });

  // Named caches are separate from the default one and per project too.
  assert.deepEqual(await json(a, '/named?v=1'), { before: null, after: 'named 1' });
  assert.deepEqual(await json(b, '/named?v=2'), { before: null, after: 'named 2' });
  assert.deepEqual(await json(a, '/named?v=3'), { before: 'named 1', after: 'named 3' });
  assert.deepEqual(await json(a, '/get'), { hit: 'from-a', type: 'text/x-item' });
});

test('Cache API: Cloudflare\'s rules (GET only, 206, no-store, delete) and the stub stays out of env', { timeout: 60_000 }, async () => {
  const p = await freshProject('cache rules');
  await deploy(p, CACHE_APP);
  assert.deepEqual(await json(p, '/rules'), {
    postMatch: true,
    postMatchIgnored: false,
    postPut: 'TypeError: Cannot cache response to non-GET request.',
    partial: 'TypeError: Cannot cache response to a range request (206 Partial Content).',
    noStore: true,
    deleted: true,
    goneAfterDelete: true,
    deletedAgain: false,
    envKeys: [],
  });
});

test('Cache API: what a cache hit costs per request (measured, printed)', { timeout: 60_000 }, async () => {
  const p = await freshProject('cache cost');
  await deploy(p, CACHE_APP);
  await json(p, '/put?v=x');
  const time = async (path, n = 20) => {
    await request(`/__project/${p.slug}${path}`);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await request(`/__project/${p.slug}${path}`);
    return (performance.now() - t0) / n;
  };
  const plain = await time('/');
  const hit = await time('/get');
  console.log(`[cache cost] plain ${plain.toFixed(1)} ms, with a cache match ${hit.toFixed(1)} ms per request`);
  assert.ok(hit < plain + 50, `a cache match costs ${(hit - plain).toFixed(1)} ms`);
});
