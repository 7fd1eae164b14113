// Live camera mode on Chromium's fake camera, which plays a .y4m made here
// from a real cat photo: the view draws every frame with sunglasses at the
// cat's eyes (checked against /api/detect on the same frame, and in the
// view's pixels), shows its frame rate, stops, saves a snapshot; and a
// missing or refused camera gives a sentence, not a broken view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, SHARED } from '../harness.mjs';
import { imageSize } from '../images.mjs';
import { DESKTOP, launch, openPage, screenshot, tid } from './browser.mjs';
import { FRAME, fakeCameraArgs, frameIndex, makeFakeCamera, makeMovingCamera } from './camera.mjs';

assert.ok(BASE, 'run me through `node tests/run-http.mjs tests/browser` (EDGECAT_URL)');
const T = { timeout: 180_000 };
// One cat, facing the camera, with light fur around the eyes (so dark lenses show).
const PHOTO = path.join(SHARED, 'data', 'cat-photos', 'kairess_005.jpg');

let camera;
let browser; // with the fake camera
let plain; // without any camera flags
before(async () => {
  camera = await makeFakeCamera([PHOTO], { repeat: 10 });
  browser = await launch({ args: fakeCameraArgs(camera.file) });
  plain = await launch();
});
after(async () => {
  await browser?.close();
  await plain?.close();
  camera?.remove();
});

/** Mean luma of a box (half sizes hw, hh) around (x, y) in RGBA pixels of FRAME size. */
function luma(rgba, [x, y], hw, hh) {
  let sum = 0;
  let n = 0;
  for (let j = Math.round(y - hh); j <= Math.round(y + hh); j++) {
    for (let i = Math.round(x - hw); i <= Math.round(x + hw); i++) {
      if (i < 0 || j < 0 || i >= FRAME.width || j >= FRAME.height) continue;
      const p = (j * FRAME.width + i) * 4;
      sum += 0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2];
      n++;
    }
  }
  return sum / n;
}

test('live: sunglasses drawn at the cat\'s eyes on the camera\'s frames, with a frame rate', T, async (t) => {
  const [frame] = camera.frames;
  // Where the edge finds the eyes on this very frame.
  const res = await fetch(`${BASE}/api/detect`, { method: 'POST', body: frame.png, headers: { 'content-type': 'image/png' } });
  assert.equal(res.status, 200);
  const api = await res.json();
  assert.equal(api.cats.length, 1, 'the test photo has one cat');
  const { left_eye: L, right_eye: R } = api.cats[0].landmarks;
  const d = Math.hypot(R[0] - L[0], R[1] - L[1]);

  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  const requests = [];
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  await page.click(tid('live-start'));
  // Glasses on, on frames drawn after the detector's first answers.
  await page.waitForFunction(() => {
    const c = document.querySelector('[data-testid="live-view"]');
    return JSON.parse(c.dataset.eyes || '[]').length > 0 && Number(c.dataset.frames) > 30
      && Number(document.querySelector('[data-testid="live-fps"]').textContent) > 0;
  }, null, { timeout: 120_000 });
  await screenshot(page, 'live-desktop');

  // One synchronous read: the pixels the view shows and the eyes drawn on them.
  const shown = await page.evaluate(() => {
    const c = document.querySelector('[data-testid="live-view"]');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < px.length; i += 0x8000) s += String.fromCharCode(...px.subarray(i, i + 0x8000));
    return { size: [c.width, c.height], eyes: JSON.parse(c.dataset.eyes), rgba: btoa(s) };
  });
  assert.deepEqual(shown.size, [FRAME.width, FRAME.height]);
  assert.equal(shown.eyes.length, 1, 'one pair of glasses for one cat');
  const [lx, ly, rx, ry] = shown.eyes[0];
  for (const [name, got, want] of [['left', [lx, ly], L], ['right', [rx, ry], R]]) {
    const off = Math.hypot(got[0] - want[0], got[1] - want[1]);
    assert.ok(off <= 0.2 * d, `${name} eye drawn at ${got}, the edge finds it at ${want.map(Math.round)} (eye distance ${d.toFixed(0)})`);
  }
  const view = Buffer.from(shown.rgba, 'base64');
  for (const eye of [L, R]) {
    // Inside a lens (its half sizes are ~0.4 d × 0.22 d at this scale).
    const before = luma(frame.rgba, eye, 0.25 * d, 0.12 * d);
    const after = luma(view, eye, 0.25 * d, 0.12 * d);
    assert.ok(after < 70 && after < before - 40, `dark lens over the eye at ${eye.map(Math.round)}: luma ${after.toFixed(0)} in the view, ${before.toFixed(0)} in the photo`);
  }
  // Away from the cat the view is the camera's picture (4:2:0 and back, so roughly).
  for (const spot of [[30, 30], [FRAME.width - 30, FRAME.height - 30]]) {
    const a = luma(frame.rgba, spot, 12, 12);
    const b = luma(view, spot, 12, 12);
    assert.ok(Math.abs(a - b) < 16, `the camera frame is drawn at ${spot}: luma ${b.toFixed(0)} vs ${a.toFixed(0)}`);
  }

  const fps = Number(await page.textContent(tid('live-fps')));
  assert.ok(fps > 0, `live-fps shows a positive number: ${fps}`);
  assert.match(await page.textContent(tid('live-fps')), /^\d+(\.\d+)?$/, 'a plain number');
  assert.ok(Number(await page.textContent(tid('live-passes'))) > 0, 'the detector is running');
  // One fake camera: switching is off, and the page says why.
  assert.ok(await page.isDisabled(tid('live-switch')));
  assert.match(await page.textContent(tid('live-switch-why')), /only one camera/);

  // Snapshot: a JPEG of what the view shows.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('live-snapshot'))]);
  assert.match(download.suggestedFilename(), /^edgecat-live-.*\.jpg$/);
  const snap = fs.readFileSync(await download.path());
  assert.deepEqual([...snap.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  assert.deepEqual(imageSize(snap), [FRAME.width, FRAME.height]);

  // No camera frame left the page: nothing but fetches of the page's own code and assets.
  assert.ok(requests.every((r) => r.startsWith('GET ')), `requests: ${requests.join(', ')}`);

  await page.click(tid('live-stop'));
  assert.ok(await page.isHidden(tid('live-view')), 'stopping hides the view');
  assert.ok(await page.isEnabled(tid('live-start')));
  assert.equal(await page.evaluate(() => document.querySelector('[data-testid="live-error"]').textContent), '');
  assert.deepEqual(problems, []);
});

test('live: the glasses follow a cat that moves, frame by frame', T, async (t) => {
  // The photo sways 48 px left and right over 3 s (slow enough that a loaded
  // machine's slower detector still keeps up); each frame carries its index.
  const moving = await makeMovingCamera(PHOTO, { amplitude: 48, period: 90 });
  t.after(() => moving.remove());
  const res = await fetch(`${BASE}/api/detect`, { method: 'POST', body: moving.base.png, headers: { 'content-type': 'image/png' } });
  const { cats: [cat] } = await res.json();
  const { left_eye: L, right_eye: R } = cat.landmarks;
  const d = Math.hypot(R[0] - L[0], R[1] - L[1]);

  const cam = await launch({ args: fakeCameraArgs(moving.file) });
  t.after(() => cam.close());
  const { page, problems } = await openPage(t, cam.context, DESKTOP);
  await page.goto(`${BASE}/`);
  await page.click(tid('live-start'));
  await page.waitForFunction(() => JSON.parse(document.querySelector('[data-testid="live-view"]').dataset.eyes || '[]').length > 0, null, { timeout: 120_000 });
  // Samples of what the view shows: which frame, and where it drew the left eye.
  const samples = [];
  for (let i = 0; i < 40; i++) {
    await page.waitForTimeout(75);
    const s = await page.evaluate(() => {
      const c = document.querySelector('[data-testid="live-view"]');
      const strip = c.getContext('2d').getImageData(0, 0, c.width, 24).data;
      let text = '';
      for (let i = 0; i < strip.length; i += 0x8000) text += String.fromCharCode(...strip.subarray(i, i + 0x8000));
      return { strip: btoa(text), eyes: JSON.parse(c.dataset.eyes || '[]') };
    });
    if (s.eyes.length !== 1) continue;
    const k = frameIndex(Buffer.from(s.strip, 'base64'), FRAME.width);
    assert.ok(k < moving.shifts.length, `frame index ${k}`);
    const truth = [L[0] + moving.shifts[k], L[1]];
    samples.push({ k, x: s.eyes[0][0], err: Math.hypot(s.eyes[0][0] - truth[0], s.eyes[0][1] - truth[1]) });
  }
  assert.ok(samples.length >= 30, `glasses on in ${samples.length} of 40 samples`);
  const errs = samples.map((s) => s.err).sort((a, b) => a - b);
  const median = errs[Math.floor(errs.length / 2)];
  const xs = samples.map((s) => s.x);
  // The glasses move with the cat (the sway is 96 px wide) and stay on its eyes.
  assert.ok(Math.max(...xs) - Math.min(...xs) > 48, `the glasses moved ${(Math.max(...xs) - Math.min(...xs)).toFixed(0)} px`);
  // Glasses left at the sway's centre would be ~34 px off (0.26 d) at the median.
  assert.ok(median <= 0.15 * d, `median distance from the true eye ${median.toFixed(1)} px (eye distance ${d.toFixed(0)})`);
  console.log(`moving cat: left eye drawn ${median.toFixed(1)} px (median) / ${errs.at(-1).toFixed(1)} px (worst) from where it is in the frame shown; eye distance ${d.toFixed(0)} px`);
  assert.deepEqual(problems, []);
});

test('live: with two cameras, "Switch camera" moves to the other one and the view goes on', T, async (t) => {
  // Chromium's two synthetic fake cameras (no file: a moving test pattern).
  const two = await launch({ args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream=device-count=2'] });
  t.after(() => two.close());
  const { page, problems } = await openPage(t, two.context, DESKTOP);
  await page.goto(`${BASE}/`);
  await page.click(tid('live-start'));
  await page.waitForFunction(() => /^Live from “/.test(document.querySelector('[data-testid="live-status"]').textContent)
    && Number(document.querySelector('[data-testid="live-passes"]').textContent) > 0, null, { timeout: 120_000 });
  assert.ok(await page.isEnabled(tid('live-switch')), 'two cameras: switching is on');
  assert.equal(await page.textContent(tid('live-switch-why')), '');
  const camera = async () => (await page.textContent(tid('live-status'))).match(/^Live from “(.*)”/)[1];
  const first = await camera();
  const frames = Number(await page.getAttribute(tid('live-view'), 'data-frames'));
  await page.click(tid('live-switch'));
  await page.waitForFunction((was) => {
    const m = document.querySelector('[data-testid="live-status"]').textContent.match(/^Live from “(.*)”/);
    return m && m[1] !== was;
  }, first);
  const second = await camera();
  assert.notEqual(second, first);
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="live-view"]').dataset.frames) > n + 10, frames);
  await page.click(tid('live-switch'));
  await page.waitForFunction((was) => (document.querySelector('[data-testid="live-status"]').textContent.match(/^Live from “(.*)”/) || [])[1] === was, first);
  assert.equal(await page.textContent(tid('live-error')), '');
  assert.deepEqual(problems, []);
});

test('live: when the on-device models cannot be fetched, a sentence, not a broken view', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.route('**/pkg/**', (route) => route.abort('connectionrefused'));
  await page.goto(`${BASE}/`);
  await page.click(tid('live-start'));
  await page.waitForFunction(() => document.querySelector('[data-testid="live-error"]').textContent.trim(), null, { timeout: 120_000 });
  assert.match(await page.textContent(tid('live-error')), /^Live mode could not load the on-device models it runs on\. Check your connection/);
  assert.ok(await page.isHidden(tid('live-view')));
  assert.ok(await page.isEnabled(tid('live-start')), 'can try again');
  assert.deepEqual(problems, []);
});

const START_SENTENCE = /^(The camera was not allowed|No camera was found|The camera could not be started|This browser cannot open a camera)/;

for (const [name, error, sentence] of [
  ['permission denied', 'NotAllowedError', /^The camera was not allowed, so live mode cannot start\. Allow this page to use the camera/],
  ['no camera', 'NotFoundError', /^No camera was found on this device, so live mode cannot start\./],
]) {
  test(`live: ${name} gives a sentence, not a broken view`, T, async (t) => {
    const { page, problems } = await openPage(t, plain.context, DESKTOP);
    await page.addInitScript((err) => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('refused', err));
    }, error);
    await page.goto(`${BASE}/`);
    await page.click(tid('live-start'));
    await page.waitForFunction(() => document.querySelector('[data-testid="live-error"]').textContent.trim());
    await screenshot(page, `live-${error}-desktop`);
    assert.match(await page.textContent(tid('live-error')), sentence);
    assert.ok(await page.isVisible(tid('live-error')));
    assert.ok(await page.isHidden(tid('live-view')), 'no empty view');
    assert.ok(await page.isEnabled(tid('live-start')), 'can try again');
    assert.ok(await page.isDisabled(tid('live-snapshot')));
    assert.deepEqual(problems, []);
  });
}

test('live: a browser without camera access gives a sentence', T, async (t) => {
  const { page, problems } = await openPage(t, plain.context, DESKTOP);
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'mediaDevices', { get: () => undefined, configurable: true });
  });
  await page.goto(`${BASE}/`);
  await page.click(tid('live-start'));
  await page.waitForFunction(() => document.querySelector('[data-testid="live-error"]').textContent.trim());
  assert.match(await page.textContent(tid('live-error')), /^This browser cannot open a camera from this page/);
  assert.ok(await page.isHidden(tid('live-view')));
  assert.deepEqual(problems, []);
});

test('live: headless Chromium with no camera and no permission gives a sentence', T, async (t) => {
  const { page, problems } = await openPage(t, plain.context, DESKTOP);
  await page.goto(`${BASE}/`);
  await page.click(tid('live-start'));
  await page.waitForFunction(() => document.querySelector('[data-testid="live-error"]').textContent.trim(), null, { timeout: 60_000 });
  assert.match(await page.textContent(tid('live-error')), START_SENTENCE);
  assert.ok(await page.isHidden(tid('live-view')));
  assert.deepEqual(problems, []);
});
