// Local stand-ins for the outside services custom domains talk to, served over real HTTP on
// loopback: a DNS-over-HTTPS resolver (Cloudflare's JSON API shape) and the Cloudflare for SaaS
// `custom_hostnames` API. The runner starts them before wrangler dev and points the Worker's
// vars at them; tests drive them through `/__control/*` (URL in FLOTILLA_DNS_STUB).
import http from 'node:http';

export const STUB_ZONE = 'zone-test-1';
export const STUB_CF_TOKEN = 'cf-test-token-never-echoed';

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Starts the stub server; resolves to { url, close }. */
export async function startStubs() {
  // name -> { status?: number, values?: string[] (raw `data` strings), raw?: string (a non-JSON body) }
  const dns = new Map();
  const dnsQueries = [];
  // id -> { id, hostname, sslStatus }
  const hostnames = new Map();
  const saasCalls = [];
  let nextId = 1;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://stub');
    const body = await readBody(req);
    try {
      if (url.pathname === '/dns-query') {
        const name = (url.searchParams.get('name') ?? '').replace(/\.$/, '').toLowerCase();
        dnsQueries.push({ name, type: url.searchParams.get('type'), accept: req.headers.accept ?? null });
        const rec = dns.get(name);
        if (rec?.raw !== undefined) { res.writeHead(rec.httpStatus ?? 200, { 'content-type': 'text/html' }); res.end(rec.raw); return; }
        if (!rec) return json(res, 200, { Status: 3, Question: [{ name, type: 16 }] });
        const answer = (rec.values ?? []).map((data) => ({ name, type: 16, TTL: 60, data }));
        // A CNAME on the way, as real resolvers report when following one: must be ignored.
        if (rec.cname) answer.unshift({ name, type: 5, TTL: 60, data: `${rec.cname}.` });
        return json(res, 200, { Status: rec.status ?? 0, TC: false, RD: true, RA: true, Question: [{ name, type: 16 }], Answer: answer });
      }
      const saas = url.pathname.match(/^\/client\/v4\/zones\/([^/]+)\/custom_hostnames(?:\/([^/]+))?$/);
      if (saas) {
        const [, zone, id] = saas;
        const call = { method: req.method, zone, id: id ?? null, authorization: req.headers.authorization ?? null, body: body ? JSON.parse(body) : null };
        saasCalls.push(call);
        if (req.headers.authorization !== `Bearer ${STUB_CF_TOKEN}`) {
          return json(res, 403, { success: false, errors: [{ code: 10000, message: 'Authentication error' }], result: null });
        }
        if (req.method === 'POST' && !id) {
          const hostname = call.body?.hostname ?? '';
          if (hostname.startsWith('saas-down.')) { res.writeHead(503, { 'content-type': 'text/html' }); res.end('<html>upstream down</html>'); return; }
          if (hostname.startsWith('saas-refuse.')) {
            return json(res, 409, { success: false, errors: [{ code: 1406, message: 'Duplicate custom hostname found.' }], result: null });
          }
          const h = { id: `ch-${nextId++}`, hostname, sslStatus: 'pending_validation' };
          hostnames.set(h.id, h);
          return json(res, 201, { success: true, errors: [], messages: [], result: { id: h.id, hostname, status: 'pending', ssl: { status: h.sslStatus, method: 'http', type: 'dv' } } });
        }
        const h = id && hostnames.get(id);
        if (!h) return json(res, 404, { success: false, errors: [{ code: 1436, message: 'The custom hostname was not found.' }], result: null });
        if (req.method === 'GET') return json(res, 200, { success: true, errors: [], result: { id: h.id, hostname: h.hostname, status: 'active', ssl: { status: h.sslStatus } } });
        if (req.method === 'DELETE') {
          // `saas-flaky-delete.` hostnames: the first delete fails (an outage), later ones work.
          if (h.hostname.startsWith('saas-flaky-delete.') && !h.deleteFailed) {
            h.deleteFailed = true;
            res.writeHead(503, { 'content-type': 'text/html' }); res.end('<html>upstream down</html>'); return;
          }
          hostnames.delete(id); return json(res, 200, { success: true, errors: [], result: { id } });
        }
        return json(res, 405, { success: false, errors: [{ code: 0, message: 'method' }] });
      }
      // Control surface for the tests.
      if (url.pathname === '/__control/txt' && req.method === 'POST') {
        const { name, ...rec } = JSON.parse(body);
        const key = name.replace(/\.$/, '').toLowerCase();
        if (rec.remove) dns.delete(key); else dns.set(key, rec);
        return json(res, 200, { ok: true });
      }
      if (url.pathname === '/__control/ssl' && req.method === 'POST') {
        const { hostname, status } = JSON.parse(body);
        for (const h of hostnames.values()) if (h.hostname === hostname) h.sslStatus = status;
        return json(res, 200, { ok: true });
      }
      if (url.pathname === '/__control/log') {
        return json(res, 200, { dnsQueries, saasCalls, hostnames: [...hostnames.values()] });
      }
      json(res, 404, { error: 'no such stub route' });
    } catch (e) {
      json(res, 500, { error: String(e) });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, close: () => new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); }) };
}

/** The Worker vars that aim custom domains at the stubs. */
export function stubVars(url) {
  return [
    '--var', `DNS_RESOLVER_URL:${url}/dns-query`,
    '--var', `CF_API_BASE_URL:${url}/client/v4`,
    '--var', `CF_ZONE_ID:${STUB_ZONE}`,
    '--var', `CF_API_TOKEN:${STUB_CF_TOKEN}`,
  ];
}

/** Test-side helpers (the stub runs in the runner process; tests reach it over HTTP). */
export const stub = {
  url: () => process.env.FLOTILLA_DNS_STUB,
  async setTxt(name, values, extra = {}) {
    const r = await fetch(`${process.env.FLOTILLA_DNS_STUB}/__control/txt`, { method: 'POST', body: JSON.stringify({ name, values, ...extra }) });
    if (r.status !== 200) throw new Error(`stub setTxt: ${r.status}`);
  },
  async removeTxt(name) {
    await fetch(`${process.env.FLOTILLA_DNS_STUB}/__control/txt`, { method: 'POST', body: JSON.stringify({ name, remove: true }) });
  },
  async setSsl(hostname, status) {
    await fetch(`${process.env.FLOTILLA_DNS_STUB}/__control/ssl`, { method: 'POST', body: JSON.stringify({ hostname, status }) });
  },
  async log() {
    return (await fetch(`${process.env.FLOTILLA_DNS_STUB}/__control/log`)).json();
  },
};
