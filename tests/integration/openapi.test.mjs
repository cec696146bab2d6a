// openapi.json checked by real validators (PyPI openapi-spec-validator and
// openapi-schema-validator, run from target/openapi-venv by tests/openapi/validate.py): the
// document itself, and one live response per documented operation validated against that
// operation's schema. validate.py fails when an operation has no sample here, so a new endpoint
// cannot go undocumented-and-untested; the native drift tests (src/routing/openapi_tests.rs) keep
// the route tables and the document in step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { call, BASE, TOKEN } from '../lib/client.mjs';
import { ROOT } from '../lib/server.mjs';
import { prepare, waitFor } from '../lib/site.mjs';
import { run, ensureVenv } from '../lib/python.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';
import { stub } from '../lib/stubs.mjs';

const REQUIREMENTS = join(ROOT, 'tests', 'openapi', 'requirements.txt');
const VALIDATE = join(ROOT, 'tests', 'openapi', 'validate.py');
const PROBE = 'import importlib.metadata as m; assert m.version("openapi-spec-validator") == "0.9.0"; import openapi_schema_validator';

const samples = [];
/** Calls the live Worker and records the response (validate.py finds its documented operation). */
async function op(method, path, opts = {}) {
  const r = await call(method, path, opts);
  samples.push({ method, path, status: r.status, contentType: r.headers.get('content-type'), body: r.body ?? null, text: r.body === undefined ? r.text : undefined });
  return r;
}
const ok = (r, status) => assert.equal(r.status, status, r.text.slice(0, 500));

test('openapi.json is a valid OpenAPI 3.1 document', { timeout: 360_000 }, async () => {
  const py = await ensureVenv('openapi-venv', REQUIREMENTS, PROBE);
  const r = await run(py, [VALIDATE, join(ROOT, 'openapi.json')]);
  assert.equal(r.code, 0, `validate.py: ${r.stdout}\n${r.stderr}`);
  assert.ok(JSON.parse(r.stdout).operations > 30);
  // The document the Worker serves is the file in the repository.
  const served = await call('GET', '/openapi.json', { token: null });
  assert.equal(served.status, 200);
  assert.deepEqual(served.body, JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')));
});

test('every documented operation answers as its schema says (one live sample each)', { timeout: 360_000 }, async () => {
  const anon = { token: null };
  ok(await op('GET', '/', anon), 200);
  ok(await op('GET', '/health', anon), 200);
  ok(await op('GET', '/health?detail=1', {}), 200);
  ok(await op('GET', '/health?detail=1', anon), 401);
  ok(await op('GET', '/openapi.json', anon), 200);
  ok(await op('GET', '/docs', anon), 200);
  for (const path of ['/__dashboard', '/__dashboard/app.js', '/__dashboard/app.css', '/__dashboard/docs.js']) {
    const page = await op('GET', path, anon);
    ok(page, 200);
    const again = await op('GET', path, { ...anon, headers: { 'if-none-match': page.headers.get('etag') } });
    ok(again, 304);
  }
  ok(await op('GET', '/.well-known/oauth-protected-resource', anon), 200);
  ok(await op('GET', '/.well-known/oauth-protected-resource/mcp', anon), 200);

  // Errors use the documented envelope too.
  ok(await op('GET', '/__api/projects', anon), 401);
  ok(await op('GET', '/__api/projects/no-such-project-x', {}), 404);

  const created = await op('POST', '/__api/projects', { body: { name: `openapi ${Date.now()}` } });
  ok(created, 201);
  const p = created.body.project;
  const P = `/__api/projects/${p.id}`;
  ok(await op('GET', '/__api/projects'), 200);
  ok(await op('GET', P), 200);
  ok(await op('PATCH', P, { body: { name: `${p.name} renamed` } }), 200);

  // Two deployments, through the documented three phases.
  const deployOnce = async (html) => {
    const { manifest, bodies } = prepare({ '/index.html': html });
    const s = await op('POST', `${P}/assets-upload-session`, { body: { manifest } });
    ok(s, 200);
    let jwt = s.body.result.jwt;
    for (const bucket of s.body.result.buckets) {
      const u = await op('POST', `${P}/assets/upload`, {
        token: s.body.result.jwt, body: Object.fromEntries(bucket.map((h) => [h, bodies[h]])),
      });
      ok(u, 200);
      if (u.body.result.jwt) jwt = u.body.result.jwt;
    }
    const d = await op('POST', `${P}/deploy`, { body: { completionJwt: jwt } });
    assert.ok([200, 202].includes(d.status), d.text);
    const id = d.body.deployment.id;
    assert.equal((await waitFor(id)).status, 'completed');
    return id;
  };
  const first = await deployOnce('<h1>one</h1>');
  const second = await deployOnce('<h1>two</h1>');
  // The raw-body path (meant for files over 25 MiB, which the session lists in rawUploads; it
  // accepts any missing file of the session, so a small one makes a cheap sample).
  {
    const body = Buffer.from(`raw ${Date.now()}`);
    const { manifest } = prepare({ '/raw.bin': body });
    const s = await op('POST', `${P}/assets-upload-session`, { body: { manifest } });
    ok(s, 200);
    assert.deepEqual(s.body.result.rawUploads, []);
    const h = manifest['/raw.bin'].hash;
    const u = await op('PUT', `${P}/assets/raw/${h}`, {
      token: s.body.result.jwt, raw: body, headers: { 'content-type': 'application/octet-stream' },
    });
    ok(u, 200);
    assert.equal(u.body.result.remaining, 0);
  }
  const D = (id) => `/__api/deployments/${id}`;
  ok(await op('GET', `${P}/deployments`), 200);
  ok(await op('GET', D(second)), 200);
  ok(await op('GET', `${D(second)}/logs`), 200);
  ok(await op('POST', `${D(first)}/preview-link`, { body: {} }), 200);
  ok(await op('PUT', `${P}/aliases/staging`, { body: { deploymentId: first } }), 200);
  ok(await op('GET', `${P}/aliases/staging`), 200);
  ok(await op('GET', `${P}/aliases`), 200);
  ok(await op('GET', `${P}/logs?limit=5&status=error`), 200);
  // An endless event stream: the sample is what arrived first (validate.py checks its `data:` lines).
  {
    const ctl = new AbortController();
    const res = await fetch(`${BASE}${P}/tail?status=5xx`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ctl.signal });
    const first = await res.body.getReader().read();
    ctl.abort();
    samples.push({ method: 'GET', path: `${P}/tail`, status: res.status, contentType: res.headers.get('content-type'), body: null, text: new TextDecoder().decode(first.value) });
    assert.equal(res.status, 200);
  }
  ok(await op('GET', `${P}/tail?sample=2`), 400);
  ok(await op('DELETE', `${P}/aliases/staging`), 200);
  // Environments (README "Environments").
  ok(await op('PUT', `${P}/env/preview/API_URL`, { body: { value: 'https://preview.example' } }), 201);
  ok(await op('PUT', `${P}/env/preview/API_URL`, { body: { type: 'secret', value: 'hidden' } }), 200);
  ok(await op('GET', `${P}/env`), 200);
  ok(await op('DELETE', `${P}/env/preview/API_URL`), 200);
  ok(await op('PUT', `${P}/env/nowhere/API_URL`, { body: { value: 'x' } }), 400);
  ok(await op('POST', `${P}/bypass-token`), 201);
  ok(await op('DELETE', `${P}/bypass-token`), 200);
  ok(await op('POST', `${P}/rollback`, { body: {} }), 200);
  // A gradual rollout of the deployment just rolled away from, paused and aborted.
  const steps = [{ percent: 10, minutes: 60 }, { percent: 100, minutes: 60 }];
  ok(await op('GET', `${P}/rollouts`), 200);
  ok(await op('POST', `${P}/rollouts`, { body: { deploymentId: second, steps, autoAbort: { max5xxRatio: 0.1 } } }), 201);
  ok(await op('POST', `${P}/rollouts`, { body: { deploymentId: second, steps } }), 409);
  ok(await op('POST', `${P}/rollouts/current/pause`), 200);
  ok(await op('GET', `${P}/rollouts`), 200);
  ok(await op('POST', `${P}/rollouts/current/abort`), 200);
  ok(await op('POST', `${P}/rollouts/current/resume`), 409);
  ok(await op('POST', `${D(second)}/promote`), 200);
  ok(await op('POST', `${P}/gc`), 200);

  const host = `docs-${Date.now()}.example.com`;
  const added = await op('POST', `${P}/domains`, { body: { hostname: host } });
  ok(added, 201);
  ok(await op('GET', `${P}/domains`), 200);
  ok(await op('GET', `${P}/domains/${host}`), 200);
  // No TXT proof published yet: the domain stays pending; then with the proof (in the local DNS
  // stub) it verifies.
  const early = await op('POST', `${P}/domains/${host}/verify`);
  assert.ok([200, 409].includes(early.status), early.text);
  assert.notEqual(early.body?.domain?.status, 'active', early.text);
  const { name: txtName, value: txtValue } = added.body.domain.verification;
  await stub.setTxt(txtName, [JSON.stringify(txtValue)]);
  const v = await op('POST', `${P}/domains/${host}/verify`);
  ok(v, 200);
  assert.equal(v.body.domain.status, 'active', v.text);
  ok(await op('DELETE', `${P}/domains/${host}`), 200);

  // Webhooks and drains, delivered to a local receiver that answers 204.
  const rx = http.createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(204); s.end(); }); });
  await new Promise((r) => rx.listen(0, '127.0.0.1', r));
  try {
    const hookUrl = `http://127.0.0.1:${rx.address().port}/hook`;
    const wh = await op('POST', `${P}/webhooks`, { body: { url: hookUrl, events: ['deployment.created'] } });
    ok(wh, 201);
    const W = `${P}/webhooks/${wh.body.webhook.id}`;
    ok(await op('GET', `${P}/webhooks`), 200);
    const ping = await op('POST', `${W}/ping`);
    ok(ping, 202);
    ok(await op('GET', `${W}/deliveries`), 200);
    ok(await op('POST', `${W}/deliveries/${ping.body.delivery.id}/redeliver`), 202);
    ok(await op('DELETE', W), 200);
    const dr = await op('POST', `${P}/drains`, { body: { url: hookUrl, sources: ['events'], sampling: 0.5 } });
    ok(dr, 201);
    ok(await op('GET', `${P}/drains`), 200);
    ok(await op('DELETE', `${P}/drains/${dr.body.drain.id}`), 200);
  } finally {
    rx.close();
  }

  const tok = await op('POST', '/__api/tokens', { body: { name: 'openapi sample', scopes: ['read'], projects: '*' } });
  ok(tok, 201);
  ok(await op('GET', '/__api/tokens'), 200);
  ok(await op('DELETE', `/__api/tokens/${tok.body.token.id}`), 200);
  ok(await op('GET', '/__api/audit?limit=5'), 200);

  const ns = await op('POST', '/__api/kv/namespaces', { body: { title: `openapi-${Date.now()}` } });
  ok(ns, 201);
  ok(await op('POST', '/__api/kv/namespaces', { body: { title: ns.body.namespace.title } }), 409);
  ok(await op('GET', '/__api/kv/namespaces?limit=5'), 200);
  ok(await op('GET', `/__api/kv/namespaces/${ns.body.namespace.id}`), 200);
  ok(await op('DELETE', `/__api/kv/namespaces/${ns.body.namespace.id}`), 200);
  ok(await op('GET', `/__api/kv/namespaces/${ns.body.namespace.id}`), 404);

  const bucket = await op('POST', '/__api/buckets', { body: { name: `openapi-${Date.now()}` } });
  ok(bucket, 201);
  ok(await op('POST', '/__api/buckets', { body: { name: bucket.body.bucket.name } }), 409);
  ok(await op('POST', '/__api/buckets', { body: { name: 'Not_A_Bucket' } }), 400);
  ok(await op('GET', '/__api/buckets?limit=5'), 200);
  ok(await op('GET', `/__api/buckets/${bucket.body.bucket.id}`), 200);
  ok(await op('DELETE', `/__api/buckets/${bucket.body.bucket.id}`), 200);
  ok(await op('GET', `/__api/buckets/${bucket.body.bucket.id}`), 404);
  const db = await op('POST', '/__api/sql/databases', { body: { name: `openapi-${Date.now()}` } });
  ok(db, 201);
  ok(await op('POST', '/__api/sql/databases', { body: { name: db.body.database.name } }), 409);
  ok(await op('POST', '/__api/sql/databases', { body: { name: '' } }), 400);
  ok(await op('GET', '/__api/sql/databases?limit=5'), 200);
  ok(await op('GET', `/__api/sql/databases/${db.body.database.id}`), 200);
  ok(await op('DELETE', `/__api/sql/databases/${db.body.database.id}`), 200);
  ok(await op('GET', `/__api/sql/databases/${db.body.database.id}`), 404);

  const mcpHeaders = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
  const init = await op('POST', '/mcp', {
    headers: mcpHeaders,
    raw: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'openapi-test', version: '1' } } }),
  });
  ok(init, 200);
  const session = init.headers.get('mcp-session-id');
  ok(await op('GET', '/mcp', { headers: { accept: 'text/event-stream', 'mcp-session-id': session } }), 405);
  ok(await op('DELETE', '/mcp', { headers: { 'mcp-session-id': session } }), 204);

  ok(await op('DELETE', P), 200);

  // /client/v4: what the real wrangler gets, recorded by a loopback proxy, for a Worker + assets
  // project's whole life; then every documented /client/v4 operation once more for a Worker that
  // does not exist (each must answer a documented status, e.g. the Cloudflare-shaped 404).
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers };
      delete headers.host;
      delete headers['content-length'];
      const r = await fetch(BASE + req.url, { method: req.method, headers, body: body.length ? body : undefined, redirect: 'manual' });
      const buf = Buffer.from(await r.arrayBuffer());
      if (req.url.startsWith('/client/v4/')) {
        let parsed = null;
        try { parsed = JSON.parse(buf.toString('utf8')); } catch { /* not JSON */ }
        samples.push({ method: req.method, path: req.url.split('?')[0], status: r.status, contentType: r.headers.get('content-type'), body: parsed });
      }
      const out = {};
      r.headers.forEach((v, k) => { if (k !== 'content-encoding' && k !== 'content-length') out[k] = v; });
      res.writeHead(r.status, out);
      res.end(buf);
    });
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const via = `http://127.0.0.1:${proxy.address().port}`;
  try {
    const name = `openapi-wr-${Date.now().toString(36)}`;
    const dir = project({
      'wrangler.toml': `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[vars]\nGREETING = "hi"\n[assets]\ndirectory = "./public"\nbinding = "ASSETS"\n`,
      'index.js': 'export default { fetch(req, env) { return new Response(env.GREETING + (env.S ?? "")); } };\n',
      'public/index.html': '<h1>v1</h1>\n',
    });
    const w = async (args, input) => {
      const r = await wrangler(dir, args, { base: via, input });
      assert.equal(r.code, 0, `wrangler ${args.join(' ')}: ${r.out}`);
      return r;
    };
    await w(['deploy']);
    await w(['secret', 'put', 'S'], 'secret-value\n');
    await w(['secret', 'list']);
    writeFileSync(join(dir, 'public/index.html'), '<h1>v2</h1>\n');
    await w(['deploy']);
    await w(['deployments', 'list']);
    const versions = await w(['versions', 'list', '--json']);
    const ids = [...versions.out.matchAll(/"id":\s*"([^"]+)"/g)].map((m) => m[1]);
    if (ids.length) await w(['versions', 'view', ids[0]]);
    await w(['secret', 'delete', 'S']);
    await w(['rollback', '--message', 'openapi', '-y']);
    await w(['delete']);
    // The script-level delete (what `wrangler delete` does not call): a second Worker, removed
    // by `DELETE /workers/scripts/:name`, is gone afterwards.
    await w(['deploy', '--name', `${name}-b`]);
    // `wrangler tail`'s calls (tests/integration/tail.test.mjs runs the real one).
    const T = `/client/v4/accounts/acc/workers/scripts/${name}-b/tails`;
    const opened = await op('POST', T, { body: { filters: [{ outcome: ['ok'] }] } });
    ok(opened, 200);
    ok(await op('GET', `${T}/${opened.body.result.id}/socket?secret=x`, { token: null }), 400);
    ok(await op('DELETE', `${T}/${opened.body.result.id}`), 200);
    const gone = await op('DELETE', `/client/v4/accounts/acc/workers/scripts/${name}-b`, { token: TOKEN });
    ok(gone, 200);
    ok(await op('GET', `/client/v4/accounts/acc/workers/services/${name}-b`, { token: TOKEN }), 404);
  } finally {
    await new Promise((r) => proxy.close(r));
  }
  // wrangler's namespace calls (auto-provisioning, `kv namespace create|list`).
  const kvTitle = `openapi-cf-${Date.now()}`;
  ok(await op('POST', '/client/v4/accounts/acc/storage/kv/namespaces', { body: { title: kvTitle } }), 200);
  ok(await op('POST', '/client/v4/accounts/acc/storage/kv/namespaces', { body: { title: kvTitle } }), 409);
  ok(await op('GET', '/client/v4/accounts/acc/storage/kv/namespaces'), 200);
  // `wrangler kv key|bulk ... --remote` on it.
  const cfNs = (await call('GET', '/client/v4/accounts/acc/storage/kv/namespaces?per_page=1000')).body.result.find((n) => n.title === kvTitle).id;
  const V = `/client/v4/accounts/acc/storage/kv/namespaces/${cfNs}`;
  ok(await op('PUT', `${V}/values/a%2Fb`, { raw: 'v1' }), 200);
  ok(await op('GET', `${V}/values/a%2Fb`), 200);
  ok(await op('GET', `${V}/values/missing`), 404);
  ok(await op('GET', `${V}/keys`), 200);
  ok(await op('PUT', `${V}/bulk`, { body: [{ key: 'b1', value: 'x' }, { key: 'b2', value: 'aGk=', base64: true }] }), 200);
  ok(await op('DELETE', `${V}/bulk`, { body: ['b1', 'b2'] }), 200);
  ok(await op('DELETE', `${V}/values/a%2Fb`), 200);
  // wrangler's R2 calls (provisioning, `r2 bucket create|list`, `r2 object put|get|delete`).
  const r2Name = `openapi-cf-${Date.now()}`;
  ok(await op('GET', `/client/v4/accounts/acc/r2/buckets/${r2Name}`), 404);
  ok(await op('POST', '/client/v4/accounts/acc/r2/buckets', { body: { name: r2Name } }), 200);
  ok(await op('POST', '/client/v4/accounts/acc/r2/buckets', { body: { name: r2Name } }), 409);
  ok(await op('GET', `/client/v4/accounts/acc/r2/buckets/${r2Name}`), 200);
  ok(await op('GET', '/client/v4/accounts/acc/r2/buckets'), 200);
  const O = `/client/v4/accounts/acc/r2/buckets/${r2Name}/objects`;
  ok(await op('PUT', `${O}/a.txt`, { raw: 'v1', headers: { 'content-type': 'application/octet-stream' } }), 200);
  ok(await op('GET', `${O}/a.txt`), 200);
  ok(await op('GET', `${O}/missing`), 404);
  ok(await op('DELETE', `${O}/a.txt`), 200);
  // wrangler's D1 calls (`d1_databases` auto-provisioning, `wrangler d1 create|list|info|execute|delete`).
  const dbName = `openapi-d1-${Date.now()}`;
  const cfDb = await op('POST', '/client/v4/accounts/acc/d1/database', { body: { name: dbName } });
  ok(cfDb, 200);
  ok(await op('POST', '/client/v4/accounts/acc/d1/database', { body: { name: dbName } }), 409);
  ok(await op('GET', '/client/v4/accounts/acc/d1/database?per_page=1000&page=1'), 200);
  ok(await op('GET', `/client/v4/accounts/acc/d1/database/${dbName}?fields=uuid%2Cname`), 200);
  ok(await op('GET', '/client/v4/accounts/acc/d1/database/openapi-missing'), 404);
  const DB1 = `/client/v4/accounts/acc/d1/database/${cfDb.body.result.uuid}`;
  ok(await op('POST', `${DB1}/query`, { body: { sql: 'CREATE TABLE t (a); INSERT INTO t VALUES (1); SELECT a FROM t' } }), 200);
  ok(await op('POST', `${DB1}/query`, { body: { sql: 'SELECT ? AS v', params: [2] } }), 200);
  ok(await op('POST', `${DB1}/query`, { body: { sql: 'SELECT * FROM nope' } }), 400);
  // `execute --file`: init, the upload (no credentials: the token in the URL), ingest.
  const sqlFile = 'CREATE TABLE imp (a);\nINSERT INTO imp VALUES (1);\n';
  const md5 = createHash('md5').update(sqlFile).digest('hex');
  const importInit = await op('POST', `${DB1}/import`, { body: { action: 'init', etag: md5 } });
  ok(importInit, 200);
  ok(await op('PUT', new URL(importInit.body.result.upload_url).pathname, { raw: sqlFile, token: null }), 200);
  ok(await op('POST', `${DB1}/import`, { body: { action: 'ingest', etag: md5, filename: `${md5}.sql` } }), 200);
  ok(await op('DELETE', DB1), 200);
  const doc = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8'));
  for (const [template, item] of Object.entries(doc.paths).filter(([t]) => t.startsWith('/client/v4/'))) {
    const path = template.replace('{account}', 'acc').replace(/\{[^}]+\}/g, 'openapi-no-such-worker');
    for (const method of Object.keys(item).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))) {
      const r = await op(method.toUpperCase(), path, { token: TOKEN });
      assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
    }
  }

  const py = await ensureVenv('openapi-venv', REQUIREMENTS, PROBE);
  const file = join(mkdtempSync(join(tmpdir(), 'flotilla-openapi-')), 'samples.json');
  writeFileSync(file, JSON.stringify(samples));
  const r = await run(py, [VALIDATE, join(ROOT, 'openapi.json'), file]);
  const report = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
  assert.deepEqual(report.errors, [], `schema mismatches:\n${(report.errors || []).join('\n')}\n${r.stderr}`);
  assert.equal(r.code, 0);
  assert.equal(report.samples, samples.length);
});
