#!/usr/bin/env node
// CPU profile of one request kind on ours, for finding where runtime CPU goes (not a benchmark:
// nothing here is compared or recorded). Starts `wrangler dev` on build/ as it is, deploys the
// bench's dynamic project (or a one-file static site with PROFILE_KIND=static), drives load for a
// few seconds while the V8 sampling profiler of our Worker's isolate runs (through wrangler's
// inspector port), and prints the functions with the most self time, then the same grouped by
// crate/module. Build with `CARGO_PROFILE_RELEASE_STRIP=false npm run build` first, or wasm
// functions show up as `wasm-function[N]`.
// Dynamic requests go to `<slug>.localhost` as in production (PROFILE_PATH_MODE=1: path mode).
//   PROFILE_KIND=dynamic|static  PROFILE_SECONDS=5  PROFILE_TOP=40  PROFILE_INTERVAL_US=100
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDevVars, startWorker } from '../tests/lib/server.mjs';
import { createProject, deploy } from './lib/flotilla.mjs';
import { runLoad } from './lib/load.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const kind = process.env.PROFILE_KIND === 'static' ? 'static' : 'dynamic';
const seconds = Number(process.env.PROFILE_SECONDS || 5);
const top = Number(process.env.PROFILE_TOP || 40);
const interval = Number(process.env.PROFILE_INTERVAL_US || 100);

const file = (path, buf) => ({ path, buf, size: buf.length, hash: createHash('sha256').update(buf).digest('hex') });

const server = await startWorker({ config: 'wrangler.toml' });
try {
  const token = readDevVars().API_TOKEN;
  const project = await createProject(server.url, token, `profile-${kind}`);
  const html = file('/index.html', Buffer.from('<!doctype html><h1>profile</h1>\n'));
  let path;
  let headers = {};
  if (kind === 'dynamic') {
    const code = readFileSync(join(BENCH, 'dynamic', 'worker.js')).toString('base64');
    await deploy(server.url, token, project.id, [html], {
      extra: { serverCode: { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': code } }, run_worker_first: true },
    });
    path = `/__project/${project.slug}/api/item/42?x=1`;
    if (process.env.PROFILE_PATH_MODE !== '1') {
      path = '/api/item/42?x=1';
      headers = { host: `${project.slug}.localhost` };
    }
  } else {
    await deploy(server.url, token, project.id, [html]);
    path = `/__project/${project.slug}/`;
  }
  const first = await runLoad({ port: server.port, requests: [{ path, headers, check: (st) => st === 200 }], concurrency: 1, warmupMs: 0, durationMs: 200 });
  if (first.bad) throw new Error(`${path}: ${first.bad} bad responses`);

  const inspectorPort = Number(/--inspector-port(?:=|\s)(\d+)/.exec(readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').replaceAll('\0', ' '))[1]);
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => /flotilla/i.test(t.title ?? '') || /flotilla/i.test(t.url ?? '')) ?? targets[0];
  // wrangler's inspector proxy only accepts its DevTools origin.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: 'https://devtools.devprod.cloudflare.dev' } });
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let id = 0; const pending = new Map();
  ws.onmessage = (m) => { const msg = JSON.parse(m.data); if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); } };
  const send = (method, params = {}) => new Promise((resolve) => { const i = ++id; pending.set(i, resolve); ws.send(JSON.stringify({ id: i, method, params })); });

  const requests = [{ path, headers, check: (status) => status === 200 }];
  await runLoad({ port: server.port, requests, concurrency: 8, warmupMs: 1000, durationMs: 1000 });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval });
  await send('Profiler.start');
  const load = await runLoad({ port: server.port, requests, concurrency: 8, warmupMs: 0, durationMs: seconds * 1000 });
  const { result } = await send('Profiler.stop');
  ws.close();

  const prof = result.profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  prof.samples.forEach((sid, i) => { self.set(sid, (self.get(sid) ?? 0) + (dt[i + 1] ?? interval)); });
  const fn = new Map(); const group = new Map();
  let total = 0;
  for (const [sid, us] of self) {
    const n = byId.get(sid); const cf = n.callFrame;
    const name = cf.functionName || `(anonymous ${cf.url.split('/').pop()}:${cf.lineNumber})`;
    total += us;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const g = /^(\(idle\)|\(program\)|\(garbage collector\))$/.test(name) ? name
      : cf.url.endsWith('.wasm') || /^wasm-function|::/.test(name) ? `wasm ${(/^<?([a-z_0-9]+(?:::[a-z_0-9]+)?)/.exec(name.replace(/^<+/, '')) ?? [, 'other'])[1]}`
      : `js ${cf.url.split('/').pop() || '(native)'}`;
    group.set(g, (group.get(g) ?? 0) + us);
  }
  const reqs = load.ok || 1;
  console.log(`\n${kind}: ${path}; ${reqs} requests in ${seconds} s; profile of the isolate "${target.title}"`);
  console.log(`sampled ${(total / 1000).toFixed(0)} ms; per request ${(total / reqs / 1000).toFixed(3)} ms of samples (idle included)\n`);
  const print = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
    .forEach(([k, us]) => console.log(`${(us / reqs).toFixed(1).padStart(8)} us/req  ${(100 * us / total).toFixed(1).padStart(5)}%  ${k.slice(0, 140)}`));
  console.log('-- by function (self time)'); print(fn, top);
  console.log('\n-- by group'); print(group, 30);
} finally {
  server.stop();
}
