// A refused `wrangler deploy` of a new Worker name leaves nothing: its upload session created
// the project (provisional), the script upload is refused (an unsupported binding, 10405), and
// the project then goes with no tombstone, so the name stays free for anyone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, call } from '../lib/client.mjs';
import { visit, sleep } from '../lib/site.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';
import { d1Count, kvCount } from '../lib/state.mjs';

const run = Date.now().toString(36);

test('a refused wrangler deploy of a new Worker leaves no project, and the name stays free', { timeout: 240_000 }, async () => {
  const name = `wr-refused-${run}`;
  const toml = `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\n`;
  const refused = project({
    'wrangler.toml': `${toml}[[kv_namespaces]]\nbinding = "CACHE"\nid = "0123456789abcdef0123456789abcdef"\n`,
    'index.js': 'export default { fetch() { return new Response("x") } };\n',
    'public/index.html': 'refused\n',
  });
  const d = await wrangler(refused, ['deploy']);
  assert.notEqual(d.code, 0, d.out);
  assert.match(d.out, /kv_namespace/, d.out);

  assert.equal((await api.getProject(name)).status, 404, 'no project by that name');
  const listed = await call('GET', '/__api/projects?limit=100');
  assert.equal(listed.status, 200, listed.text);
  assert.ok(!listed.body.projects.some((p) => p.slug === name), 'not listed');
  // Not even a tombstone: the row and what the upload stored go (the purge runs on the queue).
  const rows = () => d1Count('SELECT COUNT(*) AS n FROM projects WHERE slug = ?', name);
  for (let i = 0; i < 60 && rows() > 0; i++) await sleep(500);
  assert.equal(rows(), 0, 'no project row, deleted or not');

  // Someone else (another manage token) deploys a Worker of that name: a new project.
  const minted = await call('POST', '/__api/tokens', { body: { name: 'other', projects: '*', scopes: ['manage'] } });
  assert.equal(minted.status, 201, minted.text);
  const ok = project({ 'wrangler.toml': toml, 'index.js': 'export default { fetch() { return new Response("x") } };\n', 'public/index.html': 'theirs\n' });
  const second = await wrangler(ok, ['deploy'], { token: minted.body.secret });
  assert.equal(second.code, 0, second.out);
  const p = (await api.getProject(name)).body.project;
  assert.equal(p.slug, name);
  assert.equal((await visit('/', { host: `${name}.localhost` })).body, 'theirs\n');
  assert.equal(kvCount('SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ?', `route:${name}`), 1);
});
