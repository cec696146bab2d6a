// Tenant storage, SQL slice (issue 27): databases are resources recorded in D1 and reached like
// KV namespaces; each is its own SQLite Durable Object, driven by tenant code through D1's API
// (src/js/tenant/d1.js -> TenantSql -> src/storage/sql.rs rules -> TenantSqlDatabase).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TOKEN, call, freshProject, expectError } from '../lib/client.mjs';
import { prepare, request } from '../lib/site.mjs';
import { d1Rows, storedCount } from '../lib/state.mjs';
import { readDevVars, startWorker } from '../lib/server.mjs';

const dbs = {
  create: (name, token = TOKEN) => call('POST', '/__api/sql/databases', { body: { name }, token }),
  list: (query = '', token = TOKEN) => call('GET', `/__api/sql/databases${query}`, { token }),
  get: (id, token = TOKEN) => call('GET', `/__api/sql/databases/${id}`, { token }),
  delete: (id, token = TOKEN) => call('DELETE', `/__api/sql/databases/${id}`, { token }),
};

async function mint(body) {
  const r = await call('POST', '/__api/tokens', { body: { name: 'sql test', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret;
}

async function created(name, token) {
  const r = await dbs.create(name, token);
  assert.equal(r.status, 201, r.text);
  return r.body.database;
}

/** Rows `sql` counts (`COUNT(*) AS n`) over every tenant database object wrangler dev keeps. */
function objectCount(sql) {
  const dir = join(process.env.FLOTILLA_STATE_DIR, 'v3', 'do');
  const kind = readdirSync(dir).find((d) => d.endsWith('-TenantSqlDatabase'));
  return kind === undefined ? 0 : storedCount(join('do', kind), sql);
}

test('SQL databases: create, list, get with size, name conflicts, scoped tokens', async () => {
  const tag = Date.now().toString(36);
  const a = await created(`a-${tag}`);
  assert.match(a.id, /^[0-9a-f]{32}$/);
  assert.equal(a.name, `a-${tag}`);
  assert.deepEqual(a.projects, []);
  expectError(assert, await dbs.create(`a-${tag}`), 409, 'conflict');
  expectError(assert, await dbs.create(''), 400, 'bad_request', 'name');
  const b = await created(`b-${tag}`);
  const page = await dbs.list('?limit=1');
  assert.equal(page.body.databases[0].id, b.id, 'newest first');
  assert.equal((await dbs.list(`?limit=1&cursor=${page.body.cursor}`)).body.databases[0].id, a.id);
  const got = await dbs.get(a.id);
  assert.equal(got.status, 200, got.text);
  assert.equal(typeof got.body.database.size, 'number');
  for (const bad of ['nope', 'A'.repeat(32), '0'.repeat(32)]) expectError(assert, await dbs.get(bad), 404, 'not_found');

  const p = await freshProject('sql scope');
  const t1 = await mint({ scopes: ['manage'], projects: [p.id] });
  const reader = await mint({ scopes: ['read'], projects: [p.id] });
  const mine = await created(`a-${tag}`, t1); // same name, another creator
  assert.deepEqual((await dbs.list('?limit=100', t1)).body.databases.map((d) => d.id), [mine.id]);
  expectError(assert, await dbs.get(a.id, t1), 404, 'not_found');
  expectError(assert, await dbs.delete(a.id, t1), 404, 'not_found');
  expectError(assert, await dbs.create(`r-${tag}`, reader), 403, 'forbidden');
  assert.equal((await dbs.delete(mine.id, t1)).status, 200);
});

// ---------------------------------------------------------------------------------------------
// The binding, driven over HTTP from deployed server code: POST `{op, ...}` runs one D1 call on
// env.DB and answers {ok, value} or {error: message}.
const TENANT = `
async function run(D, a) {
  const stmt = () => D.prepare(a.sql).bind(...(a.params ?? []));
  switch (a.op) {
    case 'exec': return D.exec(a.sql);
    case 'all': return stmt().all();
    case 'run': return stmt().run();
    case 'first': return a.col === undefined ? stmt().first() : stmt().first(a.col);
    case 'raw': return stmt().raw(a.opts);
    case 'batch': return D.batch(a.stmts.map(([s, p]) => D.prepare(s).bind(...(p ?? []))));
    case 'blob': { const v = await D.prepare('SELECT ? AS b').bind(new Uint8Array([1, 2, 255])).first('b'); return v; }
    case 'bind-undefined': return D.prepare('SELECT ?').bind(undefined);
    case 'session': { const s = D.withSession('first-primary'); return [s.getBookmark(), (await s.prepare(a.sql).all()).results]; }
    case 'probe': {
      const out = {};
      for (const [n, f] of Object.entries({ stub: () => Object.keys(D), query: () => typeof D.query, env: () => D.env })) {
        try { out[n] = JSON.stringify(await f()) ?? 'undefined'; } catch (e) { out[n] = e.message; }
      }
      return out;
    }
  }
  return 'no such op';
}
export default { async fetch(req, env) {
  try { const value = await run(env.DB, await req.json()); return Response.json({ ok: true, value: value === undefined ? '<undefined>' : value }); }
  catch (e) { return Response.json({ error: e?.message ?? String(e) }); }
} };`;

const b64 = (s) => Buffer.from(s).toString('base64');
const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(TENANT) } };

async function deployWithDb(project, bindings, { token, expect = 200 } = {}) {
  const { manifest, bodies } = prepare({ '/index.html': `static ${Math.random()}` });
  const s = await call('POST', `/__api/projects/${project.id}/assets-upload-session`, { body: { manifest }, token });
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await call('POST', `/__api/projects/${project.id}/assets/upload`, { body: Object.fromEntries(b.map((h) => [h, bodies[h]])), token: s.body.result.jwt });
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  const body = { completionJwt: jwt, serverCode, run_worker_first: true, config: { bindings } };
  const d = await call('POST', `/__api/projects/${project.id}/deploy`, { body, ...(token ? { token } : {}) });
  assert.equal(d.status, expect, d.text);
  return d.body;
}

/** One D1 call through the project's server code. */
async function sql(project, args) {
  const body = JSON.stringify(args);
  const r = await request(`/__project/${project.slug}/`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}
const ok = async (project, args) => {
  const r = await sql(project, args);
  assert.ok(r.ok, `${JSON.stringify(args)}: ${JSON.stringify(r)}`);
  return r.value;
};
const bind = (id, name = 'DB') => [{ type: 'd1', name, id }];

test('SQL binding: D1\'s API from tenant code, with its results, meta and errors', { timeout: 120_000 }, async () => {
  const p = await freshProject('sql ops');
  const db = await created(`ops-${Date.now()}`);
  const d = await deployWithDb(p, bind(db.id));
  assert.equal(d.deployment.status, 'completed', JSON.stringify(d));
  assert.deepEqual((await dbs.get(db.id)).body.database.projects, [p.id]);

  const ex = await ok(p, { op: 'exec', sql: 'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT UNIQUE, age INTEGER);\nINSERT INTO users (name, age) VALUES (\'ann\', 31);' });
  assert.equal(ex.count, 2);
  assert.equal(typeof ex.duration, 'number');

  const ins = await ok(p, { op: 'run', sql: 'INSERT INTO users (name, age) VALUES (?, ?)', params: ['bob', 42] });
  assert.equal(ins.success, true);
  assert.deepEqual(ins.results, []);
  assert.equal(ins.meta.changes, 1);
  assert.equal(ins.meta.last_row_id, 2);
  assert.equal(ins.meta.rows_written > 0, true);
  assert.equal(ins.meta.changed_db, true);
  assert.equal(typeof ins.meta.size_after, 'number');
  assert.equal(typeof ins.meta.duration, 'number');

  const all = await ok(p, { op: 'all', sql: 'SELECT id, name, age FROM users ORDER BY id' });
  assert.deepEqual(all.results, [{ id: 1, name: 'ann', age: 31 }, { id: 2, name: 'bob', age: 42 }]);
  assert.equal(all.meta.rows_read, 2);
  assert.equal(all.meta.changes, 0);
  assert.equal(all.meta.changed_db, false);
  assert.deepEqual(await ok(p, { op: 'first', sql: 'SELECT name FROM users WHERE age > ?', params: [40] }), { name: 'bob' });
  assert.equal(await ok(p, { op: 'first', sql: 'SELECT name FROM users WHERE id = ?', params: [1], col: 'name' }), 'ann');
  assert.equal(await ok(p, { op: 'first', sql: 'SELECT name FROM users WHERE id = 99' }), null);
  assert.deepEqual(await sql(p, { op: 'first', sql: 'SELECT name FROM users', col: 'nope' }), { error: 'D1_COLUMN_NOTFOUND: Column not found (nope)' });
  assert.deepEqual(await ok(p, { op: 'raw', sql: 'SELECT id, name FROM users ORDER BY id', opts: { columnNames: true } }), [['id', 'name'], [1, 'ann'], [2, 'bob']]);
  assert.deepEqual(await ok(p, { op: 'raw', sql: 'SELECT id FROM users ORDER BY id' }), [[1], [2]]);
  const upd = await ok(p, { op: 'run', sql: 'UPDATE users SET age = age + 1' });
  assert.equal(upd.meta.changes, 2);
  assert.deepEqual(await ok(p, { op: 'blob' }), [1, 2, 255]);
  assert.deepEqual(await sql(p, { op: 'bind-undefined' }), { error: "D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'" });
  assert.deepEqual(await ok(p, { op: 'session', sql: 'SELECT COUNT(*) AS n FROM users' }), [null, [{ n: 2 }]]);

  // batch: results per statement, and all or nothing.
  const batch = await ok(p, { op: 'batch', stmts: [['INSERT INTO users (name, age) VALUES (?, ?)', ['cy', 5]], ['SELECT COUNT(*) AS n FROM users']] });
  assert.equal(batch.length, 2);
  assert.equal(batch[0].meta.changes, 1);
  assert.deepEqual(batch[1].results, [{ n: 3 }]);
  const failed = await sql(p, { op: 'batch', stmts: [['INSERT INTO users (name, age) VALUES (?, ?)', ['dee', 6]], ['INSERT INTO nope VALUES (1)']] });
  assert.match(failed.error, /^D1_ERROR: no such table: nope/);
  const dup = await sql(p, { op: 'batch', stmts: [['DELETE FROM users'], ['INSERT INTO users (name) VALUES (?)', ['ann']], ['INSERT INTO users (name) VALUES (?)', ['ann']]] });
  assert.match(dup.error, /^D1_ERROR: UNIQUE constraint failed: users\.name/);
  assert.deepEqual(await ok(p, { op: 'first', sql: 'SELECT COUNT(*) AS n FROM users', col: 'n' }), 3, 'the failed batches changed nothing');

  const exErr = await sql(p, { op: 'exec', sql: 'SELEC 1' });
  assert.match(exErr.error, /^D1_EXEC_ERROR: Error in line 1: SELEC 1: near "SELEC": syntax error/);
  assert.match((await sql(p, { op: 'all', sql: 'SELECT * FROM missing' })).error, /^D1_ERROR: no such table: missing: SQLITE_ERROR/);

  // What could reach past the tenant's own tables is refused before it runs.
  for (const bad of ['ATTACH DATABASE \'other.sqlite\' AS o', 'PRAGMA journal_mode = off', 'PRAGMA writable_schema = 1', 'SELECT * FROM _cf_KV', 'VACUUM', 'SELECT * FROM users; DETACH o']) {
    assert.deepEqual(await sql(p, { op: 'all', sql: bad }), { error: 'D1_ERROR: not authorized: SQLITE_AUTH' }, bad);
  }
  assert.match((await sql(p, { op: 'run', sql: 'BEGIN TRANSACTION' })).error, /^D1_ERROR: To execute a transaction/);
  const cols = await ok(p, { op: 'all', sql: 'PRAGMA table_info(users)' });
  assert.deepEqual(cols.results.map((c) => c.name), ['id', 'name', 'age']);
  const tables = await ok(p, { op: 'all', sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'users'" });
  assert.deepEqual(tables.results, [{ name: 'users' }]);

  // Tenant code holds our D1 client, never the entrypoint stub or its env.
  const probe = await ok(p, { op: 'probe' });
  assert.equal(probe.query, '"undefined"');
  assert.equal(probe.env, 'undefined');
});

test('SQL binding: each database is its own; a token cannot bind another\'s; delete removes the data', { timeout: 120_000 }, async () => {
  const tag = Date.now().toString(36);
  const table = `isolated_${tag}`;
  const [pa, pb] = [await freshProject('sql a'), await freshProject('sql b')];
  const [da, db] = [await created(`a-${tag}`), await created(`b-${tag}`)];
  await deployWithDb(pa, bind(da.id));
  const firstB = await deployWithDb(pb, bind(db.id));
  await ok(pa, { op: 'exec', sql: `CREATE TABLE ${table} (v TEXT);\nINSERT INTO ${table} VALUES ('from a');` });
  await ok(pb, { op: 'exec', sql: `CREATE TABLE ${table} (v TEXT);\nINSERT INTO ${table} VALUES ('from b');\nINSERT INTO ${table} VALUES ('also b');` });
  assert.deepEqual(await ok(pa, { op: 'raw', sql: `SELECT v FROM ${table}` }), [['from a']]);
  assert.deepEqual(await ok(pb, { op: 'raw', sql: `SELECT v FROM ${table} ORDER BY v` }), [['also b'], ['from b']]);
  assert.equal(objectCount(`SELECT COUNT(*) AS n FROM ${table}`), 3);

  // A token scoped to project A cannot bind B's database (it is not one it reaches).
  const ta = await mint({ scopes: ['deploy', 'manage'], projects: [pa.id] });
  const refused = await deployWithDb(pa, bind(db.id), { token: ta, expect: 404 });
  assert.match(refused.message, /SQL database `[0-9a-f]{32}` \(binding `DB`\)/);

  // Bound by a live deployment: refused; once unbound, deleting removes its rows.
  expectError(assert, await dbs.delete(db.id), 409, 'conflict');
  await deployWithDb(pb, []);
  const gone = await dbs.delete(db.id);
  assert.equal(gone.status, 200, gone.text);
  assert.deepEqual(gone.body, { success: true, deleted: { id: db.id, name: db.name }, data: { removed: true } });
  assert.equal(objectCount(`SELECT COUNT(*) AS n FROM ${table}`), 1, 'B\'s rows are gone, A\'s stay');
  expectError(assert, await dbs.get(db.id), 404, 'not_found');
  assert.ok(d1Rows('SELECT purged_at FROM resources WHERE id = ?', db.id)[0].purged_at > 0);
  assert.deepEqual(await ok(pa, { op: 'raw', sql: `SELECT v FROM ${table}` }), [['from a']]);
  // A preview of B's old deployment still binds it, and gets D1's error instead of data.
  const port = new URL(process.env.FLOTILLA_URL).port;
  const body = JSON.stringify({ op: 'all', sql: `SELECT v FROM ${table}` });
  const preview = await request('/', { host: `${firstB.deployment.id.slice(0, 8)}--${pb.slug}.localhost:${port}`, method: 'POST', body, headers: { 'content-length': String(Buffer.byteLength(body)) } });
  assert.deepEqual(JSON.parse(preview.body), { error: 'D1_ERROR: no such database: it was deleted' });
});

test('SQL databases: a write past SQL_DB_MAX_BYTES is rolled back with D1\'s SQLITE_FULL', { timeout: 180_000 }, async (t) => {
  const server = await startWorker({ extraArgs: ['--var', 'SQL_DB_MAX_BYTES:60000'] });
  t.after(() => server.stop());
  const token = readDevVars().API_TOKEN;
  const req = async (method, path, body) => {
    const r = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };
  const db = await req('POST', '/__api/sql/databases', { name: 'capped' });
  assert.equal(db.status, 201, JSON.stringify(db.body));
  const q = (sql) => req('POST', `/client/v4/accounts/acc/d1/database/${db.body.database.id}/query`, { sql });
  assert.equal((await q('CREATE TABLE big (b BLOB); INSERT INTO big VALUES (randomblob(1000))')).status, 200);
  const full = await q('INSERT INTO big VALUES (randomblob(200000))');
  assert.equal(full.status, 400, JSON.stringify(full.body));
  assert.deepEqual(full.body.errors[0], { code: 7500, message: 'Exceeded maximum DB size of 60000 bytes: SQLITE_FULL' });
  const n = await q('SELECT COUNT(*) AS n FROM big');
  assert.deepEqual(n.body.result[0].results, [{ n: 1 }], 'the refused write left nothing behind');
  assert.ok((await req('GET', `/__api/sql/databases/${db.body.database.id}`)).body.database.size < 60000);
  // Shrinking is always allowed, even for a database already past a lowered cap.
  assert.equal((await q('DELETE FROM big')).status, 200);
});
