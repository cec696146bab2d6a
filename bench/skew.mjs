// Skew-protection benchmark (issue 30): what pinning costs static serving. One `wrangler dev`
// of the Worker (build/ as it is), two projects with the same site, one with
// `skewProtection: true` (the default) and one with it off. The same browser-like request mix
// goes to each, alternating measurement windows ROUNDS times:
// - a page navigation (`sec-fetch-mode: navigate`): with pinning on, its 2xx HTML answer mints
//   and sets the pin cookie (an HMAC token);
// - the page's fingerprinted script and stylesheet, fetched as subresources with the cookie a
//   browser would send back (with pinning on, each one verifies the token and serves the pinned
//   deployment, here the active one), and another page.
// Both sides send the same Cookie header (the off side gets the on side's pin, which it never
// reads): a Cookie header alone costs wrangler dev's own layers measurably, and that is not
// pinning's cost.
// (A hashed-chunk miss is left out: on, it is looked up in earlier deployments and answered a
// typed 404; off, it gets the SPA's index.html. That is different work, not overhead.)
// Reports req/s and the runtime workerd's CPU per request of each side, median over rounds,
// and the ratio on/off (issue 30's aim: <= 1.03x CPU). Asserts nothing about time: exit 1 only
// when a response is not what the scenario expects.
//   node bench/skew.mjs                  (npm run bench:skew)
//   ROUNDS=7 WINDOW_MS=6000 node bench/skew.mjs
import { createHash } from 'node:crypto';
import http from 'node:http';
import { startWorker, readDevVars } from '../tests/lib/server.mjs';
import { createProject, deploy } from './lib/flotilla.mjs';
import { runLoad } from './lib/load.mjs';
import { classify, clockTicks, cpuTicks } from './lib/procs.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WINDOW_MS = Number(process.env.WINDOW_MS ?? 5000);
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 1500);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);

const file = (path, text) => {
  const buf = Buffer.from(text);
  return { path, buf, size: buf.length, hash: createHash('sha256').update(buf).digest('hex') };
};

/** A Vite-like SPA: an index page loading a hashed entry script and stylesheet, plus pages. */
function site() {
  const files = [
    file('/index.html', '<!doctype html><title>skew bench</title><link rel="stylesheet" href="/assets/index-4f2a9c1e.css">'
      + '<script type="module" src="/assets/index-8b3d7e21.js"></script><h1>home</h1>\n'),
    file('/assets/index-8b3d7e21.js', `export const app = ${JSON.stringify('x'.repeat(4000))};\n`),
    file('/assets/index-4f2a9c1e.css', `body { margin: 0 } ${'.c { color: red }\n'.repeat(100)}`),
  ];
  for (let i = 0; i < 10; i++) files.push(file(`/docs/page-${i}.html`, `<!doctype html><h1>page ${i}</h1>\n`));
  return files;
}

async function call(url, init = {}) {
  const r = await fetch(url, init);
  const text = await r.text();
  if (r.status < 200 || r.status > 299) throw new Error(`${init.method ?? 'GET'} ${url}: ${r.status} ${text.slice(0, 300)}`);
  return { r, text };
}

/** One GET over node:http (fetch would not send our Host header); resolves to the response head. */
const head = (port, path, headers) => new Promise((resolve, reject) => {
  http.get({ host: '127.0.0.1', port, path, headers }, (res) => { res.resume(); res.on('end', () => resolve(res)); }).on('error', reject);
});

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const server = await startWorker({ quiet: true });
let failed = false;
try {
  const token = readDevVars().API_TOKEN;
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const sides = [];
  let pinCookie = '';
  for (const [name, on] of [['pinning on', true], ['pinning off', false]]) {
    const project = await createProject(server.url, token, `bench-skew-${on ? 'on' : 'off'}`);
    await call(`${server.url}/__api/projects/${project.id}`, { method: 'PATCH', headers: auth, body: JSON.stringify({ skewProtection: on }) });
    // Two deployments: pins name the active one, with an earlier one kept.
    for (let i = 0; i < 2; i++) {
      const d = await deploy(server.url, token, project.id, site(), { concurrency: 1, config: { not_found_handling: 'single-page-application' } });
      if (d.status !== 'completed') throw new Error(`${name}: deploy ${d.status}`);
    }
    // Its own origin, as a visitor sees it (`<slug>.localhost`): pins are per origin.
    const host = `${project.slug}.localhost:${server.port}`;
    const navHeaders = { host, 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' };
    const nav = await head(server.port, '/', navHeaders);
    const set = (nav.headers['set-cookie']?.[0] ?? '').split(';')[0];
    if (on !== set.startsWith('__flotilla_dpl=')) throw new Error(`${name}: page answer's pin cookie: ${JSON.stringify(set)}`);
    if (on) pinCookie = set;
    const cookie = pinCookie;
    const sub = { host, 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'script', ...(cookie ? { cookie } : {}) };
    const is = (want, type) => (status, _bytes, head) => status === want && (type === undefined || head.toString().includes(type));
    const requests = [
      { path: `/`, headers: { ...navHeaders, ...(cookie ? { cookie } : {}) }, check: is(200, '<h1>home') },
      { path: `/assets/index-8b3d7e21.js`, headers: sub, check: is(200, 'export const app') },
      { path: `/assets/index-4f2a9c1e.css`, headers: { ...sub, 'sec-fetch-dest': 'style' }, check: is(200, 'margin') },
      { path: `/docs/page-3`, headers: { ...navHeaders, ...(cookie ? { cookie } : {}) }, check: is(200, 'page 3') },
    ];
    // MIX=pages|subresources: only that half of the mix (to see where a difference comes from).
    const only = process.env.MIX === 'pages' ? (r) => r.headers['sec-fetch-mode'] === 'navigate'
      : process.env.MIX === 'subresources' ? (r) => r.headers['sec-fetch-mode'] !== 'navigate' : () => true;
    sides.push({ name, requests: requests.filter(only), rps: [], cpu: [] });
  }

  const tick = 1000 / clockTicks();
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of round % 2 === 0 ? sides : [...sides].reverse()) {
      const procs = classify(server.pid, server.port);
      const runtime = procs.runtime.map((p) => p.pid);
      const r = await runLoad({
        port: server.port, requests: s.requests, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: WINDOW_MS,
        sample: () => ({ runtime: cpuTicks(runtime) }),
      });
      if (r.unexpected || r.errors) {
        failed = true;
        console.log(`${s.name}: ${r.unexpected} unexpected answers, ${r.errors} errors: ${r.badSamples.join('; ')}`);
      }
      s.rps.push(r.rps);
      s.cpu.push(((r.after.runtime.ticks - r.before.runtime.ticks) * tick) / r.requests);
    }
  }
  console.log(`${ROUNDS} alternating rounds of ${WINDOW_MS / 1000} s per side, concurrency ${CONCURRENCY}, ${sides[0].requests.length}-request browser mix`);
  for (const s of sides) {
    console.log(`${s.name}: ${median(s.rps).toFixed(0)} req/s, ${median(s.cpu).toFixed(3)} ms runtime CPU/request `
      + `(rounds: ${s.cpu.map((c) => c.toFixed(3)).join(', ')})`);
  }
  const [on, off] = sides;
  console.log(`skew protection on / off: ${(median(on.cpu) / median(off.cpu)).toFixed(3)}x runtime CPU per request, `
    + `${(median(off.rps) / median(on.rps)).toFixed(3)}x inverse throughput (issue 30's aim: <= 1.03x CPU)`);
} catch (e) {
  failed = true;
  console.log(`skew bench: FAILED: ${e.message.slice(0, 2000)}`);
} finally {
  await server.stop();
}
process.exit(failed ? 1 : 0);
