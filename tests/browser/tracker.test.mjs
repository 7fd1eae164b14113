// Live mode's eye tracking between detector passes (www/live.js's
// EyeTracker, pure code: run here in node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../harness.mjs';

// Imported from its text: www/ has no package.json saying it holds ES
// modules (it is served as is), and node would warn about guessing.
const source = fs.readFileSync(path.join(ROOT, 'www', 'live.js'), 'utf8');
const { EyeTracker } = await import(`data:text/javascript,${encodeURIComponent(source)}`);

const cat = (lx, ly, rx, ry) => ({ landmarks: { left_eye: [lx, ly], right_eye: [rx, ry] } });
const close = (got, want, tol, what) => assert.ok(Math.hypot(got[0] - want[0], got[1] - want[1]) <= tol, `${what}: ${got} vs ${want}`);

test('a still cat keeps its glasses where the detector put them', () => {
  const t = new EyeTracker();
  t.update([cat(100, 100, 160, 100)], 0);
  t.update([cat(100, 100, 160, 100)], 100);
  const [eyes] = t.at(180);
  close(eyes.left, [100, 100], 0.01, 'left');
  close(eyes.right, [160, 100], 0.01, 'right');
});

test('between passes, a moving cat\'s eyes move on with its velocity, and no further than 80 ms ahead', () => {
  const t = new EyeTracker();
  // Moving right at 0.5 px/ms, seen every 100 ms (a slow detector).
  for (let ms = 0; ms <= 400; ms += 100) t.update([cat(100 + ms / 2, 100, 160 + ms / 2, 100)], ms);
  const [at450] = t.at(450);
  assert.ok(at450.left[0] > 300 + 10, `extrapolated forward: ${at450.left[0]}`);
  close(at450.left, [325, 100], 12, 'left at 450 ms');
  const [at900] = t.at(690); // 290 ms after the last pass
  assert.ok(at900.left[0] <= 300 + 0.5 * 80 + 12, `capped at 80 ms ahead: ${at900.left[0]}`);
});

test('two cats keep their own tracks; a cat gone for long loses its glasses', () => {
  const t = new EyeTracker();
  t.update([cat(100, 100, 150, 100), cat(400, 300, 450, 300)], 0);
  t.update([cat(402, 300, 452, 300), cat(101, 100, 151, 100)], 100);
  const eyes = t.at(100).sort((a, b) => a.left[0] - b.left[0]);
  assert.equal(eyes.length, 2);
  close(eyes[0].left, [101, 100], 2, 'first cat');
  close(eyes[1].left, [402, 300], 2, 'second cat');
  // One missed pass: still drawn. Long gone: not drawn.
  t.update([cat(101, 100, 151, 100)], 200);
  assert.equal(t.at(200).length, 2);
  t.update([cat(101, 100, 151, 100)], 900);
  assert.equal(t.at(900).length, 1);
});

test('a slow detector: glasses stay on between passes a second apart, and go after two missed passes', () => {
  const t = new EyeTracker();
  t.update([cat(100, 100, 160, 100)], 0);
  t.update([cat(100, 100, 160, 100)], 1000);
  // The next pass (of the frame at 2000 ms) has not reported yet.
  assert.equal(t.at(1900).length, 1, 'drawn while the next pass is working');
  t.update([], 2000);
  assert.equal(t.at(2900).length, 1, 'one missed pass: still drawn');
  t.update([], 3000);
  assert.equal(t.at(3000).length, 0, 'missed twice, over a second: gone');
});

test('a fast detector: a few quick misses do not blink the glasses', () => {
  const t = new EyeTracker();
  t.update([cat(100, 100, 160, 100)], 0);
  for (let ms = 33; ms < 700; ms += 33) {
    t.update([], ms);
    assert.equal(t.at(ms).length, 1, `missed ${Math.round(ms / 33)} passes over ${ms} ms`);
  }
  t.update([], 720);
  assert.equal(t.at(720).length, 0, 'missed for longer than 700 ms: gone');
});
