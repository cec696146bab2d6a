// Closed-loop HTTP load generator: `concurrency` loops over one keep-alive agent, each sending the
// next request of a fixed list (round robin) as soon as its previous response body has been read.
// A warmup runs first (not counted); then a measurement window of fixed duration, during which
// latencies and statuses are recorded and CPU of the server processes is sampled at both edges.
import http from 'node:http';

/**
 * @param {object} o
 * @param {number} o.port                    target port on 127.0.0.1
 * @param {{path:string, headers?:object, fullBody?:boolean, check:(status:number, bytes:number, head:Buffer)=>boolean}[]} o.requests
 *   `head` is the first 256 bytes of the body, or the whole body when `fullBody` is set.
 * @param {number} o.concurrency
 * @param {number} o.warmupMs
 * @param {number} o.durationMs
 * @param {() => object} [o.sample]          called at window start and end (CPU snapshots)
 */
export async function runLoad({ port, requests, concurrency, warmupMs, durationMs, sample = () => ({}) }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  let next = 0;
  let phase = 'warmup'; // warmup -> measure -> stop
  const lat = [];
  const statuses = {};
  let ok = 0; let bad = 0; let errors = 0; let bytes = 0; let measured = 0;
  const badSamples = [];

  const one = (req) => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const r = http.request({ host: '127.0.0.1', port, path: req.path, method: 'GET', headers: req.headers, agent }, (res) => {
      let n = 0; const head = [];
      let headLen = 0;
      const keep = req.fullBody ? Infinity : 256;
      res.on('data', (c) => {
        n += c.length;
        if (headLen < keep) { head.push(c); headLen += c.length; }
      });
      res.on('end', () => resolve({ t0, status: res.statusCode, bytes: n, head: req.fullBody ? Buffer.concat(head) : Buffer.concat(head).subarray(0, 256) }));
      res.on('error', (e) => resolve({ t0, error: e }));
    });
    r.on('error', (e) => resolve({ t0, error: e }));
    r.end();
  });

  const loop = async () => {
    while (phase !== 'stop') {
      const req = requests[next++ % requests.length];
      const res = await one(req);
      const t1 = process.hrtime.bigint();
      if (phase !== 'measure') continue; // count responses completed inside the window
      measured++;
      if (res.error) {
        errors++;
        if (badSamples.length < 5) badSamples.push(`${req.path}: ${res.error.code ?? res.error.message}`);
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      lat.push(Number(t1 - res.t0) / 1e6);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      bytes += res.bytes;
      if (req.check(res.status, res.bytes, res.head)) ok++;
      else {
        bad++;
        if (badSamples.length < 5) {
          badSamples.push(`${req.path}: ${res.status}, ${res.bytes} B${req.fullBody ? ` ${JSON.stringify(res.head.toString('utf8', 0, 160))}` : ''}`);
        }
      }
    }
  };

  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, warmupMs));
  const before = sample();
  const cpuBefore = process.cpuUsage();
  const windowStart = process.hrtime.bigint();
  phase = 'measure';
  await new Promise((r) => setTimeout(r, durationMs));
  const after = sample();
  const genCpu = process.cpuUsage(cpuBefore);
  const elapsed = Number(process.hrtime.bigint() - windowStart) / 1e9;
  phase = 'stop';
  await Promise.all(loops);
  agent.destroy();

  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : null);
  const completed = lat.length; // responses (any status) completed inside the window
  return {
    seconds: elapsed,
    requests: completed,
    rps: completed / elapsed,
    p50: pct(50), p90: pct(90), p99: pct(99), max: lat.length ? lat[lat.length - 1] : null,
    ok, unexpected: bad, errors, statuses, bytes, badSamples, attempted: measured,
    loadgenCpuMsPerReq: completed ? (genCpu.user + genCpu.system) / 1000 / completed : null,
    before, after,
  };
}
