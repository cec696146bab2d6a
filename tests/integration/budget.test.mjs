// The per-invocation budget model (src/deploy/budget.rs) against what the adapters really do.
// The model says how many D1 statements, KV, R2 and queue operations each step of a deployment
// makes, and native tests hold every step of a 100,000-file deployment under Cloudflare's
// per-invocation limits with it; a model that undercounts would let a real step break them.
// Here a test instance counts each request's storage operations in the JS glue (src/js/main.mjs:
// `x-flotilla-ops: count` asks, the `x-flotilla-ops` response header answers) for each step of
// a native and a wrangler deployment and a GC run, and every count must be within the model's
// number for that step and service, which the native test `model_for_the_integration_test`
// prints for the same file count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { call, freshProject, BASE } from '../lib/client.mjs';
import { prepare, waitFor } from '../lib/site.mjs';
import { ROOT } from '../lib/server.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';

const FILES = 120;
/** The integration runner's GC_PAGE_ROWS (tests/run-integration.mjs). */
const GC_PAGE_ROWS = 3;
const COUNT = { 'x-flotilla-ops': 'count' };

/** The model's numbers for FILES files, from the native test that computes them. */
function model() {
  const r = spawnSync('cargo', ['test', '--lib', 'deploy::budget::tests::model_for_the_integration_test', '--', '--exact', '--nocapture'], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, BUDGET_FILES: String(FILES), BUDGET_GC_PAGE_ROWS: String(GC_PAGE_ROWS) }, maxBuffer: 64 << 20,
  });
  const line = `${r.stdout}`.split('\n').find((l) => l.startsWith('BUDGET_MODEL '));
  assert.ok(line, `the native model test printed nothing: ${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice('BUDGET_MODEL '.length));
}

function ops(headers) {
  const h = headers.get('x-flotilla-ops');
  assert.ok(h, 'the test instance counted the request');
  return Object.fromEntries(h.split(' ').map((kv) => kv.split('=')).map(([k, n]) => [k, Number(n)]));
}

function within(step, counted, budget) {
  for (const k of ['d1', 'kv', 'r2', 'queue']) {
    assert.ok(counted[k] <= budget[k], `${step}: ${k} ${counted[k]} > model ${budget[k]} (counted ${JSON.stringify(counted)}, model ${JSON.stringify(budget)})`);
  }
}

const files = () => {
  const out = {};
  for (let i = 0; i < FILES; i++) out[`/f/${i}.txt`] = `budget ${Date.now()} ${Math.random()} ${i}\n`;
  return out;
};

test('each step of a native deployment and a GC run stays within the budget model', { timeout: 600_000 }, async () => {
  const m = model();
  assert.equal(m.files, FILES);
  const p = await freshProject('budget');
  const P = `/__api/projects/${p.id}`;
  const seen = {};
  for (let round = 0; round < 2; round++) {
    const { manifest, bodies } = prepare(files());
    const s = await call('POST', `${P}/assets-upload-session`, { body: { manifest }, headers: COUNT });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.body.result.buckets.length, 1);
    seen.uploadSession = ops(s.headers);
    within('upload session', seen.uploadSession, m.uploadSession);
    const bucket = s.body.result.buckets[0];
    assert.equal(bucket.length, FILES);
    const u = await call('POST', `${P}/assets/upload`, {
      token: s.body.result.jwt, headers: COUNT, body: Object.fromEntries(bucket.map((h) => [h, bodies[h]])),
    });
    assert.equal(u.status, 200, u.text);
    seen.bucket = ops(u.headers);
    within('bucket', seen.bucket, m.bucket);
    // Waits for the workflow, which runs in the same invocation.
    const d = await call('POST', `${P}/deploy`, { body: { completionJwt: u.body.result.jwt }, headers: COUNT });
    assert.equal(d.status, 200, d.text);
    assert.equal((await waitFor(d.body.deployment.id)).status, 'completed');
    seen.deploy = ops(d.headers);
    within('deploy + workflow', seen.deploy, m.deploy);
  }
  const g = await call('POST', `${P}/gc`, { headers: COUNT });
  assert.equal(g.status, 200, g.text);
  seen.gc = ops(g.headers);
  within('gc', seen.gc, m.gc);
  // The counts are real: each step touched the storage its model names.
  assert.ok(seen.bucket.kv >= FILES, JSON.stringify(seen.bucket));
  assert.ok(seen.deploy.d1 > 0 && seen.deploy.kv > 0 && seen.deploy.queue > 0, JSON.stringify(seen.deploy));
  console.log(`budget counted (model): ${Object.entries(seen).map(([k, v]) => `${k} ${JSON.stringify(v)} (${JSON.stringify(m[k])})`).join('; ')}`);
});

test('each step of a wrangler deploy stays within the budget model', { timeout: 600_000 }, async () => {
  const m = model();
  // wrangler talks to a loopback proxy that asks the Worker to count every call.
  const counted = [];
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers, ...COUNT };
      delete headers.host;
      delete headers['content-length'];
      const r = await fetch(BASE + req.url, { method: req.method, headers, body: body.length ? body : undefined, redirect: 'manual' });
      const buf = Buffer.from(await r.arrayBuffer());
      if (r.headers.get('x-flotilla-ops')) counted.push({ method: req.method, path: req.url.split('?')[0], ops: ops(r.headers) });
      const out = {};
      r.headers.forEach((v, k) => { if (k !== 'content-encoding' && k !== 'content-length') out[k] = v; });
      res.writeHead(r.status, out);
      res.end(buf);
    });
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const name = `budget-wr-${Date.now().toString(36)}`;
    const tree = {
      'wrangler.toml': `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\nbinding = "ASSETS"\n`,
      'index.js': 'export default { fetch(req, env) { return env.ASSETS.fetch(req); } };\n',
    };
    for (const [path, text] of Object.entries(files())) tree[`public${path}`] = text;
    const dir = project(tree);
    const r = await wrangler(dir, ['deploy'], { base: `http://127.0.0.1:${proxy.address().port}` });
    assert.equal(r.code, 0, r.out);
  } finally {
    await new Promise((r) => proxy.close(r));
  }
  const step = (method, re) => counted.filter((c) => c.method === method && re.test(c.path));
  const sessions = step('POST', /\/assets-upload-session$/);
  const buckets = step('POST', /\/workers\/assets\/upload$/);
  const scripts = step('PUT', /\/workers\/scripts\/[^/]+$/);
  assert.equal(sessions.length, 1, JSON.stringify(counted));
  assert.equal(buckets.length, 1, JSON.stringify(counted));
  assert.equal(scripts.length, 1, JSON.stringify(counted));
  within('wrangler session', sessions[0].ops, m.wranglerSession);
  within('wrangler bucket', buckets[0].ops, m.wranglerBucket);
  within('wrangler script upload + workflow', scripts[0].ops, m.wranglerDeploy);
  assert.ok(buckets[0].ops.kv >= FILES, JSON.stringify(buckets[0]));
  console.log(`budget counted (model): session ${JSON.stringify(sessions[0].ops)} (${JSON.stringify(m.wranglerSession)}); bucket ${JSON.stringify(buckets[0].ops)} (${JSON.stringify(m.wranglerBucket)}); script ${JSON.stringify(scripts[0].ops)} (${JSON.stringify(m.wranglerDeploy)})`);
});
