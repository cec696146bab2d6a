// A video on a deployed site, played and seeked by a real browser (Debian's Chromium): the media
// element asks for `Range: bytes=0-` and seeks with further ranges, which only work when the
// platform answers 206 (src/assets/range.rs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, freshProject } from '../lib/client.mjs';
import { deploySite } from '../lib/site.mjs';
import { ROOT } from '../lib/server.mjs';

const clip = readFileSync(join(ROOT, 'tests', 'fixtures', 'media', 'clip.webm'));
let browser;

before(async () => {
  // Installs Debian's chromium on first use (apt, ~2 min); returns at once when present.
  execFileSync('bash', [join(ROOT, 'scripts', 'ensure-chromium.sh')], { stdio: 'inherit' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1', '--autoplay-policy=no-user-gesture-required'],
  });
});
after(async () => { await browser?.close(); });

test('Chromium plays a deployed WebM and seeks in it through 206 answers', { timeout: 90_000 }, async () => {
  const p = await freshProject('media');
  await deploySite(p.id, {
    '/index.html': '<!doctype html><title>clip</title><video id="v" src="/clip.webm" preload="auto" muted></video>',
    '/clip.webm': clip,
  });
  const page = await browser.newPage();
  const answers = [];
  page.on('response', async (r) => {
    if (new URL(r.url()).pathname === '/clip.webm') {
      answers.push({ status: r.status(), range: (await r.request().allHeaders()).range, contentRange: r.headers()['content-range'] });
    }
  });
  try {
    const origin = `http://${p.slug}.localhost:${new URL(BASE).port}`;
    await page.goto(`${origin}/`);
    const state = await page.evaluate(async () => {
      const v = document.getElementById('v');
      if (v.readyState < 1) await new Promise((ok, fail) => { v.onloadedmetadata = ok; v.onerror = () => fail(new Error(`media error ${v.error?.code}`)); });
      const seekable = v.seekable.length ? [v.seekable.start(0), v.seekable.end(0)] : [];
      v.currentTime = 6.5;
      await new Promise((ok) => { v.onseeked = ok; });
      await v.play();
      await new Promise((ok) => setTimeout(ok, 300));
      v.pause();
      return { duration: v.duration, seekable, time: v.currentTime, error: v.error?.code ?? null };
    });
    assert.equal(state.error, null);
    assert.ok(Math.abs(state.duration - 8) < 0.2, `duration ${state.duration}`);
    assert.equal(state.seekable.length, 2, 'the whole clip is seekable');
    assert.ok(state.seekable[1] > 7.8, `seekable to ${state.seekable[1]}`);
    assert.ok(state.time >= 6.5, `played on from the seek: ${state.time}`);
    const ranged = answers.filter((a) => a.range);
    assert.ok(ranged.length > 0, `the browser asked for ranges: ${JSON.stringify(answers)}`);
    for (const a of ranged) {
      assert.equal(a.status, 206, JSON.stringify(a));
      assert.match(a.contentRange, new RegExp(`^bytes \\d+-\\d+/${clip.length}$`));
    }
  } finally {
    await page.close();
  }
});
