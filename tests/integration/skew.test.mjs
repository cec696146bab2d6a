// Skew protection over real HTTP (README "Skew protection"): a fingerprinted-asset miss is never
// answered with HTML or by server code, is looked up in the last N earlier production
// deployments, and pins (cookie, ?dpl, x-deployment-id, __vdpl) serve the pinned deployment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freshProject, BASE } from '../lib/client.mjs';
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
