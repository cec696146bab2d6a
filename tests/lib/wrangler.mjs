// Runs the real wrangler (the devDependency) against a Flotilla platform's /client/v4, and
// writes fixture projects for it. Used by the wrangler and OpenAPI integration tests.
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { BASE, TOKEN } from './client.mjs';
import { ROOT } from './server.mjs';

const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** Runs wrangler (on this Node, which is 22) in `dir`; resolves {code, out}. */
export function wrangler(dir, args, { token = TOKEN, input, base = BASE } = {}) {
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      CLOUDFLARE_API_BASE_URL: `${base}/client/v4`,
      CLOUDFLARE_API_TOKEN: token,
      CLOUDFLARE_ACCOUNT_ID: 'acc',
      WRANGLER_SEND_METRICS: 'false',
      CI: 'true',
      NO_COLOR: '1',
      FORCE_COLOR: '0',
    };
    const child = execFile(process.execPath, [WRANGLER, ...args], { cwd: dir, env, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, out: `${stdout}\n${stderr}` });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Writes `files` ({relative path: text}) into a fresh temp dir and returns it. */
export function project(files) {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-wrangler-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
