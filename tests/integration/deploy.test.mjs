// Deployments through the queue workflow over real HTTP: both routing modes, redeploys with
// partial changes and an atomic switch, async deploys with polling, failures that leave the
// previous deployment serving, rule validation, and the deployment records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, call, freshProject, expectError } from '../lib/client.mjs';
import { deploySite, upload, visit, sleep, waitFor } from '../lib/site.mjs';
import { kvCount, r2Count } from '../lib/state.mjs';

const site = (v) => ({
  '/index.html': `<h1>home ${v}</h1>`,
  '/about/index.html': `<h1>about ${v}</h1>`,
  '/style.css': `body { color: ${v === 1 ? 'red' : 'blue'} }`,
  '/logo.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
});

test('upload -> deploy -> serve, in path mode and subdomain mode', async () => {
  const p = await freshProject('full');
  const { deploy } = await deploySite(p.id, site(1));
  assert.equal(deploy.deployment.status, 'completed');
  assert.equal(deploy.deployedAssets, 4);
  assert.equal(deploy.newAssets, 4);
  assert.equal(deploy.skippedAssets, 0);
  assert.ok(deploy.url.includes(p.slug));
  for (const step of ['validate', 'stage', 'verify', 'activate', 'cleanup']) {
    assert.equal(deploy.deployment.steps[step].status, 'completed', step);
    assert.ok(deploy.deployment.steps[step].startedAt && deploy.deployment.steps[step].finishedAt, step);
  }
  assert.equal(deploy.deployment.progress, 100);
  assert.ok(deploy.deployment.logs.length >= 6);

  const pathMode = await visit(`/__project/${p.slug}/`);
  assert.equal(pathMode.status, 200);
  assert.equal(pathMode.body, '<h1>home 1</h1>');
  assert.equal(pathMode.headers['content-type'], 'text/html; charset=utf-8');
  const byId = await visit(`/__project/${p.id}/about/`);
  assert.equal(byId.body, '<h1>about 1</h1>');
  const sub = await visit('/style.css', { host: `${p.slug}.localhost` });
  assert.equal(sub.status, 200);
  assert.equal(sub.body, 'body { color: red }');
  assert.equal(sub.headers['content-type'], 'text/css; charset=utf-8');
  const svg = await visit('/logo.svg', { host: `${p.slug}.localhost` });
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  // Subdomain mode owns every path, /__api included.
  const ownApi = await visit('/__api/projects', { host: `${p.slug}.localhost` });
  assert.equal(ownApi.status, 404);
  // The project record points at the deployment.
  const got = await api.getProject(p.id);
  assert.equal(got.body.project.activeDeploymentId, deploy.deployment.id);
  assert.equal(got.body.project.assetsCount, 4);
});

test('redeploy uploads only changed files and switches atomically', async () => {
  const p = await freshProject('redeploy');
  const first = await deploySite(p.id, site(1));
  const second = await deploySite(p.id, site(2));
  // index.html, about/index.html and style.css changed; logo.svg did not.
  assert.equal(second.uploaded.length, 3);
  assert.equal(second.deploy.newAssets, 3);
  assert.equal(second.deploy.skippedAssets, 1);
  // Every page now comes from the second deployment: no mix of old and new.
  const pages = await Promise.all(['/', '/about/', '/style.css'].map((x) => visit(`/__project/${p.slug}${x}`)));
  assert.deepEqual(pages.map((r) => r.body), ['<h1>home 2</h1>', '<h1>about 2</h1>', 'body { color: blue }']);
  const history = await api.listDeployments(p.id);
  assert.equal(history.status, 200);
  const [newest, older] = history.body.deployments;
  assert.equal(newest.id, second.deploy.deployment.id);
  assert.equal(newest.status, 'completed');
  assert.equal(newest.active, true);
  assert.equal(older.id, first.deploy.deployment.id);
  assert.equal(older.status, 'superseded');
  // The superseded deployment stays reachable at its preview URL.
  const preview = await visit(`/__project/${p.slug}@${first.deploy.deployment.id.slice(0, 8)}/`);
  assert.equal(preview.body, '<h1>home 1</h1>');
  const previewHost = await visit('/', { host: `${first.deploy.deployment.id.slice(0, 8)}--${p.slug}.localhost` });
  assert.equal(previewHost.body, '<h1>home 1</h1>');
});

test('visitors never see a mix while a redeploy activates', async () => {
  const p = await freshProject('atomic');
  await deploySite(p.id, site(1));
  let stop = false;
  const seen = [];
  // One poller fetching home then about, each after the last answered: every fetch is ordered
  // in time, so once the new deployment has answered, no later fetch may get the old one.
  const poll = (async () => {
    while (!stop) {
      const a = await visit(`/__project/${p.slug}/`);
      const b = await visit(`/__project/${p.slug}/about/`);
      seen.push([a.body, b.body]);
    }
  })();
  await deploySite(p.id, site(2));
  await sleep(300);
  stop = true;
  await poll;
  assert.ok(seen.length > 4, `polled ${seen.length} pairs`);
  let newSeen = false;
  for (const [i, [a, b]] of seen.entries()) {
    // Each page is whole, from one deployment or the other.
    const va = a.match(/^<h1>home (\d)<\/h1>$/)?.[1];
    const vb = b.match(/^<h1>about (\d)<\/h1>$/)?.[1];
    assert.ok(['1', '2'].includes(va) && ['1', '2'].includes(vb), `pair ${i}: ${a} | ${b}`);
    for (const v of [va, vb]) {
      assert.ok(!(newSeen && v === '1'), `pair ${i}: the old deployment answered after the new one had`);
      if (v === '2') newSeen = true;
    }
  }
  const last = seen.at(-1);
  assert.deepEqual(last, ['<h1>home 2</h1>', '<h1>about 2</h1>']);
});

test('Prefer: respond-async answers 202 at once; polling shows the steps to completion', async () => {
  const p = await freshProject('async');
  const { jwt } = await upload(p.id, site(1));
  const r = await api.deploy(p.id, { completionJwt: jwt }, { headers: { prefer: 'respond-async' } });
  assert.equal(r.status, 202, r.text);
  assert.ok(['queued', 'in_progress'].includes(r.body.deployment.status));
  assert.equal(r.body.statusUrl, `/__api/deployments/${r.body.deployment.id}`);
  assert.equal(r.headers.get('location'), r.body.statusUrl);
  const done = await waitFor(r.body.deployment.id, ['completed', 'failed']);
  assert.equal(done.status, 'completed');
  assert.equal(done.progress, 100);
  assert.equal(done.currentStep, 'cleanup');
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 1</h1>');
});

// wrangler.toml DEPLOY_BACKSTOP_SECS + the consumer's max_batch_timeout, with a margin: by then the
// queue message of a deployment the deploy request already ran has been delivered.
const BACKSTOP_PASSED_MS = (2 + 1 + 2) * 1000;
const started = (d, step) => d.logs.filter((l) => l.message === `${step} started`).length;

test('the deploy runs its workflow at once; the queue backstop never redoes a finished one', async () => {
  const p = await freshProject('immediate');
  const first = (await deploySite(p.id, site(1))).deploy.deployment;
  assert.equal(first.status, 'completed');
  assert.equal(first.attempts, 1);
  // A no-change redeploy still goes through the whole lifecycle: a new record, every step,
  // the activation pointer, the previous deployment superseded, one audit row.
  const again = (await deploySite(p.id, site(1))).deploy;
  assert.equal(again.newAssets, 0);
  const second = again.deployment;
  assert.notEqual(second.id, first.id);
  for (const step of ['validate', 'stage', 'verify', 'activate', 'cleanup']) {
    assert.equal(second.steps[step].status, 'completed', step);
    assert.equal(started(second, step), 1, step);
  }
  assert.equal((await api.getProject(p.id)).body.project.activeDeploymentId, second.id);
  // Prefer: respond-async still answers at once, and the deployment still completes.
  const { jwt } = await upload(p.id, site(2));
  const r = await api.deploy(p.id, { completionJwt: jwt }, { headers: { prefer: 'respond-async' } });
  assert.equal(r.status, 202, r.text);
  const third = await waitFor(r.body.deployment.id, ['completed', 'failed', 'superseded']);
  assert.equal(third.status, 'completed');
  await sleep(BACKSTOP_PASSED_MS);
  // The backstop messages were delivered and acked without touching anything.
  for (const d of [first, second, third]) {
    const now = (await api.getDeployment(d.id)).body.deployment;
    assert.equal(now.attempts, 1, d.id);
    for (const step of ['validate', 'stage', 'verify', 'activate', 'cleanup']) {
      assert.equal(started(now, step), 1, `${d.id}: ${step} did not run again`);
    }
  }
  const history = (await api.listDeployments(p.id)).body.deployments;
  assert.deepEqual(history.map((d) => [d.id, d.status]), [[third.id, 'completed'], [second.id, 'superseded'], [first.id, 'superseded']]);
  assert.equal((await api.getProject(p.id)).body.project.activeDeploymentId, third.id);
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 2</h1>');
  const audit = await call('GET', `/__api/audit?project=${p.id}&limit=50`);
  assert.equal(audit.body.entries.filter((e) => e.action === 'deployment.create').length, 3, audit.text);
});

test('when the immediate run fails transiently, the queue backstop finishes the deployment', async () => {
  const p = await freshProject('backstop');
  await deploySite(p.id, site(1));
  const { jwt } = await upload(p.id, site(2));
  // `once:stage`: the first attempt's stage step fails like a platform outage would.
  const r = await api.deploy(p.id, { completionJwt: jwt, fault: 'once:stage' });
  assert.equal(r.status, 200, r.text);
  const d = r.body.deployment;
  assert.equal(d.status, 'completed');
  assert.equal(d.attempts, 2, 'the immediate run, then the queue message');
  assert.equal(started(d, 'validate'), 1, 'validate ran once: the backstop resumed at the failed step');
  assert.equal(started(d, 'stage'), 2);
  assert.ok(d.logs.some((l) => l.level === 'error' && l.step === 'stage'), JSON.stringify(d.logs));
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 2</h1>');
});

test('a failing deployment is retried, then marked failed; the previous one keeps serving', async () => {
  const p = await freshProject('failing');
  const good = await deploySite(p.id, site(1));
  const { jwt } = await upload(p.id, site(2));
  // FAULT_INJECTION is enabled for the test server only: the verify step throws every time.
  const r = await api.deploy(p.id, { completionJwt: jwt, fault: 'verify' }, { headers: { prefer: 'respond-async' } });
  assert.equal(r.status, 202, r.text);
  const failed = await waitFor(r.body.deployment.id, ['failed', 'completed'], 60_000);
  assert.equal(failed.status, 'failed');
  // The injected fault stands for a platform failure: the user sees a stable sentence and code,
  // never the underlying error text (that goes to the worker log).
  assert.equal(failed.errorCode, 'retries_exhausted');
  assert.match(failed.error, /^Gave up after 3 attempts: A platform service was temporarily unavailable/);
  assert.equal(failed.steps.verify.errorCode, 'platform_unavailable');
  assert.doesNotMatch(JSON.stringify(failed), /injected fault|FAULT_INJECTION/);
  assert.equal(failed.attempts, 3, 'one try plus two retries');
  assert.equal(failed.steps.verify.status, 'failed');
  assert.equal(failed.steps.activate.status, 'skipped');
  assert.equal(failed.steps.validate.status, 'completed');
  // The old deployment still serves and is still the active one.
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 1</h1>');
  const project = await api.getProject(p.id);
  assert.equal(project.body.project.activeDeploymentId, good.deploy.deployment.id);
  // A synchronous deploy that fails answers 422 with the record.
  const sync = await api.deploy(p.id, { completionJwt: jwt, fault: 'stage' });
  const e = expectError(assert, sync, 422, 'unprocessable');
  assert.equal(e.details.deployment.status, 'failed');
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 1</h1>');
});

test('deploy validation: bad config, invalid rules with line numbers, serverCode, incomplete uploads', async () => {
  const p = await freshProject('validation');
  const { jwt } = await upload(p.id, { '/index.html': 'x' });
  const cases = [
    [{ completionJwt: jwt, config: { html_handling: 'sometimes' } }, 'config.html_handling'],
    [{ completionJwt: jwt, config: { not_found_handling: '404' } }, 'config.not_found_handling'],
    [{ completionJwt: jwt, config: { redirects: 5 } }, 'config.redirects'],
    [{ completionJwt: jwt, config: { redirects: '/ok /fine\nbroken-line\n' } }, 'config.redirects'],
    [{ completionJwt: jwt, config: { headers: '  X-Orphan: 1\n' } }, 'config.headers'],
    [{ completionJwt: jwt, env: { 'bad-name': 'x' } }, 'env.bad-name'],
    [{}, 'completionJwt'],
  ];
  for (const [body, field] of cases) expectError(assert, await api.deploy(p.id, body), 400, 'bad_request', field);
  const rules = await api.deploy(p.id, { completionJwt: jwt, config: { redirects: '/ok /fine\nbroken-line\n' } });
  assert.equal(rules.body.details.errors[0].line, 2);
  // A _redirects file with an invalid line fails the deploy too, naming the file and line.
  const withFile = await upload(p.id, { '/index.html': 'x', '/_redirects': '# comment\n/a /b 301\n/c\n' });
  const fileErr = await api.deploy(p.id, { completionJwt: withFile.jwt });
  expectError(assert, fileErr, 400, 'bad_request', '_redirects');
  assert.equal(fileErr.body.details.errors[0].line, 3);
  expectError(assert, await api.deploy(p.id, { completionJwt: jwt, serverCode: {} }), 400, 'bad_request', 'serverCode.modules');
  // Nothing was created by the rejected requests.
  const history = await api.listDeployments(p.id);
  assert.equal(history.body.deployments.length, 0);
  expectError(assert, await api.getDeployment('00000000-0000-4000-8000-000000000000'), 404, 'not_found');
});

test('disabled and deleted projects stop serving at once', async () => {
  const p = await freshProject('lifecycle');
  await deploySite(p.id, site(1));
  assert.equal((await visit(`/__project/${p.slug}/`)).status, 200);
  await api.updateProject(p.id, { enabled: false });
  const off = await visit(`/__project/${p.slug}/`, { headers: { accept: 'application/json' } });
  assert.equal(off.status, 404);
  assert.equal(JSON.parse(off.body).error, 'not_found');
  await api.updateProject(p.id, { enabled: true });
  assert.equal((await visit(`/__project/${p.slug}/`)).status, 200);
  await api.deleteProject(p.id);
  assert.equal((await visit(`/__project/${p.slug}/`)).status, 404);
  assert.equal((await visit('/', { host: `${p.slug}.localhost` })).status, 404);
});

test('a failed deployment stays as history; what it staged is collected after the grace period', async () => {
  const p = await freshProject('failed-gc');
  await deploySite(p.id, site(1));
  const { jwt } = await upload(p.id, site(2));
  const code = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from('export default { fetch() { return new Response("x"); } };').toString('base64') } };
  // Verify fails on every attempt: the manifest is staged and the bundle stored, never served.
  const r = await api.deploy(p.id, { completionJwt: jwt, fault: 'verify', serverCode: code }, { headers: { prefer: 'respond-async' } });
  assert.equal(r.status, 202, r.text);
  const id = r.body.deployment.id;
  assert.equal((await waitFor(id, ['failed', 'completed'], 60_000)).status, 'failed');
  const staged = () => ({
    manifest: kvCount('SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ?', `manifest:${p.id}:${id}`),
    bundle: r2Count('SELECT COUNT(*) AS n FROM _mf_objects WHERE key = ?', `bundles/${p.id}/${id}.json`),
  });
  assert.deepEqual(staged(), { manifest: 1, bundle: 1 });
  await sleep(1_600); // the test server's GC_GRACE_MS is 1500
  const gc = await api.gc(p.id);
  assert.equal(gc.status, 200, gc.text);
  assert.ok(gc.body.gc.collected >= 1, JSON.stringify(gc.body));
  assert.deepEqual(staged(), { manifest: 0, bundle: 0 });
  // The record, its steps and its error stay.
  const d = await call('GET', `/__api/deployments/${id}`);
  assert.equal(d.status, 200, d.text);
  assert.equal(d.body.deployment.status, 'failed');
  assert.equal(d.body.deployment.steps.verify.status, 'failed');
  // The active deployment is untouched.
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 1</h1>');
});

test('a failure just after the swap never leaves the activate step open: it is recorded and cleanup runs', async () => {
  const p = await freshProject('post-swap');
  const { jwt } = await upload(p.id, site(1));
  // FAULT_INJECTION: the first attempt fails right after the swap, before the step is recorded.
  const r = await api.deploy(p.id, { completionJwt: jwt, fault: 'after:activate' }, { headers: { prefer: 'respond-async' } });
  assert.equal(r.status, 202, r.text);
  const id = r.body.deployment.id;
  let d;
  const t0 = Date.now();
  do {
    await sleep(250);
    d = (await api.getDeployment(id)).body.deployment;
  } while (!(d.steps.activate.status === 'completed' && d.steps.cleanup.status === 'completed') && Date.now() - t0 < 30_000);
  assert.equal(d.status, 'completed');
  assert.equal(d.steps.activate.status, 'completed', JSON.stringify(d.steps));
  assert.equal(d.steps.cleanup.status, 'completed', JSON.stringify(d.steps));
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 1</h1>');
});
