// One origin per tenant over real HTTP: path mode answers only on local hosts; on the platform's
// real domain (and *.workers.dev) it is a 404 while subdomain URLs work, and the API reports
// subdomain URLs only. Encoded traversal out of one project's path-mode prefix never returns
// another project's file. Raw sockets send the exact request target (no client-side URL
// normalisation).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { api, freshProject, BASE } from '../lib/client.mjs';
import { deploySite, prepare, visit } from '../lib/site.mjs';
import { startWorker, readDevVars } from '../lib/server.mjs';

const PORT = new URL(BASE).port;
const TOKEN = readDevVars().API_TOKEN;

/** Sends `GET <target>` byte for byte over a socket; resolves { status, headers, body }. */
function rawGet(port, target, host = `127.0.0.1:${port}`, headers = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      s.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);
    });
    let data = Buffer.alloc(0);
    s.on('data', (c) => { data = Buffer.concat([data, c]); });
    s.on('error', reject);
    s.on('end', () => {
      const text = data.toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      const status = Number(head.split(' ')[1]);
      let body = rest.join('\r\n\r\n');
      if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        let out = '';
        for (;;) {
          const nl = body.indexOf('\r\n');
          const size = parseInt(body.slice(0, nl), 16);
          if (!size) break;
          out += body.slice(nl + 2, nl + 2 + size);
          body = body.slice(nl + 2 + size + 2);
        }
        body = out;
      }
      resolve({ status, head, body });
    });
  });
}

// A second Worker whose platform domain is a real-looking domain (not local).
const DOMAIN = 'example.test';
let other;
after(() => other?.stop());
async function realDomain() {
  other ??= await startWorker({ extraArgs: ['--var', `PLATFORM_DOMAIN:${DOMAIN}`] });
  return other;
}
async function callOn(base, method, path, body, token = TOKEN) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text), text };
}
async function deployOn(base, projectId, files) {
  const { manifest, bodies } = prepare(files);
  const s = await callOn(base, 'POST', `/__api/projects/${projectId}/assets-upload-session`, { manifest });
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const bucket of s.body.result.buckets) {
    const u = await callOn(base, 'POST', `/__api/projects/${projectId}/assets/upload`, Object.fromEntries(bucket.map((h) => [h, bodies[h]])), s.body.result.jwt);
    assert.equal(u.status, 200, u.text);
    if (u.body.result.jwt) jwt = u.body.result.jwt;
  }
  const d = await callOn(base, 'POST', `/__api/projects/${projectId}/deploy`, { completionJwt: jwt });
  assert.equal(d.status, 200, d.text);
  return d.body;
}

test('on a real platform domain path mode is off, subdomain URLs work, and the API reports only those', async () => {
  const w = await realDomain();
  const created = await callOn(w.url, 'POST', '/__api/projects', { name: 'origin demo' });
  assert.equal(created.status, 201, created.text);
  const p = created.body.project;
  const port = w.port;
  assert.equal(p.url, `http://${p.slug}.${DOMAIN}:${port}/`);
  assert.ok(!('pathUrl' in p), `no pathUrl where path mode does not answer: ${created.text}`);
  const first = await deployOn(w.url, p.id, { '/index.html': 'first', '/secret.txt': 'tenant file' });
  const second = await deployOn(w.url, p.id, { '/index.html': 'second' });
  assert.equal(first.url, p.url);
  assert.ok(!('pathUrl' in first));
  const dep = first.deployment;
  assert.equal(dep.previewUrl, `http://${dep.id.slice(0, 8)}--${p.slug}.${DOMAIN}:${port}/`);
  assert.ok(!('previewPathUrl' in dep));
  const listed = await callOn(w.url, 'GET', `/__api/projects/${p.id}/deployments`);
  for (const d of listed.body.deployments) assert.match(d.previewUrl, new RegExp(`^http://${d.id.slice(0, 8)}--${p.slug}\\.${DOMAIN}:`));
  const alias = await callOn(w.url, 'PUT', `/__api/projects/${p.id}/aliases/staging`, { deploymentId: dep.id });
  assert.equal(alias.status, 200, alias.text);
  const aliasJson = alias.body.alias ?? alias.body;
  assert.equal(aliasJson.url, `http://staging--${p.slug}.${DOMAIN}:${port}/`, alias.text);
  assert.ok(!('pathUrl' in aliasJson));
  const preview = await callOn(w.url, 'POST', `/__api/deployments/${dep.id}/preview-link`, {});
  assert.ok(preview.body.url.startsWith(dep.previewUrl), preview.text);
  assert.ok(!('pathUrl' in preview.body));

  // Subdomain URLs answer (production, preview, alias)...
  const at = (url, path = '/') => rawGet(port, path, new URL(url).host);
  assert.equal((await at(p.url)).body, 'second');
  assert.equal((await at(dep.previewUrl)).body, 'first');
  assert.equal((await at(aliasJson.url, '/secret.txt')).body, 'tenant file');
  // ...while the platform host serves no tenant content, on the domain or on workers.dev.
  for (const host of [`${DOMAIN}:${port}`, DOMAIN, 'flotilla.acme.workers.dev']) {
    for (const path of [`/__project/${p.slug}/`, `/__project/${p.slug}/secret.txt`, `/__project/${p.id}/`, `/__project/${p.slug}@${dep.id.slice(0, 8)}/`, `/__project/${p.slug}`]) {
      const r = await rawGet(port, path, host);
      assert.equal(r.status, 404, `${host}${path}: ${r.status}`);
      assert.ok(!r.body.includes('tenant file') && !r.body.includes('second'), `${host}${path}`);
    }
  }
  const info = JSON.parse((await rawGet(port, '/', DOMAIN)).body);
  assert.equal(info.endpoints.pathMode, null, 'service info does not advertise path mode');
  assert.ok(second.deployment.id);
});

test('default PATH_MODE (local): local hosts answer path mode, a workers.dev host does not; path URLs are offered', async () => {
  // The main test Worker runs with the default: the local hosts answer, a workers.dev host does not.
  const p = await freshProject('local-only');
  await deploySite(p.id, { '/index.html': 'here' });
  assert.equal((await rawGet(PORT, `/__project/${p.slug}/`)).body, 'here');
  assert.equal((await rawGet(PORT, `/__project/${p.slug}/`, `localhost:${PORT}`)).body, 'here');
  assert.equal((await rawGet(PORT, `/__project/${p.slug}/`, `[::1]:${PORT}`)).body, 'here');
  assert.equal((await rawGet(PORT, `/__project/${p.slug}/`, 'flotilla.acme.workers.dev')).status, 404);
  // On localhost the API offers path URLs next to the subdomain ones.
  const got = (await api.getProject(p.id)).body.project;
  assert.equal(got.url, `http://${p.slug}.localhost:${PORT}/`);
  assert.equal(got.pathUrl, `http://localhost:${PORT}/__project/${p.slug}/`);
  const deps = (await api.listDeployments(p.id)).body.deployments;
  assert.equal(deps[0].previewUrl, `http://${deps[0].id.slice(0, 8)}--${p.slug}.localhost:${PORT}/`);
  assert.equal(deps[0].previewPathUrl, `http://localhost:${PORT}/__project/${p.slug}@${deps[0].id.slice(0, 8)}/`);
});

test('encoded traversal from one project prefix never returns another project file', async () => {
  const a = await freshProject('trav-a');
  const b = await freshProject('trav-b');
  await deploySite(a.id, { '/index.html': 'A home', '/a.txt': 'A text', '/404.html': 'A missing' });
  await deploySite(b.id, { '/secret.txt': 'B-SECRET-CONTENT' });
  const direct = await rawGet(PORT, `/__project/${b.slug}/secret.txt`);
  assert.equal(direct.body, 'B-SECRET-CONTENT', 'the file is there');

  // Forms that survive to the Worker as written: refused with the 400 page.
  const refused = [
    `..%2F${b.slug}/secret.txt`, `..%2f${b.slug}/secret.txt`, `%2E%2E%2F${b.slug}%2Fsecret.txt`,
    `x%2F..%2F..%2F${b.slug}/secret.txt`, `..%5C${b.slug}/secret.txt`, `%5C..%5C${b.slug}%5Csecret.txt`,
    `%252e%252e/${b.slug}/secret.txt`, `%252E%252E/${b.slug}/secret.txt`, `..%252F${b.slug}/secret.txt`,
    `%25252e%25252e/${b.slug}/secret.txt`, `%2e%2E%252f${b.slug}/secret.txt`,
  ];
  for (const form of refused) {
    const r = await rawGet(PORT, `/__project/${a.slug}/${form}`);
    assert.ok(!r.body.includes('B-SECRET'), `${form} leaked B's file`);
    assert.equal(r.status, 400, `${form}: ${r.status} ${r.body.slice(0, 80)}`);
  }
  // The same forms in the project reference itself.
  for (const form of [`${a.slug}%2F..%2F${b.slug}`, `${a.slug}%5C..%5C${b.slug}`, `%2e%2e`, `${a.slug}%2F${b.slug}`, `${a.slug}%5C${b.slug}`, `${b.slug}%2F`]) {
    const r = await rawGet(PORT, `/__project/${form}/secret.txt`);
    assert.ok([400, 404].includes(r.status), `${form}: ${r.status}`);
    assert.ok(!r.body.includes('B-SECRET'), form);
  }

  // Encoded separators without dots cannot leave A's prefix: they stay A's paths (A's 404).
  for (const form of [`%2F${b.slug}%2Fsecret.txt`, `%5C${b.slug}%5Csecret.txt`, `%2F%2F${b.slug}/secret.txt`]) {
    const r = await rawGet(PORT, `/__project/${a.slug}/${form}`);
    assert.ok(!r.body.includes('B-SECRET'), `${form} leaked B's file`);
    assert.equal(r.status, 404, `${form}: ${r.status}`);
  }
  // Dot segments the URL parser folds before any Worker code runs (workerd, like every
  // browser and Cloudflare's edge normalisation, turns `%2E%2E` into `..` and removes it): the
  // Worker receives B's own URL, so the answer is exactly B's direct answer and every platform
  // decision (path mode, protection) applies to that URL. On the real domain they are a 404.
  const folded = ['%2e%2e', '%2E%2E', '.%2E', '%2E.', '%2e.', '.%2e', '%2e%2E'];
  for (const form of folded) {
    const r = await rawGet(PORT, `/__project/${a.slug}/${form}/${b.slug}/secret.txt`);
    assert.equal(r.body, direct.body, `${form} is B's own URL after normalisation`);
  }
  const w = await realDomain();
  for (const form of [...folded, ...refused.slice(0, 4)]) {
    const r = await rawGet(w.port, `/__project/x/${form}/y/secret.txt`, DOMAIN);
    assert.equal(r.status, 404, `${form} on the real domain`);
  }
  // A protected preview stays protected when reached through a folded form from A's prefix.
  const b1 = (await api.listDeployments(b.id)).body.deployments[0];
  assert.equal((await api.updateProject(b.id, { previewAccess: 'link' })).status, 200);
  for (const form of folded) {
    const r = await rawGet(PORT, `/__project/${a.slug}/${form}/${b.slug}@${b1.id.slice(0, 8)}/secret.txt`);
    assert.equal(r.status, 401, `${form} into B's protected preview`);
    assert.ok(!r.body.includes('B-SECRET'));
  }
  // A itself is unaffected: ordinary encodings still resolve inside A.
  const enc = await rawGet(PORT, `/__project/${a.slug}/a%2Etxt`);
  if (enc.status === 200) assert.equal(enc.body, 'A text');
  else assert.match(enc.head, new RegExp(`\r\nlocation: /__project/${a.slug}/a\\.txt\r\n`, 'i'), enc.head);
  assert.equal((await visit(`/__project/${a.slug}/`)).body, 'A home');
});
