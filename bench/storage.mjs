// Storage benchmark (issue 27): what tenant code pays for a KV read through Flotilla's binding
// (`config.bindings` kv -> the TenantKv entrypoint -> the full build's rules -> TENANT_KV), and
// for a SQL point query through its D1 binding (d1 -> src/js/tenant/d1.js -> TenantSql -> the
// rules -> the database's SQLite object), against the same operation on a raw KV / D1 binding of
// a plain Worker, all under `wrangler dev` in the same run. Each Worker answers
// `/loop?s=kv|sql&n=N` by doing N sequential reads of one seeded key and
// returning the elapsed milliseconds (Date.now() advances across I/O in workerd), so the figure
// is the per-operation cost inside the isolate, free of HTTP, routing and dispatch costs. ROUNDS
// rounds per target, alternating, median of each; prints per-op times and the ratio (goal of
// the issue: <= 1.3x). Uses build/ as it is; asserts nothing about time (exit 1 only when a
// target fails to answer correctly).
//   node bench/storage.mjs            (npm run bench:storage)
//   N=500 ROUNDS=9 node bench/storage.mjs
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startWorker, readDevVars } from '../tests/lib/server.mjs';
import { startWrangler, stopAll } from './lib/wrangler.mjs';
import { createProject, deploy } from './lib/flotilla.mjs';

const N = Number(process.env.N ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const COMPAT_DATE = '2026-10-01';
const VALUE = 'v'.repeat(100);

/** The same code for both targets; only where `KV` and `DB` come from differs. */
const code = (binding, db) => `export default {
  async fetch(req, env) {
    const kv = env.${binding};
    const db = env.${db};
    const url = new URL(req.url);
    const sql = url.searchParams.get('s') === 'sql';
    if (url.pathname === '/seed') {
      if (sql) await db.exec("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT);\\nINSERT OR REPLACE INTO t VALUES ('bench-key', '${VALUE}');");
      else await kv.put('bench-key', ${JSON.stringify(VALUE)});
      return new Response('seeded');
    }
    if (url.pathname === '/loop') {
      const n = Number(url.searchParams.get('n') ?? 100);
      const read = sql ? () => db.prepare('SELECT v FROM t WHERE k = ?').bind('bench-key').first('v') : () => kv.get('bench-key');
      let ok = 0;
      const t0 = Date.now();
      for (let i = 0; i < n; i++) if ((await read()) === ${JSON.stringify(VALUE)}) ok++;
      return Response.json({ ms: Date.now() - t0, ok });
    }
    return new Response('storage bench');
  },
};
`;

async function json(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  if (r.status < 200 || r.status > 299) throw new Error(`${url}: ${r.status} ${text.slice(0, 300)}`);
  return text.startsWith('{') ? JSON.parse(text) : text;
}

async function ours() {
  const server = await startWorker({ quiet: true });
  const token = readDevVars().API_TOKEN;
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const project = await createProject(server.url, token, 'bench-storage');
  const ns = await json(`${server.url}/__api/kv/namespaces`, { method: 'POST', headers: auth, body: JSON.stringify({ title: `bench-${Date.now()}` }) })
    .catch(async (e) => { throw new Error(`create namespace: ${e.message}`); });
  const db = await json(`${server.url}/__api/sql/databases`, { method: 'POST', headers: auth, body: JSON.stringify({ name: `bench-${Date.now()}` }) })
    .catch(async (e) => { throw new Error(`create database: ${e.message}`); });
  const html = Buffer.from('<h1>storage</h1>\n');
  const files = [{ path: '/index.html', buf: html, size: html.length, hash: createHash('sha256').update(html).digest('hex') }];
  const serverCode = { entrypoint: 'index.js', compatibilityDate: COMPAT_DATE, modules: { 'index.js': Buffer.from(code('CACHE', 'DB')).toString('base64') } };
  const d = await deploy(server.url, token, project.id, files, {
    concurrency: 1, config: { bindings: [{ type: 'kv', name: 'CACHE', id: ns.namespace.id }, { type: 'd1', name: 'DB', id: db.database.id }] }, extra: { serverCode, run_worker_first: true },
  });
  if (d.status !== 'completed') throw new Error(`ours: deploy ${d.status}`);
  const base = `${server.url}/__project/${project.slug}`;
  return { name: 'flotilla binding', server, base };
}

async function reference() {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-kv-'));
  writeFileSync(join(dir, 'index.js'), code('KV', 'D1'));
  writeFileSync(join(dir, 'wrangler.toml'), `name = "bench-raw-kv"\nmain = "index.js"\ncompatibility_date = "${COMPAT_DATE}"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "bench-raw-kv"\n\n[[d1_databases]]\nbinding = "D1"\ndatabase_name = "bench-raw"\ndatabase_id = "bench-raw-d1"\n`);
  const server = await startWrangler({ cwd: dir });
  return { name: 'raw binding', server, base: server.url };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

let failed = false;
const targets = [];
try {
  targets.push(await reference(), await ours());
  for (const [s, what] of [['kv', 'KV get'], ['sql', 'SQL point query']]) {
    for (const t of targets) {
      await json(`${t.base}/seed?s=${s}`);
      const warm = await json(`${t.base}/loop?s=${s}&n=${N}`);
      if (warm.ok !== N) throw new Error(`${t.name} ${s}: ${warm.ok} of ${N} reads returned the seeded value`);
      t.ms = [];
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of targets) t.ms.push((await json(`${t.base}/loop?s=${s}&n=${N}`)).ms);
    }
    const [raw, bound] = targets.map((t) => median(t.ms) / N);
    for (const t of targets) console.log(`${t.name}: ${(median(t.ms) / N).toFixed(3)} ms per ${what} (median of ${ROUNDS} rounds of ${N}; rounds ${t.ms.join(', ')} ms)`);
    console.log(`${what} through the binding / raw: ${(bound / raw).toFixed(2)}x (issue 27's goal: <= 1.3x)`);
  }
} catch (e) {
  failed = true;
  console.log(`storage: FAILED: ${e.message.slice(0, 2000)}`);
} finally {
  for (const t of targets) await t.server.stop();
  stopAll();
}
process.exit(failed ? 1 : 0);
