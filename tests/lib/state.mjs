// Reads wrangler dev's local storage directly (read-only), for tests that must see what the
// Worker stored rather than what it answers: KV entries, D1 rows, R2 objects.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * Sums `sql` (which selects `COUNT(*) AS n`) over every database miniflare keeps for `kind`
 * (`kv/miniflare-KVNamespaceObject`, `d1/miniflare-D1DatabaseObject`, `r2/miniflare-R2BucketObject`).
 * Databases without the table are skipped.
 */
export function storedCount(kind, sql, ...params) {
  const dir = join(process.env.FLOTILLA_STATE_DIR, 'v3', kind);
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.sqlite') || f === 'metadata.sqlite') continue;
    const db = new DatabaseSync(join(dir, f), { readOnly: true });
    try { n += db.prepare(sql).get(...params).n; } catch (e) { if (!/no such table/.test(e.message)) throw e; } finally { db.close(); }
  }
  return n;
}

export const kvCount = (sql, ...p) => storedCount('kv/miniflare-KVNamespaceObject', sql, ...p);
export const d1Count = (sql, ...p) => storedCount('d1/miniflare-D1DatabaseObject', sql, ...p);
export const r2Count = (sql, ...p) => storedCount('r2/miniflare-R2BucketObject', sql, ...p);

/**
 * Runs one write on wrangler dev's local D1 behind the Worker's back (no API call, so no
 * isolate cache is told): for tests that must show what a cached answer hides. Retries while
 * workerd holds the write lock.
 */
export function d1Write(sql, ...params) {
  const dir = join(process.env.FLOTILLA_STATE_DIR, 'v3', 'd1/miniflare-D1DatabaseObject');
  let changes = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.sqlite') || f === 'metadata.sqlite') continue;
    const db = new DatabaseSync(join(dir, f));
    try {
      db.exec('PRAGMA busy_timeout = 2000');
      changes += Number(db.prepare(sql).run(...params).changes);
    } catch (e) { if (!/no such table/.test(e.message)) throw e; } finally { db.close(); }
  }
  return changes;
}

/** The D1 rows `sql` selects, from every local database that has the table. */
export function d1Rows(sql, ...params) {
  const dir = join(process.env.FLOTILLA_STATE_DIR, 'v3', 'd1/miniflare-D1DatabaseObject');
  const rows = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.sqlite') || f === 'metadata.sqlite') continue;
    const db = new DatabaseSync(join(dir, f), { readOnly: true });
    try { rows.push(...db.prepare(sql).all(...params)); } catch (e) { if (!/no such table/.test(e.message)) throw e; } finally { db.close(); }
  }
  return rows;
}
