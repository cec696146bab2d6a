// SQL and bucket bindings reach tenant code through objects built in its own isolate
// (src/deploy/shims.rs): a generated main module wraps the tenant's. These tests cover the
// wrapping itself — both export styles, `this`, nested entry paths, the binding checks and
// the reserved module names; the D1 and R2 APIs have their own tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, freshProject, expectError } from '../lib/client.mjs';
import { prepare, request } from '../lib/site.mjs';
import { d1Write } from '../lib/state.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');
const hex32 = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');

/** A resource row of `kind` owned by the root, written straight into D1 (the create APIs of
 * SQL databases and buckets are not what this file tests). */
function resource(kind) {
  const id = hex32();
  d1Write('INSERT INTO resources (id, kind, title, created_by, created_at) VALUES (?, ?, ?, ?, ?)', id, kind, `shim-${id}`, 'root', Date.now());
  return id;
}

async function deploy(project, serverCode, bindings, expect = 200) {
  const { manifest, bodies } = prepare({ '/index.html': `static ${Math.random()}` });
  const s = await call('POST', `/__api/projects/${project.id}/assets-upload-session`, { body: { manifest } });
  assert.equal(s.status, 200, s.text);
  let jwt = s.body.result.jwt;
  for (const b of s.body.result.buckets) {
    const r = await call('POST', `/__api/projects/${project.id}/assets/upload`, { body: Object.fromEntries(b.map((h) => [h, bodies[h]])), token: s.body.result.jwt });
    if (r.body.result.jwt) jwt = r.body.result.jwt;
  }
  const d = await call('POST', `/__api/projects/${project.id}/deploy`, {
    body: { completionJwt: jwt, serverCode, run_worker_first: true, env: { V: 'var' }, config: { bindings } },
  });
  assert.equal(d.status, expect, d.text);
  return d;
}

async function json(project, path = '/') {
  const r = await request(`/__project/${project.slug}${path}`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}

const OBJECT_STYLE = `export class Other {}
export default {
  greeting() { return 'hi'; },
  async fetch(req, env) {
    return Response.json({ self: this.greeting(), db: 'DB' in env, files: 'FILES' in env, v: env.V, assets: typeof env.ASSETS?.fetch });
  },
};`;

const CLASS_STYLE = `import { WorkerEntrypoint } from 'cloudflare:workers';
export default class extends WorkerEntrypoint {
  async fetch() {
    return Response.json({ db: 'DB' in this.env, files: 'FILES' in this.env, v: this.env.V, ctx: typeof this.ctx.waitUntil });
  }
}`;

test('SQL and bucket bindings: the wrapped main module keeps both export styles working', { timeout: 120_000 }, async () => {
  const [db, files] = [resource('sql'), resource('bucket')];
  const bindings = [{ type: 'd1', name: 'DB', id: db }, { type: 'bucket', name: 'FILES', id: files }];

  const p = await freshProject('shim object');
  const code = { entrypoint: 'src/worker.js', compatibilityDate: '2026-10-01', modules: { 'src/worker.js': b64(OBJECT_STYLE) } };
  assert.equal((await deploy(p, code, bindings)).body.deployment.status, 'completed');
  assert.deepEqual(await json(p), { self: 'hi', db: true, files: true, v: 'var', assets: 'function' });

  const c = await freshProject('shim class');
  const cls = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(CLASS_STYLE) } };
  assert.equal((await deploy(c, cls, [{ type: 'sql', name: 'DB', id: db }, { type: 'r2', name: 'FILES', id: files }])).body.deployment.status, 'completed');
  assert.deepEqual(await json(c), { db: true, files: true, v: 'var', ctx: 'function' });
});

test('SQL and bucket bindings: unknown ids and kinds are refused naming the binding; __flotilla/ is reserved', { timeout: 60_000 }, async () => {
  const p = await freshProject('shim refusals');
  const code = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(OBJECT_STYLE) } };
  const kv = resource('kv');
  const cases = [
    [{ type: 'sql', name: 'DB', id: hex32() }, /SQL database `[0-9a-f]{32}` \(binding `DB`\)/],
    // A resource of another kind is not a database.
    [{ type: 'd1', name: 'DB', id: kv }, /SQL database `[0-9a-f]{32}` \(binding `DB`\)/],
    [{ type: 'r2', name: 'FILES', id: kv }, /bucket `[0-9a-f]{32}` \(binding `FILES`\)/],
  ];
  for (const [binding, message] of cases) {
    const r = await deploy(p, code, [binding], 404);
    expectError(assert, r, 404, 'not_found');
    assert.match(r.body.message, message);
  }
  const reserved = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': b64(OBJECT_STYLE), '__flotilla/d1.js': b64('export const x = 1;') } };
  const r = await deploy(p, reserved, [], 400);
  expectError(assert, r, 400, 'bad_request', 'serverCode.modules["__flotilla/d1.js"]');
});
