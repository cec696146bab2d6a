// An MCP session lives in its Durable Object's storage, not in isolate memory: it survives
// stopping wrangler dev and starting it again on the same local state directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorker, readDevVars } from '../lib/server.mjs';

const ACCEPT = 'application/json, text/event-stream';

async function post(url, body, session) {
  const headers = { accept: ACCEPT, 'content-type': 'application/json', authorization: `Bearer ${readDevVars().API_TOKEN}` };
  if (session) headers['mcp-session-id'] = session;
  const res = await fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, session: res.headers.get('mcp-session-id'), json: await res.json().catch(() => undefined) };
}

test('a session survives a wrangler dev restart on the same state dir', { timeout: 180_000 }, async () => {
  const state = mkdtempSync(join(tmpdir(), 'flotilla-restart-'));
  let server;
  try {
    server = await startWorker({ state });
    const init = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'restart', version: '1' } } });
    assert.equal(init.status, 200);
    const session = init.session;
    assert.equal((await post(server.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).status, 202);
    server.stop();
    await server.exited();
    server = await startWorker({ state });
    const ping = await post(server.url, { jsonrpc: '2.0', id: 2, method: 'ping' }, session);
    assert.equal(ping.status, 200, JSON.stringify(ping.json));
    assert.deepEqual(ping.json.result, {});
    const unknown = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'ping' }, 'b'.repeat(64));
    assert.equal(unknown.status, 404);
  } finally {
    server?.stop();
    await server?.exited();
    rmSync(state, { recursive: true, force: true });
  }
});
