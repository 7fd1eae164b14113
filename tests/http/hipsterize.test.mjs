// Issue 5's "done when" checks on the real photos in ../shared/data/cat-photos,
// end to end under wrangler dev: sunglasses land on the eyes and nowhere else,
// two cats give two pairs, EXIF orientation maps detections back to the
// upright photo. (The native CLI against the worker: cli.test.mjs.)
import fs from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detect, dist, eyes, iod, photo, post } from './cats.mjs';
import { crop, decodeImage, encodeJpeg, imageSize, sideBySide, toStored, withExifOrientation } from '../images.mjs';

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
const CURATED = JSON.parse(fs.readFileSync(new URL('../curated-cats.json', import.meta.url))).photos;
// Clear cats the models miss: run and reported as TODO so they stay
// visible. The detector has found all 19 since session 4 (sessions 2-3
// missed kairess_006, 010, 016 and 020). The landmark model misses one
// cat's eye (issue 25's eye error): kairess_014, mouth wide open, close up,
// gets its left eye on the bridge of its nose, about 0.3 IOD inward of the
// eye by eye (0.47 before session 14's resize, when the small lens there
// happened to fall on light fur and passed).
const KNOWN_MISSES = {
  'kairess_014.jpg': 'the landmark model puts its left eye on the bridge of its nose (issue 25)',
};

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
// and eyes by ≤ 3.7% of the eye distance on these photos read as every
// pixel (kairess_028 is not used: its right eye moves by up to 21% IOD
// between JPEG qualities); a mapping mistake moves them by the size of the
// face. Since session 16 these photos (656-664 px short sides) are read as
// coefficients, the detector seeing them at 1/2, and there re-encoding
// alone (quality 95 against 90, 85 and 80) moves kairess_002's eyes by up
// to 7.9% IOD. Measured on 8 curated cats at 4 sizes each (656-880 px short
// side), that noise is the landmark pass's on either route: above 8% IOD in
// 4 of the 32 cases read as every pixel (at most 26%) and in 5 read as
// coefficients (at most 24%). The bound is kept well under a mapping
// mistake's.
const EXIF_PHOTOS = ['kairess_001.jpg', 'kairess_002.jpg', 'kairess_027.jpg'];
const MIN_IOU = 0.9;
const MAX_EYE_IOD = 0.15;

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
