// The real wrangler (the devDependency) against the live Worker's /client/v4: deploy an assets
// project and a Worker + assets project unchanged, redeploy with no change and with one changed
// file, secrets reaching user code, deployments/versions lists, rollback, delete, and a wrong
// token failing with wrangler's own auth error while nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, call, freshProject, BASE, TOKEN } from '../lib/client.mjs';
import { visit, deploySite, request } from '../lib/site.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';
import { d1Count, r2Count } from '../lib/state.mjs';

const run = Date.now().toString(36);

const host = (name) => ({ host: `${name}.localhost` });

async function active(name) {
  const r = await api.getProject(name);
  assert.equal(r.status, 200, r.text);
  return r.body.project.activeDeploymentId;
}

test('assets-only project: deploy, serve, and a wrong token changes nothing', async () => {
  const name = `wr-assets-${run}`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\n`,
    'public/index.html': '<h1>hello from wrangler</h1>\n',
    'public/style.css': 'body { color: red }\n',
  });
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  assert.match(d.out, /Uploaded 2 of 2 assets/, d.out);
  // wrangler prints the project's host as the Worker's trigger, never a *.workers.dev URL
  // that does not exist (it keeps only the host of the URL it is given).
  assert.match(d.out, new RegExp(`^\\s*${name}\\.localhost\\s*$`, 'm'), d.out);
  assert.doesNotMatch(d.out, /workers\.dev/, d.out);
  const p = (await api.getProject(name)).body.project;
  assert.equal(p.slug, name);
  // The session's manifest went into the deployment's native session; wrangler's copy is gone.
  const sessionManifests = () => r2Count("SELECT COUNT(*) AS n FROM _mf_objects WHERE key LIKE ?", `wrangler/${p.id}/%`);
  assert.equal(sessionManifests(), 0);
  // A session whose deploy never came keeps its manifest while its tokens live, GC or not.
  const opened = await call('POST', `/client/v4/accounts/local/workers/scripts/${name}/assets-upload-session`,
    { body: { manifest: { '/index.html': { hash: 'c'.repeat(32), size: 5 } } } });
  assert.equal(opened.status, 200, opened.text);
  assert.equal(sessionManifests(), 1);
  await new Promise((r) => setTimeout(r, 1600)); // past the runner's GC_GRACE_MS (1500)
  assert.equal((await api.gc(p.id)).status, 200);
  assert.equal(sessionManifests(), 1);
  const home = await visit('/', host(name));
  assert.equal(home.status, 200);
  assert.match(home.body, /hello from wrangler/);
  assert.equal((await visit('/style.css', host(name))).body, 'body { color: red }\n');

  const before = p.activeDeploymentId;
  writeFileSync(join(dir, 'public/index.html'), '<h1>changed by an intruder</h1>\n');
  const bad = await wrangler(dir, ['deploy'], { token: 'not-a-flotilla-token' });
  assert.notEqual(bad.code, 0, bad.out);
  assert.match(bad.out, /Authentication error|\[code: 10000\]/, bad.out);
  assert.match(bad.out, /custom API token set in an environment variable/, bad.out);
  assert.equal(await active(name), before);
  assert.match((await visit('/', host(name))).body, /hello from wrangler/);
});

test('Worker + assets: modules, vars, run_worker_first, env.ASSETS, redeploys, secrets, history, rollback, delete', async () => {
  const name = `wr-worker-${run}`;
  const dir = project({
    'wrangler.toml': [
      `name = "${name}"`,
      'main = "src/index.js"',
      'compatibility_date = "2026-10-01"',
      'no_bundle = true',
      'find_additional_modules = true',
      'rules = [ { type = "ESModule", globs = ["**/*.js"] }, { type = "Text", globs = ["**/*.txt"] } ]',
      '[vars]',
      'GREETING = "hello"',
      'CONF = { level = 3 }',
      '[assets]',
      'directory = "./public"',
      'binding = "ASSETS"',
      'run_worker_first = ["/api/*"]',
      '',
    ].join('\n'),
    'src/index.js': [
      'import { shout } from "./lib.js";',
      'import note from "./note.txt";',
      'export default { async fetch(req, env) {',
      '  const u = new URL(req.url);',
      '  if (u.pathname === "/api/hello") return new Response(`${shout(env.GREETING)}|${env.CONF.level}|${note.trim()}`);',
      '  if (u.pathname === "/api/secret") return new Response(env.API_SECRET ?? "none");',
      '  if (u.pathname === "/api/asset") return env.ASSETS.fetch(new URL("/data.txt", req.url));',
      '  return new Response("worker", { status: 418 });',
      '} };',
      '',
    ].join('\n'),
    'src/lib.js': 'export const shout = (s) => s.toUpperCase() + "!";\n',
    'src/note.txt': 'from a text module\n',
    'public/index.html': '<h1>worker site</h1>\n',
    'public/data.txt': 'data v1\n',
  });
  const d1 = await wrangler(dir, ['deploy']);
  assert.equal(d1.code, 0, d1.out);
  assert.match(d1.out, /Uploaded 2 of 2 assets/, d1.out);
  assert.equal((await visit('/api/hello', host(name))).body, 'HELLO!|3|from a text module');
  assert.equal((await visit('/api/asset', host(name))).body, 'data v1\n');
  const home = await visit('/', host(name));
  assert.equal(home.status, 200);
  assert.match(home.body, /worker site/);
  const first = await active(name);

  // No change: wrangler finds nothing to upload; still a new deployment.
  const d2 = await wrangler(dir, ['deploy']);
  assert.equal(d2.code, 0, d2.out);
  assert.match(d2.out, /No updated asset files to upload/, d2.out);
  const second = await active(name);
  assert.notEqual(second, first);

  // One changed file: exactly one uploaded.
  writeFileSync(join(dir, 'public/data.txt'), 'data v2\n');
  const d3 = await wrangler(dir, ['deploy']);
  assert.equal(d3.code, 0, d3.out);
  assert.match(d3.out, /Found 1 new or modified static asset to upload/, d3.out);
  assert.match(d3.out, /Uploaded 1 of 1 asset/, d3.out);
  assert.equal((await visit('/api/asset', host(name))).body, 'data v2\n');
  const third = await active(name);

  // A secret rolls out as a new deployment with the same code and assets.
  assert.equal((await visit('/api/secret', host(name))).body, 'none');
  const s = await wrangler(dir, ['secret', 'put', 'API_SECRET'], { input: 's3cr3t-value\n' });
  assert.equal(s.code, 0, s.out);
  assert.equal((await visit('/api/secret', host(name))).body, 's3cr3t-value');
  assert.equal((await visit('/api/asset', host(name))).body, 'data v2\n');
  const fourth = await active(name);
  assert.notEqual(fourth, third);
  const list = await wrangler(dir, ['secret', 'list']);
  assert.equal(list.code, 0, list.out);
  assert.match(list.out, /API_SECRET/);
  assert.doesNotMatch(list.out, /s3cr3t-value/);

  const audit = await call('GET', `/__api/audit?project=${name}&limit=100`);
  assert.equal(audit.status, 200, audit.text);
  const actions = audit.body.entries.map((e) => e.action);
  for (const a of ['project.create', 'upload.session', 'upload.assets', 'deployment.create', 'secret.put']) {
    assert.ok(actions.includes(a), `${a} in ${actions}`);
  }
  assert.ok(!audit.text.includes('s3cr3t-value'));

  const deps = await wrangler(dir, ['deployments', 'list']);
  assert.equal(deps.code, 0, deps.out);
  for (const id of [fourth, third]) assert.ok(deps.out.includes(id), deps.out);
  const versions = await wrangler(dir, ['versions', 'list']);
  assert.equal(versions.code, 0, versions.out);
  for (const id of [first, second, third, fourth]) assert.ok(versions.out.includes(id), versions.out);

  // Rollback (default: the previous deployment) is instant: the secret-less code serves again.
  const rb = await wrangler(dir, ['rollback', '--message', 'back', '-y']);
  assert.equal(rb.code, 0, rb.out);
  assert.equal(await active(name), third);
  assert.equal((await visit('/api/secret', host(name))).body, 'none');
  const rb2 = await wrangler(dir, ['rollback', first, '--message', 'first', '-y']);
  assert.equal(rb2.code, 0, rb2.out);
  assert.equal(await active(name), first);
  assert.equal((await visit('/api/asset', host(name))).body, 'data v1\n');

  const del = await wrangler(dir, ['delete']);
  assert.equal(del.code, 0, del.out);
  assert.match(del.out, /Successfully deleted/, del.out);
  assert.equal((await api.getProject(name)).status, 404);
  assert.equal((await visit('/api/hello', host(name))).status, 404);
});

test('unsupported calls answer a Cloudflare error naming them; unsupported bindings are refused', async () => {
  // Queues are not part of Flotilla's wrangler API (D1 and R2 are, since issue 27).
  const r = await fetch(`${BASE}/client/v4/accounts/acc/queues`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = await r.json();
  assert.equal(body.success, false);
  assert.match(body.errors[0].message, /GET \/client\/v4\/accounts\/acc\/queues/);
  const name = `wr-kv-${run}`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n[[kv_namespaces]]\nbinding = "CACHE"\nid = "0123456789abcdef0123456789abcdef"\n`,
    'index.js': 'export default { fetch() { return new Response("x") } };\n',
  });
  const d = await wrangler(dir, ['deploy']);
  assert.notEqual(d.code, 0, d.out);
  assert.match(d.out, /CACHE/, d.out);
  assert.match(d.out, /kv_namespace/, d.out);
});

test('scoped tokens: the same scope and project policy as /__api', async () => {
  const name = `wr-scoped-${run}`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\n`,
    'public/index.html': 'v1\n',
  });
  const mint = async (body) => {
    const r = await call('POST', '/__api/tokens', { body: { name: 'wrangler', ...body } });
    assert.equal(r.status, 201, r.text);
    return r.body.secret;
  };
  // Creating a project needs manage on every project: a read token gets wrangler's auth error.
  const reader = await mint({ projects: '*', scopes: ['read'] });
  const refused = await wrangler(dir, ['deploy'], { token: reader });
  assert.notEqual(refused.code, 0, refused.out);
  assert.match(refused.out, /\[code: 10000\]/, refused.out);
  assert.equal((await api.getProject(name)).status, 404);

  // A manage token on every project makes the first deploy, creating the project (README).
  const manager = await mint({ projects: '*', scopes: ['manage'] });
  const first = await wrangler(dir, ['deploy'], { token: manager });
  assert.equal(first.code, 0, first.out);
  assert.equal((await api.getProject(name)).body.project.slug, name);
  assert.equal((await visit('/', host(name))).body, 'v1\n');
  const before = await active(name);
  // A deploy token for this project deploys it, and its calls are audited under its id.
  const deployer = await mint({ projects: [name], scopes: ['deploy'] });
  writeFileSync(join(dir, 'public/index.html'), 'v2\n');
  const d = await wrangler(dir, ['deploy'], { token: deployer });
  assert.equal(d.code, 0, d.out);
  assert.notEqual(await active(name), before);
  assert.equal((await visit('/', host(name))).body, 'v2\n');
  // Secrets need manage.
  const s = await wrangler(dir, ['secret', 'put', 'X'], { token: deployer, input: 'v\n' });
  assert.notEqual(s.code, 0, s.out);
  assert.match(s.out, /\[code: 10000\]/, s.out);
  const other = await mint({ projects: [`wr-assets-${run}`], scopes: ['manage'] });
  const foreign = await wrangler(dir, ['deploy'], { token: other });
  assert.notEqual(foreign.code, 0, foreign.out);
  assert.match(foreign.out, /\[code: 10000\]|\[code: 10007\]/, foreign.out);
});

const assetsProject = (name, html = 'x\n') => project({
  'wrangler.toml': `name = "${name}"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\n`,
  'public/index.html': html,
});
const slugRows = (slug) => d1Count('SELECT COUNT(*) AS n FROM projects WHERE slug = ?', slug);

test('Worker names that cannot be slugs are refused with the rule and create no project', async () => {
  const id = randomUUID();
  for (const [name, rule] of [
    [id, /has the shape of a project id/],
    [`wr--${run}`, /must not contain `--`/],
  ]) {
    const d = await wrangler(assetsProject(name), ['deploy']);
    assert.notEqual(d.code, 0, d.out);
    assert.match(d.out, rule, d.out);
    assert.match(d.out, /rename the Worker/, d.out);
    assert.equal(slugRows(name), 0, `no project row for ${name}`);
    assert.equal((await api.getProject(name)).status, 404);
  }
  // The same answer, in Cloudflare's envelope, to the calls a deploy makes.
  const base = `/client/v4/accounts/acc/workers/scripts/ab--x-${run}`;
  const s = await call('POST', `${base}/assets-upload-session`, { body: { manifest: { '/index.html': { hash: 'c'.repeat(32), size: 5 } } } });
  assert.equal(s.status, 400, s.text);
  assert.equal(s.body.success, false);
  assert.match(s.body.errors[0].message, /^Invalid `name`: the Worker name `ab--x-\w+` is used as the project slug, and it must not contain `--`/);
  assert.equal(slugRows(`ab--x-${run}`), 0);
});

test('a deleted Worker\'s name stays reserved: deploying it again is a 409 naming the rename', async () => {
  const name = `wr-gone-${run}`;
  const dir = assetsProject(name, 'first\n');
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  const id = (await api.getProject(name)).body.project.id;
  const del = await wrangler(dir, ['delete']);
  assert.equal(del.code, 0, del.out);
  assert.equal((await api.getProject(name)).status, 404);
  const again = await wrangler(dir, ['deploy']);
  assert.notEqual(again.code, 0, again.out);
  assert.match(again.out, /belongs to another \(possibly deleted\) project; rename the Worker/, again.out);
  // The same answer in Cloudflare's envelope, and nothing new was created.
  const s = await call('POST', `/client/v4/accounts/acc/workers/scripts/${name}/assets-upload-session`, {
    body: { manifest: { '/index.html': { hash: 'c'.repeat(32), size: 5 } } },
  });
  assert.equal(s.status, 409, s.text);
  assert.equal(s.body.success, false);
  assert.equal(slugRows(name), 1, 'only the tombstone');
  assert.equal(d1Count('SELECT COUNT(*) AS n FROM projects WHERE slug = ? AND id = ? AND deleted_at IS NOT NULL', name, id), 1);
});

test('a Worker named after an existing project\'s id is not that project: no deploy, read or delete reaches it', async () => {
  const p = await freshProject('id victim');
  await deploySite(p.id, { '/index.html': 'victim v1' });
  const before = (await api.getProject(p.id)).body.project;
  const d = await wrangler(assetsProject(p.id, 'intruder\n'), ['deploy']);
  assert.notEqual(d.code, 0, d.out);
  assert.match(d.out, /has the shape of a project id/, d.out);
  const after = (await api.getProject(p.id)).body.project;
  assert.equal(after.activeDeploymentId, before.activeDeploymentId);
  assert.equal((await api.listDeployments(p.id)).body.deployments.length, 1);
  assert.equal((await visit('/', host(p.slug))).body, 'victim v1');
  assert.equal(slugRows(p.id), 0);
  // Every other Worker call resolves the name by slug too: 404 (10090 / 10007), nothing changes.
  const worker = `/client/v4/accounts/acc/workers`;
  const svc = await call('GET', `${worker}/services/${p.id}`);
  assert.equal(svc.status, 404, svc.text);
  assert.equal(svc.body.errors[0].code, 10090);
  for (const [method, path] of [
    ['GET', `${worker}/scripts/${p.id}/deployments`],
    ['GET', `${worker}/scripts/${p.id}/secrets`],
    ['PUT', `${worker}/scripts/${p.id}/secrets`],
    ['DELETE', `${worker}/scripts/${p.id}`],
    ['DELETE', `${worker}/services/${p.id}`],
  ]) {
    const body = method === 'PUT' ? { name: 'X', text: 'v', type: 'secret_text' } : undefined;
    const r = await call(method, path, { body });
    assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
  }
  const del = await wrangler(assetsProject(p.id), ['delete']);
  assert.notEqual(del.code, 0, del.out);
  assert.deepEqual((await api.getProject(p.id)).body.project, after);
});

test('wrangler asset uploads carry at most 200 files per request', async () => {
  const name = `wr-keys-${run}`;
  const d = await wrangler(assetsProject(name, 'keys\n'), ['deploy']);
  assert.equal(d.code, 0, d.out);
  const manifest = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`/f${i}.txt`, { hash: i.toString(16).padStart(32, '0'), size: 1 }]));
  const s = await call('POST', `/client/v4/accounts/acc/workers/scripts/${name}/assets-upload-session`, { body: { manifest } });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.body.result.buckets.map((b) => b.length).sort((a, b) => a - b), [1, 200]);
  const form = new FormData();
  for (const h of s.body.result.buckets.flat()) form.append(h, new Blob(['eA=='], { type: 'application/null' }), h);
  const r = await call('POST', '/client/v4/accounts/acc/workers/assets/upload?base64=true', { raw: form, token: s.body.result.jwt });
  assert.equal(r.status, 413, r.text);
  assert.equal(r.body.success, false);
  assert.equal(r.body.errors[0].message, 'Files per upload request exceeds the limit of 200');
});

test('whoami and token verification', async () => {
  const ok = await (await fetch(`${BASE}/client/v4/user/tokens/verify`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
  assert.equal(ok.success, true);
  assert.equal(ok.result.status, 'active');
  const bad = await fetch(`${BASE}/client/v4/user/tokens/verify`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(bad.status, 401);
  const body = await bad.json();
  assert.equal(body.errors[0].code, 10000);
  assert.equal(bad.headers.get('content-type'), 'application/json');
});

test('a wrangler asset between 16.7 and 25 MiB deploys (its bucket is one file, base64)', { timeout: 120_000 }, async () => {
  const name = `wr-big-${run}`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\n`,
    'public/index.html': 'big\n',
  });
  // 24 MiB: over the 16 MiB a bucket holds, under the 25 MiB a KV value holds; 32 MiB as base64.
  const big = Buffer.alloc(24 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(dir, 'public', 'big.bin'), big);
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  assert.match(d.out, /Uploaded 2 of 2 assets/, d.out);
  const r = await request('/big.bin', { ...host(name), bytes: true });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, big.length);
  assert.ok(r.body.equals(big), 'served byte for byte');
});
