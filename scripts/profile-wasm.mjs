// V8 CPU profiles of the worker, taken through wrangler dev's inspector, to
// see where the time goes inside workerd (the first model load took ~3x the
// native time in Wasm). Three requests:
//   cold  the isolate's first `POST /api/hipsterize`;
//   warm  the same after 5 more;
//   load  the first `POST /api/__load` (test route: the models load again,
//         from scratch), then 4 more unprofiled, to show what V8's tier-up
//         takes off the load.
// Models loaded by `#[event(start)]` load while workerd evaluates the script,
// before any inspector client can attach: only `load` shows that work then.
// Runs the Wasm *with* its name section (the Makefile keeps that copy in
// target/wasm) so that frames carry Rust function names. Writes
// target/profile/{cold,warm,load}.cpuprofile (open them in Chrome DevTools,
// Performance panel) and prints a summary of each.
//   node scripts/profile-wasm.mjs        (after `make build`; or `make profile`)
import fs from 'node:fs';
import path from 'node:path';
import { inspect, startWorker, ROOT, SHARED } from '../tests/harness.mjs';

const OUT = path.join(ROOT, 'target', 'profile');
const BUILD = path.join(ROOT, 'worker', 'build');
const NAMED = path.join(ROOT, 'target', 'wasm', 'index_bg.named.wasm');
// PROFILE_PHOTO: another photo (default kairess_022, 1000×738, 4:2:0).
const PHOTO = process.env.PROFILE_PHOTO || path.join(SHARED, 'data', 'cat-photos', 'kairess_022.jpg');
const DEADLINE_MS = 120_000;
const WARMUP = 5;
// Frames whose inclusive time we want, matched by substring on the name.
// Engine::load is inlined into the OnceLock initializer under these.
const KEY_FRAMES = [
  ['model load', ['edgecat::pipeline::Engine::load', 'edgecat::pipeline::loaded_engine', 'edgecat::pipeline::preload']],
  ['  NNEF stdlib', ['tract_nnef::framework::stdlib', 'parse_fragments']],
  ['  load_plan (x2)', ['edgecat::detector::load_plan']],
  ['    model_for_read', ['model_for_read']],
  ['      tar: graph.nnef', ['GraphNnefLoader']],
  ['      tar: .dat weights', ['DatLoader']],
  ['      translate', ['model_for_proto_model']],
  ['    into_optimized', ['into_optimized']],
  ['      optimizer', ['tract_core::optim::Optimizer::optimize', 'OptimizerSession::optimize']],
  ['    into_runnable', ['into_runnable']],
  ['JPEG decode', ['zune_jpeg', 'image::codecs::jpeg', 'image::io']],
  ['JPEG encode', ['jpeg_encoder']],
  ['hipsterize', ['edgecat::pipeline::hipsterize']],
  ['fetch handler', ['edgecat_worker::fetch_fetch_glue', 'edgecat_worker::_worker_fetch']],
];

// Non-custom sections of a Wasm module: what strip-wasm.mjs keeps.
function codeSections(b) {
  const parts = [];
  let p = 8;
  const leb = () => { let r = 0; let s = 0; let x; do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return r; };
  while (p < b.length) {
    const start = p; const id = b[p++]; const end = leb() + p;
    if (id !== 0) parts.push(b.subarray(start, end));
    p = end;
  }
  return Buffer.concat(parts);
}

// The built worker with the named Wasm, if it is the same build as worker/build.
function prepareWorker() {
  const dir = path.join(OUT, 'worker');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['index.js', 'package.json']) fs.copyFileSync(path.join(BUILD, f), path.join(dir, f));
  const built = fs.readFileSync(path.join(BUILD, 'index_bg.wasm'));
  let wasm = built;
  if (!fs.existsSync(NAMED)) console.warn(`! ${NAMED} missing: frames will be unnamed`);
  else if (!codeSections(fs.readFileSync(NAMED)).equals(codeSections(built))) console.warn(`! ${NAMED} is not the build in worker/build (rebuild): frames will be unnamed`);
  else wasm = fs.readFileSync(NAMED);
  fs.writeFileSync(path.join(dir, 'index_bg.wasm'), wasm);
  // Same settings as ./wrangler.toml; paths here are relative to this file.
  const main = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const date = main.match(/^compatibility_date\s*=\s*"([^"]+)"/m)[1];
  const config = path.join(OUT, 'wrangler.toml');
  fs.writeFileSync(config, `name = "edgecat-profile"\nmain = "worker/index.js"\ncompatibility_date = "${date}"\n\n` +
    `[assets]\ndirectory = ${JSON.stringify(path.join(ROOT, 'www'))}\nrun_worker_first = ["/api/*"]\nnot_found_handling = "404-page"\n\n` +
    `[vars]\nALLOWED_ORIGINS = "*"\n`);
  return { config, named: wasm !== built };
}

// POST a photo to /api/hipsterize, or nothing to /api/__load.
async function post(url, photo) {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: 'POST', body: photo, signal: AbortSignal.timeout(60_000),
    headers: photo ? { 'content-type': 'image/jpeg' } : {},
  });
  const body = await res.text();
  const wall = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${body.slice(0, 200)}`);
  return { wall, timing: photo ? `Server-Timing: ${res.headers.get('server-timing')}` : body };
}

async function profiled(cdp, url, photo) {
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  try { return { ...(await post(url, photo)), profile: (await cdp.send('Profiler.stop')).profile }; }
  catch (e) { await cdp.send('Profiler.stop').catch(() => {}); throw e; }
}

// Drops the symbol hash (`::h0123…`, wasm-bindgen may append " externref shim"),
// crate disambiguators (`dlmalloc[e24a…]`) and, inside generic arguments
// nested twice or more, module paths: `Graph<TypedFact,Box<dyn TypedOp>>`.
function shortName(n) {
  n = n.replace(/::h[0-9a-f]{16}\b/, '').replace(/\[[0-9a-f]{16}\]/g, '');
  const seg = /[a-z_][a-z0-9_]*::/y;
  let out = ''; let depth = 0;
  for (let i = 0; i < n.length; i++) {
    if (n[i] === '<') depth++; else if (n[i] === '>') depth--;
    seg.lastIndex = i;
    if (depth >= 2 && !/[\w:]/.test(out.at(-1) ?? '') && seg.exec(n)) { i = seg.lastIndex - 1; continue; }
    out += n[i];
  }
  return out;
}
function crateOf(node) {
  const { functionName, url } = node.callFrame;
  if (functionName.startsWith('(')) return functionName;
  if (!url.startsWith('wasm://')) return '(js)';
  const n = shortName(functionName);
  if (/^(\$?wasm-function\[|js-to-wasm|wasm-to-js)/.test(n)) return n.match(/^\$?([\w-]+)/)[1];
  // `<T as Trait>::f` and `<[T] as …>` belong to the trait's crate.
  const s = n.replace(/^(<|&|mut |dyn |\s)+/, '');
  const m = /^([A-Za-z_]\w*)::/.exec(s) || / as (?:&|mut |dyn )*([A-Za-z_]\w*)::/.exec(s);
  return m ? m[1] : '(libm/builtins)';
}
const kind = (node) => {
  const n = node.callFrame.functionName;
  if (['(program)', '(garbage collector)', '(idle)', '(root)'].includes(n)) return n;
  return node.callFrame.url.startsWith('wasm://') ? 'Wasm' : 'JS';
};
const ms = (us) => (us / 1000).toFixed(1).padStart(8);
const pct = (x, total) => `${(100 * x / total).toFixed(1).padStart(5)}%`;

function summarize(label, { wall, timing, profile }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  // Sample i lasts until sample i+1; the last one would run on to Profiler.stop,
  // after the response, so it gets the nominal interval.
  const self = new Map(); let t = profile.startTime; const stamps = [];
  for (const d of profile.timeDeltas) stamps.push(t += d);
  const dur = stamps.map((s, i) => i + 1 < stamps.length ? stamps[i + 1] - s : Math.min(profile.endTime - s, 100));
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) || 0) + dur[i]));
  const total = dur.reduce((a, b) => a + b, 0);
  const add = (m, k, v) => m.set(k, (m.get(k) || 0) + v);
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);

  console.log(`\n=== ${label}: wall ${wall.toFixed(1)} ms; ${timing}`);
  // A long gap means the sampler was starved (shared CPU): its time lands on one frame.
  console.log(`sampled ${ms(total).trim()} ms in ${profile.samples.length} samples (mean ${(total / dur.length).toFixed(0)} µs, longest ${ms(Math.max(...dur)).trim()} ms)`);
  const kinds = new Map(); const fns = new Map(); const crates = new Map();
  for (const [id, us] of self) {
    const n = byId.get(id);
    add(kinds, kind(n), us);
    const { functionName: f, url, lineNumber } = n.callFrame;
    add(fns, kind(n) !== 'JS' ? shortName(f) : `${f || '(anonymous)'} [${url ? `${path.basename(url)}:${lineNumber + 1}` : 'native'}]`, us);
    add(crates, crateOf(n), us);
  }
  console.log('by kind:  ' + top(kinds, 9).map(([k, v]) => `${k} ${ms(v).trim()} ms (${pct(v, total).trim()})`).join(', '));
  console.log('\ntop 25 functions by self time:');
  for (const [k, v] of top(fns, 25)) console.log(`${ms(v)} ms ${pct(v, total)}  ${k.length > 140 ? k.slice(0, 137) + '...' : k}`);
  console.log('\nself time by crate:');
  for (const [k, v] of top(crates, 20)) console.log(`${ms(v)} ms ${pct(v, total)}  ${k}`);

  // Inclusive: a sample counts once per key even if several frames match.
  const incl = new Map(); const matched = new Map(KEY_FRAMES.map(([l]) => [l, new Set()]));
  const rootKids = new Map();
  profile.samples.forEach((id, i) => {
    const hit = new Set(); let last = id;
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const name = byId.get(x).callFrame.functionName;
      if (parent.get(x) !== undefined) last = x;
      for (const [l, pats] of KEY_FRAMES) if (pats.some((p) => name.includes(p))) { hit.add(l); matched.get(l).add(shortName(name)); }
    }
    for (const l of hit) add(incl, l, dur[i]);
    const k = byId.get(last); add(rootKids, k.callFrame.functionName || '(anonymous)', dur[i]);
  });
  console.log('\ninclusive time of key frames:');
  for (const [l] of KEY_FRAMES) {
    const names = [...matched.get(l)];
    if (names.length) console.log(`${ms(incl.get(l))} ms ${pct(incl.get(l), total)}  ${l}  <- ` +
      `${names.slice(0, 3).map((s) => s.slice(0, 90)).join(' | ')}${names.length > 3 ? ` (+${names.length - 3} more)` : ''}`);
  }
  const none = KEY_FRAMES.filter(([l]) => !matched.get(l).size).map(([l]) => l.trim());
  if (none.length) console.log(`   (no frame: ${none.join(', ')})`);
  console.log('\ntop-level children of (root), inclusive:');
  for (const [k, v] of top(rootKids, 10)) console.log(`${ms(v)} ms ${pct(v, total)}  ${shortName(k)}`);
}

let worker; let cdp; let gaveUp = false;
async function main() {
  const { config, named } = prepareWorker();
  const photo = fs.readFileSync(PHOTO);
  worker = await startWorker({ probe: '/', config, timeoutMs: 60_000, vars: { EDGECAT_TEST_ROUTES: '1' } });
  if (gaveUp) return worker.stop(); // the deadline passed meanwhile: nobody else will stop it
  cdp = await inspect(worker.inspectorPort);
  await cdp.send('Profiler.enable');
  const hipsterize = `${worker.url}/api/hipsterize`;
  const cold = await profiled(cdp, hipsterize, photo);
  if (!cold.timing.includes('model_load')) console.log('(the models loaded at start-up, unprofiled: see the load profile)');
  // Unprofiled; their timings show whether later requests still speed up (tier-up).
  for (let i = 0; i < WARMUP; i++) {
    const r = await post(hipsterize, photo);
    console.log(`warm-up ${i + 1}: wall ${r.wall.toFixed(1)} ms; ${r.timing}`);
  }
  const warm = await profiled(cdp, hipsterize, photo);
  let load;
  try {
    load = await profiled(cdp, `${worker.url}/api/__load`);
    console.log(`load 1 (profiled): wall ${load.wall.toFixed(1)} ms; ${load.timing}`);
  } catch (e) {
    if (!/answered 404/.test(e.message)) throw e;
    console.log('(this build has no /api/__load: no load profile)');
  }
  for (let i = 2; load && i <= 5; i++) {
    const r = await post(`${worker.url}/api/__load`);
    console.log(`load ${i}:          wall ${r.wall.toFixed(1)} ms; ${r.timing}`);
  }
  for (const [name, run] of [['cold', cold], ['warm', warm], ['load', load]].filter(([, r]) => r)) {
    fs.writeFileSync(path.join(OUT, `${name}.cpuprofile`), JSON.stringify(run.profile));
    summarize(`${name} request${named ? '' : ' (unnamed Wasm)'}`, run);
  }
  console.log(`\nwrote ${path.relative(ROOT, OUT)}/{cold,warm,load}.cpuprofile`);
}

try {
  await Promise.race([main(), new Promise((_, reject) => {
    setTimeout(() => { gaveUp = true; reject(new Error(`gave up after ${DEADLINE_MS / 1000} s`)); }, DEADLINE_MS).unref();
  })]);
} catch (e) {
  console.error(`profile-wasm: ${e.stack || e}`);
  if (worker) console.error(worker.log().slice(-2000));
  process.exitCode = 1;
} finally {
  cdp?.close();
  worker?.stop();
}
