// The hipsterize pipeline and its API, end to end under wrangler dev, on
// real photos from ../shared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, ROOT, SHARED } from '../harness.mjs';
import { imageSize, pngHeaderOnly } from '../images.mjs';

const read = (rel) => fs.readFileSync(path.join(SHARED, rel));
const CAT = 'data/cat-photos/kairess_001.jpg';
const DOG = 'data/cats-vs-dogs/dog/dog.4003.jpg';
const OVERLAY = 'data/overlays/glup-tutorial_01_shades.png';

async function problem(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = await res.json();
  assert.equal(body.code, code, JSON.stringify(body));
  return body;
}

const post = (route, body, headers = {}) => fetch(`${BASE}${route}`, { method: 'POST', body, headers });
const form = (fields) => {
  const f = new FormData();
  for (const [name, value, type, filename] of fields) {
    if (type) f.append(name, new Blob([value], { type }), filename ?? name);
    else f.append(name, value);
  }
  return f;
};

test('POST /api/warm: models loaded and warm-up passes run at start-up, so it has nothing left to do', async () => {
  const health = await (await fetch(`${BASE}/api/health`)).json();
  assert.equal(health.warmed_up, true, 'the start event ran the warm-up passes');
  const first = await post('/api/warm');
  assert.equal(first.status, 200);
  const body = await first.json();
  assert.equal(body.models_loaded, true);
  assert.equal(body.model_load_ms, 0, 'the isolate loaded them at start-up');
  assert.equal(body.warm_up_ms, 0, 'and ran the warm-up passes');
  assert.match(first.headers.get('server-timing'), /^model_load;dur=[\d.]+, warm_up;dur=[\d.]+$/);
  const res = await post('/api/detect', read(CAT), { 'content-type': 'image/jpeg' });
  assert.equal(res.status, 200);
  assert.doesNotMatch(res.headers.get('server-timing'), /model_load/);
  assert.equal((await fetch(`${BASE}/api/warm`)).status, 405);
});

test('the test-only /api/__load does the start-up work again (models, warm-up) and times it', async () => {
  const res = await post('/api/__load');
  assert.equal(res.status, 200);
  const { model_load_ms: ms, warm_up_ms: warm } = await res.json();
  assert.ok(ms > 0 && ms < 60_000, `model_load_ms ${ms}`);
  assert.ok(warm > 0 && warm < 60_000, `warm_up_ms ${warm}`);
});

test('hipsterize a cat photo (raw JPEG body) → JPEG of the same size, with timings', async () => {
  const input = read(CAT);
  const res = await post('/api/hipsterize', input, { 'content-type': 'image/jpeg' });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('content-type'), 'image/jpeg');
  assert.ok(Number(res.headers.get('x-cats-found')) >= 1);
  const timing = res.headers.get('server-timing');
  for (const stage of ['decode', 'detect', 'landmarks', 'overlay', 'encode', 'total']) {
    assert.match(timing, new RegExp(`${stage};dur=\\d`), timing);
  }
  const out = Buffer.from(await res.arrayBuffer());
  assert.deepEqual(imageSize(out), imageSize(input));
  assert.ok(!out.equals(input));
});

test('?format=png and Accept: image/png give a PNG', async () => {
  const input = read(CAT);
  const a = await post('/api/hipsterize?format=png', input, { 'content-type': 'image/jpeg' });
  assert.equal(a.status, 200);
  assert.equal(a.headers.get('content-type'), 'image/png');
  assert.deepEqual(imageSize(await a.arrayBuffer()), imageSize(input));
  const b = await post('/api/hipsterize', input, { 'content-type': 'image/jpeg', accept: 'image/png' });
  assert.equal(b.headers.get('content-type'), 'image/png');
  await b.arrayBuffer();
  await problem(await post('/api/hipsterize?format=gif', input, { 'content-type': 'image/jpeg' }), 400, 'bad_request');
});

test('detect returns cats with boxes and both eyes inside the photo', async () => {
  const input = read(CAT);
  const res = await post('/api/detect', input, { 'content-type': 'image/jpeg' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const body = await res.json();
  const [w, h] = imageSize(input);
  assert.equal(body.width, w);
  assert.equal(body.height, h);
  assert.ok(body.cats.length >= 1);
  for (let i = 1; i < body.cats.length; i++) assert.ok(body.cats[i - 1].score >= body.cats[i].score);
  for (const cat of body.cats) {
    const [x0, y0, x1, y1] = cat.box;
    assert.ok(0 <= x0 && x0 < x1 && x1 <= w && 0 <= y0 && y0 < y1 && y1 <= h, JSON.stringify(cat.box));
    const { left_eye: l, right_eye: r } = cat.landmarks;
    assert.ok(l[0] < r[0], 'left eye is left of the right eye');
    for (const [x, y] of [l, r]) assert.ok(x >= x0 - 5 && x <= x1 + 5 && y >= y0 - 5 && y <= y1 + 5);
  }
  for (const k of ['decode', 'detect', 'landmarks', 'total']) assert.equal(typeof body.timings_ms[k], 'number');
});

test('a dog: detect says no cats, hipsterize says no_cat_found', async () => {
  const dog = read(DOG);
  const res = await post('/api/detect', dog, { 'content-type': 'image/jpeg' });
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).cats, []);
  await problem(await post('/api/hipsterize', dog, { 'content-type': 'image/jpeg' }), 422, 'no_cat_found');
});

test('text sent as image/jpeg is 422 bad_image', async () => {
  await problem(await post('/api/detect', 'definitely not a jpeg', { 'content-type': 'image/jpeg' }), 422, 'bad_image');
});

test('a PNG declaring 60000×60000 is refused before decoding: 413 image_too_large', async () => {
  await problem(await post('/api/detect', pngHeaderOnly(60000, 60000), { 'content-type': 'image/png' }), 413, 'image_too_large');
});

test('multipart: cat + style, own overlay, and the tutorial two-file form', async () => {
  const cat = read(CAT);
  const styled = await post('/api/hipsterize', form([['cat', cat, 'image/jpeg'], ['style', 'aviator']]));
  assert.equal(styled.status, 200);
  const aviator = Buffer.from(await styled.arrayBuffer());
  const classic = Buffer.from(await (await post('/api/hipsterize', form([['image', cat, 'image/jpeg']]))).arrayBuffer());
  assert.ok(!aviator.equals(classic), 'style changes the result');

  const own = await post('/api/hipsterize', form([['cat', cat, 'image/jpeg'], ['glasses', read(OVERLAY), 'image/png']]));
  assert.equal(own.status, 200);
  const ownBytes = Buffer.from(await own.arrayBuffer());
  assert.ok(!ownBytes.equals(classic), 'uploaded overlay is used');

  // The tutorial's Function app: two files, other names, overlay first.
  const two = await post('/api/hipsterize', form([['file1', read(OVERLAY), 'image/png'], ['file2', cat, 'image/jpeg']]));
  assert.equal(two.status, 200);
  assert.deepEqual(Buffer.from(await two.arrayBuffer()), ownBytes);

  await problem(await post('/api/hipsterize', form([['cat', cat, 'image/jpeg'], ['style', 'monocle']])), 400, 'bad_request');
  await problem(await post('/api/hipsterize', form([['cat', cat, 'image/jpeg'], ['glasses', 'not a png', 'image/png']])), 422, 'bad_overlay');
  await problem(await post('/api/hipsterize', form([['cat', 'meow']])), 400, 'missing_field');
});

test('EXIF orientation is applied: coordinates are in the upright image', async () => {
  const rotated = fs.readFileSync(path.join(ROOT, 'tests/fixtures/cat-exif-orientation-6.jpg'));
  const [rawW, rawH] = imageSize(rotated);
  const res = await post('/api/detect', rotated, { 'content-type': 'image/jpeg' });
  const body = await res.json();
  assert.equal(body.width, rawH);
  assert.equal(body.height, rawW);
  assert.ok(body.cats.length >= 1, 'the upright cat is found');
  const out = await post('/api/hipsterize', rotated, { 'content-type': 'image/jpeg' });
  assert.deepEqual(imageSize(await out.arrayBuffer()), [rawH, rawW]);
});

test('GET /api/models lists both models with the model card figures', async () => {
  const body = await (await fetch(`${BASE}/api/models`)).json();
  assert.deepEqual(body.models.map((m) => m.name), ['detector', 'landmarks']);
  const total = body.models.reduce((s, m) => s + m.bytes, 0);
  assert.ok(total <= 600 * 1024, `models total ${total} bytes`);
  assert.equal(typeof body.metrics.face_recall_iou50, 'number');
  assert.equal(typeof body.metrics.eye_error_iod_mean, 'number');
});
