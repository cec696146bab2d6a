// An outbound recorder for Cloudflare tools: a local forward proxy (HTTPS_PROXY / HTTP_PROXY)
// that records every CONNECT target and every request it can read, with whether it carried
// credentials, refuses anything that is not on loopback, and forwards loopback plain HTTP.
// A second net, for code that ignores proxy variables (the Cloudflare SDK's node-fetch, Node's
// own fetch): `guard()` gives a NODE_OPTIONS preload that records every TCP connection a Node
// process opens and refuses those off loopback.
// Loopback CONNECT tunnels (undici tunnels http:// targets too) are opened and read as HTTP, so
// each request inside them is recorded like an absolute-URL request.
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
export const isLoopback = (host) => LOOPBACK.has(String(host).toLowerCase());

/** Cloudflare's own hosts: the API, the dashboard, telemetry, workers.dev, pages.dev, R2... */
export function isCloudflareHost(host) {
  const h = String(host).toLowerCase().replace(/\.$/, '');
  return ['cloudflare.com', 'workers.dev', 'pages.dev', 'cloudflarestorage.com', 'cloudflareaccess.com',
    'cloudflareclient.com', 'cloudflare.net', 'cfargotunnel.com', 'trycloudflare.com']
    .some((d) => h === d || h.endsWith(`.${d}`));
}

const CREDENTIAL_HEADERS = ['authorization', 'x-auth-key', 'x-auth-email', 'x-auth-user-service-key', 'cf-access-client-secret'];
const carriesCredentials = (headers) => CREDENTIAL_HEADERS.some((h) => h in headers);

/** `host:port` of a CONNECT line (IPv6 in brackets). */
function splitAuthority(a) {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(a);
  return m ? { host: m[1], port: Number(m[2]) } : { host: a, port: 443 };
}

/**
 * Starts the recorder. `seen` holds one entry per CONNECT or request, in order:
 * `{kind: 'connect'|'http', host, port, method?, path?, credentials, refused}` (`credentials` of
 * a CONNECT is whether the CONNECT itself carried any: its tunnel is never opened when refused).
 */
export async function egressRecorder() {
  const seen = [];
  const targets = new Map();

  function forward(req, res, host, port, path) {
    const headers = { ...req.headers };
    for (const k of Object.keys(headers)) if (k.startsWith('proxy-')) delete headers[k];
    const up = http.request({ host, port, method: req.method, path, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    req.pipe(up);
  }

  // Requests read out of an opened loopback tunnel; the tunnel's target rides on the socket.
  const inner = http.createServer((req, res) => {
    const target = targets.get(req.socket.remotePort);
    if (!target) { res.writeHead(502); res.end(); return; }
    const { host, port } = target;
    seen.push({ kind: 'http', host, port, method: req.method, path: req.url, credentials: carriesCredentials(req.headers), refused: false, tunnel: true });
    forward(req, res, host, port, req.url);
  });

  const server = http.createServer((req, res) => {
    let u;
    try { u = new URL(req.url); } catch { res.writeHead(400); res.end('absolute URL expected'); return; }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const ok = u.protocol === 'http:' && isLoopback(host);
    seen.push({ kind: 'http', host, port, method: req.method, path: u.pathname + u.search, credentials: carriesCredentials(req.headers), refused: !ok });
    if (!ok) {
      req.resume();
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`refused by the egress recorder: ${host}\n`);
      return;
    }
    forward(req, res, host, port, u.pathname + u.search);
  });

  server.on('connect', (req, socket, head) => {
    const { host, port } = splitAuthority(req.url);
    const ok = isLoopback(host);
    seen.push({ kind: 'connect', host, port, credentials: carriesCredentials(req.headers), refused: !ok });
    socket.on('error', () => {});
    if (!ok) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    // A loopback target: the tunnel is joined to the inner server, which reads it request by
    // request and forwards each to the target (found by the joining connection's local port).
    const up = net.connect(innerPort, '127.0.0.1', () => {
      targets.set(up.localPort, { host, port });
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      socket.pipe(up).pipe(socket);
    });
    up.on('error', () => socket.destroy());
    up.on('close', () => targets.delete(up.localPort));
  });

  // Every socket either server ever held: a tunnel (CONNECT) is no longer an HTTP connection,
  // so closeAllConnections() misses it and close() would wait for it forever.
  const sockets = new Set();
  for (const srv of [server, inner]) {
    srv.on('connection', (sock) => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); });
  }
  await new Promise((r) => inner.listen(0, '127.0.0.1', r));
  const innerPort = inner.address().port;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    seen,
    /** The environment that sends a Node tool's traffic here, whatever proxy variables it reads. */
    env: {
      HTTPS_PROXY: url, HTTP_PROXY: url, https_proxy: url, http_proxy: url, ALL_PROXY: url, all_proxy: url,
      // wrangler falls back to "localhost,127.0.0.1,::1" when this is empty: a name that matches
      // nothing makes it send loopback traffic through the recorder too, so the recorder sees
      // the platform calls and their credentials (the positive control).
      NO_PROXY: 'egress-recorder.invalid', no_proxy: 'egress-recorder.invalid',
    },
    /** Entries that reached, or tried to reach, a Cloudflare host. */
    cloudflare: () => seen.filter((e) => isCloudflareHost(e.host)),
    /** Entries not on loopback (all of them refused). */
    outside: () => seen.filter((e) => !isLoopback(e.host)),
    clear: () => { seen.length = 0; },
    close: async () => {
      server.closeAllConnections();
      inner.closeAllConnections();
      for (const sock of sockets) sock.destroy();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => inner.close(r))]);
    },
  };
}

// The preload: wraps net.Socket#connect (which tls and undici use too) in every Node process
// that inherits NODE_OPTIONS; a non-loopback target is logged and the socket destroyed.
const GUARD = `
import net from 'node:net';
import { appendFileSync } from 'node:fs';
const log = process.env.EGRESS_GUARD_LOG;
const loop = (h) => h === 'localhost' || h === '::1' || /^127\\./.test(h);
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let o = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof o !== 'object' || o === null) o = { port: o, host: typeof args[1] === 'string' ? args[1] : undefined };
  if (!o.path && o.port !== undefined && !(typeof o.port === 'string' && !/^[0-9]+$/.test(o.port))) {
    const host = String(o.host ?? 'localhost').replace(/^\\[|\\]$/g, '');
    const refused = !loop(host);
    appendFileSync(log, JSON.stringify({ host, port: Number(o.port), refused, pid: process.pid }) + '\\n');
    if (refused) {
      process.nextTick(() => this.destroy(new Error('egress guard refused ' + host)));
      return this;
    }
  }
  return connect.apply(this, args);
};
`;

/**
 * `{env, connections(), attempts()}`: env adds the preload to NODE_OPTIONS; connections() lists
 * every TCP connection a process opened or tried, attempts() the ones refused (off loopback).
 */
export function guard() {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-egress-guard-'));
  const file = join(dir, 'guard.mjs');
  const log = join(dir, 'attempts.jsonl');
  writeFileSync(file, GUARD);
  writeFileSync(log, '');
  const connections = () =>
    (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  return {
    env: { NODE_OPTIONS: `--import ${pathToFileURL(file).href}`, EGRESS_GUARD_LOG: log },
    connections,
    attempts: () => connections().filter((c) => c.refused),
    clear: () => writeFileSync(log, ''),
  };
}
