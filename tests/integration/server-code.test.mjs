// Server code through the Worker Loader over real HTTP: module types, env vars, ASSETS,
// run_worker_first, tenant isolation, redeploy and previews of old code, outbound network,
// failure isolation, and request/response fidelity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, freshProject, expectError, BASE } from '../lib/client.mjs';
import { CRASHY_CODE, deploySite, upload, visit } from '../lib/site.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');
const code = (src, extra = {}) => ({
  entrypoint: 'index.js',
  compatibilityDate: '2026-10-01',
  modules: { 'index.js': b64(src), ...extra },
});
const SITE = { '/index.html': '<h1>static home</h1>', '/secret.txt': 'static secret', '/app/page.html': 'page' };

async function deployCode(project, src, { files = SITE, env, extra, run_worker_first, config, expect = 200 } = {}) {
  const body = { serverCode: code(src, extra), ...(env ? { env } : {}), ...(run_worker_first !== undefined ? { run_worker_first } : {}) };
  return deploySite(project.id, files, { extra: body, config, expect });
}

const ECHO = `
let hits = 0; // module state: must never be shared across deployments
export default {
  async fetch(req, env) {
    hits++;
    const u = new URL(req.url);
    const body = ['POST', 'PUT'].includes(req.method) ? await req.text() : null;
    return Response.json({ who: env.WHO, path: u.pathname, query: u.search, method: req.method, body,
      prefix: req.headers.get('x-forwarded-prefix'), custom: req.headers.get('x-custom'), hits, keys: Object.keys(env).sort() });
  }
};`;

test('env vars, request fidelity and X-Forwarded-Prefix; env holds only vars and ASSETS', async () => {
  const p = await freshProject('echo');
  const { deploy } = await deployCode(p, ECHO, { env: { WHO: 'alpha', API_KEY: 'sk_live_secret_value' } });
  assert.equal(deploy.deployment.stats.serverCode.modules, 1);
  assert.deepEqual(deploy.deployment.stats.serverCode.envVars, ['API_KEY', 'WHO']);
  assert.ok(!JSON.stringify(deploy).includes('sk_live_secret_value'), 'env values are never echoed back');
  const project = await api.getProject(p.id);
  assert.equal(project.body.project.hasServerCode, true);

  const r = await visit(`/__project/${p.slug}/api/thing?x=1&y=2`, { method: 'POST', headers: { 'x-custom': 'c1', 'content-type': 'text/plain', 'content-length': '0' } });
  const j = JSON.parse(r.body);
  assert.equal(r.status, 200);
  assert.equal(j.who, 'alpha');
  assert.equal(j.path, '/api/thing');
  assert.equal(j.query, '?x=1&y=2');
  assert.equal(j.method, 'POST');
  assert.equal(j.prefix, `/__project/${p.slug}`);
  assert.equal(j.custom, 'c1');
  assert.deepEqual(j.keys, ['API_KEY', 'ASSETS', 'WHO']);
  const sub = JSON.parse((await visit('/api/thing', { host: `${p.slug}.localhost`, headers: { 'x-forwarded-prefix': '/evil' } })).body);
  assert.equal(sub.prefix, null, 'subdomain mode has no prefix, whatever the visitor sends');
  assert.equal(sub.path, '/api/thing');
});

test('POST bodies stream through and multiple Set-Cookie headers round trip', async () => {
  const p = await freshProject('cookies');
  await deployCode(p, `export default { async fetch(req) {
    const text = await req.text();
    const h = new Headers({ 'content-type': 'text/plain' });
    h.append('set-cookie', 'a=1; Path=/'); h.append('set-cookie', 'b=2; Path=/; HttpOnly');
    return new Response('len=' + text.length + ' sha=' + text.slice(0, 5) + text.slice(-5), { status: 201, headers: h }); } };`);
  const big = 'start' + 'x'.repeat(300_000) + 'final';
  const res = await fetch(`${BASE}/__project/${p.slug}/upload`, { method: 'POST', body: big });
  assert.equal(res.status, 201);
  assert.equal(await res.text(), `len=${big.length} sha=startfinal`);
  assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
});

test('every module type: js imports cjs, text, data and json', async () => {
  const p = await freshProject('modules');
  const src = `import cfg from './config.json'; import note from './note.txt'; import bin from './blob.bin'; import lib from './lib.cjs';
    export default { fetch() { return Response.json({ cfg, note, binLen: new Uint8Array(bin).length, first: new Uint8Array(bin)[0], lib: lib.answer }); } };`;
  await deployCode(p, src, {
    extra: {
      'config.json': b64('{"mode":"prod"}'),
      'note.txt': b64('hello text'),
      'blob.bin': Buffer.from([7, 8, 9]).toString('base64'),
      'lib.cjs': { type: 'cjs', content: 'module.exports = { answer: 42 };', encoding: 'utf8' },
    },
  });
  const r = JSON.parse((await visit(`/__project/${p.slug}/anything`)).body);
  assert.deepEqual(r, { cfg: { mode: 'prod' }, note: 'hello text', binLen: 3, first: 7, lib: 42 });
});

test('python modules are accepted and fail cleanly locally (production only), never hang', async () => {
  const p = await freshProject('python');
  const t0 = Date.now();
  const { jwt } = await upload(p.id, SITE);
  const r = await api.deploy(p.id, {
    completionJwt: jwt,
    serverCode: { entrypoint: 'main.py', compatibilityDate: '2026-10-01', compatibilityFlags: ['python_workers'], modules: { 'main.py': b64('from workers import Response\ndef on_fetch(request):\n    return Response("py")\n') } },
  });
  assert.ok(Date.now() - t0 < 60_000, 'answered promptly');
  const e = expectError(assert, r, 422, 'unprocessable');
  assert.equal(e.details.deployment.status, 'failed');
  assert.match(e.details.deployment.error, /server code failed to start/);
  assert.equal(e.details.deployment.steps.verify.status, 'failed');
});

test('ASSETS.fetch serves this deployment\u2019s assets with the same semantics as a visit', async () => {
  const p = await freshProject('assets-binding');
  await deployCode(p, `export default { async fetch(req, env) {
      const u = new URL(req.url);
      // redirect: 'manual' so the binding's own 307s are visible (fetch follows them by default).
      const r = await env.ASSETS.fetch(new Request(new URL(u.searchParams.get('p'), req.url), { headers: req.headers, redirect: 'manual' }));
      return new Response('via-assets ' + r.status + ' ' + (r.headers.get('location') || '') + ' ' + ([200, 206].includes(r.status) ? await r.text() : ''));
    } };`, { run_worker_first: true });
  assert.equal((await visit(`/__project/${p.slug}/x?p=/secret.txt`)).body, 'via-assets 200  static secret');
  assert.equal((await visit(`/__project/${p.slug}/x?p=/app/page.html`)).body, 'via-assets 307 /app/page ');
  assert.equal((await visit(`/__project/${p.slug}/x?p=/missing`)).body, 'via-assets 404  ');
  // A Range the code passes on is answered as a visit's would be.
  assert.equal((await visit(`/__project/${p.slug}/x?p=/secret.txt`, { headers: { range: 'bytes=0-5' } })).body, 'via-assets 206  static');
  // Following the redirect, as fetch does by default, lands on the page.
  assert.equal((await visit(`/__project/${p.slug}/x?p=/app/page`)).body, 'via-assets 200  page');
});

test('two projects with the same code see only their own assets, vars and module state', async () => {
  const src = `let seen = [];
    export default { async fetch(req, env) {
      seen.push(env.WHO);
      const secret = await (await env.ASSETS.fetch('http://assets/secret.txt')).text();
      return Response.json({ who: env.WHO, secret, seen });
    } };`;
  const a = await freshProject('tenant-a');
  const b = await freshProject('tenant-b');
  await deployCode(a, src, { env: { WHO: 'a' }, files: { '/secret.txt': 'secret of A' }, run_worker_first: true });
  await deployCode(b, src, { env: { WHO: 'b' }, files: { '/secret.txt': 'secret of B' }, run_worker_first: true });
  for (let round = 0; round < 3; round++) {
    const [ra, rb] = await Promise.all([visit(`/__project/${a.slug}/`), visit(`/__project/${b.slug}/`)]);
    const ja = JSON.parse(ra.body);
    const jb = JSON.parse(rb.body);
    assert.equal(ja.secret, 'secret of A');
    assert.equal(jb.secret, 'secret of B');
    assert.ok(ja.seen.every((w) => w === 'a'), `A's isolate saw ${ja.seen}`);
    assert.ok(jb.seen.every((w) => w === 'b'), `B's isolate saw ${jb.seen}`);
  }
});

test('run_worker_first: false (assets first), true, and rule lists with negations', async () => {
  const src = `export default { fetch(req) { return new Response('code:' + new URL(req.url).pathname); } };`;
  const none = await freshProject('rwf-false');
  await deployCode(none, src);
  assert.equal((await visit(`/__project/${none.slug}/secret.txt`)).body, 'static secret', 'asset wins');
  assert.equal((await visit(`/__project/${none.slug}/dynamic`)).body, 'code:/dynamic', 'no asset -> code');

  const all = await freshProject('rwf-true');
  await deployCode(all, src, { run_worker_first: true });
  assert.equal((await visit(`/__project/${all.slug}/secret.txt`)).body, 'code:/secret.txt');

  const rules = await freshProject('rwf-rules');
  await deployCode(rules, src, { run_worker_first: ['/app/*', '!/app/page.html', '/secret.txt'] });
  assert.equal((await visit(`/__project/${rules.slug}/app/anything/deep`)).body, 'code:/app/anything/deep');
  assert.equal((await visit(`/__project/${rules.slug}/app/page.html`)).status, 307, 'negation serves assets (html_handling redirect)');
  assert.equal((await visit(`/__project/${rules.slug}/secret.txt`)).body, 'code:/secret.txt');
  assert.equal((await visit(`/__project/${rules.slug}/`)).body, '<h1>static home</h1>');

  const spa = await freshProject('rwf-spa');
  await deployCode(spa, src, { config: { not_found_handling: 'single-page-application' } });
  const nav = await visit(`/__project/${spa.slug}/route`, { headers: { 'sec-fetch-mode': 'navigate' } });
  assert.equal(nav.body, '<h1>static home</h1>', 'navigations get the SPA fallback');
  assert.equal((await visit(`/__project/${spa.slug}/route`)).body, 'code:/route', 'other requests reach the code');
  expectError(assert, await api.deploy(spa.id, { completionJwt: 'x', serverCode: code(src), run_worker_first: ['!/only'] }), 400, 'bad_request', 'run_worker_first');
});

test('a redeploy changes behaviour at once; the old bundle stays runnable at its preview URL', async () => {
  const p = await freshProject('versions');
  const v1 = await deployCode(p, `export default { fetch() { return new Response('v1'); } };`);
  assert.equal((await visit(`/__project/${p.slug}/x`)).body, 'v1');
  await deployCode(p, `export default { fetch() { return new Response('v2'); } };`);
  assert.equal((await visit(`/__project/${p.slug}/x`)).body, 'v2');
  const prefix = v1.deploy.deployment.id.slice(0, 8);
  assert.equal((await visit(`/__project/${p.slug}@${prefix}/x`)).body, 'v1');
});

test('outbound network: blocked by default (even to the platform), allowed when the project says so', async () => {
  const p = await freshProject('outbound');
  assert.equal(p.outbound, 'block');
  const src = `export default { async fetch(req, env) {
      try { const r = await fetch(env.TARGET + '/health'); return new Response('reached ' + r.status); }
      catch (e) { return new Response('blocked: ' + e.message); } } };`;
  await deployCode(p, src, { env: { TARGET: BASE }, run_worker_first: true });
  assert.match((await visit(`/__project/${p.slug}/`)).body, /^blocked: /);
  const patched = await api.updateProject(p.id, { outbound: 'allow' });
  assert.equal(patched.body.project.outbound, 'allow');
  assert.equal((await visit(`/__project/${p.slug}/`)).body, 'reached 200');
  await api.updateProject(p.id, { outbound: 'block' });
  assert.match((await visit(`/__project/${p.slug}/`)).body, /^blocked: /);
  expectError(assert, await api.updateProject(p.id, { outbound: 'maybe' }), 400, 'bad_request', 'outbound');
});

test('failures are isolated: throw, never-settling promise, garbage response; platform unaffected', async () => {
  const p = await freshProject('crashy');
  await deployCode(p, CRASHY_CODE);
  for (const [path, statuses] of [['/throw', [500]], ['/hang', [500, 502]], ['/garbage', [500, 502]]]) {
    const t0 = Date.now();
    const r = await visit(`/__project/${p.slug}${path}`, { headers: { accept: 'application/json' } });
    assert.ok(statuses.includes(r.status), `${path}: ${r.status}`);
    assert.ok(Date.now() - t0 < 40_000, `${path} answered in bounded time`);
    assert.ok(!r.body.includes('internal detail xyz'), 'nothing internal reaches the visitor');
    assert.ok(r.headers['x-request-id']);
  }
  assert.equal((await visit(`/__project/${p.slug}/ok`)).body, 'fine', 'the same deployment still serves');
  assert.equal((await api.listProjects()).status, 200, 'management API unaffected');
  assert.equal((await visit('/health')).status, 200);
});

test('code that throws at import never becomes active; the previous deployment keeps serving', async () => {
  const p = await freshProject('import-throw');
  await deployCode(p, `export default { fetch() { return new Response('good'); } };`);
  const { jwt } = await upload(p.id, SITE);
  const r = await api.deploy(p.id, { completionJwt: jwt, serverCode: code(`throw new Error('broken at import'); export default {};`) });
  const e = expectError(assert, r, 422, 'unprocessable');
  assert.match(e.details.deployment.error, /server code failed to start/);
  assert.equal(e.details.deployment.steps.activate.status, 'skipped');
  assert.equal((await visit(`/__project/${p.slug}/x`)).body, 'good');
});

test('serverCode validation names the module; limits are 413', async () => {
  const p = await freshProject('code-validation');
  const { jwt } = await upload(p.id, SITE);
  const cases = [
    [{ entrypoint: 'nope.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64('x') } }, 'serverCode.entrypoint'],
    [{ entrypoint: '../x.js', compatibilityDate: '2026-10-01', modules: { '../x.js': b64('x') } }, 'serverCode.modules["../x.js"]'],
    [{ entrypoint: 'index.js', compatibilityDate: 'soon', modules: { 'index.js': b64('x') } }, 'serverCode.compatibilityDate'],
    [{ entrypoint: 'index.js', compatibilityDate: '2026-10-01', compatibilityFlags: ['unsafe_eval'], modules: { 'index.js': b64('x') } }, 'serverCode.compatibilityFlags[0]'],
    [{ entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64('x'), 'weird.xyz': b64('x') } }, 'serverCode.modules["weird.xyz"]'],
  ];
  for (const [serverCode, field] of cases) expectError(assert, await api.deploy(p.id, { completionJwt: jwt, serverCode }), 400, 'bad_request', field);
  const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`m${i}.js`, b64('export default {}')]));
  expectError(assert, await api.deploy(p.id, { completionJwt: jwt, serverCode: { entrypoint: 'm0.js', compatibilityDate: '2026-10-01', modules: many } }), 413, 'payload_too_large');
  assert.equal((await api.listDeployments(p.id)).body.deployments.length, 0, 'nothing was created');
});

test('WebSocket upgrades pass through to server code', async () => {
  const p = await freshProject('websocket');
  await deployCode(p, `export default { fetch(req) {
      if (req.headers.get('upgrade') !== 'websocket') return new Response('plain');
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener('message', (e) => server.send('echo:' + e.data));
      return new Response(null, { status: 101, webSocket: client });
    } };`, { run_worker_first: true });
  const ws = new WebSocket(`${BASE.replace('http', 'ws')}/__project/${p.slug}/ws`);
  const reply = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no WebSocket reply in 10 s')), 10_000);
    ws.addEventListener('open', () => ws.send('hello'));
    ws.addEventListener('message', (e) => { clearTimeout(timer); resolve(e.data); });
    ws.addEventListener('error', (e) => { clearTimeout(timer); reject(new Error(`WebSocket error: ${e.message ?? e.type}`)); });
  });
  ws.close();
  assert.equal(reply, 'echo:hello');
});

test('server code of several MiB deploys through the API (the deploy body is not capped at 1 MiB)', { timeout: 120_000 }, async () => {
  const p = await freshProject('code-big');
  // 8 MiB of module text (under the 10 MiB bundle limit): ~10.7 MiB of JSON once base64.
  const src = `export default { fetch() { return new Response("big code"); } };\n/* ${'x'.repeat(8 * 1024 * 1024)} */\n`;
  const { deploy } = await deploySite(p.id, { '/index.html': 'home' }, { extra: { serverCode: code(src) }, });
  assert.equal(deploy.deployment.status, 'completed');
  assert.equal((await visit(`/__project/${p.slug}/api`)).body, 'big code');
  // Past the bundle limit is still refused, with the limit named.
  const { jwt } = await upload(p.id, { '/index.html': 'home' });
  const over = `/* ${'y'.repeat(10 * 1024 * 1024)} */\nexport default {};\n`;
  const r = await api.deploy(p.id, { completionJwt: jwt, serverCode: code(over) });
  assert.equal(r.status, 413, r.text);
});
