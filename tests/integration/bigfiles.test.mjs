// Files over 25 MiB (SPEC §8): the session lists them as raw uploads, their bytes stream into
// R2 through `PUT assets/raw/:hash` (hash and length checked, nothing kept on a mismatch), and
// visitors get them streamed back with the same ETag / 304 / HEAD / Range behaviour as KV-served
// files (a Range is read from R2 as a range).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, call, freshProject, expectError, BASE, TOKEN } from '../lib/client.mjs';
import { prepare, sha256, waitFor, deploySite, sleep, request } from '../lib/site.mjs';
import { ROOT } from '../lib/server.mjs';
import { r2Count } from '../lib/state.mjs';
import { faultProxy } from '../lib/proxy.mjs';

const MiB = 1024 * 1024;
const KV_MAX = 25 * MiB;
const HARD_MAX = 100 * MiB;

const raw = (id, jwt, hash, bytes, headers = {}) => call('PUT', `/__api/projects/${id}/assets/raw/${hash}`, {
  token: jwt, raw: bytes, headers: { 'content-type': 'application/octet-stream', ...headers },
});

/** Whether wrangler dev's local R2 holds a (completed) object under `key`: the storage itself. */
function r2Has(key) {
  return r2Count('SELECT COUNT(*) AS n FROM _mf_objects WHERE key = ?', key) > 0;
}

/** R2 multipart uploads still in progress under `key` (miniflare's own table). */
function inProgress(key) {
  return r2Count('SELECT COUNT(*) AS n FROM _mf_multipart_uploads WHERE key = ? AND state = 0', key);
}

/** Runs wrangler (the devDependency) against the running Worker's local state. */
function wranglerLocal(args) {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), ...args,
    '--local', '--persist-to', process.env.FLOTILLA_STATE_DIR],
  { cwd: ROOT, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

/** Session, raw uploads, buckets, deploy (waits). */
async function deployWithRaw(projectId, files) {
  const { manifest, bodies } = prepare(files);
  const byHash = Object.fromEntries(Object.values(files).map((b) => [sha256(b), b]));
  const s = await api.uploadSession(projectId, manifest);
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const h of s.body.result.rawUploads) {
    const r = await raw(projectId, s.body.result.jwt, h, byHash[h]);
    assert.equal(r.status, 200, r.text);
    jwt = r.body.result.jwt ?? jwt;
  }
  for (const b of s.body.result.buckets) {
    const r = await api.upload(projectId, s.body.result.jwt, Object.fromEntries(b.map((h) => [h, bodies[h]])));
    assert.equal(r.status, 200, r.text);
    jwt = r.body.result.jwt ?? jwt;
  }
  const d = await api.deploy(projectId, { completionJwt: jwt });
  assert.equal(d.status, 200, d.text);
  return d.body.deployment.id;
}

/** GET/HEAD on a project subdomain, keeping the body as bytes. */
function get(path, host, { method = 'GET', headers = {} } = {}) {
  return request(path, { host, method, headers, bytes: true });
}

const small = Buffer.from('<h1>big files</h1>');
const big30 = randomBytes(30 * MiB);
const big60 = randomBytes(60 * MiB);
let project, manifest, session;

const cliBin = join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'debug', 'flotilla');

before(async () => {
  // Built before any request: a build inside a test blocks this process for as long as it
  // takes (~45 s on a fresh checkout), and the Worker closes the idle keep-alive socket that
  // the next request would then be sent on ("other side closed").
  const built = spawnSync('cargo', ['build', '-p', 'flotilla-cli', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  assert.equal(built.status, 0, 'cargo build -p flotilla-cli');
  assert.ok(existsSync(cliBin), cliBin);
  project = await freshProject('bigfiles');
  ({ manifest } = prepare({ '/index.html': small, '/big30.bin': big30, '/big60.bin': big60 }));
  const s = await api.uploadSession(project.id, manifest);
  assert.equal(s.status, 200, s.text);
  session = s.body.result;
});

test('the session lists files over 25 MiB as raw uploads and buckets only the rest', { timeout: 60_000 }, async () => {
  const [h30, h60, hSmall] = [sha256(big30), sha256(big60), sha256(small)];
  assert.deepEqual([...session.rawUploads].sort(), [h30, h60].sort());
  assert.deepEqual(session.buckets, [[hSmall]]);
  // A bucket cannot carry a raw file (that is what kept 25 MiB of base64 JSON in memory).
  const r = await api.upload(project.id, session.jwt, { [h30]: 'AAAA' });
  expectError(assert, r, 400, 'bad_request', h30);
  assert.match(r.body.message, /assets\/raw/);
});

test('a raw body is checked: content type, length and SHA-256; nothing is kept on a mismatch', { timeout: 60_000 }, async () => {
  const h30 = sha256(big30);
  const wrongBytes = Buffer.from(big30);
  wrongBytes[wrongBytes.length - 1] ^= 0xff;
  let r = await raw(project.id, session.jwt, h30, wrongBytes);
  expectError(assert, r, 400, 'bad_request', h30);
  assert.match(r.body.message, /SHA-256/);
  r = await raw(project.id, session.jwt, h30, big30.subarray(1));
  expectError(assert, r, 400, 'bad_request', 'content-length');
  r = await raw(project.id, session.jwt, h30, big30, { 'content-type': 'application/json' });
  expectError(assert, r, 400, 'bad_request', 'content-type');
  r = await raw(project.id, 'not-a-jwt', h30, Buffer.from('x'));
  assert.equal(r.status, 401, r.text);
  r = await raw(project.id, session.jwt, sha256(Buffer.from('not in the session')), Buffer.from('x'));
  expectError(assert, r, 400, 'bad_request');
  // The refused body left nothing: no object in R2, and a new session still needs the file.
  assert.ok(!r2Has(`assets/${project.id}/${h30}`), 'nothing stored under the key');
  const again = await api.uploadSession(project.id, manifest);
  assert.equal(again.status, 200, again.text);
  assert.ok(again.body.result.rawUploads.includes(h30), again.text);
});

test('past 100 MiB: 413 naming the limit; exactly 100 MiB is accepted', { timeout: 60_000 }, async () => {
  const over = { '/huge.bin': { hash: sha256(Buffer.from('huge')), size: HARD_MAX + 1 } };
  const s = await api.uploadSession(project.id, over);
  expectError(assert, s, 413, 'payload_too_large');
  assert.match(s.body.message, new RegExp(String(HARD_MAX)));
  // At exactly 100 MiB the session is accepted (the raw path's own Content-Length cap is
  // checked natively: sending 100 MiB here would only slow the suite down).
  const at = await api.uploadSession(project.id, { '/max.bin': { hash: sha256(Buffer.from('max')), size: HARD_MAX } });
  assert.equal(at.status, 200, at.text);
  assert.deepEqual(at.body.result.rawUploads, [sha256(Buffer.from('max'))]);
});

test('30 MiB and 60 MiB files upload raw, deploy, and stream back byte-exact with ETag, 304, HEAD and Range', { timeout: 120_000 }, async () => {
  const [h30, h60, hSmall] = [sha256(big30), sha256(big60), sha256(small)];
  let jwt;
  for (const [h, bytes] of [[h30, big30], [h60, big60]]) {
    const r = await raw(project.id, session.jwt, h, bytes);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.result.uploaded, 1);
    jwt = r.body.result.jwt ?? jwt;
  }
  // A retried raw upload of a stored hash is harmless (the body is not read again).
  const retry = await raw(project.id, session.jwt, h30, big30);
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.body.result.alreadyStored, 1);
  const b = await api.upload(project.id, session.jwt, { [hSmall]: small.toString('base64') });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.body.result.remaining, 0);
  jwt = b.body.result.jwt;
  const d = await api.deploy(project.id, { completionJwt: jwt });
  assert.equal(d.status, 200, d.text);
  await waitFor(d.body.deployment.id, ['completed']);

  for (const h of [h30, h60]) assert.ok(r2Has(`assets/${project.id}/${h}`), `stored in R2 under the project: ${h}`);
  assert.ok(!r2Has(`assets/${project.id}/${hSmall}`), 'small files stay in KV');
  const host = `${project.slug}.localhost`;
  const page = await get('/', host);
  assert.equal(page.status, 200);
  for (const [path, bytes] of [['/big30.bin', big30], ['/big60.bin', big60]]) {
    const r = await get(path, host);
    assert.equal(r.status, 200, path);
    assert.equal(r.body.length, bytes.length, path);
    assert.equal(sha256(r.body), sha256(bytes), path);
    assert.ok(r.headers.etag, 'an ETag');
    // The same headers as a KV-served file (bar the per-file ones).
    const names = (h) => Object.keys(h).filter((k) => !['content-length', 'etag', 'content-type', 'date', 'transfer-encoding', 'content-encoding', 'x-request-id'].includes(k)).sort();
    // The HTML page alone carries the skew-protection pin cookie (README "Skew protection").
    assert.deepEqual(names(r.headers), names(page.headers).filter((k) => k !== 'set-cookie'), path);
    assert.ok(page.headers['set-cookie'] && !r.headers['set-cookie'], `${path}: a pin cookie only on the page`);
    const head = await get(path, host, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.etag, r.headers.etag);
    const revalidate = await get(path, host, { headers: { 'if-none-match': r.headers.etag } });
    assert.equal(revalidate.status, 304);
    assert.equal(revalidate.body.length, 0);
    assert.equal(revalidate.headers.etag, r.headers.etag);
    // Ranges are read from R2 as ranges: a seek into the middle, the tail, past the end.
    const size = bytes.length;
    for (const [range, first, last] of [[`bytes=${27 * MiB + 5}-${27 * MiB + 70_004}`, 27 * MiB + 5, 27 * MiB + 70_004], ['bytes=-1000', size - 1000, size - 1], [`bytes=${size - 10}-`, size - 10, size - 1]]) {
      const part = await get(path, host, { headers: { range } });
      assert.equal(part.status, 206, `${path} ${range}`);
      assert.equal(part.headers['content-range'], `bytes ${first}-${last}/${size}`);
      assert.equal(Number(part.headers['content-length']), last - first + 1);
      assert.ok(part.body.equals(bytes.subarray(first, last + 1)), `${path} ${range}`);
      assert.equal(part.headers.etag, r.headers.etag);
    }
    const past = await get(path, host, { headers: { range: `bytes=${size}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${size}`);
  }
  // Re-uploading the site needs nothing: the large bodies are known to the project.
  const again = await api.uploadSession(project.id, manifest);
  assert.deepEqual(again.body.result.rawUploads, []);
  assert.deepEqual(again.body.result.buckets, []);
});

test('a raw upload in pieces (Content-Range): in order, resumable, restartable, checked whole', { timeout: 120_000 }, async () => {
  const p = await freshProject('bigfiles-pieces');
  const file = randomBytes(45 * MiB);
  const h = sha256(file);
  const s = await api.uploadSession(p.id, { '/film.bin': { hash: h, size: file.length } });
  assert.equal(s.status, 200, s.text);
  const jwt = s.body.result.jwt;
  const piece = (from, to, bytes = file.subarray(from, to)) =>
    raw(p.id, jwt, h, bytes, { 'content-range': `bytes ${from}-${to - 1}/${file.length}` });
  const M = (n) => n * MiB;

  // Out of order: the server says where it is.
  let r = await piece(M(20), M(40));
  expectError(assert, r, 409, 'conflict');
  assert.match(r.body.message, /0 bytes were received/);
  // Pieces end on 10 MiB parts; the range must match the manifest and the body.
  expectError(assert, await piece(0, 12345), 400, 'bad_request', 'content-range');
  expectError(assert, await raw(p.id, jwt, h, Buffer.from('x'), { 'content-range': `bytes 0-0/${file.length + 1}` }), 400, 'bad_request', 'content-range');
  expectError(assert, await piece(0, M(20), file.subarray(0, M(20) - 1)), 400, 'bad_request', 'content-length');

  r = await piece(0, M(20));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.result.received, r.body.result.size, r.body.result.uploaded, r.body.result.remaining], [M(20), file.length, 0, 1]);
  assert.equal(r.body.result.jwt, undefined, 'no completion token before the last piece');
  assert.ok(!r2Has(`assets/${p.id}/${h}`), 'nothing is visible before the last piece');
  const key = `assets/${p.id}/${h}`;
  assert.equal(inProgress(key), 1);
  // Sending the first piece again starts over (the old upload is aborted); then the next
  // piece, and its retry is refused.
  assert.equal((await piece(0, M(20))).status, 200);
  assert.equal(inProgress(key), 1, 'one multipart upload in progress, not two');
  assert.equal((await piece(M(20), M(40))).status, 200);
  r = await piece(M(20), M(40));
  expectError(assert, r, 409, 'conflict');
  assert.match(r.body.message, new RegExp(`${M(40)} bytes were received`));

  // A last piece that makes the whole body hash otherwise: refused, and nothing stays.
  const wrong = Buffer.from(file.subarray(M(40)));
  wrong[0] ^= 0xff;
  r = await piece(M(40), file.length, wrong);
  expectError(assert, r, 400, 'bad_request', h);
  assert.match(r.body.message, /SHA-256/);
  assert.ok(!r2Has(`assets/${p.id}/${h}`));
  expectError(assert, await piece(M(40), file.length), 409, 'conflict');

  // From the start again, in other piece sizes: stored, the session completes, it serves.
  assert.equal((await piece(0, M(40))).status, 200);
  r = await piece(M(40), file.length);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.result.received, r.body.result.uploaded, r.body.result.remaining], [file.length, 1, 0]);
  assert.ok(r2Has(`assets/${p.id}/${h}`));
  const d = await api.deploy(p.id, { completionJwt: r.body.result.jwt });
  assert.equal(d.status, 200, d.text);
  await waitFor(d.body.deployment.id, ['completed']);
  const got = await get('/film.bin', `${p.slug}.localhost`);
  assert.equal(got.status, 200);
  assert.equal(sha256(got.body), h);
  // A piece of a stored file is answered without reading it.
  r = await piece(0, M(10));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.result.alreadyStored, 1);
});

test('two uploads of the same piece at once never complete a file other than its hash', { timeout: 120_000 }, async () => {
  const p = await freshProject('bigfiles-race');
  const file = randomBytes(30 * MiB);
  const h = sha256(file);
  const s = await api.uploadSession(p.id, { '/race.bin': { hash: h, size: file.length } });
  const jwt = s.body.result.jwt;
  const piece = (from, to, bytes = file.subarray(from, to)) =>
    raw(p.id, jwt, h, bytes, { 'content-range': `bytes ${from}-${to - 1}/${file.length}` });
  const M = (n) => n * MiB;
  assert.equal((await piece(0, M(10))).status, 200);
  const wrong = Buffer.from(file.subarray(M(10), M(20)));
  wrong.fill(7);
  const both = await Promise.all([piece(M(10), M(20)), piece(M(10), M(20), wrong)]);
  assert.deepEqual(both.map((r) => r.status), [200, 200]);
  const last = await piece(M(20), file.length);
  console.log(`[race] the last piece answered ${last.status}`);
  // Whichever request's parts and hash state were kept, the file is its hash or nothing.
  assert.ok([200, 400, 409].includes(last.status), last.text);
  if (last.status !== 200) {
    assert.ok(!r2Has(`assets/${p.id}/${h}`), 'a refused upload leaves nothing');
    return;
  }
  const d = await api.deploy(p.id, { completionJwt: last.body.result.jwt });
  await waitFor(d.body.deployment.id, ['completed']);
  const got = await get('/race.bin', `${p.slug}.localhost`);
  assert.equal(sha256(got.body), h);
});

test('an upload session that expires between pieces takes its multipart upload with it', { timeout: 60_000 }, async () => {
  const p = await freshProject('bigfiles-expiry');
  const file = randomBytes(30 * MiB);
  const h = sha256(file);
  const s = await api.uploadSession(p.id, { '/left.bin': { hash: h, size: file.length } });
  const r = await raw(p.id, s.body.result.jwt, h, file.subarray(0, 10 * MiB), { 'content-range': `bytes 0-${10 * MiB - 1}/${file.length}` });
  assert.equal(r.status, 200, r.text);
  const key = `assets/${p.id}/${h}`;
  assert.equal(inProgress(key), 1);
  // Expire the session (an hour is too long to wait), then a GC pass sweeps it.
  wranglerLocal(['d1', 'execute', 'DB', '--command', `UPDATE upload_sessions SET expires_at = 0 WHERE project_id = '${p.id}'`]);
  const g = await api.gc(p.id);
  assert.equal(g.status, 200, g.text);
  assert.ok(g.body.gc.orphans >= 1, g.text);
  assert.equal(inProgress(key), 0, 'the multipart upload was aborted');
  assert.ok(!r2Has(key));
});

test('large bodies are per project: another project must upload its own copy', { timeout: 30_000 }, async () => {
  const other = await freshProject('bigfiles-other');
  const s = await api.uploadSession(other.id, { '/big30.bin': manifest['/big30.bin'] });
  assert.deepEqual(s.body.result.rawUploads, [sha256(big30)]);
});

test('the CLI sends large files through the raw path in pieces, and starts over on a 409', { timeout: 240_000 }, async () => {
  const p = await freshProject('bigfiles-cli');
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bigfiles-'));
  const body = randomBytes(55 * MiB); // more than one piece (RAW_PIECE_BYTES, 50 MiB)
  writeFileSync(join(dir, 'index.html'), '<h1>cli</h1>');
  writeFileSync(join(dir, 'video.bin'), body);
  const home = mkdtempSync(join(tmpdir(), 'flotilla-bigfiles-home-'));
  // The first second piece is answered 409 (as when a piece's answer was lost).
  let refused = 0;
  const proxy = await faultProxy((req) => (req.headers['content-range']?.startsWith(`bytes ${50 * MiB}-`) && !refused++ ? { status: 409 } : null));
  let r;
  try {
    r = await new Promise((resolve) => {
      const child = spawn(cliBin, ['deploy', dir, '--project', p.id, '--json'], {
        env: { PATH: process.env.PATH, HOME: home, FLOTILLA_CONFIG: join(home, 'none.json'), FLOTILLA_URL: proxy.url, FLOTILLA_TOKEN: TOKEN },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
  } finally {
    await proxy.close();
  }
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 large files one by one/);
  const ranges = proxy.seen.filter((s) => s.path.includes('/assets/raw/')).map((s) => s.range);
  const first = `bytes 0-${50 * MiB - 1}/${body.length}`;
  const second = `bytes ${50 * MiB}-${body.length - 1}/${body.length}`;
  assert.deepEqual(ranges, [first, second, first, second]);
  const out = JSON.parse(r.stdout);
  assert.equal(out.uploaded.bytes, body.length + '<h1>cli</h1>'.length);
  const got = await get('/video.bin', `${p.slug}.localhost`);
  assert.equal(got.status, 200);
  assert.equal(sha256(got.body), sha256(body));
});

test('the wrangler /client/v4 upload keeps refusing files over 25 MiB with a 413', { timeout: 30_000 }, async () => {
  const path = `/client/v4/accounts/local/workers/scripts/${project.slug}/assets-upload-session`;
  const over = await call('POST', path, { body: { manifest: { '/big.bin': { hash: 'a'.repeat(32), size: KV_MAX + 1 } } } });
  assert.equal(over.status, 413, over.text);
  assert.match(over.text, new RegExp(String(KV_MAX)));
  const at = await call('POST', path, { body: { manifest: { '/big.bin': { hash: 'b'.repeat(32), size: KV_MAX } } } });
  assert.equal(at.status, 200, at.text);
});

test('GC deletes an unreferenced large body and one with no row from R2 after the grace; purge deletes the rest', { timeout: 120_000 }, async () => {
  // The runner sets RETAIN_COMPLETED=2 and GC_GRACE_MS=1500.
  const p = await freshProject('bigfiles-gc');
  const big = randomBytes(26 * MiB);
  const key = `assets/${p.id}/${sha256(big)}`;
  const kept = randomBytes(26 * MiB);
  const keptKey = `assets/${p.id}/${sha256(kept)}`;
  await deployWithRaw(p.id, { '/index.html': Buffer.from('v1'), '/big.bin': big, '/kept.bin': kept });
  assert.ok(r2Has(key) && r2Has(keptKey));
  for (let v = 2; v <= 4; v++) await deployWithRaw(p.id, { '/index.html': Buffer.from(`v${v}`), '/kept.bin': kept });
  // A body whose project_assets row never came (written straight into the local bucket).
  const orphanKey = `assets/${p.id}/${'0'.repeat(64)}`;
  const orphanFile = join(mkdtempSync(join(tmpdir(), 'flotilla-orphan-')), 'body');
  writeFileSync(orphanFile, 'orphan');
  wranglerLocal(['r2', 'object', 'put', `flotilla-blobs/${orphanKey}`, '--file', orphanFile]);
  assert.ok(r2Has(orphanKey));
  await sleep(1600);
  const first = await api.gc(p.id);
  assert.equal(first.status, 200, first.text);
  assert.ok(r2Has(key), 'nothing is deleted on the first sighting');
  assert.ok(!r2Has(orphanKey), 'a large body with no row is deleted once older than the grace');
  assert.ok(first.body.gc.orphans >= 1, first.text);
  await sleep(1600);
  const second = await api.gc(p.id);
  assert.equal(second.status, 200, second.text);
  assert.ok(!r2Has(key), 'the unreferenced large body is gone from R2');
  assert.ok(r2Has(keptKey), 'a body the kept deployments use stays');
  assert.equal(sha256((await get('/kept.bin', `${p.slug}.localhost`)).body), sha256(kept));

  assert.equal((await api.deleteProject(p.id)).status, 200);
  const t0 = Date.now();
  while (r2Has(keptKey) && Date.now() - t0 < 60_000) await sleep(500);
  assert.ok(!r2Has(keptKey), 'purge removes the project\'s large bodies');
});
