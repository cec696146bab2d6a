// Runs commands and keeps pinned Python venvs under target/ for the tests that drive official
// Python tools (the MCP SDK, openapi-spec-validator). Only PyPI is needed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server.mjs';

/** Runs a command; resolves { code, stdout, stderr } (never rejects on a non-zero exit). */
export function run(cmd, args, { env = process.env, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? signal, stdout, stderr }); });
  });
}

/**
 * Creates target/<name> from `requirements` once and reuses it while `probe` (a Python snippet
 * that checks the pinned versions import) succeeds. Returns the venv's python. Throws with the
 * tool's own output when the venv cannot be made.
 */
export async function ensureVenv(name, requirements, probe) {
  const dir = join(ROOT, 'target', name);
  const py = join(dir, 'bin', 'python');
  if (existsSync(py) && (await run(py, ['-c', probe])).code === 0) return py;
  const mk = await run('python3', ['-m', 'venv', '--clear', dir]);
  if (mk.code !== 0) throw new Error(`python3 -m venv failed (Debian: apt-get install python3-venv): ${mk.stderr}`);
  const pip = await run(py, ['-m', 'pip', 'install', '--no-cache-dir', '--disable-pip-version-check', '-q', '-r', requirements], { timeoutMs: 300_000 });
  if (pip.code !== 0) throw new Error(`pip install -r ${requirements}: ${pip.stderr}`);
  const check = await run(py, ['-c', probe]);
  if (check.code !== 0) throw new Error(`${requirements} installed but not importable: ${check.stderr}`);
  return py;
}
