// Tenant storage, KV slice (issue 27): namespaces are resources recorded in D1 and reached like
// projects (the root sees all; a scoped token sees what it created and what is bound to its
// projects; anything else is a 404 that does not disclose it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN, call, freshProject, expectError } from '../lib/client.mjs';

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
