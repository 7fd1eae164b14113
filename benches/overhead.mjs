// The request's fixed cost in the worker (issue 28): workerd's process CPU
// per warm request for answers that run no pixel work, beside a photo's, so
// that "CPU outside the stages" can be split into its parts:
//   health       GET /api/health (routing, JSON, the request log);
//   bad_image    POST /api/hipsterize with the photo's size of bytes that are
//                not an image (the body streamed into Wasm, then refused:
//                the body read and an error answer);
//   hipsterize   the photo itself (Server-Timing total subtracted);
// and, as the runtime's own floor, the trivial worker of `make bench`
// (benches/trivial-worker: answers "ok", after reading any body) for a GET
// and for a POST of the same photo.
//   node benches/overhead.mjs [BUILD_DIR]   (a worker/build copy; default this one)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TRIVIAL_BUILT, TRIVIAL_CONFIG, configFor, benchPhotos, requestCpu, startRuntime, trivialAnswers } from './cpu.mjs';
import { median, serverTiming } from './stats.mjs';
import { ROOT } from '../tests/harness.mjs';

const RUNS = Number(process.env.OVERHEAD_RUNS || 30);
const ROUNDS = Number(process.env.OVERHEAD_ROUNDS || 2);
const photo = benchPhotos().find((p) => p.name === (process.env.AB_PHOTO || '1 MP'));
const junk = Buffer.alloc(photo.bytes.length, 0x5a);
const dir = process.argv[2];
const config = dir ? configFor(dir, 'overhead') : undefined;

const kinds = {
  health: (url) => fetch(`${url}/api/health`),
  bad_image: (url) => fetch(`${url}/api/hipsterize`, { method: 'POST', body: junk, headers: { 'content-type': 'image/jpeg' } }),
  hipsterize: (url) => fetch(`${url}/api/hipsterize`, { method: 'POST', body: photo.bytes, headers: { 'content-type': 'image/jpeg' } }),
};
const trivialKinds = {
  'trivial worker: GET': (url) => fetch(`${url}/`),
  'trivial worker: POST of the photo': (url) => fetch(`${url}/`, { method: 'POST', body: photo.bytes, headers: { 'content-type': 'image/jpeg' } }),
};
if (!fs.existsSync(TRIVIAL_BUILT)) {
  console.error('build the trivial worker first: make benches/trivial-worker/build/index.js');
  process.exit(2);
}
const got = Object.fromEntries([...Object.keys(kinds), ...Object.keys(trivialKinds)].map((k) => [k, { cpu: [], total: [] }]));
async function measure(cfg, which, warmups, answers) {
  const h = await startRuntime(cfg, answers);
  try {
    for (let i = 0; i < 8; i++) await (await warmups(h.url)).arrayBuffer();
    for (let i = 0; i < RUNS; i++) {
      for (const [k, f] of Object.entries(which)) {
        const { cpu, res } = await requestCpu(h.pid, () => f(h.url));
        got[k].cpu.push(cpu);
        got[k].total.push(serverTiming(res).total ?? 0);
      }
    }
  } finally { h.w.stop(); }
}
for (let r = 0; r < ROUNDS; r++) {
  await measure(config, kinds, kinds.hipsterize);
  await measure(TRIVIAL_CONFIG, trivialKinds, trivialKinds['trivial worker: GET'], trivialAnswers);
}
console.log(`${photo.name} photo (${photo.bytes.length} bytes); ${ROUNDS} fresh runtimes of each worker × ${RUNS} warm requests of each kind, interleaved; workerd process CPU, medians; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('| request | CPU p50 (ms) | Server-Timing total | CPU − total |\n|---|---|---|---|');
for (const [k, v] of Object.entries(got)) {
  const c = median(v.cpu); const t = median(v.total);
  console.log(`| ${k} | ${c.toFixed(2)} | ${t.toFixed(1)} | ${(median(v.cpu.map((x, i) => x - v.total[i]))).toFixed(2)} |`);
}
fs.mkdirSync(path.join(ROOT, 'target', 'bench'), { recursive: true });
fs.writeFileSync(path.join(ROOT, 'target', 'bench', 'overhead.json'), JSON.stringify(got));
