// Tenant storage, buckets (issue 27): buckets are resources recorded in D1 and reached like KV
// namespaces; tenant code gets R2's binding API, its objects kept in the platform's BLOBS under
// `buckets/<id>/`, which no key, prefix, startAfter or cursor it crafts can leave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN, call, freshProject, expectError } from '../lib/client.mjs';
import { prepare, request, sleep } from '../lib/site.mjs';
import { d1Rows, r2Count } from '../lib/state.mjs';

const buckets = {
  create: (name, token = TOKEN) => call('POST', '/__api/buckets', { body: { name }, token }),
  list: (query = '', token = TOKEN) => call('GET', `/__api/buckets${query}`, { token }),
  get: (id, token = TOKEN) => call('GET', `/__api/buckets/${id}`, { token }),
  delete: (id, token = TOKEN) => call('DELETE', `/__api/buckets/${id}`, { token }),
};

async function mint(body) {
  const r = await call('POST', '/__api/tokens', { body: { name: 'bucket test', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret;
}

async function created(name, token) {
  const r = await buckets.create(name, token);
  assert.equal(r.status, 201, r.text);
  return r.body.bucket;
}

const tag = () => Date.now().toString(36) + Math.floor(Math.random() * 1e4).toString(36);

test('Buckets: create, list, get, name rules and conflicts, scoped tokens, delete', async () => {
  const t = tag();
  const a = await created(`a-${t}`);
  assert.match(a.id, /^[0-9a-f]{32}$/);
  assert.equal(a.name, `a-${t}`);
  assert.deepEqual(a.projects, []);
  expectError(assert, await buckets.create(`a-${t}`), 409, 'conflict');
  for (const bad of ['', 'ab', 'Upper', 'a_b', '../x', '-a-', 'x'.repeat(64)]) {
    expectError(assert, await buckets.create(bad), 400, 'bad_request', 'name');
  }
  const b = await created(`b-${t}`);
  const page1 = await buckets.list('?limit=1');
  assert.equal(page1.body.buckets[0].id, b.id, 'newest first');
  assert.equal((await buckets.list(`?limit=1&cursor=${page1.body.cursor}`)).body.buckets[0].id, a.id);
  assert.equal((await buckets.get(a.id)).body.bucket.name, a.name);
  for (const bad of ['nope', '..%2F..', 'A'.repeat(32), '0'.repeat(32)]) expectError(assert, await buckets.get(bad), 404, 'not_found');

  const p = await freshProject('bucket scope');
  const t1 = await mint({ scopes: ['manage'], projects: [p.id] });
  const reader = await mint({ scopes: ['read'], projects: [p.id] });
  const mine = await created(`a-${t}`, t1); // same name, another creator: allowed
  assert.deepEqual((await buckets.list('?limit=100', t1)).body.buckets.map((x) => x.id), [mine.id]);
  expectError(assert, await buckets.get(a.id, t1), 404, 'not_found');
  expectError(assert, await buckets.delete(a.id, t1), 404, 'not_found');
  expectError(assert, await buckets.create(`r-${t}`, reader), 403, 'forbidden');

  const gone = await buckets.delete(a.id);
  assert.equal(gone.status, 200, gone.text);
  assert.deepEqual(gone.body, { success: true, deleted: { id: a.id, name: a.name }, objects: { removed: 0, more: false } });
  expectError(assert, await buckets.get(a.id), 404, 'not_found');
  expectError(assert, await buckets.delete(a.id), 404, 'not_found');
  await created(`a-${t}`); // the name is free again
});

// ---------------------------------------------------------------------------------------------
// The binding, driven over HTTP from deployed server code: `/<op>?...` runs R2 calls on
// env.FILES and answers {ok, value} or {error: [constructor name, message]}.
const TENANT = `
const MiB = 1024 * 1024;
const show = (o) => o === null ? null : { cls: o.constructor.name, key: o.key, size: o.size, etag: o.etag, httpEtag: o.httpEtag,
  uploaded: o.uploaded instanceof Date, httpMetadata: o.httpMetadata, customMetadata: o.customMetadata, range: o.range,
  md5: o.checksums?.toJSON().md5, hasBody: 'body' in o };
async function run(env, url, req) {
  const q = url.searchParams; const F = env.FILES; const key = q.get('key');
  const opts = q.has('opts') ? JSON.parse(q.get('opts')) : undefined;
  switch (url.pathname) {
    case '/put': return show(await F.put(key, q.get('value'), opts));
    case '/put-stream': return show(await F.put(key, req.body, opts));
    case '/put-buffer': return show(await F.put(key, new TextEncoder().encode(q.get('value')).buffer));
    case '/put-blob': return show(await F.put(key, new Blob([q.get('value')])));
    case '/put-headers': return show(await F.put(key, 'h', { httpMetadata: new Headers({ 'content-type': 'text/x-h', 'cache-control': 'no-store' }) }));
    case '/get': { const o = await F.get(key, opts); return o === null ? null : { ...show(o), text: 'body' in o ? await o.text() : undefined }; }
    case '/get-ways': {
      const out = {};
      out.json = await (await F.get(key)).json();
      out.buffer = new TextDecoder().decode(await (await F.get(key)).arrayBuffer());
      out.blob = await (await F.get(key)).blob().then((b) => b.text());
      const o = await F.get(key); out.stream = o.body instanceof ReadableStream; out.via = await new Response(o.body).text(); out.used = o.bodyUsed;
      try { await o.text(); out.twice = 'read twice'; } catch (e) { out.twice = e.constructor.name; }
      const h = new Headers(); (await F.head(key)).writeHttpMetadata(h); out.headers = Object.fromEntries(h);
      return out;
    }
    case '/get-if': { const first = await F.head(key); const o = await F.get(key, { onlyIf: { etagDoesNotMatch: first.etag } }); return show(o); }
    case '/get-if-headers': { const first = await F.head(key); const o = await F.get(key, { onlyIf: new Headers({ 'if-none-match': first.httpEtag }) }); return show(o); }
    case '/put-if': return show(await F.put(key, 'new', { onlyIf: { etagMatches: 'not-the-etag' } }));
    case '/head': return show(await F.head(key));
    case '/delete': return F.delete(opts ?? key);
    case '/list': { const r = await F.list(opts); return { keys: r.objects.map((o) => o.key), prefixes: r.delimitedPrefixes, truncated: r.truncated, cursor: r.cursor, first: r.objects[0] && show(r.objects[0]) }; }
    case '/fill': { const n = Number(q.get('n')); for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => F.put('fill/' + String(i + j).padStart(4, '0'), 'v'))); return n; }
    case '/multipart': {
      const u = await F.createMultipartUpload(key, { httpMetadata: { contentType: 'application/x-mp' }, customMetadata: { parts: '2' } });
      const again = F.resumeMultipartUpload(key, u.uploadId);
      const p1 = await u.uploadPart(1, 'a'.repeat(5 * MiB));
      const p2 = await again.uploadPart(2, 'tail');
      const o = await u.complete([p1, p2]);
      const got = await F.get(key, { range: { offset: 5 * MiB - 2, length: 6 } });
      const aborted = await F.createMultipartUpload(key + '.aborted');
      await aborted.uploadPart(1, 'x');
      await aborted.abort();
      let afterAbort; try { await aborted.uploadPart(2, 'y'); afterAbort = 'accepted'; } catch (e) { afterAbort = e.message; }
      return { cls: u.constructor.name, key: u.key, id: typeof u.uploadId, part: Object.keys(p1).sort(), object: show(o), tail: await got.text(), afterAbort, abortedObject: await F.head(key + '.aborted') };
    }
    case '/probe': {
      const out = {};
      const stub = Object.getOwnPropertyNames(F);
      for (const [n, f] of Object.entries({ store: () => F.store, env: () => F.env })) { try { out[n] = String(await f()); } catch (e) { out[n] = e.message; } }
      out.own = stub;
      return out;
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

async function deployWith(project, bindings, { token = TOKEN, expect = 200 } = {}) {
  const { manifest, bodies } = prepare({ '/index.html': `static ${Math.random()}` });
  const s = await call('POST', `/__api/projects/${project.id}/assets-upload-session`, { body: { manifest }, token });
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await call('POST', `/__api/projects/${project.id}/assets/upload`, { body: Object.fromEntries(b.map((h) => [h, bodies[h]])), token: s.body.result.jwt });
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  const d = await call('POST', `/__api/projects/${project.id}/deploy`, { body: { completionJwt: jwt, serverCode, run_worker_first: true, config: { bindings } }, token });
  assert.equal(d.status, expect, d.text);
  return d.body;
}

async function r2(project, path, { body } = {}) {
  const r = await request(`/__project/${project.slug}${path}`, { method: body === undefined ? 'GET' : 'POST', body, headers: body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) } });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}
const q = (o) => new URLSearchParams(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();
const bind = (id, name = 'FILES') => [{ type: 'bucket', name, id }];
const stored = (id, key) => r2Count('SELECT COUNT(*) AS n FROM _mf_objects WHERE key = ?', `buckets/${id}/${key}`);

test('Bucket binding: R2\'s API from tenant code (objects, ranges, conditions, lists, multipart) with R2\'s messages', { timeout: 180_000 }, async () => {
  const p = await freshProject('bucket ops');
  const bucket = await created(`ops-${tag()}`);
  assert.equal((await deployWith(p, bind(bucket.id))).deployment.status, 'completed');
  assert.deepEqual((await buckets.get(bucket.id)).body.bucket.projects, [p.id]);

  assert.deepEqual(await r2(p, `/get?${q({ key: 'missing' })}`), { ok: true, value: null });
  assert.deepEqual(await r2(p, `/head?${q({ key: 'missing' })}`), { ok: true, value: null });
  const put = (await r2(p, `/put?${q({ key: 'doc.json', value: '{"a":[1,2]}', opts: { httpMetadata: { contentType: 'application/json', cacheControl: 'max-age=60' }, customMetadata: { owner: 'me' } } })}`)).value;
  assert.equal(put.cls, 'R2Object');
  assert.equal(put.key, 'doc.json', 'the key comes back without the bucket prefix');
  assert.equal(put.size, 11);
  assert.equal(put.httpEtag, `"${put.etag}"`);
  assert.equal(put.md5, put.etag);
  assert.equal(stored(bucket.id, 'doc.json'), 1, 'stored under buckets/<id>/');
  const got = (await r2(p, `/get?${q({ key: 'doc.json' })}`)).value;
  assert.deepEqual({ cls: got.cls, text: got.text, uploaded: got.uploaded, http: got.httpMetadata, custom: got.customMetadata }, {
    cls: 'R2ObjectBody', text: '{"a":[1,2]}', uploaded: true, http: { contentType: 'application/json', cacheControl: 'max-age=60' }, custom: { owner: 'me' },
  });
  assert.deepEqual((await r2(p, `/get-ways?${q({ key: 'doc.json' })}`)).value, {
    json: { a: [1, 2] }, buffer: '{"a":[1,2]}', blob: '{"a":[1,2]}', stream: true, via: '{"a":[1,2]}', used: true, twice: 'TypeError',
    headers: { 'content-type': 'application/json', 'cache-control': 'max-age=60' },
  });
  assert.equal((await r2(p, `/head?${q({ key: 'doc.json' })}`)).value.hasBody, false);

  // Ranges and conditions.
  await r2(p, `/put?${q({ key: 'abc', value: 'hello world' })}`);
  const ranged = (await r2(p, `/get?${q({ key: 'abc', opts: { range: { offset: 6, length: 3 } } })}`)).value;
  assert.deepEqual([ranged.text, ranged.range], ['wor', { offset: 6, length: 3 }]);
  assert.equal((await r2(p, `/get?${q({ key: 'abc', opts: { range: { suffix: 5 } } })}`)).value.text, 'world');
  const notModified = (await r2(p, `/get-if?${q({ key: 'abc' })}`)).value;
  assert.deepEqual([notModified.cls, notModified.hasBody, notModified.key], ['R2Object', false, 'abc'], 'onlyIf failed: an object without a body');
  assert.equal((await r2(p, `/get-if-headers?${q({ key: 'abc' })}`)).value.hasBody, false, 'onlyIf as Headers');
  assert.deepEqual(await r2(p, `/put-if?${q({ key: 'abc' })}`), { ok: true, value: null }, 'a put whose condition fails writes nothing');
  assert.equal((await r2(p, `/get?${q({ key: 'abc' })}`)).value.text, 'hello world');

  // Bodies: a request stream (known length), a buffer, a Blob; httpMetadata as Headers.
  const big = 'x'.repeat(300_000);
  assert.equal((await r2(p, `/put-stream?${q({ key: 'streamed' })}`, { body: big })).value.size, big.length);
  assert.equal((await r2(p, `/get?${q({ key: 'streamed' })}`)).value.text, big);
  assert.equal((await r2(p, `/put-buffer?${q({ key: 'buf', value: 'bytes!' })}`)).value.size, 6);
  assert.equal((await r2(p, `/put-blob?${q({ key: 'blob', value: 'blobby' })}`)).value.size, 6);
  assert.deepEqual((await r2(p, `/put-headers?${q({ key: 'hdr' })}`)).value.httpMetadata, { contentType: 'text/x-h', cacheControl: 'no-store' });

  // Lists: prefix, delimiter, limit, cursor, startAfter, include.
  for (const k of ['img/a/1.png', 'img/a/2.png', 'img/b/1.png', 'img/top.png']) await r2(p, `/put?${q({ key: k, value: k })}`);
  const tree = (await r2(p, `/list?${q({ opts: { prefix: 'img/', delimiter: '/' } })}`)).value;
  assert.deepEqual([tree.keys, tree.prefixes, tree.truncated], [['img/top.png'], ['img/a/', 'img/b/'], false], 'prefixes without the bucket prefix');
  const p1 = (await r2(p, `/list?${q({ opts: { prefix: 'img/', limit: 2 } })}`)).value;
  assert.deepEqual([p1.keys, p1.truncated], [['img/a/1.png', 'img/a/2.png'], true]);
  const p2 = (await r2(p, `/list?${q({ opts: { prefix: 'img/', limit: 2, cursor: p1.cursor } })}`)).value;
  assert.deepEqual([p2.keys, p2.truncated], [['img/b/1.png', 'img/top.png'], false]);
  assert.deepEqual((await r2(p, `/list?${q({ opts: { prefix: 'img/', startAfter: 'img/a/2.png' } })}`)).value.keys, ['img/b/1.png', 'img/top.png']);
  const meta = (await r2(p, `/list?${q({ opts: { prefix: 'doc', include: ['httpMetadata', 'customMetadata'] } })}`)).value.first;
  assert.deepEqual([meta.key, meta.customMetadata], ['doc.json', { owner: 'me' }]);
  assert.deepEqual((await r2(p, '/list')).value.keys, ['abc', 'blob', 'buf', 'doc.json', 'hdr', 'img/a/1.png', 'img/a/2.png', 'img/b/1.png', 'img/top.png', 'streamed']);

  // Delete one and many.
  assert.deepEqual(await r2(p, `/delete?${q({ key: 'abc' })}`), { ok: true, value: '<undefined>' });
  assert.deepEqual(await r2(p, `/delete?${q({ opts: ['img/a/1.png', 'img/a/2.png', 'nope'] })}`), { ok: true, value: '<undefined>' });
  assert.deepEqual((await r2(p, `/list?${q({ opts: { prefix: 'img/' } })}`)).value.keys, ['img/b/1.png', 'img/top.png']);
  assert.equal(stored(bucket.id, 'abc'), 0);
  // GET shows what the bucket holds (one list: exact up to 1000 objects).
  const usage = (await buckets.get(bucket.id)).body.bucket.usage;
  assert.deepEqual(usage, { objects: 7, bytes: 11 + 300_000 + 6 + 6 + 1 + 'img/b/1.png'.length + 'img/top.png'.length, complete: true });

  // Multipart: create, resume, parts, complete, abort.
  const mp = (await r2(p, `/multipart?${q({ key: 'big.bin' })}`)).value;
  assert.deepEqual([mp.cls, mp.key, mp.id, mp.part], ['R2MultipartUpload', 'big.bin', 'string', ['etag', 'partNumber']]);
  assert.deepEqual([mp.object.key, mp.object.size, mp.object.httpMetadata, mp.object.customMetadata], ['big.bin', 5 * 1024 * 1024 + 4, { contentType: 'application/x-mp' }, { parts: '2' }]);
  assert.equal(mp.tail, 'aatail');
  assert.match(mp.afterAbort, /uploadPart: The specified multipart upload does not exist\. \(10024\)/);
  assert.equal(mp.abortedObject, null);

  // Limits, with R2's messages (the longest key is 1024 less the 41-byte prefix).
  const errors = [
    [`/get?${q({ key: 'k'.repeat(984) })}`, ['Error', 'get: The specified object name is not valid. (10020)']],
    [`/put?${q({ key: '', value: 'v' })}`, ['Error', 'put: The specified object name is not valid. (10020)']],
    [`/list?${q({ opts: { limit: 0 } })}`, ['Error', 'list: MaxKeys params must be positive integer <= 1000. (10022)']],
    [`/list?${q({ opts: { limit: 1001 } })}`, ['Error', 'list: MaxKeys params must be positive integer <= 1000. (10022)']],
    [`/put?${q({ key: 'm', value: 'v', opts: { customMetadata: { k: 'v'.repeat(9000) } } })}`, ['Error', 'put: Your metadata headers exceed the maximum allowed metadata size. (10012)']],
    [`/get?${q({ key: 'doc.json', opts: { range: { offset: 100 } } })}`, ['Error', 'get: The requested range is not satisfiable (10039)']],
    [`/delete?${q({ opts: Array.from({ length: 1001 }, (_, i) => `k${i}`) })}`, ['Error', 'delete: You can delete at most 1000 objects in one call. (10040)']],
  ];
  for (const [path, error] of errors) assert.deepEqual(await r2(p, path), { error }, path);
  assert.equal((await r2(p, `/put?${q({ key: 'k'.repeat(983), value: 'v' })}`)).ok, true, '983 bytes is the longest key');
});

test('Bucket binding: one bucket cannot reach another\'s objects, whatever keys, prefixes or cursors it crafts', { timeout: 120_000 }, async () => {
  const [pa, pb] = [await freshProject('bucket iso a'), await freshProject('bucket iso b')];
  const [ba, bb] = [await created(`iso-a-${tag()}`), await created(`iso-b-${tag()}`)];
  await deployWith(pa, bind(ba.id));
  await deployWith(pb, bind(bb.id));
  await r2(pa, `/put?${q({ key: 'secret', value: 'A only' })}`);
  for (const key of ['secret', `../${ba.id}/secret`, `../../buckets/${ba.id}/secret`, `buckets/${ba.id}/secret`, `/${ba.id}/secret`, '..']) {
    assert.deepEqual(await r2(pb, `/get?${q({ key })}`), { ok: true, value: null }, key);
    assert.deepEqual(await r2(pb, `/head?${q({ key })}`), { ok: true, value: null }, key);
  }
  const cursorOfA = Buffer.from(`buckets/${ba.id}/`).toString('base64');
  for (const opts of [{}, { prefix: '../' }, { prefix: `../${ba.id}/` }, { startAfter: '' }, { startAfter: '\u0000' }, { delimiter: `${ba.id}` }, { cursor: cursorOfA }, { prefix: '', cursor: 'garbage' }]) {
    const r = await r2(pb, `/list?${q({ opts })}`);
    assert.deepEqual([r.value.keys, r.value.prefixes], [[], []], JSON.stringify(opts));
  }
  // Going up from B's prefix with a delimiter shows nothing of BLOBS either.
  assert.deepEqual((await r2(pb, `/list?${q({ opts: { delimiter: '/' } })}`)).value.prefixes, []);
  // B's writes and deletes of A's stored names stay inside B.
  await r2(pb, `/put?${q({ key: `../${ba.id}/secret`, value: 'B forged' })}`);
  await r2(pb, `/delete?${q({ opts: ['secret', `../${ba.id}/secret`] })}`);
  assert.equal((await r2(pa, `/get?${q({ key: 'secret' })}`)).value.text, 'A only');
  assert.deepEqual((await r2(pa, '/list')).value.keys, ['secret']);
  // The binding shows tenant code only R2's methods: not the stub, its props or our env.
  const probe = (await r2(pb, '/probe')).value;
  assert.deepEqual(probe, { store: 'undefined', env: 'undefined', own: [] });
});

test('Bucket binding: access-controlled binding; deleting a bucket removes its objects in batches, the cron finishes', { timeout: 180_000 }, async () => {
  const p = await freshProject('bucket bind');
  const t = await mint({ scopes: ['deploy', 'manage'], projects: [p.id] });
  const other = await created(`not-yours-${tag()}`);
  const own = await created(`yours-${tag()}`, t);
  const refused = await deployWith(p, bind(other.id), { token: t, expect: 404 });
  assert.match(refused.message, /bucket `[0-9a-f]{32}` \(binding `FILES`\)/);
  const first = await deployWith(p, [...bind(own.id), ...bind(other.id, 'OTHER')]);
  assert.equal((await r2(p, '/fill?n=1010')).value, 1010);
  // Bound by production: delete is refused.
  expectError(assert, await buckets.delete(own.id, t), 409, 'conflict');
  // Production moves to a deployment binding only `other` (same object names there).
  await deployWith(p, bind(other.id));
  await r2(p, `/put?${q({ key: 'fill/0001', value: 'other bucket' })}`);
  const one = await buckets.delete(own.id, t);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.body.objects, { removed: 1000, more: true });
  expectError(assert, await buckets.get(own.id, t), 404, 'not_found');
  // The old deployment's preview still binds it, and gets an error instead of what is left.
  const port = new URL(process.env.FLOTILLA_URL).port;
  const preview = await request('/list', { host: `${first.deployment.id.slice(0, 8)}--${p.slug}.localhost:${port}` });
  assert.deepEqual(JSON.parse(preview.body), { error: ['Error', 'The specified bucket does not exist: it was deleted (10006)'] });
  // Nobody calls DELETE again: the cron removes the rest and closes the row.
  const left = () => r2Count('SELECT COUNT(*) AS n FROM _mf_objects WHERE key LIKE ?', `buckets/${own.id}/%`);
  assert.equal(left(), 10);
  const r = await fetch(`${process.env.FLOTILLA_URL}/__scheduled?cron=*+*+*+*+*`);
  assert.equal(r.status, 200, await r.text());
  const row = () => d1Rows('SELECT deleted_at, purged_at FROM resources WHERE id = ?', own.id)[0];
  for (let i = 0; i < 20 && !row().purged_at; i++) await sleep(250);
  assert.equal(left(), 0, 'every object removed');
  assert.ok(row().purged_at >= row().deleted_at, JSON.stringify(row()));
  expectError(assert, await buckets.delete(own.id, t), 404, 'not_found');
  assert.equal((await r2(p, `/get?${q({ key: 'fill/0001' })}`)).value.text, 'other bucket', 'another bucket is untouched');
});
