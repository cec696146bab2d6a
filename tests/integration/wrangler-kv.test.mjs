// The real wrangler, unchanged, with `kv_namespaces` (issue 27 item 5, KV): a Worker declaring
// a namespace without an id deploys (wrangler's auto-provisioning: list by title, create one
// owned by the caller), its code reads and writes it, a second deploy inherits the same
// namespace (the data stays), an id the caller cannot reach is refused naming the binding, and
// two tenants whose titles collide never share a namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, freshProject, TOKEN } from '../lib/client.mjs';
import { visit } from '../lib/site.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';

const run = Date.now().toString(36);
const host = (name) => ({ host: `${name}.localhost` });

// `?set=v` writes key k, otherwise reads it ("null" if absent).
const CODE = `export default { async fetch(req, env) {
  const u = new URL(req.url); const k = u.searchParams.get('k') ?? 'k';
  if (u.searchParams.has('set')) { await env.CACHE.put(k, u.searchParams.get('set')); return new Response('ok'); }
  return new Response(String(await env.CACHE.get(k)));
} };\n`;

const toml = (name, kv) =>
  `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[[kv_namespaces]]\nbinding = "CACHE"\n${kv}`;

async function mint(body) {
  const r = await call('POST', '/__api/tokens', { body: { name: 'kv-tenant', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret;
}

async function namespaces(token = TOKEN) {
  const r = await call('GET', '/__api/kv/namespaces?limit=100', { token });
  assert.equal(r.status, 200, r.text);
  return r.body.namespaces;
}

async function bindingOf(slug) {
  const r = await call('GET', `/client/v4/accounts/acc/workers/scripts/${slug}/settings`);
  assert.equal(r.status, 200, r.text);
  return r.body.result.bindings;
}

test('kv_namespaces without an id: provisioned for the caller, bound, and reused by the next deploy', { timeout: 300_000 }, async () => {
  const name = `wr-kv-auto-${run}`;
  const dir = project({ 'wrangler.toml': toml(name, ''), 'index.js': CODE });
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  const mine = (await namespaces()).filter((n) => n.title === `${name}-cache`);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  const id = mine[0].id;
  assert.deepEqual(await bindingOf(name), [{ type: 'kv_namespace', name: 'CACHE', namespace_id: id }]);
  assert.equal((await visit('/?k=a&set=1', host(name))).body, 'ok');
  assert.equal((await visit('/?k=a', host(name))).body, '1');

  // The data commands (--remote) reach the namespace the binding does.
  const kv = async (...args) => {
    const r = await wrangler(dir, ['kv', ...args, '--remote']);
    assert.equal(r.code, 0, `kv ${args.join(' ')}: ${r.out}`);
    return r.out;
  };
  await kv('key', 'put', '--binding', 'CACHE', 'from-cli', 'v-cli');
  assert.equal((await visit('/?k=from-cli', host(name))).body, 'v-cli');
  assert.match(await kv('key', 'get', '--binding', 'CACHE', 'a'), /^1$/m);
  assert.match(await kv('key', 'get', '--namespace-id', id, 'from-cli'), /^v-cli$/m);
  writeFileSync(join(dir, 'bulk.json'), JSON.stringify([{ key: 'b1', value: 'one' }, { key: 'b2', value: 'aGk=', base64: true }]));
  await kv('bulk', 'put', '--binding', 'CACHE', 'bulk.json');
  assert.equal((await visit('/?k=b2', host(name))).body, 'hi');
  const listed = await kv('key', 'list', '--binding', 'CACHE');
  const names = JSON.parse(listed.slice(listed.indexOf('['), listed.lastIndexOf(']') + 1)).map((k) => k.name).sort();
  assert.deepEqual(names, ['a', 'b1', 'b2', 'from-cli']);
  // --metadata makes wrangler send multipart (value + metadata); --ttl a query parameter.
  await kv('key', 'put', '--binding', 'CACHE', 'meta', 'mv', '--metadata', '{"m":1}', '--ttl', '3600');
  assert.equal((await visit('/?k=meta', host(name))).body, 'mv');
  const withMeta = await call('GET', `/client/v4/accounts/acc/storage/kv/namespaces/${id}/keys?prefix=meta`);
  assert.equal(withMeta.status, 200, withMeta.text);
  assert.deepEqual(withMeta.body.result.map((k) => [k.name, k.metadata, typeof k.expiration]), [['meta', { m: 1 }, 'number']]);
  // What the binding itself refuses is the caller's 400 with Cloudflare's text.
  const short = await call('PUT', `/client/v4/accounts/acc/storage/kv/namespaces/${id}/values/t?expiration_ttl=10`, { raw: 'x' });
  assert.equal(short.status, 400, short.text);
  assert.match(short.body.errors[0].message, /KV PUT failed: 400 .*expiration_ttl/i, short.text);
  await kv('key', 'delete', '--binding', 'CACHE', 'from-cli');
  assert.equal((await visit('/?k=from-cli', host(name))).body, 'null');
  const nl = await wrangler(dir, ['kv', 'namespace', 'list']);
  assert.equal(nl.code, 0, nl.out);
  assert.match(nl.out, new RegExp(id));

  // Redeploy (wrangler sends `inherit`): the same namespace, the data still there, no new one.
  const again = await wrangler(dir, ['deploy']);
  assert.equal(again.code, 0, again.out);
  assert.deepEqual(await bindingOf(name), [{ type: 'kv_namespace', name: 'CACHE', namespace_id: id }]);
  assert.equal((await visit('/?k=a', host(name))).body, '1');
  assert.equal((await namespaces()).filter((n) => n.title === `${name}-cache`).length, 1);

  // An explicit id of a namespace the caller has works too (and binds that one).
  const other = await call('POST', '/__api/kv/namespaces', { body: { title: `${name}-explicit` } });
  assert.equal(other.status, 201, other.text);
  const explicit = project({ 'wrangler.toml': toml(name, `id = "${other.body.namespace.id}"\n`), 'index.js': CODE });
  const e = await wrangler(explicit, ['deploy']);
  assert.equal(e.code, 0, e.out);
  assert.equal((await bindingOf(name))[0].namespace_id, other.body.namespace.id);
  assert.equal((await visit('/?k=a', host(name))).body, 'null');
});

test('two tenants: a colliding title never shares a namespace; an unreachable id is refused by name', { timeout: 300_000 }, async () => {
  const a = await freshProject('kv-tenant-a');
  const b = await freshProject('kv-tenant-b');
  const ta = await mint({ projects: [a.id], scopes: ['deploy', 'manage'] });
  const tb = await mint({ projects: [b.id], scopes: ['deploy', 'manage'] });
  // Tenant B already has a namespace with the title wrangler derives for A's Worker.
  const title = `${a.slug}-cache`;
  const theirs = await call('POST', '/__api/kv/namespaces', { body: { title }, token: tb });
  assert.equal(theirs.status, 201, theirs.text);
  const bId = theirs.body.namespace.id;

  const dirA = project({ 'wrangler.toml': toml(a.slug, ''), 'index.js': CODE });
  const d = await wrangler(dirA, ['deploy'], { token: ta });
  assert.equal(d.code, 0, d.out);
  const aNs = (await namespaces(ta)).filter((n) => n.title === title);
  assert.equal(aNs.length, 1, JSON.stringify(aNs));
  assert.notEqual(aNs[0].id, bId);
  assert.equal((await bindingOf(a.slug))[0].namespace_id, aNs[0].id);
  assert.ok(!(await namespaces(tb)).some((n) => n.id === aNs[0].id), 'B does not see A\'s namespace');

  // B's token does not reach A's namespace through the data calls either (Cloudflare's 404).
  const peek = await wrangler(dirA, ['kv', 'key', 'get', '--namespace-id', aNs[0].id, 'k', '--remote'], { token: tb });
  assert.notEqual(peek.code, 0, peek.out);
  const raw = await call('GET', `/client/v4/accounts/acc/storage/kv/namespaces/${aNs[0].id}/keys`, { token: tb });
  assert.equal(raw.status, 404, raw.text);
  assert.equal(raw.body.errors[0].code, 10013, raw.text);
  // `kv namespace create` makes one owned by the caller.
  const made = await wrangler(dirA, ['kv', 'namespace', 'create', 'made-by-a'], { token: ta });
  assert.equal(made.code, 0, made.out);
  assert.ok((await namespaces(ta)).some((n) => n.title === 'made-by-a'));
  assert.ok(!(await namespaces(tb)).some((n) => n.title === 'made-by-a'));

  // A names B's namespace by id: refused, naming the binding; nothing changes.
  const before = (await bindingOf(a.slug))[0].namespace_id;
  const stolen = project({ 'wrangler.toml': toml(a.slug, `id = "${bId}"\n`), 'index.js': CODE });
  const s = await wrangler(stolen, ['deploy'], { token: ta });
  assert.notEqual(s.code, 0, s.out);
  assert.match(s.out, /CACHE/, s.out);
  assert.match(s.out, new RegExp(bId), s.out);
  assert.equal((await bindingOf(a.slug))[0].namespace_id, before);
});

// d1_databases are supported now (tests/integration/wrangler-d1.test.mjs); an id that is not
// one of the platform's databases (here a Cloudflare-style uuid) is refused, never deployed
// without it.
test('a d1 database_id that is not a Flotilla database is refused', { timeout: 120_000 }, async () => {
  const name = `wr-kv-d1-${run}`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "x"\ndatabase_id = "00000000-0000-0000-0000-000000000000"\n`,
    'index.js': CODE,
  });
  const d = await wrangler(dir, ['deploy']);
  assert.notEqual(d.code, 0, d.out);
  assert.match(d.out, /Invalid `config\.bindings\[0\]\.id`: must be a SQL database id/, d.out);
});
