// "Serving a large file" (issue 13, SPEC §8): one random BENCH_BIGFILE_MIB (default 60) MiB file
// deployed to ours through the raw upload path (`PUT assets/raw/:hash`, streamed into R2), then
// downloaded SEQ times one after the other and CONC times at once. Reports upload time and MiB/s,
// download MiB/s, the runtime workerd's CPU per MiB served and its peak RSS (VmHWM; a high-water
// mark since the runtime started, so it is printed before and after this part). Every download is
// checked byte for byte (SHA-256). Cloudflare's own `[assets]` cannot serve files over 25 MiB, so
// the baseline is a plain Worker that streams the same object from its own local R2 bucket
// (`return new Response(object.body)`), downloaded the same way under its own `wrangler dev`:
// once stored as ours stores it (a multipart upload of 10 MiB parts: like for like; wrangler
// dev's local R2 reads multipart objects far more slowly than single-put ones) and once stored
// with one put.
// Asserts nothing about time.
//   BENCH_BIGFILE=0 skips it; BENCH_BIGFILE_MIB, BENCH_BIGFILE_SEQ (3), BENCH_BIGFILE_CONC (4);
//   BENCH_BIGFILE_BASELINE=0 skips the plain-Worker baseline.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify, cpuTicks, clockTicks } from './procs.mjs';
import { startWrangler } from './wrangler.mjs';

const env = process.env;
const num = (v, d) => (v === undefined || v === '' || Number.isNaN(Number(v)) ? d : Number(v));
export const BIGFILE = {
  enabled: env.BENCH_BIGFILE !== '0',
  mib: num(env.BENCH_BIGFILE_MIB, 60),
  sequential: num(env.BENCH_BIGFILE_SEQ, 3),
  concurrent: num(env.BENCH_BIGFILE_CONC, 4),
  baseline: env.BENCH_BIGFILE_BASELINE !== '0',
};

/** The baseline: a plain Worker streaming one R2 object (PUT stores it, GET serves it). */
const BASELINE_WORKER = `export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (req.method === 'PUT') {
      if (!url.searchParams.has('multipart')) { await env.B.put(url.pathname, req.body); return new Response('stored'); }
      const buf = new Uint8Array(await req.arrayBuffer());
      const up = await env.B.createMultipartUpload(url.pathname);
      const parts = [];
      const P = 10 * 1024 * 1024;
      for (let i = 0, n = 1; i < buf.length; i += P, n++) parts.push(await up.uploadPart(n, buf.slice(i, i + P)));
      await up.complete(parts);
      return new Response('stored');
    }
    const o = url.pathname === '/' ? null : await env.B.get(url.pathname);
    if (!o) return new Response('ok');
    return new Response(o.body, { headers: { 'content-type': 'application/octet-stream', etag: o.httpEtag } });
  },
};
`;
const MiB = 1024 * 1024;
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

async function call(base, method, path, token, { json, raw, headers = {} } = {}) {
  const h = { authorization: `Bearer ${token}`, ...headers };
  let body;
  if (json !== undefined) { body = JSON.stringify(json); h['content-type'] = 'application/json'; }
  if (raw !== undefined) { body = raw; h['content-type'] = 'application/octet-stream'; }
  const res = await fetch(base + path, { method, headers: h, body, redirect: 'manual' });
  const text = await res.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return parsed;
}

/** Downloads `path` (Host = project subdomain), hashing as it streams; resolves {bytes, hash, ms}. */
function download(port, path, host) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 120_000 }, (res) => {
      const h = createHash('sha256');
      let bytes = 0;
      res.on('data', (c) => { h.update(c); bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode, bytes, hash: h.digest('hex'), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function vmHwmMiB(pids) {
  let best = 0;
  for (const pid of pids) {
    try {
      const kb = Number((readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+)/m) || [])[1] || 0);
      best = Math.max(best, kb);
    } catch { /* gone */ }
  }
  return best / 1024;
}

/**
 * Runs the part against a started `wrangler dev` of ours (`server` from tests/lib/server.mjs).
 * Stores its figures in `results.bigfile` and reports problems through `problem`.
 */
export async function benchBigfile(server, token, results, { log, problem }) {
  const size = Math.round(BIGFILE.mib * MiB);
  const buf = randomBytes(size);
  const hash = sha256(buf);
  const runtime = () => classify(server.pid, server.port).runtime.map((p) => p.pid);
  const hwmBefore = vmHwmMiB(runtime());
  const project = await call(server.url, 'POST', '/__api/projects', token, { json: { name: `bench bigfile ${Date.now()}` } }).then((r) => r.project);
  const t0 = performance.now();
  const s = await call(server.url, 'POST', `/__api/projects/${project.id}/assets-upload-session`, token,
    { json: { manifest: { '/big.bin': { hash, size } } } });
  if (!Array.isArray(s.result.rawUploads) || !s.result.rawUploads.includes(hash)) {
    throw new Error(`the session did not list the ${BIGFILE.mib} MiB file as a raw upload: ${JSON.stringify(s.result).slice(0, 300)}`);
  }
  const tUp = performance.now();
  const upPids = runtime();
  const upCpu0 = cpuTicks(upPids).ticks;
  const up = await call(server.url, 'PUT', `/__api/projects/${project.id}/assets/raw/${hash}`, s.result.jwt, { raw: buf });
  const uploadMs = performance.now() - tUp;
  const uploadCpuMsPerMiB = ((cpuTicks(upPids).ticks - upCpu0) * 1000) / clockTicks() / BIGFILE.mib;
  const hwmAfterUpload = vmHwmMiB(runtime());
  const d = await call(server.url, 'POST', `/__api/projects/${project.id}/deploy`, token, { json: { completionJwt: up.result.jwt } });
  if (d.deployment?.status !== 'completed') throw new Error(`deploy: ${JSON.stringify(d).slice(0, 300)}`);
  const deployTotalMs = performance.now() - t0;

  log(`  bigfile upload: ${BIGFILE.mib} MiB raw in ${(uploadMs / 1000).toFixed(2)} s = ${(BIGFILE.mib / (uploadMs / 1000)).toFixed(0)} MiB/s, `
    + `runtime CPU ${uploadCpuMsPerMiB.toFixed(2)} ms/MiB (session + upload + deploy ${(deployTotalMs / 1000).toFixed(2)} s)`);
  const rounds = await downloads('ours', server, `${project.slug}.localhost`, runtime(), { size, hash, log, problem });
  const hwmAfter = vmHwmMiB(runtime());
  log(`  bigfile ours: runtime workerd peak RSS ${hwmBefore.toFixed(0)} MiB before, ${hwmAfterUpload.toFixed(0)} after the upload, ${hwmAfter.toFixed(0)} after the downloads`);
  results.bigfile = {
    mib: BIGFILE.mib, bytes: size, uploadMs, uploadMibPerSec: BIGFILE.mib / (uploadMs / 1000), uploadCpuMsPerMiB, deployTotalMs, rounds,
    runtimePeakRssMiB: { before: hwmBefore, afterUpload: hwmAfterUpload, after: hwmAfter },
    reference: 'none: Cloudflare [assets] refuses files over 25 MiB',
  };
  if (BIGFILE.baseline) {
    try { results.bigfile.baseline = await baseline(buf, hash, { log, problem }); } catch (e) {
      problem(`bigfile baseline: ${e.message.split('\n').slice(0, 4).join(' | ')}`);
    }
  }
  return [];
}

/** SEQ sequential then CONC concurrent downloads of /big.bin, each checked; CPU of `pids` per MiB. */
async function downloads(target, server, host, pids, { size, hash, log, problem, path = '/big.bin' }) {
  const rounds = [];
  const round = async (name, n, parallel) => {
    const c0 = cpuTicks(pids).ticks;
    const t = performance.now();
    const one = () => download(server.port, path, host);
    let got;
    if (parallel) got = await Promise.all(Array.from({ length: n }, one));
    else { got = []; for (let i = 0; i < n; i++) got.push(await one()); }
    const wall = performance.now() - t;
    const cpuMs = ((cpuTicks(pids).ticks - c0) * 1000) / clockTicks();
    const bad = got.filter((g) => g.status !== 200 || g.bytes !== size || g.hash !== hash).length;
    if (bad) problem(`bigfile ${target}: ${bad} of ${n} ${name} downloads were not byte-exact (status ${got.map((g) => g.status).join(',')})`);
    const mib = (n * size) / MiB;
    const r = { name, downloads: n, mibPerSec: mib / (wall / 1000), wallMs: wall, runtimeCpuMsPerMiB: cpuMs / mib,
      perDownloadMs: got.map((g) => Math.round(g.ms)), bad };
    rounds.push(r);
    log(`  bigfile ${target} ${name}: ${n} x ${BIGFILE.mib} MiB in ${(wall / 1000).toFixed(2)} s = ${r.mibPerSec.toFixed(0)} MiB/s; `
      + `runtime CPU ${r.runtimeCpuMsPerMiB.toFixed(2)} ms/MiB`);
  };
  if (BIGFILE.sequential > 0) await round('sequential', BIGFILE.sequential, false);
  if (BIGFILE.concurrent > 0) await round('concurrent', BIGFILE.concurrent, true);
  return rounds;
}

/** The same object and downloads against a plain Worker streaming it from R2. */
async function baseline(buf, hash, { log, problem }) {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-bigfile-'));
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'worker.js'), BASELINE_WORKER);
    writeFileSync(join(dir, 'wrangler.toml'), [
      'name = "flotilla-bench-bigfile"', 'main = "worker.js"', 'compatibility_date = "2026-10-01"', '',
      '[[r2_buckets]]', 'binding = "B"', 'bucket_name = "bench-bigfile"', '',
    ].join('\n'));
    const server = await startWrangler({ cwd: dir, readyPath: '/' });
    try {
      const out = {};
      for (const [name, query] of [['multipart', '?multipart=1'], ['single', '']]) {
        const put = await fetch(`${server.url}/big-${name}.bin${query}`, { method: 'PUT', body: buf, headers: { 'content-type': 'application/octet-stream' } });
        await put.arrayBuffer();
        if (put.status !== 200) throw new Error(`baseline PUT ${name}: ${put.status}`);
        const runtime = classify(server.pid, server.port).runtime.map((p) => p.pid);
        const hwmBefore = vmHwmMiB(runtime);
        const rounds = await downloads(`plain Worker + R2 (${name})`, server, 'localhost', runtime,
          { size: buf.length, hash, log, problem, path: `/big-${name}.bin` });
        const hwmAfter = vmHwmMiB(runtime);
        log(`  bigfile plain Worker + R2 (${name}): runtime workerd peak RSS ${hwmBefore.toFixed(0)} -> ${hwmAfter.toFixed(0)} MiB`);
        out[name] = { rounds, runtimePeakRssMiB: { before: hwmBefore, after: hwmAfter } };
      }
      return out;
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One summary line (nothing when the part did not run). */
export function bigfileSummary(results, log) {
  const b = results.bigfile;
  if (!b) return;
  const r = (n) => b.rounds.find((x) => x.name === n);
  const fmt = (x) => (x ? `${x.downloads}x ${x.mibPerSec.toFixed(0)} MiB/s, ${x.runtimeCpuMsPerMiB.toFixed(2)} ms runtime CPU/MiB` : '-');
  log(`bigfile (${b.mib} MiB; Cloudflare's [assets] cannot serve files > 25 MiB): ours upload ${(b.uploadMs / 1000).toFixed(2)} s `
    + `(${b.uploadMibPerSec.toFixed(0)} MiB/s); sequential ${fmt(r('sequential'))}; concurrent ${fmt(r('concurrent'))}; `
    + `upload runtime CPU ${b.uploadCpuMsPerMiB.toFixed(2)} ms/MiB; runtime peak RSS ${b.runtimePeakRssMiB.before.toFixed(0)} -> `
    + `${b.runtimePeakRssMiB.afterUpload.toFixed(0)} (upload) -> ${b.runtimePeakRssMiB.after.toFixed(0)} MiB (downloads)`);
  for (const [name, base] of Object.entries(b.baseline ?? {})) {
    const q = (n) => base.rounds.find((x) => x.name === n);
    const cpu = (n) => (r(n) && q(n) ? ` (ours: ${(r(n).runtimeCpuMsPerMiB / q(n).runtimeCpuMsPerMiB).toFixed(2)}x its CPU/MiB)` : '');
    log(`bigfile baseline, a plain Worker streaming the object from R2, stored ${name === 'multipart' ? 'as ours stores it (multipart, 10 MiB parts)' : 'with one put'}: `
      + `sequential ${fmt(q('sequential'))}${cpu('sequential')}; concurrent ${fmt(q('concurrent'))}${cpu('concurrent')}; `
      + `runtime peak RSS ${base.runtimePeakRssMiB.before.toFixed(0)} -> ${base.runtimePeakRssMiB.after.toFixed(0)} MiB`);
  }
}
