// The native CLI (`edgecat detect`, `edgecat bench`) against the worker under
// wrangler dev: the same core natively and in Wasm gives the same cats.
// make test builds the CLI in its [native] chain while the Wasm builds, so
// this file runs last (tests/run-http.mjs) and, when EDGECAT_CLI_READY names
// a file, first waits for it: the native build's end.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../harness.mjs';
import { PHOTOS, detect, iod, dist, photo } from './cats.mjs';
import { decodeImage, encodeJpeg, imageSize, sideBySide } from '../images.mjs';

before(async () => {
  const ready = process.env.EDGECAT_CLI_READY;
  if (!ready) return;
  const deadline = Date.now() + 30 * 60_000;
  while (!fs.existsSync(ready)) {
    assert.ok(Date.now() < deadline, `${ready} did not appear: the native build did not end`);
    await new Promise((r) => setTimeout(r, 500));
  }
}, { timeout: 31 * 60_000 });

// Native and wasm32 tract agree bit for bit on most photos; on a few an
// int8 rounding step goes the other way (measured on all 36 photos: scores
// ≤ 0.0017 apart, box edges ≤ 2.7 px = 0.5% of the box, eyes ≤ 10.8 px =
// 6.6% IOD on kairess_024, where the small box shift moves the eye crop).
// The CLI built by `cargo test` (the test profile). EDGECAT_CLI points at another build, e.g. target/release.
const CLI = process.env.EDGECAT_CLI
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'debug', 'edgecat');
const MAX_SCORE_DIFF = 0.01;
const MAX_BOX_DIFF = 0.01; // of the box's larger side
const MAX_EYE_DIFF = 0.1; // of the eye distance

/** Why the CLI might disagree: it was built before the sources or models changed. */
function staleCli() {
  const built = fs.statSync(CLI).mtimeMs;
  const inputs = [...fs.readdirSync(path.join(ROOT, 'src'), { recursive: true }).map((f) => path.join('src', f)),
    ...fs.readdirSync(path.join(ROOT, 'models')).filter((f) => /\.(onnx|tar|json)$/.test(f)).map((f) => path.join('models', f))];
  const newer = inputs.filter((f) => fs.statSync(path.join(ROOT, f)).mtimeMs > built);
  return newer.length ? ` (${CLI} is older than ${newer.join(', ')}: rebuild it)` : '';
}

test('`edgecat detect` and /api/detect give the same cats for the same bytes', async (t) => {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing: \`cargo test\` (part of make test) builds it`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecat-cli-'));
  try {
    // Every shared cat photo (with and without cats) plus the two-cat picture.
    const files = fs.readdirSync(PHOTOS).sort().map((f) => path.join(PHOTOS, f));
    const twoCats = path.join(dir, 'two-cats.jpg');
    fs.writeFileSync(twoCats, encodeJpeg(sideBySide(decodeImage(photo('kairess_027.jpg')), decodeImage(photo('kairess_028.jpg'))), 90));
    files.push(twoCats);
    const lines = execFileSync(CLI, ['detect', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n');
    assert.equal(lines.length, files.length);
    const worst = { score: 0, box: 0, eye: 0 };
    let cats = 0;
    for (const [i, line] of lines.entries()) {
      const native = JSON.parse(line);
      const name = path.basename(files[i]);
      assert.equal(native.file, files[i]);
      const wasm = await detect(fs.readFileSync(files[i]));
      assert.deepEqual([wasm.width, wasm.height], [native.width, native.height], name);
      assert.equal(wasm.cats.length, native.cats.length, `${name}: worker ${wasm.cats.length} cats, CLI ${native.cats.length}${staleCli()}`);
      for (const [k, a] of wasm.cats.entries()) {
        const b = native.cats[k];
        cats++;
        const side = Math.max(b.box[2] - b.box[0], b.box[3] - b.box[1]);
        const score = Math.abs(a.score - b.score);
        const box = Math.max(...a.box.map((v, j) => Math.abs(v - b.box[j])));
        const eye = Math.max(...['left_eye', 'right_eye'].map((e) => dist(a.landmarks[e], b.landmarks[e])));
        worst.score = Math.max(worst.score, score);
        worst.box = Math.max(worst.box, box);
        worst.eye = Math.max(worst.eye, eye);
        assert.ok(score <= MAX_SCORE_DIFF, `${name} cat ${k}: score ${a.score} vs ${b.score}${staleCli()}`);
        assert.ok(box <= MAX_BOX_DIFF * side, `${name} cat ${k}: box ${a.box} vs ${b.box}${staleCli()}`);
        assert.ok(eye <= MAX_EYE_DIFF * iod(b), `${name} cat ${k}: eyes ${JSON.stringify(a.landmarks)} vs ${JSON.stringify(b.landmarks)}${staleCli()}`);
      }
    }
    assert.ok(cats >= 10, `only ${cats} cats compared`);
    t.diagnostic(`${cats} cats in ${files.length} files; largest differences: score ${worst.score.toFixed(4)}, box ${worst.box.toFixed(2)} px, eye ${worst.eye.toFixed(2)} px`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('`edgecat bench` reports the cold run, per-stage medians and peak memory', () => {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing`);
  const file = path.join(PHOTOS, 'kairess_001.jpg');
  const [width, height] = imageSize(fs.readFileSync(file));
  const out = JSON.parse(execFileSync(CLI, ['bench', file, '--runs', '3'], { encoding: 'utf8' }));
  assert.equal(out.runs, 3);
  assert.equal(out.cats, 1);
  assert.ok(out.first.model_load > 0, 'the first run pays the model load');
  for (const k of ['decode', 'detect', 'landmarks', 'overlay', 'encode', 'total']) assert.ok(out.median_ms[k] > 0, k);
  assert.ok(out.median_ms.total >= out.median_ms.detect + out.median_ms.encode);
  // The whole decoded photo is in memory at least once.
  assert.ok(out.peak_rss_bytes > 3 * width * height, `${out.peak_rss_bytes}`);
  assert.throws(() => execFileSync(CLI, ['bench', file, '--runs', '0'], { stdio: 'pipe' }), /--runs needs a number/);
});
