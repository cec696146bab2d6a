// The MCP Streamable HTTP transport over raw HTTP, one rule at a time: methods, CORS, headers,
// message shapes, sessions (create, use, terminate, unknown), protocol versions, the Origin
// guard, auth with protected-resource metadata, and the tools through tools/call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, TOKEN } from '../lib/client.mjs';
import { visit } from '../lib/site.mjs';

const ACCEPT = 'application/json, text/event-stream';

async function post(body, { session, headers = {}, token = TOKEN, raw } = {}) {
  const h = { accept: ACCEPT, 'content-type': 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (session) h['mcp-session-id'] = session;
  const res = await fetch(`${BASE}/mcp`, { method: 'POST', headers: h, body: raw ?? JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const rpc = (id, method, params) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });

async function initialize(version = '2025-11-25') {
  const r = await post(rpc(1, 'initialize', { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw-test', version: '1' } }));
  assert.equal(r.status, 200, r.text);
  const session = r.headers.get('mcp-session-id');
  assert.match(session, /^[0-9a-f]{64}$/, 'random, visible ASCII');
  const n = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { session });
  assert.equal(n.status, 202);
  return { session, result: r.json.result };
}

test('initialize negotiates the version and mints a session; later requests use it', async () => {
  for (const v of ['2025-11-25', '2025-06-18', '2025-03-26']) {
    const { result } = await initialize(v);
    assert.equal(result.protocolVersion, v);
  }
  const { session, result } = await initialize('2024-01-01');
  assert.equal(result.protocolVersion, '2025-11-25', 'unsupported request -> latest');
  assert.equal(result.serverInfo.name, 'flotilla');
  assert.deepEqual(result.capabilities.tools, { listChanged: false });
  const ping = await post(rpc(2, 'ping'), { session });
  assert.equal(ping.status, 200);
  assert.deepEqual(ping.json, { jsonrpc: '2.0', id: 2, result: {} });
  assert.match(ping.headers.get('content-type'), /application\/json/);
  // Two sessions are distinct.
  assert.notEqual((await initialize()).session, session);
});

test('initialize: clientInfo name, title and version are capped at 256 characters; no session past it', async () => {
  const init = (clientInfo) => post(rpc(7, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo }));
  const at = await init({ name: 'é'.repeat(256), title: 't'.repeat(256), version: '1', icons: [{ src: `data:image/png;base64,${'A'.repeat(4096)}` }] });
  assert.equal(at.status, 200, at.text);
  assert.ok(at.headers.get('mcp-session-id'));
  for (const [info, message] of [
    [{ name: 'n'.repeat(257), version: '1' }, 'params.clientInfo.name must be at most 256 characters'],
    [{ name: 'c', version: '1'.repeat(100_000) }, 'params.clientInfo.version must be at most 256 characters'],
    [{ name: 'c', version: '1', title: 't'.repeat(257) }, 'params.clientInfo.title must be at most 256 characters'],
    [{ name: ['c'], version: '1' }, 'params.clientInfo.name must be a string'],
    ['client', 'params.clientInfo must be an object'],
  ]) {
    const r = await init(info);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.headers.get('mcp-session-id'), null, 'no session created');
    assert.deepEqual(r.json, { jsonrpc: '2.0', id: 7, error: { code: -32602, message } });
  }
});

test('message shapes: one message per POST, parse errors, notifications and responses', async () => {
  const { session } = await initialize();
  const batch = await post([rpc(1, 'ping')], { session });
  assert.equal(batch.status, 400);
  assert.equal(batch.json.error.code, -32600);
  const parse = await post(undefined, { session, raw: '{"jsonrpc": "2.0", "id": 1, "method": ' });
  assert.equal(parse.status, 400);
  assert.equal(parse.json.error.code, -32700);
  const noVersion = await post({ id: 3, method: 'ping' }, { session });
  assert.equal(noVersion.status, 400);
  assert.equal(noVersion.json.error.code, -32600);
  const note = await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9 } }, { session });
  assert.equal(note.status, 202);
  assert.equal(note.text, '');
  const response = await post({ jsonrpc: '2.0', id: 'x', result: {} }, { session });
  assert.equal(response.status, 202);
  const unknown = await post(rpc(4, 'resources/list'), { session });
  assert.equal(unknown.json.error.code, -32601);
});

test('headers: Accept must list both types (406), Content-Type must be JSON (415)', async () => {
  const { session } = await initialize();
  const onlyJson = await post(rpc(1, 'ping'), { session, headers: { accept: 'application/json' } });
  assert.equal(onlyJson.status, 406);
  const noAccept = await post(rpc(1, 'ping'), { session, headers: { accept: 'text/html' } });
  assert.equal(noAccept.status, 406);
  const text = await post(rpc(1, 'ping'), { session, headers: { 'content-type': 'text/plain' } });
  assert.equal(text.status, 415);
});

test('sessions: required, unknown and malformed -> 404, initialize with one -> 400, DELETE ends it', async () => {
  const missing = await post(rpc(1, 'ping'));
  assert.equal(missing.status, 400);
  const unknown = await post(rpc(1, 'ping'), { session: 'a'.repeat(64) });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, -32001);
  const malformed = await post(rpc(1, 'ping'), { session: 'not a session, "; DROP' });
  assert.equal(malformed.status, 404);
  const { session } = await initialize();
  const again = await post(rpc(1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } }), { session });
  assert.equal(again.status, 400);
  const del = await fetch(`${BASE}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}`, 'mcp-session-id': session } });
  assert.equal(del.status, 204);
  const after = await post(rpc(2, 'ping'), { session });
  assert.equal(after.status, 404);
  assert.equal(after.json.error.code, -32001);
  const delAgain = await fetch(`${BASE}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}`, 'mcp-session-id': session } });
  assert.equal(delAgain.status, 404);
  const delNone = await fetch(`${BASE}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(delNone.status, 400);
});

test('protocol version header: unsupported -> 400, missing is fine, newer session-less -> 400 -32000', async () => {
  const { session } = await initialize('2025-06-18');
  assert.equal((await post(rpc(1, 'ping'), { session, headers: { 'mcp-protocol-version': '2025-06-18' } })).status, 200);
  assert.equal((await post(rpc(1, 'ping'), { session })).status, 200);
  const bad = await post(rpc(1, 'ping'), { session, headers: { 'mcp-protocol-version': '1999-01-01' } });
  assert.equal(bad.status, 400);
  const newer = await post(rpc(1, 'ping'), { headers: { 'mcp-protocol-version': '2026-07-28' } });
  assert.equal(newer.status, 400);
  assert.equal(newer.json.error.code, -32000);
});

test('methods, CORS preflight and the Origin guard', async () => {
  const get = await fetch(`${BASE}/mcp`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' } });
  assert.equal(get.status, 405);
  assert.ok(get.headers.get('allow').includes('POST'));
  const put = await fetch(`${BASE}/mcp`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(put.status, 405);
  assert.ok(put.headers.get('allow').includes('DELETE'));
  const pre = await fetch(`${BASE}/mcp`, { method: 'OPTIONS', headers: { origin: BASE, 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), BASE);
  for (const h of ['authorization', 'content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version']) {
    assert.ok(pre.headers.get('access-control-allow-headers').toLowerCase().includes(h), h);
  }
  assert.ok(pre.headers.get('access-control-expose-headers').includes('Mcp-Session-Id'));
  assert.ok(pre.headers.get('access-control-expose-headers').includes('WWW-Authenticate'));
  const evil = await post(rpc(1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } }), { headers: { origin: 'http://evil.example' } });
  assert.equal(evil.status, 403);
  const same = await post(rpc(1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } }), { headers: { origin: BASE } });
  assert.equal(same.status, 200);
  assert.equal(same.headers.get('access-control-allow-origin'), BASE);
});

test('auth: 401 names the protected-resource metadata, which is served', async () => {
  const r = await post(rpc(1, 'ping'), { token: null });
  assert.equal(r.status, 401);
  const www = r.headers.get('www-authenticate');
  assert.match(www, /^Bearer resource_metadata="(.+)"$/);
  const url = www.match(/"(.+)"/)[1];
  assert.ok(url.endsWith('/.well-known/oauth-protected-resource/mcp'));
  for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
    const m = await fetch(`${BASE}${path}`);
    assert.equal(m.status, 200);
    const meta = await m.json();
    assert.ok(meta.resource.endsWith('/mcp'), JSON.stringify(meta));
    assert.deepEqual(meta.bearer_methods_supported, ['header']);
  }
  assert.equal((await post(rpc(1, 'ping'), { token: 'wrong' })).status, 401);
});

test('tools over raw JSON-RPC: list, call, operation errors, bad arguments', async () => {
  const { session } = await initialize();
  const call = async (name, args, id = 1) => (await post(rpc(id, 'tools/call', { name, arguments: args }), { session })).json;
  const list = (await post(rpc(1, 'tools/list'), { session })).json.result.tools;
  assert.ok(list.length >= 14);
  for (const t of list) {
    assert.equal(t.inputSchema.type, 'object');
    assert.equal(t.inputSchema.additionalProperties, false, t.name);
    assert.ok(t.outputSchema && t.title && t.annotations, t.name);
  }
  const created = await call('create_project', { name: 'raw mcp' });
  assert.equal(created.result.isError, false);
  const project = created.result.structuredContent.project;
  assert.deepEqual(JSON.parse(created.result.content[0].text), created.result.structuredContent, 'text mirrors structured');
  const dep = await call('deploy', { project: project.slug, files: { '/index.html': { text: 'raw one' }, '/b.bin': { base64: 'AAEC' } } });
  assert.equal(dep.result.isError, false, JSON.stringify(dep));
  assert.equal(dep.result.structuredContent.status, 'completed');
  assert.equal((await visit(`/__project/${project.slug}/`)).body, 'raw one');
  // wait: false answers at once; get_deployment polls it.
  const quick = await call('deploy', { project: project.slug, files: { '/index.html': { text: 'raw two' } }, wait: false });
  const depId = quick.result.structuredContent.deploymentId;
  let status = quick.result.structuredContent.status;
  for (let i = 0; i < 100 && !['completed', 'failed'].includes(status); i++) {
    await new Promise((r) => setTimeout(r, 200));
    status = (await call('get_deployment', { deployment: depId })).result.structuredContent.deployment.status;
  }
  assert.equal(status, 'completed');
  const logs = await call('get_deployment_logs', { deployment: depId, limit: 3 });
  assert.equal(logs.result.structuredContent.lines.length, 3);
  assert.equal(typeof logs.result.structuredContent.nextCursor, 'number');
  const rb = await call('rollback', { project: project.slug });
  assert.equal(rb.result.isError, false, JSON.stringify(rb));
  assert.equal((await visit(`/__project/${project.slug}/`)).body, 'raw one');
  // Operation failures are results the agent can read, not protocol errors.
  const missing = await call('get_project', { project: 'no-such-project' });
  assert.equal(missing.result.isError, true);
  assert.match(missing.result.content[0].text, /not found/i);
  const badFile = await call('deploy', { project: project.slug, files: { '/x': { base64: '%%%' } } });
  assert.equal(badFile.result.isError, true);
  const badPath = await call('get_project', { project: '../x' });
  assert.equal(badPath.result.isError, true);
  // Schema violations and unknown tools are -32602.
  assert.equal((await call('get_project', {})).error.code, -32602);
  assert.equal((await call('get_project', { project: 'p', extra: true })).error.code, -32602);
  assert.equal((await call('no_such_tool', {})).error.code, -32602);
  const del = await call('delete_project', { project: project.id });
  assert.equal(del.result.isError, false);
  assert.equal((await visit(`/__project/${project.slug}/`)).status, 404);
});
