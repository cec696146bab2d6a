// The cron reconciles custom-domain `host:` records (ROUTES_KV) with D1, which owns them, like
// it repairs route records: drift is made behind the Worker's back with `wrangler kv`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { api, freshProject } from '../lib/client.mjs';
import { deploySite, visit, sleep } from '../lib/site.mjs';
import { stub } from '../lib/stubs.mjs';
import { kvCount } from '../lib/state.mjs';
import { ROOT } from '../lib/server.mjs';

const rand = () => randomBytes(4).toString('hex');
const hostKeys = (h) => kvCount('SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ?', `host:${h}`);

/** `wrangler kv key <args>` on the shared Worker's local ROUTES_KV. */
const routesKv = (...args) => execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'), [
  'kv', 'key', ...args, '--binding', 'ROUTES_KV', '--local', '--persist-to', process.env.FLOTILLA_STATE_DIR,
], { cwd: ROOT, env: { ...process.env, CI: 'true' }, stdio: 'pipe' }).toString();

async function attachVerified(project, hostname) {
  const add = await api.addDomain(project.id, hostname);
  assert.equal(add.status, 201, add.text);
  const { name, value } = add.body.domain.verification;
  await stub.setTxt(name, [JSON.stringify(value)]);
  const v = await api.verifyDomain(project.id, hostname);
  assert.equal(v.status, 200, v.text);
  assert.equal(v.body.domain.status, 'active');
}

test('the cron reconciles host: records with D1: a missing one is rewritten, a wrong one fixed, a stale one deleted', { timeout: 240_000 }, async () => {
  const p = await freshProject('hosts-sweep');
  const q = await freshProject('hosts-other');
  await deploySite(p.id, { '/index.html': 'mine' });
  await deploySite(q.id, { '/index.html': 'other' });
  const missing = `m.${rand()}.example.com`;
  const wrong = `w.${rand()}.example.com`;
  const stale = `s.${rand()}.example.com`;
  await attachVerified(p, missing);
  await attachVerified(p, wrong);
  // Drift (nothing visits these hosts before the cron, so no visit repairs them).
  routesKv('delete', `host:${missing}`);
  routesKv('put', `host:${wrong}`, JSON.stringify({ projectId: q.id }));
  routesKv('put', `host:${stale}`, JSON.stringify({ projectId: p.id }));
  assert.equal(hostKeys(missing), 0);
  assert.equal(hostKeys(stale), 1);
  const owner = () => JSON.parse(routesKv('get', `host:${wrong}`) || 'null')?.projectId;
  assert.equal(owner(), q.id);
  // Each cron run visits a bounded page of records and of domains: run it until a full pass.
  let done = false;
  for (let i = 0; i < 20 && !done; i++) {
    const r = await fetch(`${process.env.FLOTILLA_URL}/__scheduled?cron=*+*+*+*+*`);
    assert.equal(r.status, 200, await r.text());
    await sleep(300);
    done = hostKeys(missing) === 1 && hostKeys(stale) === 0 && owner() === p.id;
  }
  assert.deepEqual({ missing: hostKeys(missing), stale: hostKeys(stale), wrong: owner() }, { missing: 1, stale: 0, wrong: p.id });
  assert.equal((await visit('/', { host: wrong })).body, 'mine');
  assert.equal((await visit('/', { host: missing })).body, 'mine');
  assert.equal((await visit('/', { host: stale })).status, 404);
});
