// Big-site benchmark (issue 13): deploys a site of FILES small files (default 20,000, the
// MAX_FILES_PER_DEPLOYMENT default) through the native three-phase API against `wrangler dev`,
// then redeploys it unchanged. Prints upload, deploy and no-change redeploy times, the buckets
// sent, and workerd's peak resident memory (VmHWM of the runtime process tree). Like run.mjs it
// uses build/ as it is and asserts nothing about time; it exits 1 only if a step fails or the
// last file is not served.
//   npm run bench:bigsite            # 20,000 files
//   FILES=5000 npm run bench:bigsite
//   FILES=100000 npm run bench:bigsite  # raises MAX_FILES_PER_DEPLOYMENT for its Worker
import { readFileSync, readdirSync } from 'node:fs';
import { startWorker, readDevVars } from '../tests/lib/server.mjs';

const N = Number(process.env.FILES || 20000);

/** Peak RSS (kB) over the process tree below `pid` (wrangler -> workerd). */
function peakKb(pid) {
  let best = 0;
  const walk = (p) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const hwm = Number((status.match(/^VmHWM:\s+(\d+)/m) || [])[1] || 0);
      const name = (status.match(/^Name:\s+(\S+)/m) || [])[1] || '';
      if (name.startsWith('workerd')) best = Math.max(best, hwm);
    } catch { return; }
    for (const t of readdirSync(`/proc/${p}/task`)) {
      let kids = '';
      try { kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8'); } catch { /* gone */ }
      for (const c of kids.split(/\s+/).filter(Boolean)) walk(c);
    }
  };
  walk(pid);
  return best;
}

// Over the 20,000 default the Worker needs the limit raised (the hard cap is 100,000).
const server = await startWorker({ extraArgs: N > 20000 ? ['--var', `MAX_FILES_PER_DEPLOYMENT:${N}`] : [] });
process.env.FLOTILLA_URL = server.url;
process.env.FLOTILLA_TOKEN = readDevVars().API_TOKEN;
const { api } = await import('../tests/lib/client.mjs');
const { upload, waitFor, visit } = await import('../tests/lib/site.mjs');
let failed = false;
try {
  const p = (await api.createProject({ name: `bigsite ${Date.now()}` })).body.project;
  const files = { '/index.html': '<h1>big</h1>\n' };
  for (let i = 0; i < N - 1; i++) files[`/f/${Math.floor(i / 1000)}/${i}.txt`] = `file ${i}\n`;
  const deploy = async () => {
    let t = Date.now();
    // Over 20,000 files, 8 buckets in flight (as a client would): 500 at once outlast fetch's
    // 300 s header timeout under wrangler dev.
    const { jwt, uploaded, session } = await upload(p.id, files, { concurrency: N > 20000 ? 8 : Infinity });
    const uploadMs = Date.now() - t;
    t = Date.now();
    const d = await api.deploy(p.id, { completionJwt: jwt });
    if (d.status !== 200 && d.status !== 202) throw new Error(`deploy ${d.status}: ${d.text}`);
    const final = await waitFor(d.body.deployment.id, undefined, 600_000);
    if (final.status !== 'completed') throw new Error(`deployment ${final.status}: ${final.error}`);
    return { uploaded: uploaded.length, buckets: session.result.buckets.length, uploadMs, deployMs: Date.now() - t };
  };
  const first = await deploy();
  const last = `/f/${Math.floor((N - 2) / 1000)}/${N - 2}.txt`;
  const r = await visit(last, { host: `${p.slug}.localhost` });
  if (r.status !== 200 || r.body !== `file ${N - 2}\n`) throw new Error(`${last}: ${r.status}`);
  const again = await deploy();
  const report = { files: N, full: first, noChange: again, workerdPeakRssMiB: Math.round(peakKb(server.pid) / 1024) };
  console.log(JSON.stringify(report, null, 1));
} catch (e) {
  failed = true;
  console.log(`bigsite: FAILED: ${e.message.slice(0, 2000)}`);
} finally {
  server.stop();
}
process.exit(failed ? 1 : 0);
