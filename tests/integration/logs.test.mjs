// Kept logs of server code (issue 29, first slice): every run of a deployment's code is captured
// after its response through the Worker Loader's `tails` (InvocationTail in src/js/main.mjs) and
// kept in D1; GET /__api/projects/:id/logs reads them back with filters; the cron deletes what
// is past LOG_RETENTION_DAYS and what belonged to deleted projects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, api, freshProject, expectError } from '../lib/client.mjs';
import { deploySite, request, sleep } from '../lib/site.mjs';
import { d1Rows, d1Write } from '../lib/state.mjs';
import { createHash } from 'node:crypto';
import { startWorker, readDevVars } from '../lib/server.mjs';
import { createProject, deploy } from '../../bench/lib/flotilla.mjs';

const CODE = `export default { async fetch(req) {
  const u = new URL(req.url);
  console.log('handling', u.pathname, { n: 1 });
  if (u.pathname === '/warn') console.warn('careful with', u.searchParams.get('x'));
  if (u.pathname === '/throw') throw new Error('boom at ' + u.pathname);
  if (u.pathname === '/noisy') for (let i = 0; i < 100; i++) console.log('line', i);
  return new Response('ok', { status: u.pathname === '/missing' ? 404 : 200 });
} };`;
const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(CODE).toString('base64') } };

const logs = (p, query = '', token) => call('GET', `/__api/projects/${p.id}/logs${query}`, token ? { token } : {});

/** Waits until the project has at least `n` kept runs (the tail is written after the response). */
async function waitForLogs(p, n, query = '') {
  for (let i = 0; i < 100; i++) {
    const r = await logs(p, query);
    assert.equal(r.status, 200, r.text);
    if (r.body.count >= n) return r.body;
    await sleep(100);
  }
  assert.fail(`fewer than ${n} runs kept for ${p.id}${query}`);
}

test('logs: every run is kept with its console lines, exceptions, outcome and status, never its headers', { timeout: 120_000 }, async () => {
  const p = await freshProject('logs');
  const { deploy } = await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  const depId = deploy.deployment.id;
  const visit = (path) => request(`/__project/${p.slug}${path}`, { headers: { cookie: 'session=s3cret-cookie', authorization: 'Bearer visitor-token' } });
  assert.equal((await visit('/ok')).status, 200);
  assert.equal((await visit('/warn?x=glass')).status, 200);
  assert.equal((await visit('/missing')).status, 404);
  assert.equal((await visit('/throw')).status, 500);
  assert.equal((await visit('/noisy')).status, 200);

  // Six runs: the deploy's own start-up check of the code (`/`) and the five visits.
  const all = await waitForLogs(p, 6);
  assert.equal(all.projectId, p.id);
  const byPath = Object.fromEntries(all.logs.map((l) => [new URL(l.request.url).pathname, l]));
  assert.deepEqual(Object.keys(byPath).sort(), ['/', '/missing', '/noisy', '/ok', '/throw', '/warn']);
  const ok = byPath['/ok'];
  assert.equal(ok.deploymentId, depId);
  assert.equal(ok.request.method, 'GET');
  assert.equal(ok.status, 200);
  assert.equal(ok.outcome, 'ok');
  assert.equal(ok.level, 'info');
  assert.deepEqual(ok.logs.map((l) => [l.level, l.message]), [['log', 'handling /ok {"n":1}']]);
  assert.ok(!Number.isNaN(Date.parse(ok.at)));
  assert.equal(byPath['/warn'].level, 'warn');
  assert.deepEqual(byPath['/warn'].logs[1], { ...byPath['/warn'].logs[1], level: 'warn', message: 'careful with glass' });
  const thrown = byPath['/throw'];
  assert.equal(thrown.outcome, 'exception');
  assert.equal(thrown.level, 'error');
  assert.equal(thrown.exceptions[0].name, 'Error');
  assert.equal(thrown.exceptions[0].message, 'boom at /throw');
  assert.match(thrown.exceptions[0].stack, /index\.js/);
  assert.equal(byPath['/noisy'].logs.length, 64);
  assert.equal(byPath['/noisy'].droppedLines, 101 - 64);
  const text = JSON.stringify(all);
  assert.ok(!text.includes('s3cret-cookie') && !text.includes('visitor-token'), 'request headers are never kept');
  // Newest first.
  const ats = all.logs.map((l) => Number(l.id));
  assert.deepEqual(ats, [...ats].sort((a, b) => b - a));

  // Filters.
  assert.deepEqual((await logs(p, '?status=4xx')).body.logs.map((l) => l.status), [404]);
  assert.deepEqual((await logs(p, '?status=error')).body.logs.map((l) => l.outcome), ['exception']);
  assert.deepEqual((await logs(p, '?q=GLASS')).body.logs.map((l) => new URL(l.request.url).pathname), ['/warn']);
  assert.equal((await logs(p, '?q=100%25')).body.count, 0, 'LIKE wildcards are literal');
  assert.equal((await logs(p, `?deploymentId=${depId}`)).body.count, 6);
  assert.equal((await logs(p, '?deploymentId=00000000-0000-0000-0000-000000000000')).body.count, 0);
  assert.equal((await logs(p, `?from=${new Date(Date.now() + 60_000).toISOString()}`)).body.count, 0);
  const page1 = (await logs(p, '?limit=2')).body;
  assert.equal(page1.count, 2);
  const page2 = (await logs(p, `?limit=2&cursor=${page1.cursor}`)).body;
  const page3 = (await logs(p, `?limit=2&cursor=${page2.cursor}`)).body;
  assert.equal(page3.count, 2);
  assert.equal(page3.cursor, null);
  assert.deepEqual([...page1.logs, ...page2.logs, ...page3.logs].map((l) => l.id), all.logs.map((l) => l.id));
  for (const [q, field] of [['?limit=0', 'limit'], ['?status=6xx', 'status'], ['?from=yesterday', 'from'], ['?cursor=x', 'cursor'], ['?nope=1', 'nope']]) {
    expectError(assert, await logs(p, q), 400, 'bad_request', field);
  }
});

test('logs: only who reads the project reads its logs', { timeout: 60_000 }, async () => {
  const [mine, other] = [await freshProject('logs mine'), await freshProject('logs other')];
  const t = await call('POST', '/__api/tokens', { body: { name: 'logs reader', scopes: ['read'], projects: [other.id] } });
  assert.equal(t.status, 201, t.text);
  assert.equal((await logs(other, '', t.body.secret)).status, 200);
  const r = await logs(mine, '', t.body.secret);
  assert.ok([403, 404].includes(r.status), r.text);
});

test('logs: the cron deletes runs past the retention and those of deleted projects', { timeout: 120_000 }, async () => {
  const p = await freshProject('logs retention');
  await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  assert.equal((await request(`/__project/${p.slug}/ok`)).status, 200);
  const before = (await waitForLogs(p, 2)).count; // the deploy's check and the visit
  const insert = (project, at) => d1Write(
    "INSERT INTO invocation_logs (project_id, deployment_id, at, outcome, method, url, status, wall_ms, cpu_ms, level, detail, bytes) VALUES (?, 'd', ?, 'ok', 'GET', 'http://x/old', 200, 0, 0, 'info', '{}', 10)",
    project, at,
  );
  insert(p.id, Date.now() - 8 * 86_400_000); // past the default 7 days
  insert(p.id, Date.now() - 6 * 86_400_000); // within them
  const gone = await freshProject('logs gone');
  insert(gone.id, Date.now());
  assert.equal((await api.deleteProject(gone.id)).status, 200);
  assert.equal((await logs(p)).body.count, before + 2);

  const cron = await fetch(`${process.env.FLOTILLA_URL}/__scheduled?cron=*+*+*+*+*`);
  assert.equal(cron.status, 200);
  const left = (await logs(p)).body.logs;
  assert.equal(left.length, before + 1, JSON.stringify(left));
  assert.ok(left.every((l) => Date.parse(l.at) > Date.now() - 7 * 86_400_000), 'the expired run is gone');
  assert.equal(d1Rows('SELECT COUNT(*) AS n FROM invocation_logs WHERE project_id = ?', gone.id)[0].n, 0, 'a deleted project\'s logs are gone');
});

test('logs: with LOG_CAPTURE=off no run is kept (the loader gets no tail)', { timeout: 180_000 }, async (t) => {
  const server = await startWorker({ extraArgs: ['--var', 'LOG_CAPTURE:off'] });
  t.after(() => server.stop());
  const token = readDevVars().API_TOKEN;
  const p = await createProject(server.url, token, 'capture off');
  const html = Buffer.from('x');
  const files = [{ path: '/index.html', buf: html, size: 1, hash: createHash('sha256').update(html).digest('hex') }];
  const d = await deploy(server.url, token, p.id, files, { concurrency: 1, extra: { serverCode, run_worker_first: true } });
  assert.equal(d.status, 'completed');
  for (const path of ['/ok', '/throw']) await (await fetch(`${server.url}/__project/${p.slug}${path}`)).arrayBuffer();
  // Capture lands within ~100 ms when on (the test above waits for it the same way).
  await sleep(2000);
  const r = await fetch(`${server.url}/__api/projects/${p.id}/logs`, { headers: { authorization: `Bearer ${token}` } });
  const body = await r.json();
  assert.equal(r.status, 200);
  assert.equal(body.count, 0, `kept: ${JSON.stringify(body.logs.map((l) => l.request.url))}`);
});
