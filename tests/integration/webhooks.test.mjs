// Webhooks and log drains (issue 29 items 5-7): a local receiver gets deployment events signed
// the Standard Webhooks way (the test recomputes the HMAC), a 500 is retried from the queue and
// the deliveries log shows both answers, ping and redeliver work, a drain receives NDJSON of a
// function's console.log line, and a token scoped to one project cannot reach another's hooks.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { call, freshProject, expectError, TOKEN } from '../lib/client.mjs';
import { deploySite, request, sleep } from '../lib/site.mjs';
import { d1Rows, d1Write } from '../lib/state.mjs';
import { stub } from '../lib/stubs.mjs';

/** A local receiver: records every request; `script` answers (a list of statuses, then 200). */
async function receiver() {
  const got = [];
  const script = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const status = script.length ? script.shift() : 200;
      got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  return { got, script, url: (path) => `http://127.0.0.1:${server.address().port}${path}` };
}

/** Polls until `pick()` returns something truthy (bounded). */
async function until(what, pick, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pick();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(150);
  }
}

/** Checks the Standard Webhooks headers of a received request against the secret. */
function verify(r, secret) {
  const id = r.headers['webhook-id'];
  const ts = r.headers['webhook-timestamp'];
  assert.ok(id && /^\d+$/.test(ts), JSON.stringify(r.headers));
  assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 300, 'timestamp is now, in seconds');
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const want = 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.${r.body}`).digest('base64');
  assert.equal(r.headers['webhook-signature'], want);
  const wrong = 'v1,' + createHmac('sha256', Buffer.from('nope')).update(`${id}.${ts}.${r.body}`).digest('base64');
  assert.notEqual(r.headers['webhook-signature'], wrong);
}

const P = (p) => `/__api/projects/${p.id}`;

test('webhooks: signed deployment events, a 500 retried with the log showing both, ping, redeliver', { timeout: 120_000 }, async () => {
  const rx = await receiver();
  const p = await freshProject('hooks');
  // Only https (or loopback http in local development) and known events.
  expectError(assert, await call('POST', `${P(p)}/webhooks`, { body: { url: 'http://example.com/h' } }), 400, 'bad_request', 'url');
  expectError(assert, await call('POST', `${P(p)}/webhooks`, { body: { url: rx.url('/h'), events: ['deployment.exploded'] } }), 400, 'bad_request', 'events');

  const created = await call('POST', `${P(p)}/webhooks`, {
    body: { url: rx.url('/hook'), events: ['deployment.created', 'deployment.succeeded', 'deployment.activated'] },
  });
  assert.equal(created.status, 201, created.text);
  const hook = created.body.webhook;
  const secret = hook.secret;
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
  const listed = await call('GET', `${P(p)}/webhooks`);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.webhooks.map((w) => w.id), [hook.id]);
  assert.ok(!listed.text.includes(secret) && !('secret' in listed.body.webhooks[0]), 'the secret is shown once');

  rx.script.push(500); // the first send fails
  const { deploy } = await deploySite(p.id, { '/index.html': '<h1>hooks</h1>' });
  const depId = deploy.deployment.id;

  const events = ['deployment.created', 'deployment.succeeded', 'deployment.activated'];
  const delivered = await until('all three events answered 200', () => {
    const ok = rx.got.filter((r) => r.path === '/hook' && r.status === 200).map((r) => ({ ...r, json: JSON.parse(r.body) }));
    return events.every((e) => ok.some((r) => r.json.type === e)) && ok;
  });
  for (const r of rx.got) {
    verify(r, secret);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.ok(!r.body.includes(TOKEN) && !r.body.includes(secret), 'no token or secret in a payload');
    assert.ok(!('authorization' in r.headers), 'no Authorization header');
  }
  for (const e of events) {
    const r = delivered.find((d) => d.json.type === e);
    assert.equal(r.json.data.deploymentId, depId);
    assert.equal(r.json.data.projectId, p.id);
    assert.ok(!Number.isNaN(Date.parse(r.json.timestamp)));
  }
  // The failed first send came back with the same webhook-id (the message id) after the delay.
  const first = rx.got[0];
  assert.equal(first.status, 500);
  const retried = rx.got.find((r, i) => i > 0 && r.headers['webhook-id'] === first.headers['webhook-id']);
  assert.ok(retried && retried.status === 200, 'the 500 was retried');

  const log = await until('the deliveries log to show the retry', async () => {
    const r = await call('GET', `${P(p)}/webhooks/${hook.id}/deliveries`);
    assert.equal(r.status, 200, r.text);
    const d = r.body.deliveries.find((x) => x.id === first.headers['webhook-id']);
    return d && d.status === 'succeeded' && d;
  });
  assert.deepEqual(log.attempts.map((a) => a.responseStatus), [500, 200]);
  assert.equal(log.responseStatus, 200);
  assert.equal(log.payload.type, JSON.parse(first.body).type);

  // Ping reaches the hook whatever it subscribed to.
  const ping = await call('POST', `${P(p)}/webhooks/${hook.id}/ping`);
  assert.equal(ping.status, 202, ping.text);
  const pinged = await until('the ping', () => rx.got.find((r) => r.headers['webhook-id'] === ping.body.delivery.id));
  verify(pinged, secret);
  assert.equal(JSON.parse(pinged.body).type, 'webhook.ping');

  // Redeliver sends the same message again.
  const before = rx.got.filter((r) => r.headers['webhook-id'] === log.id).length;
  const again = await call('POST', `${P(p)}/webhooks/${hook.id}/deliveries/${log.id}/redeliver`);
  assert.equal(again.status, 202, again.text);
  await until('the redelivery', () => rx.got.filter((r) => r.headers['webhook-id'] === log.id).length > before);
  const after3 = await until('the log to show the third attempt', async () => {
    const d = (await call('GET', `${P(p)}/webhooks/${hook.id}/deliveries`)).body.deliveries.find((x) => x.id === log.id);
    return d.attempts.length === 3 && d.status === 'succeeded' && d;
  });
  assert.deepEqual(after3.attempts.map((a) => a.responseStatus), [500, 200, 200]);
  expectError(assert, await call('POST', `${P(p)}/webhooks/${hook.id}/deliveries/msg_nope/redeliver`), 404, 'not_found');

  assert.equal((await call('DELETE', `${P(p)}/webhooks/${hook.id}`)).status, 200);
  expectError(assert, await call('GET', `${P(p)}/webhooks/${hook.id}/deliveries`), 404, 'not_found');
});

test('webhooks: rollback, promote, a failed deploy and domain verification are announced, and only what was subscribed', { timeout: 120_000 }, async () => {
  const rx = await receiver();
  const p = await freshProject('hooks-events');
  const events = ['deployment.failed', 'deployment.rolled_back', 'deployment.promoted', 'domain.verified', 'domain.failed'];
  const { webhook } = (await call('POST', `${P(p)}/webhooks`, { body: { url: rx.url('/ev'), events } })).body;
  const one = (await deploySite(p.id, { '/index.html': 'one' })).deploy.deployment.id;
  const two = (await deploySite(p.id, { '/index.html': 'two' })).deploy.deployment.id;
  assert.equal((await call('POST', `${P(p)}/rollback`, { body: {} })).status, 200);
  assert.equal((await call('POST', `/__api/deployments/${two}/promote`)).status, 200);
  const failed = (await deploySite(p.id, { '/index.html': 'three' }, { expect: 422, extra: { fault: 'stage' } })).deploy;
  const host = `hooks-${Date.now()}.example.com`;
  const added = await call('POST', `${P(p)}/domains`, { body: { hostname: host } });
  assert.equal(added.status, 201, added.text);
  assert.equal((await call('POST', `${P(p)}/domains/${host}/verify`)).status, 409);
  const { name, value } = added.body.domain.verification;
  await stub.setTxt(name, [JSON.stringify(value)]);
  assert.equal((await call('POST', `${P(p)}/domains/${host}/verify`)).status, 200);

  const got = await until('five events', () => {
    const list = rx.got.filter((r) => r.path === '/ev').map((r) => JSON.parse(r.body));
    return list.length >= 5 && list;
  });
  await sleep(500); // nothing else may follow (created/succeeded/activated were not subscribed)
  const byType = Object.fromEntries(rx.got.map((r) => JSON.parse(r.body)).map((e) => [e.type, e.data]));
  assert.deepEqual(Object.keys(byType).sort(), [...events].sort(), JSON.stringify(got));
  assert.equal(rx.got.length, 5);
  assert.deepEqual(byType['deployment.rolled_back'], { projectId: p.id, deploymentId: one, previousDeploymentId: two });
  assert.deepEqual(byType['deployment.promoted'], { projectId: p.id, deploymentId: two, previousDeploymentId: one });
  assert.equal(byType['deployment.failed'].deploymentId, failed.details.deployment.id);
  assert.equal(typeof byType['deployment.failed'].errorCode, 'string');
  assert.deepEqual(byType['domain.verified'], { projectId: p.id, hostname: host });
  assert.equal(byType['domain.failed'].hostname, host);
  for (const r of rx.got) verify(r, webhook.secret);
});

const MARKER = 'drain-marker-7f3a';
const CODE = `export default { async fetch(req) {
  console.log('${MARKER}', new URL(req.url).pathname);
  return new Response('ok');
} };`;
const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(CODE).toString('base64') } };

test('drains: NDJSON batches of invocation logs and deployment events, signed', { timeout: 120_000 }, async () => {
  const rx = await receiver();
  const p = await freshProject('drain');
  expectError(assert, await call('POST', `${P(p)}/drains`, { body: { url: rx.url('/d'), sampling: 2 } }), 400, 'bad_request', 'sampling');
  const created = await call('POST', `${P(p)}/drains`, { body: { url: rx.url('/drain') } });
  assert.equal(created.status, 201, created.text);
  const drain = created.body.drain;
  assert.deepEqual([drain.sources, drain.sampling, drain.dropped], [['logs', 'events'], 1, 0]);
  // A drain sampling none of the logs gets none of them.
  const none = await call('POST', `${P(p)}/drains`, { body: { url: rx.url('/none'), sources: ['logs'], sampling: 0 } });
  assert.equal(none.status, 201, none.text);

  await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  assert.equal((await request(`/__project/${p.slug}/visited`)).status, 200);

  const lines = () => rx.got.filter((r) => r.path === '/drain').flatMap((r) => r.body.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  const line = await until('the console.log line in the drain', () =>
    lines().find((l) => l.source === 'logs' && new URL(l.request.url).pathname === '/visited'));
  assert.equal(line.projectId, p.id);
  assert.deepEqual(line.logs.map((l) => l.message), [`${MARKER} /visited`]);
  assert.equal(line.status, 200);
  await until('deployment events in the drain', () => lines().some((l) => l.source === 'events' && l.type === 'deployment.activated'));
  for (const r of rx.got) {
    verify(r, drain.secret);
    assert.equal(r.headers['content-type'], 'application/x-ndjson');
    assert.ok(r.body.endsWith('\n'));
  }
  assert.deepEqual(rx.got.filter((r) => r.path === '/none'), [], 'sampling 0 sends no logs');
  const listed = await call('GET', `${P(p)}/drains`);
  assert.equal(listed.status, 200);
  assert.equal(listed.body.drains[0].dropped, 0);
  assert.ok(!listed.text.includes(drain.secret));
  assert.equal((await call('DELETE', `${P(p)}/drains/${drain.id}`)).status, 200);
  assert.deepEqual((await call('GET', `${P(p)}/drains`)).body.drains.map((d) => d.id), [none.body.drain.id]);
});

test('drains: a failing receiver keeps the lines; past 1,000 the oldest are dropped and counted', { timeout: 90_000 }, async () => {
  const rx = await receiver();
  rx.script.push(...Array(20).fill(500));
  const p = await freshProject('drain-full');
  const drain = (await call('POST', `${P(p)}/drains`, { body: { url: rx.url('/full'), sources: ['events'] } })).body.drain;
  // A full backlog, written behind the Worker's back: lines n = 1..1000.
  d1Write(`WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000)
    INSERT INTO drain_backlog (hook_id, line) SELECT ?, '{"n":' || n || '}' FROM c`, drain.id);
  await deploySite(p.id, { '/index.html': 'x' }); // created, succeeded, activated: 3 more lines
  const shown = await until('three dropped lines', async () => {
    const d = (await call('GET', `${P(p)}/drains`)).body.drains[0];
    return d.dropped === 3 && d;
  });
  assert.equal(shown.backlog, 1000);
  const lines = d1Rows('SELECT line FROM drain_backlog WHERE hook_id = ? ORDER BY id', drain.id).map((r) => JSON.parse(r.line));
  assert.deepEqual(lines.slice(0, 2), [{ n: 4 }, { n: 5 }], 'the oldest went first');
  assert.deepEqual(lines.slice(-3).map((l) => l.type), ['deployment.created', 'deployment.succeeded', 'deployment.activated']);
  // The receiver was sent the oldest lines in a bounded batch, answered 500, and lost nothing.
  const sent = await until('a flush', () => rx.got[0]);
  const batch = sent.body.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(batch.length, 200);
  assert.ok(batch[0].n >= 2 && batch[0].n <= 4, JSON.stringify(batch[0]));
  verify(sent, drain.secret);
  await until('the failure to show', async () => (await call('GET', `${P(p)}/drains`)).body.drains[0].lastStatus === 500);
  assert.equal(d1Rows('SELECT COUNT(*) AS n FROM drain_backlog WHERE hook_id = ?', drain.id)[0].n, 1000);
});

test('drains: a drain deleted elsewhere takes no more lines, even from an isolate that still remembers it', { timeout: 90_000 }, async () => {
  const rx = await receiver();
  const p = await freshProject('drain-gone');
  const drain = (await call('POST', `${P(p)}/drains`, { body: { url: rx.url('/gone'), sources: ['logs'] } })).body.drain;
  await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  const kept = (path) => until(`the run of ${path}`, async () =>
    (await call('GET', `${P(p)}/logs?q=${path}`)).body.logs.length > 0);
  assert.equal((await request(`/__project/${p.slug}/first-visit`)).status, 200);
  await kept('first-visit'); // the tail isolate now knows the drain (for ROUTE_CACHE_TTL_MS)
  // Deleted by another isolate: this one is not told.
  d1Write('DELETE FROM hooks WHERE id = ?', drain.id);
  assert.equal((await request(`/__project/${p.slug}/second-visit`)).status, 200);
  await kept('second-visit');
  await sleep(300); // the tail call feeds drains right after it stores the run
  const lines = d1Rows('SELECT line FROM drain_backlog WHERE hook_id = ?', drain.id).map((r) => r.line);
  assert.deepEqual(lines.filter((l) => l.includes('second-visit')), [], 'no line for a deleted drain');
});

test('hooks: a token scoped to one project cannot see or change another project\'s hooks', { timeout: 60_000 }, async () => {
  const a = await freshProject('hooks-a');
  const b = await freshProject('hooks-b');
  const url = 'https://hooks.example.com/in';
  const bHook = (await call('POST', `${P(b)}/webhooks`, { body: { url } })).body.webhook;
  const bDrain = (await call('POST', `${P(b)}/drains`, { body: { url } })).body.drain;
  const mint = async (scopes) => {
    const r = await call('POST', '/__api/tokens', { body: { name: `hooks ${scopes}`, projects: [a.id], scopes } });
    assert.equal(r.status, 201, r.text);
    return r.body.secret ?? r.body.token.secret;
  };
  const manage = await mint(['manage']);
  const read = await mint(['read']);

  const mine = await call('POST', `${P(a)}/webhooks`, { body: { url }, token: manage });
  assert.equal(mine.status, 201, mine.text);
  assert.equal((await call('GET', `${P(a)}/webhooks`, { token: read })).status, 200);
  expectError(assert, await call('POST', `${P(a)}/webhooks`, { body: { url }, token: read }), 403, 'forbidden');
  expectError(assert, await call('POST', `${P(a)}/drains`, { body: { url }, token: read }), 403, 'forbidden');

  for (const [method, path, body] of [
    ['GET', `${P(b)}/webhooks`],
    ['POST', `${P(b)}/webhooks`, { url }],
    ['DELETE', `${P(b)}/webhooks/${bHook.id}`],
    ['POST', `${P(b)}/webhooks/${bHook.id}/ping`],
    ['GET', `${P(b)}/webhooks/${bHook.id}/deliveries`],
    ['POST', `${P(b)}/webhooks/${bHook.id}/deliveries/msg_x/redeliver`],
    ['GET', `${P(b)}/drains`],
    ['POST', `${P(b)}/drains`, { url }],
    ['DELETE', `${P(b)}/drains/${bDrain.id}`],
    ['GET', `/__api/projects/${b.slug}/webhooks`],
  ]) {
    const r = await call(method, path, { body, token: manage });
    expectError(assert, r, 403, 'forbidden');
    assert.ok(!r.text.includes(bHook.id) && !r.text.includes(url), `${method} ${path} leaks nothing`);
  }
  // A's hook id through A's path only: B's hook is not A's.
  expectError(assert, await call('DELETE', `${P(a)}/webhooks/${bHook.id}`, { token: manage }), 404, 'not_found');
  assert.equal((await call('GET', `${P(b)}/webhooks`)).body.webhooks.length, 1, "B's hook is untouched");
});

test('hooks: project.deleted is delivered, then the cron removes the hooks of deleted projects and expired deliveries', { timeout: 90_000 }, async () => {
  const rx = await receiver();
  const kept = await freshProject('hooks-kept');
  const keptHook = (await call('POST', `${P(kept)}/webhooks`, { body: { url: rx.url('/kept') } })).body.webhook;
  // A delivery past LOG_RETENTION_DAYS (default 7) and one within it.
  const old = Date.now() - 8 * 86_400_000;
  const recent = Date.now() - 6 * 86_400_000;
  for (const [id, at] of [['msg_old', old], ['msg_recent', recent]]) {
    d1Write("INSERT INTO hook_deliveries (id, hook_id, project_id, event, payload, status, attempts, created_at, updated_at) VALUES (?, ?, ?, 'webhook.ping', '{}', 'succeeded', 1, ?, ?)", id, keptHook.id, kept.id, at, at);
    d1Write("INSERT INTO hook_attempts (delivery_id, attempt, at, response_status, duration_ms) VALUES (?, 1, ?, 200, 1)", id, at);
  }

  const p = await freshProject('hooks-deleted');
  const hook = (await call('POST', `${P(p)}/webhooks`, { body: { url: rx.url('/gone'), events: ['project.deleted'] } })).body.webhook;
  assert.equal((await call('DELETE', P(p))).status, 200);
  const got = await until('project.deleted', () => rx.got.find((r) => r.path === '/gone'));
  verify(got, hook.secret);
  assert.deepEqual(JSON.parse(got.body).data, { projectId: p.id, slug: p.slug });
  await until('the delivery to settle', () =>
    d1Rows("SELECT status FROM hook_deliveries WHERE hook_id = ?", hook.id)[0]?.status === 'succeeded');

  const cron = await fetch(`${process.env.FLOTILLA_URL}/__scheduled?cron=*+*+*+*+*`);
  assert.equal(cron.status, 200);
  const count = (sql, ...a) => d1Rows(sql, ...a)[0].n;
  assert.equal(count('SELECT COUNT(*) AS n FROM hooks WHERE project_id = ?', p.id), 0, "a deleted project's hooks are gone");
  assert.equal(count('SELECT COUNT(*) AS n FROM hook_deliveries WHERE hook_id = ?', hook.id), 0);
  assert.equal(count('SELECT COUNT(*) AS n FROM hooks WHERE id = ?', keptHook.id), 1, 'a live project keeps its hooks');
  assert.deepEqual(d1Rows('SELECT id FROM hook_deliveries WHERE hook_id = ? ORDER BY id', keptHook.id).map((r) => r.id), ['msg_recent']);
  assert.equal(count("SELECT COUNT(*) AS n FROM hook_attempts WHERE delivery_id = 'msg_old'"), 0);
});
