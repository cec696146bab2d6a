#!/usr/bin/env node
// Flotilla load benchmark: ours (the Rust Worker serving a deployed site) against Cloudflare's own
// asset serving (an assets-only Worker on the same files) and a constant-response ceiling Worker;
// plus dynamic requests: a deployment's server code run by ours through the Worker Loader against
// the same code as a plain Worker. All under `wrangler dev` on this machine, one server at a time. Prints a report and writes
// bench/results/latest.json. No assertions on timings; exits 1 only when something functionally
// broke (a deploy step failed, a file served wrong bytes, a scenario got unexpected statuses).
// Knobs: see bench/README.md.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ROOT, readDevVars, startWorker } from '../tests/lib/server.mjs';
import { writeSite } from './lib/site.mjs';
import { classify, clockTicks, cpuTicks, findRuntimeEntryPort, systemBusyTicks } from './lib/procs.mjs';
import { runLoad } from './lib/load.mjs';
import { startWrangler, stopAll } from './lib/wrangler.mjs';
import { createProject, deploy } from './lib/flotilla.mjs';
import { benchBigsite, bigsiteConfig, bigsiteSummary } from './lib/bigsite.mjs';
import { benchColdStart, coldConfig, coldSummary } from './lib/coldstart.mjs';
import { BIGFILE, benchBigfile, bigfileSummary } from './lib/bigfile.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const num = (v, d) => (v === undefined || v === '' || Number.isNaN(Number(v)) ? d : Number(v));
const CFG = {
  files: num(env.BENCH_FILES, 300),
  largeImages: num(env.BENCH_LARGE_IMAGES, 2),
  seed: num(env.BENCH_SEED, 20261122),
  durationMs: num(env.BENCH_DURATION, 8) * 1000,
  warmupMs: num(env.BENCH_WARMUP, 2) * 1000,
  concurrency: num(env.BENCH_CONCURRENCY, 16),
  direct: env.BENCH_DIRECT !== '0',
  uploadConcurrency: num(env.BENCH_UPLOAD_CONCURRENCY, 4),
  hitMaxBytes: num(env.BENCH_HIT_MAX_BYTES, 128 * 1024),
  mode: env.BENCH_MODE === 'path' ? 'path' : 'subdomain',
  targets: (env.BENCH_TARGETS ?? 'ours,reference,ceiling,loader').split(',').map((s) => s.trim()).filter(Boolean),
  keepSite: env.BENCH_KEEP_SITE === '1',
  static: env.BENCH_STATIC !== '0',
  dynamic: env.BENCH_DYNAMIC !== '0',
};
const ASSET_CONFIG = { html_handling: 'auto-trailing-slash', not_found_handling: 'single-page-application' };
const COMPAT_DATE = '2026-10-01';
// Dynamic scenario: the server code both sides run, and the one URL every request asks for.
const DYNAMIC_WORKER = join(BENCH, 'dynamic', 'worker.js');
const DYNAMIC_PATH = '/api/item/42?x=1';

const problems = [];
const problem = (msg) => {
  msg = msg.replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
  problems.push(msg); console.log(`  !! ${msg}`);
};
const log = (...a) => console.log(...a);
let workDir; // temp dir with the generated site and configs, removed on exit and on signals
const cleanup = () => { if (workDir && !CFG.keepSite) rmSync(workDir, { recursive: true, force: true }); };
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopAll(); cleanup(); process.exit(130); });

// ---------------------------------------------------------------------------------------------
// Formatting
const fmtMs = (v) => (v == null ? '-' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
const fmtN = (v, d = 0) => (v == null || Number.isNaN(v) ? '-' : v.toFixed(d));
const fmtB = (b) => (b >= 1048576 ? `${(b / 1048576).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
const ratio = (a, b) => (a == null || b == null || !b ? null : a / b);
const fmtR = (r) => (r == null ? '-' : `${r.toFixed(2)}x`);
function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Deterministic shuffle so every target gets the same request order.
function shuffled(arr, seed) {
  const a = [...arr];
  let x = seed >>> 0 || 1;
  for (let i = a.length - 1; i > 0; i--) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function get(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) { const k = i++; await fn(items[k], k); }
  }));
}

// ---------------------------------------------------------------------------------------------
// One target = a running wrangler dev + how visitors address the site on it.
//   t = { name, server: {port, pid}, prefix, host(direct:boolean) -> Host header or undefined }

/** Functional check before any load: every file's canonical URL serves exactly its bytes. */
async function verifySite(t, site) {
  let wrong = 0; const samples = [];
  await pool(site, 8, async (f) => {
    try {
      const r = await get(t.server.port, t.prefix + f.url, t.headers(false));
      const h = createHash('sha256').update(r.body).digest('hex');
      if (r.status !== 200 || h !== f.hash) {
        wrong++;
        if (samples.length < 5) samples.push(`${f.url} -> ${r.status}, ${r.body.length} B${r.status === 200 ? ' (bytes differ)' : ''}`);
      }
    } catch (e) { wrong++; if (samples.length < 5) samples.push(`${f.url} -> ${e.message}`); }
  });
  if (wrong) problem(`${t.name}: ${wrong}/${site.length} files not served byte-exact: ${samples.join('; ')}`);
  else log(`  verified: all ${site.length} files served byte-exact at their canonical URLs`);
  return wrong;
}

function scenariosFor(t, site, etags) {
  const index = site.find((f) => f.path === '/index.html');
  const indexHead = index.buf.subarray(0, 64);
  const hitFiles = shuffled(site.filter((f) => f.size <= CFG.hitMaxBytes), CFG.seed);
  const spaPaths = Array.from({ length: 200 }, (_, i) => `/app/${['dashboard', 'settings', 'users', 'reports'][i % 4]}/${i}/view`);
  return {
    hits: (direct) => hitFiles.map((f) => ({
      path: t.prefix + f.url,
      headers: t.headers(direct),
      check: (s, n) => s === 200 && n === f.size,
    })),
    conditional: (direct) => hitFiles.filter((f) => etags.has(f.url)).map((f) => ({
      path: t.prefix + f.url,
      headers: { ...t.headers(direct), 'if-none-match': etags.get(f.url) },
      check: (s) => s === 304,
    })),
    spa: (direct) => spaPaths.map((p) => ({
      path: t.prefix + p,
      headers: { ...t.headers(direct), 'sec-fetch-mode': 'navigate', accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' },
      check: (s, n, head) => s === 200 && n === index.size && head.subarray(0, 64).equals(indexHead),
    })),
  };
}

/**
 * What bench/dynamic/worker.js answers for DYNAMIC_PATH, computed by running the module itself in
 * this Node process (imported from the same bytes that are deployed): {src, status, body}.
 */
async function dynamicExpectation() {
  const src = readFileSync(DYNAMIC_WORKER);
  const mod = await import(`data:text/javascript;base64,${src.toString('base64')}`);
  const r = await mod.default.fetch(new Request(`http://bench.invalid${DYNAMIC_PATH}`));
  return { src, status: r.status, contentType: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
}

/**
 * `dynamic` addresses ours as visitors do in production (`Host: <slug>.localhost`, the code sees
 * the URL unchanged); `dynamic-path` (ours only, when `tp` is given) through local path mode,
 * where the platform rewrites the URL and adds `X-Forwarded-Prefix` (one request copy more).
 * Both are compared with the reference's `dynamic`.
 */
function dynamicScenario(t, exp, tp) {
  const one = (u) => (direct) => [{
    path: u.prefix + DYNAMIC_PATH,
    headers: u.headers(direct),
    fullBody: true,
    check: (s, n, body) => s === exp.status && body.equals(exp.body),
  }];
  return tp ? { dynamic: one(t), 'dynamic-path': one(tp) } : { dynamic: one(t) };
}

/** Functional check before loading the dynamic scenario: status and exact JSON bytes. */
async function verifyDynamic(t, exp) {
  const r = await get(t.server.port, t.prefix + DYNAMIC_PATH, t.headers(false));
  if (r.status !== exp.status || !r.body.equals(exp.body)) {
    throw new Error(`GET ${t.prefix}${DYNAMIC_PATH} -> ${r.status} ${JSON.stringify(r.body.toString('utf8', 0, 300))}; `
      + `expected ${exp.status} ${JSON.stringify(exp.body.toString())}`);
  }
  log(`  verified: GET ${t.prefix}${DYNAMIC_PATH} -> ${r.status} ${r.headers['content-type']}, the worker's exact ${r.body.length} B of JSON`);
}

async function collectEtags(t, site) {
  const etags = new Map();
  let missing = 0; let weak = 0;
  await pool(site.filter((f) => f.size <= CFG.hitMaxBytes), 8, async (f) => {
    const r = await get(t.server.port, t.prefix + f.url, t.headers(false));
    const e = r.headers.etag;
    if (r.status === 200 && e) { etags.set(f.url, e); if (e.startsWith('W/')) weak++; } else missing++;
  });
  if (missing) problem(`${t.name}: ${missing} hit responses carried no ETag`);
  if (weak) log(`  note: ${weak} ETags are weak (W/)`);
  return etags;
}

/**
 * Identifies the processes and (if wanted) the runtime's own entry port. Called before every
 * measurement: wrangler restarts the runtime workerd (new pid, new port) when its inputs change,
 * e.g. when build/ is rebuilt while the bench runs.
 */
async function identify(t, probePath, { quiet = false } = {}) {
  const c = classify(t.server.pid, t.server.port);
  const desc = (ps) => ps.map((p) => p.pid).join(',') || 'none';
  const key = `${desc(c.proxy)}/${desc(c.runtime)}`;
  const changed = t.lastProcs !== undefined && t.lastProcs !== key;
  if (!quiet || changed) {
    log(`  processes${changed ? ' (CHANGED: runtime restarted)' : ''}: proxy workerd ${desc(c.proxy)} (listens on :${t.server.port}), `
      + `runtime workerd ${desc(c.runtime)}, node ${desc(c.node)}`);
  }
  t.lastProcs = key;
  if (c.proxy.length !== 1 || c.runtime.length < 1) problem(`${t.name}: expected 1 proxy + >=1 runtime workerd, found ${c.proxy.length} + ${c.runtime.length}`);
  let directPort = null;
  if (CFG.direct) {
    directPort = await findRuntimeEntryPort(c.runtime.map((p) => p.pid), t.prefix + probePath, t.headers(true));
    if (!quiet || changed || directPort !== t.lastDirectPort) {
      if (directPort) log(`  runtime entry socket: 127.0.0.1:${directPort} (direct scenarios bypass the proxy)`);
      else log('  runtime entry socket: not found (direct scenarios skipped)');
    }
    t.lastDirectPort = directPort;
  }
  return { procs: c, directPort, key };
}

function sampler(procs) {
  const ids = (ps) => ps.map((p) => p.pid);
  return () => ({
    runtime: cpuTicks(ids(procs.runtime)),
    proxy: cpuTicks(ids(procs.proxy)),
    node: cpuTicks(ids(procs.node)),
    system: { ticks: systemBusyTicks(), gone: 0 },
  });
}

async function measureOnce(t, name, requests, port, procs, via) {
  const r = await runLoad({
    port, requests, concurrency: CFG.concurrency, warmupMs: CFG.warmupMs, durationMs: CFG.durationMs, sample: sampler(procs),
  });
  const tick = 1000 / clockTicks(); // ms per tick
  const per = (k) => (r.requests ? ((r.after[k].ticks - r.before[k].ticks) * tick) / r.requests : null);
  const util = (k) => ((r.after[k].ticks - r.before[k].ticks) * tick) / 1000 / r.seconds;
  const restarted = ['runtime', 'proxy'].some((k) => r.after[k].gone > 0);
  // CPU used meanwhile by everything else on the machine (other servers, builds, tests): noise.
  const ownMs = ['runtime', 'proxy', 'node'].reduce((a, k) => a + (r.after[k].ticks - r.before[k].ticks) * tick, 0)
    + (r.loadgenCpuMsPerReq ?? 0) * r.requests;
  const otherCores = Math.max(0, ((r.after.system.ticks - r.before.system.ticks) * tick - ownMs) / 1000 / r.seconds);
  return {
    target: t.name, scenario: name, via, port, concurrency: CFG.concurrency, seconds: r.seconds,
    requests: r.requests, rps: r.rps, p50: r.p50, p90: r.p90, p99: r.p99, max: r.max,
    ok: r.ok, unexpected: r.unexpected, errors: r.errors, statuses: r.statuses, bytes: r.bytes,
    runtimeCpuMsPerReq: per('runtime'), proxyCpuMsPerReq: per('proxy'),
    workerdCpuMsPerReq: r.requests ? per('runtime') + per('proxy') : null,
    nodeCpuMsPerReq: per('node'), loadgenCpuMsPerReq: r.loadgenCpuMsPerReq,
    runtimeCores: util('runtime'), proxyCores: util('proxy'), otherCores,
    runtimePids: procs.runtime.map((p) => p.pid), proxyPids: procs.proxy.map((p) => p.pid),
    cpuTicks: { before: r.before, after: r.after },
    restarted, badSamples: r.badSamples,
  };
}

const runtimeKey = (t) => classify(t.server.pid, t.server.port).runtime.map((p) => p.pid).join(',');

/** Waits until the runtime pid set has not changed for `quietMs` (a reload burst is over). */
async function waitStable(t, quietMs = 3000, maxMs = 30_000) {
  const end = Date.now() + maxMs;
  let key = runtimeKey(t); let since = Date.now();
  while (Date.now() < end && Date.now() - since < quietMs) {
    await new Promise((r) => setTimeout(r, 250));
    const k = runtimeKey(t);
    if (k !== key) { key = k; since = Date.now(); }
  }
}

/** One scenario on one path (proxy|direct); measured again (up to 3 times) if the runtime restarted mid-window. */
async function measure(t, name, build, via, probePath) {
  let res;
  const attempts = 3;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const idn = await identify(t, probePath, { quiet: true });
    const port = via === 'direct' ? idn.directPort : t.server.port;
    if (!port) return null;
    res = await measureOnce(t, name, build(via === 'direct'), port, idn.procs, via);
    if (runtimeKey(t) !== idn.procs.runtime.map((p) => p.pid).join(',')) res.restarted = true;
    if (!res.restarted) break;
    log(`  ${name} (${via}): the runtime workerd restarted during the window (wrangler reload: build/ or the entry changed?)`
      + `${attempt < attempts ? '; waiting for it to settle and measuring again' : ''}`);
    if (attempt < attempts) await waitStable(t);
  }
  log(`  ${`${name} (${via})`.padEnd(22)} ${fmtN(res.rps, 0).padStart(6)} req/s  p50 ${fmtMs(res.p50)} p90 ${fmtMs(res.p90)} p99 ${fmtMs(res.p99)} ms  `
    + `runtime ${fmtMs(res.runtimeCpuMsPerReq)} ms/req (${fmtN(res.runtimeCores, 2)} cores)  proxy ${fmtMs(res.proxyCpuMsPerReq)}  `
    + `workerd ${fmtMs(res.workerdCpuMsPerReq)}  ok ${res.ok}/${res.requests}${res.unexpected ? ` unexpected ${res.unexpected}` : ''}${res.errors ? ` errors ${res.errors}` : ''}`);
  if (res.otherCores > 0.25) log(`  note: other processes on this machine used ${res.otherCores.toFixed(2)} cores during that window (noisy numbers)`);
  if (res.restarted) {
    for (const k of ['runtimeCpuMsPerReq', 'proxyCpuMsPerReq', 'workerdCpuMsPerReq', 'nodeCpuMsPerReq', 'runtimeCores', 'proxyCores']) res[k] = null;
  }
  if (res.restarted) problem(`${t.name} ${name} (${via}): runtime restarted during the window ${attempts} times; numbers invalid`);
  else if (res.unexpected || res.errors) {
    problem(`${t.name} ${name} (${via}): ${res.unexpected} unexpected responses, ${res.errors} errors; statuses ${JSON.stringify(res.statuses)}; e.g. ${res.badSamples.join('; ')}`);
  }
  if (via === 'direct' && !res.restarted && res.requests && res.proxyCpuMsPerReq > res.runtimeCpuMsPerReq) {
    problem(`${t.name} ${name}: under direct load the "proxy" burned more CPU than the "runtime": process identification suspect`);
  }
  return res;
}

async function runScenarios(t, scen, probePath) {
  const out = [];
  for (const [name, build] of Object.entries(scen)) {
    if (!build(false).length) { problem(`${t.name} ${name}: no requests to send`); continue; }
    for (const via of CFG.direct ? ['proxy', 'direct'] : ['proxy']) {
      const r = await measure(t, name, build, via, probePath);
      if (r) out.push(r);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Targets

/**
 * wrangler.toml for ours, generated under bench/results/ (git-ignored): the same config minus the
 * `[build]` section. With a custom build command wrangler watches `src/` and reloads the runtime
 * (new workerd process) on every edit there; while someone works on src/ that restarts the
 * runtime mid-measurement. build/ is used as it is (the lead rebuilds it).
 * Relative paths are rewritten relative to the new location; `.dev.vars` is passed via --env-file.
 */
function oursConfig() {
  if (env.BENCH_OURS_CONFIG) return env.BENCH_OURS_CONFIG;
  const dir = join(BENCH, 'results');
  mkdirSync(dir, { recursive: true });
  const rel = (p) => relative(dir, join(ROOT, p));
  let text = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  text = text.replace(/^\[build\][\s\S]*?(?=^\[)/m, '# [build] removed by bench/run.mjs (no src/ watcher; build/ used as is)\n\n');
  text = text.replace(/^(main|migrations_dir)(\s*=\s*)"([^"]+)"/gm, (_, k, eq, p) => `${k}${eq}"${rel(p)}"`);
  const out = join(dir, 'wrangler.bench.toml');
  writeFileSync(out, `# Generated by bench/run.mjs from ../../wrangler.toml; do not edit.\n${text}`);
  return out;
}

/** wrangler dev arguments for ours besides the config. */
const oursArgs = () => ['--show-interactive-dev-session=false', '--env-file', join(ROOT, '.dev.vars')];

/** Runs one part of a target; a failure is recorded (results.errors[key] + a problem) and yields no rows. */
async function part(results, key, fn) {
  try { return await fn(); } catch (e) {
    results.errors[key] = e.stack ?? String(e);
    problem(`${key}: ${e.message.split('\n').slice(0, 6).join(' | ')}`);
    return [];
  }
}

async function benchOurs(site, results, exp) {
  log('\n== ours: Flotilla (build/ as it is, wrangler dev, local bindings)');
  // Two builds (scripts/build.sh): the visitor-only one every request enters (what a visitor's
  // cold start instantiates) and the full one, loaded on the first management request.
  const wasm = join(ROOT, 'build', 'site', 'index_bg.wasm');
  const fullWasm = join(ROOT, 'build', 'index_bg.wasm');
  if (existsSync(wasm) && existsSync(fullWasm)) {
    const size = (f) => { const raw = readFileSync(f); return { bytes: raw.length, gzipBytes: gzipSync(raw, { level: 9 }).length }; };
    results.wasm = { ...size(wasm), full: size(fullWasm), built: statSync(wasm).mtime.toISOString() };
    log(`  wasm: visitor build ${fmtB(results.wasm.bytes)} raw, ${fmtB(results.wasm.gzipBytes)} gzip; full build ${fmtB(results.wasm.full.bytes)} raw, ${fmtB(results.wasm.full.gzipBytes)} gzip (built ${results.wasm.built})`);
  }
  const token = readDevVars().API_TOKEN;
  const t0 = performance.now();
  const config = oursConfig();
  const server = await startWorker({
    config, quiet: true, extraArgs: oursArgs(),
  });
  log(`  started in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${server.url} (wrangler pid ${server.pid}; config ${relative(ROOT, config)})`);
  try {
    const out = [];
    if (CFG.static) out.push(...await part(results, 'ours', () => oursStatic(server, token, site, results)));
    if (CFG.dynamic) out.push(...await part(results, 'ours-dynamic', () => oursDynamic(server, token, results, exp)));
    // Serving a large file (R2, raw upload): bench/lib/bigfile.mjs, BENCH_BIGFILE=0 skips it.
    if (BIGFILE.enabled) out.push(...await part(results, 'ours-bigfile', () => benchBigfile(server, token, results, { log, problem })));
    return out;
  } finally {
    server.stop();
    if (results.wasm && existsSync(wasm) && statSync(wasm).mtime.toISOString() !== results.wasm.built) {
      results.wasm.changedDuringRun = statSync(wasm).mtime.toISOString();
      log(`  note: build/ was rebuilt during this run (${results.wasm.changedDuringRun}); wrangler reloaded the runtime and later windows measured the new build`);
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
}

/** Static site on ours: full + no-change deploy timed, byte-exact check, hits/conditional/spa. */
async function oursStatic(server, token, site, results) {
  const project = await createProject(server.url, token, 'bench');
  log(`  project ${project.slug} (${project.id})`);
  const siteBytes = site.reduce((s, f) => s + f.size, 0);
  const full = await deploy(server.url, token, project.id, site, { concurrency: CFG.uploadConcurrency, config: ASSET_CONFIG });
  log(`  full deploy:      ${fmtMs(full.totalMs)} ms  (session ${fmtMs(full.sessionMs)}, upload ${fmtMs(full.uploadMs)} in ${full.buckets} buckets x${CFG.uploadConcurrency}, deploy ${fmtMs(full.deployMs)})  `
    + `${full.uploadedFiles} files ${fmtB(full.uploadedBytes)}, ${fmtB(full.requestBytes)} base64 JSON; status ${full.status}; new ${full.newAssets} skipped ${full.skippedAssets}`);
  const again = await deploy(server.url, token, project.id, site, { concurrency: CFG.uploadConcurrency, config: ASSET_CONFIG });
  log(`  no-change deploy: ${fmtMs(again.totalMs)} ms  (session ${fmtMs(again.sessionMs)}, deploy ${fmtMs(again.deployMs)})  `
    + `${again.buckets} buckets, ${again.uploadedFiles} files uploaded; status ${again.status}; new ${again.newAssets} skipped ${again.skippedAssets}`);
  results.deploy = { files: site.length, siteBytes, full, noChange: again };
  if (full.uploadedFiles !== site.length) problem(`ours: full deploy uploaded ${full.uploadedFiles} of ${new Set(site.map((f) => f.hash)).size} distinct files`);
  if (full.status !== 'completed') problem(`ours: full deploy status ${full.status}`);
  if (again.status !== 'completed') problem(`ours: no-change deploy status ${again.status}`);
  if (again.buckets !== 0 || again.uploadedFiles !== 0) problem(`ours: no-change redeploy asked for ${again.uploadedFiles} files in ${again.buckets} buckets (expected none)`);

  let mode = CFG.mode;
  const mk = (m) => oursTarget(server, project, m);
  let t = mk(mode);
  const probe = await get(server.port, `${t.prefix}/`, t.headers(false));
  if (probe.status !== 200 && mode === 'subdomain') {
    const tp = mk('path');
    const p2 = await get(server.port, `${tp.prefix}/`, tp.headers(false));
    problem(`ours: subdomain mode GET / answered ${probe.status}${p2.status === 200 ? '; falling back to path mode' : ` (path mode: ${p2.status})`}`);
    if (p2.status === 200) { mode = 'path'; t = tp; }
  }
  log(`  visitors: ${mode} mode (${mode === 'path' ? `GET ${t.prefix}/…` : `Host: ${project.slug}.localhost`})`);
  results.oursMode = mode;
  const wrong = await verifySite(t, site);
  if (wrong === site.length) throw new Error('no file served correctly; skipping load');
  const etags = await collectEtags(t, site);
  const idn = await identify(t, '/');
  results.processes.ours = summarizeProcs(idn);
  return await runScenarios(t, scenariosFor(t, site, etags), '/');
}

/**
 * How a load target addresses one of ours' projects: `subdomain` (`Host: <slug>.localhost`, with
 * the proxy's port when going through it) or `path` (`/__project/<slug>`).
 */
function oursTarget(server, project, mode) {
  return {
    name: 'ours', server, mode,
    prefix: mode === 'path' ? `/__project/${project.slug}` : '',
    headers: (direct) => (mode === 'subdomain' ? { host: direct ? `${project.slug}.localhost` : `${project.slug}.localhost:${server.port}` } : {}),
  };
}

/**
 * Dynamic requests on ours: a second project whose deployment carries bench/dynamic/worker.js as
 * server code with run_worker_first = true (a one-file site for the upload phase), addressed in
 * subdomain mode and in path mode. Every request: our Worker -> routing lookup -> Worker Loader -> the user isolate.
 */
async function oursDynamic(server, token, results, exp) {
  log(`\n  -- ours, dynamic: ${relative(ROOT, DYNAMIC_WORKER)} deployed as server code (run_worker_first = true), through the Worker Loader`);
  const project = await createProject(server.url, token, 'bench-dynamic');
  const html = Buffer.from('<!doctype html><title>dynamic</title><h1>static index (never served: run_worker_first)</h1>\n');
  const files = [{ path: '/index.html', buf: html, size: html.length, hash: createHash('sha256').update(html).digest('hex') }];
  const serverCode = { entrypoint: 'index.js', compatibilityDate: COMPAT_DATE, modules: { 'index.js': exp.src.toString('base64') } };
  const d = await deploy(server.url, token, project.id, files, { concurrency: 1, extra: { serverCode, run_worker_first: true } });
  log(`  project ${project.slug} (${project.id}); deploy with server code: ${fmtMs(d.totalMs)} ms (session ${fmtMs(d.sessionMs)}, upload ${fmtMs(d.uploadMs)}, `
    + `deploy ${fmtMs(d.deployMs)}); status ${d.status}; code ${exp.src.length} B`);
  results.dynamic.ours = { slug: project.slug, projectId: project.id, modes: ['subdomain', 'path'], deploy: d };
  if (d.status !== 'completed') throw new Error(`deploy with server code: status ${d.status}`);
  const t = oursTarget(server, project, 'subdomain');
  const tp = oursTarget(server, project, 'path');
  log(`  visitors: subdomain mode (Host: ${project.slug}.localhost, GET ${DYNAMIC_PATH}) and path mode (GET ${tp.prefix}${DYNAMIC_PATH}; the code sees ${DYNAMIC_PATH})`);
  await verifyDynamic(t, exp);
  await verifyDynamic(tp, exp);
  const idn = await identify(t, DYNAMIC_PATH);
  results.processes['ours-dynamic'] = summarizeProcs(idn);
  return await runScenarios(t, dynamicScenario(t, exp, tp), DYNAMIC_PATH);
}

async function benchReference(site, siteDir, work, results, exp) {
  const out = [];
  if (CFG.static) out.push(...await part(results, 'reference', () => referenceStatic(site, siteDir, work, results)));
  if (CFG.dynamic) out.push(...await part(results, 'reference-dynamic', () => referenceDynamic(work, results, exp)));
  return out;
}

async function referenceStatic(site, siteDir, work, results) {
  log('\n== reference: Cloudflare asset serving (assets-only Worker, same files, same asset config)');
  const dir = join(work, 'reference');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'wrangler.toml'), [
    'name = "flotilla-bench-reference"',
    `compatibility_date = "${COMPAT_DATE}"`,
    '',
    '[assets]',
    `directory = ${JSON.stringify(siteDir)}`,
    `html_handling = "${ASSET_CONFIG.html_handling}"`,
    `not_found_handling = "${ASSET_CONFIG.not_found_handling}"`,
    '',
  ].join('\n'));
  const t0 = performance.now();
  const server = await startWrangler({ cwd: dir, readyPath: '/' });
  log(`  started in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${server.url} (wrangler pid ${server.pid}; config ${join(dir, 'wrangler.toml')})`);
  try {
    const t = { name: 'reference', server, prefix: '', headers: () => ({}) };
    await verifySite(t, site);
    const etags = await collectEtags(t, site);
    const idn = await identify(t, '/');
    results.processes.reference = summarizeProcs(idn);
    return await runScenarios(t, scenariosFor(t, site, etags), '/');
  } finally {
    await server.stop();
  }
}

/** The same server code as a plain Worker (`main` = bench/dynamic/worker.js), no platform in front. */
async function referenceDynamic(work, results, exp) {
  log(`\n== reference, dynamic: ${relative(ROOT, DYNAMIC_WORKER)} as a plain Worker`);
  const dir = join(work, 'dynamic');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'wrangler.toml'), [
    'name = "flotilla-bench-dynamic"',
    `main = ${JSON.stringify(DYNAMIC_WORKER)}`,
    `compatibility_date = "${COMPAT_DATE}"`,
    '',
  ].join('\n'));
  const t0 = performance.now();
  const server = await startWrangler({ cwd: dir, readyPath: DYNAMIC_PATH });
  log(`  started in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${server.url} (wrangler pid ${server.pid}; config ${join(dir, 'wrangler.toml')})`);
  try {
    const t = { name: 'reference', server, prefix: '', headers: () => ({}) };
    await verifyDynamic(t, exp);
    const idn = await identify(t, DYNAMIC_PATH);
    results.processes['reference-dynamic'] = summarizeProcs(idn);
    return await runScenarios(t, dynamicScenario(t, exp), DYNAMIC_PATH);
  } finally {
    await server.stop();
  }
}

async function benchCeiling(work, results) {
  log('\n== ceiling: constant-response Worker (bench/ceiling/worker.js)');
  return benchConstant(work, results, 'ceiling', {
    'wrangler.toml': [
      'name = "flotilla-bench-ceiling"',
      `main = ${JSON.stringify(join(BENCH, 'ceiling', 'worker.js'))}`,
      `compatibility_date = "${COMPAT_DATE}"`,
      '',
    ].join('\n'),
  });
}

/**
 * Loader floor: the ceiling's code (bench/ceiling/worker.js) run through the Worker Loader by a
 * generated Worker that does nothing else (no routing, no storage, headers untouched). Its
 * runtime CPU per request minus the ceiling's is what one Worker Loader dispatch costs in itself
 * under workerd: the part of ours' `dynamic` overhead no platform code can remove. With the
 * dynamic scenario on, the same bare dispatch also runs bench/dynamic/worker.js (`/api/...`):
 * the floor of ours' `dynamic` for that very code.
 */
async function benchLoaderFloor(work, results, exp) {
  log('\n== loader floor: bench/ceiling/worker.js (and bench/dynamic/worker.js) behind a bare Worker Loader dispatch');
  const code = readFileSync(join(BENCH, 'ceiling', 'worker.js'), 'utf8');
  const load = (name, src) => `env.LOADER.get('${name}', () => ({ compatibilityDate: '${COMPAT_DATE}', mainModule: 'worker.js', modules: { 'worker.js': ${src} }, globalOutbound: null }))`;
  const files = {
    'worker.js': [
      `const CODE = ${JSON.stringify(code)};`,
      `const DYNAMIC = ${JSON.stringify(readFileSync(DYNAMIC_WORKER, 'utf8'))};`,
      'export default {',
      '  fetch(request, env) {',
      `    const stub = new URL(request.url).pathname.startsWith('/api/') ? ${load('dynamic', 'DYNAMIC')} : ${load('ceiling', 'CODE')};`,
      '    return stub.getEntrypoint().fetch(request);',
      '  },',
      '};',
      '',
    ].join('\n'),
    'wrangler.toml': [
      'name = "flotilla-bench-loader"',
      'main = "worker.js"',
      `compatibility_date = "${COMPAT_DATE}"`,
      '[[worker_loaders]]',
      'binding = "LOADER"',
      '',
    ].join('\n'),
  };
  const more = CFG.dynamic && exp ? (t) => dynamicScenario(t, exp) : undefined;
  return benchConstant(work, results, 'loader', files, more);
}

/**
 * A target that answers every `/page-N` with a constant page: `files` written to work/<name>;
 * `more(t)` adds scenarios.
 */
async function benchConstant(work, results, name, files, more) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  const server = await startWrangler({ cwd: dir, readyPath: '/' });
  try {
    const t = { name, server, prefix: '', headers: () => ({}) };
    const idn = await identify(t, '/');
    results.processes[name] = summarizeProcs(idn);
    const paths = Array.from({ length: 50 }, (_, i) => `/page-${i}`);
    return await runScenarios(t, {
      constant: () => paths.map((p) => ({ path: p, headers: {}, check: (st) => st === 200 })),
      ...(more ? more(t) : {}),
    }, '/');
  } finally {
    await server.stop();
  }
}

function summarizeProcs(idn) {
  const s = (ps) => ps.map((p) => ({ pid: p.pid, args: p.args.join(' ').slice(0, 300) }));
  return { proxy: s(idn.procs.proxy), runtime: s(idn.procs.runtime), runtimeEntryPort: idn.directPort };
}

// ---------------------------------------------------------------------------------------------

function printSummary(results) {
  const all = results.scenarios;
  const find = (target, scenario, via) => all.find((r) => r.target === target && r.scenario === scenario && r.via === via);
  log('\n================================ SUMMARY ================================');
  log(`${cpus().length} CPUs, concurrency ${CFG.concurrency}, ${CFG.durationMs / 1000} s windows after ${CFG.warmupMs / 1000} s warmup; `
    + `site ${results.site.files} files, ${fmtB(results.site.bytes)}; hits use the ${results.site.hitFiles} files <= ${fmtB(CFG.hitMaxBytes)}`);
  log('CPU columns are milliseconds of CPU per request: "runtime" = the runtime workerd (your Worker + bindings),');
  log('"workerd" = runtime + proxy workerd, "node" = wrangler\'s Node processes, "loadgen" = this process;');
  log('"other" = cores used meanwhile by unrelated processes (noise). Ratios are ours / reference (lower is better for p50 and CPU).');
  if (CFG.dynamic) {
    log(`"dynamic": GET ${DYNAMIC_PATH} answered by bench/dynamic/worker.js; ours = our Worker + routing + Worker Loader + the user`);
    log('isolate, all inside the one runtime workerd (so its runtime CPU includes the user code); reference = the same code as a plain Worker.');
  }
  log('');
  const rows = [];
  for (const r of all) {
    rows.push([`${r.target}`, r.scenario, r.via, fmtN(r.rps), fmtMs(r.p50), fmtMs(r.p90), fmtMs(r.p99),
      fmtMs(r.runtimeCpuMsPerReq), fmtMs(r.proxyCpuMsPerReq), fmtMs(r.workerdCpuMsPerReq), fmtMs(r.nodeCpuMsPerReq), fmtMs(r.loadgenCpuMsPerReq),
      `${r.ok}/${r.requests}`, r.unexpected + r.errors, fmtN(r.otherCores, 2)]);
  }
  log(table(['target', 'scenario', 'via', 'req/s', 'p50', 'p90', 'p99', 'runtime', 'proxy', 'workerd', 'node', 'loadgen', 'ok', 'bad', 'other'], rows));

  const cmp = []; results.comparison = [];
  const treeCpu = (r) => (r?.workerdCpuMsPerReq == null || r.nodeCpuMsPerReq == null ? null : r.workerdCpuMsPerReq + r.nodeCpuMsPerReq);
  // Ours' path-mode dynamic run is compared with the same reference run as `dynamic`.
  const refScenario = (s) => (s === 'dynamic-path' ? 'dynamic' : s);
  for (const scenario of ['hits', 'conditional', 'spa', 'dynamic', 'dynamic-path']) {
    for (const via of ['proxy', 'direct']) {
      const o = find('ours', scenario, via); const f = find('reference', refScenario(scenario), via);
      if (!o && !f) continue;
      const c = {
        scenario, via,
        rpsRatio: ratio(o?.rps, f?.rps), p50Ratio: ratio(o?.p50, f?.p50),
        runtimeCpuRatio: ratio(o?.runtimeCpuMsPerReq, f?.runtimeCpuMsPerReq),
        workerdCpuRatio: ratio(o?.workerdCpuMsPerReq, f?.workerdCpuMsPerReq),
        // The issue's "whole process tree": both workerd processes plus wrangler's Node.
        treeCpuRatio: ratio(treeCpu(o), treeCpu(f)),
      };
      results.comparison.push(c);
      cmp.push([scenario, via,
        fmtN(o?.rps), fmtN(f?.rps), fmtR(c.rpsRatio),
        fmtMs(o?.p50), fmtMs(f?.p50), fmtR(c.p50Ratio),
        fmtMs(o?.runtimeCpuMsPerReq), fmtMs(f?.runtimeCpuMsPerReq), fmtR(c.runtimeCpuRatio),
        fmtR(c.workerdCpuRatio), fmtR(c.treeCpuRatio)]);
    }
  }
  log('\nours vs reference');
  log(table(['scenario', 'via', 'ours req/s', 'ref req/s', 'ratio', 'ours p50', 'ref p50', 'ratio', 'ours rt-cpu', 'ref rt-cpu', 'ratio', 'workerd-cpu ratio', 'tree-cpu ratio'], cmp));
  for (const [scenario, via] of [['dynamic', 'proxy'], ['dynamic', 'direct'], ['dynamic-path', 'proxy'], ['dynamic-path', 'direct']]) {
    const o = find('ours', scenario, via); const f = find('reference', 'dynamic', via);
    if (!o || !f) continue;
    const dCpu = o.runtimeCpuMsPerReq != null && f.runtimeCpuMsPerReq != null ? o.runtimeCpuMsPerReq - f.runtimeCpuMsPerReq : null;
    const over = { scenario, via, runtimeCpuMsPerReq: dCpu, p50Ms: o.p50 - f.p50 };
    (results.dynamic.overhead ??= []).push(over);
    log(`${scenario} (${via}): the platform in front of the same code costs ${dCpu == null ? '-' : `${dCpu >= 0 ? '+' : ''}${fmtMs(dCpu)}`} ms runtime CPU/request `
      + `(${fmtMs(o.runtimeCpuMsPerReq)} vs ${fmtMs(f.runtimeCpuMsPerReq)}) and ${over.p50Ms >= 0 ? '+' : ''}${fmtMs(over.p50Ms)} ms p50`);
  }
  const ceil = all.filter((r) => r.target === 'ceiling');
  for (const c of ceil) log(`ceiling (${c.via}): ${fmtN(c.rps)} req/s, p50 ${fmtMs(c.p50)} ms, runtime ${fmtMs(c.runtimeCpuMsPerReq)} ms/req, workerd ${fmtMs(c.workerdCpuMsPerReq)} ms/req`);
  for (const l of all.filter((r) => r.target === 'loader' && r.scenario === 'dynamic')) {
    const f = find('reference', 'dynamic', l.via);
    const floor = { via: l.via, runtimeCpuMsPerReq: l.runtimeCpuMsPerReq, ratioToReference: ratio(l.runtimeCpuMsPerReq, f?.runtimeCpuMsPerReq) };
    (results.dynamic.floor ??= []).push(floor);
    const mine = ['dynamic', 'dynamic-path'].map((s) => [s, find('ours', s, l.via)]).filter(([, o]) => o)
      .map(([s, o]) => `ours ${s} ${fmtR(ratio(o.runtimeCpuMsPerReq, l.runtimeCpuMsPerReq))} of it`).join(', ');
    log(`dynamic floor (${l.via}): the same code behind a bare Worker Loader dispatch: runtime ${fmtMs(l.runtimeCpuMsPerReq)} ms/req`
      + (f ? ` = ${fmtR(floor.ratioToReference)} the reference's` : '') + (mine ? `; ${mine}` : ''));
  }
  for (const l of all.filter((r) => r.target === 'loader' && r.scenario === 'constant')) {
    const c = find('ceiling', 'constant', l.via);
    const r = ratio(l.runtimeCpuMsPerReq, c?.runtimeCpuMsPerReq);
    (results.loaderFloor ??= []).push({ via: l.via, runtimeCpuMsPerReq: l.runtimeCpuMsPerReq, ratioToCeiling: r });
    log(`loader floor (${l.via}): the same constant page through a bare Worker Loader dispatch: runtime ${fmtMs(l.runtimeCpuMsPerReq)} ms/req`
      + (c ? ` = ${fmtR(r)} the ceiling's (${c.runtimeCpuMsPerReq >= 0 ? '+' : ''}${fmtMs(l.runtimeCpuMsPerReq - c.runtimeCpuMsPerReq)} ms: the Worker Loader's own cost)` : ''));
  }
  const d = results.deploy;
  if (d) {
    log(`deploy (${d.files} files, ${fmtB(d.siteBytes)}): full ${fmtMs(d.full.totalMs)} ms (session ${fmtMs(d.full.sessionMs)} + upload ${fmtMs(d.full.uploadMs)} + deploy ${fmtMs(d.full.deployMs)}; `
      + `${fmtB(d.full.requestBytes)} sent in ${d.full.buckets} buckets); no-change ${fmtMs(d.noChange.totalMs)} ms (session ${fmtMs(d.noChange.sessionMs)} + deploy ${fmtMs(d.noChange.deployMs)})`);
  } else if (results.errors.ours) log(`deploy: not measured (${results.errors.ours.split('\n')[0]})`);
  if (results.wasm) {
    const w = results.wasm;
    log(`wasm: visitor build ${fmtB(w.bytes)} raw / ${fmtB(w.gzipBytes)} gzip (${w.gzipBytes} bytes; every request enters it, a visitor's cold start instantiates only it); `
      + `full build ${fmtB(w.full.bytes)} raw / ${fmtB(w.full.gzipBytes)} gzip (loaded on the first API/MCP/queue/cron use); both ${fmtB(w.gzipBytes + w.full.gzipBytes)} gzip`);
  }
  bigfileSummary(results, log);
  if (results.coldStart) log(coldSummary(results.coldStart));
  if (results.bigsite) log(bigsiteSummary(results.bigsite));
}

async function extra(results, key, fn) {
  try { results[key] = await fn(); } catch (e) {
    results.errors[key] = e.stack ?? String(e);
    problem(`${key}: ${e.message.split('\n').slice(0, 6).join(' | ')}`);
  }
}

async function main() {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  workDir = work;
  const siteDir = join(work, 'site');
  const results = {
    startedAt: new Date(started).toISOString(), config: CFG, cpus: cpus().length, clockTicks: clockTicks(),
    processes: {}, scenarios: [], errors: {}, problems, dynamic: {},
  };
  try {
    const tg = performance.now();
    const site = writeSite(siteDir, CFG.files, CFG.seed, CFG.largeImages);
    const bytes = site.reduce((s, f) => s + f.size, 0);
    const byExt = {};
    for (const f of site) { const e = f.path.split('.').pop(); byExt[e] = byExt[e] ?? { files: 0, bytes: 0 }; byExt[e].files++; byExt[e].bytes += f.size; }
    const sizes = site.map((f) => f.size).sort((a, b) => a - b);
    results.site = { files: site.length, bytes, byExt, minBytes: sizes[0], medianBytes: sizes[sizes.length >> 1], maxBytes: sizes.at(-1),
      hitFiles: site.filter((f) => f.size <= CFG.hitMaxBytes).length };
    log(`Flotilla bench — site: ${site.length} files, ${fmtB(bytes)} (min ${fmtB(sizes[0])}, median ${fmtB(results.site.medianBytes)}, max ${fmtB(sizes.at(-1))}) `
      + `generated in ${((performance.now() - tg) / 1000).toFixed(1)} s at ${siteDir}`);
    log(`  ${Object.entries(byExt).map(([e, v]) => `${e} ${v.files} (${fmtB(v.bytes)})`).join(', ')}`);
    log(`  load: concurrency ${CFG.concurrency}, warmup ${CFG.warmupMs / 1000} s, window ${CFG.durationMs / 1000} s, via proxy${CFG.direct ? ' and direct to the runtime' : ''}; targets ${CFG.targets.join(', ')}; `
      + `scenarios ${[CFG.static && 'static (hits, conditional, spa)', CFG.dynamic && 'dynamic'].filter(Boolean).join(' + ') || 'none'}`);
    let exp;
    if (CFG.dynamic) {
      exp = await dynamicExpectation();
      results.dynamic = { path: DYNAMIC_PATH, worker: relative(ROOT, DYNAMIC_WORKER), codeBytes: exp.src.length,
        expected: { status: exp.status, contentType: exp.contentType, body: exp.body.toString() } };
      log(`  dynamic: GET ${DYNAMIC_PATH} -> ${exp.status} ${exp.body.toString()} (computed by running ${relative(ROOT, DYNAMIC_WORKER)} in Node)`);
    }

    for (const target of CFG.targets) {
      try {
        let res;
        if (target === 'ours') res = await benchOurs(site, results, exp);
        else if (target === 'reference') res = await benchReference(site, siteDir, work, results, exp);
        else if (target === 'ceiling') res = await benchCeiling(work, results);
        else if (target === 'loader') res = await benchLoaderFloor(work, results, exp);
        else { problem(`unknown target ${target}`); continue; }
        results.scenarios.push(...res);
      } catch (e) {
        results.errors[target] = e.stack ?? String(e);
        problem(`${target}: ${e.message.split('\n').slice(0, 6).join(' | ')}`);
      }
    }
    // Cold start and the big site (bench/lib/coldstart.mjs, bench/lib/bigsite.mjs): each on
    // its own fresh `wrangler dev`s. BENCH_COLD=0 / BENCH_BIGSITE=0 skip them.
    if (coldConfig.enabled) {
      await extra(results, 'coldStart', () => benchColdStart({ targets: CFG.targets, site, siteDir, work, assetConfig: ASSET_CONFIG,
        compatDate: COMPAT_DATE, ceilingMain: join(BENCH, 'ceiling', 'worker.js'), oursConfig: oursConfig(), oursArgs: oursArgs(), log }));
    }
    if (bigsiteConfig.enabled) {
      log(`\n== bigsite: ${bigsiteConfig.files} small files, full deploy and no-change redeploy on a fresh wrangler dev`);
      await extra(results, 'bigsite', () => benchBigsite({ config: oursConfig(), extraArgs: oursArgs(), log }));
    }
    printSummary(results);
  } finally {
    stopAll();
    cleanup();
  }
  results.seconds = (Date.now() - started) / 1000;
  const outDir = join(BENCH, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  log(`\nresults: ${join(outDir, 'latest.json')} (${results.seconds.toFixed(0)} s total)`);
  if (problems.length) {
    log(`\n${problems.length} functional problem(s):`);
    for (const p of problems) log(`  - ${p}`);
    process.exitCode = 1;
  }
}

main().catch((e) => { console.error(e); stopAll(); process.exit(1); });
