// A provisional project (created by `wrangler deploy` for a new Worker name) whose script upload
// never came, because the client died or the Worker was cut off mid-request, is deleted by the
// cron once no token of its upload sessions can be used any more: the row, its sessions and their
// manifests go, and the name is free. Rows are made provisional and old behind the Worker's back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, freshProject } from '../lib/client.mjs';
import { upload, sleep } from '../lib/site.mjs';
import { d1Count, d1Rows, d1Write, r2Count } from '../lib/state.mjs';

test('the cron deletes provisional projects no deploy can complete on, and only those', { timeout: 120_000 }, async () => {
  const old = await freshProject('abandoned');
  await upload(old.id, { '/index.html': 'never deployed' });
  const [session] = d1Rows('SELECT id, manifest_key FROM upload_sessions WHERE project_id = ?', old.id);
  assert.ok(session, 'the upload opened a session');
  assert.equal(r2Count('SELECT COUNT(*) AS n FROM _mf_objects WHERE key = ?', session.manifest_key), 1);
  // Reused: an old provisional project a later deploy of the same name just opened a session on.
  const reused = await freshProject('reused');
  await upload(reused.id, { '/index.html': 'deploying now' });
  // Young: created a moment ago, its deploy may still come.
  const young = await freshProject('young');
  assert.equal(d1Write('UPDATE projects SET provisional = 1, created_at = 1 WHERE id IN (?, ?)', old.id, reused.id), 2);
  assert.equal(d1Write('UPDATE projects SET provisional = 1 WHERE id = ?', young.id), 1);
  assert.equal(d1Write('UPDATE upload_sessions SET created_at = 1 WHERE project_id = ?', old.id), 1);

  const r = await fetch(`${process.env.FLOTILLA_URL}/__scheduled?cron=*+*+*+*+*`);
  assert.equal(r.status, 200, await r.text());
  // Deleted at once; the purge (on the queue) then removes the row itself: no tombstone.
  const rows = () => d1Count('SELECT COUNT(*) AS n FROM projects WHERE id = ?', old.id);
  for (let i = 0; i < 60 && rows() > 0; i++) await sleep(500);
  assert.equal(rows(), 0, 'the abandoned project row is gone, deleted or not');
  assert.equal((await api.getProject(old.slug)).status, 404);
  assert.equal(d1Count('SELECT COUNT(*) AS n FROM upload_sessions WHERE project_id = ?', old.id), 0, 'its sessions went');
  assert.equal(r2Count('SELECT COUNT(*) AS n FROM _mf_objects WHERE key = ?', session.manifest_key), 0, 'and their manifests');

  for (const p of [reused, young]) {
    const got = await api.getProject(p.id);
    assert.equal(got.status, 200, `${p.slug} kept: ${got.text}`);
    assert.equal(d1Count('SELECT COUNT(*) AS n FROM projects WHERE id = ? AND provisional = 1 AND deleted_at IS NULL', p.id), 1);
  }
});
