// Visitor serving over real HTTP: html_handling and not_found_handling modes, _redirects and
// _headers (files and config), conditional requests, HEAD, Range, 405, content types, path-mode
// Location prefixing, and a sample of Cloudflare's conformance rows end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { api, freshProject } from '../lib/client.mjs';
import { deploySite, visit, follow, request } from '../lib/site.mjs';
import { ROOT } from '../lib/server.mjs';

async function siteWith(files, config) {
  const p = await freshProject('serve');
  await deploySite(p.id, files, { config });
  return { p, get: (path, opts) => visit(`/__project/${p.slug}${path}`, opts), prefix: `/__project/${p.slug}` };
}

const pages = { '/index.html': 'root', '/a.html': 'a', '/b/index.html': 'b', '/404.html': 'top 404', '/deep/404.html': 'deep 404' };

test('html_handling: each mode redirects like Cloudflare, under the path-mode prefix', async () => {
  const expectations = {
    'auto-trailing-slash': [['/a', 200, 'a'], ['/a.html', 307, '/a'], ['/b', 307, '/b/'], ['/b/', 200, 'b'], ['/b/index.html', 307, '/b/']],
    'force-trailing-slash': [['/a', 307, '/a/'], ['/a/', 200, 'a'], ['/b/', 200, 'b'], ['/b', 307, '/b/']],
    'drop-trailing-slash': [['/a', 200, 'a'], ['/a/', 307, '/a'], ['/b', 200, 'b'], ['/b/', 307, '/b']],
    none: [['/a', 404, null], ['/a.html', 200, 'a'], ['/b/', 404, null], ['/b/index.html', 200, 'b']],
  };
  for (const [mode, rows] of Object.entries(expectations)) {
    const { get, prefix } = await siteWith(pages, { html_handling: mode });
    for (const [path, status, expected] of rows) {
      const r = await get(path);
      assert.equal(r.status, status, `${mode} ${path}`);
      if (status === 307) assert.equal(r.headers.location, `${prefix}${expected}`, `${mode} ${path}`);
      if (status === 200) assert.equal(r.body, expected, `${mode} ${path}`);
    }
  }
});

test('not_found_handling: none, 404-page (nearest up the tree), single-page-application', async () => {
  const none = await siteWith(pages, { not_found_handling: 'none' });
  const r0 = await none.get('/missing');
  assert.equal(r0.status, 404);
  assert.equal(r0.body, '');

  const page = await siteWith(pages, { not_found_handling: '404-page' });
  const top = await page.get('/missing');
  assert.equal(top.status, 404);
  assert.equal(top.body, 'top 404');
  const deep = await page.get('/deep/er/missing');
  assert.equal(deep.status, 404);
  assert.equal(deep.body, 'deep 404');

  const spa = await siteWith(pages, { not_found_handling: 'single-page-application' });
  const nav = await spa.get('/app/route/42', { headers: { 'sec-fetch-mode': 'navigate', accept: 'text/html' } });
  assert.equal(nav.status, 200);
  assert.equal(nav.body, 'root');
  assert.equal(nav.headers['content-type'], 'text/html; charset=utf-8');
  // Existing files still win over the fallback.
  assert.equal((await spa.get('/b/')).body, 'b');
});

test('_redirects file and config rules: statuses, placeholders, splats, rewrites, query kept, no open redirect', async () => {
  const files = {
    ...pages,
    '/_redirects': [
      '/old /a 301',
      '/temp /a',
      '/see /a 303',
      '/keep /a 307',
      '/perm /a 308',
      '/odd /a 418',
      '/blog/:year/:slug /posts/:slug?y=:year 301',
      '/docs/* /manual/:splat 302',
      '/rewrite /b/ 200',
      '/ext https://example.com/landing 302',
      '/evil/* /:splat 302',
      '/elsewhere //other.example/path 301',
    ].join('\n'),
  };
  const { get, prefix } = await siteWith(files, { redirects: [{ from: '/from-config', to: '/a', status: 308 }] });
  const cases = [
    ['/old', 301, `${prefix}/a`],
    ['/temp', 302, `${prefix}/a`],
    ['/see', 303, `${prefix}/a`],
    ['/keep', 307, `${prefix}/a`],
    ['/perm', 308, `${prefix}/a`],
    ['/from-config', 308, `${prefix}/a`],
    ['/blog/2024/hello', 301, `${prefix}/posts/hello?y=2024`],
    ['/docs/x/y', 302, `${prefix}/manual/x/y`],
    ['/old?keep=1', 301, `${prefix}/a?keep=1`],
    ['/ext', 302, 'https://example.com/landing'],
    // A protocol-relative target the owner wrote: the request's scheme, never the prefix.
    ['/elsewhere?x=1', 301, 'http://other.example/path?x=1'],
  ];
  for (const [path, status, location] of cases) {
    const r = await get(path);
    assert.equal(r.status, status, path);
    assert.equal(r.headers.location, location, path);
  }
  // A status Cloudflare does not accept: the rule is ignored, as on Cloudflare.
  const odd = await get('/odd');
  assert.equal(odd.status, 404, 'a rule with an unsupported status is ignored');
  assert.equal(odd.headers.location, undefined);
  const rewrite = await get('/rewrite');
  assert.equal(rewrite.status, 200);
  assert.equal(rewrite.body, 'b');
  // A splat cannot turn into a protocol-relative Location.
  const evil = await get('/evil//evil.com');
  assert.ok(!String(evil.headers.location || '').startsWith('//'), evil.headers.location);
  assert.ok(String(evil.headers.location || '').startsWith(prefix) || evil.status === 404, evil.headers.location);
});

test('_redirects rules with a status Cloudflare refuses (305, 404) are ignored, with deploy warnings', async () => {
  const p = await freshProject('serve');
  const files = {
    ...pages,
    '/_redirects': ['/use-proxy /a 305', '/fine /a 301', '/b/ /a 999'].join('\n'),
  };
  const { deploy } = await deploySite(p.id, files, { config: { redirects: [{ from: '/gone', to: '/a', status: 404 }] } });
  const get = (path) => visit(`/__project/${p.slug}${path}`);
  // Not redirected: served (or not found) as if the rule were not there.
  const proxied = await get('/use-proxy');
  assert.equal(proxied.status, 404, JSON.stringify(proxied.headers));
  assert.equal(proxied.headers.location, undefined);
  const dir = await get('/b/');
  assert.equal(dir.status, 200);
  assert.equal(dir.body, 'b');
  assert.equal((await get('/gone')).status, 404);
  assert.equal((await get('/fine')).status, 301, 'the valid rules of the same file still apply');
  // The warnings are on the deployment: in the deploy answer's logs and in the logs endpoint.
  const message = (line, status) =>
    `${line} ignored: Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got ${status}.`;
  const expected = [message('_redirects line 1', 305), message('_redirects line 3', 999), message('config.redirects line 1', 404)];
  const warned = (logs) => logs.filter((l) => l.level === 'warn').map((l) => l.message);
  assert.deepEqual(warned(deploy.deployment.logs), expected);
  const ndjson = await api.deploymentLogs(deploy.deployment.id);
  assert.equal(ndjson.status, 200, ndjson.text);
  assert.deepEqual(warned(ndjson.text.trim().split('\n').map((l) => JSON.parse(l))), expected);
});

test('_headers and config.headers: set, append, remove, on redirects and 304s too', async () => {
  const files = {
    ...pages,
    '/_headers': ['/*', '  X-Frame-Options: DENY', '  X-Multi: one', '/a', '  X-Multi: two', '  ! Cache-Control'].join('\n'),
  };
  const { get } = await siteWith(files, { headers: { '/b/*': { 'X-From-Config': 'yes' } } });
  const a = await get('/a');
  assert.equal(a.headers['x-frame-options'], 'DENY');
  assert.equal(a.headers['x-multi'], 'one, two');
  assert.equal(a.headers['cache-control'], undefined, '! removes the default header');
  const b = await get('/b/');
  assert.equal(b.headers['x-from-config'], 'yes');
  assert.equal(b.headers['cache-control'], 'public, max-age=0, must-revalidate');
  const redirect = await get('/a.html');
  assert.equal(redirect.status, 307);
  assert.equal(redirect.headers['x-frame-options'], 'DENY');
  const notModified = await get('/b/', { headers: { 'if-none-match': b.headers.etag } });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers['x-frame-options'], 'DENY');
});

test('ETag, If-None-Match, HEAD, 405 and content types', async () => {
  const bin = Buffer.from([0, 1, 2, 3, 255]);
  const files = { '/index.html': 'root', '/data.json': '{"a":1}', '/app.js': 'x', '/img.png': bin, '/noext': 'plain', '/custom.txt': 'c' };
  const p = await freshProject('cond');
  await deploySite(p.id, files, { contentTypes: { '/custom.txt': 'text/x-custom' } });
  const get = (path, opts) => visit(`/__project/${p.slug}${path}`, opts);
  const r = await get('/data.json');
  assert.equal(r.status, 200);
  assert.match(r.headers.etag, /^"[0-9a-f]{64}"$/);
  assert.equal(r.headers['cache-control'], 'public, max-age=0, must-revalidate');
  assert.equal(r.headers['content-type'], 'application/json');
  const revalidated = await get('/data.json', { headers: { 'if-none-match': r.headers.etag } });
  assert.equal(revalidated.status, 304);
  assert.equal(revalidated.headers['content-type'], r.headers['content-type'], 'a 304 keeps the 200\'s Content-Type');
  assert.equal((await get('/data.json', { headers: { 'if-none-match': `W/${r.headers.etag}` } })).status, 304);
  assert.equal((await get('/data.json', { headers: { 'if-none-match': '"other"' } })).status, 200);
  const head = await get('/data.json', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers.etag, r.headers.etag);
  const post = await get('/data.json', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.match(post.headers.allow, /GET/);
  assert.equal((await get('/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
  const png = await get('/img.png');
  assert.equal(png.headers['content-type'], 'image/png');
  assert.equal((await get('/custom.txt')).headers['content-type'], 'text/x-custom', 'manifest contentType wins');
  // Like Cloudflare's production asset serving: no Content-Type for unknown extensions.
  assert.equal((await get('/noext')).headers['content-type'], undefined);
});

test('Range: one range of a 200 answers 206 with those bytes (from memory and streamed from KV), past the end 416, else the whole body', async () => {
  // 1,000 B is kept in isolate memory after its first read; 3 MiB streams from ASSETS_KV.
  const files = { '/index.html': 'root', '/404.html': 'not here', '/s.bin': randomBytes(1000), '/l.bin': randomBytes(3 * 1024 * 1024 + 17), '/empty.txt': '' };
  const p = await freshProject('range');
  await deploySite(p.id, files, { config: { not_found_handling: '404-page' } });
  const get = (path, headers = {}, method = 'GET') => request(`/__project/${p.slug}${path}`, { method, headers, bytes: true });
  for (const path of ['/s.bin', '/l.bin']) {
    const bytes = files[path];
    const size = bytes.length;
    const whole = await get(path);
    assert.equal(whole.status, 200, path);
    assert.equal(whole.headers['cache-control'], 'public, max-age=0, must-revalidate');
    const etag = whole.headers.etag;
    const cases = [
      ['bytes=0-0', 0, 0],
      ['bytes=10-99', 10, 99],
      ['bytes=-5', size - 5, size - 1],
      [`bytes=${size - 300}-`, size - 300, size - 1],
      ['bytes=0-', 0, size - 1],
      [`bytes=600-${size * 10}`, 600, size - 1],
      // spans KV's stream chunks
      ...(size > 1e6 ? [['bytes=1000001-2500000', 1000001, 2500000], [`bytes=-${size - 70000}`, 70000, size - 1]] : []),
    ];
    for (const [range, first, last] of cases) {
      // twice: the second read of the small file comes from isolate memory
      for (const round of [1, 2]) {
        const r = await get(path, { range });
        const what = `${path} ${range} (${round})`;
        assert.equal(r.status, 206, what);
        assert.equal(r.headers['content-range'], `bytes ${first}-${last}/${size}`, what);
        assert.equal(Number(r.headers['content-length']), last - first + 1, what);
        assert.ok(r.body.equals(bytes.subarray(first, last + 1)), what);
        assert.equal(r.headers.etag, etag, what);
        assert.equal(r.headers['content-type'], 'application/octet-stream', what);
        // as Cloudflare's: no Cache-Control on an answer to a Range request
        assert.equal(r.headers['cache-control'], undefined, what);
      }
    }
    const past = await get(path, { range: `bytes=${size}-` });
    assert.equal(past.status, 416, path);
    assert.equal(past.headers['content-range'], `bytes */${size}`);
    assert.equal(past.body.length, 0);
    const head = await get(path, { range: 'bytes=5-9' }, 'HEAD');
    assert.equal(head.status, 206);
    assert.equal(head.headers['content-range'], `bytes 5-9/${size}`);
    assert.equal(head.body.length, 0);
    assert.equal((await get(path, { range: 'bytes=5-9', 'if-range': etag })).status, 206);
    // served whole: a stale If-Range, several ranges, a malformed header
    for (const headers of [{ range: 'bytes=5-9', 'if-range': '"other"' }, { range: 'bytes=0-1,4-5' }, { range: 'bytes=9-5' }, { range: 'pages=1-2' }]) {
      const r = await get(path, headers);
      assert.equal(r.status, 200, JSON.stringify(headers));
      assert.ok(r.body.equals(bytes), JSON.stringify(headers));
      assert.equal(r.headers['content-range'], undefined);
    }
    // a matching If-None-Match still wins: 304
    assert.equal((await get(path, { range: 'bytes=0-1', 'if-none-match': etag })).status, 304);
  }
  // Only 200s are ranged: a 404 page and an empty file come whole.
  const missing = await get('/nope', { range: 'bytes=0-2' });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.toString(), 'not here');
  const empty = await get('/empty.txt', { range: 'bytes=0-' });
  assert.equal(empty.status, 200);
  assert.equal(empty.body.length, 0);
});

test('a sample of Cloudflare conformance rows end to end', async () => {
  const dir = join(ROOT, 'tests', 'fixtures', 'cloudflare');
  const rows = [
    ...JSON.parse(readFileSync(join(dir, 'html-handling-test-cases.json'), 'utf8')),
    ...JSON.parse(readFileSync(join(dir, 'encoding-test-cases.json'), 'utf8')),
  ];
  // Node's HTTP client refuses unescaped spaces and non-ASCII in request paths; those rows
  // run natively (cargo test) with the full table.
  const sendable = rows.filter((r) => /^[\x21-\x7e]+$/.test(r.requestPath));
  const sample = sendable.filter((_, i) => i % 6 === 0);
  const groups = new Map();
  for (const row of sample) {
    const key = `${row.html_handling}|${JSON.stringify([...row.files].sort())}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  let checked = 0;
  for (const [key, group] of groups) {
    const [mode] = key.split('|');
    const files = Object.fromEntries(group[0].files.map((f) => [f, `content of ${f}`]));
    const p = await freshProject('conformance');
    await deploySite(p.id, files, { config: { html_handling: mode } });
    const prefix = `/__project/${p.slug}`;
    for (const row of group) {
      const r = await follow(`${prefix}${row.requestPath}`);
      const label = `${row.title} [${mode}]`;
      if (row.matchedFile) {
        assert.equal(r.status, 200, label);
        assert.equal(r.body, `content of ${row.matchedFile}`, label);
      } else {
        assert.equal(r.status, 404, label);
      }
      // Rows without a finalPath expect no redirect.
      assert.equal(r.finalPath, `${prefix}${row.finalPath ?? row.requestPath}`, label);
      checked++;
    }
  }
  assert.ok(checked >= 25, `checked ${checked} rows`);
});
