// GC against uploads over HTTP (lifecycle::retention has the protocol and its interleavings):
// while GC's claim on a body's row is live, every upload path of that body answers 503 `busy`
// with Retry-After and writes nothing; wrangler retries on its own; once the claim has expired
// the upload stores the body and clears the claim. The claim is written into local D1 behind the
// Worker's back, as a GC run that has just claimed the row (or died after claiming it) leaves it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, call, freshProject, expectError } from '../lib/client.mjs';
import { sha256, waitFor, visit } from '../lib/site.mjs';
import { d1Write, d1Rows } from '../lib/state.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';

/** GC's claim on `hash` in project `pid`, live until `until` (ms), on a marked row. */
function claim(pid, hash, size, until) {
  const at = until - 60_000; // lifecycle::GC_CLAIM_LEASE_MS
  d1Write(`INSERT INTO project_assets (project_id, hash, size, created_at, unreferenced_since, deleting_at)
    VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (project_id, hash) DO UPDATE SET deleting_at = excluded.deleting_at`,
  pid, hash, size, at);
}

const row = (pid, hash) => d1Rows('SELECT deleting_at, unreferenced_since FROM project_assets WHERE project_id = ? AND hash = ?', pid, hash)[0];

function expectBusy(r) {
  assert.equal(r.status, 503, r.text);
  const secs = Number(r.headers.get('retry-after'));
  assert.ok(secs >= 1 && secs <= 15, `Retry-After ${r.headers.get('retry-after')}`);
}

test('native bucket and raw uploads of a claimed body are refused with a retryable 503 until the claim expires', async () => {
  const p = await freshProject('gc-race');
  const body = Buffer.from(`claimed body ${Date.now()}\n`);
  const h = sha256(body);
  const s = await api.uploadSession(p.id, { '/index.html': { hash: h, size: body.length } });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.body.result.buckets, [[h]]);
  const jwt = s.body.result.jwt;
  claim(p.id, h, body.length, Date.now() + 10 * 60_000);
  const bucket = await api.upload(p.id, jwt, { [h]: body.toString('base64') });
  expectError(assert, bucket, 503, 'busy');
  expectBusy(bucket);
  const raw = await call('PUT', `/__api/projects/${p.id}/assets/raw/${h}`, {
    token: jwt, raw: body, headers: { 'content-type': 'application/octet-stream' },
  });
  expectError(assert, raw, 503, 'busy');
  expectBusy(raw);
  assert.ok(row(p.id, h).deleting_at !== null, 'the claim stands: nothing was recorded');
  // The claim expires (its GC run died): the upload stores the body and clears it.
  claim(p.id, h, body.length, Date.now() - 1);
  const ok = await api.upload(p.id, jwt, { [h]: body.toString('base64') });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual({ ...row(p.id, h) }, { deleting_at: null, unreferenced_since: null });
  const d = await api.deploy(p.id, { completionJwt: ok.body.result.jwt });
  assert.ok(d.body?.deployment?.id, d.text);
  assert.equal((await waitFor(d.body.deployment.id)).status, 'completed');
  assert.equal((await visit('/', { host: `${p.slug}.localhost` })).body, body.toString());
});

test('a session does not rely on a claimed row, and a deployment does not count it as present', async () => {
  const p = await freshProject('gc-race-session');
  const body = Buffer.from(`stored then claimed ${Date.now()}\n`);
  const h = sha256(body);
  // A stored, unmarked row whose claim expired long ago: its body may be gone.
  d1Write('INSERT INTO project_assets (project_id, hash, size, created_at, deleting_at) VALUES (?, ?, ?, 0, 1)', p.id, h, body.length);
  const s = await api.uploadSession(p.id, { '/index.html': { hash: h, size: body.length } });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.body.result.buckets, [[h]], 'missing: the session uploads it again');
});

test('wrangler retries a bucket refused under a claim and deploys once the claim is over', { timeout: 120_000 }, async () => {
  const p = await freshProject('gc-race-wrangler');
  const html = `<h1>claimed for a while ${Date.now()}</h1>\n`;
  const dir = project({
    'wrangler.toml': `name = "${p.slug}"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\n`,
    'public/index.html': html,
  });
  // Live for 12 s: wrangler's first attempt meets it, a retry gets through.
  claim(p.id, sha256(Buffer.from(html)), Buffer.byteLength(html), Date.now() + 12_000);
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  assert.match(d.out, /Asset upload failed\. Retrying/, d.out);
  assert.match(d.out, /Uploaded 1 of 1 asset/, d.out);
  assert.equal(row(p.id, sha256(Buffer.from(html))).deleting_at, null);
  assert.equal((await visit('/', { host: `${p.slug}.localhost` })).body, html);
});
