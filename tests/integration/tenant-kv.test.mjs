// Tenant storage, KV slice (issue 27): namespaces are resources recorded in D1 and reached like
// projects (the root sees all; a scoped token sees what it created and what is bound to its
// projects; anything else is a 404 that does not disclose it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN, call, freshProject, expectError } from '../lib/client.mjs';
import { prepare, request, sleep, upload } from '../lib/site.mjs';
import { d1Rows, kvCount } from '../lib/state.mjs';

const ns = {
  create: (title, token = TOKEN) => call('POST', '/__api/kv/namespaces', { body: { title }, token }),
  list: (query = '', token = TOKEN) => call('GET', `/__api/kv/namespaces${query}`, { token }),
  get: (id, token = TOKEN) => call('GET', `/__api/kv/namespaces/${id}`, { token }),
  delete: (id, token = TOKEN) => call('DELETE', `/__api/kv/namespaces/${id}`, { token }),
};

async function mint(body) {
  const r = await call('POST', '/__api/tokens', { body: { name: 'kv test', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret;
}

async function created(title, token) {
  const r = await ns.create(title, token);
  assert.equal(r.status, 201, r.text);
  return r.body.namespace;
}

test('KV namespaces: create, list with pagination, get, title conflicts, delete', async () => {
  const tag = Date.now().toString(36);
  const a = await created(`a-${tag}`);
  assert.match(a.id, /^[0-9a-f]{32}$/);
  assert.equal(a.title, `a-${tag}`);
  assert.deepEqual(a.projects, []);
  expectError(assert, await ns.create(`a-${tag}`), 409, 'conflict');
  expectError(assert, await ns.create(''), 400, 'bad_request', 'title');
  expectError(assert, await ns.create('x'.repeat(513)), 400, 'bad_request', 'title');
  const b = await created(`b-${tag}`);

  const page1 = await ns.list('?limit=1');
  assert.equal(page1.status, 200, page1.text);
  assert.equal(page1.body.namespaces[0].id, b.id, 'newest first');
  assert.ok(page1.body.cursor);
  const page2 = await ns.list(`?limit=1&cursor=${page1.body.cursor}`);
  assert.equal(page2.body.namespaces[0].id, a.id);

  assert.equal((await ns.get(a.id)).body.namespace.title, a.title);
  for (const bad of ['nope', '..%2F..', 'A'.repeat(32), '0'.repeat(32)]) {
    expectError(assert, await ns.get(bad), 404, 'not_found');
  }
  const gone = await ns.delete(a.id);
  assert.equal(gone.status, 200, gone.text);
  assert.deepEqual(gone.body.deleted, { id: a.id, title: a.title });
  assert.deepEqual(gone.body.keys, { removed: 0, more: false });
  expectError(assert, await ns.get(a.id), 404, 'not_found');
  expectError(assert, await ns.delete(a.id), 404, 'not_found');
  assert.ok(!(await ns.list('?limit=100')).body.namespaces.some((n) => n.id === a.id));
  // The title is free again once its namespace is deleted.
  await created(`a-${tag}`);
});

test('KV namespaces: a scoped token reaches only its own; titles are per creator', async () => {
  const tag = Date.now().toString(36);
  const p = await freshProject('kv scope');
  const t1 = await mint({ scopes: ['manage'], projects: [p.id] });
  const t2 = await mint({ scopes: ['manage'], projects: [p.id] });
  const reader = await mint({ scopes: ['read'], projects: [p.id] });
  const rootNs = await created(`shared-${tag}`);
  const mine = await created(`shared-${tag}`, t1); // same title, another creator: allowed
  assert.notEqual(mine.id, rootNs.id);
  assert.equal(mine.createdBy === 'root', false);

  const seen = (await ns.list('?limit=100', t1)).body.namespaces.map((n) => n.id);
  assert.deepEqual(seen, [mine.id], 'a token lists only what it reaches');
  assert.equal((await ns.list('?limit=100', t2)).body.namespaces.length, 0);
  assert.ok((await ns.list('?limit=100')).body.namespaces.some((n) => n.id === mine.id), 'root sees all');

  expectError(assert, await ns.get(rootNs.id, t1), 404, 'not_found');
  expectError(assert, await ns.get(mine.id, t2), 404, 'not_found');
  expectError(assert, await ns.delete(mine.id, t2), 404, 'not_found');
  expectError(assert, await ns.create(`r-${tag}`, reader), 403, 'forbidden');
  expectError(assert, await ns.delete(mine.id, reader), 403, 'forbidden');
  assert.equal((await ns.get(mine.id, t1)).status, 200);
  assert.equal((await ns.delete(mine.id, t1)).status, 200);
});

// ---------------------------------------------------------------------------------------------
// The binding, driven over HTTP from deployed server code: `/<op>?...` runs one KV call on
// env.CACHE and answers {ok, value} or {error: [constructor name, message]}.
const TENANT = `
const enc = new TextEncoder();
async function run(env, url, req) {
  const q = url.searchParams; const C = env.CACHE; const key = q.get('key');
  switch (url.pathname) {
    case '/put': return C.put(key, q.get('value') ?? await req.text(), q.has('opts') ? JSON.parse(q.get('opts')) : undefined);
    case '/put-buffer': return C.put(key, enc.encode(q.get('value')).buffer);
    case '/put-view': return C.put(key, enc.encode(q.get('value')));
    case '/put-stream': return C.put(key, req.body);
    case '/get': return C.get(key, q.has('type') ? q.get('type') : undefined);
    case '/get-opts': return C.get(key, JSON.parse(q.get('opts')));
    case '/get-json': return C.get(key, 'json');
    case '/get-buffer': { const b = await C.get(key, 'arrayBuffer'); return b === null ? null : [b.constructor.name, new TextDecoder().decode(b)]; }
    case '/get-stream': { const s = await C.get(key, { type: 'stream' }); return s === null ? null : [s.constructor.name, await new Response(s).text()]; }
    case '/meta': return C.getWithMetadata(key);
    case '/bulk': return [...(await C.get(JSON.parse(q.get('keys')), q.get('type') ?? undefined))];
    case '/delete': return C.delete(key);
    case '/list': { const r = await C.list(JSON.parse(q.get('opts') ?? '{}')); return r; }
    case '/probe': {
      const out = {};
      for (const [n, f] of Object.entries({ store: () => C.store(), ctx: () => C.ctx.props, env: () => C.env.TENANT_KV, kv: () => C.kv })) {
        try { const v = await f(); out[n] = typeof v === 'function' ? 'a function' : JSON.stringify(v) ?? String(v); } catch (e) { out[n] = e.message; }
      }
      return out;
    }
    case '/fill': { const n = Number(q.get('n')); for (let i = 0; i < n; i++) await C.put('fill:' + String(i).padStart(4, '0'), 'v'); return n; }
    case '/list-all': {
      const names = []; let cursor; let pages = 0;
      do { const r = await C.list({ ...JSON.parse(q.get('opts') ?? '{}'), cursor }); names.push(...r.keys.map((k) => k.name)); cursor = r.list_complete ? undefined : r.cursor; pages++; } while (cursor && pages < 50);
      return { names, pages };
    }
  }
  return 'no such op';
}
export default { async fetch(req, env) {
  const url = new URL(req.url);
  try { const value = await run(env, url, req); return Response.json({ ok: true, value: value === undefined ? '<undefined>' : value }); }
  catch (e) { return Response.json({ error: [e?.constructor?.name, e?.message ?? String(e)] }); }
} };`;

const b64 = (s) => Buffer.from(s).toString('base64');
const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(TENANT) } };

/** The upload phases as `token` (a deploy must come from the principal that uploaded). */
async function uploadAs(projectId, files, token = TOKEN) {
  const { manifest, bodies } = prepare(files);
  const s = await call('POST', `/__api/projects/${projectId}/assets-upload-session`, { body: { manifest }, token });
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await call('POST', `/__api/projects/${projectId}/assets/upload`, { body: Object.fromEntries(b.map((h) => [h, bodies[h]])), token: s.body.result.jwt });
    assert.equal(r.status, 200, r.text);
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  return { jwt };
}

async function deployWithKv(project, bindings, { token, expect = 200, activate } = {}) {
  const { jwt } = await uploadAs(project.id, { '/index.html': `static ${Math.random()}` }, token);
  const body = { completionJwt: jwt, serverCode, run_worker_first: true, config: { bindings }, ...(activate === undefined ? {} : { activate }) };
  const d = await call('POST', `/__api/projects/${project.id}/deploy`, { body, ...(token ? { token } : {}) });
  assert.equal(d.status, expect, d.text);
  return d.body;
}

/** One KV call through the project's server code. */
async function kv(project, path, { body, method = body === undefined ? 'GET' : 'POST' } = {}) {
  const r = await request(`/__project/${project.slug}${path}`, { method, body, headers: body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) } });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}
const q = (o) => new URLSearchParams(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();
const bind = (id, name = 'CACHE') => [{ type: 'kv', name, id }];

test('KV binding: every operation from tenant code, with Cloudflare\'s limits and messages', { timeout: 120_000 }, async () => {
  const p = await freshProject('kv ops');
  const space = await created(`ops-${Date.now()}`);
  const d = await deployWithKv(p, bind(space.id));
  assert.equal(d.deployment.status, 'completed', JSON.stringify(d));
  assert.deepEqual((await ns.get(space.id)).body.namespace.projects, [p.id]);

  assert.deepEqual(await kv(p, `/get?${q({ key: 'missing' })}`), { ok: true, value: null });
  assert.deepEqual(await kv(p, `/put?${q({ key: 'greeting', value: 'hello' })}`), { ok: true, value: '<undefined>' });
  assert.deepEqual(await kv(p, `/get?${q({ key: 'greeting' })}`), { ok: true, value: 'hello' });
  assert.deepEqual(await kv(p, `/get?${q({ key: 'greeting', type: 'text' })}`), { ok: true, value: 'hello' });
  assert.deepEqual(await kv(p, `/get-opts?${q({ key: 'greeting', opts: { type: 'text', cacheTtl: 60 } })}`), { ok: true, value: 'hello' });
  await kv(p, `/put?${q({ key: 'doc', value: JSON.stringify({ a: [1, 2] }) })}`);
  assert.deepEqual(await kv(p, `/get-json?${q({ key: 'doc' })}`), { ok: true, value: { a: [1, 2] } });
  await kv(p, `/put-buffer?${q({ key: 'buf', value: 'bytes!' })}`);
  assert.deepEqual(await kv(p, `/get-buffer?${q({ key: 'buf' })}`), { ok: true, value: ['ArrayBuffer', 'bytes!'] });
  await kv(p, `/put-view?${q({ key: 'view', value: 'viewed' })}`);
  assert.deepEqual(await kv(p, `/get?${q({ key: 'view' })}`), { ok: true, value: 'viewed' });
  const big = 'x'.repeat(200_000);
  assert.equal((await kv(p, `/put-stream?${q({ key: 'streamed' })}`, { body: big })).ok, true);
  assert.deepEqual(await kv(p, `/get-stream?${q({ key: 'streamed' })}`), { ok: true, value: ['ReadableStream', big] });

  // Metadata and expiry.
  await kv(p, `/put?${q({ key: 'm', value: 'v', opts: { metadata: { role: 'admin' }, expirationTtl: 3600 } })}`);
  const meta = await kv(p, `/meta?${q({ key: 'm' })}`);
  assert.equal(meta.value.value, 'v');
  assert.deepEqual(meta.value.metadata, { role: 'admin' });
  const exp = Math.floor(Date.now() / 1000) + 7200;
  await kv(p, `/put?${q({ key: 'e', value: 'v', opts: { expiration: exp } })}`);
  const listed = (await kv(p, `/list?${q({ opts: { prefix: '' } })}`)).value;
  assert.deepEqual(listed.keys.map((k) => k.name), ['buf', 'doc', 'e', 'greeting', 'm', 'streamed', 'view'], 'names come back without the namespace prefix');
  assert.equal(listed.keys.find((k) => k.name === 'e').expiration, exp);
  assert.deepEqual(listed.keys.find((k) => k.name === 'm').metadata, { role: 'admin' });
  assert.equal(listed.list_complete, true);

  // Prefix, limit, cursor.
  for (let i = 0; i < 5; i++) await kv(p, `/put?${q({ key: `user:${i}`, value: String(i) })}`);
  const page = (await kv(p, `/list?${q({ opts: { prefix: 'user:', limit: 2 } })}`)).value;
  assert.deepEqual(page.keys.map((k) => k.name), ['user:0', 'user:1']);
  assert.equal(page.list_complete, false);
  const next = (await kv(p, `/list?${q({ opts: { prefix: 'user:', limit: 2, cursor: page.cursor } })}`)).value;
  assert.deepEqual(next.keys.map((k) => k.name), ['user:2', 'user:3']);
  assert.deepEqual((await kv(p, `/list-all?${q({ opts: { prefix: 'user:', limit: 2 } })}`)).value, { names: ['user:0', 'user:1', 'user:2', 'user:3', 'user:4'], pages: 3 });

  // Bulk get, delete.
  const bulk = await kv(p, `/bulk?${q({ keys: ['greeting', 'user:1', 'nope'] })}`);
  assert.deepEqual(bulk.value, [['greeting', 'hello'], ['user:1', '1'], ['nope', null]]);
  assert.deepEqual((await kv(p, `/bulk?${q({ keys: ['doc'], type: 'json' })}`)).value, [['doc', { a: [1, 2] }]]);
  assert.deepEqual(await kv(p, `/delete?${q({ key: 'greeting' })}`), { ok: true, value: '<undefined>' });
  assert.deepEqual(await kv(p, `/get?${q({ key: 'greeting' })}`), { ok: true, value: null });

  // Limits, with Cloudflare's messages.
  const errors = [
    [`/get?${q({ key: '' })}`, ['TypeError', 'Key name cannot be empty.']],
    [`/put?${q({ key: '.', value: 'v' })}`, ['TypeError', '"." is not allowed as a key name.']],
    [`/delete?${q({ key: '..' })}`, ['TypeError', '".." is not allowed as a key name.']],
    [`/get?${q({ key: 'k'.repeat(480) })}`, ['Error', 'KV GET failed: 414 UTF-8 encoded length of 480 exceeds key length limit of 479.']],
    [`/put?${q({ key: 'k', value: 'v', opts: { expirationTtl: 30 } })}`, ['Error', 'KV PUT failed: 400 Invalid expiration_ttl of 30. Expiration TTL must be at least 60.']],
    [`/put?${q({ key: 'k', value: 'v', opts: { metadata: { a: 'x'.repeat(1100) } } })}`, ['Error', 'KV PUT failed: 413 Metadata length of 1108 exceeds limit of 1024.']],
    [`/list?${q({ opts: { limit: 1001 } })}`, ['Error', 'KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000.']],
    [`/bulk?${q({ keys: Array.from({ length: 101 }, (_, i) => `k${i}`) })}`, ['Error', 'KV GET_BULK failed: 400 You can request a maximum of 100 keys']],
    [`/bulk?${q({ keys: ['a'], type: 'arrayBuffer' })}`, ['Error', 'KV GET_BULK failed: 400 "arrayBuffer" is not a valid type. Use "json" or "text"']],
  ];
  for (const [path, error] of errors) assert.deepEqual(await kv(p, path), { error }, path);
  assert.equal((await kv(p, `/get?${q({ key: 'k'.repeat(479) })}`)).ok, true, '479 bytes is the longest key');
  const huge = await kv(p, '/put-stream?key=huge', { body: 'x'.repeat(25 * 1024 * 1024 + 1) });
  assert.deepEqual(huge, { error: ['Error', 'KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400.'] });
});

test('KV binding: one namespace cannot reach another, whatever keys, prefixes or limits it crafts', { timeout: 120_000 }, async () => {
  const [pa, pb] = [await freshProject('kv iso a'), await freshProject('kv iso b')];
  const [na, nb] = [await created(`iso-a-${Date.now()}`), await created(`iso-b-${Date.now()}`)];
  await deployWithKv(pa, bind(na.id));
  await deployWithKv(pb, bind(nb.id));
  await kv(pa, `/put?${q({ key: 'secret', value: 'A only' })}`);
  await kv(pa, `/put?${q({ key: '../x', value: 'A dotted' })}`);
  for (const key of ['secret', `../${na.id}:secret`, `${na.id}:secret`, `/${na.id}:secret`, '../x', `..:${na.id}:secret`]) {
    assert.deepEqual(await kv(pb, `/get?${q({ key })}`), { ok: true, value: null }, key);
    assert.deepEqual((await kv(pb, `/bulk?${q({ keys: [key] })}`)).value, [[key, null]], key);
  }
  for (const opts of [{}, { prefix: '' }, { prefix: `${na.id}:` }, { prefix: '..' }, { limit: 1000 }, { prefix: '', cursor: Buffer.from(`${na.id}:`).toString('base64') }]) {
    const r = await kv(pb, `/list?${q({ opts })}`);
    assert.deepEqual(r.value.keys, [], JSON.stringify(opts));
  }
  assert.deepEqual((await kv(pb, `/list?${q({ opts: { limit: 1e9 } })}`)).error[0], 'Error');
  // The binding shows tenant code only the KV methods: not its props, the platform's env, or
  // the entrypoint's internals.
  const probe = (await kv(pb, '/probe')).value;
  for (const name of ['store', 'ctx', 'env', 'kv']) {
    assert.equal(probe[name], `The RPC receiver does not implement the method "${name}".`, JSON.stringify(probe));
  }
  // B writing A's stored name only writes inside B.
  await kv(pb, `/put?${q({ key: `${na.id}:secret`, value: 'B forged' })}`);
  assert.deepEqual(await kv(pa, `/get?${q({ key: 'secret' })}`), { ok: true, value: 'A only' });
  assert.deepEqual((await kv(pa, '/list')).value.keys.map((k) => k.name), ['../x', 'secret']);
});

test('KV binding: binding is access-controlled; rollback keeps the data; delete while bound is refused', { timeout: 120_000 }, async () => {
  const p = await freshProject('kv bind');
  const other = await created(`not-yours-${Date.now()}`);
  const t = await mint({ scopes: ['deploy', 'manage'], projects: [p.id] });
  const own = await created(`yours-${Date.now()}`, t);
  // A token cannot bind a namespace it does not reach: 404 naming the binding.
  const refused = await deployWithKv(p, bind(other.id), { token: t, expect: 404 });
  assert.match(refused.message, /KV namespace .* \(binding `CACHE`\)/);
  const first = await deployWithKv(p, bind(own.id), { token: t });
  await kv(p, `/put?${q({ key: 'kept', value: 'v1' })}`);
  // A second deployment without the binding, then a rollback to the first: same data.
  const { jwt } = await upload(p.id, { '/index.html': 'v2' });
  const second = await call('POST', `/__api/projects/${p.id}/deploy`, { body: { completionJwt: jwt, serverCode, run_worker_first: true } });
  assert.equal(second.status, 200, second.text);
  assert.deepEqual((await kv(p, `/get?${q({ key: 'kept' })}`)).error[0], 'TypeError', 'no CACHE without the binding');
  // The namespace is no longer bound by production, but by nothing live either: delete is allowed
  // only when nothing serves it, so bring it back first.
  const back = await call('POST', `/__api/projects/${p.id}/rollback`, { body: { deploymentId: first.deployment.id } });
  assert.equal(back.status, 200, back.text);
  assert.deepEqual(await kv(p, `/get?${q({ key: 'kept' })}`), { ok: true, value: 'v1' });
  // The token now reaches `other` only if bound to its project: it is not.
  expectError(assert, await ns.get(other.id, t), 404, 'not_found');
  // Bound by production: delete is refused.
  const busy = await ns.delete(own.id, t);
  expectError(assert, busy, 409, 'conflict');
  // A root namespace bound to the token's project becomes visible to the token.
  const shared = await created(`shared-bound-${Date.now()}`);
  await deployWithKv(p, bind(shared.id, 'SHARED'));
  assert.equal((await ns.get(shared.id, t)).status, 200, 'bound to its project');
  // Once nothing live binds it, delete succeeds, and a preview of the old deployment that
  // bound it gets an error instead of the data.
  const { jwt: j3 } = await upload(p.id, { '/index.html': 'v3' });
  assert.equal((await call('POST', `/__api/projects/${p.id}/deploy`, { body: { completionJwt: j3, serverCode, run_worker_first: true } })).status, 200);
  assert.equal((await ns.delete(own.id, t)).status, 200);
  const port = new URL(process.env.FLOTILLA_URL).port;
  const preview = await request(`/get?${q({ key: 'kept' })}`, { host: `${first.deployment.id.slice(0, 8)}--${p.slug}.localhost:${port}` });
  assert.deepEqual(JSON.parse(preview.body), { error: ['Error', 'KV namespace not found: it was deleted'] });
});

test('KV namespaces: deleting removes the keys in bounded batches, resumed by DELETE', { timeout: 120_000 }, async () => {
  const p = await freshProject('kv purge');
  const space = await created(`purge-${Date.now()}`);
  const keep = await created(`keep-${Date.now()}`);
  const first = await deployWithKv(p, [...bind(space.id), ...bind(keep.id, 'OTHER')]);
  assert.deepEqual(await kv(p, '/fill?n=520'), { ok: true, value: 520 });
  // A second deployment binds only `keep` (with a key of its own), so `space` may go.
  await deployWithKv(p, bind(keep.id));
  await kv(p, `/put?${q({ key: 'fill:0001', value: 'other namespace' })}`);
  const one = await ns.delete(space.id);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.body.keys, { removed: 500, more: true });
  expectError(assert, await ns.get(space.id), 404, 'not_found');
  assert.ok(!(await ns.list('?limit=100')).body.namespaces.some((n) => n.id === space.id));
  // The old deployment's preview still binds it, and gets an error instead of what is left.
  const port = new URL(process.env.FLOTILLA_URL).port;
  const preview = await request(`/list`, { host: `${first.deployment.id.slice(0, 8)}--${p.slug}.localhost:${port}` });
  assert.deepEqual(JSON.parse(preview.body), { error: ['Error', 'KV namespace not found: it was deleted'] });
  const two = await ns.delete(space.id);
  assert.deepEqual(two.body.keys, { removed: 20, more: false });
  expectError(assert, await ns.delete(space.id), 404, 'not_found');
  // Another namespace's keys with the same names are untouched.
  assert.deepEqual(await kv(p, `/get?${q({ key: 'fill:0001' })}`), { ok: true, value: 'other namespace' });
});

test('KV namespaces: a deletion nobody resumes is finished by the cron', { timeout: 120_000 }, async () => {
  const p = await freshProject('kv cron');
  const space = await created(`cron-${Date.now()}`);
  const keep = await created(`cron-keep-${Date.now()}`);
  await deployWithKv(p, bind(space.id));
  assert.deepEqual(await kv(p, '/fill?n=520'), { ok: true, value: 520 });
  await deployWithKv(p, bind(keep.id));
  const one = await ns.delete(space.id);
  assert.deepEqual(one.body.keys, { removed: 500, more: true });
  // The caller never calls DELETE again: the cron removes the rest and closes the row.
  const left = () => kvCount('SELECT COUNT(*) AS n FROM _mf_entries WHERE key LIKE ?', `${space.id}:%`);
  assert.equal(left(), 20);
  const r = await fetch(`${process.env.FLOTILLA_URL}/__scheduled?cron=*+*+*+*+*`);
  assert.equal(r.status, 200, await r.text());
  const row = () => d1Rows('SELECT deleted_at, purged_at FROM resources WHERE id = ?', space.id)[0];
  for (let i = 0; i < 20 && !row().purged_at; i++) await sleep(250);
  assert.equal(left(), 0, 'every key removed');
  assert.ok(row().purged_at >= row().deleted_at, JSON.stringify(row()));
  expectError(assert, await ns.delete(space.id), 404, 'not_found');
  assert.equal((await ns.get(keep.id)).status, 200, 'a live namespace is untouched');
});
