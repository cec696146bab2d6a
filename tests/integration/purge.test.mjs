// Deleting a project removes everything it owns, asynchronously through the queue. This
// test looks at the storage itself (wrangler dev's local D1/KV/R2 SQLite files), not just
// the API, so it proves the data is gone rather than merely hidden.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { api, call, freshProject } from '../lib/client.mjs';
import { deploySite, upload, visit, sleep } from '../lib/site.mjs';
import { storedCount, d1Rows } from '../lib/state.mjs';
import { ROOT } from '../lib/server.mjs';

const STATE = process.env.FLOTILLA_STATE_DIR;

const count = storedCount;

/** The project's upload session ids (read-only, like every count here). */
function sessionsOf(projectId) {
  const dir = join(STATE, 'v3', 'd1', 'miniflare-D1DatabaseObject');
  const ids = [];
  for (const file of readdirSync(dir).filter((x) => x.endsWith('.sqlite') && x !== 'metadata.sqlite')) {
    const db = new DatabaseSync(join(dir, file), { readOnly: true });
    try {
      ids.push(...db.prepare('SELECT id FROM upload_sessions WHERE project_id = ?').all(projectId).map((r) => r.id));
    } catch (e) { if (!/no such table/.test(e.message)) throw e; } finally { db.close(); }
  }
  return ids;
}

// Every table and storage prefix a project can own. `sessionIds`: its upload sessions, taken
// before the delete (their file rows are keyed by session, not project).
function footprint(projectId, deploymentIds, slug, sessionIds = []) {
  const d1 = (table, col = 'project_id') => count('d1/miniflare-D1DatabaseObject', `SELECT COUNT(*) AS n FROM ${table} WHERE ${col} = ?`, projectId);
  const byDeployment = (table) => deploymentIds.reduce((n, id) => n + count('d1/miniflare-D1DatabaseObject', `SELECT COUNT(*) AS n FROM ${table} WHERE deployment_id = ?`, id), 0);
  return {
    assetBodies: count('kv/miniflare-KVNamespaceObject', 'SELECT COUNT(*) AS n FROM _mf_entries WHERE key LIKE ?', `${projectId}:%`),
    manifests: deploymentIds.reduce((n, id) => n + count('kv/miniflare-KVNamespaceObject', 'SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ? OR key = ?', `manifest:${projectId}:${id}`, `manifest:${id}`), 0),
    // Every manifest under the project's prefix, whether D1 knows its deployment or not.
    manifestPrefix: count('kv/miniflare-KVNamespaceObject', 'SELECT COUNT(*) AS n FROM _mf_entries WHERE key LIKE ?', `manifest:${projectId}:%`),
    blobs: count('r2/miniflare-R2BucketObject', 'SELECT COUNT(*) AS n FROM _mf_objects WHERE key LIKE ? OR key LIKE ?', `bundles/${projectId}/%`, `uploads/${projectId}/%`),
    otherBlobs: count('r2/miniflare-R2BucketObject', 'SELECT COUNT(*) AS n FROM _mf_objects WHERE key LIKE ? OR key LIKE ?', `assets/${projectId}/%`, `wrangler/${projectId}/%`),
    deployments: d1('deployments'),
    steps: byDeployment('deployment_steps'),
    logs: byDeployment('deployment_logs'),
    assets: d1('project_assets'),
    sessions: d1('upload_sessions'),
    sessionFiles: sessionIds.reduce((n, id) => n + count('d1/miniflare-D1DatabaseObject', 'SELECT COUNT(*) AS n FROM upload_session_files WHERE session_id = ?', id), 0),
    aliases: d1('aliases'),
    domains: d1('domains'),
    wranglerAssets: d1('wrangler_assets'),
    secrets: d1('project_secrets'),
    // Which of its deployments bound which KV namespace (the namespace itself is the tenant's).
    resourceBindings: d1('resource_bindings'),
    routeKeys: slug ? count('kv/miniflare-KVNamespaceObject', 'SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ? OR key = ?', `route:${slug}`, `route:${projectId}`) : 0,
  };
}

test('deleting a project purges its assets, manifests, bundles, records and route keys; others are untouched', async () => {
  assert.ok(STATE && existsSync(join(STATE, 'v3')), 'the runner passes wrangler dev\'s state dir in FLOTILLA_STATE_DIR');
  const victim = await freshProject('purge-victim');
  const bystander = await freshProject('purge-bystander');
  const code = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from('export default { fetch() { return new Response("x"); } };').toString('base64') } };
  const space = await call('POST', '/__api/kv/namespaces', { body: { title: `purge-${Date.now()}` } });
  assert.equal(space.status, 201, space.text);
  const d1 = await deploySite(victim.id, { '/index.html': 'v1', '/a.txt': 'a' }, {
    config: { bindings: [{ type: 'kv', name: 'CACHE', id: space.body.namespace.id }] },
    extra: { serverCode: code, env: { TOKEN: 'secret-value' } },
  });
  const d2 = await deploySite(victim.id, { '/index.html': 'v2', '/a.txt': 'a' });
  await upload(victim.id, { '/pending.txt': 'never deployed' });
  await deploySite(bystander.id, { '/index.html': 'bystander' });
  const ids = [d1.deploy.deployment.id, d2.deploy.deployment.id];
  assert.equal((await api.putAlias(victim.id, 'staging', ids[0])).status, 200);
  const domain = await api.addDomain(victim.id, `purge-${Date.now().toString(36)}.example.com`);
  assert.equal(domain.status, 201, domain.text);
  const sessionIds = sessionsOf(victim.id);
  // What a deploy in flight stages after the purge passed its deployment rows: a manifest no
  // D1 row names, found only by the project's prefix.
  execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'), [
    'kv', 'key', 'put', `manifest:${victim.id}:in-flight`, '{}',
    '--binding', 'ROUTES_KV', '--local', '--persist-to', STATE,
  ], { cwd: ROOT, env: { ...process.env, CI: 'true' }, stdio: 'pipe' });

  // wrangler's tables and prefixes (secrets, wrangler hashes, session manifests) and large
  // bodies are not populated by this test: they are counted after, so a leak there still fails.
  const notPopulated = ['otherBlobs', 'wranglerAssets', 'secrets'];
  const before = footprint(victim.id, ids, victim.slug, sessionIds);
  for (const [k, v] of Object.entries(before)) {
    if (!notPopulated.includes(k)) assert.ok(v > 0, `before delete, ${k} = ${v}`);
  }
  const bystanderBefore = footprint(bystander.id, []);

  const r = await api.deleteProject(victim.id);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.purge, 'queued');

  let after;
  const t0 = Date.now();
  do {
    await sleep(500);
    after = footprint(victim.id, ids, victim.slug, sessionIds);
  } while (Object.values(after).some((v) => v > 0) && Date.now() - t0 < 60_000);
  assert.ok(Object.values(after).every((v) => v === 0), JSON.stringify(after));
  assert.equal(Object.keys(after).length, 17, 'every table and prefix is counted');
  // Gone for visitors too (the tombstone kept it unserved until the keys were removed).
  assert.equal((await visit(`/__project/${victim.slug}/`)).status, 404);
  // The tombstone keeps the slug reserved.
  const tombstones = count('d1/miniflare-D1DatabaseObject', 'SELECT COUNT(*) AS n FROM projects WHERE id = ? AND deleted_at IS NOT NULL', victim.id);
  assert.equal(tombstones, 1);
  // Every chunk stamps purge_requested_at, the heartbeat by which the cron tells a running chain
  // from a stopped one: the last chunk's stamp is the moment it marked the project purged.
  let row;
  for (let i = 0; i < 40; i++) {
    [row] = d1Rows('SELECT purge_requested_at AS beat, purged_at AS done FROM projects WHERE id = ?', victim.id);
    if (row?.done) break;
    await sleep(250);
  }
  assert.ok(row?.done, 'marked purged');
  assert.equal(row.beat, row.done, 'the last chunk stamped its heartbeat');
  assert.deepEqual(footprint(bystander.id, []), bystanderBefore);
  assert.equal((await visit(`/__project/${bystander.slug}/`)).body, 'bystander');
});
