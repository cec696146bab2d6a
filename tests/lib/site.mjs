// Client-side helpers for the three-phase upload and for visiting sites, used by the
// integration tests: hash files, open a session, upload buckets, deploy, and fetch pages
// over raw HTTP (so the Host header can name a project subdomain).
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { api, BASE } from './client.mjs';

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** files: { "/path": string | Buffer } -> { manifest, bodies: {hash: base64} } */
export function prepare(files, contentTypes = {}) {
  const manifest = {};
  const bodies = {};
  for (const [path, content] of Object.entries(files)) {
    const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const hash = sha256(buf);
    manifest[path] = { hash, size: buf.length, ...(contentTypes[path] ? { contentType: contentTypes[path] } : {}) };
    bodies[hash] = buf.toString('base64');
  }
  return { manifest, bodies };
}

/**
 * Opens a session and uploads every bucket (all at once, or `concurrency` at a time). Returns
 * the completion JWT.
 */
export async function upload(projectId, files, { contentTypes, concurrency = Infinity } = {}) {
  const { manifest, bodies } = prepare(files, contentTypes);
  const s = await api.uploadSession(projectId, manifest);
  if (s.status !== 200) throw new Error(`session: ${s.status} ${s.text}`);
  const { buckets } = s.body.result;
  let jwt = s.body.result.jwt;
  const send = (b) => api.upload(projectId, s.body.result.jwt, Object.fromEntries(b.map((h) => [h, bodies[h]])));
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < buckets.length) {
      const i = next++;
      results[i] = await send(buckets[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, buckets.length) }, worker));
  for (const r of results) {
    if (r.status !== 200) throw new Error(`upload: ${r.status} ${r.text}`);
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  return { jwt, session: s.body, uploaded: buckets.flat() };
}

/** Upload + deploy; throws unless the deploy answers `expect`. */
export async function deploySite(projectId, files, { config, contentTypes, expect = 200, extra = {}, headers } = {}) {
  const { jwt, session, uploaded } = await upload(projectId, files, { contentTypes });
  const d = await api.deploy(projectId, { completionJwt: jwt, ...(config ? { config } : {}), ...extra }, { headers });
  if (d.status !== expect) throw new Error(`deploy: expected ${expect}, got ${d.status} ${d.text}`);
  return { deploy: d.body, session, uploaded, jwt };
}

/**
 * Server code that fails in every way a visitor must never see: `/throw` throws (with an
 * internal detail in the message), `/hang` never settles, `/garbage` returns a non-Response;
 * anything else is `fine`.
 */
export const CRASHY_CODE = `export default { async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === '/throw') throw new Error('internal detail xyz');
    if (path === '/hang') { await new Promise(() => {}); }
    if (path === '/garbage') return 'not a response internal detail xyz';
    return new Response('fine'); } };`;

/**
 * One request to the Worker with an optional Host (fetch() cannot set it) and body; never
 * follows redirects. The body comes back as text, or as a Buffer with `bytes`. A response cut
 * off before its end rejects, so a test fails with a reason instead of hanging.
 */
export function request(path, { host, method = 'GET', headers = {}, body, bytes = false } = {}) {
  const u = new URL(BASE);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path, method, headers: { ...(host ? { host } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('close', () => { if (!res.complete) reject(new Error(`${method} ${path}: response cut off after ${chunks.length} chunks`)); });
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: bytes ? b : b.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** GET/HEAD a URL path on the Worker with optional Host; never follows redirects. */
export function visit(path, { host, method = 'GET', headers = {} } = {}) {
  return request(path, { host, method, headers });
}

/** Follows redirects (as a browser would, max 6 hops) from a path-mode or Host-mode path. */
export async function follow(path, opts = {}) {
  let current = path;
  const hops = [];
  for (let i = 0; i < 6; i++) {
    const r = await visit(current, opts);
    if (![301, 302, 303, 307, 308].includes(r.status)) return { ...r, finalPath: current, hops };
    hops.push({ status: r.status, location: r.headers.location });
    current = new URL(r.headers.location, `http://x${current}`).pathname + new URL(r.headers.location, `http://x${current}`).search;
  }
  throw new Error(`too many redirects from ${path}: ${JSON.stringify(hops)}`);
}

/** Signs an HS256 JWT with `secret` (for expired-token tests). */
export function signJwt(claims, secret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64(claims);
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const TERMINAL = ['completed', 'failed', 'superseded', 'rolled_back', 'expired'];

/** Polls a deployment until its status is one of `statuses`; returns the record. */
export async function waitFor(depId, statuses = TERMINAL, timeoutMs = 40_000) {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const r = await api.getDeployment(depId);
    if (r.status !== 200) throw new Error(`getDeployment ${depId}: ${r.status} ${r.text}`);
    if (statuses.includes(r.body.deployment.status)) return r.body.deployment;
    await sleep(200);
  }
  throw new Error(`deployment ${depId} did not reach ${statuses} in ${timeoutMs} ms`);
}
