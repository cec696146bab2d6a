// Deleting a project removes everything it owns, asynchronously through the queue. This
// test looks at the storage itself (wrangler dev's local D1/KV/R2 SQLite files), not just
// the API, so it proves the data is gone rather than merely hidden.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { api, freshProject } from '../lib/client.mjs';
import { deploySite, upload, visit, sleep } from '../lib/site.mjs';
import { storedCount } from '../lib/state.mjs';

const STATE = process.env.FLOTILLA_STATE_DIR;

const count = storedCount;

function footprint(projectId, deploymentIds, slug) {
  const d1 = (table, col = 'project_id') => count('d1/miniflare-D1DatabaseObject', `SELECT COUNT(*) AS n FROM ${table} WHERE ${col} = ?`, projectId);
  const byDeployment = (table) => deploymentIds.reduce((n, id) => n + count('d1/miniflare-D1DatabaseObject', `SELECT COUNT(*) AS n FROM ${table} WHERE deployment_id = ?`, id), 0);
  return {
    assetBodies: count('kv/miniflare-KVNamespaceObject', 'SELECT COUNT(*) AS n FROM _mf_entries WHERE key LIKE ?', `${projectId}:%`),
    manifests: deploymentIds.reduce((n, id) => n + count('kv/miniflare-KVNamespaceObject', 'SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ?', `manifest:${id}`), 0),
    blobs: count('r2/miniflare-R2BucketObject', 'SELECT COUNT(*) AS n FROM _mf_objects WHERE key LIKE ? OR key LIKE ?', `bundles/${projectId}/%`, `uploads/${projectId}/%`),
    deployments: d1('deployments'),
    steps: byDeployment('deployment_steps'),
    logs: byDeployment('deployment_logs'),
    assets: d1('project_assets'),
    sessions: d1('upload_sessions'),
    routeKeys: slug ? count('kv/miniflare-KVNamespaceObject', 'SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ? OR key = ?', `route:${slug}`, `route:${projectId}`) : 0,
  };
}

test('deleting a project purges its assets, manifests, bundles, records and route keys; others are untouched', async () => {
  assert.ok(STATE && existsSync(join(STATE, 'v3')), 'the runner passes wrangler dev\'s state dir in FLOTILLA_STATE_DIR');
  const victim = await freshProject('purge-victim');
  const bystander = await freshProject('purge-bystander');
  const code = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from('export default { fetch() { return new Response("x"); } };').toString('base64') } };
  const d1 = await deploySite(victim.id, { '/index.html': 'v1', '/a.txt': 'a' }, { extra: { serverCode: code, env: { TOKEN: 'secret-value' } } });
  const d2 = await deploySite(victim.id, { '/index.html': 'v2', '/a.txt': 'a' });
  await upload(victim.id, { '/pending.txt': 'never deployed' });
  await deploySite(bystander.id, { '/index.html': 'bystander' });
  const ids = [d1.deploy.deployment.id, d2.deploy.deployment.id];

  const before = footprint(victim.id, ids, victim.slug);
  for (const [k, v] of Object.entries(before)) assert.ok(v > 0, `before delete, ${k} = ${v}`);
  const bystanderBefore = footprint(bystander.id, []);

  const r = await api.deleteProject(victim.id);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.purge, 'queued');

  let after;
  const t0 = Date.now();
  do {
    await sleep(500);
    after = footprint(victim.id, ids, victim.slug);
  } while (Object.values(after).some((v) => v > 0) && Date.now() - t0 < 60_000);
  assert.deepEqual(after, { assetBodies: 0, manifests: 0, blobs: 0, deployments: 0, steps: 0, logs: 0, assets: 0, sessions: 0, routeKeys: 0 });
  // Gone for visitors too (the tombstone kept it unserved until the keys were removed).
  assert.equal((await visit(`/__project/${victim.slug}/`)).status, 404);
  // The tombstone keeps the slug reserved.
  const tombstones = count('d1/miniflare-D1DatabaseObject', 'SELECT COUNT(*) AS n FROM projects WHERE id = ? AND deleted_at IS NOT NULL', victim.id);
  assert.equal(tombstones, 1);
  assert.deepEqual(footprint(bystander.id, []), bystanderBefore);
  assert.equal((await visit(`/__project/${bystander.slug}/`)).body, 'bystander');
});
