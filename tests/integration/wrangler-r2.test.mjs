// The real wrangler, unchanged, with `r2_buckets` (issue 27 item 5, buckets): a Worker naming
// a bucket that does not exist deploys (wrangler's provisioning: `GET /r2/buckets/:name` 404
// code 10006, then create), `wrangler r2 object put|get|delete --remote` reach the bucket the
// binding does, a second deploy reuses it, and a name resolves only among the caller's own
// buckets, so two tenants' `files` are never one bucket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, freshProject, TOKEN } from '../lib/client.mjs';
import { visit } from '../lib/site.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';

const run = Date.now().toString(36);
const host = (name) => ({ host: `${name}.localhost` });

// `?k=` reads object k as text ("null" if absent); `&set=v` writes it first.
const CODE = `export default { async fetch(req, env) {
  const u = new URL(req.url); const k = u.searchParams.get('k') ?? 'k';
  if (u.searchParams.has('set')) await env.FILES.put(k, u.searchParams.get('set'));
  const o = await env.FILES.get(k);
  return new Response(o === null ? 'null' : await o.text(), { headers: o === null ? {} : { 'x-type': o.httpMetadata.contentType ?? '' } });
} };\n`;

const toml = (name, bucket) =>
  `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[[r2_buckets]]\nbinding = "FILES"\nbucket_name = "${bucket}"\n`;

async function mint(body) {
  const r = await call('POST', '/__api/tokens', { body: { name: 'r2-tenant', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret;
}

async function buckets(token = TOKEN) {
  const r = await call('GET', '/__api/buckets?limit=100', { token });
  assert.equal(r.status, 200, r.text);
  return r.body.buckets;
}

async function bindingOf(slug, token = TOKEN) {
  const r = await call('GET', `/client/v4/accounts/acc/workers/scripts/${slug}/settings`, { token });
  assert.equal(r.status, 200, r.text);
  return r.body.result.bindings;
}

test('r2_buckets: provisioned for the caller, seeded by `wrangler r2 object put`, reused by the next deploy', { timeout: 300_000 }, async () => {
  const name = `wr-r2-${run}`;
  const bucket = `files-${run}`;
  const dir = project({ 'wrangler.toml': toml(name, bucket), 'index.js': CODE, 'x.txt': 'from the cli\n' });
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  const mine = (await buckets()).filter((b) => b.name === bucket);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  assert.deepEqual(await bindingOf(name), [{ type: 'r2_bucket', name: 'FILES', bucket_name: bucket }]);
  assert.deepEqual(mine[0].projects.length, 1);

  // The data commands (--remote) reach the bucket the binding does.
  const r2 = async (...args) => {
    const r = await wrangler(dir, ['r2', ...args, '--remote']);
    assert.equal(r.code, 0, `r2 ${args.join(' ')}: ${r.out}`);
    return r.out;
  };
  await r2('object', 'put', `${bucket}/docs/a.txt`, '--file', 'x.txt', '--content-type', 'text/x-seeded');
  const seen = await visit('/?k=docs/a.txt', host(name));
  assert.equal(seen.body, 'from the cli\n');
  assert.equal(seen.headers['x-type'], 'text/x-seeded');
  assert.equal((await visit('/?k=from-code&set=v-code', host(name))).body, 'v-code');
  await r2('object', 'get', `${bucket}/from-code`, '--file', 'got.txt');
  assert.equal(readFileSync(join(dir, 'got.txt'), 'utf8'), 'v-code');
  const missing = await wrangler(dir, ['r2', 'object', 'get', `${bucket}/nope`, '--file', 'n.txt', '--remote']);
  assert.notEqual(missing.code, 0, missing.out);
  assert.match(missing.out, /does not exist/, missing.out);
  await r2('object', 'delete', `${bucket}/from-code`);
  assert.equal((await visit('/?k=from-code', host(name))).body, 'null');

  // Redeploy: the same bucket (the data still there), no new one.
  writeFileSync(join(dir, 'index.js'), CODE.replace("'null'", "'none'"));
  const again = await wrangler(dir, ['deploy']);
  assert.equal(again.code, 0, again.out);
  assert.equal((await buckets()).filter((b) => b.name === bucket).length, 1);
  assert.equal((await visit('/?k=docs/a.txt', host(name))).body, 'from the cli\n');
  assert.equal((await visit('/?k=gone', host(name))).body, 'none', 'the new code runs');

  // `r2 bucket create|list`.
  const made = await wrangler(dir, ['r2', 'bucket', 'create', `made-${run}`]);
  assert.equal(made.code, 0, made.out);
  const listed = await wrangler(dir, ['r2', 'bucket', 'list']);
  assert.equal(listed.code, 0, listed.out);
  assert.match(listed.out, new RegExp(`made-${run}`));
  assert.match(listed.out, new RegExp(bucket));
});

test('r2_buckets: two tenants naming the same bucket get their own; the data calls see only their own', { timeout: 300_000 }, async () => {
  const a = await freshProject('r2-tenant-a');
  const b = await freshProject('r2-tenant-b');
  const ta = await mint({ projects: [a.id], scopes: ['deploy', 'manage'] });
  const tb = await mint({ projects: [b.id], scopes: ['deploy', 'manage'] });
  const bucket = `shared-${run}`;
  const mine = await call('POST', '/__api/buckets', { body: { name: bucket }, token: tb });
  assert.equal(mine.status, 201, mine.text);

  const dirA = project({ 'wrangler.toml': toml(a.slug, bucket), 'index.js': CODE, 'x.txt': 'A' });
  const d = await wrangler(dirA, ['deploy'], { token: ta });
  assert.equal(d.code, 0, d.out);
  const aBuckets = (await buckets(ta)).filter((x) => x.name === bucket);
  assert.equal(aBuckets.length, 1, JSON.stringify(aBuckets));
  assert.notEqual(aBuckets[0].id, mine.body.bucket.id, 'A got its own bucket, not B\'s');

  const put = await wrangler(dirA, ['r2', 'object', 'put', `${bucket}/k`, '--file', 'x.txt', '--remote'], { token: tb });
  assert.equal(put.code, 0, put.out);
  assert.equal((await visit('/?k=k', host(a.slug))).body, 'null', 'B wrote into its own bucket of that name');
  const raw = await call('GET', `/client/v4/accounts/acc/r2/buckets/${bucket}/objects/k`, { token: ta });
  assert.equal(raw.status, 404, raw.text);
  assert.equal(raw.body.errors[0].code, 10007, raw.text);
  const none = await call('GET', `/client/v4/accounts/acc/r2/buckets/nobody-${run}`, { token: ta });
  assert.equal(none.status, 404, none.text);
  assert.equal(none.body.errors[0].code, 10006, none.text);
  const escape = await call('GET', `/client/v4/accounts/acc/r2/buckets/${bucket}/objects/..%2F${mine.body.bucket.id}%2Fk`, { token: ta });
  assert.equal(escape.status, 404, escape.text);
});
