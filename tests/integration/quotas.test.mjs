// Quotas and limits over real HTTP, on a Worker of its own started with small limits: deploys
// per window (per project and per token), upload bytes per window, projects per token, and the
// per-deployment size limits. Past a limit: 429 with Retry-After (413 for a size) naming the
// limit and its value, nothing written, visitors still served, and the window recovers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startWorker, readDevVars } from '../lib/server.mjs';
import { prepare, sleep } from '../lib/site.mjs';

const WINDOW_S = 10;
const LIMITS = {
  QUOTA_DEPLOYS: '2', QUOTA_DEPLOYS_WINDOW_SECS: String(WINDOW_S),
  QUOTA_UPLOAD_BYTES: '3000', QUOTA_UPLOAD_WINDOW_SECS: String(WINDOW_S),
  QUOTA_PROJECTS_PER_TOKEN: '2',
  MAX_FILES_PER_DEPLOYMENT: '5', MAX_DEPLOYMENT_BYTES: '10000', MAX_SERVER_MODULES: '2',
};
const ROOT = readDevVars().API_TOKEN;
let server;

before(async () => {
  server = await startWorker({ extraArgs: Object.entries(LIMITS).flatMap(([k, v]) => ['--var', `${k}:${v}`]) });
});
after(() => server?.stop());

async function call(method, path, { body, token = ROOT, headers = {} } = {}) {
  const h = { authorization: `Bearer ${token}`, ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(server.url + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, body: json, text };
}

function visit(path) {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    http.get({ hostname: u.hostname, port: u.port, path }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    }).on('error', reject);
  });
}

async function project(name, token = ROOT) {
  const r = await call('POST', '/__api/projects', { body: { name }, token });
  assert.equal(r.status, 201, r.text);
  return r.body.project;
}

/** Opens a session and uploads every bucket; returns the session response and completion JWT. */
async function upload(p, files, token = ROOT) {
  const { manifest, bodies } = prepare(files);
  const s = await call('POST', `/__api/projects/${p.id}/assets-upload-session`, { body: { manifest }, token });
  if (s.status !== 200) return { s };
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await call('POST', `/__api/projects/${p.id}/assets/upload`, { body: Object.fromEntries(b.map((h) => [h, bodies[h]])), token: s.body.result.jwt });
    assert.equal(r.status, 200, r.text);
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  return { s, jwt };
}

const deploy = (p, jwt, token = ROOT, extra = {}) =>
  call('POST', `/__api/projects/${p.id}/deploy`, { body: { completionJwt: jwt, ...extra }, token, headers: { prefer: 'respond-async' } });

/** Sleeps to just after a window boundary, so a burst of calls lands in one window. */
async function freshWindow() {
  const ms = WINDOW_S * 1000;
  await sleep(ms - (Date.now() % ms) + 100);
}

function expect429(r, pattern) {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.body.error, 'rate_limited');
  const retry = Number(r.headers.get('retry-after'));
  assert.ok(retry >= 1 && retry <= WINDOW_S, `Retry-After ${retry}`);
  assert.match(r.body.message, pattern);
  return retry;
}

test('deploys per window: per project, per token, nothing written, visitors served, recovers', async () => {
  const p = await project('deploys');
  const q = await project('deploys-other');
  const { body: { secret } } = await call('POST', '/__api/tokens', { body: { name: 'ci', projects: '*', scopes: ['deploy'] } });
  // Same bytes every time: uploads after the first send nothing (and use no upload quota).
  const site = { '/index.html': 'quota site' };
  const jwts = [];
  for (let i = 0; i < 3; i++) jwts.push((await upload(p, site)).jwt);
  await freshWindow();
  const d0 = await deploy(p, jwts[0]);
  assert.equal(d0.status, 202, d0.text);
  assert.equal((await deploy(p, jwts[1])).status, 202);
  const before = (await call('GET', `/__api/projects/${p.id}/deployments`)).body.deployments.length;
  const retry = expect429(await deploy(p, jwts[2]), /this project may use 2 deploys per 10 s/);
  const afterRefusal = (await call('GET', `/__api/projects/${p.id}/deployments`)).body.deployments.length;
  assert.equal(afterRefusal, before, 'a refused deploy records nothing');
  // Visitor traffic is never throttled by management quotas.
  for (let i = 0; i < 100; i++) {
    const st = (await call('GET', `/__api/deployments/${d0.body.deployment.id}`)).body.deployment.status;
    if (!['queued', 'in_progress'].includes(st)) break;
    await sleep(200);
  }
  for (let i = 0; i < 20; i++) assert.equal((await visit(`/__project/${p.slug}/`)).status, 200);
  // The token's own budget: two deploys of q as the token, then the token is out on a fresh project.
  const r = await project('deploys-third');
  const tq = [(await upload(q, site, secret)).jwt, (await upload(q, site, secret)).jwt, (await upload(r, site, secret)).jwt];
  await freshWindow();
  assert.equal((await deploy(q, tq[0], secret)).status, 202);
  assert.equal((await deploy(q, tq[1], secret)).status, 202);
  expect429(await deploy(r, tq[2], secret), /this token may use 2 deploys/);
  // A fresh window (Retry-After pointed at most that far ahead): the project deploys again.
  assert.ok(retry <= WINDOW_S);
  await freshWindow();
  assert.equal((await deploy(p, jwts[2])).status, 202);
  assert.equal((await deploy(r, tq[2], secret)).status, 202);
});

test('upload bytes per window: a session asking for too much is refused whole', async () => {
  const p = await project('bytes');
  await freshWindow();
  const first = await upload(p, { '/a.bin': 'a'.repeat(2000) });
  assert.equal(first.s.status, 200, first.s.text);
  const second = await upload(p, { '/b.bin': 'b'.repeat(2000) });
  expect429(second.s, /this project may use 3000 upload bytes per 10 s/);
  // Already stored bytes are free: the first file again needs nothing.
  const again = await upload(p, { '/a.bin': 'a'.repeat(2000) });
  assert.equal(again.s.status, 200, again.s.text);
  assert.deepEqual(again.s.body.result.buckets, []);
  await freshWindow();
  const later = await upload(p, { '/b.bin': 'b'.repeat(2000) });
  assert.equal(later.s.status, 200, later.s.text);
});

test('projects per token: the third is refused until one is deleted', async () => {
  const { body: { secret } } = await call('POST', '/__api/tokens', { body: { name: 'maker', projects: '*', scopes: ['manage'] } });
  const a = await project('mine-1', secret);
  await project('mine-2', secret);
  const r = await call('POST', '/__api/projects', { body: { name: 'mine-3' }, token: secret });
  assert.equal(r.status, 429, r.text);
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  assert.match(r.body.message, /2 live projects/);
  // Root is not a token: no per-token project quota.
  await project('root-is-not-limited');
  assert.equal((await call('DELETE', `/__api/projects/${a.id}`, { token: secret })).status, 200);
  await project('mine-3', secret);
});

test('per-deployment limits answer 413 naming the limit and write nothing', async () => {
  const p = await project('sizes');
  const six = Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`/f${i}.txt`, `file ${i}`]));
  const tooMany = await upload(p, six);
  assert.equal(tooMany.s.status, 413, tooMany.s.text);
  assert.match(tooMany.s.body.message, /Files per deployment exceeds the limit of 5/);
  const big = await upload(p, { '/big.bin': 'x'.repeat(10001) });
  assert.equal(big.s.status, 413, big.s.text);
  assert.match(big.s.body.message, /Deployment size in bytes exceeds the limit of 10000/);
  // Nothing was stored for the refused sessions: the same files still count as missing.
  const ok = await upload(p, { '/f1.txt': 'file 1' });
  assert.equal(ok.s.status, 200);
  assert.equal(ok.s.body.result.buckets.flat().length, 1);
  const js = Buffer.from('export default { fetch() { return new Response("x") } }').toString('base64');
  const serverCode = { entrypoint: 'a.js', modules: { 'a.js': js, 'b.js': js, 'c.js': js }, compatibilityDate: '2026-10-01' };
  const r = await deploy(p, ok.jwt, ROOT, { serverCode });
  assert.equal(r.status, 413, r.text);
  assert.match(r.body.message, /Server code modules exceeds the limit of 2/);
  assert.equal((await call('GET', `/__api/projects/${p.id}/deployments`)).body.deployments.length, 0);
});
