// The deployment lifecycle over real HTTP: ordered activation with deployments finishing out of
// order, disable/delete racing an in-flight deploy, rollback and forward (timed), promote of a
// staged deploy, autoActivate: false, aliases, the NDJSON logs endpoint, and GC with a short
// grace period checked against wrangler dev's local KV state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, call, freshProject, expectError } from '../lib/client.mjs';
import { deploySite, prepare, upload, visit, sleep, sha256, waitFor, TERMINAL } from '../lib/site.mjs';
import { d1Count, d1Rows, d1Write, kvCount } from '../lib/state.mjs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../lib/server.mjs';

/** Uploads `files` and starts an async deploy; returns the deployment id. */
async function startDeploy(projectId, files, extra = {}) {
  const { jwt } = await upload(projectId, files);
  const d = await api.deploy(projectId, { completionJwt: jwt, ...extra }, { headers: { prefer: 'respond-async' } });
  assert.equal(d.status, 202, d.text);
  return d.body.deployment.id;
}

const body = async (slug, path = '/') => (await visit(`/__project/${slug}${path}`)).body;

test('deployments finishing in any order leave the newest active and none pending', async () => {
  // once:<step> fails the first attempt, so the queue retries that deployment after a backoff
  // and it finishes after deployments created later.
  for (const faults of [['once:activate', null, 'once:verify', null], [null, null, null, 'once:activate']]) {
    const p = await freshProject('order');
    const ids = [];
    for (let i = 0; i < 4; i++) {
      ids.push(await startDeploy(p.id, { '/index.html': `v${i}` }, faults[i] ? { fault: faults[i] } : {}));
    }
    for (const id of ids) await waitFor(id);
    // Read the final statuses only now: an earlier one may have been live for a while.
    const done = [];
    for (const id of ids) done.push((await api.getDeployment(id)).body.deployment);
    const project = (await api.getProject(p.id)).body.project;
    assert.equal(project.activeDeploymentId, ids[3], `faults ${faults}`);
    assert.equal(await body(p.slug), 'v3');
    assert.equal(done[3].status, 'completed');
    for (const d of done.slice(0, 3)) assert.equal(d.status, 'superseded', `${d.id}: ${d.status}`);
    // Every deployment ends in a terminal status and the seq numbers give the creation order.
    assert.deepEqual(done.map((d) => d.seq), [1, 2, 3, 4]);
    const list = (await api.listDeployments(p.id)).body.deployments;
    assert.ok(list.every((d) => TERMINAL.includes(d.status)), JSON.stringify(list.map((d) => d.status)));
  }
});

test('PATCH enabled:false during an in-flight deploy wins', async () => {
  const p = await freshProject('disable-race');
  await deploySite(p.id, { '/index.html': 'one' });
  const id = await startDeploy(p.id, { '/index.html': 'two' }, { fault: 'once:activate' });
  const r = await api.updateProject(p.id, { enabled: false });
  assert.equal(r.status, 200, r.text);
  assert.equal((await waitFor(id)).status, 'completed');
  assert.equal((await visit(`/__project/${p.slug}/`)).status, 404, 'disabled stays disabled');
  assert.equal((await visit('/', { host: `${p.slug}.localhost` })).status, 404);
  assert.equal((await api.updateProject(p.id, { enabled: true })).status, 200);
  assert.equal(await body(p.slug), 'two', 'enabling serves the newest deployment');
});

test('DELETE during an in-flight deploy wins', async () => {
  const p = await freshProject('delete-race');
  await deploySite(p.id, { '/index.html': 'one' });
  const id = await startDeploy(p.id, { '/index.html': 'two' }, { fault: 'once:activate' });
  assert.equal((await api.deleteProject(p.id)).status, 200);
  // Past the retry backoff: the activation found the project deleted and never served.
  for (let i = 0; i < 10; i++) {
    assert.equal((await visit(`/__project/${p.slug}/`)).status, 404);
    assert.equal((await visit(`/__project/${p.id}/`)).status, 404);
    await sleep(500);
  }
  expectError(assert, await api.getDeployment(id), 404, 'not_found');
});

test('rollback and forward are instant; the rolled-back deployment keeps its preview', async () => {
  const p = await freshProject('rollback');
  const ids = [];
  for (const v of ['one', 'two', 'three']) ids.push((await deploySite(p.id, { '/index.html': v })).deploy.deployment.id);
  const t0 = performance.now();
  const r = await api.rollback(p.id);
  assert.equal(r.status, 200, r.text);
  let seen;
  while ((seen = await body(p.slug)) !== 'two') assert.ok(performance.now() - t0 < 10_000, seen);
  const ms = performance.now() - t0;
  console.log(`[lifecycle] rollback: request to first visitor seeing it ${ms.toFixed(1)} ms`);
  assert.equal(r.body.activeDeploymentId, ids[1]);
  assert.equal(r.body.previousDeploymentId, ids[2]);
  assert.equal((await api.getDeployment(ids[2])).body.deployment.status, 'rolled_back');
  assert.equal(await body(`${p.slug}@${ids[2].slice(0, 8)}`), 'three', 'preview of the rolled-back one');
  assert.equal((await visit('/', { host: `${ids[2].slice(0, 8)}--${p.slug}.localhost` })).body, 'three');
  // Forward again, explicitly.
  const f = await api.rollback(p.id, { deploymentId: ids[2] });
  assert.equal(f.status, 200, f.text);
  assert.equal(await body(p.slug), 'three');
  expectError(assert, await api.rollback(p.id, { deploymentId: ids[2] }), 409, 'already_active');
  // Default rollback twice walks back through history.
  await api.rollback(p.id);
  assert.equal(await body(p.slug), 'two');
});

test('rollback refuses failed, foreign and unknown deployments with reasons', async () => {
  const p = await freshProject('rollback-refuse');
  const other = await freshProject('rollback-other');
  await deploySite(p.id, { '/index.html': 'ok' });
  const broken = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from('throw new Error("boom at import");').toString('base64') } };
  const failed = await deploySite(p.id, { '/index.html': 'bad' }, { extra: { serverCode: broken }, expect: 422 });
  const failedId = failed.deploy.details.deployment.id;
  const rec = (await api.getDeployment(failedId)).body.deployment;
  assert.equal(rec.status, 'failed');
  assert.equal(rec.errorCode, 'server_code_failed');
  const e = expectError(assert, await api.rollback(p.id, { deploymentId: failedId }), 409, 'deployment_failed');
  assert.match(e.message, /failed/);
  const foreign = (await deploySite(other.id, { '/index.html': 'other' })).deploy.deployment.id;
  expectError(assert, await api.rollback(p.id, { deploymentId: foreign }), 404, 'not_found');
  expectError(assert, await api.rollback(p.id, { deploymentId: 'nope' }), 404, 'not_found');
  expectError(assert, await api.rollback(p.id), 409, 'no_previous_deployment');
  expectError(assert, await api.rollback(p.id, { deploymentId: 7 }), 400, 'bad_request', 'deploymentId');
  assert.equal(await body(p.slug), 'ok');
});

test('a staged deploy (activate: false) serves only its preview until promoted', async () => {
  const p = await freshProject('staged');
  const live = (await deploySite(p.id, { '/index.html': 'live' })).deploy.deployment.id;
  const staged = await deploySite(p.id, { '/index.html': 'staged' }, { extra: { activate: false } });
  const sid = staged.deploy.deployment.id;
  assert.equal(staged.deploy.deployment.status, 'completed');
  assert.equal((await api.getProject(p.id)).body.project.activeDeploymentId, live);
  assert.equal(await body(p.slug), 'live');
  assert.equal(await body(`${p.slug}@${sid.slice(0, 8)}`), 'staged');
  const r = await api.promote(sid);
  assert.equal(r.status, 200, r.text);
  assert.equal(await body(p.slug), 'staged');
  assert.equal((await api.getDeployment(live)).body.deployment.status, 'superseded');
  expectError(assert, await api.promote('00000000-0000-4000-8000-000000000000'), 404, 'not_found');
});

test('autoActivate: false makes every deploy a staged one', async () => {
  const p = await freshProject('locked');
  await deploySite(p.id, { '/index.html': 'first' });
  const u = await api.updateProject(p.id, { autoActivate: false });
  assert.equal(u.status, 200, u.text);
  assert.equal(u.body.project.autoActivate, false);
  const d = (await deploySite(p.id, { '/index.html': 'second' })).deploy.deployment.id;
  assert.equal(await body(p.slug), 'first', 'production unchanged');
  // An explicit activate: true still goes live.
  await deploySite(p.id, { '/index.html': 'third' }, { extra: { activate: true } });
  assert.equal(await body(p.slug), 'third');
  assert.equal((await api.promote(d)).status, 200);
  assert.equal(await body(p.slug), 'second');
  expectError(assert, await api.updateProject(p.id, { autoActivate: 'no' }), 400, 'bad_request', 'autoActivate');
});

test('aliases serve their deployment and move by the same rules', async () => {
  const p = await freshProject('alias');
  const one = (await deploySite(p.id, { '/index.html': 'one' })).deploy.deployment.id;
  const two = (await deploySite(p.id, { '/index.html': 'two' })).deploy.deployment.id;
  const put = await api.putAlias(p.id, 'staging', one);
  assert.equal(put.status, 200, put.text);
  assert.equal(put.body.alias.deploymentId, one);
  assert.equal((await visit('/', { host: `staging--${p.slug}.localhost` })).body, 'one');
  assert.equal(await body(`${p.slug}@staging`), 'one');
  assert.equal(await body(p.slug), 'two', 'production untouched');
  assert.equal((await api.putAlias(p.id, 'staging', two)).status, 200);
  assert.equal((await visit('/', { host: `staging--${p.slug}.localhost` })).body, 'two');
  const list = await api.listAliases(p.id);
  assert.deepEqual(list.body.aliases.map((a) => [a.name, a.deploymentId]), [['staging', two]]);
  assert.equal((await api.getAlias(p.id, 'staging')).body.alias.deploymentId, two);
  expectError(assert, await api.putAlias(p.id, 'Bad_Name', one), 400, 'bad_request', 'name');
  expectError(assert, await api.putAlias(p.id, 'deadbeef', one), 400, 'bad_request', 'name');
  expectError(assert, await api.putAlias(p.id, 'pr-1', 'nope'), 404, 'not_found');
  assert.equal((await api.deleteAlias(p.id, 'staging')).status, 200);
  assert.equal((await visit('/', { host: `staging--${p.slug}.localhost` })).status, 404);
  expectError(assert, await api.deleteAlias(p.id, 'staging'), 404, 'not_found');
  expectError(assert, await api.getAlias(p.id, 'staging'), 404, 'not_found');
});

test('a project holds at most 100 aliases; at the cap existing ones still move and removing one makes room', async () => {
  const p = await freshProject('alias cap');
  const one = (await deploySite(p.id, { '/index.html': 'one' })).deploy.deployment.id;
  const two = (await deploySite(p.id, { '/index.html': 'two' })).deploy.deployment.id;
  // One after the other: concurrent PUTs on one project only contend for its row.
  for (let i = 0; i < 100; i++) {
    const r = await api.putAlias(p.id, `a${i}`, one);
    assert.equal(r.status, 200, `a${i}: ${r.text}`);
  }
  const e = expectError(assert, await api.putAlias(p.id, 'a100', one), 413, 'payload_too_large');
  assert.equal(e.message, 'Aliases per project exceeds the limit of 100');
  assert.equal(e.details.limit, 100);
  assert.equal((await api.listAliases(p.id)).body.count, 100);
  expectError(assert, await api.getAlias(p.id, 'a100'), 404, 'not_found');
  assert.equal((await visit('/', { host: `a100--${p.slug}.localhost` })).status, 404);
  assert.equal((await api.putAlias(p.id, 'a0', two)).status, 200, 'moving an existing alias at the cap');
  assert.equal((await visit('/', { host: `a0--${p.slug}.localhost` })).body, 'two');
  assert.equal((await api.deleteAlias(p.id, 'a1')).status, 200);
  assert.equal((await api.putAlias(p.id, 'a100', one)).status, 200);
  assert.equal((await visit('/', { host: `a100--${p.slug}.localhost` })).body, 'one');
});

test('deployment logs are NDJSON, paginated with x-next-cursor', async () => {
  const p = await freshProject('logs');
  const id = (await deploySite(p.id, { '/index.html': 'x' })).deploy.deployment.id;
  const all = await api.deploymentLogs(id);
  assert.equal(all.status, 200);
  assert.match(all.headers.get('content-type'), /application\/x-ndjson/);
  const lines = all.text.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 10, `${lines.length} lines`);
  assert.ok(lines.some((l) => /now live/.test(l.message)));
  for (const l of lines) assert.ok(l.id && l.at && l.level && typeof l.message === 'string');
  const paged = [];
  let cursor = '';
  for (let i = 0; i < 50; i++) {
    const r = await api.deploymentLogs(id, `?limit=3${cursor ? `&after=${cursor}` : ''}`);
    paged.push(...r.text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    cursor = r.headers.get('x-next-cursor');
    if (!cursor) break;
  }
  assert.deepEqual(paged.map((l) => l.id), lines.map((l) => l.id));
  expectError(assert, await api.deploymentLogs(id, '?limit=0'), 400, 'bad_request', 'limit');
  expectError(assert, await api.deploymentLogs('nope'), 404, 'not_found');
});

const kvHas = (key) => kvCount('SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ?', key) > 0;

test('retention expires old deployments and GC removes exactly the unreferenced bodies after the grace', async () => {
  // The runner sets RETAIN_COMPLETED=2 and GC_GRACE_MS=1500.
  const p = await freshProject('gc');
  const files = (v) => ({ '/index.html': 'shared', [`/v${v}.txt`]: `only in v${v}` });
  const ids = [];
  for (let v = 1; v <= 4; v++) ids.push((await deploySite(p.id, files(v))).deploy.deployment.id);
  for (const id of ids) assert.ok(kvHas(`manifest:${p.id}:${id}`), 'a manifest is stored under its project');
  const hash = (v) => sha256(Buffer.from(`only in v${v}`));
  const shared = sha256(Buffer.from('shared'));
  await sleep(1600); // every body is older than the grace period
  const first = await api.gc(p.id);
  assert.equal(first.status, 200, first.text);
  // Kept: v4 (active) and v3 (the 2 newest ready ones); v1 and v2 expire.
  assert.equal(first.body.gc.expired, 2, first.text);
  assert.equal(first.body.gc.collected, 2, first.text);
  assert.equal(first.body.gc.marked, 2, first.text);
  assert.equal(first.body.gc.deleted, 0, 'nothing is deleted on the first sighting');
  for (const id of ids.slice(0, 2)) {
    assert.equal((await api.getDeployment(id)).body.deployment.status, 'expired');
    assert.equal((await visit(`/__project/${p.slug}@${id.slice(0, 8)}/`)).status, 404, 'expired previews stop');
    assert.ok(!kvHas(`manifest:${p.id}:${id}`) && !kvHas(`manifest:${id}`), 'the expired manifest is collected');
  }
  expectError(assert, await api.rollback(p.id, { deploymentId: ids[0] }), 409, 'deployment_expired');
  await sleep(1600);
  const second = await api.gc(p.id);
  assert.equal(second.body.gc.deleted, 2, second.text);
  for (const v of [1, 2]) assert.ok(!kvHas(`${p.id}:${hash(v)}`), `the body only v${v} used is gone`);
  for (const h of [shared, hash(3), hash(4)]) assert.ok(kvHas(`${p.id}:${h}`), `kept ${h}`);
  const third = await api.gc(p.id);
  assert.deepEqual([third.body.gc.expired, third.body.gc.marked, third.body.gc.deleted], [0, 0, 0], 'idempotent');
  // Kept deployments still serve every file, and a rollback to v3 works.
  assert.equal((await api.rollback(p.id, { deploymentId: ids[2] })).status, 200);
  assert.equal(await body(p.slug, '/v3.txt'), 'only in v3');
  assert.equal(await body(p.slug, '/'), 'shared');
  // Redeploying the collected file uploads it again.
  const again = await deploySite(p.id, files(1));
  assert.deepEqual(again.uploaded, [hash(1)]);
  assert.equal(await body(p.slug, '/v1.txt'), 'only in v1');
});

test('a body GC marked is missing for a new session: the redeploy uploads it again and GC keeps it', async () => {
  // The runner sets RETAIN_COMPLETED=2 and GC_GRACE_MS=1500. v1 serves x.txt; v2 and v2b do
  // not, so once v1 expires GC marks x.txt's body. A redeploy that names it again must upload
  // it (a marked body may be deleted by a GC run that took its snapshot before the session),
  // and the upload clears the mark, so no later run deletes what v3 serves.
  const p = await freshProject('gc-redeploy');
  const x = 'x marks the spot';
  const hx = sha256(Buffer.from(x));
  await deploySite(p.id, { '/index.html': 'v1', '/x.txt': x });
  await deploySite(p.id, { '/index.html': 'v2' });
  await deploySite(p.id, { '/index.html': 'v2b' });
  const mark = () => d1Rows('SELECT unreferenced_since AS s FROM project_assets WHERE project_id = ? AND hash = ?', p.id, hx);
  await sleep(1600);
  for (let i = 0; i < 5 && mark()[0]?.s == null; i++) assert.equal((await api.gc(p.id)).status, 200);
  assert.equal(mark().length, 1, 'the row is still there');
  assert.notEqual(mark()[0].s, null, "x.txt's row is marked");
  const { manifest } = prepare({ '/index.html': 'v3', '/x.txt': x });
  const s = await api.uploadSession(p.id, manifest);
  assert.equal(s.status, 200, s.text);
  assert.ok(s.body.result.buckets.flat().includes(hx), `a marked body is missing: ${s.text}`);
  const v3 = await deploySite(p.id, { '/index.html': 'v3', '/x.txt': x });
  assert.ok(v3.uploaded.includes(hx), 'v3 uploads x.txt again');
  assert.deepEqual(mark().map((r) => r.s), [null], 'the upload cleared the mark');
  assert.equal(await body(p.slug, '/x.txt'), x);
  await sleep(1600);
  // v2's own body expires with v2 and may go; x.txt's row and body stay.
  for (let i = 0; i < 2; i++) assert.equal((await api.gc(p.id)).status, 200);
  assert.deepEqual(mark().map((r) => r.s), [null], "x.txt's row is kept and unmarked");
  assert.ok(kvHas(`${p.id}:${hx}`), 'the body v3 serves is kept');
  assert.equal(await body(p.slug, '/x.txt'), x, 'v3 still serves x.txt');
});

test('GC walks a large project page by page and in bounded batches, continuing from `next`', async () => {
  // The runner sets GC_PAGE_ROWS=3: a run reads at most 100 pages (300 bodies) and deletes at
  // most 100 bodies, then reports where the next run continues.
  const p = await freshProject('gc-pages');
  const N = 320;
  const big = Object.fromEntries(Array.from({ length: N }, (_, i) => [`/a/${i}.txt`, `body ${i}`]));
  await deploySite(p.id, big);
  for (let v = 1; v <= 3; v++) await deploySite(p.id, { '/index.html': `v${v}` });
  const gc = async (after) => {
    const r = await call('POST', `/__api/projects/${p.id}/gc${after ? `?after=${after}` : ''}`);
    assert.equal(r.status, 200, r.text);
    return r.body.gc;
  };
  const walk = async () => {
    const runs = [];
    let after;
    do {
      const g = await gc(after);
      assert.equal(g.more, g.next !== null, JSON.stringify(g));
      runs.push(g);
      after = g.next;
    } while (after && runs.length < 20);
    return runs;
  };
  await sleep(1600); // every body is older than the grace period
  const marking = await walk();
  // Kept: v3 (active) and v2; the big deployment and v1 expire, so N + 1 bodies go.
  assert.equal(marking[0].expired, 2, JSON.stringify(marking[0]));
  assert.ok(marking.length >= 2, `more than one run: ${JSON.stringify(marking)}`);
  assert.equal(marking.reduce((n, g) => n + g.marked, 0), N + 1, JSON.stringify(marking));
  assert.equal(marking.reduce((n, g) => n + g.deleted, 0), 0);
  await sleep(1600);
  const deleting = await walk();
  assert.ok(deleting.length >= 4, `at most 100 deletions per run: ${JSON.stringify(deleting)}`);
  assert.ok(deleting.every((g) => g.deleted <= 100));
  assert.equal(deleting.reduce((n, g) => n + g.deleted, 0), N + 1, JSON.stringify(deleting));
  assert.ok(!kvHas(`${p.id}:${sha256(Buffer.from('v1'))}`), 'v1 deleted');
  for (const i of [0, 150, N - 1]) assert.ok(!kvHas(`${p.id}:${sha256(Buffer.from(`body ${i}`))}`), `body ${i} deleted`);
  for (const v of [2, 3]) assert.ok(kvHas(`${p.id}:${sha256(Buffer.from(`v${v}`))}`), `kept v${v}`);
  assert.equal(await body(p.slug, '/'), 'v3');
  expectError(assert, await call('POST', `/__api/projects/${p.id}/gc?after=nope`), 400, 'bad_request', 'after');
});

test('the cron sweep repairs a lost routing record, ends a stuck deployment and schedules GC', async () => {
  // Two faults made behind the Worker's back: project A's routing record is gone from ROUTES_KV
  // with its row marked as lagging (what a failed KV write after the swap leaves), and one of
  // project B's deployments sits in_progress long past the deadline (a runner that died).
  const a = await freshProject('sweep-route');
  await deploySite(a.id, { '/index.html': 'a1' });
  const routeKeys = () => kvCount('SELECT COUNT(*) AS n FROM _mf_entries WHERE key IN (?, ?)', `route:${a.slug}`, `route:${a.id}`);
  const before = routeKeys();
  assert.ok(before > 0, 'the deploy wrote the routing record');
  for (const key of [`route:${a.slug}`, `route:${a.id}`]) {
    spawnSync(process.execPath, [join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'kv', 'key', 'delete', key,
      '--binding', 'ROUTES_KV', '--local', '--persist-to', process.env.FLOTILLA_STATE_DIR],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } });
  }
  assert.equal(routeKeys(), 0, 'the routing record is gone');
  assert.equal(d1Write('UPDATE projects SET routed_generation = generation - 1 WHERE id = ?', a.id), 1);

  const b = await freshProject('sweep-stuck');
  await deploySite(b.id, { '/index.html': 'b1' });
  const staged = (await deploySite(b.id, { '/index.html': 'b2' }, { extra: { activate: false } })).deploy.deployment;
  assert.equal((await waitFor(staged.id)).status, 'completed');
  assert.equal(d1Write("UPDATE deployments SET status = 'in_progress', updated_at = 1 WHERE id = ?", staged.id), 1);

  const t0 = Date.now();
  const r = await fetch(`${process.env.FLOTILLA_URL}/__scheduled?cron=*+*+*+*+*`);
  assert.equal(r.status, 200, await r.text());
  const lagging = () => d1Count('SELECT COUNT(*) AS n FROM projects WHERE id = ? AND routed_generation < generation', a.id);
  const stamped = () => d1Count('SELECT COUNT(*) AS n FROM projects WHERE gc_at >= ?', t0);
  for (let i = 0; i < 50 && (lagging() > 0 || stamped() === 0); i++) await sleep(200);
  // What it swept: A's record rewritten from its row, and A serves again by slug.
  assert.equal(lagging(), 0, 'the sweep caught the row up');
  assert.equal(routeKeys(), before, 'the sweep rewrote the routing record');
  assert.equal(await body(a.slug), 'a1');
  // B's stuck deployment failed as timed out, and it never went live.
  const d = (await api.getDeployment(staged.id)).body.deployment;
  assert.equal(d.status, 'failed', JSON.stringify(d));
  assert.match(JSON.stringify(d.error), /timed_out|did not finish in time/);
  assert.equal((await api.getProject(b.id)).body.project.activeDeploymentId !== staged.id, true);
  assert.equal(await body(b.slug), 'b1');
  // And GC got scheduled (a project never collected is a candidate).
  assert.ok(stamped() > 0, 'the scheduled handler scheduled GC');
});
