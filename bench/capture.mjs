// Log-capture benchmark (issue 29): what capturing every run of server code costs. Two
// `wrangler dev` servers of the Worker (build/ as it is), one as configured (capture on: the
// loader hands each isolate our InvocationTail, which after each response stores the run in
// D1, publishes it to the project's TailHub and its drains) and one with `LOG_CAPTURE=off`.
// Each gets the same project: the bench's dynamic Worker (bench/dynamic/worker.js) plus a
// `console.log` per request, with `run_worker_first`. The same request list goes to each in
// alternating windows (ROUNDS, default 5) on `<slug>.localhost` (the JS fast path, as a
// production visitor gets). Reports req/s and the runtime workerd's CPU per request (median),
// and the ratio on/off (issue 29's aim: <= 1.05x). Capture runs after the response, so its
// CPU shows in the runtime's CPU per request even when latency does not move. Asserts nothing
// about time: exit 1 only when a response is wrong.
//   node bench/capture.mjs               (npm run bench:capture)
//   ROUNDS=7 WINDOW_MS=6000 node bench/capture.mjs
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker, readDevVars } from '../tests/lib/server.mjs';
import { createProject, deploy } from './lib/flotilla.mjs';
import { runLoad } from './lib/load.mjs';
import { classify, clockTicks, cpuTicks } from './lib/procs.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WINDOW_MS = Number(process.env.WINDOW_MS ?? 5000);
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 1500);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);

const BENCH = dirname(fileURLToPath(import.meta.url));
// The bench's dynamic Worker, logging one line per request (what capture has to carry).
const CODE = readFileSync(join(BENCH, 'dynamic', 'worker.js'), 'utf8')
  .replace('fetch(request) {', "fetch(request) {\n    console.log('request', request.url);");
if (!CODE.includes("console.log('request'")) throw new Error('bench/dynamic/worker.js changed shape: no fetch(request) {');

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function side(name, extraArgs) {
  const server = await startWorker({ quiet: true, extraArgs });
  const token = readDevVars().API_TOKEN;
  const project = await createProject(server.url, token, `bench capture ${name}`);
  const html = Buffer.from('<h1>capture</h1>\n');
  const files = [{ path: '/index.html', buf: html, size: html.length, hash: createHash('sha256').update(html).digest('hex') }];
  const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(CODE).toString('base64') } };
  const d = await deploy(server.url, token, project.id, files, { concurrency: 1, extra: { serverCode, run_worker_first: true } });
  if (d.status !== 'completed') throw new Error(`${name}: deploy ${d.status}`);
  const host = `${project.slug}.localhost:${server.port}`;
  const ok = (status, _bytes, head) => status === 200 && head.toString().startsWith('{"resource"');
  const requests = [1, 2, 3, 4].map((n) => ({ path: `/api/items/${n}?sort=asc&page=${n}`, headers: { host }, check: ok }));
  return { name, server, token, project, requests, rps: [], cpu: [] };
}

const sides = [];
let failed = false;
try {
  sides.push(await side('capture on', []), await side('capture off', ['--var', 'LOG_CAPTURE:off']));
  const tick = 1000 / clockTicks();
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of round % 2 === 0 ? sides : [...sides].reverse()) {
      const runtime = classify(s.server.pid, s.server.port).runtime.map((p) => p.pid);
      const r = await runLoad({
        port: s.server.port, requests: s.requests, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: WINDOW_MS,
        sample: () => ({ runtime: cpuTicks(runtime) }),
      });
      if (r.unexpected || r.errors) {
        failed = true;
        console.log(`${s.name}: ${r.unexpected} unexpected answers, ${r.errors} errors: ${r.badSamples.join('; ')}`);
      }
      // Let the after-response work of this window finish before the other side is measured.
      await new Promise((res) => setTimeout(res, 1000));
      s.rps.push(r.rps);
      s.cpu.push(((r.after.runtime.ticks - r.before.runtime.ticks) * tick) / r.requests);
    }
  }
  // Capture really was on for one and off for the other.
  const kept = async (s) => (await (await fetch(`${s.server.url}/__api/projects/${s.project.id}/logs?limit=1`, {
    headers: { authorization: `Bearer ${s.token}` },
  })).json()).count;
  const [onKept, offKept] = [await kept(sides[0]), await kept(sides[1])];
  if (onKept < 1 || offKept !== 0) {
    failed = true;
    console.log(`capture check: on kept ${onKept} run(s), off kept ${offKept} (want >= 1 and 0)`);
  }
  console.log(`${ROUNDS} alternating rounds of ${WINDOW_MS / 1000} s per side, concurrency ${CONCURRENCY}, dynamic requests on <slug>.localhost`);
  for (const s of sides) {
    console.log(`${s.name}: ${median(s.rps).toFixed(0)} req/s, ${median(s.cpu).toFixed(3)} ms runtime CPU/request `
      + `(rounds: ${s.cpu.map((c) => c.toFixed(3)).join(', ')})`);
  }
  const [on, off] = sides;
  console.log(`capture on / off: ${(median(on.cpu) / median(off.cpu)).toFixed(3)}x runtime CPU per request, `
    + `${(median(off.rps) / median(on.rps)).toFixed(3)}x inverse throughput (issue 29's aim: <= 1.05x)`);
} catch (e) {
  failed = true;
  console.log(`capture bench: FAILED: ${e.message.slice(0, 2000)}`);
} finally {
  for (const s of sides) await s.server.stop();
}
process.exit(failed ? 1 : 0);
