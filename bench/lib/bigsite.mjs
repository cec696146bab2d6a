// Big-site figures (issue 13): a site of N small files (default 20,000, the
// MAX_FILES_PER_DEPLOYMENT default) deployed through the native three-phase API against its own
// `wrangler dev`, then redeployed unchanged; upload/deploy times, buckets, and workerd's peak
// resident memory (VmHWM of the runtime process tree). Used by `npm run bench` (BENCH_BIGSITE,
// BENCH_BIGSITE_FILES) and by `npm run bench:bigsite` (bench/bigsite.mjs). Asserts nothing about
// time; throws if a step fails or the last file is not served byte-exact.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { readDevVars, startWorker } from '../../tests/lib/server.mjs';
import { createProject, deploy } from './flotilla.mjs';

const env = process.env;

export const bigsiteConfig = {
  enabled: env.BENCH_BIGSITE !== '0',
  files: Number(env.BENCH_BIGSITE_FILES || env.FILES || 20000),
};

/** Peak RSS (kB) over the workerd processes below `pid` (wrangler -> workerd). */
export function workerdPeakKb(pid) {
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

/** The big site: `/index.html` plus n-1 tiny text files in directories of 1,000. */
export function bigSite(n) {
  const file = (path, text) => {
    const buf = Buffer.from(text);
    return { path, buf, size: buf.length, hash: createHash('sha256').update(buf).digest('hex') };
  };
  const files = [file('/index.html', '<h1>big</h1>\n')];
  for (let i = 0; i < n - 1; i++) files.push(file(`/f/${Math.floor(i / 1000)}/${i}.txt`, `file ${i}\n`));
  return files;
}

/** Runs the big-site deploys on a fresh `wrangler dev`; returns the report. */
export async function benchBigsite({ files: n = bigsiteConfig.files, config, extraArgs, log = console.log } = {}) {
  // Over the 20,000 default the Worker needs the limit raised (the hard cap is 100,000).
  const raise = n > 20000 ? ['--var', `MAX_FILES_PER_DEPLOYMENT:${n}`] : [];
  const args = [...(extraArgs ?? []), ...raise];
  const server = await startWorker({ ...(config ? { config } : {}), ...(args.length ? { extraArgs: args } : {}) });
  const token = readDevVars().API_TOKEN;
  try {
    const site = bigSite(n);
    const project = await createProject(server.url, token, `bigsite ${Date.now()}`);
    const full = await deploy(server.url, token, project.id, site, { concurrency: 4 });
    const last = site.at(-1);
    const r = await fetch(`${server.url}/__project/${project.slug}${last.path}`);
    const body = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200 || !body.equals(last.buf)) throw new Error(`bigsite: ${last.path} answered ${r.status} (${body.length} B)`);
    const noChange = await deploy(server.url, token, project.id, site, { concurrency: 4 });
    for (const [what, d] of [['full', full], ['no-change', noChange]]) {
      if (d.status !== 'completed') throw new Error(`bigsite: ${what} deploy ended ${d.status}`);
    }
    if (noChange.buckets !== 0) throw new Error(`bigsite: no-change redeploy asked for ${noChange.buckets} buckets`);
    const report = {
      files: n, bytes: site.reduce((s, f) => s + f.size, 0), full, noChange,
      workerdPeakRssMiB: Math.round(workerdPeakKb(server.pid) / 1024),
    };
    log(`  ${n} files: full ${fmt(full.totalMs)} (session ${fmt(full.sessionMs)}, upload ${fmt(full.uploadMs)} in ${full.buckets} buckets, `
      + `deploy ${fmt(full.deployMs)}); no-change ${fmt(noChange.totalMs)} (session ${fmt(noChange.sessionMs)}, deploy ${fmt(noChange.deployMs)}); `
      + `workerd peak RSS ${report.workerdPeakRssMiB} MiB`);
    return report;
  } finally {
    server.stop();
  }
}

const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** One summary line for run.mjs. */
export function bigsiteSummary(b) {
  return `bigsite (${b.files} files): full ${fmt(b.full.totalMs)} (upload ${fmt(b.full.uploadMs)} in ${b.full.buckets} buckets + deploy ${fmt(b.full.deployMs)}); `
    + `no-change ${fmt(b.noChange.totalMs)} (deploy ${fmt(b.noChange.deployMs)}); workerd peak RSS ${b.workerdPeakRssMiB} MiB`;
}
