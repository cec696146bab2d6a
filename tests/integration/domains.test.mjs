// Verified custom domains over real HTTP: attach (pending) -> the TXT proof is checked through a
// local DNS-over-HTTPS stub -> active -> the hostname serves the project by Host -> delete ->
// 404; uniqueness, validation, resolver and Cloudflare for SaaS failures, disabled and deleted
// projects. The stubs (tests/lib/stubs.mjs) run in the runner; no mocks inside the Worker.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { api, call, freshProject, expectError } from '../lib/client.mjs';
import { deploySite, visit, sleep } from '../lib/site.mjs';
import { stub, stubVars, STUB_CF_TOKEN, STUB_ZONE } from '../lib/stubs.mjs';
import { d1Count, kvCount } from '../lib/state.mjs';
import { startWorker, readDevVars } from '../lib/server.mjs';
import { DatabaseSync } from 'node:sqlite';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { attachVerified } from '../lib/domains.mjs';

const rand = () => randomBytes(4).toString('hex');
const b64 = (s) => Buffer.from(s).toString('base64');
const CODE = {
  entrypoint: 'index.js',
  compatibilityDate: '2026-10-01',
  modules: { 'index.js': b64('export default { fetch(req) { const u = new URL(req.url); return new Response(`code:${u.hostname}${u.pathname}`); } };') },
};

const hostKeys = (h) => kvCount('SELECT COUNT(*) AS n FROM _mf_entries WHERE key = ?', `host:${h}`);
const domainRows = (h) => d1Count('SELECT COUNT(*) AS n FROM domains WHERE hostname = ?', h);

test('a domain goes pending -> unverified -> verified by TXT -> serves files and server code by Host -> deleted -> 404', async () => {
  const p = await freshProject('custom-domain');
  await deploySite(p.id, { '/index.html': '<h1>custom home</h1>', '/about.txt': 'about us' }, { extra: { serverCode: CODE } });
  const host = `www.${rand()}.example.com`;
  assert.equal((await visit('/', { host })).status, 404, 'an unattached host is no site');

  const add = await api.addDomain(p.id, host.toUpperCase() + '.');
  assert.equal(add.status, 201, add.text);
  const d = add.body.domain;
  assert.equal(add.body.success, true);
  assert.equal(d.hostname, host, 'stored lowercase, trailing dot stripped');
  assert.equal(d.projectId, p.id);
  assert.equal(d.status, 'pending');
  assert.equal(d.verification.type, 'txt');
  assert.equal(d.verification.name, `_flotilla-challenge.${host}`);
  assert.match(d.verification.value, /^flotilla-verify-[0-9a-f]{32}$/);
  assert.ok(!Number.isNaN(Date.parse(d.createdAt)) && !Number.isNaN(Date.parse(d.updatedAt)));
  assert.equal(d.verifiedAt, null);
  // Intended change (issue 26, item 7): an attach proves nothing, so it costs nothing at
  // Cloudflare; the hostname is registered with Cloudflare for SaaS only once verify succeeds.
  assert.equal(d.ssl, null, 'not registered with Cloudflare for SaaS before verify');
  const saasCreates = async () => (await stub.log()).saasCalls.filter((c) => c.method === 'POST' && c.body?.hostname === host).length;
  assert.equal(await saasCreates(), 0, 'no custom hostname created at attach');
  const other = await api.addDomain(p.id, `api.${rand()}.example.com`);
  assert.notEqual(other.body.domain.verification.value, d.verification.value, 'every challenge is fresh');

  assert.equal((await visit('/', { host })).status, 404, 'a pending domain does not route');
  const listed = await api.listDomains(p.id);
  assert.equal(listed.status, 200);
  assert.equal(listed.body.count, 2);
  assert.equal(listed.body.domains.find((x) => x.hostname === host).status, 'pending');

  // Before the TXT record exists: a clear 409 naming the record, the value and what was found.
  const early = expectError(assert, await api.verifyDomain(p.id, host), 409, 'domain_unverified');
  for (const part of [d.verification.name, d.verification.value, 'NXDOMAIN']) assert.ok(early.message.includes(part), early.message);
  const checked = (await api.getDomain(p.id, host)).body.domain;
  assert.equal(checked.status, 'pending');
  assert.ok(checked.checkedAt, 'checkedAt recorded');
  assert.match(checked.lastError, /NXDOMAIN/);

  await stub.setTxt(d.verification.name, ['"someone-elses-value"']);
  const wrong = expectError(assert, await api.verifyDomain(p.id, host), 409, 'domain_unverified');
  assert.ok(wrong.message.includes('someone-elses-value') && wrong.message.includes(d.verification.value), wrong.message);
  assert.equal((await visit('/', { host })).status, 404);

  // The right value among others, split into two quoted strings, behind a CNAME.
  const v = d.verification.value;
  await stub.setTxt(d.verification.name, ['"v=spf1 -all"', `"${v.slice(0, 10)}" "${v.slice(10)}"`], { cname: 'proof.example.net' });
  const ok = await api.verifyDomain(p.id, host);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.domain.status, 'active');
  assert.ok(ok.body.domain.verifiedAt);
  assert.equal(ok.body.domain.lastError, null);
  assert.equal(ok.body.domain.ssl?.status, 'pending_validation', 'verify registered it with Cloudflare for SaaS');
  assert.equal(await saasCreates(), 1, 'registered once, after the TXT proof (not at the failed attempts)');
  const saasId = ok.body.domain.ssl.customHostnameId;
  const q = (await stub.log()).dnsQueries.filter((x) => x.name === d.verification.name);
  assert.ok(q.length >= 3 && q.every((x) => x.type === 'TXT' && x.accept === 'application/dns-json'), JSON.stringify(q));

  const home = await visit('/', { host });
  assert.equal(home.status, 200);
  assert.equal(home.body, '<h1>custom home</h1>');
  const about = await visit('/about.txt', { host: `${host.toUpperCase()}:8787` });
  assert.equal(about.status, 200, 'Host is matched case-insensitively, port ignored');
  assert.equal(about.body, 'about us');
  const dyn = await visit('/dyn/x?y=1', { host });
  assert.equal(dyn.status, 200);
  assert.equal(dyn.body, `code:${host}/dyn/x`, 'server code runs on the custom domain');
  assert.equal((await visit('/', { host: `${p.slug}.localhost` })).body, '<h1>custom home</h1>', 'the subdomain still works');
  assert.equal((await api.verifyDomain(p.id, host)).status, 200, 'verifying an active domain again is fine');

  await stub.setSsl(host, 'active');
  assert.equal((await api.getDomain(p.id, host)).body.domain.ssl.status, 'active', 'GET refreshes the SSL status');

  const del = await api.deleteDomain(p.id, host);
  assert.equal(del.status, 200, del.text);
  assert.deepEqual(del.body.deleted, { hostname: host });
  assert.equal((await visit('/', { host })).status, 404, 'routing stops at once');
  assert.equal((await visit('/dyn', { host })).status, 404);
  expectError(assert, await api.getDomain(p.id, host), 404, 'not_found');
  assert.equal(hostKeys(host), 0, 'the host: routing record is gone');
  assert.equal(domainRows(host), 0);
  assert.equal((await api.listDomains(p.id)).body.count, 1);

  const calls = (await stub.log()).saasCalls.filter((c) => c.body?.hostname === host || c.id === saasId);
  const create = calls.find((c) => c.method === 'POST');
  assert.deepEqual(create.body, { hostname: host, ssl: { method: 'http', type: 'dv' } });
  assert.equal(create.zone, STUB_ZONE);
  assert.ok(calls.every((c) => c.authorization === `Bearer ${STUB_CF_TOKEN}`), 'every call carries the bearer token');
  assert.ok(calls.some((c) => c.method === 'DELETE' && c.id === saasId), 'the SaaS hostname is deleted');
  for (const r of [add, listed, ok, del]) assert.ok(!r.text.includes(STUB_CF_TOKEN), 'the token never appears in a response');
});

test('a code-only site on a custom domain (the JS fast path): serves request after request, changes and removal apply at once', async () => {
  const p = await freshProject('custom-fast');
  const v = (n) => ({ ...CODE, modules: { 'index.js': b64(`export default { fetch(req) { return new Response('v${n}:' + new URL(req.url).pathname); } };`) } });
  await deploySite(p.id, { '/index.html': 'never served' }, { extra: { serverCode: v(1), run_worker_first: true } });
  const host = `app.${rand()}.example.com`;
  await attachVerified(p, host);
  for (let i = 0; i < 5; i++) {
    const r = await visit(`/x${i}`, { host, headers: { 'x-forwarded-prefix': '/evil' } });
    assert.equal(r.body, `v1:/x${i}`);
    assert.match(r.headers['x-request-id'], /^[0-9a-f]{24}$/);
  }
  await deploySite(p.id, { '/index.html': 'never served' }, { extra: { serverCode: v(2), run_worker_first: true } });
  assert.equal((await visit('/y', { host })).body, 'v2:/y', 'a redeploy applies at once');
  for (let i = 0; i < 3; i++) assert.equal((await visit('/y', { host })).body, 'v2:/y');
  assert.equal((await api.deleteDomain(p.id, host)).status, 200);
  assert.equal((await visit('/y', { host })).status, 404, 'a removed domain stops at once');
  assert.equal((await visit('/y', { host: `${p.slug}.localhost` })).body, 'v2:/y');
});

test('a punycode (xn--) domain serves files and server code: the Worker parses IDN hosts without Unicode tables', async () => {
  // Cargo.toml pins idna_adapter to its stub back end; URLs from the runtime carry hosts in
  // punycode, which the stub still accepts. A regression here would be a 500 on every visit.
  const p = await freshProject('idn-domain');
  await deploySite(p.id, { '/index.html': '<h1>idn home</h1>' }, { extra: { serverCode: CODE } });
  const host = `xn--bcher-kva.${rand()}.example`;
  await attachVerified(p, host);
  const home = await visit('/', { host });
  assert.equal(home.status, 200, home.body);
  assert.equal(home.body, '<h1>idn home</h1>');
  const code = await visit('/code/x', { host });
  assert.equal(code.status, 200, code.body);
  assert.match(code.body, /^code:.*\/code\/x$/);
  assert.equal((await visit('/', { host: `xn--bcher-kva.${rand()}.example` })).status, 404, 'an unattached IDN host is no site');
});

test('hostnames are unique across projects: 409 for the same and for another project', async () => {
  const a = await freshProject('unique-a');
  const b = await freshProject('unique-b');
  const host = `shop.${rand()}.example.org`;
  assert.equal((await api.addDomain(a.id, host)).status, 201);
  const same = expectError(assert, await api.addDomain(a.id, host), 409, 'conflict');
  assert.match(same.message, /this project/);
  const otherProject = expectError(assert, await api.addDomain(b.slug, `${host.toUpperCase()}.`), 409, 'conflict');
  assert.match(otherProject.message, /another project/);
  assert.ok(!otherProject.message.includes(a.id) && !otherProject.message.includes(a.slug), 'the owner is not revealed');
  expectError(assert, await api.getDomain(b.id, host), 404, 'not_found');
  expectError(assert, await api.verifyDomain(b.id, host), 404, 'not_found');
  expectError(assert, await api.deleteDomain(b.id, host), 404, 'not_found');
  assert.equal((await api.getDomain(a.id, host)).status, 200, 'still attached to its owner');
});

test('invalid hostnames are refused with a 400 naming `hostname` and why', async () => {
  const p = await freshProject('invalid-hosts');
  const cases = [
    ['192.168.1.1', /IP address/],
    ['[::1]', /IP address/],
    ['2001:db8::1', /IP address/],
    ['localhost', /two labels/],
    ['app.localhost', /localhost/],
    [`${p.slug}.localhost`, /localhost/],
    ['bad_label.example.com', /a-z, 0-9/],
    ['-dash.example.com', /start or end/],
    ['a..b.example.com', /empty labels/],
    [`${'a'.repeat(64)}.example.com`, /longer than 63/],
    [`${Array(5).fill('a'.repeat(60)).join('.')}.com`, /at most 253/],
    ['*.example.com', /wildcard/],
    ['example', /two labels/],
    ['example.123', /all digits/],
    ['x.workers.dev', /workers\.dev/],
    ['bücher.example', /punycode/],
  ];
  for (const [hostname, why] of cases) {
    const e = expectError(assert, await api.addDomain(p.id, hostname), 400, 'bad_request', 'hostname');
    assert.match(e.details.reason, why, `${hostname}: ${e.details.reason}`);
  }
  expectError(assert, await api.addDomain(p.id, 5), 400, 'bad_request', 'hostname');
  expectError(assert, await call('POST', `/__api/projects/${p.id}/domains`, { body: {} }), 400, 'bad_request', 'hostname');
  expectError(assert, await call('POST', `/__api/projects/${p.id}/domains`, { body: { hostname: 'a.example.com', x: 1 } }), 400, 'bad_request', 'x');
  assert.equal((await api.listDomains(p.id)).body.count, 0, 'nothing was attached');
});

test('resolver failures are a 502 that leaks nothing; a Cloudflare for SaaS failure at verify leaves the domain pending', async () => {
  const p = await freshProject('upstream-failures');
  const host = `app.${rand()}.example.net`;
  const d = (await api.addDomain(p.id, host)).body.domain;
  await stub.setTxt(d.verification.name, null, { raw: '<html>resolver exploded: internal-detail-xyz</html>' });
  const e1 = expectError(assert, await api.verifyDomain(p.id, host), 502, 'upstream_error');
  assert.match(e1.message, /DNS resolver/);
  assert.ok(!e1.message.includes('internal-detail-xyz'));
  await stub.setTxt(d.verification.name, [], { status: 2 });
  expectError(assert, await api.verifyDomain(p.id, host), 502, 'upstream_error');
  const after = (await api.getDomain(p.id, host)).body.domain;
  assert.equal(after.status, 'pending');
  assert.match(after.lastError, /resolver/);

  // Cloudflare for SaaS is called at verify (after the TXT proof), and a failure there leaves
  // the domain pending with the reason: nothing routes, no host record, verify can be retried.
  const saasFails = async (hostname, status, code, why) => {
    const add = await api.addDomain(p.id, hostname);
    assert.equal(add.status, 201, add.text);
    assert.equal(add.body.domain.ssl, null);
    await stub.setTxt(add.body.domain.verification.name, [JSON.stringify(add.body.domain.verification.value)]);
    const e = expectError(assert, await api.verifyDomain(p.id, hostname), status, code);
    assert.match(e.message, why);
    assert.ok(!JSON.stringify(e).includes(STUB_CF_TOKEN));
    const after = (await api.getDomain(p.id, hostname)).body.domain;
    assert.equal(after.status, 'pending', 'not half-attached: still pending');
    assert.equal(after.ssl, null);
    assert.match(after.lastError, /Cloudflare for SaaS/);
    assert.equal(hostKeys(hostname), 0, 'no routing record');
    assert.equal((await visit('/', { host: hostname })).status, 404);
  };
  await saasFails(`saas-down.${rand()}.example.net`, 502, 'upstream_error', /Cloudflare API/);
  await saasFails(`saas-refuse.${rand()}.example.net`, 409, 'saas_rejected', /Duplicate custom hostname/);
  assert.equal((await api.listDomains(p.id)).body.count, 3);
  const e2 = (await api.addDomain(p.id, `saas-down.${rand()}.example.net`));
  assert.equal(e2.status, 201, 'an attach never calls Cloudflare, so an outage there does not stop it');
  assert.ok((await api.listDomains(p.id)).body.domains.some((x) => x.hostname === host));
});

test('a project with nothing deployed, a disabled project and a deleted project: their verified domains answer 404', async () => {
  const empty = await freshProject('domain-empty');
  const emptyHost = `${rand()}.example.com`;
  await attachVerified(empty, emptyHost);
  assert.equal((await visit('/', { host: emptyHost })).status, 404, 'no deployment -> 404 page');

  const p = await freshProject('domain-lifecycle');
  const { deploy } = await deploySite(p.id, { '/index.html': 'live site' });
  const host = `www.${rand()}.example.com`;
  const d = await attachVerified(p, host);
  assert.equal((await visit('/', { host })).body, 'live site');
  assert.equal(hostKeys(host), 1, 'verify wrote the host: record');

  assert.equal((await api.updateProject(p.id, { enabled: false })).status, 200);
  assert.equal((await visit('/', { host })).status, 404, 'disabled project');
  assert.equal((await api.updateProject(p.id, { enabled: true })).status, 200);
  assert.equal((await visit('/', { host })).body, 'live site');
  assert.ok(deploy.deployment.id);

  assert.equal((await api.deleteProject(p.id)).status, 200);
  assert.equal((await visit('/', { host })).status, 404, 'a deleted project stops serving on its domain at once');
  const other = await freshProject('domain-takeover');
  expectError(assert, await api.addDomain(other.id, host), 409, 'conflict');
  // The purge removes the host record, the row and the SaaS hostname; the name is then free.
  const deadline = Date.now() + 30_000;
  while ((hostKeys(host) > 0 || domainRows(host) > 0) && Date.now() < deadline) await sleep(250);
  assert.equal(hostKeys(host), 0, 'purge removed the host: record');
  assert.equal(domainRows(host), 0, 'purge removed the row');
  const calls = (await stub.log()).saasCalls;
  assert.ok(calls.some((c) => c.method === 'DELETE' && c.id === d.ssl.customHostnameId), 'purge removed the SaaS hostname');
  assert.equal((await visit('/', { host })).status, 404);
  assert.equal((await api.addDomain(other.id, host)).status, 201, 'free again after the purge');
});

test('a purge whose Cloudflare for SaaS delete fails retries it; the domain row stays until it went', async () => {
  const p = await freshProject('domain-saas-retry');
  const host = `saas-flaky-delete.${rand()}.example.com`;
  const d = await attachVerified(p, host);
  assert.ok(d.ssl.customHostnameId);
  assert.equal((await api.deleteProject(p.id)).status, 200);
  const deletes = async () => (await stub.log()).saasCalls.filter((c) => c.method === 'DELETE' && c.id === d.ssl.customHostnameId).length;
  const deadline = Date.now() + 45_000;
  while ((domainRows(host) > 0 || await deletes() < 2) && Date.now() < deadline) await sleep(250);
  // The first delete failed (503) and was tried again instead of being forgotten.
  assert.ok(await deletes() >= 2, `SaaS deletes: ${await deletes()}`);
  const left = (await stub.log()).hostnames.filter((h) => h.id === d.ssl.customHostnameId);
  assert.deepEqual(left, [], 'the hostname is gone from Cloudflare');
  assert.equal(domainRows(host), 0, 'and then the row');
  assert.equal(hostKeys(host), 0);
});

test('with ALLOW_WILDCARD_DOMAINS=true a verified *.name serves one level below it, exact domains win; no SaaS configured', { timeout: 180_000 }, async () => {
  // A second Worker with wildcards enabled and Cloudflare for SaaS left unset (the default).
  const server = await startWorker({ extraArgs: ['--var', 'ALLOW_WILDCARD_DOMAINS:true', '--var', `DNS_RESOLVER_URL:${stub.url()}/dns-query`] });
  try {
    const token = readDevVars().API_TOKEN;
    const j = async (method, path, body, bearer = token) => {
      const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
    const site = async (name, html) => {
      const p = (await j('POST', '/__api/projects', { name })).body.project;
      const buf = Buffer.from(html);
      const hash = createHash('sha256').update(buf).digest('hex');
      const s = (await j('POST', `/__api/projects/${p.id}/assets-upload-session`, { manifest: { '/index.html': { hash, size: buf.length } } })).body.result;
      let jwt = s.jwt;
      if (s.buckets.length) jwt = (await j('POST', `/__api/projects/${p.id}/assets/upload`, { [hash]: buf.toString('base64') }, s.jwt)).body.result.jwt;
      assert.equal((await j('POST', `/__api/projects/${p.id}/deploy`, { completionJwt: jwt })).status, 200);
      return p;
    };
    const get = (host) => new Promise((resolve, reject) => {
      const u = new URL(server.url);
      http.get({ hostname: u.hostname, port: u.port, path: '/', headers: { host } }, (res) => {
        let b = '';
        res.on('data', (c) => { b += c; });
        res.on('end', () => resolve({ status: res.statusCode, body: b }));
      }).on('error', reject);
    });
    const attach = async (p, hostname) => {
      const add = await j('POST', `/__api/projects/${p.id}/domains`, { hostname });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      await stub.setTxt(add.body.domain.verification.name, [JSON.stringify(add.body.domain.verification.value)]);
      const v = await j('POST', `/__api/projects/${p.id}/domains/${encodeURIComponent(hostname)}/verify`);
      assert.equal(v.status, 200, JSON.stringify(v.body));
      return add.body.domain;
    };
    const zone = `${rand()}.example.com`;
    const a = await site('wild a', 'wild A');
    const b = await site('exact b', 'exact B');
    const wild = await attach(a, `*.${zone}`);
    assert.equal(wild.hostname, `*.${zone}`);
    assert.equal(wild.verification.name, `_flotilla-challenge.${zone}`, 'a wildcard is proven on its parent');
    assert.equal(wild.ssl, null, 'no Cloudflare for SaaS without CF_ZONE_ID');
    await attach(b, `exact.${zone}`);

    assert.equal((await get(`foo.${zone}`)).body, 'wild A');
    assert.equal((await get(`exact.${zone}`)).body, 'exact B', 'an exact domain beats the wildcard');
    assert.equal((await get(`a.b.${zone}`)).status, 404, 'one level only');
    assert.equal((await get(zone)).status, 404, 'the apex is not covered');
    assert.equal((await j('POST', `/__api/projects/${b.id}/domains`, { hostname: `*.${zone}` })).status, 409);

    assert.equal((await j('DELETE', `/__api/projects/${a.id}/domains/%2A.${zone}`)).status, 200);
    assert.equal((await get(`foo.${zone}`)).status, 404, 'deleting the wildcard stops it at once');
    assert.equal((await get(`exact.${zone}`)).body, 'exact B');
  } finally {
    server.stop();
    await server.exited();
  }
});

// Squatting limits (issue 26, item 7) on a second Worker with small caps and a short pending
// window, talking to the same DoH and Cloudflare for SaaS stubs.
const LIMITS = { MAX_DOMAINS_PER_ACCOUNT: 4, MAX_PENDING_DOMAINS_PER_ACCOUNT: 2, DOMAIN_PENDING_TTL_MS: 4000 };
let squat;
async function squatWorker() {
  squat ??= await startWorker({
    extraArgs: [...stubVars(stub.url()), '--test-scheduled', ...Object.entries(LIMITS).flatMap(([k, v]) => ['--var', `${k}:${v}`])],
  });
  const root = readDevVars().API_TOKEN;
  const j = async (method, path, body, bearer = root) => {
    const res = await fetch(squat.url + path, { method, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null, text };
  };
  const project = async (name, bearer) => {
    const r = await j('POST', '/__api/projects', { name: `${name} ${rand()}` }, bearer);
    assert.equal(r.status, 201, r.text);
    return r.body.project;
  };
  const add = (p, hostname, bearer) => j('POST', `/__api/projects/${p.id}/domains`, { hostname }, bearer);
  const verify = async (p, hostname, bearer) => {
    const d = (await j('GET', `/__api/projects/${p.id}/domains/${hostname}`, undefined, bearer)).body.domain;
    await stub.setTxt(d.verification.name, [JSON.stringify(d.verification.value)]);
    const v = await j('POST', `/__api/projects/${p.id}/domains/${hostname}/verify`, undefined, bearer);
    assert.equal(v.status, 200, v.text);
    return v.body.domain;
  };
  const cron = async () => {
    const r = await fetch(`${squat.url}/__scheduled?cron=*+*+*+*+*`);
    assert.equal(r.status, 200, await r.text());
  };
  /** One write on this Worker's local D1, behind its back. */
  const d1 = (sql, ...params) => {
    const dir = join(squat.state, 'v3', 'd1/miniflare-D1DatabaseObject');
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.sqlite') || f === 'metadata.sqlite') continue;
      const db = new DatabaseSync(join(dir, f));
      try { db.exec('PRAGMA busy_timeout = 2000'); db.prepare(sql).run(...params); } catch (e) { if (!/no such table/.test(e.message)) throw e; } finally { db.close(); }
    }
  };
  return { j, project, add, verify, cron, d1 };
}
after(async () => {
  if (squat) { squat.stop(); await squat.exited(); }
});

test('a token can have at most MAX_PENDING_DOMAINS_PER_ACCOUNT pending and MAX_DOMAINS_PER_ACCOUNT domains; 429 names the limit, root is not capped', { timeout: 180_000 }, async () => {
  const w = await squatWorker();
  const minted = await w.j('POST', '/__api/tokens', { name: `squatter-${rand()}`, projects: '*', scopes: ['manage'] });
  assert.equal(minted.status, 201, minted.text);
  const tok = minted.body.secret;
  const p = await w.project('capped', tok);
  const zone = `${rand()}.example.com`;
  const h = (n) => `d${n}.${zone}`;
  for (const n of [1, 2]) assert.equal((await w.add(p, h(n), tok)).status, 201);
  const overPending = await w.add(p, h(3), tok);
  assert.equal(overPending.status, 429, overPending.text);
  assert.equal(overPending.body.error, 'rate_limited');
  assert.match(overPending.body.message, /2 pending \(unverified\) custom domains/);
  assert.match(overPending.body.message, /MAX_PENDING_DOMAINS_PER_ACCOUNT/);
  assert.ok(Number(overPending.headers.get('retry-after')) > 0);
  assert.equal((await w.j('GET', `/__api/projects/${p.id}/domains`, undefined, tok)).body.count, 2, 'the refused attach wrote nothing');

  // Verifying one frees a pending place; the total still counts it.
  await w.verify(p, h(1), tok);
  assert.equal((await w.add(p, h(3), tok)).status, 201);
  await w.verify(p, h(2), tok);
  assert.equal((await w.add(p, h(4), tok)).status, 201, 'the fourth domain');
  await w.verify(p, h(3), tok);
  const overTotal = await w.add(p, h(5), tok);
  assert.equal(overTotal.status, 429, overTotal.text);
  assert.match(overTotal.body.message, /4 custom domains/);
  assert.match(overTotal.body.message, /MAX_DOMAINS_PER_ACCOUNT/);
  // Deleting one frees a place.
  assert.equal((await w.j('DELETE', `/__api/projects/${p.id}/domains/${h(1)}`, undefined, tok)).status, 200);
  assert.equal((await w.add(p, h(5), tok)).status, 201);

  // The caps are per token: another token has its own, and the root operator has none.
  const other = (await w.j('POST', '/__api/tokens', { name: `other-${rand()}`, projects: '*', scopes: ['manage'] })).body.secret;
  assert.equal((await w.add(p, `o1.${zone}`, other)).status, 201);
  for (let n = 6; n < 10; n++) assert.equal((await w.add(p, h(n)).then((r) => r.status)), 201, 'root is not capped');
});

test('a domain left pending past DOMAIN_PENDING_TTL_MS is released by the cron (with its SaaS hostname); another project may then attach it', { timeout: 180_000 }, async () => {
  const w = await squatWorker();
  const squatter = await w.project('squatter');
  const owner = await w.project('owner');
  const zone = `${rand()}.example.com`;
  const name = `www.${zone}`;
  const added = await w.add(squatter, name);
  assert.equal(added.status, 201, added.text);
  assert.equal(added.body.domain.ssl, null, 'nothing registered at Cloudflare for a pending domain');
  const kept = `kept.${zone}`;
  assert.equal((await w.add(squatter, kept)).status, 201);
  const verified = await w.verify(squatter, kept);
  assert.ok(verified.ssl?.customHostnameId, 'registered at verify');
  // A pending row that a Cloudflare for SaaS registration still names (as attaches made before
  // this change left them): the expiry removes the custom hostname too.
  const legacy = `legacy.${zone}`;
  assert.equal((await w.add(squatter, legacy)).status, 201);
  const created = await fetch(`${stub.url()}/client/v4/zones/${STUB_ZONE}/custom_hostnames`, { method: 'POST', headers: { authorization: `Bearer ${STUB_CF_TOKEN}` }, body: JSON.stringify({ hostname: legacy }) });
  const legacyId = (await created.json()).result.id;
  w.d1('UPDATE domains SET saas_id = ?, ssl_status = ? WHERE hostname = ?', legacyId, 'pending_validation', legacy);

  assert.equal((await w.add(owner, name)).status, 409, 'held while pending');
  await w.cron();
  await sleep(500);
  assert.equal((await w.j('GET', `/__api/projects/${squatter.id}/domains/${name}`)).status, 200, 'inside the window it stays');

  await sleep(LIMITS.DOMAIN_PENDING_TTL_MS + 500);
  const fresh = `fresh.${zone}`;
  assert.equal((await w.add(squatter, fresh)).status, 201);
  // Verify attempts do not extend the window.
  assert.equal((await w.j('POST', `/__api/projects/${squatter.id}/domains/${name}/verify`)).status, 409);
  await w.cron();
  const gone = async (h) => (await w.j('GET', `/__api/projects/${squatter.id}/domains/${h}`)).status === 404;
  const deadline = Date.now() + 20_000;
  while (!(await gone(name) && await gone(legacy)) && Date.now() < deadline) await sleep(250);
  assert.ok(await gone(name), 'the expired pending domain is released');
  assert.ok(await gone(legacy));
  assert.deepEqual((await stub.log()).hostnames.filter((x) => x.id === legacyId), [], 'its custom hostname was deleted');
  assert.equal((await w.j('GET', `/__api/projects/${squatter.id}/domains/${kept}`)).body.domain.status, 'active', 'a verified domain never expires');
  assert.equal((await w.j('GET', `/__api/projects/${squatter.id}/domains/${fresh}`)).body.domain.status, 'pending', 'a newer pending domain waits for its own window');
  const taken = await w.add(owner, name);
  assert.equal(taken.status, 201, `another project may attach it now: ${taken.text}`);
});

test('the purge of a project with 120 verified domains releases them in bounded chunks until every row is gone', { timeout: 240_000 }, async () => {
  const p = await freshProject('many-domains');
  const zone = `${rand()}.example.com`;
  const hosts = Array.from({ length: 120 }, (_, i) => `h${i}.${zone}`);
  const ids = [];
  for (const h of hosts) ids.push((await attachVerified(p, h)).ssl.customHostnameId);
  const rows = () => d1Count('SELECT COUNT(*) AS n FROM domains WHERE project_id = ?', p.id);
  assert.equal(rows(), 120);
  assert.equal(hostKeys(hosts[0]), 1);

  assert.equal((await api.deleteProject(p.id)).status, 200);
  // Each purge message releases at most 50 domains and deletes their rows, so the count falls
  // 120 -> 70 -> 20 -> 0 over three messages (the queue delivers each ~1 s after the last).
  const seen = new Set();
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const n = rows();
    seen.add(n);
    if (n === 0) break;
    await sleep(50);
  }
  assert.equal(rows(), 0, 'every domain row is gone');
  assert.ok([...seen].every((n) => n === 0 || (120 - n) % 50 === 0), `rows went in chunks of 50: ${[...seen]}`);
  assert.ok([...seen].some((n) => n > 0 && n < 120), `released over several messages, not in one: ${[...seen]}`);
  const purged = () => d1Count('SELECT COUNT(*) AS n FROM projects WHERE id = ? AND purged_at IS NOT NULL', p.id);
  while (purged() === 0 && Date.now() < deadline) await sleep(100);
  assert.equal(purged(), 1, 'the purge finished');
  assert.equal(hosts.reduce((n, h) => n + hostKeys(h), 0), 0, 'every host: record is gone');
  const left = new Set((await stub.log()).hostnames.map((x) => x.id));
  assert.equal(ids.filter((id) => left.has(id)).length, 0, 'every custom hostname is gone from Cloudflare');
  const again = await freshProject('many-domains-next');
  assert.equal((await api.addDomain(again.id, hosts[119])).status, 201, 'the names are free again');
});
