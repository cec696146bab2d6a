// Starts a plain `wrangler dev` (no D1, no /health) for the reference and ceiling targets:
// detached in its own process group so stop() can kill wrangler, both workerd processes and
// esbuild at once. Readiness = `readyPath` answers 200 through the proxy.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT } from '../../tests/lib/server.mjs';

const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');
const live = new Set();

/** Kills every server this module started (used on exit/signals). */
export function stopAll() { for (const s of [...live]) s.stop(); }
process.once('exit', stopAll);

export async function startWrangler({ cwd, config = 'wrangler.toml', readyPath = '/', timeoutMs = 90_000 }) {
  const port = await freePort();
  const inspector = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'flotilla-bench-state-'));
  const child = spawn(WRANGLER, [
    'dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', state, '--log-level', 'warn', '--show-interactive-dev-session=false',
  ], { cwd, env: { ...process.env, CI: 'true' }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = false;
  const exitedP = new Promise((r) => child.on('exit', () => { exited = true; r(); }));

  let stopped = false;
  const server = {
    url: `http://127.0.0.1:${port}`, port, pid: child.pid, logs: () => output,
    stop() {
      if (stopped) return exitedP;
      stopped = true;
      live.delete(server);
      if (!exited) {
        try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
        setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
      }
      try { rmSync(state, { recursive: true, force: true }); } catch { /* best effort */ }
      return Promise.race([exitedP, new Promise((r) => setTimeout(r, 4000).unref())]);
    },
  };
  live.add(server);

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) { server.stop(); throw new Error(`wrangler dev exited early:\n${output}`); }
    try {
      const r = await fetch(server.url + readyPath);
      await r.arrayBuffer();
      if (r.status === 200) return server;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  await server.stop();
  throw new Error(`wrangler dev did not answer ${readyPath} with 200 in ${timeoutMs / 1000} s:\n${output}`);
}
