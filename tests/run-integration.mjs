// Integration runner: builds the wasm Worker once, starts it under `wrangler dev`, runs every
// tests/integration/*.test.mjs over real HTTP with node's test runner, and always stops
// wrangler. Prints "integration: N passed, M failed" and exits non-zero on any failure.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ROOT, buildWorker, startWorker, readDevVars } from './lib/server.mjs';
import { startStubs, stubVars } from './lib/stubs.mjs';

const t0 = Date.now();
if (process.env.FLOTILLA_SKIP_BUILD !== '1') buildWorker();
// FAULT_INJECTION lets tests make a workflow step fail on purpose; it is off in real deployments.
// Retention and GC run only when a test asks (POST .../gc); their short settings make that test
// fast without affecting the others. Custom domains talk to local DoH and Cloudflare for SaaS
// stubs (tests/lib/stubs.mjs) instead of the real services.
const stubs = await startStubs();
const server = await startWorker({
  extraArgs: [
    '--var', 'FAULT_INJECTION:enabled', '--var', 'USER_CODE_TIMEOUT_MS:5000',
    '--var', 'RETAIN_COMPLETED:2', '--var', 'GC_GRACE_MS:1500', '--var', 'GC_PAGE_ROWS:3', '--test-scheduled',
    ...stubVars(stubs.url),
  ],
});
console.log(`[integration] wrangler dev healthy at ${server.url} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

const only = process.argv.slice(2);
const files = readdirSync(join(ROOT, 'tests', 'integration'))
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .map((f) => join('tests', 'integration', f));
const tap = join(mkdtempSync(join(tmpdir(), 'flotilla-tap-')), 'out.tap');
let status = 1;
try {
  // Asynchronous, so this process keeps answering for the stubs while the tests run.
  const child = spawn(process.execPath, [
    '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files,
  ], {
    cwd: ROOT, stdio: 'inherit',
    env: { ...process.env, FLOTILLA_URL: server.url, FLOTILLA_TOKEN: readDevVars().API_TOKEN, FLOTILLA_WORKERD_PID: String(server.pid), FLOTILLA_STATE_DIR: server.state, FLOTILLA_DNS_STUB: stubs.url },
  });
  status = await new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('exit', (code) => resolve(code ?? 1));
  });
} finally {
  if (status !== 0 && process.env.FLOTILLA_SHOW_LOGS !== '0') {
    console.log('[integration] last wrangler output:\n' + server.logs().split('\n').slice(-60).join('\n'));
  }
  server.stop();
  await stubs.close();
}
const out = readFileSync(tap, 'utf8');
const count = (k) => Number((out.match(new RegExp(`^# ${k} (\\d+)`, 'm')) || [])[1] || 0);
const passed = count('pass');
const failed = count('fail') + count('cancelled');
console.log(`integration: ${passed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(status === 0 && failed === 0 && passed > 0 ? 0 : 1);
