// Projects API and service endpoints over real HTTP against the wasm Worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, call, freshProject, expectError, BASE, TOKEN } from '../lib/client.mjs';

test('health checks every binding and answers 200', async () => {
  // The public /health is generic (tests/integration/abuse.test.mjs); the admin token's
  // ?detail=1 runs every check.
  const r = await call('GET', '/health?detail=1');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'ok');
  for (const check of ['d1', 'assetsKv', 'routesKv', 'tenantKv', 'r2', 'deployQueue', 'deadLetterQueue', 'durableObject', 'loader']) {
    assert.equal(r.body.checks[check]?.ok, true, `${check}: ${r.text}`);
  }
  assert.match(r.headers.get('x-request-id'), /^[0-9a-f]{24}$/);
});

test('service info, openapi and docs on the platform host', async () => {
  const info = await call('GET', '/', { token: null });
  assert.equal(info.status, 200);
  assert.equal(info.body.service, 'flotilla');
  const spec = await call('GET', '/openapi.json', { token: null });
  assert.equal(spec.status, 200);
  assert.equal(spec.body.openapi, '3.1.0');
  assert.ok(spec.body.paths['/__api/projects'].post);
  const docs = await call('GET', '/docs', { token: null });
  assert.equal(docs.status, 200);
  assert.match(docs.headers.get('content-type'), /text\/html/);
});

test('a caller-supplied request id is echoed; a hostile one is replaced', async () => {
  const r = await call('GET', '/health', { token: null, headers: { 'x-request-id': 'trace-123_abc' } });
  assert.equal(r.headers.get('x-request-id'), 'trace-123_abc');
  const bad = await call('GET', '/health', { token: null, headers: { 'x-request-id': 'a b<script>' } });
  assert.notEqual(bad.headers.get('x-request-id'), 'a b<script>');
});

test('create returns 201 with the full project shape', async () => {
  const r = await api.createProject({ name: 'My Blog!' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.success, true);
  const p = r.body.project;
  assert.match(p.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(p.slug, /^my-blog-[a-z0-9]{6}$/);
  assert.equal(p.name, 'My Blog!');
  assert.equal(p.enabled, true);
  assert.equal(p.activeDeploymentId, null);
  assert.equal(p.hasServerCode, false);
  assert.equal(p.assetsCount, 0);
  assert.ok(Date.parse(p.createdAt) && Date.parse(p.updatedAt));
  assert.ok(p.url.includes(p.slug));
});

test('create without a body or name derives a valid slug; slugs are unique', async () => {
  const a = await call('POST', '/__api/projects');
  const b = await api.createProject({});
  assert.equal(a.status, 201, a.text);
  assert.equal(b.status, 201, b.text);
  assert.match(a.body.project.slug, /^project-[a-z0-9]{6}$/);
  assert.notEqual(a.body.project.slug, b.body.project.slug);
  const same1 = await api.createProject({ name: 'Same' });
  const same2 = await api.createProject({ name: 'Same' });
  assert.notEqual(same1.body.project.slug, same2.body.project.slug);
});

test('names shaped like an id or holding `--` become slugs that are neither (rewritten, as documented)', async () => {
  const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const existing = await freshProject('named after');
  const cases = [
    [randomUUID(), (n) => new RegExp(`^${n}-[a-z0-9]{6}$`)],
    [randomUUID().toUpperCase(), (n) => new RegExp(`^${n.toLowerCase()}-[a-z0-9]{6}$`)],
    [existing.id, (n) => new RegExp(`^${n}-[a-z0-9]{6}$`)],
    ['ab--x', () => /^ab-x-[a-z0-9]{6}$/],
    ['0123abcd--site', () => /^0123abcd-site-[a-z0-9]{6}$/],
  ];
  for (const [name, slug] of cases) {
    const r = await api.createProject({ name });
    assert.equal(r.status, 201, r.text);
    const p = r.body.project;
    assert.equal(p.name, name);
    assert.match(p.slug, slug(name));
    assert.doesNotMatch(p.slug, uuidShape);
    assert.ok(!p.slug.includes('--'), p.slug);
    assert.deepEqual((await api.getProject(p.slug)).body.project, p);
  }
  // The project whose id was used as a name is still the one its id names.
  assert.equal((await api.getProject(existing.id)).body.project.slug, existing.slug);
});

test('get by id and by slug', async () => {
  const p = await freshProject('lookup');
  const byId = await api.getProject(p.id);
  const bySlug = await api.getProject(p.slug);
  assert.equal(byId.status, 200);
  assert.equal(bySlug.status, 200);
  assert.deepEqual(byId.body.project, bySlug.body.project);
  expectError(assert, await api.getProject('no-such-project'), 404, 'not_found');
});

test('patch name and enabled; slug stays stable', async () => {
  const p = await freshProject('patch');
  const r = await api.updateProject(p.id, { name: 'Renamed', enabled: false });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.project.name, 'Renamed');
  assert.equal(r.body.project.enabled, false);
  assert.equal(r.body.project.slug, p.slug);
  assert.ok(Date.parse(r.body.project.updatedAt) >= Date.parse(p.updatedAt));
  const again = await api.updateProject(p.slug, { enabled: true });
  assert.equal(again.body.project.enabled, true);
  assert.equal(again.body.project.name, 'Renamed');
});

test('delete removes the project from the API at once', async () => {
  const p = await freshProject('delete');
  const r = await api.deleteProject(p.slug);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.deleted.id, p.id);
  expectError(assert, await api.getProject(p.id), 404, 'not_found');
  expectError(assert, await api.getProject(p.slug), 404, 'not_found');
  expectError(assert, await api.deleteProject(p.id), 404, 'not_found');
  expectError(assert, await api.updateProject(p.id, { enabled: false }), 404, 'not_found');
  let cursor = '';
  do {
    const page = await api.listProjects(`?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    assert.ok(!page.body.projects.some((x) => x.id === p.id), 'deleted project listed');
    cursor = page.body.cursor;
  } while (cursor);
});

test('pagination walks every project exactly once, newest first', async () => {
  const created = [];
  for (let i = 0; i < 7; i++) created.push((await freshProject('page')).id);
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const r = await api.listProjects(`?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.projects.length <= 3);
    seen.push(...r.body.projects);
    cursor = r.body.cursor;
    pages++;
  } while (cursor && pages < 1000);
  const ids = seen.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates across pages');
  for (const id of created) assert.ok(ids.includes(id), `missing ${id}`);
  const times = seen.map((p) => Date.parse(p.createdAt));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] >= times[i], 'newest first');
  // Keyset order is (createdAt desc, id desc): ties within one millisecond break by id.
  const ours = seen.filter((p) => created.includes(p.id));
  const sorted = [...ours].sort((a, b) => (Date.parse(b.createdAt) - Date.parse(a.createdAt)) || (a.id < b.id ? 1 : -1));
  assert.deepEqual(ours.map((p) => p.id), sorted.map((p) => p.id));
});

test('auth: missing, wrong, wrong scheme all 401 with the same message; bare token accepted', async () => {
  const messages = new Set();
  for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }, { authorization: 'Bearer' }]) {
    const r = await call('GET', '/__api/projects', { token: null, headers });
    expectError(assert, r, 401, 'unauthorized');
    messages.add(r.body.message);
  }
  assert.equal(messages.size, 1, 'the message never says which part was wrong');
  const bare = await call('GET', '/__api/projects', { token: null, headers: { authorization: TOKEN } });
  assert.equal(bare.status, 200);
  // Unknown routes do not reveal themselves to unauthenticated callers.
  expectError(assert, await call('GET', '/__api/secret-route', { token: null }), 401, 'unauthorized');
});

test('bad input: every class is a 400 naming the field, never a 500', async () => {
  const p = await freshProject('badinput');
  const cases = [
    [() => call('POST', '/__api/projects', { raw: '{"name":', headers: { 'content-type': 'application/json' } }), 'body'],
    [() => call('POST', '/__api/projects', { raw: '[1,2]' }), 'body'],
    [() => call('POST', '/__api/projects', { raw: '"str"' }), 'body'],
    [() => api.createProject({ name: 42 }), 'name'],
    [() => api.createProject({ name: '' }), 'name'],
    [() => api.createProject({ name: 'x'.repeat(101) }), 'name'],
    [() => api.createProject({ name: 'a\u0000b' }), 'name'],
    [() => api.createProject({ name: 'ok', colour: 'red' }), 'colour'],
    [() => api.updateProject(p.id, {}), 'body'],
    [() => api.updateProject(p.id, { enabled: 'yes' }), 'enabled'],
    [() => api.updateProject(p.id, { slug: 'new-slug' }), 'slug'],
    [() => api.updateProject(p.id, { name: null, enabled: null }), 'body'],
    [() => api.listProjects('?limit=0'), 'limit'],
    [() => api.listProjects('?limit=abc'), 'limit'],
    [() => api.listProjects('?limit=101'), 'limit'],
    [() => api.listProjects('?cursor=not-a-cursor!'), 'cursor'],
    [() => api.listProjects('?cursor=Zm9vOmJhcg'), 'cursor'],
  ];
  for (const [run, field] of cases) {
    const r = await run();
    expectError(assert, r, 400, 'bad_request', field);
    assert.ok(r.body.message.includes(field), r.body.message);
  }
});

test('oversized bodies are 413 naming the limit', async () => {
  const r = await call('POST', '/__api/projects', { raw: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }) });
  const e = expectError(assert, r, 413, 'payload_too_large');
  assert.ok(e.details.limit > 0);
});

test('wrong method is 405 with Allow; unknown API route 404', async () => {
  const r = await call('PUT', '/__api/projects');
  expectError(assert, r, 405, 'method_not_allowed');
  assert.equal(r.headers.get('allow'), 'GET, POST');
  expectError(assert, await call('GET', '/__api/nope'), 404, 'not_found');
  expectError(assert, await call('GET', '/nope', { token: null }), 404, 'not_found');
});

test('project hosts without an active deployment get the 404 page (HTML or JSON)', async () => {
  const p = await freshProject('nodeploy');
  const html = await fetch(`${BASE}/__project/${p.slug}/`);
  assert.equal(html.status, 404);
  assert.match(html.headers.get('content-type'), /text\/html/);
  assert.ok(html.headers.get('x-request-id'));
  const json = await fetch(`${BASE}/__project/unknown-project/x`, { headers: { accept: 'application/json' } });
  assert.equal(json.status, 404);
  assert.equal((await json.json()).error, 'not_found');
  const noSlash = await fetch(`${BASE}/__project/${p.slug}?a=1`, { redirect: 'manual' });
  assert.equal(noSlash.status, 308);
  assert.equal(noSlash.headers.get('location'), `/__project/${p.slug}/?a=1`);
});
