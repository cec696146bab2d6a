// Three-phase upload over real HTTP: sessions, buckets, concurrent and retried uploads,
// hash and size verification, and every JWT misuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, freshProject, expectError } from '../lib/client.mjs';
import { prepare, deploySite, signJwt, sha256 } from '../lib/site.mjs';
import { readDevVars } from '../lib/server.mjs';

const manyFiles = (n, tag) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`/f/${i}.txt`, `${tag} file ${i}`]));

test('a session lists only missing hashes; re-uploading the same site needs no buckets', async () => {
  const p = await freshProject('session');
  const files = { '/index.html': '<h1>hi</h1>', '/a.css': 'a{}', '/dup1.txt': 'same', '/dup2.txt': 'same' };
  const { manifest } = prepare(files);
  const s = await api.uploadSession(p.id, manifest);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.body.result.buckets.flat().length, 3, 'duplicate content is uploaded once');
  assert.equal(s.body.files, 4);
  await deploySite(p.id, files);
  const again = await api.uploadSession(p.id, manifest);
  assert.deepEqual(again.body.result.buckets, []);
  // With nothing missing the session JWT is already a completion token.
  const d = await api.deploy(p.id, { completionJwt: again.body.result.jwt });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.body.newAssets, 0);
  assert.equal(d.body.skippedAssets, 3);
});

test('buckets stay bounded; concurrent, out-of-order and retried uploads all complete', async () => {
  const p = await freshProject('buckets');
  const files = manyFiles(450, 'bucket');
  const { manifest, bodies } = prepare(files);
  const s = await api.uploadSession(p.id, manifest);
  const { buckets, jwt } = s.body.result;
  assert.ok(buckets.length >= 3, `expected several buckets, got ${buckets.length}`);
  for (const b of buckets) assert.ok(b.length <= 200);
  assert.equal(new Set(buckets.flat()).size, 450);
  const send = (b) => api.upload(p.id, jwt, Object.fromEntries(b.map((h) => [h, bodies[h]])));
  // Reverse order, all at once, with the first bucket sent twice concurrently.
  const order = [...buckets].reverse();
  const results = await Promise.all([...order.map(send), send(buckets[0])]);
  for (const r of results) assert.equal(r.status, 200, r.text);
  const completions = results.filter((r) => r.body.result.jwt);
  assert.ok(completions.length >= 1, 'the request that completes the set carries the completion JWT');
  // A retry after completion is harmless and returns the completion token again.
  const retry = await send(buckets[1]);
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.body.result.remaining, 0);
  assert.equal(retry.body.result.alreadyStored, buckets[1].length);
  assert.ok(retry.body.result.jwt);
  const d = await api.deploy(p.id, { completionJwt: retry.body.result.jwt });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.body.deployedAssets, 450);
});

test('partial upload: remaining counts down and deploy refuses an incomplete session', async () => {
  const p = await freshProject('partial');
  const { manifest, bodies } = prepare(manyFiles(3, 'partial'));
  const s = await api.uploadSession(p.id, manifest);
  const [first, ...rest] = s.body.result.buckets.flat();
  const r = await api.upload(p.id, s.body.result.jwt, { [first]: bodies[first] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.result.remaining, rest.length);
  assert.equal(r.body.result.jwt, undefined);
});

test('hash and size are verified; nothing in a bad request is stored', async () => {
  const p = await freshProject('verify');
  const good = Buffer.from('good bytes');
  const { manifest, bodies } = prepare({ '/a.txt': good, '/b.txt': 'other' });
  // Size lies: the hash is right but the manifest says 3 bytes.
  const lying = { '/c.txt': { hash: sha256(Buffer.from('size lie')), size: 3 } };
  const s = await api.uploadSession(p.id, { ...manifest, ...lying });
  const jwt = s.body.result.jwt;
  const hashA = manifest['/a.txt'].hash;
  const hashB = manifest['/b.txt'].hash;
  // Wrong bytes (of the right length) under a hash, alongside a good file: rejected whole.
  let r = await api.upload(p.id, jwt, { [hashA]: bodies[hashA], [hashB]: Buffer.from('OTHER').toString('base64') });
  expectError(assert, r, 400, 'bad_request', hashB);
  assert.match(r.body.message, /SHA-256/);
  r = await api.upload(p.id, jwt, { [lying['/c.txt'].hash]: Buffer.from('size lie').toString('base64') });
  expectError(assert, r, 400, 'bad_request', lying['/c.txt'].hash);
  assert.match(r.body.message, /size mismatch/);
  r = await api.upload(p.id, jwt, { [hashA]: '***not base64***' });
  expectError(assert, r, 400, 'bad_request', hashA);
  const stranger = sha256(Buffer.from('not in session'));
  r = await api.upload(p.id, jwt, { [stranger]: Buffer.from('not in session').toString('base64') });
  expectError(assert, r, 400, 'bad_request', stranger);
  r = await api.upload(p.id, jwt, {});
  expectError(assert, r, 400, 'bad_request', 'body');
  // The good file of the rejected request was not stored: it is still missing.
  const again = await api.uploadSession(p.id, manifest);
  assert.ok(again.body.result.buckets.flat().includes(hashA));
});

test('JWT misuse: other project, wrong kind, expired, forged, missing', async () => {
  const a = await freshProject('jwt-a');
  const b = await freshProject('jwt-b');
  const files = { '/x.txt': 'jwt test' };
  const { manifest, bodies } = prepare(files);
  const sa = await api.uploadSession(a.id, manifest);
  const uploadJwt = sa.body.result.jwt;
  const [hash] = sa.body.result.buckets.flat();
  // A's upload token on B.
  let r = await api.upload(b.id, uploadJwt, { [hash]: bodies[hash] });
  expectError(assert, r, 401, 'unauthorized');
  // Upload token used as a completion token.
  r = await api.deploy(a.id, { completionJwt: uploadJwt });
  expectError(assert, r, 401, 'unauthorized');
  assert.match(r.body.message, /completion token is required/);
  // Complete A, then use the completion token as an upload token, and on B's deploy.
  const done = await api.upload(a.id, uploadJwt, { [hash]: bodies[hash] });
  const completion = done.body.result.jwt;
  r = await api.upload(a.id, completion, { [hash]: bodies[hash] });
  expectError(assert, r, 401, 'unauthorized');
  assert.match(r.body.message, /upload token is required/);
  r = await api.deploy(b.id, { completionJwt: completion });
  expectError(assert, r, 401, 'unauthorized');
  // The admin token is not an upload token; no token at all; garbage.
  r = await api.upload(a.id, undefined, { [hash]: bodies[hash] });
  expectError(assert, r, 401, 'unauthorized');
  r = await api.upload(a.id, null, { [hash]: bodies[hash] });
  expectError(assert, r, 401, 'unauthorized');
  r = await api.upload(a.id, 'not.a.jwt', { [hash]: bodies[hash] });
  expectError(assert, r, 401, 'unauthorized');
  // Expired (signed with the real secret, so only the expiry is wrong) and forged.
  const { JWT_SECRET } = readDevVars();
  const sid = JSON.parse(Buffer.from(uploadJwt.split('.')[1], 'base64url')).sid;
  const now = Math.floor(Date.now() / 1000);
  const expired = signJwt({ kind: 'upload', pid: a.id, sid, iat: now - 7200, exp: now - 3600 }, JWT_SECRET);
  r = await api.upload(a.id, expired, { [hash]: bodies[hash] });
  expectError(assert, r, 401, 'unauthorized');
  assert.match(r.body.message, /expired/);
  const forged = signJwt({ kind: 'completion', pid: a.id, sid, iat: now, exp: now + 3600 }, 'guessed-secret');
  r = await api.deploy(a.id, { completionJwt: forged });
  expectError(assert, r, 401, 'unauthorized');
  assert.match(r.body.message, /signature/);
});

test('manifest validation names the entry; limits are 413', async () => {
  const p = await freshProject('manifest');
  const h = sha256(Buffer.from('x'));
  const cases = [
    [{ manifest: { 'no-slash': { hash: h, size: 1 } } }, 'manifest["no-slash"]'],
    [{ manifest: { '/a/../b': { hash: h, size: 1 } } }, 'manifest["/a/../b"]'],
    [{ manifest: { '/a': { hash: 'xyz', size: 1 } } }, 'manifest["/a"].hash'],
    [{ manifest: { '/a': { hash: h } } }, 'manifest["/a"].size'],
    [{ manifest: {} }, 'manifest'],
    [{}, 'manifest'],
    [{ manifest: { '/a': { hash: h, size: 1 } }, extra: 1 }, 'extra'],
  ];
  for (const [body, field] of cases) {
    const r = await api.uploadSession(p.id, undefined, { body });
    expectError(assert, r, 400, 'bad_request', field);
  }
  // SPEC §8: up to 100 MiB per file (over 25 MiB they go raw, to R2; bigfiles.test.mjs).
  const big = await api.uploadSession(p.id, { '/big.bin': { hash: h, size: 100 * 1024 * 1024 + 1 } });
  expectError(assert, big, 413, 'payload_too_large');
  const raw = await api.uploadSession(p.id, { '/big.bin': { hash: h, size: 26 * 1024 * 1024 } });
  assert.equal(raw.status, 200, raw.text);
  assert.deepEqual(raw.body.result.rawUploads, [h]);
  const many = Object.fromEntries(Array.from({ length: 20001 }, (_, i) => [`/f${i}`, { hash: h, size: 1 }]));
  expectError(assert, await api.uploadSession(p.id, many), 413, 'payload_too_large');
  expectError(assert, await api.uploadSession('no-such-project', { '/a': { hash: h, size: 1 } }), 404, 'not_found');
});

test('an upload request carries at most 200 files (the bucket size): more is a 413 that stores nothing', async () => {
  const p = await freshProject('upload-keys');
  const { manifest, bodies } = prepare(manyFiles(201, 'keys'));
  const s = await api.uploadSession(p.id, manifest);
  assert.equal(s.status, 200, s.text);
  const { buckets, jwt } = s.body.result;
  assert.deepEqual(buckets.map((b) => b.length).sort((a, b) => a - b), [1, 200], 'the session hands out buckets of at most 200');
  const all = Object.fromEntries(buckets.flat().map((h) => [h, bodies[h]]));
  const e = expectError(assert, await api.upload(p.id, jwt, all), 413, 'payload_too_large');
  assert.equal(e.message, 'Files per upload request exceeds the limit of 200');
  assert.equal(e.details.limit, 200);
  // Nothing of the refused request was stored: the first bucket as handed out still stores all 200.
  const first = await api.upload(p.id, jwt, Object.fromEntries(buckets[0].map((h) => [h, bodies[h]])));
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.result.uploaded, buckets[0].length);
  const second = await api.upload(p.id, jwt, Object.fromEntries(buckets[1].map((h) => [h, bodies[h]])));
  assert.equal(second.status, 200, second.text);
  assert.equal(second.body.result.remaining, 0);
  const d = await api.deploy(p.id, { completionJwt: second.body.result.jwt });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.body.deployedAssets, 201);
});
