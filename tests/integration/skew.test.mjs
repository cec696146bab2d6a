// Skew protection over real HTTP (README "Skew protection"): a fingerprinted-asset miss is never
// answered with HTML or by server code, is looked up in the last N earlier production
// deployments, and pins (cookie, ?dpl, x-deployment-id, __vdpl) serve the pinned deployment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, freshProject, expectError, BASE } from '../lib/client.mjs';
import { deploySite, visit } from '../lib/site.mjs';

const PORT = new URL(BASE).port;
const hostOf = (p) => `${p.slug}.localhost:${PORT}`;
const b64 = (s) => Buffer.from(s).toString('base64');
const code = (src) => ({ entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(src) } });
const SPA = { not_found_handling: 'single-page-application' };
/** Server code that answers everything it gets, so a request that reaches it shows. */
const CATCH_ALL = (tag) => `export default { async fetch(req) {
  return new Response('code ' + ${JSON.stringify(tag)} + ' ' + new URL(req.url).pathname, { headers: { 'content-type': 'text/html' } }); } };`;

test('a fingerprinted miss is 404 with its own type: never the SPA index.html, never server code', async () => {
  const p = await freshProject('skew-miss');
  const files = { '/index.html': '<h1>spa</h1>', '/assets/app-Ab12Cd34.js': 'export const a = 1;' };
  await deploySite(p.id, files, { config: SPA, extra: { serverCode: code(CATCH_ALL('v1')) } });
  const host = hostOf(p);
  const hit = await visit('/assets/app-Ab12Cd34.js', { host });
  assert.equal(hit.status, 200);
  assert.equal(hit.body, 'export const a = 1;');
  for (const [path, type] of [
    ['/assets/chunk-Zz99Yy88.js', /^text\/javascript/],
    ['/_astro/index.DFc3_a1b.css', /^text\/css/],
    ['/_next/static/chunks/page-6f1b2c3d4e5f6a7b.js', /^text\/javascript/],
    ['/static/js/main.3f2a1b4c.js', /^text\/javascript/],
  ]) {
    for (const headers of [{}, { 'sec-fetch-mode': 'navigate', accept: 'text/html' }]) {
      const r = await visit(path, { host, headers });
      assert.equal(r.status, 404, `${path} ${JSON.stringify(headers)}: ${r.body}`);
      assert.match(r.headers['content-type'], type, path);
      assert.equal(r.body, '', `${path}: no page, no server code`);
    }
  }
  // Pages keep the SPA fallback, and other paths still reach server code.
  const nav = await visit('/app/route', { host, headers: { 'sec-fetch-mode': 'navigate' } });
  assert.equal(nav.body, '<h1>spa</h1>');
  assert.equal((await visit('/api/x', { host })).body, 'code v1 /api/x');
  // A date or id is not a content hash: such a route still reaches server code.
  assert.equal((await visit('/api/report-20240101.csv', { host })).body, 'code v1 /api/report-20240101.csv');

  // Without server code: the SPA fallback would have answered the chunk with index.html.
  const q = await freshProject('skew-miss-static');
  await deploySite(q.id, files, { config: SPA });
  const r = await visit('/assets/chunk-Zz99Yy88.js', { host: hostOf(q) });
  assert.equal(r.status, 404);
  assert.match(r.headers['content-type'], /^text\/javascript/);
  assert.equal((await visit('/deep/page', { host: hostOf(q) })).body, '<h1>spa</h1>');
});

test('a fingerprinted miss is served from the newest of the last 5 earlier production deployments', async () => {
  const p = await freshProject('skew-fallback');
  const host = hostOf(p);
  const chunk = (i) => `/assets/chunk${i}-${String(i).repeat(8)}.js`;
  // Seven deployments, each with its own chunk and a shared one whose bytes change.
  for (let i = 1; i <= 7; i++) {
    const files = { '/index.html': `<h1>v${i}</h1>`, [chunk(i)]: `export default ${i};`, '/assets/shared-Sh4r3dXx.js': `shared ${i}` };
    await deploySite(p.id, files, { config: SPA });
  }
  assert.equal((await visit('/', { host })).body, '<h1>v7</h1>');
  // v6..v2 are the last five before the active one: each chunk comes from its own deployment.
  for (let i = 2; i <= 7; i++) {
    const r = await visit(chunk(i), { host });
    assert.equal(r.status, 200, `chunk ${i}`);
    assert.equal(r.body, `export default ${i};`);
    assert.match(r.headers['content-type'], /^text\/javascript/);
  }
  // v1 is six back: never looked up, so 404 (and never HTML).
  const old = await visit(chunk(1), { host });
  assert.equal(old.status, 404);
  assert.match(old.headers['content-type'], /^text\/javascript/);
  assert.equal((await visit('/assets/shared-Sh4r3dXx.js', { host })).body, 'shared 7', 'the active file wins');
});

const cookieOf = (setCookie) => [].concat(setCookie ?? []).map((c) => c.split(';')[0]).find((c) => c.startsWith('__flotilla_dpl='));
const WHO = (tag) => `export default { async fetch(req) { return new Response('code ${tag}'); } };`;

test('pins: cookie, ?dpl, x-deployment-id and __vdpl serve the pinned deployment, its server code included', async () => {
  const p = await freshProject('skew-pin');
  const host = hostOf(p);
  const site = (tag) => ({ '/index.html': `<h1>${tag}</h1>`, '/page.txt': `page ${tag}` });
  const a = await deploySite(p.id, site('A'), { extra: { serverCode: code(WHO('A')) } });
  const A = a.deploy.deployment.id;
  // The HTML answer pins this origin to A: host-only, HttpOnly, Lax, 24 h, not Secure on http.
  const home = await visit('/', { host, headers: { 'sec-fetch-mode': 'navigate' } });
  assert.equal(home.body, '<h1>A</h1>');
  const setCookie = [].concat(home.headers['set-cookie']).find((c) => c.startsWith('__flotilla_dpl='));
  assert.ok(setCookie, `pin cookie set: ${JSON.stringify(home.headers['set-cookie'])}`);
  for (const attr of ['Path=/', 'Max-Age=86400', 'HttpOnly', 'SameSite=Lax']) assert.ok(setCookie.includes(attr), `${attr} in ${setCookie}`);
  assert.ok(!/domain=|secure/i.test(setCookie), setCookie);
  assert.equal((await visit('/page.txt', { host })).headers['set-cookie'], undefined, 'only HTML pins');
  const pinA = cookieOf(setCookie);
  const tokenA = pinA.split('=')[1];

  await deploySite(p.id, site('B'), { extra: { serverCode: code(WHO('B')) } });
  assert.equal((await visit('/page.txt', { host })).body, 'page B');
  assert.equal((await visit('/api/x', { host })).body, 'code B');
  const ways = {
    // The cookie counts on a browser's subresource requests (Fetch Metadata), not for scripts.
    cookie: ['/page.txt', { cookie: pinA, 'sec-fetch-mode': 'cors' }],
    'dpl id': [`/page.txt?dpl=${A}`, {}],
    'dpl token': [`/page.txt?x=1&dpl=${tokenA}`, {}],
    header: ['/page.txt', { 'x-deployment-id': A }],
    vdpl: ['/page.txt', { cookie: `a=b; __vdpl=${A}` }],
  };
  for (const [way, [path, headers]] of Object.entries(ways)) {
    assert.equal((await visit(path, { host, headers })).body, 'page A', way);
    assert.equal((await visit(path.replace('/page.txt', '/api/x'), { host, headers })).body, 'code A', `${way}: A's server code`);
  }
  assert.equal((await visit('/page.txt', { host, headers: { cookie: pinA } })).body, 'page B', 'no Sec-Fetch-Mode: not pinned by the cookie');
  // A navigation ignores the cookie (a reload gets the new deployment) and re-pins to B.
  const nav = await visit('/', { host, headers: { cookie: pinA, 'sec-fetch-mode': 'navigate' } });
  assert.equal(nav.body, '<h1>B</h1>');
  assert.notEqual(cookieOf(nav.headers['set-cookie']), pinA);
  // An HTML answer served pinned re-pins to the deployment that answered it.
  const pinnedPage = await visit(`/?dpl=${A}`, { host });
  assert.equal(pinnedPage.body, '<h1>A</h1>');
  const repinned = { cookie: cookieOf(pinnedPage.headers['set-cookie']), 'sec-fetch-mode': 'no-cors' };
  assert.equal((await visit('/page.txt', { host, headers: repinned })).body, 'page A');
});

test('pins: forged, foreign-project and never-published pins are ignored, never an error page', async () => {
  const p = await freshProject('skew-forged');
  const q = await freshProject('skew-foreign');
  const host = hostOf(p);
  const site = (tag) => ({ '/index.html': `<h1>${tag}</h1>`, '/page.txt': `page ${tag}` });
  const A = (await deploySite(p.id, site('A'))).deploy.deployment.id;
  const tokenA = cookieOf((await visit('/', { host })).headers['set-cookie']).split('=')[1];
  await deploySite(p.id, site('B'));
  const Q1 = (await deploySite(q.id, site('Q1'))).deploy.deployment.id;
  const tokenQ1 = cookieOf((await visit('/', { host: hostOf(q) })).headers['set-cookie']).split('=')[1];
  await deploySite(q.id, site('Q2'));
  // A staged preview of p (never production) must not be reachable by its bare id.
  const staged = (await deploySite(p.id, site('staged'), { extra: { activate: false } })).deploy.deployment.id;
  // A token is `<deployment>.<expiry>.<hmac>`: change any part and it no longer verifies.
  const [dep, exp, sig] = tokenA.split('.');
  assert.equal(dep, A);
  const forged = `${dep}.${exp}.${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`;
  const repointed = `${staged}.${exp}.${sig}`;
  const extended = `${dep}.${Number(exp) + 1}.${sig}`;
  for (const [why, headers] of [
    ['forged signature', { cookie: `__flotilla_dpl=${forged}` }],
    ['re-pointed at a preview', { cookie: `__flotilla_dpl=${repointed}` }],
    ['expiry pushed out', { 'x-deployment-id': extended }],
    ['foreign token', { cookie: `__flotilla_dpl=${tokenQ1}` }],
    ['foreign id', { 'x-deployment-id': Q1 }],
    ['foreign __vdpl', { cookie: `__vdpl=${Q1}` }],
    ['staged preview id', { 'x-deployment-id': staged }],
    ['garbage', { 'x-deployment-id': 'x'.repeat(300), cookie: '__flotilla_dpl=a.b.c; __vdpl=' }],
  ]) {
    const r = await visit('/page.txt', { host, headers: { ...headers, 'sec-fetch-mode': 'cors' } });
    assert.equal(r.status, 200, why);
    assert.equal(r.body, 'page B', why);
  }
  assert.equal((await visit(`/page.txt?dpl=${tokenQ1}`, { host })).body, 'page B');
  // Still valid on its own project (the pin itself was fine).
  assert.equal((await visit('/page.txt', { host, headers: { cookie: `__flotilla_dpl=${tokenA}`, 'sec-fetch-mode': 'cors' } })).body, 'page A');
  assert.equal((await visit(`/page.txt?dpl=${A}`, { host })).body, 'page A');
});

test('pins reach server code on the JS fast path too (every request runs server code)', async () => {
  const p = await freshProject('skew-fast');
  const host = hostOf(p);
  const A = (await deploySite(p.id, { '/index.html': 'A' }, { extra: { serverCode: code(WHO('A')), run_worker_first: true } })).deploy.deployment.id;
  await deploySite(p.id, { '/index.html': 'B' }, { extra: { serverCode: code(WHO('B')), run_worker_first: true } });
  // Warm the fast path for this host, then pin.
  for (let i = 0; i < 3; i++) assert.equal((await visit('/x', { host })).body, 'code B');
  assert.equal((await visit('/x', { host, headers: { 'x-deployment-id': A } })).body, 'code A');
  assert.equal((await visit(`/x?dpl=${A}`, { host })).body, 'code A');
  assert.equal((await visit('/x', { host, headers: { cookie: `__vdpl=${A}` } })).body, 'code A');
  assert.equal((await visit('/x', { host })).body, 'code B');
});

test('project settings: skew protection off restores the old answers; pin lifetime and fallback depth', async () => {
  const p = await freshProject('skew-settings');
  const host = hostOf(p);
  const files = (i) => ({ '/index.html': `<h1>v${i}</h1>`, [`/assets/c${i}-${String(i).repeat(8)}.js`]: `export default ${i};` });
  const A = (await deploySite(p.id, files(1), { config: SPA })).deploy.deployment.id;
  await deploySite(p.id, files(2), { config: SPA });
  await deploySite(p.id, files(3), { config: SPA });
  const got = await api.getProject(p.id);
  assert.deepEqual(
    [got.body.project.skewProtection, got.body.project.skewPinSeconds, got.body.project.skewFallbackDepth],
    [true, 86400, 5],
  );

  // Depth 1: only the deployment just before the active one is looked up.
  let r = await api.updateProject(p.id, { skewFallbackDepth: 1, skewPinSeconds: 120 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.project.skewFallbackDepth, 1);
  assert.equal((await visit('/assets/c2-22222222.js', { host })).body, 'export default 2;');
  const miss = await visit('/assets/c1-11111111.js', { host });
  assert.equal(miss.status, 404);
  assert.match(miss.headers['content-type'], /^text\/javascript/);
  assert.match([].concat((await visit('/', { host })).headers['set-cookie']).join(), /Max-Age=120;/);

  // Off: no pins, no fallback, no cookie; the SPA fallback answers misses as before.
  r = await api.updateProject(p.id, { skewProtection: false });
  assert.equal(r.body.project.skewProtection, false);
  const off = await visit('/assets/c2-22222222.js', { host });
  assert.equal(off.status, 200);
  assert.equal(off.body, '<h1>v3</h1>', 'the SPA index.html, as without skew protection');
  assert.equal((await visit(`/?dpl=${A}`, { host })).body, '<h1>v3</h1>');
  assert.equal((await visit('/', { host })).headers['set-cookie'], undefined);

  r = await api.updateProject(p.id, { skewProtection: true });
  assert.equal((await visit(`/?dpl=${A}`, { host })).body, '<h1>v1</h1>');
  for (const [body, field] of [[{ skewPinSeconds: 59 }, 'skewPinSeconds'], [{ skewFallbackDepth: 21 }, 'skewFallbackDepth'], [{ skewProtection: 'no' }, 'skewProtection']]) {
    expectError(assert, await api.updateProject(p.id, body), 400, 'bad_request', field);
  }
});
