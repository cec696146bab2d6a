// The runtime APIs apps expect in server code (issue 28): the Cache API (caches.default and
// caches.open, scoped to the project), the images binding and service bindings. Each runs in
// the tenant's Worker Loader isolate through the generated main module (src/deploy/shims.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, freshProject } from '../lib/client.mjs';
import { prepare, request } from '../lib/site.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');

async function deploy(project, source, config = {}, expect = 200, token = undefined) {
  const { manifest, bodies } = prepare({ '/index.html': `static ${Math.random()}` });
  const s = await call('POST', `/__api/projects/${project.id}/assets-upload-session`, { body: { manifest }, token });
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await call('POST', `/__api/projects/${project.id}/assets/upload`, { body: Object.fromEntries(b.map((h) => [h, bodies[h]])), token: s.body.result.jwt });
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(source) } };
  const d = await call('POST', `/__api/projects/${project.id}/deploy`, { body: { completionJwt: jwt, serverCode, run_worker_first: true, config }, token });
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

// A 3x2 GIF's header and a 1x1 PNG: `info` reads only the first bytes, and the output must be the
// input's bytes unchanged.
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const IMAGES_APP = `const PNG = Uint8Array.from(atob('${PNG_B64}'), (c) => c.charCodeAt(0));
const GIF = new Uint8Array([71, 73, 70, 56, 57, 97, 3, 0, 2, 0, 0, 0, 0, 59]);
const body = (b) => new Response(b).body;
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    switch (u.pathname) {
      case '/info':
        return Response.json([await env.IMAGES.info(body(PNG)), await env.IMAGES.info(body(GIF))]);
      case '/bad':
        return env.IMAGES.info(body('not an image')).then(() => new Response('no error'), (e) => new Response(e.message));
      case '/out': {
        const r = await env.IMAGES.input(body(PNG)).transform({ width: 10, rotate: 90 }).draw(body(GIF), { top: 0 }).output({ format: 'image/webp' });
        return r.response();
      }
      case '/parts': {
        const r = await env.IMAGES.input(body(GIF)).output({ format: 'image/avif' });
        return Response.json({ type: r.contentType(), bytes: Array.from(new Uint8Array(await new Response(r.image()).arrayBuffer())) });
      }
      default:
        return Response.json(Object.keys(env).sort());
    }
  },
};`;

test('images binding: info reads format and size; output passes the bytes through with their real type', { timeout: 60_000 }, async () => {
  const p = await freshProject('images');
  const d = await deploy(p, IMAGES_APP, { bindings: [{ type: 'images', name: 'IMAGES' }] });
  assert.equal(d.body.deployment.status, 'completed', d.text);
  assert.deepEqual(await json(p, '/'), ['ASSETS', 'IMAGES']);
  const png = Buffer.from(PNG_B64, 'base64');
  assert.deepEqual(await json(p, '/info'), [
    { format: 'image/png', fileSize: png.length, width: 1, height: 1 },
    { format: 'image/gif', fileSize: 14, width: 3, height: 2 },
  ]);
  const bad = await request(`/__project/${p.slug}/bad`);
  assert.match(bad.body, /9412/);
  const out = await request(`/__project/${p.slug}/out`, { bytes: true });
  assert.equal(out.status, 200);
  assert.equal(out.headers['content-type'], 'image/png', 'transforms are not applied: the bytes are still a PNG');
  assert.deepEqual(out.body, png);
  assert.deepEqual(await json(p, '/parts'), { type: 'image/gif', bytes: [71, 73, 70, 56, 57, 97, 3, 0, 2, 0, 0, 0, 0, 59] });
});

const SERVICE_APP = (who) => `export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    if (u.pathname === '/hello') return new Response('hello from ${who} ' + req.method + ' ' + u.search + ' ' + (await req.text()));
    if (u.pathname === '/call') {
      const r = await env[u.searchParams.get('b')].fetch('https://ignored.example/hello?x=1', { method: 'POST', body: 'hi' });
      return new Response(r.status + ' ' + (await r.text()));
    }
    return Response.json(Object.keys(env).sort());
  },
};`;

test('service bindings: to the project itself and to another project of the same owner', { timeout: 90_000 }, async () => {
  const a = await freshProject('svc a');
  const b = await freshProject('svc b');
  assert.equal((await deploy(b, SERVICE_APP('b'))).body.deployment.status, 'completed');
  const bindings = [{ type: 'service', name: 'SELF', service: a.slug }, { type: 'service', name: 'OTHER', service: b.id }];
  assert.equal((await deploy(a, SERVICE_APP('a'), { bindings })).body.deployment.status, 'completed');
  assert.deepEqual(await json(a, '/'), ['ASSETS', 'OTHER', 'SELF']);
  const self = await request(`/__project/${a.slug}/call?b=SELF`);
  assert.equal(self.body, '200 hello from a POST ?x=1 hi');
  const other = await request(`/__project/${a.slug}/call?b=OTHER`);
  assert.equal(other.body, '200 hello from b POST ?x=1 hi');
});

test('service bindings: another owner\'s project or an unknown service is refused naming the binding', { timeout: 60_000 }, async () => {
  const mine = await freshProject('svc mine');
  const theirs = await freshProject('svc theirs');
  const minted = await call('POST', '/__api/tokens', { body: { name: 'svc scoped', projects: [mine.id], scopes: ['manage'] } });
  assert.equal(minted.status, 201, minted.text);
  const token = minted.body.secret;
  for (const service of [theirs.slug, theirs.id, 'no-such-project']) {
    const r = await deploy(mine, SERVICE_APP('m'), { bindings: [{ type: 'service', name: 'API', service }] }, 404, token);
    assert.match(r.body.message ?? r.text, /service `[^`]+` \(binding `API`\)/, r.text);
  }
  // Its own project is fine with the same token.
  await deploy(mine, SERVICE_APP('m'), { bindings: [{ type: 'service', name: 'SELF', service: mine.slug }] }, 200, token);
});

// What OpenNext's and Astro's configs declare, through the real wrangler: `images` and a service
// binding to the Worker itself (WORKER_SELF_REFERENCE); another Worker the token does not reach
// is refused naming the binding.
test('wrangler: images and a self-referencing service binding deploy and work', { timeout: 240_000 }, async () => {
  const name = `rt-wrangler-${Date.now().toString(36)}`;
  const toml = `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[images]\nbinding = "IMAGES"\n[[services]]\nbinding = "WORKER_SELF_REFERENCE"\nservice = "${name}"\n`;
  const code = `export default { async fetch(req, env) {
    const u = new URL(req.url);
    if (u.pathname === '/inner') return new Response('inner');
    const gif = new Uint8Array([71, 73, 70, 56, 57, 97, 5, 0, 7, 0]);
    const info = await env.IMAGES.info(new Response(gif).body);
    const inner = await (await env.WORKER_SELF_REFERENCE.fetch('https://self/inner')).text();
    return Response.json({ info, inner });
  } };\n`;
  const dir = project({ 'wrangler.toml': toml, 'index.js': code });
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  const r = await request('/', { host: `${name}.localhost` });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { info: { format: 'image/gif', fileSize: 10, width: 5, height: 7 }, inner: 'inner' });

  const other = await freshProject('rt not reached');
  const minted = await call('POST', '/__api/tokens', { body: { name: 'rt scoped', projects: [(await call('GET', `/__api/projects/${name}`)).body.project.id], scopes: ['manage'] } });
  assert.equal(minted.status, 201, minted.text);
  const refused = project({ 'wrangler.toml': `${toml}[[services]]\nbinding = "API"\nservice = "${other.slug}"\n`, 'index.js': code });
  const e = await wrangler(refused, ['deploy'], { token: minted.body.secret });
  assert.notEqual(e.code, 0, e.out);
  assert.match(e.out, /service `[^`]+` \(binding `API`\)/, e.out);
});
