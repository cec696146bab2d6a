// A secret change long after the last deploy (issue 26, item 1). The upload session that made
// the active deployment expires and GC collects it (its row and its manifest); `wrangler secret
// put` must still roll out, because a rollout serves the active deployment's own files. Its own
// `wrangler dev` with a 2-second session TTL, so the test crosses the session's whole token span
// (2 x (2 s + 2 s leeway) = 8 s) instead of two hours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startWorker, readDevVars } from '../lib/server.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';
import { sleep } from '../lib/site.mjs';

const TOKEN = readDevVars().API_TOKEN;

/** Rows of `sql` (COUNT(*) AS n) over this worker's local D1 files. */
function d1Count(state, sql, ...params) {
  const dir = join(state, 'v3', 'd1', 'miniflare-D1DatabaseObject');
  let n = 0;
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite')) {
    const db = new DatabaseSync(join(dir, f), { readOnly: true });
    try { n += db.prepare(sql).get(...params).n; } catch (e) { if (!/no such table/.test(e.message)) throw e; } finally { db.close(); }
  }
  return n;
}

test('wrangler secret put works after the upload session expired and was collected', async (t) => {
  const server = await startWorker({
    extraArgs: ['--var', 'UPLOAD_SESSION_TTL_SECS:2', '--var', 'GC_GRACE_MS:1000', '--var', 'USER_CODE_TIMEOUT_MS:5000'],
  });
  t.after(() => server.stop());
  const api = async (method, path) => {
    const r = await fetch(`${server.url}/__api${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: r.status, body: await r.json() };
  };
  const visit = async (path) => {
    const r = await fetch(`${server.url}/__project/${name}${path}`);
    return { status: r.status, body: await r.text() };
  };

  const name = `ttl-${Date.now().toString(36)}`;
  const dir = project({
    'wrangler.toml': [
      `name = "${name}"`,
      'main = "src/index.js"',
      'compatibility_date = "2026-10-01"',
      '[assets]',
      'directory = "public"',
      'binding = "ASSETS"',
      '',
    ].join('\n'),
    'src/index.js': [
      'export default { async fetch(req, env) {',
      '  const u = new URL(req.url);',
      '  if (u.pathname === "/api/secret") return new Response(env.API_SECRET ?? "none");',
      '  return env.ASSETS.fetch(req);',
      '} };',
    ].join('\n'),
    'public/data.txt': 'kept across the rollout\n',
  });
  const opts = { base: server.url, token: TOKEN };
  const d = await wrangler(dir, ['deploy'], opts);
  assert.equal(d.code, 0, d.out);
  assert.equal((await visit('/api/secret')).body, 'none');
  const p = await api('GET', `/projects/${name}`);
  assert.equal(p.status, 200, JSON.stringify(p.body));
  const id = p.body.project.id;
  assert.ok(d1Count(server.state, 'SELECT COUNT(*) AS n FROM upload_sessions WHERE project_id = ?', id) > 0);

  // Past the whole token span, then a GC run: the session's row (and its manifest) are gone.
  await sleep(9_000);
  const gc = await api('POST', `/projects/${id}/gc`);
  assert.equal(gc.status, 200, JSON.stringify(gc.body));
  assert.equal(d1Count(server.state, 'SELECT COUNT(*) AS n FROM upload_sessions WHERE project_id = ?', id), 0,
    'the session that made the active deployment was collected');

  const s = await wrangler(dir, ['secret', 'put', 'API_SECRET'], { ...opts, input: 'after-expiry\n' });
  assert.equal(s.code, 0, s.out);
  assert.equal((await visit('/api/secret')).body, 'after-expiry');
  assert.equal((await visit('/data.txt')).body, 'kept across the rollout\n');
  const list = await wrangler(dir, ['secret', 'list'], opts);
  assert.match(list.out, /API_SECRET/);

  // Deleting it rolls out again from the deployment that serves now; the row goes with it.
  const del = await wrangler(dir, ['secret', 'delete', 'API_SECRET'], { ...opts, input: 'y\n' });
  assert.equal(del.code, 0, del.out);
  assert.equal((await visit('/api/secret')).body, 'none');
  assert.equal(d1Count(server.state, 'SELECT COUNT(*) AS n FROM project_secrets WHERE project_id = ?', id), 0);
});
