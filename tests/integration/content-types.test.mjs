// Every extension in Flotilla's Content-Type table against Cloudflare's own asset serving: the
// same files served by a plain `wrangler dev` with `[assets]` (the installed wrangler) and
// deployed to Flotilla must answer the same Content-Type. Regenerate the table with
// scripts/gen-content-types.mjs when this fails after a wrangler upgrade.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lib/server.mjs';
import { startWrangler } from '../../bench/lib/wrangler.mjs';
import { freshProject } from '../lib/client.mjs';
import { deploySite, visit } from '../lib/site.mjs';

const table = readFileSync(join(ROOT, 'src', 'assets', 'content_type_table.rs'), 'utf8');
const exts = [...table.matchAll(/^ {4}\("([^"]+)", "[^"]+"\),$/gm)].map((m) => m[1]);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-ct-'));
let reference;
after(async () => {
  await reference?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function inBatches(items, n, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += n) out.push(...(await Promise.all(items.slice(i, i + n).map(fn))));
  return out;
}

test('Content-Type of every table extension matches wrangler dev [assets]', { timeout: 300_000 }, async () => {
  assert.ok(exts.length > 1000, `parsed ${exts.length} extensions`);
  mkdirSync(join(dir, 'public'));
  const files = {};
  for (const ext of exts) {
    writeFileSync(join(dir, 'public', `f.${ext}`), ext);
    files[`/f.${ext}`] = ext;
  }
  writeFileSync(join(dir, 'wrangler.toml'), 'name = "ct-reference"\ncompatibility_date = "2026-10-01"\n[assets]\ndirectory = "./public"\n');
  reference = await startWrangler({ cwd: dir, readyPath: '/f.html' });

  const p = await freshProject('content-types');
  await deploySite(p.id, files);
  const mismatches = (await inBatches(exts, 16, async (ext) => {
    const ref = await fetch(`${reference.url}/f.${ext}`);
    await ref.arrayBuffer();
    let ours = await visit(`/__project/${p.slug}/f.${ext}`);
    // html_handling sends `/f.html` to `/f` (307); the Content-Type is the served file's.
    if (ours.status === 307) ours = await visit(ours.headers.location);
    const want = ref.headers.get('content-type');
    const got = ours.headers['content-type'] ?? null;
    return ref.status === 200 && ours.status === 200 && want === got ? null : { ext, want, got, status: [ref.status, ours.status] };
  })).filter(Boolean);
  assert.deepEqual(mismatches, [], `${mismatches.length} of ${exts.length} extensions differ`);
});
