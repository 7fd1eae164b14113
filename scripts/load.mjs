// `make load`: a bounded load run against the built worker under `wrangler
// dev` on 127.0.0.1 — LOAD_REQUESTS (default 2,000) requests at concurrency
// LOAD_CONCURRENCY (default 16), a fixed mix of valid photos and bad inputs,
// driven by wrk (Debian's; scripts/load.sh installs it) with scripts/load.lua.
// Reports throughput, p50/p90/p99, answers by status, socket errors, and
// memory before, half way and after: the worker's Wasm linear memory (from
// /api/health), its V8 heap (through wrangler's inspector) and the RSS of
// both workerd processes. Fails on any 5xx, any socket error, or memory
// growing in the second half of the run (see the rules at the end). The 503s
// wrangler's ProxyWorker makes itself ("Your worker restarted
// mid-request": its hop to workerd failed) are counted apart from the
// worker's own answers, but fail the run all the same.
// LOAD_VIA=runtime sends the load straight to the workerd socket wrangler
// started for the worker, bypassing the ProxyWorker (to tell the two apart).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT, SHARED, inspect, runtimeUrl, startWorker, workerdProcesses } from '../tests/harness.mjs';
import { bigCatJpeg } from '../tests/images.mjs';

const TOTAL = Number(process.env.LOAD_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 16);
const THREADS = 2;
// After the wrk run: LOAD_BURSTS bursts of LOAD_BURST concurrent uploads,
// half of them a ~7 MB, ~10.6-megapixel cat photo, half a small one.
const BURSTS = Number(process.env.LOAD_BURSTS ?? 3);
const BURST = Number(process.env.LOAD_BURST ?? 16);
const WASM_LIMIT_MB = 128;
const share = Math.ceil(TOTAL / THREADS);

const shared = (rel) => fs.readFileSync(path.join(SHARED, rel));
const fixture = (rel) => fs.readFileSync(path.join(ROOT, 'tests/fixtures', rel));
/** A PNG that is only a header declaring 60,000×60,000 pixels. */
function pngBomb() {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type), data])) >>> 0);
    return Buffer.concat([len, Buffer.from(type), data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(60000, 0);
  ihdr.writeUInt32BE(60000, 4);
  ihdr[8] = 8; // 8-bit RGB
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(64)))]);
}

// One cycle of the mix: [method, path, content type, body, expected status].
const MIX = [
  ['POST', '/api/detect', 'image/jpeg', shared('data/cat-photos/kairess_001.jpg'), 200],
  ['POST', '/api/hipsterize', 'image/jpeg', fixture('hostile/orientation-1.jpg'), 200],
  ['POST', '/api/detect', 'image/jpeg', fixture('hostile/cmyk.jpg'), 200],
  ['POST', '/api/hipsterize?format=png', 'image/jpeg', fixture('cat-exif-orientation-6.jpg'), 200],
  ['POST', '/api/hipsterize', 'image/jpeg', shared('data/cats-vs-dogs/dog/dog.4003.jpg'), 422],
  ['POST', '/api/detect', 'image/jpeg', Buffer.from('this is not a jpeg at all'), 422],
  ['POST', '/api/detect', 'image/png', Buffer.alloc(0), 400],
  ['POST', '/api/hipsterize', 'text/plain', Buffer.from('meow'), 415],
  ['POST', '/api/detect', 'image/png', pngBomb(), 413],
  ['GET', '/api/nope', '-', Buffer.alloc(0), 404],
];

// LOAD_MIX=0,4,7: only those entries of MIX (to bisect a failure).
if (process.env.LOAD_MIX) {
  const keep = new Set(process.env.LOAD_MIX.split(',').map(Number));
  MIX.splice(0, MIX.length, ...MIX.filter((_, i) => keep.has(i)));
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecat-load-'));
const specs = MIX.map(([method, route, type, body], i) => {
  const file = path.join(tmp, `${i}.req`);
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`${method}\n${route}\n${type}\n`), body]));
  return file;
});

/**
 * The worker's V8 heap through wrangler's inspector proxy
 * (Runtime.getHeapUsage): RSS alone cannot tell a JS-side leak from the
 * allocator keeping freed pages.
 */
async function inspector(port) {
  const cdp = await inspect(port, { timeoutMs: 10_000 });
  return { heapMB: async () => (await cdp.send('Runtime.getHeapUsage')).usedSize / 2 ** 20, close: cdp.close };
}

const rssMB = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
};

async function memory(url, procs, v8) {
  const health = await (await fetch(`${url}/api/health`)).json();
  // instance_requests counts what the current Wasm instance served: if it
  // drops between samples, the instance or its isolate was replaced.
  const out = { wasm_MB: health.wasm_memory_bytes / 2 ** 20, js_heap_MB: await v8.heapMB(), instance_requests: health.instance_requests };
  for (const p of procs) out[`rss_${p.role}_MB`] = rssMB(p.pid);
  return out;
}

const fmt = (m) => Object.entries(m).map(([k, v]) => `${k}=${v.toFixed(1)}`).join(' ');

// EDGECAT_WRANGLER_CONFIG: another wrangler.toml (e.g. a build kept aside).
const worker = await startWorker({ config: process.env.EDGECAT_WRANGLER_CONFIG });
let failed = false;
let v8;
try {
  const port = new URL(worker.url).port;
  const procs = workerdProcesses(worker.pid, port);
  if (!procs.some((p) => p.role === 'worker')) throw new Error(`no worker workerd in ${JSON.stringify(procs)}`);

  // Warm up: one pass through the mix, serially, checking each answer, so
  // the models are loaded and every code path has run once.
  for (const [method, route, type, body, status] of MIX) {
    const res = await fetch(`${worker.url}${route}`, {
      method,
      headers: type === '-' ? {} : { 'content-type': type },
      body: method === 'GET' ? undefined : body,
    });
    await res.arrayBuffer();
    if (res.status !== status) throw new Error(`warm-up: ${method} ${route} answered ${res.status}, expected ${status}`);
  }
  v8 = await inspector(worker.inspectorPort);
  const target = process.env.LOAD_VIA === 'runtime'
    ? await runtimeUrl(procs.find((p) => p.role === 'worker').pid, worker.url)
    : worker.url;
  const before = await memory(worker.url, procs, v8);
  console.log(`load: ${TOTAL} requests, concurrency ${CONCURRENCY}, mix of ${MIX.length} (valid photos and bad inputs) against ${target}${target === worker.url ? " (wrangler dev's port)" : ' (the workerd runtime socket, no ProxyWorker)'}`);
  console.log(`load: memory before: ${fmt(before)}`);

  const wrk = spawn('wrk', [
    `-t${THREADS}`, `-c${CONCURRENCY}`, '-d600s', '--timeout', '60s',
    '-s', path.join(ROOT, 'scripts/load.lua'), target, '--', String(share), ...specs,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  let threadsDone = 0;
  // wrk runs for its whole -d unless interrupted: once every thread has done
  // its share, SIGINT makes it stop and report at once.
  wrk.stdout.on('data', (d) => {
    output += d;
    threadsDone = (output.match(/load\.lua: thread done/g) ?? []).length;
    if (threadsDone === THREADS) wrk.kill('SIGINT');
  });
  // Memory every 2 s while wrk runs; the middle sample is "half way".
  const series = [];
  const sampler = setInterval(async () => {
    try { series.push(await memory(worker.url, procs, v8)); } catch { /* busy */ }
  }, 2000);
  const code = await new Promise((resolve) => wrk.on('exit', (c, sig) => resolve(c ?? sig)));
  clearInterval(sampler);
  for (const l of output.split('\n').filter((l) => /^load\.lua: \d{3} answer/.test(l))) console.log(l);
  const line = output.split('\n').find((l) => l.startsWith('LOAD '));
  if (!line) throw new Error(`wrk (exit ${code}) printed no summary:\n${output}`);
  const r = JSON.parse(line.slice(5));
  const after = await memory(worker.url, procs, v8);
  const half = series[Math.floor(series.length / 2)] ?? before;

  const secs = r.duration_us / 1e6;
  const proxy503 = r.statuses['1503'] ?? 0; // load.lua's key for the ProxyWorker's own 503
  delete r.statuses['1503'];
  const statuses = Object.entries(r.statuses).sort().map(([s, n]) => `${s}: ${n}`).join(', ') +
    (proxy503 ? `, 503 made by wrangler's ProxyWorker: ${proxy503}` : '');
  const fiveXX = proxy503 + Object.entries(r.statuses).filter(([s]) => Number(s) >= 500).reduce((a, [, n]) => a + n, 0);
  const socketErrors = Object.values(r.socket_errors).reduce((a, n) => a + n, 0);
  console.log(`load: ${r.requests} answers in ${secs.toFixed(1)} s = ${(r.requests / secs).toFixed(1)} requests/s`);
  console.log(`load: latency p50 ${(r.p50_us / 1000).toFixed(0)} ms, p90 ${(r.p90_us / 1000).toFixed(0)} ms, p99 ${(r.p99_us / 1000).toFixed(0)} ms, max ${(r.max_us / 1000).toFixed(0)} ms`);
  console.log(`load: answers by status: ${statuses}`);
  console.log(`load: socket errors: ${JSON.stringify(r.socket_errors)}`);
  console.log(`load: memory half way: ${fmt(half)}`);
  console.log(`load: memory after:    ${fmt(after)}`);
  console.log(`load: memory samples (wasm MB / JS heap MB / worker RSS MB / proxy RSS MB / requests served by the Wasm instance): ${series.map((m) => `${m.wasm_MB.toFixed(0)}/${m.js_heap_MB.toFixed(1)}/${m.rss_worker_MB.toFixed(0)}/${m.rss_proxy_MB.toFixed(0)}/${m.instance_requests}`).join(' ')}`);
  // A replaced instance starts again from ~1. Under heavy overload readings
  // were seen to dip by a few requests (cause unknown); that is not counted.
  const resets = series.filter((m, k) => k > 0 && m.instance_requests < series[k - 1].instance_requests / 2).length;
  console.log(`load: Wasm instance replaced ${resets} time(s) between samples`);

  // Concurrent large uploads: each answered (200) or told to come back
  // (503 busy), and the Wasm heap within the isolate's 128 MB.
  const small = shared('data/cat-photos/kairess_022.jpg');
  const big = bigCatJpeg(small, path.join(ROOT, 'target', 'test-cache', 'big-cat.jpg'));
  const burstStatuses = {};
  const burstStart = performance.now();
  for (let b = 0; b < BURSTS; b++) {
    const answers = await Promise.all(Array.from({ length: BURST }, async (_, i) => {
      const photo = i % 2 ? small : big;
      try {
        const res = await fetch(`${target}/api/hipsterize`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
        const text = Buffer.from(await res.arrayBuffer()).toString();
        // A 503 is only fine as the worker's own `busy`, not a proxy failure.
        const status = res.status === 503 && !text.includes('"code":"busy"') ? '503 (not busy)' : res.status;
        return `${photo === big ? 'large' : 'small'} ${status}`;
      } catch (e) { return `${photo === big ? 'large' : 'small'} socket error ${e.cause?.code ?? e.message}`; }
    }));
    for (const a of answers) burstStatuses[a] = (burstStatuses[a] ?? 0) + 1;
  }
  const burstSecs = (performance.now() - burstStart) / 1000;
  const afterBursts = await memory(worker.url, procs, v8);
  const budget = (await (await fetch(`${worker.url}/api/health`)).json()).memory_budget;
  console.log(`load: ${BURSTS} bursts of ${BURST} concurrent uploads (half a ${(big.length / 1e6).toFixed(1)} MB, 4× upscaled cat photo) in ${burstSecs.toFixed(1)} s: ${Object.entries(burstStatuses).sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  // A build from before the memory budget (EDGECAT_WRANGLER_CONFIG) has none.
  const budgetText = budget ? `; memory budget peak ${(budget.peak_held_bytes / 2 ** 20).toFixed(1)} of ${(budget.capacity_bytes / 2 ** 20).toFixed(1)} MiB, ${budget.held_bytes} B still held` : '; no memory budget in this build';
  console.log(`load: Wasm memory after the bursts (its peak: it never shrinks) ${afterBursts.wasm_MB.toFixed(1)} MiB of ${WASM_LIMIT_MB}${budgetText}`);

  const problems = [];
  const badBurst = Object.entries(burstStatuses).filter(([k]) => !/ (200|503)$/.test(k));
  if (badBurst.length) problems.push(`concurrent large uploads answered ${badBurst.map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  if (afterBursts.wasm_MB > WASM_LIMIT_MB) problems.push(`Wasm memory reached ${afterBursts.wasm_MB.toFixed(1)} MiB, over the isolate's ${WASM_LIMIT_MB} MB`);
  if (budget && budget.held_bytes !== 0) problems.push(`${budget.held_bytes} B of the memory budget still held after the bursts`);
  if (fiveXX > 0) problems.push(`${fiveXX} answers were 5xx (${proxy503} of them the ProxyWorker's)`);
  if (socketErrors > 0) problems.push(`${socketErrors} socket errors`);
  if (r.requests < TOTAL) problems.push(`only ${r.requests} of ${TOTAL} answers`);
  // Wasm memory never shrinks: any growth after half way is a leak's shape.
  if (after.wasm_MB > half.wasm_MB) problems.push(`wasm memory grew in the second half: ${half.wasm_MB} → ${after.wasm_MB} MB`);
  // The JS heap is a sawtooth (garbage, then a collection): a leak raises
  // its low points, so compare the lowest reading of each half.
  const mid = Math.floor(series.length / 2);
  const floor = (part) => Math.min(...part.map((m) => m.js_heap_MB));
  if (series.length >= 4 && floor(series.slice(mid)) > floor(series.slice(0, mid)) + 5) {
    problems.push(`the JS heap's low point rose: ${floor(series.slice(0, mid)).toFixed(1)} → ${floor(series.slice(mid)).toFixed(1)} MB`);
  }
  // RSS: workerd's tcmalloc keeps freed pages, so both workerd processes
  // climb towards a plateau under load, the proxy too, which runs none of
  // our code. It is the control: only growth beyond it counts.
  const rssGrowth = (role) => after[`rss_${role}_MB`] - half[`rss_${role}_MB`];
  if (rssGrowth('worker') - rssGrowth('proxy') > 0.15 * half.rss_worker_MB) {
    problems.push(`workerd RSS grew in the second half by ${rssGrowth('worker').toFixed(0)} MB, the proxy's by ${rssGrowth('proxy').toFixed(0)} MB`);
  }
  if (problems.length) {
    failed = true;
    console.error(`load: FAILED: ${problems.join('; ')}`);
    console.error(`--- wrangler dev output (tail) ---\n${worker.log().split('\n').slice(-Number(process.env.LOAD_LOG_LINES ?? 30)).join('\n')}`);
  } else {
    console.log('load: OK: no 5xx, no socket errors, no memory growth in the second half');
  }
} catch (e) {
  failed = true;
  console.error(`load: ${e.stack ?? e}`);
} finally {
  v8?.close();
  worker.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
