// Starts the built worker under `wrangler dev` (workerd) on free loopback
// ports, waits until it answers, and stops exactly the processes it started.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = path.resolve(ROOT, '..', 'shared');
/** wrangler, on a Node it supports (see scripts/wrangler). */
export const WRANGLER = path.join(ROOT, 'scripts', 'wrangler');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `wrangler dev` on the prebuilt worker. `vars` become `--var K:V`.
 * `probe` is the path polled until it answers 200: the bench polls a static
 * asset so that no worker code has run before its first timed request.
 * `probe: null` returns at once, without waiting: the bench then times the
 * start itself, from `spawnedAt` (performance.now() just before the spawn).
 * `config` is another wrangler.toml (the bench compares builds with it).
 * The abuse limit is off (RATE_LIMIT=off) unless `vars` turns it on: every
 * suite, bench and load run sends far more photos than a person does
 * (tests/http/ratelimit.test.mjs turns it on, with its own config).
 * `logLevel` is wrangler's --log-level (default EDGECAT_WRANGLER_LOG_LEVEL,
 * else 'warn'); the worker's console.log lines show from 'log' on
 * (tests/http/reqlog.test.mjs reads them).
 * Returns { url, stop(), log(), pid, inspectorPort, spawnedAt, exited() }.
 */
export async function startWorker({ vars = {}, timeoutMs = 90_000, probe = '/api/health', config, logLevel } = {}) {
  const port = await freePort();
  const inspector = await freePort();
  const args = [
    'dev', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspector),
    '--show-interactive-dev-session=false', '--log-level', logLevel || process.env.EDGECAT_WRANGLER_LOG_LEVEL || 'warn',
  ];
  for (const [k, v] of Object.entries({ RATE_LIMIT: 'off', ...vars })) args.push('--var', `${k}:${v}`);
  if (config) args.push('--config', config);
  let output = '';
  // Own process group, so stop() ends wrangler and the workerd it spawned.
  const spawnedAt = performance.now();
  // scripts/wrangler: wrangler on the Node it needs (exec: child.pid is wrangler's).
  const child = spawn(WRANGLER, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' },
  });
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = false;
  child.on('exit', () => { exited = true; });

  const url = `http://127.0.0.1:${port}`;
  const stop = () => {
    if (exited) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    setTimeout(() => { if (!exited) { try { process.kill(-child.pid, 'SIGKILL'); } catch {} } }, 3000).unref();
  };
  const handle = { url, stop, log: () => output, pid: child.pid, inspectorPort: inspector, spawnedAt, exited: () => exited };
  if (probe === null) return handle;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`wrangler dev exited early:\n${output}`);
    try {
      const res = await fetch(`${url}${probe}`);
      await res.arrayBuffer();
      if (res.ok) return handle;
    } catch { /* not listening yet */ }
    await sleep(250);
  }
  stop();
  throw new Error(`wrangler dev did not answer within ${timeoutMs} ms:\n${output}`);
}

/** The worker under test: started by run-http.mjs, URL in EDGECAT_URL. */
export const BASE = process.env.EDGECAT_URL;
/**
 * The same worker's own workerd socket, past wrangler's ProxyWorker (see
 * `directUrl`), for uploads held open after an early answer, which the
 * proxy has been seen to leave unanswered (a local-tooling hang of 120 s).
 */
export const DIRECT = process.env.EDGECAT_DIRECT_URL || process.env.EDGECAT_URL;

/** The workerd processes wrangler started: the entry proxy and the worker. */
export function workerdProcesses(pgid, port) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue; // field 5: process group
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!path.basename(cmd[0]).startsWith('workerd')) continue;
      const role = cmd.some((a) => a.includes(`127.0.0.1:${port}`)) ? 'proxy' : 'worker';
      found.push({ pid: Number(pid), role });
    } catch { /* exited meanwhile */ }
  }
  return found;
}

/**
 * The loopback URL of the worker's own workerd socket: a listening TCP
 * socket owned by that process which answers /api/health as the worker.
 */
export async function runtimeUrl(pid, publicUrl, answers = edgecatHealth) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = fs.readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const ports = [];
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local address 0100007F:PORT (127.0.0.1), state 0A (LISTEN), inode
    if (f.length > 9 && f[1].startsWith('0100007F:') && f[3] === '0A' && inodes.has(f[9])) ports.push(parseInt(f[1].split(':')[1], 16));
  }
  for (const port of ports) {
    const url = `http://127.0.0.1:${port}`;
    if (url === publicUrl) continue;
    try {
      if (await answers(url)) return url;
    } catch { /* not this one */ }
  }
  throw new Error(`no workerd socket of pid ${pid} answers as the worker does (ports ${ports})`);
}

/** Whether `url` is edgecat's worker: its /api/health. */
async function edgecatHealth(url) {
  const res = await fetch(`${url}/api/health`);
  const body = await res.json();
  return res.ok && 'instance_requests' in body;
}

/**
 * The worker's own workerd socket for a worker from startWorker: requests
 * sent there skip wrangler's ProxyWorker, whose own 503s ("Your worker
 * restarted mid-request", when its hop to workerd fails under a burst of
 * big uploads) are local tooling, not the worker's answers.
 */
export async function directUrl(worker, answers) {
  const procs = workerdProcesses(worker.pid, new URL(worker.url).port);
  const runtime = procs.find((p) => p.role === 'worker');
  if (!runtime) throw new Error(`no worker workerd in ${JSON.stringify(procs)}`);
  return runtimeUrl(runtime.pid, worker.url, answers);
}

/**
 * A minimal Chrome DevTools Protocol client for the worker, through
 * wrangler dev's inspector proxy (`inspectorPort` from startWorker):
 * `send(method, params)` resolves with the result; `make load` reads the V8
 * heap with it, `make profile` takes CPU profiles.
 */
export async function inspect(inspectorPort, { timeoutMs = 30_000 } = {}) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  if (!targets.length) throw new Error('no inspector target');
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1; const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    const p = msg.id && pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`)); else p.resolve(msg.result);
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject, method });
    ws.send(JSON.stringify({ id, method, params }));
    setTimeout(() => { if (pending.delete(id)) reject(new Error(`${method}: no answer in ${timeoutMs / 1000} s`)); }, timeoutMs).unref();
  });
  return { send, close: () => ws.close() };
}
