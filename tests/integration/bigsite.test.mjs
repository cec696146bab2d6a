// Big sites (issue 13), on a Worker of its own with MAX_FILES_PER_DEPLOYMENT raised to the
// hard cap of 100,000 and the manifest cache off (every visit reads the staged manifest from
// ROUTES_KV): a 100,000-file deployment goes through the upload session, the queue workflow
// and serving; 100,001 files are refused; and a deployment whose manifest is still in the old
// JSON format keeps serving. Another site is visited from its own thread all through the big
// deploy: every visit must answer, and visits must keep completing while the deploy runs. The 100,000 files share 500 bodies so the upload is 3 buckets and
// the test stays well under a minute; bench/bigsite.mjs (FILES=100000) uploads distinct bodies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { startWorker, readDevVars, ROOT } from '../lib/server.mjs';

let server;
let api;
let site;

before(async () => {
  server = await startWorker({
    extraArgs: ['--var', 'MAX_FILES_PER_DEPLOYMENT:100000', '--var', 'MANIFEST_CACHE_BYTES:0'],
  });
  // The shared client reads its base URL when first imported: point it at this Worker.
  process.env.FLOTILLA_URL = server.url;
  process.env.FLOTILLA_TOKEN = readDevVars().API_TOKEN;
  ({ api } = await import('../lib/client.mjs'));
  site = await import('../lib/site.mjs');
});
after(() => server?.stop());

async function project(name) {
  const r = await api.createProject({ name: `${name} ${Date.now()}` });
  assert.equal(r.status, 201, r.text);
  return r.body.project;
}

const N = 100_000;
const path = (i) => `/f/${Math.floor(i / 1000)}/${i}.txt`;

test('a 100,000-file deployment (the raised limit) uploads, stages and serves', async () => {
  // A bystander site is visited over and over while the big deployment uploads, stages and
  // goes live: every visit must answer, right, and visits must keep completing during the
  // deploy rather than queue behind it (counted by order of completion, not by time).
  const other = await project('bystander');
  await site.deploySite(other.id, { '/index.html': '<h1>bystander</h1>\n' });
  // The visitor runs on its own thread, so this thread's work (building and hashing 100,000
  // files) cannot delay it; it notes for each visit whether the deploy was running when it ended.
  const state = new Int32Array(new SharedArrayBuffer(8)); // [deploying, stop]
  const visitor = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const http = require('node:http');
    const [deploying, stop] = [0, 1];
    const once = () => new Promise((resolve) => {
      const req = http.get(workerData.url + '/', { headers: { host: workerData.host } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', (e) => resolve({ status: 0, body: String(e) }));
    });
    (async () => {
      const visits = [];
      while (!Atomics.load(workerData.state, stop)) {
        const t = Date.now();
        const r = await once();
        visits.push({ ...r, ms: Date.now() - t, during: Atomics.load(workerData.state, deploying) === 1 });
      }
      parentPort.postMessage(visits);
    })();
  `, { eval: true, workerData: { url: server.url, host: `${other.slug}.localhost`, state } });
  const visited = new Promise((resolve, reject) => { visitor.once('message', resolve); visitor.once('error', reject); });

  const p = await project('bigsite');
  const files = { '/index.html': '<h1>big</h1>\n' };
  for (let i = 0; i < N - 1; i++) files[path(i)] = `body ${i % 500}\n`;
  Atomics.store(state, 0, 1);
  let final;
  try {
    const { jwt, session } = await site.upload(p.id, files);
    assert.equal(session.files, N);
    assert.equal(session.uniqueHashes, 501);
    const d = await api.deploy(p.id, { completionJwt: jwt });
    assert.ok([200, 202].includes(d.status), d.text);
    final = await site.waitFor(d.body.deployment.id, undefined, 120_000);
  } finally {
    Atomics.store(state, 0, 0);
    Atomics.store(state, 1, 1);
  }
  const visits = await visited;
  assert.equal(final.status, 'completed', final.error);
  const bad = visits.filter((v) => v.status !== 200 || v.body !== '<h1>bystander</h1>\n');
  assert.deepEqual(bad, [], `every visit during the deploy answered: ${bad.length} of ${visits.length} did not`);
  const during = visits.filter((v) => v.during).length;
  const ms = visits.filter((v) => v.during).map((v) => v.ms).sort((a, b) => a - b);
  console.log(`bystander visits during the deploy: ${ms.length}, median ${ms[ms.length >> 1]} ms, max ${ms[ms.length - 1]} ms`);
  assert.ok(during >= 10, `visits kept completing during the deploy: ${during} of ${visits.length}`);
  const host = `${p.slug}.localhost`;
  for (const i of [0, 1, 499, 500, 54_321, N - 2]) {
    const r = await site.visit(path(i), { host });
    assert.equal(r.status, 200, path(i));
    assert.equal(r.body, `body ${i % 500}\n`, path(i));
    assert.match(r.headers['content-type'], /^text\/plain/);
  }
  assert.equal((await site.visit('/', { host })).body, '<h1>big</h1>\n');
  assert.equal((await site.visit(path(N), { host })).status, 404);
  assert.equal((await site.visit('/f/0/1000.txt', { host })).status, 404, 'file 1000 lives in /f/1/');

  // One more file than the hard cap: refused before anything is written.
  const h = site.sha256(Buffer.from('x'));
  const many = {};
  for (let i = 0; i <= N; i++) many[path(i)] = { hash: h, size: 1 };
  const r = await api.uploadSession(p.id, many);
  assert.equal(r.status, 413, r.text);
  assert.match(r.body.message, /100000/);
});

test('a deployment whose manifest is in the old JSON format, under the old key, keeps serving', async () => {
  const p = await project('oldformat');
  const files = { '/index.html': '<h1>new</h1>\n', '/a.txt': 'aaa\n' };
  const { deploy } = await site.deploySite(p.id, files);
  const dep = await site.waitFor(deploy.deployment.id);
  assert.equal(dep.status, 'completed', dep.error);
  const host = `${p.slug}.localhost`;
  assert.equal((await site.visit('/old.txt', { host })).status, 404);

  // What the workflow staged before the compact format: one JSON object, files as
  // path -> [hash, content type, size]. /old.txt exists only in this manifest.
  const { manifest } = site.prepare(files);
  const legacy = {
    v: 1, projectId: p.id, deploymentId: dep.id,
    config: { html_handling: 'auto-trailing-slash', not_found_handling: 'none' },
    redirects: [], headers: [],
    files: {
      '/index.html': [manifest['/index.html'].hash, 'text/html', manifest['/index.html'].size],
      '/old.txt': [manifest['/a.txt'].hash, 'text/x-old', manifest['/a.txt'].size],
    },
  };
  // ... and under the key it had before manifests carried the project: only that one remains.
  const kv = (...args) => execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'), [
    'kv', 'key', ...args, '--binding', 'ROUTES_KV', '--local', '--persist-to', server.state,
  ], { cwd: ROOT, env: { ...process.env, CI: 'true' }, stdio: 'pipe' });
  kv('put', `manifest:${dep.id}`, JSON.stringify(legacy));
  kv('delete', `manifest:${p.id}:${dep.id}`);

  const old = await site.visit('/old.txt', { host });
  assert.equal(old.status, 200);
  assert.equal(old.body, 'aaa\n');
  assert.equal(old.headers['content-type'], 'text/x-old');
  assert.equal((await site.visit('/a.txt', { host })).status, 404, 'the old manifest, not the new one, is served');
  assert.equal((await site.visit('/', { host })).body, '<h1>new</h1>\n');
});
