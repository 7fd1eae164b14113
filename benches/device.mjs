// On-device mode (issue 19) for `make bench`: the browser build's size, the
// page's first-load weight, and on-device hipsterize in Chromium against the
// edge round trip from the same page, in one run. benches/run.mjs calls
// deviceBench(); `node benches/device.mjs` runs these measurements alone
// (needs `make build`) and prints their section.
//
// Medians, interleaved device/edge runs (the machine is shared and noisy).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, SHARED, startWorker } from '../tests/harness.mjs';
import { launch } from '../tests/browser/browser.mjs';
import { webSize } from '../scripts/bundle.mjs';
import { median } from './stats.mjs';

const MB = 1e6;
// Issue 19's target: on-device hipsterize ≤ 1.5 × the worker's Server-Timing total.
export const DEVICE_TARGET_X_SERVER_TOTAL = 1.5;
const f1 = (x) => (x == null || Number.isNaN(x) ? 'n/a' : x.toFixed(1));
const f2 = (x) => (x == null || Number.isNaN(x) ? 'n/a' : x.toFixed(2));
const kb = (x) => `${f1(x / 1e3)} kB`;
const DEVICE_FILE = (url) => /\/(device\.js|device-worker\.js|device\.d\.ts|pkg\/)/.test(new URL(url).pathname);

/** What each request of `page` transferred (headers + encoded body), recorded until stop(). */
function recordTransfers(page) {
  const seen = [];
  const onDone = (req) => seen.push(req.sizes().then((s) => ({ url: req.url(), bytes: s.responseHeadersSize + s.responseBodySize, body: s.responseBodySize })).catch(() => null));
  page.on('requestfinished', onDone);
  return async () => { page.off('requestfinished', onDone); return (await Promise.all(seen)).filter(Boolean); };
}

/** gzip -9 of the files of www/ a list of URLs names (what a compressing CDN would send). */
function gzipOf(urls) {
  let total = 0;
  for (const u of urls) {
    const rel = new URL(u).pathname.replace(/^\/$/, '/index.html');
    const file = path.join(ROOT, 'www', rel);
    if (fs.existsSync(file) && fs.statSync(file).isFile()) total += zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
  }
  return total;
}

/**
 * { size, firstLoad, device, edge, ratio, live }. `photo`: the bench photo's
 * bytes; `runs`: timed runs of each mode (after `warmups`).
 */
export async function deviceBench({ photo, runs = 30, warmups = 5, log = () => {} } = {}) {
  const size = webSize();
  const w = await startWorker({ probe: '/' });
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    // The page's first load, as a visitor gets it (fresh profile, no cache).
    let stop = recordTransfers(page);
    await page.goto(`${w.url}/`);
    await page.waitForLoadState('networkidle');
    const first = await stop();
    // Then on-device mode, chosen: what it adds.
    stop = recordTransfers(page);
    const load = await page.evaluate(async () => {
      const { loadDevice } = await import('/device.js');
      window.device = await loadDevice();
      return { loadMs: window.device.loadMs, modelLoadMs: window.device.modelLoadMs };
    });
    const added = await stop();
    const firstLoad = {
      bytes: first.reduce((a, r) => a + r.bytes, 0),
      gzip: gzipOf(first.map((r) => r.url)),
      requests: first.length,
      deviceFiles: first.filter((r) => DEVICE_FILE(r.url)).length,
      deviceBytes: added.reduce((a, r) => a + r.bytes, 0),
      deviceGzip: gzipOf(added.map((r) => r.url)),
      deviceRequests: added.map((r) => new URL(r.url).pathname),
    };

    log(`on-device vs edge, ${warmups} warm-ups then ${runs} runs each, interleaved…`);
    const b64 = Buffer.from(photo).toString('base64');
    const result = await page.evaluate(async ({ b64, runs, warmups }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const timing = (h) => Object.fromEntries(String(h || '').split(',').map((p) => p.trim().match(/^([a-z_]+);dur=([\d.]+)/)).filter(Boolean).map((m) => [m[1], Number(m[2])]));
      const onDevice = async () => {
        const t = performance.now();
        const r = await window.device.hipsterize(bytes);
        return { ms: performance.now() - t, total: r.timings_ms.total, cats: r.cats };
      };
      const atEdge = async () => {
        const t = performance.now();
        const res = await fetch('/api/hipsterize', { method: 'POST', body: bytes, headers: { 'content-type': 'image/jpeg' } });
        await res.blob();
        if (!res.ok) throw new Error(`/api/hipsterize answered ${res.status}`);
        return { ms: performance.now() - t, total: timing(res.headers.get('server-timing')).total, cats: Number(res.headers.get('x-cats-found')) };
      };
      for (let i = 0; i < warmups; i++) { await onDevice(); await atEdge(); }
      const device = []; const edge = [];
      for (let i = 0; i < runs; i++) { device.push(await onDevice()); edge.push(await atEdge()); }
      return { device, edge };
    }, { b64, runs, warmups });
    const device = {
      ...load,
      p50: median(result.device.map((r) => r.ms)),
      coreTotal: median(result.device.map((r) => r.total)),
      cats: result.device[0].cats,
    };
    const edge = {
      p50: median(result.edge.map((r) => r.ms)),
      serverTotal: median(result.edge.map((r) => r.total)),
      cats: result.edge[0].cats,
    };
    const ratio = device.p50 / edge.serverTotal;

    // What live mode has per frame: detectFrame on a 640×480 canvas frame
    // (getImageData → worker → cats), the photo scaled into it.
    const frame = await page.evaluate(async ({ b64, runs }) => {
      const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]));
      const canvas = new OffscreenCanvas(640, 480);
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0, 640, 480);
      const times = []; const cores = []; let cats = 0;
      for (let i = 0; i < runs + 5; i++) {
        const t = performance.now();
        const r = await window.device.detectFrame(ctx.getImageData(0, 0, 640, 480));
        if (i >= 5) { times.push(performance.now() - t); cores.push(r.timings_ms.total); }
        cats = r.cats.length;
      }
      return { times, cores, cats };
    }, { b64, runs });
    device.frameP50 = median(frame.times);
    device.frameCore = median(frame.cores);
    device.frameCats = frame.cats;

    // ---- live mode (issue 19, Part B): benches/live.mjs, when present,
    // exports an async function measuring live-mode frames per second on
    // Chromium's fake camera. It is called here with the running worker and
    // a launch() for its own browser; its answer ({ fps, ... }) is reported.
    let live = null;
    const liveFile = path.join(ROOT, 'benches', 'live.mjs');
    if (fs.existsSync(liveFile)) {
      const mod = await import(pathToFileURL(liveFile).href);
      const fn = mod.default ?? mod.liveBench ?? mod.liveFps ?? Object.values(mod).find((v) => typeof v === 'function');
      if (fn) { log('live mode (benches/live.mjs)…'); live = await fn({ url: w.url, launch, log }); }
    }
    return { size, firstLoad, device, edge, ratio, live, runs, warmups };
  } finally {
    await browser.close();
    w.stop();
  }
}

/** The BENCHMARKS.md section for deviceBench()'s result. */
export function deviceMarkdown(r) {
  const target = DEVICE_TARGET_X_SERVER_TOTAL * r.edge.serverTotal;
  const met = r.device.p50 <= target ? 'met' : `missed by ${f1(r.device.p50 - target)} ms (${f1((100 * (r.device.p50 - target)) / target)}%)`;
  const liveRow = r.live == null
    ? '| live mode, frames per second on the fake camera | not measured (benches/live.mjs absent) | ≥ 15 | |'
    : `| live mode, frames per second on the fake camera (benches/live.mjs: the page's \`live-fps\`, median of its samples) | ${f1(r.live.fps)} fps${r.live.passes == null ? '' : ` (detector passes ${f1(r.live.passes)}/s; ${f1(r.live.fpsOverall)} fps over the whole run)`} | ≥ 15 | ${r.live.fps >= 15 ? 'met' : 'missed'} |`;
  return `### On-device mode (issue 19): the same core in Chromium

| | value | target | |
|---|---|---|---|
| on-device \`device.hipsterize\` in the page (Web Worker; call → Blob), median of ${r.runs} after ${r.warmups} warm-ups | ${f1(r.device.p50)} ms (${f2(r.ratio)} × the worker's Server-Timing total) | ≤ ${DEVICE_TARGET_X_SERVER_TOTAL} × the worker's Server-Timing total = ${f1(target)} ms | ${met} |
${liveRow}

| | value |
|---|---|
| browser Wasm (www/pkg/edgecat_web_bg.wasm) raw / gzip -9 | ${f2(r.size.wasmRaw / MB)} MB / ${f2(r.size.wasmGzip / MB)} MB |
| all of www/pkg/ (Wasm + JS glue) raw / gzip -9 | ${f2(r.size.raw / MB)} MB / ${f2(r.size.gzip / MB)} MB |
| on-device: the core's own total (timings_ms.total, median) | ${f1(r.device.coreTotal)} ms |
| edge: the same page's \`fetch('/api/hipsterize')\` round trip under \`wrangler dev\`, median (interleaved with the above) | ${f1(r.edge.p50)} ms |
| edge: the worker's Server-Timing total, median | ${f1(r.edge.serverTotal)} ms |
| cats found: on device / at the edge | ${r.device.cats} / ${r.edge.cats} |
| live mode's per-frame work: \`device.detectFrame\` on a 640×480 canvas frame (getImageData → worker → cats), median (the core's own total) | ${f1(r.device.frameP50)} ms (${f1(r.device.frameCore)} ms; ${r.device.frameCats} cat) → at most ${f1(1000 / r.device.frameP50)} detections a second |
| on-device start: \`loadDevice()\` → models loaded (worker start, Wasm fetch + compile + instantiate, model load; once per page) | ${f1(r.device.loadMs)} ms (model load ${f1(r.device.modelLoadMs)} ms) |
| page first load, fresh profile: ${r.firstLoad.requests} requests; transferred (headers + bodies as \`wrangler dev\` sends them) / gzip -9 of the files. On-device files among them: ${r.firstLoad.deviceFiles}, so this is the page's weight without on-device mode too | ${kb(r.firstLoad.bytes)} / ${kb(r.firstLoad.gzip)} |
| after choosing on-device mode, added (${r.firstLoad.deviceRequests.join(', ')}): transferred / gzip -9 of the files | ${f2(r.firstLoad.deviceBytes / MB)} MB / ${f2(r.firstLoad.deviceGzip / MB)} MB |
`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const PHOTO = process.env.BENCH_PHOTO || path.join(SHARED, 'data', 'cat-photos', 'kairess_022.jpg');
  const r = await deviceBench({ photo: fs.readFileSync(PHOTO), runs: Number(process.env.BENCH_RUNS || 30), log: (...a) => console.error('bench:', ...a) });
  console.log(deviceMarkdown(r));
  fs.mkdirSync(path.join(ROOT, 'target', 'bench'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'target', 'bench', 'device.json'), JSON.stringify(r, null, 2));
}
