// Cold start (issue 13): the first response from a fresh runtime, for ours (the deployed bench
// site's `/`), Cloudflare's `[assets]` reference (same files and asset config) and the ceiling
// Worker. Each sample starts a new `wrangler dev` (ours on storage where the site is already
// deployed), and without sending it anything else:
//   boot  = spawning `wrangler dev` -> first 200 of `/` straight from the runtime workerd's socket;
//   first = that first request's own latency (request sent -> last body byte): the first
//           response of a fresh isolate, with empty isolate caches (routing record, manifest);
//   warm  = median of the next WARM requests to `/` on the same runtime.
// bench/README.md "Cold start" defines them; nothing asserts on time.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, readDevVars, startWorker } from '../../tests/lib/server.mjs';
import { classify, listeningPorts } from './procs.mjs';
import { createProject, deploy } from './flotilla.mjs';

const env = process.env;
export const coldConfig = {
  enabled: env.BENCH_COLD !== '0',
  samples: Math.max(1, Number(env.BENCH_COLD_SAMPLES || 3)),
};
const WARM = 20;
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');

function get(port, path, headers, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: 0 }));
    });
    req.on('timeout', () => { req.destroy(); resolve({ status: 0 }); });
    req.on('error', () => resolve({ status: 0 }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[s.length >> 1] : null; };

/** One sample: a new `wrangler dev`, its runtime's first 200 of `path`, then WARM more. */
async function sample({ cwd, config, state, headers, path = '/', extraEnv = {}, extraArgs = [] }) {
  const port = await freePort();
  const inspector = await freePort();
  const t0 = performance.now();
  const child = spawn(WRANGLER, [
    'dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', state, '--log-level', 'warn', '--show-interactive-dev-session=false', ...extraArgs.filter((a) => !a.startsWith('--show-interactive')),
  ], { cwd, env: { ...env, CI: 'true', ...extraEnv }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = false;
  const exitedP = new Promise((r) => child.on('exit', () => { exited = true; r(); }));
  try {
    const deadline = Date.now() + 120_000;
    const tried = new Set(); // ports that answered something else than 200 (inspector, ...)
    while (Date.now() < deadline) {
      if (exited) throw new Error(`wrangler dev exited early:\n${output.slice(-2000)}`);
      const { runtime } = classify(child.pid, port);
      const ports = runtime.flatMap((p) => listeningPorts(p.pid)).filter((p) => !tried.has(p));
      // The entry socket answers HTTP; the inspector answers 500, the debug port never answers.
      const answers = await Promise.all(ports.map((p) => get(p, path, headers, 1500).then((r) => ({ p, r }))));
      const hit = answers.find((a) => a.r.status === 200);
      if (hit) {
        const boot = performance.now() - t0;
        const warm = [];
        for (let i = 0; i < WARM; i++) {
          const r = await get(hit.p, path, headers);
          if (r.status !== 200) throw new Error(`warm request ${i}: ${r.status}`);
          warm.push(r.ms);
        }
        return { bootMs: boot, firstMs: hit.r.ms, warmMs: median(warm), bytes: hit.r.body.length };
      }
      for (const a of answers) if (a.r.status !== 0) tried.add(a.p);
      await sleep(10);
    }
    throw new Error(`no 200 from the runtime within 120 s:\n${output.slice(-2000)}`);
  } finally {
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
    await Promise.race([exitedP, sleep(5000)]);
  }
}

function summarize(samples) {
  const m = (k) => median(samples.map((s) => s[k]));
  return { samples, bootMs: m('bootMs'), firstMs: m('firstMs'), warmMs: m('warmMs') };
}

/**
 * Runs the cold-start samples for `targets` (names from run.mjs: ours, reference, ceiling).
 * `site` is the bench site, `siteDir` its directory, `work` the bench's temp dir.
 */
export async function benchColdStart({
  targets, site, siteDir, work, assetConfig, compatDate, ceilingMain, oursConfig = 'wrangler.toml', oursArgs = [], log = console.log,
}) {
  const out = {};
  const base = join(work, 'cold');
  mkdirSync(base, { recursive: true });
  log(`\n== cold start: ${coldConfig.samples} fresh runtime(s) per target; boot = spawn -> first 200 of / from the runtime, `
    + `first = that request's latency, warm = median of the next ${WARM}`);
  const plans = [];
  if (targets.includes('ours')) {
    plans.push(['ours', async () => {
      // Deploy the bench site once on persisted storage; every sample restarts on it.
      const state = mkdtempSync(join(tmpdir(), 'flotilla-cold-'));
      const server = await startWorker({ state, config: oursConfig, extraArgs: oursArgs });
      let project;
      try {
        const token = readDevVars().API_TOKEN;
        project = await createProject(server.url, token, `cold ${Date.now()}`);
        const d = await deploy(server.url, token, project.id, site, { config: assetConfig });
        if (d.status !== 'completed') throw new Error(`cold: deploy ended ${d.status}`);
      } finally {
        server.stop();
        await sleep(1500);
      }
      const index = site.find((f) => f.path === '/index.html');
      return { cwd: ROOT, config: oursConfig, state, headers: { host: `${project.slug}.localhost` },
        extraEnv: { FLOTILLA_SKIP_BUILD: '1' }, extraArgs: oursArgs, expect: index, cleanup: () => rmSync(state, { recursive: true, force: true }) };
    }]);
  }
  if (targets.includes('reference')) {
    plans.push(['reference', async () => {
      const dir = join(base, 'reference');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'wrangler.toml'), [
        'name = "flotilla-bench-cold-reference"', `compatibility_date = "${compatDate}"`, '', '[assets]',
        `directory = ${JSON.stringify(siteDir)}`, `html_handling = "${assetConfig.html_handling}"`,
        `not_found_handling = "${assetConfig.not_found_handling}"`, '',
      ].join('\n'));
      const state = mkdtempSync(join(tmpdir(), 'flotilla-cold-'));
      return { cwd: dir, config: 'wrangler.toml', state, headers: {}, expect: site.find((f) => f.path === '/index.html'),
        cleanup: () => rmSync(state, { recursive: true, force: true }) };
    }]);
  }
  if (targets.includes('ceiling')) {
    plans.push(['ceiling', async () => {
      const dir = join(base, 'ceiling');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'wrangler.toml'), [
        'name = "flotilla-bench-cold-ceiling"', `main = ${JSON.stringify(ceilingMain)}`, `compatibility_date = "${compatDate}"`, '',
      ].join('\n'));
      const state = mkdtempSync(join(tmpdir(), 'flotilla-cold-'));
      return { cwd: dir, config: 'wrangler.toml', state, headers: {}, cleanup: () => rmSync(state, { recursive: true, force: true }) };
    }]);
  }
  for (const [name, prepare] of plans) {
    const plan = await prepare();
    try {
      const samples = [];
      for (let i = 0; i < coldConfig.samples; i++) {
        const s = await sample(plan);
        if (plan.expect && s.bytes !== plan.expect.size) throw new Error(`${name}: / served ${s.bytes} B, expected ${plan.expect.size}`);
        samples.push(s);
      }
      out[name] = summarize(samples);
      const r = out[name];
      log(`  ${name.padEnd(9)} boot ${fmt(r.bootMs)}  first ${fmt(r.firstMs)}  warm ${fmt(r.warmMs)}  `
        + `(samples: ${samples.map((s) => `${fmt(s.bootMs)}/${fmt(s.firstMs)}`).join(', ')})`);
    } finally {
      plan.cleanup();
    }
  }
  return out;
}

const fmt = (ms) => (ms == null ? '-' : ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`);

/** Summary lines for run.mjs. */
export function coldSummary(c) {
  const rows = Object.entries(c).map(([name, r]) => `  ${name.padEnd(9)} boot ${fmt(r.bootMs)}, first request ${fmt(r.firstMs)}, warm ${fmt(r.warmMs)}`);
  const o = c.ours; const f = c.reference;
  const ratio = o && f && f.firstMs ? `; first request ours / reference ${(o.firstMs / f.firstMs).toFixed(2)}x` : '';
  return [`cold start (median of ${coldConfig.samples}${ratio}):`, ...rows].join('\n');
}
