// Linux /proc helpers: the process tree under a `wrangler dev`, which workerd is the proxy and
// which the runtime, their CPU time, and the runtime's own listening socket.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';

let clkTck;
export function clockTicks() {
  if (clkTck === undefined) {
    try { clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { clkTck = 100; }
  }
  return clkTck;
}

/** Parses /proc/<pid>/stat; comm may contain spaces and parentheses, so split after the last ')'. */
function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' '); // f[0] = field 3 (state)
    return { pid, comm, ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) };
  } catch { return null; }
}

function cmdline(pid) {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { return []; }
}

/** All live descendants of `rootPid` (not including it), with comm and cmdline. */
export function descendants(rootPid) {
  const all = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) all.push(st);
  }
  const children = new Map();
  for (const p of all) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p);
  }
  const out = [];
  const stack = [...(children.get(rootPid) ?? [])];
  while (stack.length) {
    const p = stack.pop();
    out.push({ ...p, args: cmdline(p.pid) });
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

/**
 * Classifies the processes of one `wrangler dev` (root = the pid we spawned):
 * - proxy workerd: the workerd whose command line binds `--socket-addr=entry=<ip>:<port>` with
 *   the `--port` we gave wrangler (it is the only process listening there);
 * - runtime workerd(s): every other workerd descendant (miniflare's entry worker + the Worker,
 *   started with `--socket-addr=entry=127.0.0.1:0` and an inspector address);
 * - node: wrangler's own Node processes; other: esbuild etc.
 */
export function classify(rootPid, port) {
  const procs = descendants(rootPid);
  const self = readStat(rootPid);
  if (self) procs.push({ ...self, args: cmdline(rootPid) });
  const workerd = procs.filter((p) => p.comm === 'workerd' || (p.args[0] ?? '').endsWith('/workerd'));
  const isProxy = (p) => p.args.some((a) => a.startsWith('--socket-addr=entry=') && a.endsWith(`:${port}`));
  return {
    proxy: workerd.filter(isProxy),
    runtime: workerd.filter((p) => !isProxy(p)),
    node: procs.filter((p) => p.comm === 'node' || (p.args[0] ?? '').endsWith('/node')),
    other: procs.filter((p) => !workerd.includes(p) && !(p.comm === 'node' || (p.args[0] ?? '').endsWith('/node'))),
  };
}

/** Sum of utime+stime (clock ticks) over pids, and how many of them are gone. */
export function cpuTicks(pids) {
  let ticks = 0; let gone = 0;
  for (const pid of pids) {
    const st = readStat(pid);
    if (st) ticks += st.utime + st.stime;
    else gone++;
  }
  return { ticks, gone };
}

/** TCP ports `pid` listens on (IPv4 and IPv6), found by matching its socket fds in /proc/net/tcp*. */
export function listeningPorts(pid) {
  const inodes = new Set();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (m) inodes.add(m[1]);
      } catch { /* fd closed meanwhile */ }
    }
  } catch { return []; }
  const ports = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (inodes.has(f[9])) ports.add(parseInt(f[1].split(':').pop(), 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

function probe(port, path, headers, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => { req.destroy(); resolve(0); });
    req.on('error', () => resolve(0));
  });
}

/**
 * The runtime workerd's HTTP entry socket (the one the proxy forwards to): among the ports the
 * runtime listens on (entry, inspector, debug port), the one answering `path` with 200.
 * The inspector answers plain HTTP with a 500, the debug port speaks Cap'n Proto (times out).
 */
export async function findRuntimeEntryPort(runtimePids, path, headers = {}) {
  for (const pid of runtimePids) {
    for (const port of listeningPorts(pid)) {
      if ((await probe(port, path, headers)) === 200) return port;
    }
  }
  return null;
}

/** Busy clock ticks of the whole machine since boot (all CPUs; /proc/stat "cpu" line minus idle/iowait). */
export function systemBusyTicks() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice (guest is included in user)
    return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0);
  } catch { return 0; }
}
