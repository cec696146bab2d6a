// Apps that run unchanged (issue 27, "Done when"): examples/hono-app (Hono from npm with D1, KV
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
