// The `flotilla` CLI (cli/) against the live Worker: builds the debug binary once, then drives
// it as a user or CI job would — deploy a fixture site, redeploy with one changed file (exactly
// one upload), --no-activate then promote, rollback, a rollout, logs, aliases, tokens, exit codes (bad
// token 3, usage 2, rule-file errors 1 with nothing uploaded), symbolic links (followed inside
// the directory, refused when they lead out of it), and the progress bar under a
// pseudo-TTY (`script`), and KV namespaces (create, list, bind with `deploy --kv`, delete).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, symlinkSync, unlinkSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { ROOT } from '../lib/server.mjs';
import { api, BASE, TOKEN } from '../lib/client.mjs';
import { stub } from '../lib/stubs.mjs';
import { faultProxy } from '../lib/proxy.mjs';

const targetDir = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
const BIN = join(targetDir, 'debug', 'flotilla');
const home = mkdtempSync(join(tmpdir(), 'flotilla-cli-home-'));

before(() => {
  const t0 = Date.now();
  const r = spawnSync('cargo', ['build', '-p', 'flotilla-cli', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  assert.equal(r.status, 0, 'cargo build -p flotilla-cli');
  assert.ok(existsSync(BIN), BIN);
  console.log(`[cli] built ${BIN} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

/** Runs the CLI; env overrides merge over a clean base (no config file, the test server). */
function cli(args, { env = {}, input } = {}) {
  const r = spawnSync(BIN, args, {
    encoding: 'utf8',
    input,
    timeout: 120_000,
    env: {
      PATH: process.env.PATH, HOME: home, FLOTILLA_CONFIG: join(home, 'none.json'),
      FLOTILLA_URL: BASE, FLOTILLA_TOKEN: TOKEN, ...env,
    },
  });
  let json;
  try { json = JSON.parse(r.stdout); } catch { json = undefined; }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

function siteDir(files) {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-site-'));
  for (const [path, body] of Object.entries(files)) {
    const p = join(dir, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, body);
  }
  return dir;
}

const fixture = (v) => ({
  'index.html': `<h1>home ${v}</h1>`,
  'about/index.html': '<h1>about</h1>',
  'style.css': 'body { color: red }',
  '_redirects': '/old /about/ 301\n',
  '_headers': '/*\n  X-From-Cli: yes\n',
  '.git/HEAD': 'ref: refs/heads/main',
  'node_modules/dep/index.js': 'nope',
  '.DS_Store': 'junk',
  'draft.md': 'not for upload',
  '.flotillaignore': '*.md\n',
});

let seq = 0;
const name = (n) => `cli ${n} ${process.pid} ${++seq}`;

async function active(slug) {
  const r = await api.getProject(slug);
  assert.equal(r.status, 200, r.text);
  return r.body.project.activeDeploymentId;
}

test('deploy a site, then redeploy with one changed file uploads exactly one file', async () => {
  const dir = siteDir(fixture(1));
  const first = cli(['deploy', dir, '--create', name('site'), '--json']);
  assert.equal(first.code, 0, first.stderr);
  const j = first.json;
  assert.equal(j.success, true);
  assert.equal(j.deployment.status, 'completed', JSON.stringify(j.deployment));
  // .git, node_modules, .DS_Store, the ignore file and *.md (ignored) are not deployed.
  assert.equal(j.files, 5);
  assert.equal(j.uploaded.files, 5);
  assert.ok(j.url.includes(j.project.slug), j.url);
  assert.ok(j.previewUrl.includes(j.deployment.id.slice(0, 8)), j.previewUrl);
  for (const step of ['validate', 'stage', 'verify', 'activate', 'cleanup']) {
    assert.equal(j.deployment.steps[step].status, 'completed', step);
  }
  assert.match(first.stderr, /validate: completed/);
  const slug = j.project.slug;
  assert.equal(await active(slug), j.deployment.id);

  const home1 = await fetch(`${BASE}/__project/${slug}/`);
  assert.equal(await home1.text(), '<h1>home 1</h1>');
  assert.equal(home1.headers.get('x-from-cli'), 'yes');
  const old = await fetch(`${BASE}/__project/${slug}/old`, { redirect: 'manual' });
  assert.equal(old.status, 301);
  assert.equal((await fetch(`${BASE}/__project/${slug}/draft.md`)).status, 404);

  writeFileSync(join(dir, 'index.html'), '<h1>home 2</h1>');
  const second = cli(['deploy', dir, '--project', slug, '--json']);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.json.missingHashes, 1);
  assert.equal(second.json.uploaded.files, 1);
  assert.equal(second.json.deployment.stats.newAssets, 1, JSON.stringify(second.json.deployment.stats));
  assert.equal(await (await fetch(`${BASE}/__project/${slug}/`)).text(), '<h1>home 2</h1>');

  // Human output: the URL and the preview URL; no change uploads nothing.
  const third = cli(['deploy', dir, '--project', slug]);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, /URL: +http/);
  assert.match(third.stdout, /Preview: +http/);
  assert.match(third.stderr, /nothing to upload/);

  // deployments lists all three, newest first, the active one marked.
  const list = cli(['deployments', '--project', slug, '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.json.deployments.length, 3);
  assert.equal(list.json.deployments[0].active, true);
});

test('--no-activate stages a preview; promote, rollback and alias move production', async () => {
  const dir = siteDir({ 'index.html': 'v1' });
  const a = cli(['deploy', dir, '--create', name('lifecycle'), '--json']);
  assert.equal(a.code, 0, a.stderr);
  const slug = a.json.project.slug;
  writeFileSync(join(dir, 'index.html'), 'v2');
  const b = cli(['deploy', dir, '--project', slug, '--no-activate', '--alias', 'next', '--json']);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.json.deployment.status, 'completed');
  assert.equal(await active(slug), a.json.deployment.id, 'staged deployment is not live');
  assert.equal(b.json.alias.name, 'next');
  assert.equal(b.json.alias.deploymentId, b.json.deployment.id);
  assert.equal(await (await fetch(`${BASE}/__project/${slug}/`)).text(), 'v1');
  assert.equal(await (await fetch(`${BASE}/__project/${slug}@${b.json.deployment.id.slice(0, 8)}/`)).text(), 'v2');

  const promote = cli(['promote', b.json.deployment.id]);
  assert.equal(promote.code, 0, promote.stderr);
  assert.match(promote.stdout, /promoted/);
  assert.equal(await active(slug), b.json.deployment.id);
  assert.equal(await (await fetch(`${BASE}/__project/${slug}/`)).text(), 'v2');

  const back = cli(['rollback', '--project', slug, '--json']);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(back.json.activeDeploymentId, a.json.deployment.id);
  assert.equal(await (await fetch(`${BASE}/__project/${slug}/`)).text(), 'v1');
  const to = cli(['rollback', '--project', slug, '--to', b.json.deployment.id, '--json']);
  assert.equal(to.code, 0, to.stderr);
  assert.equal(await active(slug), b.json.deployment.id);

  // A gradual rollout of the deployment just rolled away from, driven and read by the CLI.
  const start = cli(['rollout', 'start', '--project', slug, a.json.deployment.id, '--steps', '10:60,100:60', '--max-5xx-ratio', '0.1', '--json']);
  assert.equal(start.code, 0, start.stderr);
  assert.equal(start.json.rollout.percent, 10);
  const status = cli(['rollout', 'status', '--project', slug]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`rollout of ${a.json.deployment.id} running at 10%`));
  assert.equal(cli(['rollout', 'pause', '--project', slug, '--json']).json.rollout.status, 'paused');
  const abort = cli(['rollout', 'abort', '--project', slug]);
  assert.equal(abort.code, 0, abort.stderr);
  assert.match(abort.stdout, /aborted at 0%.*: aborted/);
  assert.equal(cli(['rollout', 'resume', '--project', slug]).code, 1, 'nothing to resume');
  assert.equal(await active(slug), b.json.deployment.id);

  const aliases = cli(['alias', 'list', '--project', slug, '--json']);
  assert.equal(aliases.json.aliases.length, 1);
  assert.equal(cli(['alias', 'rm', '--project', slug, 'next']).code, 0);
  assert.equal(cli(['alias', 'list', '--project', slug, '--json']).json.aliases.length, 0);

  // An unknown deployment: the server's message and request id, exit 1.
  const missing = cli(['promote', '00000000-0000-4000-8000-000000000000']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /request id: \S+/);
  assert.doesNotMatch(missing.stderr, /panicked|RUST_BACKTRACE/);
});

test('logs prints every line of a deployment; --async returns at once', async () => {
  const dir = siteDir({ 'index.html': 'logs' });
  const d = cli(['deploy', dir, '--create', name('logs'), '--async', '--json']);
  assert.equal(d.code, 0, d.stderr);
  const id = d.json.deployment.id;
  assert.ok(['queued', 'in_progress', 'completed'].includes(d.json.deployment.status), d.json.deployment.status);
  let status;
  for (let i = 0; i < 100; i++) {
    status = (await api.getDeployment(id)).body.deployment.status;
    if (status === 'completed') break;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(status, 'completed');
  const logs = cli(['logs', id, '--json']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.ok(logs.json.logs.length >= 5, JSON.stringify(logs.json));
  const steps = new Set(logs.json.logs.map((l) => l.step));
  for (const s of ['validate', 'activate']) assert.ok(steps.has(s), s);
  const human = cli(['logs', id]);
  assert.equal(human.code, 0);
  assert.equal(human.stdout.trim().split('\n').length, logs.json.logs.length);
});

test('exit codes: bad or missing token 3, insufficient scope 3, usage 2', async () => {
  const bad = cli(['projects', 'list'], { env: { FLOTILLA_TOKEN: 'not-a-real-token' } });
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, /request id: \S+/);
  assert.doesNotMatch(bad.stderr + bad.stdout, /not-a-real-token/);
  const badJson = cli(['projects', 'list', '--json'], { env: { FLOTILLA_TOKEN: 'nope' } });
  assert.equal(badJson.code, 3);
  assert.equal(badJson.json.success, false);
  assert.equal(badJson.json.status, 401);
  assert.equal(typeof badJson.json.requestId, 'string');

  const none = cli(['projects', 'list'], { env: { FLOTILLA_TOKEN: '' } });
  assert.equal(none.code, 3, none.stderr);
  assert.match(none.stderr, /FLOTILLA_TOKEN/);

  // The config file is the last source; a malformed one is a usage error (2).
  const cfg = join(home, 'config.json');
  writeFileSync(cfg, JSON.stringify({ url: BASE, token: TOKEN }));
  const viaFile = cli(['projects', 'list', '--json'], { env: { FLOTILLA_CONFIG: cfg, FLOTILLA_URL: '', FLOTILLA_TOKEN: '' } });
  assert.equal(viaFile.code, 0, viaFile.stderr);
  assert.ok(Array.isArray(viaFile.json.projects));
  writeFileSync(cfg, '{"url": ');
  const broken = cli(['projects', 'list'], { env: { FLOTILLA_CONFIG: cfg, FLOTILLA_URL: '', FLOTILLA_TOKEN: '' } });
  assert.equal(broken.code, 2, broken.stderr);
  assert.match(broken.stderr, /config file/);

  assert.equal(cli(['deploy']).code, 2);
  assert.equal(cli(['rollback']).code, 2);
  assert.equal(cli(['frobnicate']).code, 2);
  assert.equal(cli(['deploy', '/tmp', '--concurrency', '0']).code, 2);
  const help = cli(['deploy', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:/);

  // A read-only scoped token cannot deploy: 403 -> exit 3. Minted and revoked through the CLI.
  const dir = siteDir({ 'index.html': 'scoped' });
  const p = cli(['projects', 'create', name('scoped'), '--json']);
  assert.equal(p.code, 0, p.stderr);
  const slug = p.json.project.slug;
  const minted = cli(['tokens', 'create', '--name', name('ro'), '--projects', slug, '--scopes', 'read', '--json']);
  assert.equal(minted.code, 0, minted.stderr);
  const secret = minted.json.secret;
  const ro = cli(['deploy', dir, '--project', slug], { env: { FLOTILLA_TOKEN: secret } });
  assert.equal(ro.code, 3, ro.stderr);
  assert.doesNotMatch(ro.stderr, new RegExp(secret));
  const tokens = cli(['tokens', 'list', '--json']);
  assert.ok(tokens.json.tokens.some((t) => t.id === minted.json.token.id));
  assert.equal(cli(['tokens', 'revoke', minted.json.token.id]).code, 0);
  assert.equal(cli(['projects', 'list'], { env: { FLOTILLA_TOKEN: secret } }).code, 3);

  const audit = cli(['audit', '--project', slug, '--json']);
  assert.equal(audit.code, 0, audit.stderr);
  assert.ok(audit.json.entries.length >= 1);
  assert.equal(cli(['projects', 'delete', slug]).code, 0);
});

test('projects show and set: only the settings given change; out-of-range values are usage errors', async () => {
  const p = cli(['projects', 'create', name('settings'), '--json']);
  assert.equal(p.code, 0, p.stderr);
  const slug = p.json.project.slug;
  const set = cli(['projects', 'set', slug, '--skew-protection', 'off', '--skew-pin-seconds', '3600', '--preview-access', 'link']);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /skewProtection: false/);
  assert.match(set.stdout, /skewPinSeconds: 3600/);
  const shown = cli(['projects', 'show', slug, '--json']);
  assert.equal(shown.code, 0, shown.stderr);
  const got = shown.json.project;
  assert.deepEqual([got.skewProtection, got.skewPinSeconds, got.skewFallbackDepth, got.previewAccess, got.enabled],
    [false, 3600, 5, 'link', true]);
  assert.equal(cli(['projects', 'set', slug, '--skew-fallback-depth', '21']).code, 2, 'past the range: usage');
  assert.equal(cli(['projects', 'set', slug]).code, 2, 'nothing to change: usage');
  assert.equal(cli(['projects', 'set', slug, '--skew-protection', 'on', '--json']).json.project.skewProtection, true);
  assert.equal(cli(['projects', 'delete', slug]).code, 0);
});

test('an invalid _redirects line is reported with its line number and nothing is uploaded', async () => {
  const dir = siteDir({
    'index.html': 'x',
    '_redirects': '/ok /fine 301\n# comment\n/only-one-token\n',
    '_headers': '/*\n  X-Ok: 1\n',
  });
  const projectName = name('rules');
  const r = cli(['deploy', dir, '--create', projectName]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /_redirects:3: /);
  assert.match(r.stderr, /nothing was uploaded/);
  // Rejected before any request: not even the project was created.
  const all = await api.listProjects('?limit=100');
  assert.ok(!all.body.projects.some((p) => p.name === projectName), 'no project created');

  const j = cli(['deploy', dir, '--create', projectName, '--json']);
  assert.equal(j.code, 1);
  assert.equal(j.json.error, 'invalid_rules');
  assert.deepEqual(j.json.errors.map((e) => [e.file, e.line]), [['_redirects', 3]]);
});

test('symbolic links inside the directory are deployed; one leading out of it stops the deploy', async () => {
  const outside = siteDir({ 'secret.txt': 'do not publish' });
  const dir = siteDir({ 'index.html': 'home', 'assets/app.js': 'console.log(1)' });
  symlinkSync(join(dir, 'assets'), join(dir, 'static'));
  symlinkSync(join(outside, 'secret.txt'), join(dir, 'leak.txt'));
  const projectName = name('links');
  const r = cli(['deploy', dir, '--create', projectName]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /leak\.txt: symbolic link to .*secret\.txt, which is outside/);
  const all = await api.listProjects('?limit=100');
  assert.ok(!all.body.projects.some((p) => p.name === projectName), 'nothing sent: no project created');

  unlinkSync(join(dir, 'leak.txt'));
  const ok = cli(['deploy', dir, '--create', projectName, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const res = await fetch(`${BASE}/__project/${ok.json.project.slug}/static/app.js`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'console.log(1)');
});

test('under a pseudo-TTY the progress bar renders and ends at 100%', { skip: !existsSync('/usr/bin/script') && 'no script(1)' }, async () => {
  const files = { 'index.html': 'tty' };
  for (let i = 0; i < 30; i++) files[`assets/f${i}.bin`] = `${i}`.repeat(20_000);
  const dir = siteDir(files);
  const p = await api.createProject({ name: name('tty') });
  const slug = p.body.project.slug;
  const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [BIN, 'deploy', dir, '--project', slug, '--concurrency', '2'].map(quote).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      PATH: process.env.PATH, HOME: home, TERM: 'xterm-256color', COLUMNS: '160',
      FLOTILLA_CONFIG: join(home, 'none.json'), FLOTILLA_URL: BASE, FLOTILLA_TOKEN: TOKEN,
    },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const out = r.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  assert.match(out, /\[[= >]*\] +\d+% files \d+\/31 /, 'a bar was drawn');
  assert.match(out, /\[=+\] 100% files 31\/31 /, out.slice(-2000));
  assert.doesNotMatch(out, /^uploaded \d+\/\d+ files/m, 'no plain progress lines on a TTY');
  assert.match(out, /URL: +http/);
});

/** Runs the CLI without blocking this process (the fault proxy below lives in it). */
function cliAsync(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(BIN, args, {
      env: { PATH: process.env.PATH, HOME: home, FLOTILLA_CONFIG: join(home, 'none.json'), FLOTILLA_TOKEN: TOKEN, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({ code, stdout, stderr, json });
    });
  });
}

test('retries honour Retry-After and repeated 5xx drop the upload to one stream', async () => {
  // 450 files -> 3 buckets (200 files per bucket), uploaded 3 at a time until the faults.
  const files = {};
  for (let i = 0; i < 450; i++) files[`f/${i}.txt`] = `file ${i}`;
  const dir = siteDir(files);
  const slug = (await api.createProject({ name: name('faults') })).body.project.slug;
  let sessions = 0;
  let uploads = 0;
  const proxy = await faultProxy((req) => {
    if (req.url.endsWith('/assets-upload-session') && ++sessions === 1) {
      return { status: 429, headers: { 'retry-after': '1' } };
    }
    if (req.url.endsWith('/assets/upload') && ++uploads <= 2) return { status: 503 };
    return null;
  });
  try {
    const r = await cliAsync(['deploy', dir, '--project', slug, '--json'], { FLOTILLA_URL: proxy.url });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.deployment.status, 'completed');
    assert.equal(r.json.uploaded.files, 450);
    assert.equal(r.json.uploaded.droppedToOneStream, true);
    assert.match(r.stderr, /one upload at a time/);
    const s = proxy.seen.filter((x) => x.path.endsWith('/assets-upload-session'));
    assert.equal(s.length, 2, 'the 429 was retried once');
    assert.ok(s[1].at - s[0].at >= 950, `waited ${s[1].at - s[0].at} ms for Retry-After: 1`);
    // 3 buckets + 2 failed attempts, each bucket finally sent.
    assert.equal(proxy.seen.filter((x) => x.path.endsWith('/assets/upload')).length, 5);
  } finally {
    await proxy.close();
  }
  assert.equal((await api.listDeployments(slug)).body.deployments.length, 1);

  // A server that keeps failing: bounded attempts, the server's message, exit 1.
  const dead = await faultProxy((req) => (req.url.endsWith('/assets-upload-session') ? { status: 500 } : null));
  try {
    writeFileSync(join(dir, 'new.txt'), 'new');
    const r = await cliAsync(['deploy', dir, '--project', slug], { FLOTILLA_URL: dead.url });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /injected 500/);
    assert.match(r.stderr, /request id: proxy-fault/);
    assert.equal(dead.seen.filter((x) => x.path.endsWith('/assets-upload-session')).length, 5);
  } finally {
    await dead.close();
  }
});

test('server code from --server with --env, and custom domains through the CLI', async () => {
  const root = siteDir({
    'public/index.html': '<h1>static</h1>',
    'worker/index.js': `import { greet } from './lib.js';
export default { async fetch(req, env) {
  const u = new URL(req.url);
  if (u.pathname === '/api') return new Response(greet(env.GREETING));
  return env.ASSETS.fetch(req);
} };`,
    'worker/lib.js': 'export const greet = (g) => `api says ${g}`;',
  });
  const d = cli(['deploy', join(root, 'public'), '--create', name('code'), '--server', join(root, 'worker'),
    '--env', 'GREETING=hello', '--json']);
  assert.equal(d.code, 0, d.stderr);
  const slug = d.json.project.slug;
  assert.equal(d.json.deployment.status, 'completed');
  assert.equal(await (await fetch(`${BASE}/__project/${slug}/api`)).text(), 'api says hello');
  assert.equal(await (await fetch(`${BASE}/__project/${slug}/`)).text(), '<h1>static</h1>');
  // Two modules and no --entry named index.js/main.js: the CLI asks for --entry (usage, 2).
  const amb = siteDir({ 'a.js': 'export default {}', 'b.js': 'export default {}' });
  assert.equal(cli(['deploy', join(root, 'public'), '--project', slug, '--server', amb]).code, 2);

  const host = `cli-${process.pid}-${seq}.example.com`;
  const add = cli(['domains', 'add', '--project', slug, host, '--json']);
  assert.equal(add.code, 0, add.stderr);
  assert.equal(add.json.domain.status, 'pending');
  const { name: txtName, value } = add.json.domain.verification;
  const human = cli(['domains', 'list', '--project', slug]);
  assert.match(human.stdout, new RegExp(`create TXT ${txtName.replace(/\./g, '\\.')} = ${value}`));
  const early = cli(['domains', 'verify', '--project', slug, host]);
  assert.equal(early.code, 1, early.stderr);
  assert.match(early.stderr, /domain_unverified/);
  assert.match(early.stderr, /request id: \S+/);
  await stub.setTxt(txtName, [JSON.stringify(value)]);
  const ok = cli(['domains', 'verify', '--project', slug, host, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.json.domain.status, 'active');
  assert.equal(cli(['domains', 'list', '--project', slug, '--json']).json.domains.length, 1);
  assert.equal(cli(['domains', 'rm', '--project', slug, host]).code, 0);
  assert.equal(cli(['domains', 'list', '--project', slug, '--json']).json.domains.length, 0);
});

test('KV namespaces through the CLI: create, list, bind with deploy --kv, delete every key', async () => {
  const title = `cli-kv-${process.pid}-${++seq}`;
  const made = cli(['kv', 'namespace', 'create', title, '--json']);
  assert.equal(made.code, 0, made.stderr);
  const id = made.json.namespace.id;
  assert.match(cli(['kv', 'namespace', 'list']).stdout, new RegExp(`${id} ${title}\\s+unbound`));
  const root = siteDir({
    'public/index.html': '<h1>static</h1>',
    'worker/index.js': `export default { async fetch(req, env) {
  if (new URL(req.url).pathname === '/fill') { for (let i = 0; i < 520; i++) await env.CACHE.put('k' + i, 'v'); }
  return new Response(String((await env.CACHE.list()).keys.length));
} };`,
  });
  // --kv binds the namespace under the given name; it needs server code to bind to.
  assert.equal(cli(['deploy', join(root, 'public'), '--create', name('kv'), '--kv', `CACHE=${id}`]).code, 2);
  const d = cli(['deploy', join(root, 'public'), '--create', name('kv'), '--server', join(root, 'worker'),
    '--kv', `CACHE=${id}`, '--json']);
  assert.equal(d.code, 0, d.stderr);
  const slug = d.json.project.slug;
  assert.equal(await (await fetch(`${BASE}/__project/${slug}/fill`)).text(), '520');
  const listed = cli(['kv', 'namespace', 'list', '--json']).json.namespaces.find((n) => n.id === id);
  assert.deepEqual(listed.projects, [d.json.project.id]);
  // Refused while the live deployment binds it.
  const refused = cli(['kv', 'namespace', 'delete', id]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /conflict/);
  assert.equal(cli(['projects', 'delete', slug]).code, 0);
  // One command removes every key, over as many calls as it takes (500 a call).
  const del = cli(['kv', 'namespace', 'delete', id, '--json']);
  assert.equal(del.code, 0, del.stderr);
  assert.deepEqual(del.json.keys, { removed: 520, more: false });
  assert.equal(cli(['kv', 'namespace', 'delete', id]).code, 1, 'gone');
});

test('SQL databases and buckets through the CLI, bound with deploy --sql/--bucket; logs --project shows the runs', async () => {
  const tag = `${process.pid}-${++seq}`;
  const db = cli(['sql', 'database', 'create', `cli-db-${tag}`, '--json']);
  assert.equal(db.code, 0, db.stderr);
  const bucket = cli(['bucket', 'create', `cli-b-${tag}`, '--json']);
  assert.equal(bucket.code, 0, bucket.stderr);
  const [dbId, bucketId] = [db.json.database.id, bucket.json.bucket.id];
  assert.match(cli(['sql', 'database', 'list']).stdout, new RegExp(`${dbId} cli-db-${tag}\\s+unbound`));
  assert.match(cli(['bucket', 'list']).stdout, new RegExp(`${bucketId} cli-b-${tag}\\s+unbound`));
  const bad = cli(['bucket', 'create', 'Not_A_Bucket']);
  assert.equal(bad.code, 1, 'the server refuses R2-invalid names');
  const root = siteDir({
    'public/index.html': '<h1>static</h1>',
    'worker/index.js': `export default { async fetch(req, env) {
  const path = new URL(req.url).pathname;
  await env.DB.exec('CREATE TABLE IF NOT EXISTS hits (n INTEGER)');
  await env.DB.prepare('INSERT INTO hits VALUES (?)').bind(1).run();
  await env.FILES.put('last', path);
  console.log('hit', path);
  if (path === '/fail') throw new Error('cli boom');
  const { n } = await env.DB.prepare('SELECT COUNT(*) AS n FROM hits').first();
  return new Response(n + ' ' + (await (await env.FILES.get('last')).text()));
} };`,
  });
  const d = cli(['deploy', join(root, 'public'), '--create', name('sql'), '--server', join(root, 'worker'),
    '--sql', `DB=${dbId}`, '--bucket', `FILES=${bucketId}`, '--json']);
  assert.equal(d.code, 0, d.stderr);
  const slug = d.json.project.slug;
  assert.match(await (await fetch(`${BASE}/__project/${slug}/a`)).text(), /^\d+ \/a$/);
  assert.equal((await fetch(`${BASE}/__project/${slug}/fail`)).status, 500);
  let runs;
  for (let i = 0; i < 50; i++) {
    runs = cli(['logs', '--project', slug, '--status', 'error']);
    if (runs.stdout.includes('cli boom')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(runs.code, 0, runs.stderr);
  // A run that threw has no response of its own (the visitor got the platform's 500): status "-".
  assert.match(runs.stdout, /- GET \S+\/fail \(exception\)/);
  assert.match(runs.stdout, /\[log\] hit \/fail/);
  assert.match(runs.stdout, /! Error: cli boom/);
  const all = cli(['logs', '-p', slug, '--json']);
  assert.ok(all.json.logs.some((r) => r.request.url.endsWith('/a')), all.stdout);
  assert.equal(cli(['logs', 'some-deployment', '--status', 'error']).code, 2, '--status only with --project');
  assert.equal(cli(['projects', 'delete', slug]).code, 0);
  const dbDel = cli(['sql', 'database', 'delete', dbId, '--json']);
  assert.equal(dbDel.code, 0, dbDel.stderr);
  const bDel = cli(['bucket', 'delete', bucketId]);
  assert.equal(bDel.code, 0, bDel.stderr);
  assert.match(bDel.stdout, /deleted \S+ \(1 objects removed\)/);
});

test('webhooks and drains through the CLI: add (secret once), list, ping, deliveries, remove', { timeout: 120_000 }, async () => {
  const http = await import('node:http');
  const got = [];
  const rx = http.createServer((q, s) => { q.resume(); q.on('end', () => { got.push(q.headers['webhook-id']); s.writeHead(204); s.end(); }); });
  await new Promise((r) => rx.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${rx.address().port}/hook`;
    const { slug } = (await api.createProject({ name: 'cli hooks' })).body.project;
    const add = cli(['webhooks', 'add', '-p', slug, url, '--events', 'deployment.failed,project.deleted', '--json']);
    assert.equal(add.code, 0, add.stderr);
    const w = add.json.webhook;
    assert.match(w.secret, /^whsec_/);
    assert.deepEqual(w.events, ['deployment.failed', 'project.deleted']);
    const human = cli(['webhooks', 'list', '-p', slug]);
    assert.equal(human.code, 0, human.stderr);
    assert.ok(human.stdout.includes(w.id) && !human.stdout.includes(w.secret), human.stdout);
    const ping = cli(['webhooks', 'ping', '-p', slug, w.id, '--json']);
    assert.equal(ping.code, 0, ping.stderr);
    const id = ping.json.delivery.id;
    let shown;
    for (let i = 0; i < 100 && !(shown = cli(['webhooks', 'deliveries', '-p', slug, w.id])).stdout.includes(`${id}  webhook.ping  succeeded  [204]`); i++) {
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.match(shown.stdout, new RegExp(`${id}  webhook\\.ping  succeeded  \\[204\\]`));
    assert.ok(got.includes(id));
    const bad = cli(['webhooks', 'add', '-p', slug, 'http://example.com/x']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /url/);
    const drain = cli(['drains', 'add', '-p', slug, url, '--sources', 'events', '--sampling', '0.5', '--json']);
    assert.equal(drain.code, 0, drain.stderr);
    assert.deepEqual([drain.json.drain.sources, drain.json.drain.sampling], [['events'], 0.5]);
    assert.match(cli(['drains', 'list', '-p', slug]).stdout, /backlog 0 {2}dropped 0/);
    assert.equal(cli(['drains', 'rm', '-p', slug, drain.json.drain.id]).code, 0);
    assert.equal(cli(['webhooks', 'rm', '-p', slug, w.id]).code, 0);
    assert.deepEqual(cli(['webhooks', 'list', '-p', slug, '--json']).json.webhooks, []);
  } finally {
    rx.close();
  }
});
