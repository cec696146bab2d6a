// openapi.json checked by real validators (PyPI openapi-spec-validator and
// openapi-schema-validator, run from target/openapi-venv by tests/openapi/validate.py): the
// document itself, and one live response per documented operation validated against that
// operation's schema. validate.py fails when an operation has no sample here, so a new endpoint
// cannot go undocumented-and-untested; the native drift tests (src/routing/openapi_tests.rs) keep
// the route tables and the document in step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { call } from '../lib/client.mjs';
import { ROOT } from '../lib/server.mjs';
import { prepare, waitFor } from '../lib/site.mjs';
import { run, ensureVenv } from '../lib/python.mjs';

const REQUIREMENTS = join(ROOT, 'tests', 'openapi', 'requirements.txt');
const VALIDATE = join(ROOT, 'tests', 'openapi', 'validate.py');
const PROBE = 'import importlib.metadata as m; assert m.version("openapi-spec-validator") == "0.9.0"; import openapi_schema_validator';

const samples = [];
/** Calls the live Worker and records the response under the documented `template`. */
async function op(method, template, path, opts = {}) {
  const r = await call(method, path, opts);
  samples.push({ method, path: template, status: r.status, contentType: r.headers.get('content-type'), body: r.body ?? null, text: r.body === undefined ? r.text : undefined });
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
  assert.deepEqual(served.body, JSON.parse((await import('node:fs')).readFileSync(join(ROOT, 'openapi.json'), 'utf8')));
});

test('every documented operation answers as its schema says (one live sample each)', { timeout: 360_000 }, async () => {
  const anon = { token: null };
  ok(await op('GET', '/', '/', anon), 200);
  ok(await op('GET', '/health', '/health', anon), 200);
  ok(await op('GET', '/openapi.json', '/openapi.json', anon), 200);
  ok(await op('GET', '/docs', '/docs', anon), 200);
  for (const path of ['/__dashboard', '/__dashboard/app.js', '/__dashboard/app.css', '/__dashboard/docs.js']) {
    const page = await op('GET', path, path, anon);
    ok(page, 200);
    const again = await op('GET', path, path, { ...anon, headers: { 'if-none-match': page.headers.get('etag') } });
    ok(again, 304);
  }
  ok(await op('GET', '/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource', anon), 200);
  ok(await op('GET', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource/mcp', anon), 200);

  // Errors use the documented envelope too.
  ok(await op('GET', '/__api/projects', '/__api/projects', anon), 401);
  ok(await op('GET', '/__api/projects/{id}', '/__api/projects/no-such-project-x', {}), 404);

  const created = await op('POST', '/__api/projects', '/__api/projects', { body: { name: `openapi ${Date.now()}` } });
  ok(created, 201);
  const p = created.body.project;
  const P = `/__api/projects/${p.id}`;
  ok(await op('GET', '/__api/projects', '/__api/projects'), 200);
  ok(await op('GET', '/__api/projects/{id}', P), 200);
  ok(await op('PATCH', '/__api/projects/{id}', P, { body: { name: `${p.name} renamed` } }), 200);

  // Two deployments, through the documented three phases.
  const deployOnce = async (html) => {
    const { manifest, bodies } = prepare({ '/index.html': html });
    const s = await op('POST', '/__api/projects/{id}/assets-upload-session', `${P}/assets-upload-session`, { body: { manifest } });
    ok(s, 200);
    let jwt = s.body.result.jwt;
    for (const bucket of s.body.result.buckets) {
      const u = await op('POST', '/__api/projects/{id}/assets/upload', `${P}/assets/upload`, {
        token: s.body.result.jwt, body: Object.fromEntries(bucket.map((h) => [h, bodies[h]])),
      });
      ok(u, 200);
      if (u.body.result.jwt) jwt = u.body.result.jwt;
    }
    const d = await op('POST', '/__api/projects/{id}/deploy', `${P}/deploy`, { body: { completionJwt: jwt } });
    assert.ok([200, 202].includes(d.status), d.text);
    const id = d.body.deployment.id;
    assert.equal((await waitFor(id)).status, 'completed');
    return id;
  };
  const first = await deployOnce('<h1>one</h1>');
  const second = await deployOnce('<h1>two</h1>');
  const D = (id) => `/__api/deployments/${id}`;
  ok(await op('GET', '/__api/projects/{id}/deployments', `${P}/deployments`), 200);
  ok(await op('GET', '/__api/deployments/{depId}', D(second)), 200);
  ok(await op('GET', '/__api/deployments/{depId}/logs', `${D(second)}/logs`), 200);
  ok(await op('POST', '/__api/deployments/{depId}/preview-link', `${D(first)}/preview-link`, { body: {} }), 200);
  ok(await op('PUT', '/__api/projects/{id}/aliases/{name}', `${P}/aliases/staging`, { body: { deploymentId: first } }), 200);
  ok(await op('GET', '/__api/projects/{id}/aliases/{name}', `${P}/aliases/staging`), 200);
  ok(await op('GET', '/__api/projects/{id}/aliases', `${P}/aliases`), 200);
  ok(await op('DELETE', '/__api/projects/{id}/aliases/{name}', `${P}/aliases/staging`), 200);
  ok(await op('POST', '/__api/projects/{id}/rollback', `${P}/rollback`, { body: {} }), 200);
  ok(await op('POST', '/__api/deployments/{depId}/promote', `${D(second)}/promote`), 200);
  ok(await op('POST', '/__api/projects/{id}/gc', `${P}/gc`), 200);

  const host = `docs-${Date.now()}.example.com`;
  ok(await op('POST', '/__api/projects/{id}/domains', `${P}/domains`, { body: { hostname: host } }), 201);
  ok(await op('GET', '/__api/projects/{id}/domains', `${P}/domains`), 200);
  ok(await op('GET', '/__api/projects/{id}/domains/{hostname}', `${P}/domains/${host}`), 200);
  // No TXT proof published: verification answers with the domain still pending.
  const v = await op('POST', '/__api/projects/{id}/domains/{hostname}/verify', `${P}/domains/${host}/verify`);
  assert.ok([200, 409].includes(v.status), v.text);
  ok(await op('DELETE', '/__api/projects/{id}/domains/{hostname}', `${P}/domains/${host}`), 200);

  const tok = await op('POST', '/__api/tokens', '/__api/tokens', { body: { name: 'openapi sample', scopes: ['read'], projects: '*' } });
  ok(tok, 201);
  ok(await op('GET', '/__api/tokens', '/__api/tokens'), 200);
  ok(await op('DELETE', '/__api/tokens/{tokenId}', `/__api/tokens/${tok.body.token.id}`), 200);
  ok(await op('GET', '/__api/audit', '/__api/audit?limit=5'), 200);

  const mcpHeaders = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
  const init = await op('POST', '/mcp', '/mcp', {
    headers: mcpHeaders,
    raw: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'openapi-test', version: '1' } } }),
  });
  ok(init, 200);
  const session = init.headers.get('mcp-session-id');
  ok(await op('GET', '/mcp', '/mcp', { headers: { accept: 'text/event-stream', 'mcp-session-id': session } }), 405);
  ok(await op('DELETE', '/mcp', '/mcp', { headers: { 'mcp-session-id': session } }), 204);

  ok(await op('DELETE', '/__api/projects/{id}', P), 200);

  const py = await ensureVenv('openapi-venv', REQUIREMENTS, PROBE);
  const file = join(mkdtempSync(join(tmpdir(), 'flotilla-openapi-')), 'samples.json');
  writeFileSync(file, JSON.stringify(samples));
  const r = await run(py, [VALIDATE, join(ROOT, 'openapi.json'), file]);
  const report = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
  assert.deepEqual(report.errors, [], `schema mismatches:\n${(report.errors || []).join('\n')}\n${r.stderr}`);
  assert.equal(r.code, 0);
  assert.equal(report.samples, samples.length);
});
