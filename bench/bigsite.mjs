// Big-site benchmark on its own (issue 13): `npm run bench` runs the same (bench/lib/bigsite.mjs)
// unless BENCH_BIGSITE=0. Deploys a site of FILES small files (default 20,000, the
// MAX_FILES_PER_DEPLOYMENT default) through the native three-phase API against `wrangler dev`,
// then redeploys it unchanged. Prints upload, deploy and no-change redeploy times, the buckets
// sent, and workerd's peak resident memory (VmHWM of the runtime process tree). Like run.mjs it
// uses build/ as it is and asserts nothing about time; it exits 1 only if a step fails or the
// last file is not served.
//   npm run bench:bigsite            # 20,000 files
//   FILES=5000 npm run bench:bigsite
//   FILES=100000 npm run bench:bigsite  # raises MAX_FILES_PER_DEPLOYMENT for its Worker
import { benchBigsite, bigsiteConfig } from './lib/bigsite.mjs';

let failed = false;
try {
  const report = await benchBigsite({ files: bigsiteConfig.files });
  console.log(JSON.stringify(report, null, 1));
} catch (e) {
  failed = true;
  console.log(`bigsite: FAILED: ${e.message.slice(0, 2000)}`);
}
process.exit(failed ? 1 : 0);
