// Warm hipsterize with this build's models against a baseline build of the
// worker (another worker/build directory, e.g. the one before a model
// change), in one run: both workers are up at once and are timed in
// alternating blocks, so machine noise falls on both alike.
//
//   node benches/models-ab.mjs BASELINE_BUILD_DIR [photo]
//
// Prints the client p50 and the Server-Timing medians (total, detect,
// landmarks) of each, and the ratio this/baseline. Not a test: a figure.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, SHARED, startWorker } from '../tests/harness.mjs';
import { median, serverTiming } from './stats.mjs';

const baselineDir = path.resolve(process.argv[2] || '');
if (!fs.existsSync(path.join(baselineDir, 'index.js'))) {
  console.error('usage: node benches/models-ab.mjs BASELINE_BUILD_DIR [photo]  (a worker/build copy with index.js)');
  process.exit(2);
}
const photo = fs.readFileSync(process.argv[3] || path.join(SHARED, 'data', 'cat-photos', 'kairess_022.jpg'));
const BLOCKS = Number(process.env.AB_BLOCKS || 10);
const PER_BLOCK = Number(process.env.AB_PER_BLOCK || 10);

// The baseline's config: wrangler.toml with `main` pointed at the baseline build.
const config = path.join(ROOT, 'target', 'bench', 'baseline.wrangler.toml');
fs.mkdirSync(path.dirname(config), { recursive: true });
fs.writeFileSync(config, fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')
  .replace(/^main = .*$/m, `main = ${JSON.stringify(path.join(baselineDir, 'index.js'))}`)
  .replace(/^directory = "www"$/m, `directory = ${JSON.stringify(path.join(ROOT, 'www'))}`));

async function hipsterize(url) {
  const t = performance.now();
  const res = await fetch(`${url}/api/hipsterize`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return { ms: performance.now() - t, timing: serverTiming(res), cats: res.headers.get('x-cats-found') };
}

const [current, baseline] = await Promise.all([startWorker({ probe: '/' }), startWorker({ probe: '/', config })]);
try {
  const runs = { current: [], baseline: [] };
  const workers = { current, baseline };
  for (const name of ['current', 'baseline']) for (let i = 0; i < 5; i++) await hipsterize(workers[name].url);
  for (let b = 0; b < BLOCKS; b++) {
    for (const name of b % 2 ? ['baseline', 'current'] : ['current', 'baseline']) {
      for (let i = 0; i < PER_BLOCK; i++) runs[name].push(await hipsterize(workers[name].url));
    }
  }
  const summary = (rs) => ({
    p50: median(rs.map((r) => r.ms)),
    total: median(rs.map((r) => r.timing.total)),
    detect: median(rs.map((r) => r.timing.detect)),
    landmarks: median(rs.map((r) => r.timing.landmarks)),
    cats: rs[0].cats,
  });
  const c = summary(runs.current);
  const b = summary(runs.baseline);
  const f = (x) => x.toFixed(2);
  console.log(`warm hipsterize, ${runs.current.length} requests each, alternating blocks of ${PER_BLOCK}:`);
  console.log(`  this build: p50 ${f(c.p50)} ms; Server-Timing total ${f(c.total)}, detect ${f(c.detect)}, landmarks ${f(c.landmarks)} ms; ${c.cats} cat(s)`);
  console.log(`  baseline:   p50 ${f(b.p50)} ms; Server-Timing total ${f(b.total)}, detect ${f(b.detect)}, landmarks ${f(b.landmarks)} ms; ${b.cats} cat(s)`);
  console.log(`  ratio this/baseline: p50 ${f(c.p50 / b.p50)}, total ${f(c.total / b.total)}`);
} finally {
  current.stop();
  baseline.stop();
}
