// The two wasm builds (scripts/build.sh, src/js/main.mjs): the visitor build every request
// enters stays within the size budget and holds none of the management side, and the two
// answer side by side in one isolate: a site keeps serving while management calls go to the
// full build, and what the full build activates the visitor build serves on the next request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { call, freshProject } from '../lib/client.mjs';
import { ROOT } from '../lib/server.mjs';
import { deploySite, visit } from '../lib/site.mjs';

const SITE_WASM = join(ROOT, 'build', 'site', 'index_bg.wasm');
const FULL_WASM = join(ROOT, 'build', 'index_bg.wasm');
/** Issue 13's budget for the wasm a visitor's cold start instantiates (gzip -9). */
const VISITOR_BUDGET = 250_000;

/** Strings only the management side holds: the OpenAPI document, an MCP method, the dashboard. */
const MANAGEMENT_MARKS = ['"openapi": "3.1.0"', 'tools/list', 'Flotilla dashboard'];

test('the visitor build is within 250 KB gzipped and holds none of the management side', () => {
  const site = readFileSync(SITE_WASM);
  const full = readFileSync(FULL_WASM);
  const gz = gzipSync(site, { level: 9 }).length;
  assert.ok(gz <= VISITOR_BUDGET, `visitor build is ${gz} B gzipped, over the ${VISITOR_BUDGET} B budget`);
  for (const mark of MANAGEMENT_MARKS) {
    assert.ok(full.includes(mark), `the full build holds ${JSON.stringify(mark)} (the check can fail)`);
    assert.ok(!site.includes(mark), `the visitor build holds ${JSON.stringify(mark)}`);
  }
});

test('management calls and site visits interleave; what the full build activates is served at once', async () => {
  const p = await freshProject('builds');
  await deploySite(p.id, { '/index.html': 'one' });
  const host = `${p.slug}.localhost`;
  const page = async () => {
    const r = await visit('/', { host });
    assert.equal(r.status, 200, r.body.slice(0, 200));
    return r.body;
  };
  assert.equal(await page(), 'one');
  for (const path of ['/health', '/openapi.json', '/__api/projects', '/']) {
    const r = await call('GET', path);
    assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 200)}`);
    assert.ok(r.headers.get('x-request-id'), `${path}: x-request-id`);
    assert.equal(await page(), 'one', `the site after ${path}`);
  }
  // The redeploy runs in the full build, the visitor build holds "one" in its route cache.
  await deploySite(p.id, { '/index.html': 'two' });
  assert.equal(await page(), 'two');
});
