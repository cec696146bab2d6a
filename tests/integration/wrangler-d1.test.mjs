// The real wrangler, unchanged, with `d1_databases` (issue 27 items 4/5, SQL): a Worker declaring
// a database by name and no id deploys (wrangler's auto-provisioning: look the name up, list,
// create one owned by the caller), `wrangler d1 execute --remote --command` seeds it and the
// Worker reads it, a second deploy inherits the same database, `wrangler d1 list|info` show it,
// two tenants using the same name never share one, `--file` imports run as one transaction,
// and what is not supported (`export`) fails in one line naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, freshProject, TOKEN, BASE } from '../lib/client.mjs';
import { visit } from '../lib/site.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';

const run = Date.now().toString(36);
const host = (name) => ({ host: `${name}.localhost` });

// Answers the rows of table `notes` as JSON, or the D1 error text.
const CODE = `export default { async fetch(req, env) {
  try { const { results } = await env.DB.prepare('SELECT id, body FROM notes ORDER BY id').all(); return Response.json(results); }
  catch (e) { return new Response(e.message, { status: 500 }); }
} };\n`;

const toml = (name, db) =>
  `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[[d1_databases]]\nbinding = "DB"\n${db}`;

async function mint(body) {
  const r = await call('POST', '/__api/tokens', { body: { name: 'd1-tenant', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret;
}

async function databases(token = TOKEN) {
  const r = await call('GET', '/__api/sql/databases?limit=100', { token });
  assert.equal(r.status, 200, r.text);
  return r.body.databases;
}

async function bindingsOf(slug, token = TOKEN) {
  const r = await call('GET', `/client/v4/accounts/acc/workers/scripts/${slug}/settings`, { token });
  assert.equal(r.status, 200, r.text);
  return r.body.result.bindings;
}

test('d1_databases by name without an id: provisioned, seeded by `d1 execute --remote`, reused by the next deploy', { timeout: 300_000 }, async () => {
  const name = `wr-d1-${run}`;
  const dbName = `app-${run}`;
  const dir = project({ 'wrangler.toml': toml(name, `database_name = "${dbName}"\n`), 'index.js': CODE });
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  const mine = (await databases()).filter((x) => x.name === dbName);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  const id = mine[0].id;
  assert.deepEqual(await bindingsOf(name), [{ type: 'd1', name: 'DB', id }]);
  assert.match((await visit('/', host(name))).body, /D1_ERROR: no such table: notes/);

  const exec = await wrangler(dir, ['d1', 'execute', dbName, '--remote', '--command',
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('seeded'), ('by wrangler');"]);
  assert.equal(exec.code, 0, exec.out);
  assert.deepEqual(JSON.parse((await visit('/', host(name))).body), [{ id: 1, body: 'seeded' }, { id: 2, body: 'by wrangler' }]);
  const read = await wrangler(dir, ['d1', 'execute', dbName, '--remote', '--json', '--command', 'SELECT COUNT(*) AS n FROM notes']);
  assert.equal(read.code, 0, read.out);
  assert.equal(JSON.parse(read.out.slice(read.out.indexOf('['), read.out.lastIndexOf(']') + 1))[0].results[0].n, 2);
  // A failing statement is D1's error, and nothing of the command is applied.
  const bad = await wrangler(dir, ['d1', 'execute', dbName, '--remote', '--command', "INSERT INTO notes (body) VALUES ('x'); INSERT INTO nope VALUES (1)"]);
  assert.notEqual(bad.code, 0, bad.out);
  assert.match(bad.out, /no such table: nope/);
  const refused = await wrangler(dir, ['d1', 'execute', dbName, '--remote', '--command', "ATTACH DATABASE 'x' AS y"]);
  assert.notEqual(refused.code, 0, refused.out);
  assert.match(refused.out, /not authorized: SQLITE_AUTH/);
  assert.equal(JSON.parse((await visit('/', host(name))).body).length, 2);

  // Redeploy (wrangler sends `inherit`, then checks the database by id): the same one, data kept.
  const again = await wrangler(dir, ['deploy']);
  assert.equal(again.code, 0, again.out);
  assert.deepEqual(await bindingsOf(name), [{ type: 'd1', name: 'DB', id }]);
  assert.equal(JSON.parse((await visit('/', host(name))).body).length, 2);
  assert.equal((await databases()).filter((x) => x.name === dbName).length, 1);

  // `d1 migrations apply --remote` sends its statements through the same query call.
  mkdirSync(join(dir, 'migrations'));
  writeFileSync(join(dir, 'migrations', '0001_tags.sql'), "CREATE TABLE tags (t TEXT);\nINSERT INTO tags VALUES ('m1');\n");
  const mig = await wrangler(dir, ['d1', 'migrations', 'apply', dbName, '--remote']);
  assert.equal(mig.code, 0, mig.out);
  const applied = await call('POST', `/client/v4/accounts/acc/d1/database/${id}/query`, { body: { sql: 'SELECT name FROM d1_migrations; SELECT t FROM tags' } });
  assert.equal(applied.status, 200, applied.text);
  assert.deepEqual(applied.body.result.map((r) => r.results), [[{ name: '0001_tags.sql' }], [{ t: 'm1' }]]);
  const none = await wrangler(dir, ['d1', 'migrations', 'apply', dbName, '--remote']);
  assert.equal(none.code, 0, none.out);
  assert.match(none.out, /No migrations to apply/);

  const list = await wrangler(dir, ['d1', 'list', '--json']);
  assert.equal(list.code, 0, list.out);
  assert.match(list.out, new RegExp(id));
  const info = await wrangler(dir, ['d1', 'info', dbName, '--json']);
  assert.equal(info.code, 0, info.out);
  assert.match(info.out, new RegExp(id));

  // `execute --file`: wrangler uploads the file to the URL `init` hands out (on this platform,
  // with no credentials of its own), then `ingest` runs it as one transaction.
  writeFileSync(join(dir, 'seed.sql'), "-- a dump\nCREATE TABLE imported (v TEXT);\nINSERT INTO imported VALUES ('a;b');\nINSERT INTO imported VALUES ('c');\n");
  const file = await wrangler(dir, ['d1', 'execute', dbName, '--remote', '--file', 'seed.sql', '-y']);
  assert.equal(file.code, 0, file.out);
  assert.match(file.out, /Executed 3 queries/, file.out);
  const got = await call('POST', `/client/v4/accounts/acc/d1/database/${id}/query`, { body: { sql: 'SELECT v FROM imported ORDER BY v' } });
  assert.deepEqual(got.body.result[0].results, [{ v: 'a;b' }, { v: 'c' }]);
  // A file whose last statement fails changes nothing, and wrangler says why.
  writeFileSync(join(dir, 'bad.sql'), "INSERT INTO imported VALUES ('d');\nINSERT INTO nope VALUES (1);\n");
  const badFile = await wrangler(dir, ['d1', 'execute', dbName, '--remote', '--file', 'bad.sql', '-y']);
  assert.notEqual(badFile.code, 0, badFile.out);
  assert.match(badFile.out, /no such table: nope/, badFile.out);
  const after = await call('POST', `/client/v4/accounts/acc/d1/database/${id}/query`, { body: { sql: 'SELECT COUNT(*) AS n FROM imported' } });
  assert.equal(after.body.result[0].results[0].n, 2);
  // The upload URL is a grant for that file only: another body, or a forged token, is refused.
  const init = await call('POST', `/client/v4/accounts/acc/d1/database/${id}/import`, { body: { action: 'init', etag: '0'.repeat(32) } });
  assert.equal(init.status, 200, init.text);
  const upload = new URL(init.body.result.upload_url);
  assert.equal(upload.origin, BASE, 'uploads go to the platform itself');
  const wrongBody = await fetch(upload, { method: 'PUT', body: 'SELECT 1;' });
  assert.equal(wrongBody.status, 400, await wrongBody.text());
  const forged = await fetch(`${BASE}/client/v4/d1-import/${init.body.result.upload_url.split('/').pop().slice(0, -4)}AAAA`, { method: 'PUT', body: 'SELECT 1;' });
  assert.equal(forged.status, 401);
  // Not supported: one line naming it, never a crash.
  const exp = await wrangler(dir, ['d1', 'export', dbName, '--remote', '--output', 'out.sql']);
  assert.notEqual(exp.code, 0, exp.out);
  assert.match(exp.out, /`wrangler d1 export --remote` is not available/);
});

test('d1: `wrangler d1 create`, an explicit id, and two tenants with the same database name', { timeout: 300_000 }, async () => {
  const a = await freshProject('d1-tenant-a');
  const b = await freshProject('d1-tenant-b');
  const ta = await mint({ projects: [a.id], scopes: ['deploy', 'manage'] });
  const tb = await mint({ projects: [b.id], scopes: ['deploy', 'manage'] });
  const shared = `shared-${run}`;
  const dirB = project({ 'wrangler.toml': toml(b.slug, `database_name = "${shared}"\n`), 'index.js': CODE });
  const created = await wrangler(dirB, ['d1', 'create', shared], { token: tb });
  assert.equal(created.code, 0, created.out);
  const bId = (await databases(tb)).find((x) => x.name === shared).id;
  assert.match(created.out, new RegExp(bId));
  const twice = await wrangler(dirB, ['d1', 'create', shared], { token: tb });
  assert.notEqual(twice.code, 0, twice.out);
  assert.match(twice.out, /already exists/);
  const seed = await wrangler(dirB, ['d1', 'execute', shared, '--remote', '--command', "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('b only')"], { token: tb });
  assert.equal(seed.code, 0, seed.out);

  // A's Worker names the same database: A gets its own, empty one.
  const dirA = project({ 'wrangler.toml': toml(a.slug, `database_name = "${shared}"\n`), 'index.js': CODE });
  const d = await wrangler(dirA, ['deploy'], { token: ta });
  assert.equal(d.code, 0, d.out);
  const aId = (await databases(ta)).find((x) => x.name === shared).id;
  assert.notEqual(aId, bId);
  assert.match((await visit('/', host(a.slug))).body, /no such table: notes/);
  // A cannot reach B's database by name or id.
  const peek = await call('POST', `/client/v4/accounts/acc/d1/database/${bId}/query`, { body: { sql: 'SELECT * FROM notes' }, token: ta });
  assert.equal(peek.status, 404, peek.text);
  assert.equal(peek.body.errors[0].code, 7404);
  // B's Worker with its database's explicit id reads B's rows.
  const dB = await wrangler(project({ 'wrangler.toml': toml(b.slug, `database_name = "${shared}"\ndatabase_id = "${bId}"\n`), 'index.js': CODE }), ['deploy'], { token: tb });
  assert.equal(dB.code, 0, dB.out);
  assert.deepEqual(JSON.parse((await visit('/', host(b.slug))).body), [{ id: 1, body: 'b only' }]);
  // And A naming B's id is refused by name.
  const stolen = await wrangler(project({ 'wrangler.toml': toml(a.slug, `database_name = "x"\ndatabase_id = "${bId}"\n`), 'index.js': CODE }), ['deploy'], { token: ta });
  assert.notEqual(stolen.code, 0, stolen.out);
  assert.match(stolen.out, /SQL database `[0-9a-f]{32}` \(binding `DB`\)/);
});
