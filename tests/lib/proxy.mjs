// A loopback proxy in front of the Worker for client tests: it records every request and
// answers the ones a test chooses itself (injected faults), forwarding the rest.
import http from 'node:http';
import { BASE } from './client.mjs';

/**
 * `fault(req, seen)` returns `{status, headers?}` to answer a request itself, or nothing to
 * forward it. `seen` holds `{method, path, range, at}` for every request, in order.
 */
export async function faultProxy(fault) {
  const target = new URL(BASE);
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, path: req.url, range: req.headers['content-range'], at: Date.now() });
      const f = fault(req, seen);
      if (f) {
        res.writeHead(f.status, { 'content-type': 'application/json', 'x-request-id': 'proxy-fault', ...(f.headers || {}) });
        res.end(JSON.stringify({ success: false, error: 'injected', message: `injected ${f.status}`, requestId: 'proxy-fault' }));
        return;
      }
      const up = http.request({ hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) };
}
