// Gradual rollouts over real HTTP (README "Gradual rollouts"): a 10 %/50 %/100 % rollout splits
// production visitors within ±5 points over 2,000 fresh visitors each step, a visitor with the
// affinity cookie stays on one side, the cron advances steps, and injected 5xx on the new side
// make the cron abort it, and `wrangler versions upload` / `versions deploy` drive a split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, freshProject, expectError, BASE } from '../lib/client.mjs';
import { deploySite, visit, waitFor } from '../lib/site.mjs';
import { d1Rows, d1Write } from '../lib/state.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PORT = new URL(BASE).port;
const hostOf = (p) => `${p.slug}.localhost:${PORT}`;
const b64 = (s) => Buffer.from(s).toString('base64');
const code = (src) => ({ entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(src) } });
const rollouts = (p, body) => call(body ? 'POST' : 'GET', `/__api/projects/${p.id}/rollouts`, body ? { body } : {});
const control = (p, action) => call('POST', `/__api/projects/${p.id}/rollouts/current/${action}`);
const cron = async () => {
  const r = await fetch(`${BASE}/__scheduled?cron=*+*+*+*+*`);
  assert.equal(r.status, 200, await r.text());
};
const affinityOf = (res) => [].concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).find((c) => c.startsWith('__flotilla_aff='));

/** Two deployments: `old` active, `new` staged (ready, not live). */
async function twoSides(name, files = (tag) => ({ '/index.html': tag }), extra = () => ({})) {
  const p = await freshProject(name);
  const a = (await deploySite(p.id, files('A'), { extra: extra('A') })).deploy.deployment;
  const b = (await deploySite(p.id, files('B'), { extra: { activate: false, ...extra('B') } })).deploy.deployment;
  assert.equal((await waitFor(b.id)).status, 'completed');
  return { p, a, b };
}

/** `n` fresh visitors (no cookie), `concurrency` at a time: how many were served B. */
async function shareOfB(host, n = 2000, concurrency = 16) {
  let b = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await visit('/', { host });
      assert.equal(r.status, 200, r.body);
      assert.ok(affinityOf(r), 'a fresh visitor gets an affinity cookie');
      if (r.body === 'B') b++;
      else assert.equal(r.body, 'A');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return b / n;
}

/** Moves the current step's clock back past its end, so the next cron run advances one step. */
function stepTimeIsUp(p) {
  const past = Date.now() - 61 * 60_000;
  assert.equal(d1Write("UPDATE projects SET rollout = json_set(rollout, '$.stepStartedAt', CAST(? AS INTEGER)) WHERE id = ?", past, p.id), 1);
}

test('a 10/50/100 % rollout splits fresh visitors within ±5 points, sticky visitors stay put, completion promotes', { timeout: 300_000 }, async () => {
  const { p, a, b } = await twoSides('rollout-split');
  const host = hostOf(p);
  // Refusals first: the active deployment, bad steps, unknown action, nothing to control.
  expectError(assert, await rollouts(p, { deploymentId: a.id, steps: [{ percent: 10, minutes: 60 }] }), 409, 'already_active');
  expectError(assert, await rollouts(p, { deploymentId: b.id, steps: [{ percent: 50, minutes: 1 }, { percent: 10, minutes: 1 }] }), 400, 'bad_request', 'steps');
  expectError(assert, await control(p, 'pause'), 409, 'no_rollout');
  assert.equal((await rollouts(p)).body.rollout, null);

  const steps = [{ percent: 10, minutes: 60 }, { percent: 50, minutes: 60 }, { percent: 100, minutes: 60 }];
  const started = await rollouts(p, { deploymentId: b.id, steps, autoAbort: { max5xxRatio: 0.1 } });
  assert.equal(started.status, 201, started.text);
  assert.equal(started.body.rollout.status, 'running');
  assert.equal(started.body.rollout.percent, 10);
  expectError(assert, await rollouts(p, { deploymentId: b.id, steps }), 409, 'rollout_in_progress');
  const summary = async () => (await call('GET', `/__api/projects/${p.id}`)).body.project.rollout;
  assert.deepEqual(await summary(), { deploymentId: b.id, status: 'running', percent: 10 });

  const at10 = await shareOfB(host);
  assert.ok(Math.abs(at10 - 0.10) <= 0.05, `10 % step served B to ${at10}`);

  // Sticky: one visitor on each side keeps it for every request.
  const sides = {};
  for (let i = 0; i < 200 && !(sides.A && sides.B); i++) {
    const r = await visit('/', { host });
    sides[r.body] ??= affinityOf(r);
  }
  assert.ok(sides.A && sides.B, 'found a visitor on each side');
  for (const side of ['A', 'B']) {
    for (let i = 0; i < 20; i++) {
      const r = await visit('/', { host, headers: { cookie: sides[side] } });
      assert.equal(r.body, side, `the ${side} visitor stays on ${side}`);
      assert.equal(affinityOf(r), undefined, 'a genuine cookie is not replaced');
    }
  }
  // A forged cookie (another bucket, old signature) is replaced, not trusted.
  const forged = sides.A.replace(/=([0-9a-f]{8})/, '=00000000');
  const re = await visit('/', { host, headers: { cookie: forged } });
  assert.ok(affinityOf(re) && affinityOf(re) !== forged, 'a forged affinity cookie is re-minted');

  // Paused: the clock stops, the split stays.
  assert.equal((await control(p, 'pause')).body.rollout.status, 'paused');
  stepTimeIsUp(p);
  await cron();
  assert.equal((await rollouts(p)).body.rollout.percent, 10, 'a paused rollout does not advance');
  assert.equal((await control(p, 'resume')).body.rollout.status, 'running');

  stepTimeIsUp(p);
  await cron();
  assert.equal((await rollouts(p)).body.rollout.percent, 50, 'the cron advanced to the 50 % step');
  const at50 = await shareOfB(host);
  assert.ok(Math.abs(at50 - 0.50) <= 0.05, `50 % step served B to ${at50}`);
  for (let i = 0; i < 10; i++) assert.equal((await visit('/', { host, headers: { cookie: sides.B } })).body, 'B', 'B stays B as the share grows');

  stepTimeIsUp(p);
  await cron();
  assert.equal((await rollouts(p)).body.rollout.percent, 100);
  assert.equal(await shareOfB(host, 300), 1);

  const done = await control(p, 'complete');
  assert.equal(done.status, 200, done.text);
  assert.equal(done.body.rollout.status, 'completed');
  assert.equal(done.body.activeDeploymentId, b.id);
  assert.equal((await call('GET', `/__api/projects/${p.id}`)).body.project.activeDeploymentId, b.id);
  assert.equal(await summary(), null, 'an ended rollout is not in the project');
  const after = await visit('/', { host, headers: { cookie: sides.A } });
  assert.equal(after.body, 'B');
  assert.equal(affinityOf(after), undefined, 'no split, no affinity cookie');
});

test('injected 5xx on the new side make the cron abort the rollout; everyone is back on the old side', { timeout: 240_000 }, async () => {
  const ok = `export default { async fetch() { return new Response('A'); } };`;
  const failing = `export default { async fetch() { return new Response('B broke', { status: 500 }); } };`;
  const { p, b } = await twoSides('rollout-abort', () => ({ '/x.txt': 'x' }), (tag) => ({
    serverCode: code(tag === 'A' ? ok : failing),
    run_worker_first: true,
  }));
  const host = hostOf(p);
  const started = await rollouts(p, { deploymentId: b.id, steps: [{ percent: 50, minutes: 60 }], autoAbort: { max5xxRatio: 0.2 } });
  assert.equal(started.status, 201, started.text);
  let fails = 0;
  for (let i = 0; i < 120; i++) {
    const r = await visit('/', { host });
    if (r.status === 500) fails++;
  }
  assert.ok(fails >= 30 && fails <= 90, `about half the visitors hit the failing side (${fails})`);
  // The tail writes the invocation log after each response.
  const rows = () => d1Rows('SELECT COUNT(*) AS n FROM invocation_logs WHERE deployment_id = ? AND status = 500', b.id)[0].n;
  for (let i = 0; i < 100 && rows() < 20; i++) await sleep(100);
  assert.ok(rows() >= 20, 'the failing runs are in the invocation log');
  await cron();
  const r = (await rollouts(p)).body.rollout;
  assert.equal(r.status, 'aborted', JSON.stringify(r));
  assert.match(r.reason, /^auto_aborted/);
  for (let i = 0; i < 40; i++) assert.equal((await visit('/', { host })).status, 200, 'no visitor reaches the aborted side');
});

test('wrangler versions upload / versions deploy a@10% b@90% drive a split; @100% completes it', { timeout: 300_000 }, async () => {
  const name = `wr-rollout-${Date.now().toString(36)}`;
  const worker = (tag) => `export default { async fetch(req) {
    return new Response('${tag}', { headers: { 'x-saw-override': String(req.headers.has('cloudflare-workers-version-overrides')) } }); } };`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n`,
    'index.js': worker('A'),
  });
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  const p = (await call('GET', `/__api/projects/${name}`)).body.project;
  const a = p.activeDeploymentId;
  writeFileSync(join(dir, 'index.js'), worker('B'));
  const up = await wrangler(dir, ['versions', 'upload']);
  assert.equal(up.code, 0, up.out);
  const b = up.out.match(/Worker Version ID:\s*([0-9a-f-]{36})/)?.[1];
  assert.ok(b, up.out);
  assert.equal((await call('GET', `/__api/projects/${name}`)).body.project.activeDeploymentId, a, 'an uploaded version is not live');

  const split = await wrangler(dir, ['versions', 'deploy', `${b}@10%`, `${a}@90%`, '-y']);
  assert.equal(split.code, 0, split.out);
  const r = (await rollouts(p)).body.rollout;
  assert.equal(r.deploymentId, b, JSON.stringify(r));
  assert.equal(r.percent, 10);
  assert.equal(r.manual, true);
  const status = await wrangler(dir, ['deployments', 'status']);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, new RegExp(`\\(10%\\)\\s+${b}`), status.out);
  assert.match(status.out, new RegExp(`\\(90%\\)\\s+${a}`), status.out);
  const share = await shareOfB(hostOf(p), 1000);
  assert.ok(Math.abs(share - 0.10) <= 0.05, `wrangler's 10 % served B to ${share}`);
  // Visitors cannot steer a version with Cloudflare's override header, nor does tenant code see it.
  const override = { 'cloudflare-workers-version-overrides': `${name}="${b}"` };
  const seen = await visit('/', { host: hostOf(p), headers: { ...override, cookie: 'x=1' } });
  assert.equal(seen.headers['x-saw-override'], 'false');
  // ... only a caller holding a token of this project (read scope) can.
  const other = await freshProject('rollout-other');
  const mint = async (projects) => {
    const t = await call('POST', '/__api/tokens', { body: { name: `override ${projects[0]}`, projects, scopes: ['read'] } });
    assert.equal(t.status, 201, t.text);
    return t.body.secret;
  };
  const [own, foreign] = [await mint([p.id]), await mint([other.id])];
  const overridden = async (authorization) => {
    let n = 0;
    for (let i = 0; i < 20; i++) {
      const r = await visit('/', { host: hostOf(p), headers: { ...override, ...(authorization ? { authorization } : {}) } });
      assert.equal(r.headers['x-saw-override'], 'false', 'tenant code never sees the header');
      if (r.body === 'B') n++;
    }
    return n;
  };
  assert.equal(await overridden(`Bearer ${own}`), 20, 'a token of the project picks the version');
  for (const auth of [undefined, `Bearer ${foreign}`, 'Bearer flt_not-a-token']) {
    assert.ok((await overridden(auth)) < 10, `ignored with ${auth}: served by the split`);
  }

  const full = await wrangler(dir, ['versions', 'deploy', `${b}@100%`, '-y']);
  assert.equal(full.code, 0, full.out);
  assert.equal((await call('GET', `/__api/projects/${name}`)).body.project.activeDeploymentId, b);
  assert.equal((await rollouts(p)).body.rollout.status, 'completed');
  for (let i = 0; i < 30; i++) assert.equal((await visit('/', { host: hostOf(p) })).body, 'B');
});
