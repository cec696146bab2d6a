// The visitor fast path (src/platform/fast.rs, src/js/main.mjs): on `<slug>.<domain>`, once a
// deployment whose server code answers every request has been served from the isolate's route
// cache, JS dispatches that host's requests without entering wasm. Every test here warms a
// host first and then checks that the platform's rules still hold request after request:
// headers the visitor may not set, request ids, bodies, changes visible at once, the
// platform's error pages, WebSocket upgrades, and assets-first sites that must never take it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { api, freshProject, BASE } from '../lib/client.mjs';
import { CRASHY_CODE, deploySite, request, visit } from '../lib/site.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');
const SITE = { '/index.html': '<h1>static home</h1>', '/secret.txt': 'static secret' };

async function deployCode(project, src, { run_worker_first = true, files = SITE } = {}) {
  const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(src) } };
  return deploySite(project.id, files, { extra: { serverCode, run_worker_first } });
}

/** Enough visits for the host to be offered to (and then served by) the fast path. */
async function warm(host, path = '/') {
  for (let i = 0; i < 3; i++) assert.equal((await visit(path, { host })).status < 500, true);
}

const ECHO = `
let hits = 0;
export default {
  async fetch(req) {
    hits++;
    const u = new URL(req.url);
    const body = req.method === 'POST' ? await req.text() : null;
    const h = new Headers({ 'content-type': 'application/json' });
    h.append('set-cookie', 'a=1; Path=/'); h.append('set-cookie', 'b=2; Path=/; HttpOnly');
    return new Response(JSON.stringify({ path: u.pathname, query: u.search, method: req.method, host: u.host,
      len: body === null ? null : body.length, ends: body === null ? null : body.slice(0, 5) + body.slice(-5),
      prefix: req.headers.get('x-forwarded-prefix'), custom: req.headers.get('x-custom'), hits }), { status: 201, headers: h });
  }
};`;

test('fast path: requests keep their fidelity, visitor prefixes are dropped, request ids as on the Rust path', async () => {
  const p = await freshProject('fast-echo');
  await deployCode(p, ECHO);
  const host = `${p.slug}.localhost`;
  await warm(host);
  let lastHits = 0;
  for (let i = 0; i < 5; i++) {
    const r = await visit(`/api/thing?x=${i}`, { host, headers: { 'x-forwarded-prefix': '/evil', 'x-custom': `c${i}` } });
    assert.equal(r.status, 201);
    const j = JSON.parse(r.body);
    assert.equal(j.path, '/api/thing');
    assert.equal(j.query, `?x=${i}`);
    assert.equal(j.custom, `c${i}`);
    assert.equal(j.prefix, null, 'a visitor-supplied X-Forwarded-Prefix never reaches the code');
    assert.ok(j.hits > lastHits, 'the same warm isolate answers');
    lastHits = j.hits;
    assert.match(r.headers['x-request-id'], /^[0-9a-f]{24}$/);
    assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    assert.equal(r.headers['content-type'], 'application/json');
  }
  assert.equal((await visit('/', { host, headers: { 'x-request-id': 'trace-abc_1' } })).headers['x-request-id'], 'trace-abc_1');
  const odd = await visit('/', { host, headers: { 'x-request-id': 'not plain!' } });
  assert.match(odd.headers['x-request-id'], /^[0-9a-f]{24}$/, 'an unsafe given id is replaced');
  const big = 'start' + 'x'.repeat(300_000) + 'final';
  const post = JSON.parse((await request('/upload', { host, method: 'POST', body: big, headers: { 'content-type': 'text/plain' } })).body);
  assert.equal(post.len, big.length);
  assert.equal(post.ends, 'startfinal');
  const head = await visit('/x', { host, method: 'HEAD' });
  assert.equal(head.status, 201);
  assert.equal(head.body, '');
});

test('fast path: a redeploy, rollback, disable or delete is visible on the very next request', async () => {
  const p = await freshProject('fast-changes');
  const v = (n) => `export default { fetch() { return new Response('v${n}'); } };`;
  await deployCode(p, v(1));
  const host = `${p.slug}.localhost`;
  await warm(host);
  assert.equal((await visit('/a', { host })).body, 'v1');
  await deployCode(p, v(2));
  assert.equal((await visit('/a', { host })).body, 'v2', 'the activating isolate drops its fast entries');
  await warm(host);
  assert.equal((await api.rollback(p.id)).status, 200);
  assert.equal((await visit('/a', { host })).body, 'v1');
  await warm(host);
  assert.equal((await api.updateProject(p.id, { enabled: false })).status, 200);
  assert.equal((await visit('/a', { host })).status, 404, 'a disabled site stops at once');
  assert.equal((await api.updateProject(p.id, { enabled: true })).status, 200);
  await warm(host);
  assert.equal((await visit('/a', { host })).body, 'v1');
  assert.equal((await api.deleteProject(p.id)).status, 200);
  assert.equal((await visit('/a', { host })).status, 404, 'a deleted site stops at once');
});

test('fast path: user code failures get the platform error pages, nothing internal leaks', async () => {
  const p = await freshProject('fast-crashy');
  await deployCode(p, CRASHY_CODE);
  const host = `${p.slug}.localhost`;
  // As on the Rust path (server-code.test.mjs): the runtime itself may turn a garbage value or
  // a hang into a throw (500) before the platform's own check (502).
  for (const [path, statuses] of [['/throw', [500]], ['/garbage', [500, 502]], ['/hang', [500, 502]]]) {
    await warm(host);
    const r = await visit(path, { host, headers: { accept: 'application/json' } });
    assert.ok(statuses.includes(r.status), `${path}: ${r.status}`);
    assert.ok(!r.body.includes('internal detail xyz'), 'nothing internal reaches the visitor');
    assert.equal(JSON.parse(r.body).success, false, `${path}: the platform's JSON error page`);
    assert.match(r.headers['x-request-id'], /^[0-9a-f]{24}$/);
    assert.equal(r.headers['cache-control'], 'no-store');
    const html = await visit(path === '/hang' ? '/throw' : path, { host, headers: { accept: 'text/html' } });
    assert.match(html.headers['content-type'], /^text\/html/);
  }
  assert.equal((await visit('/ok', { host })).body, 'fine', 'the same deployment still serves');
});

test('fast path: WebSocket upgrades still pass through with a request id', async () => {
  const p = await freshProject('fast-ws');
  await deployCode(p, `export default { fetch(req) {
      if (req.headers.get('upgrade') !== 'websocket') return new Response('plain');
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      return new Response(null, { status: 101, webSocket: client, headers: { 'x-from-code': 'yes' } });
    } };`);
  const host = `${p.slug}.localhost`;
  await warm(host);
  const u = new URL(BASE);
  const res = await new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path: '/ws', headers: {
      host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    req.on('upgrade', (r, socket) => { socket.destroy(); resolve(r); });
    req.on('response', (r) => resolve(r));
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.statusCode, 101);
  assert.equal(res.headers['x-from-code'], 'yes');
  assert.match(res.headers['x-request-id'], /^[0-9a-f]{24}$/);
});

test('fast path: assets-first deployments are never short-circuited', async () => {
  const p = await freshProject('fast-assets-first');
  await deployCode(p, `export default { fetch(req) { return new Response('code:' + new URL(req.url).pathname); } };`, { run_worker_first: false });
  const host = `${p.slug}.localhost`;
  for (let i = 0; i < 5; i++) {
    assert.equal((await visit('/secret.txt', { host })).body, 'static secret');
    assert.equal((await visit('/other', { host })).body, 'code:/other');
  }
  // Run-first rules name some paths only: the rest must keep reaching the assets.
  await deployCode(p, `export default { fetch() { return new Response('code'); } };`, { run_worker_first: ['/api/*'] });
  for (let i = 0; i < 5; i++) {
    assert.equal((await visit('/api/x', { host })).body, 'code');
    assert.equal((await visit('/secret.txt', { host })).body, 'static secret');
  }
});
