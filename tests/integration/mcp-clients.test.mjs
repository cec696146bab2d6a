// The MCP Streamable HTTP endpoint (/mcp) driven by official clients: the TypeScript SDK
// (@modelcontextprotocol/sdk), the Python SDK (PyPI `mcp`, run from a venv under target/ by
// tests/mcp/python_client.py) and the official conformance runner
// (@modelcontextprotocol/conformance), which cannot send an Authorization header and so goes
// through a small local proxy that adds the bearer token. See tests/mcp/README.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { BASE, TOKEN } from '../lib/client.mjs';
import { ROOT } from '../lib/server.mjs';
import { stub } from '../lib/stubs.mjs';
import { run, ensureVenv } from '../lib/python.mjs';
import { visit } from '../lib/site.mjs';

const MCP_URL = new URL('/mcp', BASE);
const AUTH = { authorization: `Bearer ${TOKEN}` };
const TOOLS = [
  'list_projects', 'create_project', 'get_project', 'update_project', 'delete_project', 'deploy', 'get_deployment',
  'list_deployments', 'get_deployment_logs', 'rollback', 'promote', 'set_alias', 'list_env', 'set_env',
  'add_domain', 'list_domains', 'verify_domain', 'list_kv_namespaces', 'create_kv_namespace', 'delete_kv_namespace',
  'list_sql_databases', 'create_sql_database', 'delete_sql_database', 'list_buckets', 'create_bucket', 'delete_bucket', 'get_logs',
  'tail_logs', 'get_rollout', 'start_rollout', 'control_rollout',
  'list_webhooks', 'add_webhook', 'list_webhook_deliveries',
];
// The PNG signature followed by every byte value (much of it not valid UTF-8).
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from([...Array(256).keys()])]);

/** Connects a TypeScript SDK client; `sessionId` resumes an existing session without initialize. */
async function connect({ sessionId, headers = AUTH, sent } = {}) {
  const fetchLogged = async (url, init) => {
    if (sent && typeof init?.body === 'string') sent.push(JSON.parse(init.body));
    return fetch(url, init);
  };
  const transport = new StreamableHTTPClientTransport(MCP_URL, {
    requestInit: { headers }, ...(sessionId ? { sessionId } : {}), fetch: fetchLogged,
  });
  const client = new Client({ name: 'flotilla-tests', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** Calls a tool that must succeed; checks structuredContent is mirrored as a JSON text block. */
async function callOk(client, name, args = {}) {
  const r = await client.callTool({ name, arguments: args });
  const texts = (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text);
  assert.notEqual(r.isError, true, `${name} failed: ${texts.join(' | ')}`);
  assert.equal(typeof r.structuredContent, 'object', `${name}: structuredContent missing`);
  const mirrored = texts.some((t) => { try { assert.deepEqual(JSON.parse(t), r.structuredContent); return true; } catch { return false; } });
  assert.ok(mirrored, `${name}: no text block mirrors structuredContent: ${JSON.stringify(r)}`);
  return r.structuredContent;
}

/** GET a site path on the Worker as raw bytes. */
async function served(slug, path) {
  const res = await fetch(`${BASE}/__project/${slug}${path}`, { redirect: 'manual' });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

/** A raw JSON-RPC POST to /mcp (no SDK). */
function rawPost(message, headers = {}) {
  return fetch(MCP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(message),
  });
}

const rejectsWithCode = (code) => (e) => {
  assert.ok(e instanceof McpError, `expected McpError, got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.code, code, e.message);
  return true;
};

test('TypeScript SDK: tools are listed with strict input schemas, annotations and titles', async () => {
  const { client, transport } = await connect();
  try {
    assert.equal(typeof transport.sessionId, 'string', 'initialize returned Mcp-Session-Id');
    assert.match(transport.sessionId, /^[\x21-\x7e]+$/);
    assert.ok(['2025-11-25', '2025-06-18', '2025-03-26'].includes(transport.protocolVersion), transport.protocolVersion);
    assert.ok(client.getServerCapabilities()?.tools, 'tools capability');
    assert.deepEqual(await client.ping(), {});
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    for (const name of TOOLS) {
      const t = byName[name];
      assert.ok(t, `tool ${name} listed (got ${Object.keys(byName)})`);
      assert.equal(typeof t.description, 'string', `${name}.description`);
      assert.ok(t.title || t.annotations?.title, `${name}: title`);
      assert.equal(t.inputSchema?.type, 'object', `${name}.inputSchema.type`);
      assert.equal(t.inputSchema.additionalProperties, false, `${name}.inputSchema.additionalProperties`);
      assert.equal(t.outputSchema?.type, 'object', `${name}.outputSchema`);
      assert.equal(typeof t.annotations, 'object', `${name}.annotations`);
      assert.notEqual(t.annotations, null, `${name}.annotations`);
    }
    assert.equal(byName.get_project.annotations.readOnlyHint, true, 'get_project is read-only');
    assert.equal(byName.delete_project.annotations.destructiveHint, true, 'delete_project is destructive');
  } finally {
    await transport.terminateSession();
    await client.close();
  }
});

test('TypeScript SDK: create, deploy text + binary, serve, redeploy, roll back, delete', async () => {
  const { client, transport } = await connect();
  try {
    const name = `ts mcp ${randomUUID().slice(0, 8)}`;
    const { project } = await callOk(client, 'create_project', { name });
    assert.equal(project.name, name);
    for (const k of ['id', 'slug', 'url', 'pathUrl']) assert.equal(typeof project[k], 'string', `project.${k}`);
    assert.equal(project.activeDeploymentId, null);
    assert.equal((await callOk(client, 'get_project', { project: project.slug })).project.id, project.id, 'get by slug');
    assert.equal((await callOk(client, 'get_project', { project: project.id })).project.slug, project.slug, 'get by id');
    // Settings change only where given: skew protection off and a shorter pin, name kept.
    const updated = await callOk(client, 'update_project', { project: project.slug, skewProtection: false, skewPinSeconds: 3600 });
    assert.deepEqual(
      [updated.project.name, updated.project.skewProtection, updated.project.skewPinSeconds, updated.project.skewFallbackDepth],
      [name, false, 3600, 5],
    );
    assert.equal((await callOk(client, 'get_project', { project: project.id })).project.skewProtection, false, 'kept');
    await assert.rejects(client.callTool({ name: 'update_project', arguments: { project: project.id, skewPinSeconds: 10 } }), rejectsWithCode(-32602));
    const listed = await callOk(client, 'list_projects', { limit: 100 });
    assert.ok(Array.isArray(listed.projects), 'projects array');
    assert.ok('cursor' in listed, 'cursor key');

    const d1 = await callOk(client, 'deploy', {
      project: project.id,
      files: { '/index.html': { text: '<h1>ts v1</h1>' }, '/logo.png': { base64: PNG.toString('base64') } },
    });
    assert.equal(typeof d1.deploymentId, 'string');
    assert.equal(d1.status, 'completed', JSON.stringify(d1));
    assert.equal(d1.deployment.id, d1.deploymentId);
    for (const k of ['url', 'pathUrl', 'previewUrl']) assert.equal(typeof d1[k], 'string', `deploy.${k}`);
    assert.equal((await callOk(client, 'get_deployment', { deployment: d1.deploymentId })).deployment.status, 'completed');

    const index = await served(project.slug, '/');
    assert.equal(index.status, 200);
    assert.equal(index.body.toString('utf8'), '<h1>ts v1</h1>');
    const png = await served(project.slug, '/logo.png');
    assert.equal(png.status, 200);
    assert.match(png.type ?? '', /^image\/png/);
    assert.ok(png.body.equals(PNG), `png bytes (${png.body.length})`);

    const d2 = await callOk(client, 'deploy', { project: project.slug, files: { '/index.html': { text: '<h1>ts v2</h1>' } } });
    assert.equal(d2.status, 'completed', JSON.stringify(d2));
    assert.notEqual(d2.deploymentId, d1.deploymentId);
    assert.equal((await served(project.slug, '/')).body.toString('utf8'), '<h1>ts v2</h1>');

    const deps = (await callOk(client, 'list_deployments', { project: project.slug })).deployments.map((d) => d.id);
    assert.ok(deps.includes(d1.deploymentId) && deps.includes(d2.deploymentId), JSON.stringify(deps));
    const logs = await callOk(client, 'get_deployment_logs', { deployment: d2.deploymentId });
    assert.ok(Array.isArray(logs.lines) && logs.lines.length > 0, 'log lines');
    for (const l of logs.lines) for (const k of ['id', 'at', 'level', 'step', 'message']) assert.ok(k in l, `log line ${k}`);

    const rb = await callOk(client, 'rollback', { project: project.slug });
    assert.equal(rb.activeDeploymentId, d1.deploymentId);
    assert.equal(rb.previousDeploymentId, d2.deploymentId);
    const again = await served(project.slug, '/');
    assert.equal(again.status, 200);
    assert.equal(again.body.toString('utf8'), '<h1>ts v1</h1>', 'first version served after rollback');
    assert.ok((await served(project.slug, '/logo.png')).body.equals(PNG));
    assert.equal((await callOk(client, 'get_project', { project: project.id })).project.activeDeploymentId, d1.deploymentId);

    // A gradual rollout of d2 (now not active) through the tools: started, read, aborted.
    assert.deepEqual((await callOk(client, 'get_rollout', { project: project.slug })).rollout, null);
    const started = await callOk(client, 'start_rollout', {
      project: project.slug, deploymentId: d2.deploymentId, steps: [{ percent: 10, minutes: 60 }, { percent: 100, minutes: 0 }],
    });
    assert.deepEqual([started.rollout.deploymentId, started.rollout.percent], [d2.deploymentId, 10], JSON.stringify(started));
    assert.equal((await callOk(client, 'get_rollout', { project: project.id })).rollout.status, started.rollout.status);
    const badSteps = await client.callTool({ name: 'start_rollout', arguments: { project: project.slug, deploymentId: d2.deploymentId, steps: [] } });
    assert.equal(badSteps.isError, true, 'empty steps are refused by the schema');
    const aborted = await callOk(client, 'control_rollout', { project: project.slug, action: 'abort' });
    assert.equal(aborted.rollout.status, 'aborted', JSON.stringify(aborted));
    assert.equal(aborted.activeDeploymentId, d1.deploymentId);

    // A custom domain through the tools: pending, refused before its TXT exists, then active.
    const hostname = `mcp-${randomUUID().slice(0, 8)}.example.com`;
    const { domain } = await callOk(client, 'add_domain', { project: project.slug, hostname });
    assert.equal(domain.status, 'pending');
    assert.equal(domain.verification.name, `_flotilla-challenge.${hostname}`);
    const early = await client.callTool({ name: 'verify_domain', arguments: { project: project.slug, hostname } });
    assert.equal(early.isError, true, JSON.stringify(early));
    assert.match(early.content[0].text, /NXDOMAIN/);
    await stub.setTxt(domain.verification.name, [JSON.stringify(domain.verification.value)]);
    const verified = await callOk(client, 'verify_domain', { project: project.slug, hostname });
    assert.equal(verified.domain.status, 'active');
    const listedDomains = await callOk(client, 'list_domains', { project: project.id });
    assert.deepEqual(listedDomains.domains.map((d) => [d.hostname, d.status]), [[hostname, 'active']]);
    assert.equal((await visit('/', { host: hostname })).body, '<h1>ts v1</h1>', 'served on the custom domain');

    const del = await callOk(client, 'delete_project', { project: project.id });
    assert.deepEqual(del.deleted, { id: project.id, slug: project.slug });
    assert.equal((await visit('/', { host: hostname })).status, 404, 'the domain stops with the project');
    const gone = await client.callTool({ name: 'get_project', arguments: { project: project.id } });
    assert.equal(gone.isError, true, 'deleted project is gone');
    assert.equal((await served(project.slug, '/')).status, 404);
  } finally {
    await transport.terminateSession();
    await client.close();
  }
});

test('TypeScript SDK: failed operations are isError results; unknown tools and bad arguments are -32602', async () => {
  const { client, transport } = await connect();
  try {
    const missing = await client.callTool({ name: 'get_project', arguments: { project: `no-such-${randomUUID().slice(0, 8)}` } });
    assert.equal(missing.isError, true, JSON.stringify(missing));
    const text = missing.content.find((c) => c.type === 'text')?.text;
    assert.ok(typeof text === 'string' && text.length > 0, 'error message text');
    const noDep = await client.callTool({ name: 'get_deployment', arguments: { deployment: `no-such-${randomUUID()}` } });
    assert.equal(noDep.isError, true, JSON.stringify(noDep));

    await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), rejectsWithCode(-32602));
    await assert.rejects(client.callTool({ name: 'get_project', arguments: {} }), rejectsWithCode(-32602), 'missing required');
    await assert.rejects(client.callTool({ name: 'create_project', arguments: { bogus: 1 } }), rejectsWithCode(-32602), 'additionalProperties');
    await assert.rejects(client.callTool({ name: 'list_projects', arguments: { limit: 'ten' } }), rejectsWithCode(-32602), 'wrong type');
  } finally {
    await transport.terminateSession();
    await client.close();
  }
});

test('TypeScript SDK: a second client resumes the session by id; terminating it makes the id unknown (404)', async () => {
  const first = await connect();
  const sessionId = first.transport.sessionId;
  const protocolVersion = first.transport.protocolVersion;
  assert.equal(typeof sessionId, 'string');
  const sent = [];
  const second = await connect({ sessionId, sent });
  try {
    second.transport.setProtocolVersion(protocolVersion);
    const { project } = await callOk(second.client, 'create_project', { name: `resume ${randomUUID().slice(0, 8)}` });
    assert.equal((await callOk(second.client, 'get_project', { project: project.id })).project.slug, project.slug);
    assert.equal(second.transport.sessionId, sessionId, 'same session');
    assert.deepEqual(sent.map((m) => m.method), ['tools/call', 'tools/call'], 'no re-initialize');

    await first.transport.terminateSession();
    assert.equal(first.transport.sessionId, undefined);
    const r = await rawPost({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} },
      { ...AUTH, 'mcp-session-id': sessionId, 'mcp-protocol-version': protocolVersion });
    assert.equal(r.status, 404, await r.text());
    await assert.rejects(second.client.callTool({ name: 'list_projects', arguments: {} }), 'resumed client sees the session gone');
  } finally {
    await first.client.close();
    await second.client.close();
  }
});

test('raw HTTP: bearer token required (401 + WWW-Authenticate), GET is 405, DELETE is 204', async () => {
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  const noAuth = await rawPost(init);
  assert.equal(noAuth.status, 401, await noAuth.text());
  assert.match(noAuth.headers.get('www-authenticate') ?? '', /^Bearer .*resource_metadata="[^"]+"/);
  assert.equal((await rawPost(init, { authorization: 'Bearer wrong' })).status, 401);
  await assert.rejects(connect({ headers: {} }), 'SDK client without token cannot connect');

  const ok = await rawPost(init, AUTH);
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('content-type') ?? '', /^application\/json/);
  const body = await ok.json();
  assert.equal(body.result.protocolVersion, '2025-11-25');
  const sid = ok.headers.get('mcp-session-id');
  assert.ok(sid, 'Mcp-Session-Id');
  const h = { ...AUTH, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  const initialized = await rawPost({ jsonrpc: '2.0', method: 'notifications/initialized' }, h);
  assert.equal(initialized.status, 202, await initialized.text());
  const get = await fetch(MCP_URL, { method: 'GET', headers: { ...h, accept: 'text/event-stream' } });
  assert.equal(get.status, 405);
  const del = await fetch(MCP_URL, { method: 'DELETE', headers: h });
  assert.equal(del.status, 204, await del.text());
  assert.equal((await rawPost({ jsonrpc: '2.0', id: 2, method: 'ping' }, h)).status, 404);
});

// ---------- Python SDK ----------

const REQUIREMENTS = join(ROOT, 'tests', 'mcp', 'requirements.txt');

/** Creates target/mcp-venv with the pinned `mcp` once; reuses it while that version imports. */
async function ensureMcpVenv() {
  const pin = readFileSync(REQUIREMENTS, 'utf8').match(/^mcp==(\S+)$/m)[1];
  return ensureVenv('mcp-venv', REQUIREMENTS, `import importlib.metadata as m, mcp.client.streamable_http; assert m.version("mcp") == "${pin}"`);
}

test('Python SDK: connect, list tools, deploy inline files, serve, roll back, terminate', { timeout: 420_000 }, async () => {
  const py = await ensureMcpVenv();
  const r = await run(py, [join(ROOT, 'tests', 'mcp', 'python_client.py')], {
    env: { ...process.env, FLOTILLA_URL: BASE, FLOTILLA_TOKEN: TOKEN, PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.equal(r.code, 0, `python_client.py exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const s = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.ok(['2025-11-25', '2025-06-18', '2025-03-26'].includes(s.protocolVersion), s.protocolVersion);
  assert.equal(typeof s.sessionId, 'string');
  for (const t of TOOLS) assert.ok(s.tools.includes(t), `python saw tool ${t}`);
  assert.equal(s.servedV1, true);
  assert.equal(s.deployments.length, 2);
  assert.deepEqual(s.rollback, { activeDeploymentId: s.deployments[0], previousDeploymentId: s.deployments[1] });
  assert.equal(s.unknownProjectIsError, true);
  assert.equal(s.unknownToolCode, -32602);
  assert.equal(s.deleteStatuses.length, 1);
  assert.ok(s.deleteStatuses[0] >= 200 && s.deleteStatuses[0] < 300, String(s.deleteStatuses));
  assert.equal(s.afterTerminateStatus, 404);
  // Cross-check from node what the Python client left behind: the rolled-back-to first version.
  const index = await served(s.project.slug, '/');
  assert.equal(index.status, 200);
  assert.equal(index.body.toString('utf8'), '<h1>python v1</h1>');
  assert.ok((await served(s.project.slug, '/logo.png')).body.equals(PNG), 'python-deployed png bytes');
});

// ---------- Official conformance scenarios ----------
// The conformance CLI has no option to send headers, so it talks to this proxy, which forwards
// every request to the Worker unchanged (method, path, headers, body) and adds the bearer token.
// A Host naming the proxy itself becomes the Worker's host; any other Host (the DNS-rebinding
// scenario sends `evil.example.com`) and every Origin are passed through verbatim.

let proxy;
let proxyUrl;
const proxyLog = [];

before(async () => {
  const upstream = new URL(BASE);
  proxy = http.createServer((req, res) => {
    const headers = { ...req.headers };
    if (headers.host === proxyUrl.host) headers.host = upstream.host;
    if (!headers.authorization) headers.authorization = AUTH.authorization;
    const entry = { method: req.method, path: req.url, host: req.headers.host, origin: req.headers.origin, session: req.headers['mcp-session-id'] };
    proxyLog.push(entry);
    const up = http.request({ hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (ur) => {
      entry.status = ur.statusCode;
      res.writeHead(ur.statusCode, ur.rawHeaders);
      ur.pipe(res);
    });
    up.on('error', (e) => { entry.status = 502; res.writeHead(502).end(String(e)); });
    req.pipe(up);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = new URL(`http://127.0.0.1:${proxy.address().port}`);
});

after(() => new Promise((r) => {
  if (!proxy) return r();
  proxy.close(r);
  proxy.closeAllConnections();
}));

const CONFORMANCE = join(ROOT, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

/** Runs one server scenario at spec 2025-11-25 through the proxy; returns its checks. */
async function conformance(scenario) {
  const out = mkdtempSync(join(tmpdir(), `flotilla-conformance-${scenario}-`));
  const from = proxyLog.length;
  // Async spawn: the proxy lives in this process, so the event loop must keep running.
  const r = await run(process.execPath, [
    CONFORMANCE, 'server', '--url', new URL('/mcp', proxyUrl).href, '--scenario', scenario,
    '--spec-version', '2025-11-25', '--timeout', '30000', '-o', out,
  ], { timeoutMs: 90_000 });
  const dirs = readdirSync(out);
  const report = `exit ${r.code}\n${r.stdout}\n${r.stderr}\nrequests: ${JSON.stringify(proxyLog.slice(from), null, 1)}`;
  assert.equal(dirs.length, 1, `one results folder in ${out}\n${report}`);
  const checks = JSON.parse(readFileSync(join(out, dirs[0], 'checks.json'), 'utf8'));
  return { code: r.code, checks, report };
}

const SCENARIOS = {
  'server-initialize': ['server-initialize', 'server-session-id-visible-ascii', 'wire-schema-valid'],
  'server-session-lifecycle': ['server-session-initialized-accepted', 'server-session-delete-accepted', 'server-session-terminated-returns-404'],
  ping: ['ping', 'wire-schema-valid'],
  'tools-list': ['tools-list', 'tools-name-format', 'wire-schema-valid'],
  'dns-rebinding-protection': ['localhost-host-rebinding-rejected', 'localhost-host-valid-accepted'],
};

for (const [scenario, required] of Object.entries(SCENARIOS)) {
  test(`conformance: ${scenario}`, { timeout: 120_000 }, async () => {
    const { code, checks, report } = await conformance(scenario);
    const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
    assert.deepEqual(bad.map((c) => `${c.id}: ${c.errorMessage ?? ''}`), [], report);
    for (const id of required) {
      assert.equal(checks.find((c) => c.id === id)?.status, 'SUCCESS', `${id} must be SUCCESS\n${report}`);
    }
    assert.equal(code, 0, report);
  });
}

test('TypeScript SDK: KV namespaces through the tools, bound by a deploy', async () => {
  const { client, transport } = await connect();
  try {
    const title = `mcp-${randomUUID().slice(0, 8)}`;
    const { namespace } = await callOk(client, 'create_kv_namespace', { title });
    assert.equal(namespace.title, title);
    const listed = await callOk(client, 'list_kv_namespaces', { limit: 100 });
    assert.ok(listed.namespaces.some((n) => n.id === namespace.id), JSON.stringify(listed));
    const { project } = await callOk(client, 'create_project', { name: 'mcp kv' });
    const code = 'export default { async fetch(req, env) { await env.CACHE.put("k", "from kv"); return new Response(await env.CACHE.get("k")); } };';
    const d = await callOk(client, 'deploy', {
      project: project.id,
      files: { '/index.html': { text: 'static' } },
      serverCode: { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(code).toString('base64') } },
      run_worker_first: true,
      config: { bindings: [{ type: 'kv', name: 'CACHE', id: namespace.id }] },
    });
    assert.equal(d.status, 'completed', JSON.stringify(d));
    assert.equal((await served(project.slug, '/')).body.toString('utf8'), 'from kv');
    // Bound by the live deployment: refused, as over HTTP.
    const refused = await client.callTool({ name: 'delete_kv_namespace', arguments: { namespace: namespace.id } });
    assert.equal(refused.isError, true, JSON.stringify(refused));
    const traversal = await client.callTool({ name: 'delete_kv_namespace', arguments: { namespace: '../projects' } });
    assert.equal(traversal.isError, true, JSON.stringify(traversal));
    await callOk(client, 'delete_project', { project: project.id });
    const del = await callOk(client, 'delete_kv_namespace', { namespace: namespace.id });
    assert.deepEqual(del.deleted, { id: namespace.id, title });
    assert.deepEqual(del.keys, { removed: 1, more: false });
  } finally {
    await transport.terminateSession();
    await client.close();
  }
});

test('TypeScript SDK: a bucket bound by a deploy, and the logs of the code that used it', async () => {
  const { client, transport } = await connect();
  try {
    const name = `mcp-${randomUUID().slice(0, 8)}`;
    const { bucket } = await callOk(client, 'create_bucket', { name });
    assert.equal(bucket.name, name);
    assert.ok((await callOk(client, 'list_buckets', { limit: 100 })).buckets.some((b) => b.id === bucket.id));
    const { project } = await callOk(client, 'create_project', { name: 'mcp bucket' });
    const code = `export default { async fetch(req, env) {
      await env.FILES.put('a.txt', 'from r2');
      console.log('stored a.txt');
      if (new URL(req.url).pathname === '/fail') throw new Error('mcp boom');
      return new Response(await (await env.FILES.get('a.txt')).text());
    } };`;
    const d = await callOk(client, 'deploy', {
      project: project.id,
      files: { '/index.html': { text: 'static' } },
      serverCode: { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(code).toString('base64') } },
      run_worker_first: true,
      config: { bindings: [{ type: 'bucket', name: 'FILES', id: bucket.id }] },
    });
    assert.equal(d.status, 'completed', JSON.stringify(d));
    assert.equal((await served(project.slug, '/')).body.toString('utf8'), 'from r2');
    await served(project.slug, '/fail');
    let errors;
    for (let i = 0; i < 50; i++) {
      errors = await callOk(client, 'get_logs', { project: project.id, status: 'error' });
      if (errors.count > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(errors.logs[0].exceptions[0].message, 'mcp boom', JSON.stringify(errors));
    assert.equal(errors.logs[0].logs[0].message, 'stored a.txt');
    // tail_logs: only the runs of its window, filtered, oldest first.
    const watching = callOk(client, 'tail_logs', { project: project.id, seconds: 4, q: 'stored' });
    await new Promise((r) => setTimeout(r, 1000));
    await served(project.slug, '/live-1');
    await served(project.slug, '/live-2');
    const tailed = await watching;
    const paths = tailed.logs.map((l) => new URL(l.request.url).pathname);
    assert.deepEqual(paths, ['/live-1', '/live-2'], JSON.stringify(tailed));
    assert.equal(tailed.truncated, false);
    assert.equal(tailed.projectId, project.id);
    const bad = await client.callTool({ name: 'get_logs', arguments: { project: project.id, status: 'teapot' } });
    assert.equal(bad.isError, true, JSON.stringify(bad));
    const refused = await client.callTool({ name: 'delete_bucket', arguments: { bucket: bucket.id } });
    assert.equal(refused.isError, true, 'bound by the live deployment');
    await callOk(client, 'delete_project', { project: project.id });
    const del = await callOk(client, 'delete_bucket', { bucket: bucket.id });
    assert.deepEqual(del.deleted, { id: bucket.id, name });
    assert.deepEqual(del.objects, { removed: 1, more: false });
  } finally {
    await transport.terminateSession();
    await client.close();
  }
});

test('TypeScript SDK: webhook tools add a hook (secret shown once), list it and read its deliveries', async () => {
  const { client, transport } = await connect();
  try {
    const { project } = await callOk(client, 'create_project', { name: 'mcp hooks' });
    const url = 'https://hooks.example.com/mcp';
    const { webhook } = await callOk(client, 'add_webhook', { project: project.id, url, events: ['deployment.failed'] });
    assert.match(webhook.secret, /^whsec_/);
    assert.deepEqual([webhook.url, webhook.events], [url, ['deployment.failed']]);
    const { webhooks } = await callOk(client, 'list_webhooks', { project: project.slug });
    assert.deepEqual(webhooks.map((w) => [w.id, w.secret]), [[webhook.id, undefined]]);
    const log = await callOk(client, 'list_webhook_deliveries', { project: project.id, webhook: webhook.id });
    assert.deepEqual(log.deliveries, []);
    const bad = await client.callTool({ name: 'add_webhook', arguments: { project: project.id, url: 'http://example.com/' } });
    assert.equal(bad.isError, true, JSON.stringify(bad));
    await callOk(client, 'delete_project', { project: project.id });
  } finally {
    await transport.terminateSession();
    await client.close();
  }
});
