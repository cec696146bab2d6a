// Issue 32: every Cloudflare tool a user runs talks to Flotilla, never to Cloudflare with a
// Flotilla token. The real `flotilla env` (CLI binary) prints the exports; a shell evals them and
// runs the real wrangler through an outbound recorder (tests/lib/egress.mjs: a forward proxy set
// as HTTPS_PROXY/HTTP_PROXY that refuses anything off loopback). wrangler whoami, deploy of a
// Worker with assets, deployments list, secret put and kv (namespace create/list, key put --remote) must reach only the
// platform, with no request and no credential for a Cloudflare host, telemetry included; the
// negative controls show the recorder does see (and refuse) Cloudflare when a variable is missing.
// A NODE_OPTIONS preload (egress.mjs `guard`) catches sockets that bypass the proxy as well.
// The Cloudflare SDK (at OpenNext's version), the `cf` CLI and `opennextjs-cloudflare deploy` of
// a tiny Next.js app are held to the same rule.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ROOT, freePort } from '../lib/server.mjs';
import { call, BASE } from '../lib/client.mjs';
import { visit } from '../lib/site.mjs';
import { project } from '../lib/wrangler.mjs';
import { egressRecorder, guard, isLoopback } from '../lib/egress.mjs';

const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const targetDir = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
const BIN = join(targetDir, 'debug', 'flotilla');
const run = Date.now().toString(36);
const platform = new URL(BASE);

let recorder;
let direct; // the NODE_OPTIONS guard: sockets opened off loopback without the proxy
let token; // a scoped flt_ token, as a user would have
let envScript; // `flotilla env` output (sh)

before(async () => {
  const b = spawnSync('cargo', ['build', '-p', 'flotilla-cli', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  assert.equal(b.status, 0, 'cargo build -p flotilla-cli');
  assert.ok(existsSync(BIN), BIN);
  const t = await call('POST', '/__api/tokens', { body: { name: `egress-${run}`, projects: '*', scopes: ['manage'] } });
  assert.equal(t.status, 201, t.text);
  token = t.body.secret;
  assert.match(token, /^flt_[0-9a-f]{48}$/);
  const home = mkdtempSync(join(tmpdir(), 'flotilla-egress-cli-'));
  const e = spawnSync(BIN, ['env'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, FLOTILLA_CONFIG: join(home, 'none.json'), FLOTILLA_URL: BASE, FLOTILLA_TOKEN: token },
  });
  assert.equal(e.status, 0, e.stderr);
  envScript = e.stdout;
  recorder = await egressRecorder();
  direct = guard();
});

after(async () => { await recorder?.close(); });

/**
 * Runs wrangler the way a user would after `eval "$(flotilla env)"`: a clean environment (no
 * CLOUDFLARE_* from this process, a fresh HOME so no stored login or telemetry choice), stale
 * Cloudflare global-key credentials the env output must unset, every proxy variable pointed at
 * the recorder. `shellAfter` runs after the eval (to take a variable away for a control).
 */
function wranglerViaEnv(dir, args, opts) {
  return nodeViaEnv(dir, [WRANGLER, ...args], opts);
}

/** As wranglerViaEnv, for any Node program (`argv[0]` is its script). */
function nodeViaEnv(dir, argv, { input, shellAfter = '', script = envScript, proxy = true, extraEnv = {} } = {}) {
  const home = mkdtempSync(join(tmpdir(), 'flotilla-egress-home-'));
  const env = {
    PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), TMPDIR: tmpdir(),
    CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0',
    CLOUDFLARE_API_KEY: 'stale-global-key', CLOUDFLARE_EMAIL: 'someone@example.com',
    CF_API_KEY: 'stale-global-key', CF_EMAIL: 'someone@example.com',
    FLOTILLA_ENV: script, NODE_BIN: process.execPath,
    ...(proxy ? recorder.env : {}),
    ...direct.env,
    ...extraEnv,
  };
  const sh = `eval "$FLOTILLA_ENV"\n${shellAfter}\nexec "$NODE_BIN" "$@"`;
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', sh, 'sh', ...argv], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
    child.stdin.end(input ?? '');
  });
}

/** Nothing went to a Cloudflare host and no credential left loopback; the platform was reached. */
function assertOnlyPlatform(what, out) {
  const seen = recorder.seen;
  assert.deepEqual(recorder.cloudflare(), [], `${what}: Cloudflare hosts contacted\n${out}`);
  assert.deepEqual(direct.attempts(), [], `${what}: sockets opened around the proxy\n${out}`);
  assert.deepEqual(seen.filter((e) => e.credentials && !isLoopback(e.host)), [], `${what}: credentials off loopback`);
  // The positive control: the platform calls went through the recorder, with the token.
  const platformCalls = seen.filter((e) => e.kind === 'http' && isLoopback(e.host) && e.port === Number(platform.port));
  assert.ok(platformCalls.length > 0, `${what}: the recorder saw no platform call (proxy not used?)\n${out}`);
  assert.ok(platformCalls.some((e) => e.credentials && e.path.startsWith('/client/v4/')), `${what}: no authenticated /client/v4 call`);
}

test('flotilla env prints every variable, the telemetry opt-out, and unsets global keys', () => {
  assert.match(envScript, new RegExp(`^export CLOUDFLARE_API_BASE_URL='${BASE}/client/v4'$`, 'm'));
  assert.match(envScript, new RegExp(`^export CLOUDFLARE_BASE_URL='${BASE}/client/v4'$`, 'm'));
  assert.match(envScript, new RegExp(`^export CLOUDFLARE_API_TOKEN='${token}'$`, 'm'));
  assert.match(envScript, /^export CLOUDFLARE_ACCOUNT_ID='flotilla'$/m);
  assert.match(envScript, /^export WRANGLER_SEND_METRICS='false'$/m);
  assert.match(envScript, /^export CLOUDFLARE_CF_FETCH_ENABLED='false'$/m);
  assert.match(envScript, /^unset CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL CF_API_KEY CF_EMAIL/m);
});

test('wrangler through flotilla env: whoami, deploy with assets, deployments, secret, kv: nothing leaves for Cloudflare', async () => {
  const name = `egress-${run}`;
  const dir = project({
    'wrangler.toml': [
      `name = "${name}"`, 'main = "src/index.js"', 'compatibility_date = "2026-10-01"',
      '[assets]', 'directory = "./public"', 'binding = "ASSETS"', 'run_worker_first = ["/api/*"]', '',
    ].join('\n'),
    'src/index.js': 'export default { async fetch(req, env) { const u = new URL(req.url);\n'
      + '  if (u.pathname === "/api/secret") return new Response(env.EGRESS_SECRET ?? "none");\n'
      + '  return env.ASSETS.fetch(req); } };\n',
    'public/index.html': '<h1>egress</h1>\n',
  });

  const devPort = await freePort();
  const steps = [
    // A Flotilla token has no email (`GET /user` is Cloudflare's 9109): whoami says so and
    // lists the one account (through `/accounts` and `/memberships`).
    ['whoami', ['whoami'], (r) => {
      assert.match(r.out, /logged in with an User API Token/, r.out);
      assert.match(r.out, /│ Flotilla\s+│ flotilla\s+│/, r.out);
    }],
    // Remote development needs Cloudflare's preview edge: refused at once (no retries, no
    // "authentication error" hint), naming the call; wrangler exits instead of waiting.
    ['dev --remote', ['dev', '--remote', '--port', String(devPort)], (r) => {
      assert.match(r.out, /\/workers\/scripts\/egress-[0-9a-z]+\/subdomain\/edge-preview\) failed/, r.out);
      assert.doesNotMatch(r.out, /authentication error|wrangler login/i, r.out);
    }, undefined, 1],
    ['deploy', ['deploy'], (r) => assert.match(r.out, /Uploaded 1 of 1 asset/, r.out)],
    ['deployments list', ['deployments', 'list'], (r) => assert.match(r.out, /Version\(s\)|Created|Source/i, r.out)],
    ['secret put', ['secret', 'put', 'EGRESS_SECRET'], (r) => assert.match(r.out, /Success/i, r.out), 's3cret-value'],
    ['kv namespace create', ['kv', 'namespace', 'create', `egress-${run}`], (r) => assert.match(r.out, /Success|created/i, r.out)],
    ['kv namespace list', ['kv', 'namespace', 'list'], (r) => {
      namespaces = JSON.parse(r.out.slice(r.out.search(/^\[\s*[{\]]/m)).trim());
      assert.ok(namespaces.some((n) => n.title === `egress-${run}`), r.out);
    }],
    ['kv key put --remote', () => ['kv', 'key', 'put', '--namespace-id', namespaces.find((n) => n.title === `egress-${run}`).id, 'k', 'v', '--remote'],
      (r) => assert.match(r.out, /Writing the value "v" to key "k"/, r.out)],
  ];
  let namespaces = [];
  for (const [what, argv, check, input, code = 0] of steps) {
    recorder.clear();
    direct.clear();
    const args = typeof argv === 'function' ? argv() : argv;
    const r = await wranglerViaEnv(dir, args, { input });
    assert.equal(r.code, code, `${what}:\n${r.out}`);
    check(r);
    assertOnlyPlatform(what, r.out);
    console.log(`[egress] ${what}: ${recorder.seen.length} requests through the recorder, all to ${platform.host}`);
  }
  // It really deployed, and the secret reached the Worker.
  const home = await visit('/', { host: `${name}.localhost` });
  assert.match(home.body, /egress/);
  const secret = await visit('/api/secret', { host: `${name}.localhost` });
  assert.equal(secret.body, 's3cret-value');
});

// The Cloudflare SDK at the version @opennextjs/cloudflare 1.20 resolves (`cloudflare@^4.4.1`:
// its R2 cache bucket and skew protection) and Cloudflare's `cf` CLI, installed once from the
// npm registry into a temp dir (not devDependencies: cf alone is ~28 MB). The SDK uses
// node-fetch and cf Node's fetch, neither of which reads proxy variables: the preload guard is
// the recorder here, and sees their connections to the platform (positive control).
const TOOLS = join(tmpdir(), 'flotilla-egress-tools-cloudflare4.5.0-cf0.0.5');
const SDK_SCRIPT = `
const Cloudflare = require(process.env.SDK_PATH);
(async () => {
  const c = new Cloudflare();
  const account_id = process.env.CLOUDFLARE_ACCOUNT_ID;
  const out = { baseURL: c.baseURL };
  out.accounts = (await c.accounts.list()).result.map((a) => a.id);
  // Auto-pagination asks page after page until one is empty: it must end.
  out.allAccounts = [];
  for await (const a of c.accounts.list()) { out.allAccounts.push(a.id); if (out.allAccounts.length > 5) break; }
  out.kv = (await c.kv.namespaces.list({ account_id })).result.map((n) => n.title);
  try { await c.r2.buckets.get('opennext-cache-missing', { account_id }); out.r2 = 'ok'; }
  catch (e) { out.r2 = { status: e.status, message: String(e.message).split('\\n')[0] }; }
  try { await c.queues.list({ account_id }); out.queues = 'ok'; }
  catch (e) { out.queues = { status: e.status, message: String(e.message).split('\\n')[0] }; }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(String(e)); process.exit(1); });
`;

function installTools() {
  if (existsSync(join(TOOLS, 'node_modules', 'cf', 'bin', 'cf')) && existsSync(join(TOOLS, 'node_modules', 'cloudflare'))) return;
  mkdirSync(TOOLS, { recursive: true });
  writeFileSync(join(TOOLS, 'package.json'), '{"private": true}');
  const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', TOOLS, 'cloudflare@4.5.0', 'cf@0.0.5'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `npm install cloudflare cf: ${r.stderr}`);
}

/** No Cloudflare host through the proxy or around it; the platform itself was reached. */
function assertDirectOnlyPlatform(what, out) {
  assert.deepEqual(recorder.cloudflare(), [], `${what}: Cloudflare hosts through the proxy\n${out}`);
  assert.deepEqual(direct.attempts(), [], `${what}: connections off loopback\n${out}`);
  assert.ok(direct.connections().some((c) => c.port === Number(platform.port)), `${what}: never reached the platform\n${out}`);
}

test('the Cloudflare SDK (as OpenNext uses it) and the cf CLI through flotilla env reach only the platform', async () => {
  installTools();
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-egress-sdk-'));
  writeFileSync(join(dir, 'sdk.cjs'), SDK_SCRIPT);
  const sdkEnv = { SDK_PATH: join(TOOLS, 'node_modules', 'cloudflare') };
  recorder.clear();
  direct.clear();
  const r = await nodeViaEnv(dir, [join(dir, 'sdk.cjs')], { extraEnv: sdkEnv });
  assert.equal(r.code, 0, r.out);
  const got = JSON.parse(r.out.trim().split('\n').at(-1));
  assert.equal(got.baseURL, `${BASE}/client/v4`);
  assert.deepEqual(got.accounts, ['flotilla']);
  assert.deepEqual(got.allAccounts, ['flotilla'], 'auto-pagination ends after the one account');
  assert.ok(got.kv.includes(`egress-${run}`), r.out);
  // R2 is answered in Cloudflare's shape (a missing bucket is R2's 404, which the SDK reads);
  // what Flotilla does not answer fails at once with a one-line reason (no hang).
  assert.equal(got.r2.status, 404, r.out);
  assert.match(got.r2.message, /10006/, r.out);
  assert.equal(got.queues.status, 501, r.out);
  assert.match(got.queues.message, /queues.*not available/, r.out);
  assertDirectOnlyPlatform('SDK', r.out);

  const CF = join(TOOLS, 'node_modules', 'cf', 'bin', 'cf');
  for (const [what, args] of [['cf accounts list', ['accounts', 'list']], ['cf kv namespaces list', ['kv', 'namespaces', 'list']]]) {
    recorder.clear();
    direct.clear();
    const c = await nodeViaEnv(dir, [CF, ...args], { extraEnv: { CF_HIDE_COMMANDS: 'false', CF_NO_PROMPT: '1' } });
    assert.equal(c.code, 0, `${what}:\n${c.out}`);
    assert.match(c.out, what.includes('kv') ? new RegExp(`egress-${run}`) : /"flotilla"/, c.out);
    assertDirectOnlyPlatform(what, c.out);
  }

  // Control: without CLOUDFLARE_BASE_URL the SDK goes to api.cloudflare.com, and the guard sees it.
  direct.clear();
  const bare = await nodeViaEnv(dir, [join(dir, 'sdk.cjs')], { extraEnv: sdkEnv, shellAfter: 'unset CLOUDFLARE_BASE_URL' });
  assert.notEqual(bare.code, 0, bare.out);
  assert.ok(direct.attempts().some((a) => a.host === 'api.cloudflare.com'), `${JSON.stringify(direct.connections())}\n${bare.out}`);
});

// OpenNext on a real (tiny) Next.js app: next, react and @opennextjs/cloudflare (with its own
// wrangler, as a user's project has) installed once into a temp dir (~700 MB, ~1 min), then
// `opennextjs-cloudflare build` (~30 s) and `deploy` through the recorder.
const NEXT_APP = join(tmpdir(), 'flotilla-egress-opennext1.20.18-next16.4.6');
const OPENNEXT = join(NEXT_APP, 'node_modules', '@opennextjs', 'cloudflare', 'dist', 'cli', 'index.js');

function nextApp(name, { r2Cache = false, kvD1 } = {}) {
  if (!existsSync(OPENNEXT)) {
    mkdirSync(NEXT_APP, { recursive: true });
    writeFileSync(join(NEXT_APP, 'package.json'), JSON.stringify({ private: true, scripts: { build: 'next build' } }));
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', 'next@16.4.6', 'react@19.3.1',
      'react-dom@19.3.1', '@opennextjs/cloudflare@1.20.18', 'wrangler@4.164.0'], { cwd: NEXT_APP, encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `npm install next opennext: ${r.stderr}`);
  }
  const files = {
    'app/layout.js': 'export default function RootLayout({ children }) { return <html><body>{children}</body></html>; }\n',
    'app/page.js': 'export default function Page() { return <h1>hello from next on flotilla</h1>; }\n',
    'next.config.mjs': 'export default {};\n',
    'open-next.config.ts': r2Cache
      ? 'import { defineCloudflareConfig } from "@opennextjs/cloudflare";\n'
        + 'import r2IncrementalCache from "@opennextjs/cloudflare/overrides/incremental-cache/r2-incremental-cache";\n'
        + 'export default defineCloudflareConfig({ incrementalCache: r2IncrementalCache });\n'
      : kvD1
        ? 'import { defineCloudflareConfig } from "@opennextjs/cloudflare";\n'
          + 'import kvIncrementalCache from "@opennextjs/cloudflare/overrides/incremental-cache/kv-incremental-cache";\n'
          + 'import d1NextTagCache from "@opennextjs/cloudflare/overrides/tag-cache/d1-next-tag-cache";\n'
          + 'export default defineCloudflareConfig({ incrementalCache: kvIncrementalCache, tagCache: d1NextTagCache });\n'
        : 'import { defineCloudflareConfig } from "@opennextjs/cloudflare";\nexport default defineCloudflareConfig({});\n',
    'wrangler.jsonc': JSON.stringify({
      name, main: '.open-next/worker.js', compatibility_date: '2026-10-01',
      compatibility_flags: ['nodejs_compat', 'global_fetch_strictly_public'],
      assets: { directory: '.open-next/assets', binding: 'ASSETS' },
      ...(r2Cache ? { r2_buckets: [{ binding: 'NEXT_INC_CACHE_R2_BUCKET', bucket_name: `${name}-cache` }] } : {}),
      ...(kvD1 ? {
        kv_namespaces: [{ binding: 'NEXT_INC_CACHE_KV', id: kvD1.kv }],
        d1_databases: [{ binding: 'NEXT_TAG_CACHE_D1', database_name: `${name}-tags`, database_id: kvD1.d1 }],
      } : {}),
    }, null, 2),
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(NEXT_APP, path, '..'), { recursive: true });
    writeFileSync(join(NEXT_APP, path), text);
  }
  const b = spawnSync(process.execPath, [OPENNEXT, 'build'], {
    cwd: NEXT_APP, encoding: 'utf8', timeout: 600_000, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', CI: 'true' },
  });
  assert.equal(b.status, 0, `opennextjs-cloudflare build:\n${b.stdout}\n${b.stderr}`);
}

test('OpenNext: opennextjs-cloudflare deploy of a Next.js app runs on Flotilla and sends nothing to Cloudflare', async () => {
  const name = `onx-${run}`;
  nextApp(name, { r2Cache: false });
  recorder.clear();
  direct.clear();
  const r = await nodeViaEnv(NEXT_APP, [OPENNEXT, 'deploy'], { extraEnv: { NEXT_TELEMETRY_DISABLED: '1' } });
  assert.equal(r.code, 0, r.out);
  assertOnlyPlatform('opennextjs-cloudflare deploy', r.out);
  assert.deepEqual(direct.attempts(), [], r.out);
  const page = await visit('/', { host: `${name}.localhost` });
  assert.equal(page.status, 200, page.body);
  assert.match(page.body, /hello from next on flotilla/);

  // Not covered: the R2 incremental cache. Its bucket is provisioned on Flotilla now, but
  // populateCache writes through a Worker run in remote development (a preview session on
  // Cloudflare's edge), which Flotilla refuses (see the `dev --remote` step above); OpenNext
  // then waits on its local proxy and retries each write (README, "Tools").
});

test('OpenNext with its KV incremental cache and D1 tag cache: populateCache and the app run on Flotilla', async () => {
  const name = `onxkv-${run}`;
  const cf = async (path, body) => {
    const r = await fetch(`${BASE}/client/v4/accounts/flotilla${path}`, {
      method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    const j = await r.json();
    assert.equal(j.success, true, `${path}: ${JSON.stringify(j)}`);
    return j.result;
  };
  // As OpenNext's docs say: create the namespace and the database first, put their ids in the config.
  const kv = (await cf('/storage/kv/namespaces', { title: `${name}-cache` })).id;
  const d1 = (await cf('/d1/database', { name: `${name}-tags` })).uuid;
  nextApp(name, { kvD1: { kv, d1 } });
  recorder.clear();
  direct.clear();
  const r = await nodeViaEnv(NEXT_APP, [OPENNEXT, 'deploy'], { extraEnv: { NEXT_TELEMETRY_DISABLED: '1' } });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Successfully populated cache with [1-9]\d* entries/, r.out);
  assert.match(r.out, /Successfully created D1 table/, r.out);
  assertOnlyPlatform('opennextjs-cloudflare deploy (KV cache, D1 tag cache)', r.out);
  // The cache entries are in the namespace (wrangler kv bulk put), the tag table in the database.
  const keys = await cf(`/storage/kv/namespaces/${kv}/keys`);
  assert.ok(keys.length > 0, JSON.stringify(keys));
  const q = await cf(`/d1/database/${d1}/query`, { sql: 'SELECT COUNT(*) AS n FROM revalidations' });
  assert.equal(q[0].success, true, JSON.stringify(q));
  const page = await visit('/', { host: `${name}.localhost` });
  assert.equal(page.status, 200, page.body);
  assert.match(page.body, /hello from next on flotilla/);
});

test('negative control: without CLOUDFLARE_API_BASE_URL wrangler goes to api.cloudflare.com, and the recorder sees and refuses it', async () => {
  recorder.clear();
  const dir = project({ 'wrangler.toml': `name = "egress-${run}"\ncompatibility_date = "2026-10-01"\n` });
  const r = await wranglerViaEnv(dir, ['deployments', 'list'], { shellAfter: 'unset CLOUDFLARE_API_BASE_URL' });
  assert.notEqual(r.code, 0, r.out);
  const api = recorder.cloudflare().filter((e) => e.host === 'api.cloudflare.com');
  assert.ok(api.length > 0, `the recorder did not see api.cloudflare.com\n${JSON.stringify(recorder.seen)}\n${r.out}`);
  assert.ok(api.every((e) => e.refused && e.kind === 'connect'), JSON.stringify(api));
  assert.equal(recorder.seen.filter((e) => isLoopback(e.host) && e.port === Number(platform.port)).length, 0);
});

test('negative control: without WRANGLER_SEND_METRICS=false wrangler posts telemetry to Cloudflare', async () => {
  recorder.clear();
  const dir = project({ 'wrangler.toml': `name = "egress-${run}"\ncompatibility_date = "2026-10-01"\n` });
  const r = await wranglerViaEnv(dir, ['deployments', 'list'], { shellAfter: 'unset WRANGLER_SEND_METRICS' });
  const telemetry = recorder.cloudflare();
  assert.ok(telemetry.some((e) => e.host === 'sparrow.cloudflare.com'), `no telemetry seen\n${JSON.stringify(recorder.seen)}\n${r.out}`);
  assert.ok(telemetry.every((e) => e.refused && !e.credentials), JSON.stringify(telemetry));
});

test('negative control: with no proxy variables, the preload guard still sees and refuses the direct connection', async () => {
  recorder.clear();
  direct.clear();
  const dir = project({ 'wrangler.toml': `name = "egress-${run}"\ncompatibility_date = "2026-10-01"\n` });
  const r = await wranglerViaEnv(dir, ['deployments', 'list'], { shellAfter: 'unset CLOUDFLARE_API_BASE_URL', proxy: false });
  assert.notEqual(r.code, 0, r.out);
  assert.equal(recorder.seen.length, 0);
  assert.ok(direct.attempts().some((a) => a.host === 'api.cloudflare.com'), `${JSON.stringify(direct.attempts())}\n${r.out}`);
});
