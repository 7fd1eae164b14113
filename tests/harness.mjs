// Starts the built worker under `wrangler dev` (workerd) on free loopback
// ports, waits until it answers, and stops exactly the processes it started.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = path.resolve(ROOT, '..', 'shared');

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
 * Returns { url, stop(), log(), pid, inspectorPort, spawnedAt, exited() }.
 */
export async function startWorker({ vars = {}, timeoutMs = 90_000, probe = '/api/health', config } = {}) {
  const port = await freePort();
  const inspector = await freePort();
  const args = [
    path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    'dev', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspector),
    '--show-interactive-dev-session=false', '--log-level', process.env.EDGECAT_WRANGLER_LOG_LEVEL || 'warn',
  ];
  for (const [k, v] of Object.entries({ RATE_LIMIT: 'off', ...vars })) args.push('--var', `${k}:${v}`);
  if (config) args.push('--config', config);
  let output = '';
  // Own process group, so stop() ends wrangler and the workerd it spawned.
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, {
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
