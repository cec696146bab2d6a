// Protected previews over real HTTP: with previewAccess "link" a deployment's preview URL and
// alias URLs answer 401 until the visitor follows a signed link (token -> 303 -> host-only
// cookie -> 200); the production URL stays public; expired, forged and foreign tokens fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { api, call, freshProject, expectError, BASE } from '../lib/client.mjs';
import { deploySite, visit, signJwt } from '../lib/site.mjs';
import { readDevVars } from '../lib/server.mjs';

const PORT = new URL(BASE).port;
const PARAM = '__flotilla_preview';
const link = (depId, body = {}) => call('POST', `/__api/deployments/${depId}/preview-link`, { body });
const site = (n) => ({ '/index.html': `<h1>home ${n}</h1>`, '/secret.txt': `secret ${n}` });
const hostOf = (url) => new URL(url).host;
const pathOf = (url) => { const u = new URL(url); return u.pathname + u.search; };
const cookieOf = (setCookie) => String(setCookie).split(';')[0];

/** A project with v1 (superseded, reachable as a preview) and v2 (production), link-protected. */
async function protectedProject(name) {
  const p = await freshProject(name);
  const v1 = (await deploySite(p.id, site(1))).deploy.deployment;
  const v2 = (await deploySite(p.id, site(2))).deploy.deployment;
  const r = await api.updateProject(p.id, { previewAccess: 'link' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.project.previewAccess, 'link');
  return { p, v1, v2, previewHost: `${v1.id.slice(0, 8)}--${p.slug}.localhost:${PORT}` };
}

/** Follows a preview link like a browser: the token visit, then the clean URL with the cookie. */
async function followLink(url, extraHeaders = {}) {
  const first = await visit(pathOf(url), { host: hostOf(url), headers: extraHeaders });
  assert.equal(first.status, 303, `link visit: ${first.status} ${first.body}`);
  const setCookie = first.headers['set-cookie'];
  assert.ok(setCookie, 'the link sets a cookie');
  const location = first.headers.location;
  assert.ok(!location.includes(PARAM), `the token is gone from ${location}`);
  const second = await visit(location, { host: hostOf(url), headers: { cookie: cookieOf(setCookie), ...extraHeaders } });
  return { first, second, setCookie: String(setCookie), cookie: cookieOf(setCookie), location };
}

test('previewAccess is validated and shown in the project JSON', async () => {
  const p = await freshProject('pa');
  assert.equal(p.previewAccess, 'public');
  for (const bad of ['private', true, 1]) {
    expectError(assert, await api.updateProject(p.id, { previewAccess: bad }), 400, 'bad_request', 'previewAccess');
  }
  const r = await api.updateProject(p.id, { previewAccess: 'link' });
  assert.equal(r.status, 200, r.text);
  assert.equal((await api.getProject(p.id)).body.project.previewAccess, 'link');
});

test('a link-protected preview refuses a bare visit and serves after the link; production stays public', async () => {
  const { p, v1, previewHost } = await protectedProject('guarded');
  // Bare visits: 401 page, never cached, JSON when asked; the path-mode preview too.
  const bare = await visit('/', { host: previewHost });
  assert.equal(bare.status, 401);
  assert.equal(bare.headers['cache-control'], 'no-store');
  assert.match(bare.headers['content-type'], /text\/html/);
  assert.ok(!bare.body.includes('home 1'));
  const json = await visit('/secret.txt', { host: previewHost, headers: { accept: 'application/json' } });
  assert.equal(json.status, 401);
  assert.equal(JSON.parse(json.body).error, 'preview_protected');
  assert.equal((await visit(`/__project/${p.slug}@${v1.id.slice(0, 8)}/secret.txt`)).status, 401);
  // Production is never protected, by subdomain or path mode.
  assert.equal((await visit('/', { host: `${p.slug}.localhost:${PORT}` })).body, '<h1>home 2</h1>');
  assert.equal((await visit(`/__project/${p.slug}/`)).body, '<h1>home 2</h1>');

  const r = await link(v1.id);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.success, true);
  assert.equal(hostOf(r.body.url), previewHost, 'the link is the preview URL');
  assert.ok(new URL(r.body.url).searchParams.get(PARAM));
  const ttl = Date.parse(r.body.expiresAt) - Date.now();
  assert.ok(ttl > 3500_000 && ttl <= 3600_000, `default ttl 3600 s, got ${ttl} ms`);

  const { second, setCookie, cookie, location } = await followLink(r.body.url);
  assert.equal(location, '/');
  assert.equal(second.status, 200);
  assert.equal(second.body, '<h1>home 1</h1>');
  for (const attr of [/;\s*HttpOnly/i, /;\s*SameSite=Lax/i, /;\s*Path=\//i, /;\s*Max-Age=\d+/i]) assert.match(setCookie, attr);
  assert.doesNotMatch(setCookie, /domain=/i, 'host-only cookie');
  assert.doesNotMatch(setCookie, /secure/i, 'plain http: no Secure');
  // The cookie keeps working for other paths of that preview, and only there.
  assert.equal((await visit('/secret.txt', { host: previewHost, headers: { cookie } })).body, 'secret 1');
  const other = await protectedProject('other');
  assert.equal((await visit('/', { host: other.previewHost, headers: { cookie } })).status, 401, 'cookie of another preview');
  // Query strings survive the trade.
  const withQuery = await link(v1.id);
  const u = new URL(withQuery.body.url);
  u.pathname = '/secret.txt';
  u.search = `a=1&${PARAM}=${u.searchParams.get(PARAM)}&b=2`;
  const hop = await visit(pathOf(u.href), { host: previewHost });
  assert.equal(hop.status, 303);
  assert.equal(hop.headers.location, '/secret.txt?a=1&b=2');
});

test('expired, forged and other-project tokens are refused; ttl is bounded', async () => {
  const { p, v1, previewHost } = await protectedProject('refuse');
  for (const ttlSeconds of [59, 604801, -1, 'x', 1.5]) {
    expectError(assert, await link(v1.id, { ttlSeconds }), 400, 'bad_request', 'ttlSeconds');
  }
  expectError(assert, await link(v1.id, { alias: 'nope' }), 404, 'not_found');
  expectError(assert, await link('00000000-0000-4000-8000-000000000000'), 404, 'not_found');
  const ok = await link(v1.id, { ttlSeconds: 60 });
  assert.equal(ok.status, 200, ok.text);
  const token = new URL(ok.body.url).searchParams.get(PARAM);
  const tryToken = (t, host = previewHost) => visit(`/?${PARAM}=${t}`, { host });
  // Forged: a flipped signature, a made-up token, a token signed with another key.
  const [h, b, s] = token.split('.');
  const flipped = `${h}.${b}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
  const claims = JSON.parse(Buffer.from(b, 'base64url').toString());
  assert.equal((await tryToken(flipped)).status, 401);
  assert.equal((await tryToken('not-a-token')).status, 401);
  assert.equal((await tryToken(signJwt(claims, 'attacker-secret-attacker-secret'))).status, 401);
  // Expired: the same claims with a past expiry, signed with the real preview key.
  const secret = readDevVars().JWT_SECRET;
  const key = createHash('sha256').update(Buffer.concat([Buffer.from('flotilla/preview-access/v1\0'), Buffer.from(secret)])).digest();
  const now = Math.floor(Date.now() / 1000);
  const expired = signJwt({ ...claims, iat: now - 120, exp: now - 60 }, key);
  const fresh = signJwt({ ...claims, iat: now, exp: now + 600 }, key);
  assert.equal((await tryToken(fresh)).status, 303, 'the test signs tokens the way the platform does');
  assert.equal((await tryToken(expired)).status, 401, 'expired link');
  assert.equal((await visit('/', { host: previewHost, headers: { cookie: `${PARAM}=${expired}` } })).status, 401);
  // A valid token of another project, or for another host of this one, proves nothing here.
  const other = await protectedProject('foreign');
  const foreign = new URL((await link(other.v1.id)).body.url).searchParams.get(PARAM);
  assert.equal((await tryToken(foreign)).status, 401);
  assert.equal((await tryToken(token, `${v1.id.slice(0, 8)}--${p.id}.localhost:${PORT}`)).status, 401, 'bound to the host');
  // A link token is not a cookie.
  assert.equal((await visit('/', { host: previewHost, headers: { cookie: `${PARAM}=${token}` } })).status, 401);
});

test('alias URLs are protected too, path-mode links work, and public previews stay open', async () => {
  const { p, v1, previewHost } = await protectedProject('alias');
  assert.equal((await api.putAlias(p.id, 'staging', v1.id)).status, 200);
  const aliasHost = `staging--${p.slug}.localhost:${PORT}`;
  assert.equal((await visit('/', { host: aliasHost })).status, 401);
  const r = await link(v1.id, { alias: 'staging' });
  assert.equal(r.status, 200, r.text);
  assert.equal(hostOf(r.body.url), aliasHost);
  const { second } = await followLink(r.body.url);
  assert.equal(second.body, '<h1>home 1</h1>');
  // The deployment link does not open the alias, nor the reverse.
  const depLink = new URL((await link(v1.id)).body.url).searchParams.get(PARAM);
  assert.equal((await visit(`/?${PARAM}=${depLink}`, { host: aliasHost })).status, 401);

  // Path mode on a local host: its own link, its cookie scoped to that preview's prefix.
  const pathUrl = (await link(v1.id)).body.pathUrl;
  assert.ok(pathUrl, 'path mode answers on localhost, so a path-mode link is offered');
  const prefix = `/__project/${p.slug}@${v1.id.slice(0, 8)}`;
  assert.equal(new URL(pathUrl).pathname, `${prefix}/`);
  const hop = await visit(pathOf(pathUrl), { host: `localhost:${PORT}` });
  assert.equal(hop.status, 303, hop.body);
  assert.match(String(hop.headers['set-cookie']), new RegExp(`Path=${prefix.replace(/[@/]/g, (c) => `\\${c}`)};`));
  const page = await visit(hop.headers.location, { host: `localhost:${PORT}`, headers: { cookie: cookieOf(hop.headers['set-cookie']) } });
  assert.equal(page.body, '<h1>home 1</h1>');

  // Back to public: previews open again without a link.
  assert.equal((await api.updateProject(p.id, { previewAccess: 'public' })).status, 200);
  assert.equal((await visit('/', { host: previewHost })).body, '<h1>home 1</h1>');
  assert.equal((await visit('/', { host: aliasHost })).body, '<h1>home 1</h1>');
});

test('server code behind a protected preview is protected too', async () => {
  const p = await freshProject('pcode');
  const src = 'export default { fetch(req) { return new Response("code:" + new URL(req.url).pathname); } };';
  const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(src).toString('base64') } };
  const v1 = (await deploySite(p.id, { '/a.txt': 'a' }, { extra: { serverCode } })).deploy.deployment;
  await deploySite(p.id, { '/a.txt': 'b' });
  assert.equal((await api.updateProject(p.id, { previewAccess: 'link' })).status, 200);
  const host = `${v1.id.slice(0, 8)}--${p.slug}.localhost:${PORT}`;
  const bare = await visit('/dynamic', { host, method: 'POST', headers: { 'content-length': '0' } });
  assert.equal(bare.status, 401);
  assert.ok(!bare.body.includes('code:'));
  const { second } = await followLink((await link(v1.id)).body.url.replace(/\/\?/, '/dynamic?'));
  assert.equal(second.body, 'code:/dynamic');
});
