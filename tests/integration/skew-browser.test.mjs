// The chunk-404 storm, in a real browser (Debian's Chromium): a Vite-like SPA from deployment A
// lazy-loads its chunk after deployment B (without A's chunks) went live. With skew protection
// (README "Skew protection") the chunk loads from A: 200 JavaScript, no console errors. With it
// turned off for the project the same flow gets B's index.html as a module and breaks, as on
// platforms without it (so this test can fail).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { api, BASE, freshProject } from '../lib/client.mjs';
import { deploySite } from '../lib/site.mjs';
import { ROOT } from '../lib/server.mjs';

let browser;

before(async () => {
  // Installs Debian's chromium on first use (apt, ~2 min); returns at once when present.
  execFileSync('bash', [join(ROOT, 'scripts', 'ensure-chromium.sh')], { stdio: 'inherit' });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1'] });
});
after(async () => { await browser?.close(); });

/** A Vite-like build: index.html loads the entry, which lazy-imports a chunk on demand. */
function build(tag, hash) {
  const entry = `/assets/index-${hash}E1.js`;
  const chunk = `/assets/lazy-${hash}C2.js`;
  return {
    '/index.html': `<!doctype html><html><head><title>${tag}</title><script type="module" src="${entry}"></script></head><body><div id="app">${tag}</div></body></html>`,
    [entry]: `window.openLazy = () => import(${JSON.stringify(chunk)}).then((m) => m.default);\nwindow.ready = ${JSON.stringify(tag)};\n`,
    [chunk]: `export default ${JSON.stringify(`lazy view of ${tag}`)};\n`,
  };
}

async function tabAcrossADeploy(skewProtection) {
  const p = await freshProject(`skew-tab-${skewProtection ? 'on' : 'off'}`);
  if (!skewProtection) {
    const r = await api.updateProject(p.id, { skewProtection: false });
    assert.equal(r.status, 200, r.text);
  }
  const config = { not_found_handling: 'single-page-application' };
  await deploySite(p.id, build('A', 'Aa1Bb2Cc'), { config });
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  const chunks = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/assets/lazy-')) chunks.push({ status: r.status(), type: r.headers()['content-type'] });
  });
  try {
    await page.goto(`http://${p.slug}.localhost:${new URL(BASE).port}/`);
    await page.waitForFunction(() => window.ready === 'A');
    // B goes live while the tab still runs A; B has none of A's chunks.
    await deploySite(p.id, build('B', 'Xx9Yy8Zz'), { config });
    const lazy = await page.evaluate(() => window.openLazy().then((v) => v, (e) => `failed: ${e.message}`));
    return { lazy, chunks, problems };
  } finally {
    await context.close();
  }
}

test('an open tab lazy-loads its own chunk after the next deploy: 200 JavaScript, no console errors', { timeout: 90_000 }, async () => {
  const { lazy, chunks, problems } = await tabAcrossADeploy(true);
  assert.equal(lazy, 'lazy view of A');
  assert.equal(chunks.length, 1, JSON.stringify(chunks));
  assert.equal(chunks[0].status, 200);
  assert.match(chunks[0].type, /^text\/javascript/);
  assert.deepEqual(problems, [], 'no console errors');
});

test('with skew protection off the same tab breaks (the chunk comes back as text/html)', { timeout: 90_000 }, async () => {
  const { lazy, chunks, problems } = await tabAcrossADeploy(false);
  assert.match(lazy, /^failed: /);
  assert.match(chunks[0]?.type ?? '', /^text\/html/);
  assert.ok(problems.some((p) => /MIME type/i.test(p)), JSON.stringify(problems));
});
