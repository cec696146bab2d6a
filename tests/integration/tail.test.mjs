// Live tail (issue 29, item 2, and `wrangler tail` at the end): GET /__api/projects/:id/tail streams each run of the project's
// server code as a Server-Sent Event (the /logs shape), filtered per viewer, through the
// project's TailHub object; at most 10 viewers per project; viewers never slow the tenant.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { call, freshProject, expectError, BASE, TOKEN } from '../lib/client.mjs';
import { deploySite, request, sleep } from '../lib/site.mjs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { wrangler, project } from '../lib/wrangler.mjs';
import { ROOT } from '../lib/server.mjs';

const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

const CODE = `export default { async fetch(req) {
  const u = new URL(req.url);
  console.log('handling', u.pathname);
  if (u.pathname === '/warn') console.warn('careful with', u.searchParams.get('x'));
  if (u.pathname === '/throw') throw new Error('boom at ' + u.pathname);
  if (u.pathname === '/big') for (let i = 0; i < 64; i++) console.log('x'.repeat(2000), i);
  return new Response('ok', { status: u.pathname === '/missing' ? 404 : 200 });
} };`;
const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(CODE).toString('base64') } };

const open = new Set();
after(() => { for (const close of open) close(); });

/** An open tail: `events` fills as they arrive; `close()` disconnects (and `after` closes any
 * a failed test left open, so the runner can exit). */
async function tail(p, query = '', token = TOKEN) {
  const ctl = new AbortController();
  const res = await fetch(`${BASE}/__api/projects/${p.id}/tail${query}`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  const close = () => { open.delete(close); ctl.abort(); };
  open.add(close);
  const t = { status: res.status, headers: res.headers, events: [], comments: [], ended: false, close };
  if (res.status !== 200) {
    t.body = await res.json();
    return t;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  t.done = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (frame.startsWith('data: ')) t.events.push(JSON.parse(frame.slice(6)));
          else t.comments.push(frame);
        }
      }
    } catch {
      // aborted or dropped
    }
    t.ended = true;
  })();
  for (let i = 0; i < 100 && t.comments.length === 0; i++) await sleep(20);
  assert.deepEqual(t.comments, [': connected']);
  return t;
}

async function until(what, check, ms = 15_000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (check()) return;
  assert.fail(`timed out waiting for ${what}`);
}

const path = (e) => new URL(e.request.url).pathname;

test('tail: each run arrives as one event in the /logs shape, filtered per viewer', { timeout: 120_000 }, async () => {
  const p = await freshProject('tail');
  const { deploy } = await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  const depId = deploy.deployment.id;
  const all = await tail(p);
  assert.match(all.headers.get('content-type'), /^text\/event-stream/);
  const notFound = await tail(p, '?status=4xx');
  const errors = await tail(p, '?status=error');
  const glass = await tail(p, '?q=GLASS&method=get');
  const posts = await tail(p, '?method=POST&path=/api/');
  const other = await tail(p, '?deploymentId=00000000-0000-0000-0000-000000000000');
  const none = await tail(p, '?sample=0');
  const visit = (u, opts = {}) => request(`/__project/${p.slug}${u}`, { ...opts, headers: { cookie: 'session=s3cret-cookie' } });
  assert.equal((await visit('/ok')).status, 200);
  assert.equal((await visit('/warn?x=glass')).status, 200);
  assert.equal((await visit('/missing')).status, 404);
  assert.equal((await visit('/throw')).status, 500);
  assert.equal((await visit('/api/x', { method: 'POST', body: 'b' })).status, 200);
  assert.equal((await visit('/apix', { method: 'POST', body: 'b' })).status, 200);

  await until('six events', () => all.events.length >= 6);
  assert.deepEqual(all.events.map(path).sort(), ['/api/x', '/apix', '/missing', '/ok', '/throw', '/warn']);
  const ok = all.events.find((e) => path(e) === '/ok');
  assert.equal(ok.id, null);
  assert.equal(ok.deploymentId, depId);
  assert.equal(ok.status, 200);
  assert.equal(ok.outcome, 'ok');
  assert.deepEqual(ok.logs.map((l) => [l.level, l.message]), [['log', 'handling /ok']]);
  const thrown = all.events.find((e) => path(e) === '/throw');
  assert.equal(thrown.exceptions[0].message, 'boom at /throw');
  assert.ok(!JSON.stringify(all.events).includes('s3cret-cookie'), 'headers are never sent');

  await until('filtered events', () => notFound.events.length && errors.events.length && glass.events.length && posts.events.length);
  await sleep(300); // anything wrongly let through would have arrived with the rest
  assert.deepEqual(notFound.events.map(path), ['/missing']);
  assert.deepEqual(errors.events.map(path), ['/throw']);
  assert.deepEqual(glass.events.map(path), ['/warn']);
  assert.deepEqual(posts.events.map(path), ['/api/x']);
  assert.deepEqual(other.events, []);
  assert.deepEqual(none.events, []);
  for (const t of [all, notFound, errors, glass, posts, other, none]) t.close();
});

test('tail: 10 viewers per project, the 11th gets 429; a disconnect frees a place and never affects serving', { timeout: 120_000 }, async () => {
  const p = await freshProject('tail cap');
  await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  const viewers = [];
  for (let i = 0; i < 10; i++) viewers.push(await tail(p));
  const eleventh = await tail(p);
  expectError(assert, { status: eleventh.status, body: eleventh.body, headers: eleventh.headers }, 429, 'rate_limited');
  assert.ok(Number(eleventh.headers.get('retry-after')) > 0);
  // Another project is not affected by this one's viewers.
  const q = await freshProject('tail cap other');
  const elsewhere = await tail(q);
  elsewhere.close();

  viewers.pop().close();
  // The hub learns of a disconnect at its next write to it (a run's event or the heartbeat).
  let again;
  for (let i = 0; i < 50; i++) {
    assert.equal((await request(`/__project/${p.slug}/ok`)).status, 200);
    again = await tail(p);
    if (again.status === 200) break;
    await sleep(100);
  }
  assert.equal(again.status, 200, 'a closed viewer gives its place back');
  assert.equal((await request(`/__project/${p.slug}/ok`)).status, 200);
  await until('an event', () => again.events.length > 0 && viewers[0].events.length > 0);
  for (const t of [...viewers, again]) t.close();
});

test('tail: a viewer that does not read is dropped, and the tenant is not slowed', { timeout: 180_000 }, async () => {
  const p = await freshProject('tail slow');
  await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  // Never read past the first frame: its unread events pile up until the hub drops it.
  const res = await fetch(`${BASE}/__api/projects/${p.id}/tail`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  open.add(() => reader.cancel().catch(() => {}));
  await reader.read();
  const fast = await tail(p, '?path=/ok');
  const started = Date.now();
  for (let i = 0; i < 300; i++) assert.equal((await request(`/__project/${p.slug}/big`)).status, 200);
  const ms = Date.now() - started;
  assert.equal((await request(`/__project/${p.slug}/ok`)).status, 200);
  await until('the reading viewer still sees runs', () => fast.events.length === 1);
  // Now read what the slow viewer was sent: it ends (dropped) well before the 300 events.
  let events = 0;
  let text = '';
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      events += text.split('\n\n').length - 1;
      text = text.slice(text.lastIndexOf('\n\n') + 2);
    }
  } catch {
    // dropped: the stream errors
  }
  assert.ok(events < 300, `the slow viewer was dropped (got ${events} events; 300 requests took ${ms} ms)`);
  fast.close();
});

test('tail: only who reads the project tails it; filters are validated', { timeout: 60_000 }, async () => {
  const [mine, other] = [await freshProject('tail mine'), await freshProject('tail other')];
  const t = await call('POST', '/__api/tokens', { body: { name: 'tail reader', scopes: ['read'], projects: [other.id] } });
  assert.equal(t.status, 201, t.text);
  const allowed = await tail(other, '', t.body.secret);
  assert.equal(allowed.status, 200);
  allowed.close();
  const refused = await tail(mine, '', t.body.secret);
  assert.ok([403, 404].includes(refused.status), JSON.stringify(refused.body));
  for (const [q, field] of [['?status=6xx', 'status'], ['?sample=2', 'sample'], ['?path=x', 'path'], ['?method=G%20T', 'method'], ['?nope=1', 'nope']]) {
    expectError(assert, await call('GET', `/__api/projects/${other.id}/tail${q}`), 400, 'bad_request', field);
  }
});

/** The complete JSON values printed so far (wrangler prints each event indented, several lines). */
function jsonValues(text) {
  const out = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = depth > 0;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && depth > 0 && --depth === 0) {
      try { out.push(JSON.parse(text.slice(start, i + 1))); } catch { /* not ours */ }
    }
  }
  return out;
}

test('tail: the real `wrangler tail --format json` prints each run of a Worker deployed with wrangler', { timeout: 240_000 }, async () => {
  const name = `tail-${Date.now().toString(36)}`;
  const dir = project({
    'wrangler.toml': `name = "${name}"\nmain = "index.js"\ncompatibility_date = "2026-10-01"\n`,
    'index.js': CODE,
  });
  const deployed = await wrangler(dir, ['deploy']);
  assert.equal(deployed.code, 0, deployed.out);
  const env = {
    ...process.env, CLOUDFLARE_API_BASE_URL: `${BASE}/client/v4`, CLOUDFLARE_API_TOKEN: TOKEN, CLOUDFLARE_ACCOUNT_ID: 'acc',
    WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0',
  };
  const run = (args) => {
    const child = spawn(process.execPath, [WRANGLER, 'tail', name, ...args], { cwd: dir, env });
    const r = { child, out: '', exited: new Promise((res) => child.on('exit', res)) };
    child.stdout.on('data', (b) => { r.out += b; });
    child.stderr.on('data', (b) => { r.out += b; });
    open.add(() => child.kill('SIGKILL'));
    return r;
  };
  const json = run(['--format', 'json']);
  const errorsOnly = run(['--format', 'json', '--status', 'error', '--method', 'GET']);
  const pretty = run(['--format', 'pretty', '--search', 'throw']);
  const visit = (u) => request(`/__project/${name}${u}`);
  // The sessions open asynchronously: visit until each has printed something.
  const seen = (r) => jsonValues(r.out).filter((e) => e.event?.request);
  for (let i = 0; i < 100 && (seen(json).length === 0 || seen(errorsOnly).length === 0 || !pretty.out.includes('/throw')); i++) {
    assert.equal((await visit('/ok')).status, 200);
    assert.equal((await visit('/throw')).status, 500);
    await sleep(200);
  }
  assert.equal((await visit('/warn?x=glass')).status, 200);
  await until('the warn run in wrangler\'s output', () => seen(json).some((e) => e.event.request.url.includes('/warn')));

  const events = seen(json);
  const warn = events.find((e) => e.event.request.url.includes('/warn'));
  assert.equal(warn.outcome, 'ok');
  assert.equal(warn.scriptName, name);
  assert.equal(warn.event.request.method, 'GET');
  assert.deepEqual(warn.logs.map((l) => [l.level, l.message]), [['log', ['handling /warn']], ['warn', ['careful with glass']]]);
  assert.ok(typeof warn.eventTimestamp === 'number' && warn.eventTimestamp > 1_700_000_000_000);
  const thrown = events.find((e) => e.event.request.url.includes('/throw'));
  assert.equal(thrown.outcome, 'exception');
  assert.equal(thrown.exceptions[0].name, 'Error');
  assert.equal(thrown.exceptions[0].message, 'boom at /throw');
  // --status error: only the runs that threw.
  assert.deepEqual([...new Set(seen(errorsOnly).map((e) => e.outcome))], ['exception']);
  // --format pretty is wrangler's own rendering of the same messages; --search filters.
  assert.match(pretty.out, /GET http:\/\/\S+\/throw - Exception Thrown @/);
  assert.match(pretty.out, /Error: boom at \/throw/);
  assert.ok(!pretty.out.includes('/ok -'), pretty.out);

  for (const r of [json, errorsOnly, pretty]) r.child.kill('SIGINT');
  await Promise.all([json, errorsOnly, pretty].map((r) => r.exited));
  // A header filter cannot be honoured (headers are never kept): refused by name, not ignored.
  const refused = await call('POST', `/client/v4/accounts/acc/workers/scripts/${name}/tails`, { body: { filters: [{ header: { key: 'x' } }] } });
  assert.equal(refused.status, 400, refused.text);
  assert.match(refused.text, /header/);
  // The socket URL is single-use.
  const opened = await call('POST', `/client/v4/accounts/acc/workers/scripts/${name}/tails`, { body: { filters: [] } });
  assert.equal(opened.status, 200, opened.text);
  assert.match(opened.body.result.url, /^ws:\/\/.*\/tails\/[^/]+\/socket\?secret=[0-9a-f]{64}$/);
  const upgrade = (url) => new Promise((resolve) => {
    const ws = new WebSocket(url, 'trace-v1');
    ws.onopen = () => { resolve(ws.protocol); ws.close(); };
    ws.onerror = () => resolve('refused');
  });
  assert.equal(await upgrade(opened.body.result.url), 'trace-v1');
  assert.equal(await upgrade(opened.body.result.url), 'refused');
  assert.equal((await call('DELETE', `/client/v4/accounts/acc/workers/scripts/${name}/tails/${opened.body.result.id}`)).status, 200);
});
