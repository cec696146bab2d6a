// Starts the real Worker under `wrangler dev` on a free port with a throwaway state dir
// (local D1 migrated first) and stops it reliably. Shared by the integration runner and
// the benchmarks.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function readDevVars() {
  const vars = {};
  for (const line of readFileSync(join(ROOT, '.dev.vars'), 'utf8').split('\n')) {
    const m = line.match(/^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*)\s*$/);
    if (m) vars[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return vars;
}

/** Builds the wasm Worker once (release, with wasm-opt unless FLOTILLA_NO_OPT=1). */
export function buildWorker() {
  execFileSync('bash', [join(ROOT, 'scripts', 'build.sh')], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * Starts `wrangler dev` (build skipped) and resolves once /health answers 200.
 * Returns { url, port, pid, state (the persist dir), stop, logs() }.
 */
export async function startWorker({ config = 'wrangler.toml', extraArgs = [], quiet = true, state: given } = {}) {
  const port = await freePort();
  const inspector = await freePort();
  // A given state dir is the caller's (e.g. to restart on the same local storage): kept on stop.
  const state = given ?? mkdtempSync(join(tmpdir(), 'flotilla-state-'));
  const env = { ...process.env, CI: 'true', FLOTILLA_SKIP_BUILD: '1' };
  try {
    execFileSync(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state, '-c', config], {
      cwd: ROOT, env, stdio: quiet ? 'pipe' : 'inherit',
    });
  } catch (e) {
    if (!given) rmSync(state, { recursive: true, force: true });
    throw e;
  }
  const child = spawn(WRANGLER, [
    'dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', state, '--log-level', quiet ? 'warn' : 'info', ...extraArgs,
  ], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = false;
  const exitedP = new Promise((resolve) => child.on('exit', () => { exited = true; resolve(); }));

  const stop = () => {
    if (!exited) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
      setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
    }
    if (!given) {
      try { rmSync(state, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { stop(); process.exit(130); });
  process.once('exit', stop);

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`wrangler dev exited early:\n${output}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) return { url, port, pid: child.pid, state, stop, logs: () => output, exited: () => exitedP };
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  stop();
  throw new Error(`wrangler dev did not become healthy in 120 s:\n${output}`);
}
