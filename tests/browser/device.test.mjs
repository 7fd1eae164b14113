// On-device mode's core (www/device.js → www/device-worker.js → www/pkg/,
// the browser build of the same pipeline and models) in a real page served
// by the worker: the same cats as /api/detect on the same bytes, the same
// errors, a real JPEG, and detection on a canvas frame; and not one byte of
// it is fetched by the page's first load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE } from '../harness.mjs';
import { imageSize } from '../images.mjs';
import { PHOTOS, detect as apiDetect, post } from '../http/cats.mjs';
import { CAT, DOG, DESKTOP, OVERLAY, launch, openPage } from './browser.mjs';

assert.ok(BASE, 'run me through `node tests/run-http.mjs tests/browser` (EDGECAT_URL)');
const T = { timeout: 180_000 };

// Same Wasm engine, same int8 models, same bytes, two builds (the worker's
// and the browser's, each optimised on its own): measured over every photo
// below, the largest differences were 1e-4 px (box), 4e-5 px (landmark) and
// 3e-8 (score): float rounding. The tolerances allow rounding and nothing
// more (one int8 step of a landmark is far more than half a pixel).
const BOX_TOLERANCE_PX = 0.5;
const LANDMARK_TOLERANCE_PX = 0.5;
const SCORE_TOLERANCE = 1e-4;
// A frame drawn to a canvas is the browser's own JPEG decode (not the core's),
// so its pixels differ by a little; measured: 1.04 px at most on the test photo.
const FRAME_TOLERANCE_PX = 4;

const DEVICE_FILES = (url) => /\/(device\.js|device-worker\.js|pkg\/)/.test(new URL(url).pathname);
const b64 = (file) => fs.readFileSync(file).toString('base64');

let browser;
let page;
let problems;
let requests; // every request the page made since it opened
let loaded; // { loadMs, modelLoadMs }
before(async () => {
  browser = await launch();
  ({ page, problems } = await openPage({ after: () => {} }, browser.context, DESKTOP));
  requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() }));
  await page.goto(`${BASE}/`);
  await page.waitForLoadState('networkidle');
  // The helpers the tests call in the page.
  await page.evaluate(() => {
    window.bytesOf = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    window.failed = (e) => ({ name: e.name, code: e.code, status: e.status, message: e.message });
  });
});
after(async () => { await browser?.close(); });

test('the page\'s first load fetches none of on-device mode', T, () => {
  const fetched = requests.filter((r) => DEVICE_FILES(r.url)).map((r) => r.url);
  assert.deepEqual(fetched, [], 'device.js, its worker and the Wasm wait until on-device mode is asked for');
  assert.ok(requests.length > 0);
});

test('loadDevice() starts the worker, loads the Wasm and its models, once', T, async () => {
  loaded = await page.evaluate(async () => {
    const { deviceSupported, loadDevice } = await import('/device.js');
    if (!deviceSupported()) throw new Error('deviceSupported() is false in Chromium');
    window.device = await loadDevice();
    const again = await loadDevice();
    return { loadMs: window.device.loadMs, modelLoadMs: window.device.modelLoadMs, same: again === window.device };
  });
  assert.ok(loaded.same, 'memoised');
  assert.ok(loaded.loadMs > 0 && loaded.modelLoadMs > 0, JSON.stringify(loaded));
  assert.ok(requests.some((r) => r.url.endsWith('/pkg/edgecat_web_bg.wasm')), 'the Wasm was fetched now');
  console.log(`on-device load: ${loaded.loadMs.toFixed(0)} ms (models ${loaded.modelLoadMs.toFixed(0)} ms)`);
});

const close = (a, b, tol) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

test('device.detect gives the cats /api/detect gives, on every cat photo, with no request carrying the photo', T, async () => {
  const names = fs.readdirSync(PHOTOS).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  assert.ok(names.length >= 10, `${names.length} photos`);
  let worst = { box: 0, landmark: 0, score: 0 };
  let cats = 0;
  for (const name of names) {
    const bytes = fs.readFileSync(path.join(PHOTOS, name));
    const api = await apiDetect(bytes);
    const before = requests.length;
    const dev = await page.evaluate((b) => window.device.detect(window.bytesOf(b)), bytes.toString('base64'));
    assert.deepEqual(requests.slice(before).map((r) => r.url), [], `${name}: on-device detect made no request`);
    assert.deepEqual([dev.width, dev.height], [api.width, api.height], name);
    assert.equal(dev.cats.length, api.cats.length, `${name}: same number of cats`);
    assert.deepEqual(Object.keys(dev.timings_ms).sort(), Object.keys(api.timings_ms).sort(), name);
    dev.cats.forEach((c, i) => {
      const a = api.cats[i];
      worst.score = Math.max(worst.score, Math.abs(c.score - a.score));
      worst.box = Math.max(worst.box, ...c.box.map((v, k) => Math.abs(v - a.box[k])));
      assert.deepEqual(Object.keys(c.landmarks).sort(), Object.keys(a.landmarks).sort(), name);
      for (const [k, p] of Object.entries(c.landmarks)) {
        worst.landmark = Math.max(worst.landmark, ...p.map((v, j) => Math.abs(v - a.landmarks[k][j])));
      }
    });
    cats += dev.cats.length;
  }
  console.log(`device vs API over ${names.length} photos, ${cats} cats: largest difference box ${worst.box} px, landmark ${worst.landmark} px, score ${worst.score}`);
  assert.ok(cats >= names.length / 2, `${cats} cats found in ${names.length} photos`);
  assert.ok(worst.box <= BOX_TOLERANCE_PX, `box differs by ${worst.box} px`);
  assert.ok(worst.landmark <= LANDMARK_TOLERANCE_PX, `landmark differs by ${worst.landmark} px`);
  assert.ok(worst.score <= SCORE_TOLERANCE, `score differs by ${worst.score}`);
});

test('device.hipsterize returns a JPEG (or PNG) of the photo\'s size with the API\'s cat count', T, async () => {
  const bytes = fs.readFileSync(CAT);
  const res = await post('/api/hipsterize', bytes);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const apiCats = Number(res.headers.get('x-cats-found'));
  const { width, height } = await apiDetect(bytes);
  for (const [format, type] of [[undefined, 'image/jpeg'], ['png', 'image/png']]) {
    const before = requests.length;
    const out = await page.evaluate(async ({ b, format }) => {
      const r = await window.device.hipsterize(window.bytesOf(b), { style: 'aviator', format });
      const buf = new Uint8Array(await r.blob.arrayBuffer());
      const bitmap = await createImageBitmap(r.blob); // the browser decodes it
      return { type: r.blob.type, cats: r.cats, timings: r.timings_ms, bytes: Array.from(buf.subarray(0, 64 * 1024)), size: buf.length, decoded: [bitmap.width, bitmap.height] };
    }, { b: bytes.toString('base64'), format });
    assert.deepEqual(requests.slice(before).map((r) => r.url), [], 'no request');
    assert.equal(out.type, type);
    assert.equal(out.cats, apiCats);
    assert.deepEqual(out.decoded, [width, height], 'the browser decodes it, at the photo\'s size');
    const head = Buffer.from(out.bytes);
    assert.ok(format === 'png' ? head.subarray(1, 4).toString() === 'PNG' : head[0] === 0xff && head[1] === 0xd8, type);
    assert.deepEqual(imageSize(head), [width, height]);
    for (const k of ['decode', 'detect', 'landmarks', 'overlay', 'encode', 'total']) assert.ok(out.timings[k] >= 0, k);
  }
});

async function deviceError(call, b) {
  return page.evaluate(async ({ call, b }) => {
    try {
      const [op, arg] = call;
      await window.device[op](window.bytesOf(b), arg);
      return null;
    } catch (e) { return window.failed(e); }
  }, { call, b });
}

async function apiProblem(route, bytes) {
  const res = await post(route, bytes);
  const body = await res.json();
  return { status: res.status, code: body.code };
}

test('device.hipsterize with an overlay of one\'s own gives the API\'s image, byte for byte', T, async () => {
  const [cat, glasses] = [fs.readFileSync(CAT), fs.readFileSync(OVERLAY)];
  const form = new FormData();
  form.append('cat', new Blob([cat], { type: 'image/jpeg' }), 'cat.jpg');
  form.append('glasses', new Blob([glasses], { type: 'image/png' }), 'glasses.png');
  const res = await fetch(`${BASE}/api/hipsterize?format=png`, { method: 'POST', body: form });
  assert.equal(res.status, 200);
  const api = Buffer.from(await res.arrayBuffer());
  const dev = await page.evaluate(async ({ c, g }) => {
    const r = await window.device.hipsterize(window.bytesOf(c), { glasses: new Blob([window.bytesOf(g)]), format: 'png' });
    const buf = new Uint8Array(await r.blob.arrayBuffer());
    let s = '';
    for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    return { b64: btoa(s), cats: r.cats };
  }, { c: cat.toString('base64'), g: glasses.toString('base64') });
  assert.equal(dev.cats, Number(res.headers.get('x-cats-found')));
  const mine = Buffer.from(dev.b64, 'base64');
  assert.deepEqual(imageSize(mine), imageSize(api));
  // Same pixels in, same landmarks to within rounding, same drawing code:
  // the PNGs are expected to match exactly.
  assert.ok(mine.equals(api), `on-device PNG (${mine.length} bytes) differs from the API's (${api.length} bytes)`);
});

test('a dog rejects with no_cat_found, as the API does', T, async () => {
  const dog = fs.readFileSync(DOG);
  const err = await deviceError(['hipsterize', {}], dog.toString('base64'));
  assert.deepEqual(await apiProblem('/api/hipsterize', dog), { status: 422, code: 'no_cat_found' });
  assert.equal(err?.name, 'EdgecatError');
  assert.equal(err.code, 'no_cat_found');
  assert.equal(err.status, 422);
  assert.match(err.message, /No cat face found/);
  // detect answers "no cats" rather than failing, as /api/detect does.
  const found = await page.evaluate((b) => window.device.detect(window.bytesOf(b)), dog.toString('base64'));
  assert.deepEqual(found.cats, (await apiDetect(dog)).cats);
});

test('a file that is not an image, an unknown style and a bad format reject with the API\'s codes', T, async () => {
  const garbage = Buffer.from('this is not a photo at all, just some text in a .jpg file\n'.repeat(20));
  for (const op of ['detect', 'hipsterize']) {
    const api = await apiProblem(`/api/${op}`, garbage);
    const err = await deviceError([op, {}], garbage.toString('base64'));
    assert.equal(err?.name, 'EdgecatError', op);
    assert.deepEqual({ status: err.status, code: err.code }, api, op);
  }
  const cat = fs.readFileSync(CAT);
  const style = await deviceError(['hipsterize', { style: 'monocle' }], cat.toString('base64'));
  const form = new FormData();
  form.append('cat', new Blob([cat], { type: 'image/jpeg' }), 'cat.jpg');
  form.append('style', 'monocle');
  const res = await fetch(`${BASE}/api/hipsterize`, { method: 'POST', body: form });
  const body = await res.json();
  assert.deepEqual({ status: style.status, code: style.code }, { status: res.status, code: body.code });
  // An overlay of one's own that is not an image.
  const overlay = await page.evaluate(async (b) => {
    try { await window.device.hipsterize(window.bytesOf(b), { glasses: new Blob(['not a png']) }); return null; } catch (e) { return window.failed(e); }
  }, cat.toString('base64'));
  const withOverlay = new FormData();
  withOverlay.append('cat', new Blob([cat], { type: 'image/jpeg' }), 'cat.jpg');
  withOverlay.append('glasses', new Blob(['not a png'], { type: 'image/png' }), 'glasses.png');
  const overlayRes = await fetch(`${BASE}/api/hipsterize`, { method: 'POST', body: withOverlay });
  assert.deepEqual({ status: overlay?.status, code: overlay?.code }, { status: overlayRes.status, code: (await overlayRes.json()).code });
  const format = await deviceError(['hipsterize', { format: 'gif' }], cat.toString('base64'));
  const viaApi = await fetch(`${BASE}/api/hipsterize?format=gif`, { method: 'POST', body: cat, headers: { 'content-type': 'image/jpeg' } });
  assert.deepEqual({ status: format.status, code: format.code }, { status: viaApi.status, code: (await viaApi.json()).code });
});

test('detectFrame finds the cat in the RGBA pixels of a cat photo drawn to a canvas, as ImageData and as ImageBitmap', T, async () => {
  const bytes = fs.readFileSync(CAT);
  const api = await apiDetect(bytes);
  assert.ok(api.cats.length >= 1);
  const out = await page.evaluate(async (b) => {
    const bitmap = await createImageBitmap(new Blob([window.bytesOf(b)], { type: 'image/jpeg' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    const frame = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    const fromImageData = await window.device.detectFrame(frame);
    const transferred = frame.data.byteLength === 0;
    const fromBitmap = await window.device.detectFrame(bitmap);
    let bad = null;
    try { await window.device.detectFrame({ data: new Uint8ClampedArray(10), width: 4, height: 4 }); } catch (e) { bad = window.failed(e); }
    return { fromImageData, fromBitmap, transferred, bad };
  }, bytes.toString('base64'));
  assert.ok(out.transferred, 'the ImageData\'s pixels were transferred, not copied');
  for (const found of [out.fromImageData, out.fromBitmap]) {
    assert.equal(found.cats.length, api.cats.length);
    const diffs = found.cats.flatMap((c, i) => [...c.box.map((v, k) => Math.abs(v - api.cats[i].box[k])),
      ...['left_eye', 'right_eye'].flatMap((k) => c.landmarks[k].map((v, j) => Math.abs(v - api.cats[i].landmarks[k][j])))]);
    console.log(`detectFrame vs /api/detect: largest difference ${Math.max(...diffs).toFixed(2)} px`);
    found.cats.forEach((c, i) => {
      assert.ok(close(c.box, api.cats[i].box, FRAME_TOLERANCE_PX), `box ${c.box} vs ${api.cats[i].box}`);
      for (const k of ['left_eye', 'right_eye']) {
        assert.ok(close(c.landmarks[k], api.cats[i].landmarks[k], FRAME_TOLERANCE_PX), `${k} ${c.landmarks[k]} vs ${api.cats[i].landmarks[k]}`);
      }
    });
    assert.ok(found.timings_ms.detect > 0 && found.timings_ms.decode === 0, JSON.stringify(found.timings_ms));
  }
  assert.deepEqual(out.bad && { code: out.bad.code, status: out.bad.status }, { code: 'bad_request', status: 400 });
});

test('no request carried a photo, and the page logged no errors', T, () => {
  const photoPosts = requests.filter((r) => r.method === 'POST' && r.body && r.body.length > 1000);
  assert.deepEqual(photoPosts.map((r) => r.url), [], 'the page itself sent no photo (the API calls above are the test\'s own, from Node)');
  assert.deepEqual(problems, []);
});
