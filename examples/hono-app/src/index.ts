// A plain Hono app: notes in D1, a KV-cached note count, files in R2.
import { Hono } from 'hono';

type Bindings = { DB: D1Database; CACHE: KVNamespace; FILES: R2Bucket };

const app = new Hono<{ Bindings: Bindings }>();

app.get('/', (c) => c.text('hono-app: POST/GET /notes, GET /count, PUT/GET /files/:key'));

app.post('/notes', async (c) => {
  const { body } = await c.req.json<{ body?: unknown }>();
  if (typeof body !== 'string' || body === '') return c.json({ error: 'body must be a non-empty string' }, 400);
  const note = await c.env.DB.prepare('INSERT INTO notes (body) VALUES (?) RETURNING id, body').bind(body).first();
  await c.env.CACHE.delete('notes:count');
  return c.json(note, 201);
});

app.get('/notes', async (c) => {
  const { results } = await c.env.DB.prepare('SELECT id, body FROM notes ORDER BY id').all();
  return c.json(results);
});

// The count comes from KV while cached; a new note drops the cached value.
app.get('/count', async (c) => {
  const cached = await c.env.CACHE.get('notes:count');
  if (cached !== null) return c.json({ count: Number(cached), cached: true });
  const count = (await c.env.DB.prepare('SELECT COUNT(*) AS n FROM notes').first<number>('n')) ?? 0;
  await c.env.CACHE.put('notes:count', String(count), { expirationTtl: 300 });
  return c.json({ count, cached: false });
});

app.put('/files/:key', async (c) => {
  const key = c.req.param('key');
  const type = c.req.header('content-type') ?? 'application/octet-stream';
  const object = await c.env.FILES.put(key, await c.req.arrayBuffer(), { httpMetadata: { contentType: type } });
  return c.json({ key: object.key, size: object.size, etag: object.etag }, 201);
});

app.get('/files/:key', async (c) => {
  const object = await c.env.FILES.get(c.req.param('key'));
  if (object === null) return c.text('not found', 404);
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  headers.set('etag', object.httpEtag);
  return new Response(object.body, { headers });
});

app.get('/files', async (c) => {
  const { objects } = await c.env.FILES.list();
  return c.json(objects.map((o) => ({ key: o.key, size: o.size })));
});

export default app;
