// Environments (issue 30 item 5, README "Environments") over real HTTP: env vars and secrets
// scoped to production, previews, one alias or all reach exactly the server code served at a
// URL of that scope (never production's in a preview, nor a preview's in production); a
// preview's binding override reads its own KV namespace; the project's bypass token opens a
// protected preview without a link, and a wrong or foreign one does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, TOKEN, api, call, freshProject, expectError } from '../lib/client.mjs';
import { prepare, request, sleep } from '../lib/site.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');
// `/env?names=A,B` -> {A: env.A ?? null, ...}; `/headers` -> the request's header names; `/kv-get?key=k`, `/kv-put?key=k&value=v` on env.CACHE.
const TENANT = `export default { async fetch(req, env) {
  const u = new URL(req.url); const q = u.searchParams;
  if (u.pathname === '/headers') return Response.json([...req.headers.keys()]);
  if (u.pathname === '/env') return Response.json(Object.fromEntries(q.get('names').split(',').map((n) => [n, typeof env[n] === 'string' ? env[n] : null])));
  if (u.pathname === '/kv-get') return Response.json({ value: await env.CACHE.get(q.get('key')) });
  if (u.pathname === '/kv-put') { await env.CACHE.put(q.get('key'), q.get('value')); return Response.json({ ok: true }); }
  return new Response('no such op', { status: 404 });
} };`;
const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(TENANT) } };

async function deploy(project, { config, activate } = {}) {
  const { manifest, bodies } = prepare({ '/index.html': `static ${Math.random()}` });
  const s = await api.uploadSession(project.id, manifest);
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await api.upload(project.id, s.body.result.jwt, Object.fromEntries(b.map((h) => [h, bodies[h]])));
    assert.equal(r.status, 200, r.text);
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  const body = { completionJwt: jwt, serverCode, run_worker_first: true, ...(config ? { config } : {}), ...(activate === undefined ? {} : { activate }) };
  const d = await api.deploy(project.id, body);
  assert.equal(d.status, 200, d.text);
  return d.body.deployment;
}

const setEnv = (p, scope, name, body) => call('PUT', `/__api/projects/${p.id}/env/${scope}/${name}`, { body });
const delEnv = (p, scope, name) => call('DELETE', `/__api/projects/${p.id}/env/${scope}/${name}`);
async function set(p, scope, name, value, type = 'var') {
  const r = await setEnv(p, scope, name, { type, value });
  assert.ok([200, 201].includes(r.status), r.text);
  return r.body;
}

/** Path-mode URL of production (`ref` undefined), a deployment preview (id prefix) or an alias. */
const at = (p, ref, path) => `/__project/${p.slug}${ref ? `@${ref}` : ''}${path}`;

async function json(path, headers = {}) {
  const r = await request(path, { headers });
  assert.equal(r.status, 200, `${path}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

/** The env names as the server code at `ref` sees them; retried briefly while a routing record
 * this isolate cached before the change is still fresh. */
async function envAt(p, ref, want) {
  const names = Object.keys(want).join(',');
  let got;
  for (let i = 0; i < 40; i++) {
    got = await json(at(p, ref, `/env?names=${names}`));
    if (JSON.stringify(got) === JSON.stringify(want)) return got;
    await sleep(250);
  }
  assert.deepEqual(got, want, `env at ${ref ?? 'production'}`);
  return got;
}

test('scoped vars and secrets: production never sees preview values, previews never see production ones', async () => {
  const p = await freshProject('envs');
  const d = await deploy(p);
  const dep8 = d.id.slice(0, 8);
  assert.equal((await api.putAlias(p.id, 'qa', d.id)).status, 200);

  assert.equal((await setEnv(p, 'preview', 'TOKEN', { type: 'secret', value: 'preview-secret' })).status, 201);
  await set(p, 'production', 'TOKEN', 'prod-secret', 'secret');
  await set(p, 'production', 'ONLY_PROD', 'p');
  await set(p, 'preview', 'ONLY_PREVIEW', 'v');
  await set(p, 'all', 'SHARED', 's');
  await set(p, 'alias:qa', 'STAGE', 'qa');

  await envAt(p, undefined, { TOKEN: 'prod-secret', ONLY_PROD: 'p', ONLY_PREVIEW: null, SHARED: 's', STAGE: null });
  await envAt(p, dep8, { TOKEN: 'preview-secret', ONLY_PROD: null, ONLY_PREVIEW: 'v', SHARED: 's', STAGE: null });
  await envAt(p, 'qa', { TOKEN: 'preview-secret', ONLY_PROD: null, ONLY_PREVIEW: 'v', SHARED: 's', STAGE: 'qa' });

  // The listing never returns a secret's value, and says what applies where.
  const list = await call('GET', `/__api/projects/${p.id}/env`);
  assert.equal(list.status, 200, list.text);
  const secrets = list.body.env.filter((e) => e.type === 'secret');
  assert.equal(secrets.length, 2);
  assert.ok(secrets.every((e) => !('value' in e)), list.text);
  assert.ok(!list.text.includes('prod-secret') && !list.text.includes('preview-secret'), list.text);
  assert.deepEqual(list.body.applies.production, { vars: ['ONLY_PROD', 'SHARED'], secrets: ['TOKEN'], bindings: {} });
  assert.deepEqual(list.body.applies.preview.vars, ['ONLY_PREVIEW', 'SHARED']);
  assert.deepEqual(list.body.applies['alias:qa'].vars, ['ONLY_PREVIEW', 'SHARED', 'STAGE']);

  // A change reaches the next request (a new env digest, so a new isolate, not the warm one).
  await set(p, 'preview', 'TOKEN', 'preview-secret-2', 'secret');
  await envAt(p, dep8, { TOKEN: 'preview-secret-2', ONLY_PREVIEW: 'v' });
  await envAt(p, undefined, { TOKEN: 'prod-secret', ONLY_PREVIEW: null });
  assert.equal((await delEnv(p, 'preview', 'TOKEN')).status, 200);
  await envAt(p, dep8, { TOKEN: null });
  await envAt(p, 'qa', { TOKEN: null, STAGE: 'qa' });
  expectError(assert, await delEnv(p, 'preview', 'TOKEN'), 404, 'not_found');

  // Bad input is refused with the field named.
  expectError(assert, await setEnv(p, 'staging', 'X', { value: 'v' }), 400, 'bad_request', 'scope');
  expectError(assert, await setEnv(p, 'preview', '1X', { value: 'v' }), 400, 'bad_request', 'name');
  expectError(assert, await setEnv(p, 'preview', 'X', { type: 'json', value: 'v' }), 400, 'bad_request', 'type');
  expectError(assert, await setEnv(p, 'preview', 'X', { value: 3 }), 400, 'bad_request', 'value');
});

test('secrets a deployment was made with (wrangler secret put) are production\'s: its preview URL runs without them', async () => {
  const p = await freshProject('envs-wrangler');
  await deploy(p);
  const accounts = await call('GET', '/client/v4/accounts');
  assert.equal(accounts.status, 200, accounts.text);
  const account = accounts.body.result[0].id;
  const put = await call('PUT', `/client/v4/accounts/${account}/workers/scripts/${p.slug}/secrets`, { body: { name: 'API_SECRET', text: 'wrangler-secret', type: 'secret_text' } });
  assert.equal(put.status, 200, put.text);
  const active = (await api.getProject(p.id)).body.project.activeDeploymentId;
  await envAt(p, undefined, { API_SECRET: 'wrangler-secret' });
  await envAt(p, active.slice(0, 8), { API_SECRET: null });
  // Asked for explicitly (scope `all`), it reaches previews too.
  await set(p, 'all', 'API_SECRET', 'shared-secret', 'secret');
  await envAt(p, active.slice(0, 8), { API_SECRET: 'shared-secret' });
});

test('a preview binding override reads and writes the preview\'s own KV namespace', async () => {
  const p = await freshProject('envs-kv');
  const mk = async (title) => {
    const r = await call('POST', '/__api/kv/namespaces', { body: { title: `${title}-${Date.now().toString(36)}` } });
    assert.equal(r.status, 201, r.text);
    return r.body.namespace.id;
  };
  const prodNs = await mk('prod');
  const previewNs = await mk('preview');
  const d = await deploy(p, { config: { bindings: [{ type: 'kv', name: 'CACHE', id: prodNs }] } });
  const dep8 = d.id.slice(0, 8);
  assert.deepEqual(await json(at(p, undefined, '/kv-put?key=who&value=production')), { ok: true });
  assert.deepEqual(await json(at(p, dep8, '/kv-get?key=who')), { value: 'production' }, 'without an override a preview binds what its deployment binds');

  expectError(assert, await setEnv(p, 'production', 'CACHE', { type: 'kv', value: previewNs }), 400, 'bad_request');
  expectError(assert, await setEnv(p, 'preview', 'CACHE', { type: 'kv', value: '0'.repeat(32) }), 404, 'not_found');
  await set(p, 'preview', 'CACHE', previewNs, 'kv');
  let got;
  for (let i = 0; i < 40; i++) {
    got = await json(at(p, dep8, '/kv-get?key=who'));
    if (got.value === null) break;
    await sleep(250);
  }
  assert.deepEqual(got, { value: null }, 'the preview reads its own, empty namespace');
  assert.deepEqual(await json(at(p, dep8, '/kv-put?key=who&value=preview')), { ok: true });
  assert.deepEqual(await json(at(p, dep8, '/kv-get?key=who')), { value: 'preview' });
  assert.deepEqual(await json(at(p, undefined, '/kv-get?key=who')), { value: 'production' }, 'production data untouched');
  const list = await call('GET', `/__api/projects/${p.id}/env`);
  assert.deepEqual(list.body.applies.preview.bindings, { CACHE: previewNs });
});

test('bypass token: opens protected previews by header; wrong, foreign, rotated and removed tokens do not', async () => {
  const p = await freshProject('envs-bypass');
  const other = await freshProject('envs-bypass-other');
  const d = await deploy(p);
  await deploy(other);
  const dep8 = d.id.slice(0, 8);
  assert.equal((await api.updateProject(p.id, { previewAccess: 'link' })).status, 200);
  const preview = at(p, dep8, '/env?names=X');
  const status = async (headers) => (await request(preview, { headers })).status;
  const until = async (headers, want) => {
    let s;
    for (let i = 0; i < 40; i++) {
      s = (await request(preview, { headers })).status;
      if (s === want) return s;
      await sleep(250);
    }
    return s;
  };
  assert.equal(await until({}, 401), 401);

  const created = await call('POST', `/__api/projects/${p.id}/bypass-token`);
  assert.equal(created.status, 201, created.text);
  const token = created.body.token;
  assert.match(token, /^flb_[0-9a-f]{64}$/);
  const foreign = (await call('POST', `/__api/projects/${other.id}/bypass-token`)).body.token;

  assert.equal(await until({ 'x-flotilla-bypass': token }, 200), 200);
  assert.equal(await status({ 'x-vercel-protection-bypass': token }), 200);
  // The token is the platform's to read: the tenant's code never sees it.
  const seen = await request(at(p, dep8, '/headers'), { headers: { 'x-flotilla-bypass': token, 'x-vercel-protection-bypass': token } });
  assert.equal(seen.status, 200);
  assert.deepEqual(JSON.parse(seen.body).filter((h) => h.includes('bypass')), [], seen.body);
  for (const bad of [`${token}x`, token.slice(0, -1), foreign, 'flb_', '']) {
    assert.equal(await status({ 'x-flotilla-bypass': bad }), 401, `token ${JSON.stringify(bad)}`);
    assert.equal(await status({ 'x-vercel-protection-bypass': bad }), 401);
  }
  assert.equal(await status({}), 401, 'no token: still protected');
  assert.equal((await request(at(p, undefined, '/env?names=X'))).status, 200, 'production stays public');

  // Rotation: the old token stops working; removal: none works.
  const rotated = (await call('POST', `/__api/projects/${p.id}/bypass-token`)).body.token;
  assert.notEqual(rotated, token);
  assert.equal(await until({ 'x-flotilla-bypass': token }, 401), 401);
  assert.equal(await until({ 'x-flotilla-bypass': rotated }, 200), 200);
  assert.equal((await call('DELETE', `/__api/projects/${p.id}/bypass-token`)).status, 200);
  assert.equal(await until({ 'x-flotilla-bypass': rotated }, 401), 401);
});

/** One MCP tools/call over raw JSON-RPC (initialize, then the call in that session). */
async function mcpTool(name, args) {
  const post = async (body, session) => {
    const headers = { accept: 'application/json, text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    if (session) headers['mcp-session-id'] = session;
    return fetch(`${BASE}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
  };
  const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'envs-test', version: '1' } } });
  assert.equal(init.status, 200, await init.text());
  const session = init.headers.get('mcp-session-id');
  assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)).status, 202);
  const r = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: args } }, session);
  const body = await r.json();
  assert.equal(body.result?.isError, false, JSON.stringify(body));
  return body.result.structuredContent;
}

test('MCP: set_env and list_env show which env applies where', async () => {
  const p = await freshProject('envs-mcp');
  await mcpTool('set_env', { project: p.slug, scope: 'preview', name: 'API_URL', value: 'https://preview.example' });
  await mcpTool('set_env', { project: p.slug, scope: 'production', name: 'DB_PASSWORD', type: 'secret', value: 'never-shown' });
  const listed = await mcpTool('list_env', { project: p.slug });
  assert.deepEqual(listed.applies.preview.vars, ['API_URL']);
  assert.deepEqual(listed.applies.production.secrets, ['DB_PASSWORD']);
  assert.ok(!JSON.stringify(listed).includes('never-shown'), 'a secret is never returned');
});

test('concurrent env changes: what serves is what is stored, whichever write lands last', async () => {
  const p = await freshProject('envs-race');
  const d = await deploy(p);
  const dep8 = d.id.slice(0, 8);
  const names = Array.from({ length: 12 }, (_, i) => `V${i}`);
  const puts = await Promise.all(names.map((n) => setEnv(p, 'preview', n, { value: n.toLowerCase() })));
  for (const r of puts) assert.equal(r.status, 201, r.text);
  const list = await call('GET', `/__api/projects/${p.id}/env`);
  assert.deepEqual(list.body.applies.preview?.vars, [...names].sort(), 'every stored entry applies');
  await envAt(p, dep8, Object.fromEntries(names.map((n) => [n, n.toLowerCase()])));
});
