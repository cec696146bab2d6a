// Scoped API tokens over real HTTP: the secret is shown once and stored only as a hash; scopes
// and project grants are enforced on every endpoint (403 naming what is missing); expired and
// revoked tokens get 401 at once; an upload can be finished only by the principal that opened
// it; tokens cannot mint stronger tokens; every mutating call leaves one audit row (refused ones
// too) and no secret ever appears in it; MCP sessions belong to the principal that opened them.
// Revocation cascades down the chain of minting tokens, and a token whose ancestor is revoked or
// expired is refused even where the cascade did not reach.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, TOKEN, api, call, freshProject, expectError } from '../lib/client.mjs';
import { prepare, deploySite, visit, sleep } from '../lib/site.mjs';
import { ROOT } from '../lib/server.mjs';

const createToken = (body, token = TOKEN) => call('POST', '/__api/tokens', { body, token });

async function mint(body, token = TOKEN) {
  const r = await createToken({ name: 'test', ...body }, token);
  assert.equal(r.status, 201, r.text);
  return r.body;
}

/** Three-phase upload with an explicit API token; returns { jwt, session }. */
async function uploadAs(token, projectId, files) {
  const { manifest, bodies } = prepare(files);
  const s = await api.uploadSession(projectId, manifest, { token });
  if (s.status !== 200) return { status: s.status, res: s };
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await api.upload(projectId, s.body.result.jwt, Object.fromEntries(b.map((h) => [h, bodies[h]])));
    if (r.status !== 200) return { status: r.status, res: r };
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  return { status: 200, jwt, uploadJwt: s.body.result.jwt, buckets: s.body.result.buckets, bodies };
}

/** One SQL statement on the running Worker's local D1 (what a half-done write leaves behind). */
function d1Local(sql) {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    'd1', 'execute', 'DB', '--command', sql, '--local', '--persist-to', process.env.FLOTILLA_STATE_DIR],
  { cwd: ROOT, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

/** root -> A -> B -> C, all for project `p`, A and B admin, C read-only. */
async function chain(p, label) {
  const a = await mint({ name: `${label} A`, projects: [p.id], scopes: ['admin'] });
  const b = await mint({ name: `${label} B`, projects: [p.id], scopes: ['admin'] }, a.secret);
  const c = await mint({ name: `${label} C`, projects: [p.id], scopes: ['read'] }, b.secret);
  return { a, b, c };
}

function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

test('a token is shown once, stored only as a hash, listed without its secret', async () => {
  const p = await freshProject('tok-store');
  const { token, secret, note } = await mint({ projects: [p.slug], scopes: ['read'] });
  assert.match(secret, /^flt_[0-9a-f]{48}$/);
  assert.match(token.id, /^tok_[0-9a-f]{16}$/);
  assert.deepEqual(token.projects, [p.id], 'slugs resolve to ids');
  assert.deepEqual(token.scopes, ['read']);
  assert.equal(token.status, 'active');
  assert.match(note, /only once/);
  assert.equal(token.hint, secret.slice(0, 10));
  const list = await call('GET', '/__api/tokens');
  assert.equal(list.status, 200);
  assert.ok(list.body.tokens.some((t) => t.id === token.id));
  assert.ok(!list.text.includes(secret), 'listing never shows a secret');
  // Nothing the platform stores locally contains the secret (D1 holds its SHA-256 only).
  const state = process.env.FLOTILLA_STATE_DIR;
  if (state) {
    for (const f of filesUnder(state)) {
      assert.ok(!readFileSync(f).includes(secret), `secret found in ${f}`);
    }
  }
  // The secret works as a bearer token; a near miss does not.
  assert.equal((await api.getProject(p.id, { token: secret })).status, 200);
  const near = secret.slice(0, -1) + (secret.endsWith('0') ? '1' : '0');
  expectError(assert, await api.getProject(p.id, { token: near }), 401, 'unauthorized');
});

test('bad token bodies are 400s naming the field', async () => {
  const cases = [
    [{ projects: '*', scopes: ['read'] }, 'name'],
    [{ name: 'x', projects: [], scopes: ['read'] }, 'projects'],
    [{ name: 'x', projects: ['no-such-project'], scopes: ['read'] }, 'projects'],
    [{ name: 'x', projects: '*', scopes: ['superuser'] }, 'scopes'],
    [{ name: 'x', projects: '*', scopes: ['read'], expiresAt: '2001-01-01T00:00:00Z' }, 'expiresAt'],
    [{ name: 'x', projects: '*', scopes: ['read'], expiresAt: 'soon' }, 'expiresAt'],
  ];
  for (const [body, field] of cases) expectError(assert, await createToken(body), 400, 'bad_request', field);
});

test('a read-only token reads but cannot deploy, manage or create', async () => {
  const p = await freshProject('tok-read');
  await deploySite(p.id, { '/index.html': 'hello' });
  const { secret } = await mint({ projects: [p.id], scopes: ['read'] });
  assert.equal((await api.getProject(p.id, { token: secret })).status, 200);
  const deps = await api.listDeployments(p.id, { token: secret });
  assert.equal(deps.status, 200);
  assert.equal((await api.getDeployment(deps.body.deployments[0].id, { token: secret })).status, 200);
  const { manifest } = prepare({ '/x.html': 'x' });
  const s = expectError(assert, await api.uploadSession(p.id, manifest, { token: secret }), 403, 'forbidden');
  assert.match(s.message, /`deploy` scope/);
  const d = expectError(assert, await api.deploy(p.id, { completionJwt: 'x' }, { token: secret }), 403, 'forbidden');
  assert.match(d.message, /`deploy` scope/);
  const m = expectError(assert, await api.updateProject(p.id, { name: 'renamed' }, { token: secret }), 403, 'forbidden');
  assert.match(m.message, /`manage` scope/);
  expectError(assert, await api.deleteProject(p.id, { token: secret }), 403, 'forbidden');
  expectError(assert, await api.createProject({ name: 'nope' }, { token: secret }), 403, 'forbidden');
  const t = expectError(assert, await createToken({ name: 'x', projects: [p.id], scopes: ['read'] }, secret), 403, 'forbidden');
  assert.match(t.message, /`admin` scope/);
  expectError(assert, await call('GET', '/__api/audit', { token: secret }), 403, 'forbidden');
  const link = expectError(assert, await call('POST', `/__api/deployments/${deps.body.deployments[0].id}/preview-link`, { body: {}, token: secret }), 403, 'forbidden');
  assert.match(link.message, /`deploy` scope/);
});

test('a token for project A can neither see nor touch project B', async () => {
  const a = await freshProject('tok-a');
  const b = await freshProject('tok-b');
  const { deploy: bDeploy } = await deploySite(b.id, { '/secret.txt': 'b only' });
  const { secret } = await mint({ projects: [a.id], scopes: ['manage'] });
  // It deploys A end to end: session, bucket upload, deploy, served.
  const up = await uploadAs(secret, a.id, { '/index.html': 'made by the A token' });
  assert.equal(up.status, 200);
  const d = await api.deploy(a.id, { completionJwt: up.jwt }, { token: secret });
  assert.equal(d.status, 200, d.text);
  assert.equal((await visit(`/__project/${a.slug}/`)).body, 'made by the A token');
  // Listing shows A only.
  const list = await api.listProjects('?limit=100', { token: secret });
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.projects.map((x) => x.id), [a.id]);
  // B, by id or slug, on every kind of endpoint.
  for (const key of [b.id, b.slug]) {
    const r = expectError(assert, await api.getProject(key, { token: secret }), 403, 'forbidden');
    assert.match(r.message, /not granted project/);
    expectError(assert, await api.listDeployments(key, { token: secret }), 403, 'forbidden');
    expectError(assert, await api.updateProject(key, { enabled: false }, { token: secret }), 403, 'forbidden');
    expectError(assert, await api.rollback(key, {}, { token: secret }), 403, 'forbidden');
    expectError(assert, await api.deleteProject(key, { token: secret }), 403, 'forbidden');
    expectError(assert, await call('POST', `/__api/projects/${key}/domains`, { body: { hostname: 'evil.example.com' }, token: secret }), 403, 'forbidden');
    expectError(assert, await call('GET', `/__api/projects/${key}/domains`, { token: secret }), 403, 'forbidden');
    const { manifest } = prepare({ '/evil.html': 'evil' });
    expectError(assert, await api.uploadSession(key, manifest, { token: secret }), 403, 'forbidden');
  }
  const depId = bDeploy.deployment.id;
  expectError(assert, await api.getDeployment(depId, { token: secret }), 403, 'forbidden');
  expectError(assert, await api.deploymentLogs(depId, '', { token: secret }), 403, 'forbidden');
  expectError(assert, await api.promote(depId, { token: secret }), 403, 'forbidden');
  expectError(assert, await call('POST', `/__api/deployments/${depId}/preview-link`, { body: {}, token: secret }), 403, 'forbidden');
  // A project-scoped token cannot create projects or mint a wider token.
  const c = expectError(assert, await api.createProject({ name: 'x' }, { token: secret }), 403, 'forbidden');
  assert.match(c.message, /creating projects/);
  // B is still intact and served.
  assert.equal((await api.getProject(b.id)).body.project.enabled, true);
  assert.equal((await visit(`/__project/${b.slug}/secret.txt`)).body, 'b only');
});

test('tokens mint only weaker tokens', async () => {
  const a = await freshProject('mint-a');
  const b = await freshProject('mint-b');
  const { token: me, secret } = await mint({ projects: [a.id], scopes: ['admin'] });
  const child = await createToken({ name: 'child', projects: [a.slug], scopes: ['deploy'] }, secret);
  assert.equal(child.status, 201, child.text);
  assert.equal(child.body.token.createdBy.startsWith('tok_'), true);
  expectError(assert, await createToken({ name: 'wide', projects: '*', scopes: ['read'] }, secret), 403, 'forbidden');
  // B is invisible to it: to this token it does not exist.
  expectError(assert, await createToken({ name: 'b', projects: [b.id], scopes: ['read'] }, secret), 400, 'bad_request', 'projects');
  const { secret: deployer } = await mint({ projects: '*', scopes: ['manage'] });
  expectError(assert, await createToken({ name: 'up', projects: '*', scopes: ['admin'] }, deployer), 403, 'forbidden');
  // The admin token lists itself and what it minted, not the root's other tokens.
  const list = await call('GET', '/__api/tokens', { token: secret });
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.tokens.map((t) => t.id).sort(), [me.id, child.body.token.id].sort(), list.text);
  // It can revoke what it minted, not the root's tokens.
  const { token: rootOwned } = await mint({ projects: [a.id], scopes: ['read'] });
  expectError(assert, await call('DELETE', `/__api/tokens/${rootOwned.id}`, { token: secret }), 404, 'not_found');
  assert.equal((await call('DELETE', `/__api/tokens/${child.body.token.id}`, { token: secret })).status, 200);
});

test('an expired and a revoked token get 401 at once', async () => {
  const p = await freshProject('tok-expire');
  const soon = new Date(Date.now() + 2500).toISOString();
  const { secret: expiring } = await mint({ projects: '*', scopes: ['read'], expiresAt: soon });
  assert.equal((await api.getProject(p.id, { token: expiring })).status, 200);
  const { token, secret: revoked } = await mint({ projects: '*', scopes: ['read'] });
  assert.equal((await api.getProject(p.id, { token: revoked })).status, 200);
  const del = await call('DELETE', `/__api/tokens/${token.id}`);
  assert.equal(del.status, 200, del.text);
  assert.equal(del.body.token.status, 'revoked');
  const r = expectError(assert, await api.getProject(p.id, { token: revoked }), 401, 'unauthorized');
  assert.match(r.message, /revoked/);
  expectError(assert, await call('DELETE', '/__api/tokens/tok_0000000000000000'), 404, 'not_found');
  await sleep(3000);
  const e = expectError(assert, await api.getProject(p.id, { token: expiring }), 401, 'unauthorized');
  assert.match(e.message, /expired/);
  const listed = (await call('GET', '/__api/tokens')).body.tokens;
  assert.equal(listed.find((t) => t.id === token.id).status, 'revoked');
});

test('an upload can be finished only by the principal that started it', async () => {
  const p = await freshProject('tok-upload');
  const { secret: mine } = await mint({ projects: [p.id], scopes: ['deploy'] });
  const { secret: other } = await mint({ projects: [p.id], scopes: ['deploy'] });
  const up = await uploadAs(mine, p.id, { '/index.html': 'started by mine' });
  assert.equal(up.status, 200);
  const byOther = expectError(assert, await api.deploy(p.id, { completionJwt: up.jwt }, { token: other }), 403, 'forbidden');
  assert.match(byOther.message, /another principal/);
  expectError(assert, await api.deploy(p.id, { completionJwt: up.jwt }), 403, 'forbidden');
  const ok = await api.deploy(p.id, { completionJwt: up.jwt }, { token: mine });
  assert.equal(ok.status, 200, ok.text);
  // Root-started uploads are root's.
  const rootUp = await uploadAs(TOKEN, p.id, { '/index.html': 'started by root' });
  expectError(assert, await api.deploy(p.id, { completionJwt: rootUp.jwt }, { token: mine }), 403, 'forbidden');
  // Revoking the token that opened a session stops its bucket uploads at once.
  const { token: t3, secret: third } = await mint({ projects: [p.id], scopes: ['deploy'] });
  const { manifest, bodies } = prepare({ '/late.html': `late ${Date.now()}` });
  const s = await api.uploadSession(p.id, manifest, { token: third });
  assert.equal(s.status, 200, s.text);
  await call('DELETE', `/__api/tokens/${t3.id}`);
  const [bucket] = s.body.result.buckets;
  const late = await api.upload(p.id, s.body.result.jwt, Object.fromEntries(bucket.map((h) => [h, bodies[h]])));
  expectError(assert, late, 401, 'unauthorized');
});

test('every mutating call leaves one audit row; reads do not; secrets never appear', async () => {
  const p = await freshProject('audit');
  const { token, secret } = await mint({ projects: [p.id], scopes: ['manage'] });
  const up = await uploadAs(secret, p.id, { '/index.html': 'audited' });
  const d = await api.deploy(p.id, { completionJwt: up.jwt }, { token: secret });
  assert.equal(d.status, 200, d.text);
  assert.equal((await api.updateProject(p.id, { name: 'audited renamed' }, { token: secret })).status, 200);
  await api.getProject(p.id, { token: secret });
  expectError(assert, await api.putAlias(p.id, 'Bad Name!', d.body.deployment.id, { token: secret }), 400, 'bad_request');
  const r = await call('GET', `/__api/audit?project=${p.slug}&limit=50`);
  assert.equal(r.status, 200, r.text);
  const rows = r.body.entries;
  const mineRows = rows.filter((e) => e.principal === token.id);
  const actions = mineRows.map((e) => e.action).reverse();
  assert.deepEqual(actions, ['upload.session', 'upload.assets', 'deployment.create', 'project.update', 'alias.put'], r.text);
  for (const e of mineRows) {
    assert.equal(e.projectId, p.id);
    assert.match(e.requestId, /\S/);
    assert.ok(!Number.isNaN(Date.parse(e.at)));
  }
  const refused = mineRows.find((e) => e.action === 'alias.put');
  assert.equal(refused.status, 400);
  assert.equal(refused.outcome, 'bad_request');
  assert.equal(mineRows.find((e) => e.action === 'deployment.create').outcome, 'ok');
  const created = rows.find((e) => e.action === 'project.create');
  assert.equal(created.principal, 'root');
  // Newest first, with a cursor.
  const ids = rows.map((e) => e.id);
  assert.deepEqual(ids, [...ids].sort((x, y) => y - x));
  const page = await call('GET', `/__api/audit?project=${p.id}&limit=2`);
  assert.equal(page.body.entries.length, 2);
  const next = await call('GET', `/__api/audit?project=${p.id}&limit=2&cursor=${page.body.cursor}`);
  assert.ok(next.body.entries[0].id < page.body.entries[1].id);
  // A token's creation is audited without its secret.
  const all = await call('GET', '/__api/audit?limit=200');
  assert.ok(all.body.entries.some((e) => e.action === 'token.create' && e.detail?.tokenId === token.id));
  assert.ok(!all.text.includes(secret));
  expectError(assert, await call('GET', '/__api/audit?cursor=abc'), 400, 'bad_request', 'cursor');
  expectError(assert, await call('GET', '/__api/audit?what=1'), 400, 'bad_request', 'what');
  // A project-scoped admin token sees only its projects' rows.
  const { secret: admin } = await mint({ projects: [p.id], scopes: ['admin'] });
  const scoped = await call('GET', '/__api/audit?limit=200', { token: admin });
  assert.equal(scoped.status, 200, scoped.text);
  assert.ok(scoped.body.entries.length > 0);
  assert.ok(scoped.body.entries.every((e) => e.projectId === p.id), scoped.text);
});

test('an MCP session belongs to the principal that opened it; tools obey the token', async () => {
  const p = await freshProject('mcp-tok');
  const { secret: reader } = await mint({ projects: [p.id], scopes: ['read'] });
  const post = async (body, { session, token }) => {
    const h = { accept: 'application/json, text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${token}` };
    if (session) h['mcp-session-id'] = session;
    const res = await fetch(`${BASE}/mcp`, { method: 'POST', headers: h, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined, text };
  };
  const init = (token) => post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }, { token });
  const rootInit = await init(TOKEN);
  assert.equal(rootInit.status, 200);
  const rootSession = rootInit.headers.get('mcp-session-id');
  const stolen = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, { session: rootSession, token: reader });
  assert.equal(stolen.status, 403, stolen.text);
  // The reader's own session: reads work, writes come back as tool errors naming the scope.
  const mine = await init(reader);
  assert.equal(mine.status, 200, mine.text);
  const session = mine.headers.get('mcp-session-id');
  const callTool = (id, name, args) => post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }, { session, token: reader });
  const got = await callTool(3, 'get_project', { project: p.id });
  assert.equal(got.json.result.isError, false, got.text);
  const listed = await callTool(4, 'list_projects', {});
  assert.ok(listed.text.includes(p.id));
  const del = await callTool(5, 'delete_project', { project: p.id });
  assert.equal(del.json.result.isError, true, del.text);
  assert.match(del.json.result.content[0].text, /manage/);
  assert.equal((await api.getProject(p.id)).status, 200, 'still there');
  expectError(assert, await api.getProject(p.id, { token: 'flt_' + '0'.repeat(48) }), 401, 'unauthorized');
});

test('revoking a token revokes every token below it, and only those', async () => {
  const p = await freshProject('tok-cascade');
  const { a, b, c } = await chain(p, 'cascade');
  assert.equal(a.token.parentId, null, 'the root mints parentless tokens');
  assert.equal(b.token.parentId, a.token.id);
  assert.equal(c.token.parentId, b.token.id);
  const bystander = await mint({ projects: [p.id], scopes: ['read'] });
  const sibling = await mint({ name: 'sibling', projects: [p.id], scopes: ['read'] }, a.secret);
  // Revoking a leaf leaves its parent alone.
  const leaf = await call('DELETE', `/__api/tokens/${sibling.token.id}`);
  assert.equal(leaf.status, 200, leaf.text);
  assert.equal(leaf.body.revoked, 1, leaf.text);
  // C works while A (and B) live.
  for (const t of [a, b, c]) assert.equal((await api.getProject(p.id, { token: t.secret })).status, 200);
  const del = await call('DELETE', `/__api/tokens/${a.token.id}`);
  assert.equal(del.status, 200, del.text);
  assert.equal(del.body.revoked, 3, `A, B and C: ${del.text}`);
  assert.equal(del.body.token.status, 'revoked');
  for (const t of [a, b, c]) {
    const r = expectError(assert, await api.getProject(p.id, { token: t.secret }), 401, 'unauthorized');
    assert.match(r.message, /revoked/);
  }
  const listed = (await call('GET', '/__api/tokens')).body.tokens;
  for (const t of [a, b, c]) assert.equal(listed.find((x) => x.id === t.token.id).status, 'revoked');
  // A token of the same project minted elsewhere is untouched.
  assert.equal((await api.getProject(p.id, { token: bystander.secret })).status, 200);
  // Revoking again revokes nothing more; the audit row counts what was revoked.
  const again = await call('DELETE', `/__api/tokens/${a.token.id}`);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.revoked, 0, again.text);
  const audit = (await call('GET', '/__api/audit?limit=200')).body.entries;
  const row = audit.find((e) => e.action === 'token.revoke' && e.detail?.tokenId === a.token.id && e.detail.revoked === 3);
  assert.ok(row, 'audited with its count');
  assert.deepEqual([...row.detail.revokedIds].sort(), [a.token.id, b.token.id, c.token.id].sort());
});

test('a token whose ancestor is revoked or expired is refused even if the cascade missed it', async () => {
  const p = await freshProject('tok-chain');
  const revoked = await chain(p, 'half-revoked');
  const expired = await chain(p, 'ancestor-expired');
  for (const t of [revoked.c, expired.c]) assert.equal((await api.getProject(p.id, { token: t.secret })).status, 200);
  // What a cascade that stopped after its first row would leave: only A revoked. And an
  // ancestor whose expiry passed although its descendants' rows say otherwise.
  d1Local(`UPDATE api_tokens SET revoked_at = ${Date.now()} WHERE id = '${revoked.a.token.id}'`);
  d1Local(`UPDATE api_tokens SET expires_at = ${Date.now() - 1000} WHERE id = '${expired.a.token.id}'`);
  for (const t of [revoked.b, revoked.c]) {
    const r = expectError(assert, await api.getProject(p.id, { token: t.secret }), 401, 'unauthorized');
    assert.match(r.message, /minted by a token that has been revoked/);
  }
  for (const t of [expired.b, expired.c]) {
    const r = expectError(assert, await api.getProject(p.id, { token: t.secret }), 401, 'unauthorized');
    assert.match(r.message, /minted by a token that has expired/);
  }
  // Their rows still read active: the refusal comes from the chain check alone.
  const listed = (await call('GET', '/__api/tokens')).body.tokens;
  assert.equal(listed.find((x) => x.id === revoked.c.token.id).status, 'active');
  // Revoking A now repairs the rows the cascade had missed.
  const del = await call('DELETE', `/__api/tokens/${revoked.a.token.id}`);
  assert.equal(del.status, 200, del.text);
  assert.equal(del.body.revoked, 2, del.text);
});

test('a child cannot outlive or exceed the token that mints it', async () => {
  const p = await freshProject('tok-limits');
  const other = await freshProject('tok-limits-other');
  const inAnHour = Date.now() + 3600_000;
  const parent = await mint({ projects: [p.id], scopes: ['admin'], expiresAt: new Date(inAnHour).toISOString() });
  const ask = (body) => createToken({ name: 'child', projects: [p.id], scopes: ['read'], ...body }, parent.secret);
  const later = expectError(assert, await ask({ expiresAt: new Date(inAnHour + 60_000).toISOString() }), 403, 'forbidden');
  assert.match(later.message, /outlives it; set expiresAt no later than/);
  const forever = expectError(assert, await ask({}), 403, 'forbidden');
  assert.match(forever.message, /cannot mint one that never does/);
  const wider = expectError(assert, await ask({ projects: '*' }), 403, 'forbidden');
  assert.match(wider.message, /every project/);
  // A project the parent does not hold does not exist for it.
  expectError(assert, await ask({ projects: [p.id, other.id] }), 400, 'bad_request', 'projects');
  // A manage token asking for admin (more scope than it holds) is refused by the scope check.
  const manager = await mint({ name: 'child', projects: [p.id], scopes: ['manage'], expiresAt: new Date(inAnHour).toISOString() }, parent.secret);
  expectError(assert, await createToken({ name: 'up', projects: [p.id], scopes: ['admin'] }, manager.secret), 403, 'forbidden');
  // At or inside every limit, it mints.
  const ok = await ask({ expiresAt: new Date(inAnHour).toISOString() });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.body.token.parentId, parent.token.id);
  const listed = (await call('GET', '/__api/tokens', { token: parent.secret })).body.tokens;
  assert.ok(listed.some((t) => t.id === ok.body.token.id && t.parentId === parent.token.id));
});
