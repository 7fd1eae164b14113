// Issue 5's "done when" checks on the real photos in ../shared/data/cat-photos,
// end to end under wrangler dev: sunglasses land on the eyes and nowhere else,
// two cats give two pairs, EXIF orientation maps detections back to the
// upright photo, and the native CLI agrees with the worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BASE, ROOT, SHARED } from '../harness.mjs';
import { crop, decodeImage, encodeJpeg, imageSize, sideBySide, toStored, withExifOrientation } from '../images.mjs';

const PHOTOS = path.join(SHARED, 'data/cat-photos');
const photo = (name) => fs.readFileSync(path.join(PHOTOS, name));
const post = (route, body) => fetch(`${BASE}${route}`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });

async function detect(bytes) {
  const res = await post('/api/detect', bytes);
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

const eyes = (cat) => [cat.landmarks.left_eye, cat.landmarks.right_eye];
const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const iod = (cat) => dist(...eyes(cat));
const mid = (cat) => { const [l, r] = eyes(cat); return [(l[0] + r[0]) / 2, (l[1] + r[1]) / 2]; };
function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

// ---- 1. The clear frontal cats get sunglasses --------------------------
//
// Chosen by looking at all 36 photos. Rule: at least one cat whose face is
// upright (not tilted past ~30°), turned to the camera with both eyes open
// and visible, nothing across the eyes, and at least ~150 px wide. Left out:
// glup_cat_* (already wear sunglasses); kairess_004 (on its back, eyes
// closed), 007 (three-quarter view, small face), 008 (eyes closed, licking),
// 015 (asleep, sideways), 017 (head tilted ~60°), 019 and 030 (profile),
// 021 (two small cats mid-jump, not facing us), 023 (upside down), 026
// (asleep), 029 (stretching, face turned and squinting).
const CURATED = [
  'kairess_001.jpg', 'kairess_002.jpg', 'kairess_003.jpg', 'kairess_005.jpg', 'kairess_006.jpg',
  'kairess_009.jpg', 'kairess_010.jpg', 'kairess_011.jpg', 'kairess_012.jpg', 'kairess_013.jpg',
  'kairess_014.jpg', 'kairess_016.jpg', 'kairess_018.jpg', 'kairess_020.jpg', 'kairess_022.jpg',
  'kairess_024.jpg', 'kairess_025.jpg', 'kairess_027.jpg', 'kairess_028.jpg',
];
// Clear cats the detector misses: run and reported as TODO so they stay
// visible. Empty since session 4's detector (UltraFace-initialised), which
// finds all 19; sessions 2-3 missed kairess_006, 010, 016 and 020.
const KNOWN_MISSES = {};

// The built-in glasses are 2 × the eye distance (IOD) wide and 0.73 × IOD
// tall, so every pixel they touch is within ~1.08 IOD of the eyes' midpoint;
// 1.25 IOD leaves room for the resampled edge.
const FAR_IOD = 1.25;
// jpeg-js (here) and the worker's decoder differ by up to ~34 per pixel at
// sharp edges, but 8×8 block means of the difference stay ≤ 4.2 (measured on
// the curated photos); a lens over a block moves its mean by 60-240.
const FAR_BLOCK_TOLERANCE = 8;
// Within a quarter IOD of each eye, the lens changes pixels by 63-160 on
// average (max over channels, measured); unchanged fur would be ~1.
const EYE_MIN_CHANGE = 40;

/** Per-pixel largest channel difference, and 8×8 block means per channel. */
function compare(a, b) {
  const pixel = (x, y) => {
    const i = (y * a.width + x) * 4;
    return Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]), Math.abs(a.data[i + 2] - b.data[i + 2]));
  };
  const block = (bx, by) => {
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let y = by; y < by + 8; y++) for (let x = bx; x < bx + 8; x++) {
        const i = (y * a.width + x) * 4 + c;
        sum += a.data[i] - b.data[i];
      }
      worst = Math.max(worst, Math.abs(sum / 64));
    }
    return worst;
  };
  return { pixel, block };
}

for (const file of CURATED) {
  test(`${file}: sunglasses on the eyes, nothing changed far from the faces`, { todo: KNOWN_MISSES[file] }, async (t) => {
    const input = photo(file);
    const upright = decodeImage(input); // none of these photos carries an EXIF orientation
    const found = await detect(input);
    assert.deepEqual([found.width, found.height], [upright.width, upright.height]);
    t.diagnostic(`${file}: ${found.cats.length} cat(s), scores ${found.cats.map((c) => c.score.toFixed(3)).join(', ') || '-'}`);
    assert.ok(found.cats.length >= 1, `no cat found in ${file}`);

    const res = await post('/api/hipsterize?format=png', input);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(res.headers.get('x-cats-found'), String(found.cats.length));
    const out = decodeImage(await res.arrayBuffer());
    assert.deepEqual([out.width, out.height], [upright.width, upright.height]);

    const diff = compare(out, upright);
    for (const [i, cat] of found.cats.entries()) {
      const r = 0.25 * iod(cat);
      for (const [side, e] of [['left', cat.landmarks.left_eye], ['right', cat.landmarks.right_eye]]) {
        let n = 0, sum = 0;
        for (let y = Math.max(0, Math.floor(e[1] - r)); y < Math.min(out.height, Math.ceil(e[1] + r)); y++) {
          for (let x = Math.max(0, Math.floor(e[0] - r)); x < Math.min(out.width, Math.ceil(e[0] + r)); x++) {
            if (dist([x + 0.5, y + 0.5], e) <= r) { n++; sum += diff.pixel(x, y); }
          }
        }
        assert.ok(n > 0 && sum / n >= EYE_MIN_CHANGE, `cat ${i} ${side} eye ${e}: mean change ${(sum / n).toFixed(1)}`);
      }
    }

    const centres = found.cats.map((c) => [mid(c), FAR_IOD * iod(c)]);
    let far = 0, blocks = 0, worst = 0;
    for (let by = 0; by + 8 <= out.height; by += 8) {
      for (let bx = 0; bx + 8 <= out.width; bx += 8) {
        blocks++;
        const corners = [[bx, by], [bx + 8, by], [bx, by + 8], [bx + 8, by + 8]];
        if (!centres.every(([m, radius]) => corners.every((p) => dist(p, m) > radius))) continue;
        far++;
        const d = diff.block(bx, by);
        worst = Math.max(worst, d);
        assert.ok(d <= FAR_BLOCK_TOLERANCE, `block at (${bx},${by}), far from every cat, changed by ${d.toFixed(1)}`);
      }
    }
    assert.ok(far >= blocks / 10, `the far region is only ${far} of ${blocks} blocks`);
    t.diagnostic(`${file}: largest 8×8 block change far from the faces ${worst.toFixed(2)}`);
  });
}

// ---- 2. Two cats, two pairs of sunglasses ------------------------------
//
// No kairess photo has exactly two clearly visible faces (016's second cat
// is a blur behind the basket, 021's two cats are mid-jump facing away, 025
// has five kittens), so the two-cat photo is made here: 027 and 028 side by
// side, re-encoded as JPEG.
test('two cats side by side: detect finds 2, one in each half, and X-Cats-Found is 2', async () => {
  const left = decodeImage(photo('kairess_027.jpg'));
  const right = decodeImage(photo('kairess_028.jpg'));
  const both = encodeJpeg(sideBySide(left, right), 90);
  const found = await detect(both);
  assert.equal(found.cats.length, 2, JSON.stringify(found.cats));
  const centres = found.cats.map((c) => (c.box[0] + c.box[2]) / 2).sort((a, b) => a - b);
  assert.ok(centres[0] < left.width && centres[1] > left.width, `box centres ${centres}`);
  const res = await post('/api/hipsterize', both);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cats-found'), '2');
});

// ---- 3. EXIF orientation ------------------------------------------------
//
// Each photo is cropped to a multiple of 8 (so rotating or flipping maps
// JPEG blocks onto blocks), stored transformed with the Orientation tag that
// makes it upright again, and compared with the same pixels re-encoded the
// same way with Orientation 1. Re-encoding alone moved boxes to IoU ≥ 0.98
// and eyes by ≤ 3.7% of the eye distance on these photos (kairess_028 is not
// used: its right eye moves by up to 21% IOD between JPEG qualities); a
// mapping mistake moves them by the size of the face.
const EXIF_PHOTOS = ['kairess_001.jpg', 'kairess_002.jpg', 'kairess_027.jpg'];
const MIN_IOU = 0.9;
const MAX_EYE_IOD = 0.08;

for (const file of EXIF_PHOTOS) {
  test(`${file}: EXIF orientations 2-8 give the upright photo's detections`, async () => {
    const full = decodeImage(photo(file));
    const upright = crop(full, 0, 0, full.width - (full.width % 8), full.height - (full.height % 8));
    const { width: w, height: h } = upright;
    const baseline = await detect(withExifOrientation(encodeJpeg(upright, 95), 1));
    assert.ok(baseline.cats.length >= 1, 'the upright baseline finds a cat');
    for (let o = 2; o <= 8; o++) {
      const stored = withExifOrientation(encodeJpeg(toStored(upright, o), 95), o);
      assert.deepEqual(imageSize(stored), o >= 5 ? [h, w] : [w, h]);
      const found = await detect(stored);
      assert.deepEqual([found.width, found.height], [w, h], `orientation ${o}: upright size`);
      assert.equal(found.cats.length, baseline.cats.length, `orientation ${o}: ${JSON.stringify(found.cats)}`);
      for (const want of baseline.cats) {
        const got = found.cats.reduce((best, c) => (iou(c.box, want.box) > iou(best.box, want.box) ? c : best));
        const overlap = iou(got.box, want.box);
        assert.ok(overlap >= MIN_IOU, `orientation ${o}: box ${got.box} vs ${want.box} (IoU ${overlap.toFixed(3)})`);
        for (const k of ['left_eye', 'right_eye']) {
          const off = dist(got.landmarks[k], want.landmarks[k]) / iod(want);
          assert.ok(off <= MAX_EYE_IOD, `orientation ${o}: ${k} ${got.landmarks[k]} vs ${want.landmarks[k]} (${(off * 100).toFixed(1)}% IOD)`);
        }
        assert.ok(Math.abs(got.score - want.score) <= 0.02, `orientation ${o}: score ${got.score} vs ${want.score}`);
      }
      const res = await post('/api/hipsterize?format=png', stored);
      assert.equal(res.status, 200);
      assert.deepEqual(imageSize(await res.arrayBuffer()), [w, h], `orientation ${o}: output is upright`);
    }
  });
}

// ---- 4. The CLI and the worker agree -----------------------------------
//
// Native and wasm32 tract agree bit for bit on most photos; on a few an
// int8 rounding step goes the other way (measured on all 36 photos: scores
// ≤ 0.0017 apart, box edges ≤ 2.7 px = 0.5% of the box, eyes ≤ 10.8 px =
// 6.6% IOD on kairess_024, where the small box shift moves the eye crop).
// The CLI built by `cargo test` (the test profile; make test builds it before
// this suite runs). EDGECAT_CLI points at another build, e.g. target/release.
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
