// Apps that run unchanged (issue 27, "Done when"; SvelteKit: issue 28): examples/hono-app (Hono from npm with D1, KV
// and R2, bundled by wrangler at deploy, its table made by `wrangler d1 migrations apply DB
// --remote`) and examples/astro-app (Astro 5 with @astrojs/cloudflare; its committed
// `astro build` output, see scripts/build-examples.sh), each deployed twice with the real
// wrangler and driven over HTTP like a browser without JavaScript (a cookie jar, nothing else).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, basename } from 'node:path';
import { call } from '../lib/client.mjs';
import { request } from '../lib/site.mjs';
import { wrangler, project } from '../lib/wrangler.mjs';
import { ROOT } from '../lib/server.mjs';

const run = Date.now().toString(36);

/**
 * Copies examples/<name> (without node_modules) to a temp dir, with the Worker's name (and so the
 * database and bucket names derived from it) suffixed by this run so a rerun never collides.
 */
function copyExample(name) {
  const dir = join(mkdtempSync(join(tmpdir(), 'flotilla-app-')), name);
  cpSync(join(ROOT, 'examples', name), dir, { recursive: true, filter: (src) => !['node_modules', '.wrangler', '.astro'].includes(basename(src)) });
  const config = join(dir, 'wrangler.jsonc');
  writeFileSync(config, readFileSync(config, 'utf8').replaceAll(`"${name}`, `"${name}-${run}`));
  return { dir, slug: `${name}-${run}` };
}

/** A client for one app: requests on its host, keeping cookies the way a browser does. */
function browser(slug) {
  const jar = new Map();
  return async (path, { method = 'GET', headers = {}, body } = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const r = await request(path, { host: `${slug}.localhost`, method, body, headers: { ...headers, ...(cookie ? { cookie } : {}) } });
    for (const c of [r.headers['set-cookie'] ?? []].flat()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return r;
  };
}

async function bindingsOf(slug) {
  const r = await call('GET', `/client/v4/accounts/acc/workers/scripts/${slug}/settings`);
  assert.equal(r.status, 200, r.text);
  return r.body.result.bindings.sort((a, b) => a.name.localeCompare(b.name));
}

async function deploy(dir) {
  const t0 = Date.now();
  const d = await wrangler(dir, ['deploy']);
  assert.equal(d.code, 0, d.out);
  console.log(`[apps] wrangler deploy of ${basename(dir)}: ${Date.now() - t0} ms`);
}

test('Hono app with D1, KV and R2: migrations, notes, a cached count and files survive a redeploy', { timeout: 240_000 }, async () => {
  const { dir, slug } = copyExample('hono-app');
  // npm's registry only (the lock file names it); wrangler's esbuild bundles hono at deploy.
  const t0 = Date.now();
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(npm.status, 0, `npm ci: ${npm.stderr}`);
  console.log(`[apps] npm ci of hono-app: ${Date.now() - t0} ms`);

  await deploy(dir);
  const bound = await bindingsOf(slug);
  assert.deepEqual(bound.map((b) => [b.name, b.type]), [['CACHE', 'kv_namespace'], ['DB', 'd1'], ['FILES', 'r2_bucket']]);
  const app = browser(slug);
  assert.equal((await app('/notes')).status, 500); // no table yet: Hono's own error page

  const mig = await wrangler(dir, ['d1', 'migrations', 'apply', 'DB', '--remote']);
  assert.equal(mig.code, 0, mig.out);
  assert.match(mig.out, /0001_notes\.sql/);

  const json = { 'content-type': 'application/json' };
  for (const body of ['first note', 'second note']) {
    const r = await app('/notes', { method: 'POST', headers: json, body: JSON.stringify({ body }) });
    assert.equal(r.status, 201, r.body);
  }
  assert.equal((await app('/notes', { method: 'POST', headers: json, body: '{}' })).status, 400);
  assert.deepEqual(JSON.parse((await app('/notes')).body), [{ id: 1, body: 'first note' }, { id: 2, body: 'second note' }]);
  assert.deepEqual(JSON.parse((await app('/count')).body), { count: 2, cached: false });
  assert.deepEqual(JSON.parse((await app('/count')).body), { count: 2, cached: true });

  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 255, 1, 2, 3]);
  const put = await app('/files/logo.png', { method: 'PUT', headers: { 'content-type': 'image/png' }, body: png });
  assert.equal(put.status, 201, put.body);
  assert.equal(JSON.parse(put.body).size, png.length);
  const got = await request('/files/logo.png', { host: `${slug}.localhost`, bytes: true });
  assert.equal(got.status, 200);
  assert.equal(got.headers['content-type'], 'image/png');
  assert.deepEqual(got.body, png);
  assert.equal((await app('/files/missing.txt')).status, 404);

  // A second deploy inherits the same database, namespace and bucket: data and cache are kept.
  await deploy(dir);
  assert.deepEqual(await bindingsOf(slug), bound);
  assert.equal(JSON.parse((await app('/notes')).body).length, 2);
  assert.deepEqual(JSON.parse((await app('/count')).body), { count: 2, cached: true });
  const third = await app('/notes', { method: 'POST', headers: json, body: JSON.stringify({ body: 'after redeploy' }) });
  assert.deepEqual(JSON.parse(third.body), { id: 3, body: 'after redeploy' });
  assert.deepEqual(JSON.parse((await app('/count')).body), { count: 3, cached: false });
  assert.deepEqual(JSON.parse((await app('/files')).body), [{ key: 'logo.png', size: png.length }]);
  const again = await wrangler(dir, ['d1', 'migrations', 'apply', 'DB', '--remote']);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /No migrations to apply/);
});

test('Astro 5 app: Astro.session on the SESSION namespace survives between requests and a redeploy', { timeout: 180_000 }, async () => {
  const { dir, slug } = copyExample('astro-app');
  await deploy(dir);
  const bound = await bindingsOf(slug);
  assert.deepEqual(bound.map((b) => [b.name, b.type]), [['SESSION', 'kv_namespace']]);

  const visits = (html) => Number(/id="visits">(\d+)</.exec(html)?.[1]);
  const named = (html) => /id="name">([^<]*)</.exec(html)?.[1];
  const alice = browser(slug);
  const first = await alice('/');
  assert.equal(first.status, 200, first.body);
  assert.match(String(first.headers['set-cookie']), /astro-session=/);
  assert.equal(visits(first.body), 1);
  const second = await alice('/?name=ada');
  assert.equal(visits(second.body), 2);
  assert.equal(named(second.body), 'ada');
  const third = await alice('/');
  assert.equal(visits(third.body), 3);
  assert.equal(named(third.body), 'ada');
  // The session's data is in the SESSION namespace, under the cookie's id.
  const sid = /astro-session=([^;]+)/.exec(String(first.headers['set-cookie']))[1];
  const keys = await wrangler(dir, ['kv', 'key', 'list', '--binding', 'SESSION', '--remote']);
  assert.equal(keys.code, 0, keys.out);
  assert.match(keys.out, new RegExp(`"name": "[^"]*${sid}`), keys.out);
  // Another visitor (no cookie) has a session of its own.
  const bob = browser(slug);
  const other = await bob('/');
  assert.equal(visits(other.body), 1);
  assert.equal(named(other.body), 'stranger');

  await deploy(dir);
  assert.deepEqual(await bindingsOf(slug), bound);
  const after = await alice('/');
  assert.equal(visits(after.body), 4, after.body);
  assert.equal(named(after.body), 'ada');
});

// Astro's dist/ has nothing to upload (the worker and _routes.json are in its .assetsignore):
// Cloudflare deploys such a Worker, so Flotilla must too (it answered "Invalid `manifest`: must
// list at least one file").
test('a Worker whose assets directory has nothing to upload deploys', { timeout: 120_000 }, async () => {
  const name = `empty-assets-${run}`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\nassets = { directory = "public", binding = "ASSETS" }\n`,
    'index.js': 'export default { fetch: (req, env) => new Response(`code ${typeof env.ASSETS.fetch}`) };\n',
    'public/.assetsignore': 'hidden.txt\n',
    'public/hidden.txt': 'never uploaded\n',
  });
  await deploy(dir);
  const r = await request('/hidden.txt', { host: `${name}.localhost` });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, 'code function');
});

// examples/sveltekit-app: the `sv create` demo template with @sveltejs/adapter-cloudflare, its
// committed build output (.svelte-kit/cloudflare, scripts/build-examples.sh). Its worker reads
// `caches.default` at load, which failed in a Worker Loader isolate ("The server code failed to
// start: No Cache was configured") before the Cache API of src/js/tenant/cache.js.
test('SvelteKit app: an SSR page, a form action without JavaScript and a hashed asset', { timeout: 240_000 }, async () => {
  const { dir, slug } = copyExample('sveltekit-app');
  await deploy(dir);
  const alice = browser(slug);
  const home = await alice('/');
  assert.equal(home.status, 200, home.body);
  // A hashed asset the (prerendered) home page links, served with the adapter's _headers.
  const asset = /\/_app\/immutable\/[^"]+\.js/.exec(home.body)?.[0];
  assert.ok(asset, home.body);
  const js = await alice(asset);
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /javascript/);
  assert.match(js.headers['cache-control'], /immutable/);
  // Server-rendered on every request: the game's state comes from its cookie.
  const page = await alice('/sverdle');
  assert.equal(page.status, 200, page.body);
  assert.match(page.body, /guesses:\["",/);
  // A form action as a browser without JavaScript posts it (same-origin, as SvelteKit checks).
  const post = await alice('/sverdle?/update', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${slug}.localhost` },
    body: 'key=h',
  });
  assert.ok([200, 303].includes(post.status), `${post.status} ${post.body}`);
  assert.match(String(post.headers['set-cookie']), /sverdle=/);
  const after = await alice('/sverdle');
  assert.match(after.body, /guesses:\["h",/, after.body);
  // Another visitor has a game of its own.
  assert.match((await browser(slug)('/sverdle')).body, /guesses:\["",/);
});
