// Issue 32: every Cloudflare tool a user runs talks to Flotilla, never to Cloudflare with a
// Flotilla token. The real `flotilla env` (CLI binary) prints the exports; a shell evals them and
// runs the real wrangler through an outbound recorder (tests/lib/egress.mjs: a forward proxy set
// as HTTPS_PROXY/HTTP_PROXY that refuses anything off loopback). wrangler whoami, deploy of a
// Worker with assets, deployments list, secret put and kv (namespace create/list, key put --remote) must reach only the
// platform, with no request and no credential for a Cloudflare host, telemetry included; the
// negative controls show the recorder does see (and refuse) Cloudflare when a variable is missing.
// A NODE_OPTIONS preload (egress.mjs `guard`) catches sockets that bypass the proxy as well.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ROOT } from '../lib/server.mjs';
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
function wranglerViaEnv(dir, args, { input, shellAfter = '', script = envScript, proxy = true } = {}) {
  const home = mkdtempSync(join(tmpdir(), 'flotilla-egress-home-'));
  const env = {
    PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), TMPDIR: tmpdir(),
    CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0',
    CLOUDFLARE_API_KEY: 'stale-global-key', CLOUDFLARE_EMAIL: 'someone@example.com',
    CF_API_KEY: 'stale-global-key', CF_EMAIL: 'someone@example.com',
    FLOTILLA_ENV: script, NODE_BIN: process.execPath, WRANGLER_JS: WRANGLER,
    ...(proxy ? recorder.env : {}),
    ...direct.env,
  };
  const sh = `eval "$FLOTILLA_ENV"\n${shellAfter}\nexec "$NODE_BIN" "$WRANGLER_JS" "$@"`;
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', sh, 'sh', ...args], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
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

  const steps = [
    // `GET /client/v4/user` is not answered by Flotilla (10405): whoami fails, but only here.
    ['whoami', ['whoami'], (r) => assert.match(r.out, /GET \/client\/v4\/user.*10405/, r.out), undefined, 1],
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
