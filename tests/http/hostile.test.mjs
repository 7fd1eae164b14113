// The hostile-input catalogue: broken, huge, odd and malicious requests, each
// answered with the exact status and `code` the API contract (README) gives,
// and after each one the worker still answers /api/health. Fixtures are from
// scripts/make_fixtures.py (tests/fixtures/hostile) or built here. A flood
// (429 rate_limited) is in ratelimit.test.mjs, stalled and trickled uploads
// (408 request_timeout) and bursts that do not fit (503 busy) are in
// reliability.test.mjs, each on a worker of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { BASE, DIRECT, ROOT, SHARED } from '../harness.mjs';
import { imageSize, pngHeaderOnly } from '../images.mjs';

const fixture = (name) => fs.readFileSync(path.join(ROOT, 'tests/fixtures/hostile', name));
// The fuzz seeds: 12×8 images of every accepted format (also from
// scripts/make_fixtures.py), lossy and lossless WebP and a BMP among them.
const seed = (name) => fs.readFileSync(path.join(ROOT, 'fuzz/seeds/decode', name));
const CAT = fs.readFileSync(path.join(SHARED, 'data/cat-photos/kairess_001.jpg'));
const MB = 1000 * 1000;
// Planted in bodies: an error answer must never contain it (no echo).
// Lower case, as some values are lower-cased before being reported.
const MARKER = 'echo-canary-7f3a9c';

/** Asserts a problem+json answer and returns its body. */
async function problem(res, status, code) {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text.slice(0, 300)}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const body = JSON.parse(text);
  assert.equal(body.code, code, text);
  assert.equal(body.status, status);
  assert.ok(!text.includes(MARKER), `the error echoes uploaded bytes: ${text.slice(0, 300)}`);
  return body;
}

/** Asserts a 200 /api/detect answer of the given upright size. */
async function detected(res, width, height) {
  const text = await res.text();
  assert.equal(res.status, 200, text.slice(0, 300));
  const body = JSON.parse(text);
  assert.equal(body.width, width);
  assert.equal(body.height, height);
  assert.ok(Array.isArray(body.cats));
  return body;
}

const post = (route, body, headers = {}) => fetch(`${BASE}${route}`, { method: 'POST', body, headers });
const form = (fields) => {
  const f = new FormData();
  for (const [name, value, type] of fields) {
    if (type) f.append(name, new Blob([value], { type }), `${name}.bin`);
    else f.append(name, value);
  }
  return f;
};

/**
 * A request over node:http, which (unlike fetch) still reads an answer the
 * server sends before the upload is complete. `chunks` are written in turn,
 * `pause()` awaited between them; without a content-length header the body
 * is chunked. `abortAfter` chunks, the socket is destroyed instead. With
 * `hold`, the body is never ended: the answer must come from what was sent.
 * (A server that answers before reading all that was sent closes with a
 * reset, which can lose its answer; held bodies leave nothing unread.)
 */
function rawRequest(route, { method = 'POST', headers = {}, chunks = [], pause, abortAfter, hold = false, direct = false } = {}) {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(`${direct ? DIRECT : BASE}${route}`, { method, headers, agent: false });
    req.on('response', (res) => {
      answered = true;
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        // Answered early: drop the rest of the upload rather than leave a
        // half-sent request open on the server.
        req.destroy();
        resolve({ status: res.statusCode, headers: new Headers(res.headers), text: async () => text });
      });
    });
    // An early answer may be followed by a reset while we still write.
    req.on('error', (e) => { if (!answered) reject(e); });
    req.on('close', () => { if (!answered && !aborted) reject(new Error('connection closed without an answer')); });
    let aborted = false;
    (async () => {
      for (let i = 0; i < chunks.length && !answered; i++) {
        if (i === abortAfter) { aborted = true; req.destroy(); resolve(null); return; }
        const ok = req.write(chunks[i]);
        // 'close' too: an answered request is destroyed and never drains.
        if (!ok) await new Promise((r) => { req.once('drain', r); req.once('close', r); });
        if (pause) await pause(i);
      }
      if (!req.destroyed && !hold) req.end();
    })().catch(reject);
  });
}

/** `count` chunks of `size` zero bytes (one buffer, written `count` times). */
function zeros(count, size) {
  return new Array(count).fill(Buffer.alloc(size));
}

// A Worker isolate has 128 MB; wrangler dev does not enforce it, so every
// case checks the Wasm heap itself (linear memory only grows: this is the
// peak so far).
const ISOLATE_LIMIT = 128 * 1024 * 1024;

async function healthy() {
  const res = await fetch(`${BASE}/api/health`);
  assert.equal(res.status, 200, 'the worker still answers /api/health');
  const body = await res.json();
  assert.equal(body.status, 'ok');
  assert.ok(body.wasm_memory_bytes <= ISOLATE_LIMIT, `the Wasm heap reached ${(body.wasm_memory_bytes / 1048576).toFixed(1)} MiB`);
}

/**
 * One catalogue case: its own test, then the worker must still be healthy.
 * The timeout only turns a hang into a failure; nothing asserts speed.
 */
function hostile(name, run) {
  test(name, { timeout: 120_000 }, async () => {
    await run();
    await healthy();
  });
}

// --- images built here ---------------------------------------------------

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A real, complete 1-bit grey PNG of width×height (all black, tiny). */
function blackPng1Bit(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const row = 1 + Math.ceil(width / 8); // filter byte + packed bits
  const idat = zlib.deflateSync(Buffer.alloc(row * height), { level: 9 });
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A JPEG whose frame header (SOF) claims width×height. */
function jpegClaiming(jpeg, width, height) {
  const b = Buffer.from(jpeg);
  for (let i = 2; i < b.length;) {
    const marker = b[i + 1];
    if (marker >= 0xc0 && marker <= 0xc2) {
      b.writeUInt16BE(height, i + 5);
      b.writeUInt16BE(width, i + 7);
      return b;
    }
    i += 2 + b.readUInt16BE(i + 2);
  }
  throw new Error('no SOF');
}

/** The offset of a JPEG's first scan (SOS) header. */
function jpegScanOffset(jpeg) {
  for (let i = 2; i < jpeg.length;) {
    if (jpeg[i + 1] === 0xda) return i;
    i += 2 + jpeg.readUInt16BE(i + 2);
  }
  throw new Error('no SOS');
}

/** A one-frame GIF whose logical screen and frame claim width×height. */
function gifClaiming(width, height) {
  const b = Buffer.alloc(32);
  b.write('GIF89a', 0, 'latin1');
  b.writeUInt16LE(width, 6);
  b.writeUInt16LE(height, 8);
  // no global colour table; image descriptor at 13
  b[13] = 0x2c;
  b.writeUInt16LE(width, 18);
  b.writeUInt16LE(height, 20);
  b[22] = 0;
  b[23] = 2; // LZW minimum code size
  b[24] = 2; b[25] = 0x4c; b[26] = 0x01; // one sub-block
  b[27] = 0; // block terminator
  b[28] = 0x3b; // trailer
  return b.subarray(0, 29);
}

/** A BMP header (BITMAPINFOHEADER, 24-bit) claiming width×height, no pixels. */
function bmpClaiming(width, height) {
  const b = Buffer.alloc(54);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(0, 2); // file size: may be 0
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}

/** A lossless WebP (Pillow's 1×1) whose header claims width×height (≤ 16384). */
function webpClaiming(width, height) {
  const b = Buffer.from('524946461a000000574542505650384c0e0000002f00000000071011fd0f4444ff03', 'hex');
  // After the 0x2f signature: 14 bits width-1, 14 bits height-1, alpha, version.
  b.writeUInt32LE(((width - 1) | ((height - 1) << 14)) >>> 0, 21);
  return b;
}

// --- bodies and content types -------------------------------------------

hostile('empty raw body → 400 bad_request', async () => {
  await problem(await post('/api/detect', new Uint8Array(0), { 'content-type': 'image/jpeg' }), 400, 'bad_request');
});

hostile('empty multipart body → 400 bad_request', async () => {
  await problem(await post('/api/hipsterize', '', { 'content-type': 'multipart/form-data; boundary=xyz' }), 400, 'bad_request');
});

hostile('missing Content-Type on a real JPEG → 415 unsupported_media_type', async () => {
  await problem(await post('/api/detect', new Uint8Array(CAT)), 415, 'unsupported_media_type');
});

hostile('JSON body as application/json → 415 unsupported_media_type', async () => {
  const res = await post('/api/hipsterize', JSON.stringify({ image: MARKER }), { 'content-type': 'application/json' });
  await problem(res, 415, 'unsupported_media_type');
});

hostile('a real JPEG labelled text/plain → 415 unsupported_media_type', async () => {
  await problem(await post('/api/detect', CAT, { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
});

hostile('bare "image/" Content-Type → 415 unsupported_media_type', async () => {
  await problem(await post('/api/detect', CAT, { 'content-type': 'image/' }), 415, 'unsupported_media_type');
});

hostile('multipart without a boundary → 400 bad_request', async () => {
  await problem(await post('/api/detect', CAT, { 'content-type': 'multipart/form-data' }), 400, 'bad_request');
});

hostile('multipart whose body never uses its boundary → 400 bad_request', async () => {
  const res = await post('/api/detect', `${MARKER}\r\n${MARKER}`, { 'content-type': 'multipart/form-data; boundary=nowhere' });
  await problem(res, 400, 'bad_request');
});

hostile('text claiming image/jpeg → 422 bad_image, not echoed', async () => {
  await problem(await post('/api/detect', `hello ${MARKER} I am text`, { 'content-type': 'image/jpeg' }), 422, 'bad_image');
});

hostile('an SVG with a script → 422 bad_image, not echoed', async () => {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg"><script>alert("${MARKER}")</script></svg>`;
  await problem(await post('/api/hipsterize', svg, { 'content-type': 'image/svg+xml' }), 422, 'bad_image');
});

// --- truncated and lying images -----------------------------------------

// A file that ends before its image data does (an interrupted upload) is
// refused, never decoded as if whole (some decoders fill in the rest).
async function truncated(res, code = 'bad_image') {
  const body = await problem(res, 422, code);
  assert.match(body.detail, /truncated/);
  return body;
}

hostile('JPEG truncated inside its headers → 422 bad_image, truncated', async () => {
  const cut = CAT.subarray(0, jpegScanOffset(CAT) - 10);
  await truncated(await post('/api/detect', cut, { 'content-type': 'image/jpeg' }));
});

// It used to decode as far as it went, the rest grey, and be answered 200.
hostile('JPEG truncated inside its scan → 422 bad_image, truncated (not decoded as if whole)', async () => {
  const cut = CAT.subarray(0, jpegScanOffset(CAT) + (CAT.length - jpegScanOffset(CAT)) / 2);
  const body = await truncated(await post('/api/detect', cut, { 'content-type': 'image/jpeg' }));
  assert.match(body.detail, /before its end-of-image marker/);
});

hostile('JPEG cut just before its end-of-image marker → 422 bad_image, truncated', async () => {
  assert.deepEqual([...CAT.subarray(-2)], [0xff, 0xd9], 'the photo ends with its EOI');
  await truncated(await post('/api/detect', CAT.subarray(0, CAT.length - 2), { 'content-type': 'image/jpeg' }));
});

hostile('JPEG with 100 bytes after its end-of-image marker → 200 (cameras append data)', async () => {
  const trailing = Buffer.concat([CAT, Buffer.alloc(100, 0xa5)]);
  const [w, h] = imageSize(CAT);
  await detected(await post('/api/detect', trailing, { 'content-type': 'image/jpeg' }), w, h);
});

hostile('PNG truncated in its pixel data → 422 bad_image, truncated', async () => {
  const png = fixture('rgb16.png');
  await truncated(await post('/api/detect', png.subarray(0, png.length / 2), { 'content-type': 'image/png' }));
});

hostile('PNG cut before its IEND chunk → 422 bad_image, truncated', async () => {
  const png = fixture('rgb16.png');
  await truncated(await post('/api/detect', png.subarray(0, png.length - 12), { 'content-type': 'image/png' }));
});

hostile('PNG signature only → 422 bad_image, truncated', async () => {
  await truncated(await post('/api/detect', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), { 'content-type': 'image/png' }));
});

hostile('GIF truncated in its frames, or before its trailer → 422 bad_image, truncated', async () => {
  const gif = fixture('animated.gif');
  assert.equal(gif.at(-1), 0x3b, 'the GIF ends with its trailer');
  for (const cut of [gif.length / 2, gif.length - 1]) {
    await truncated(await post('/api/detect', gif.subarray(0, cut), { 'content-type': 'image/gif' }));
  }
});

for (const name of ['tiny.webp', 'tiny-lossless.webp', 'tiny.bmp']) {
  const type = name.endsWith('.bmp') ? 'image/bmp' : 'image/webp';
  hostile(`${name} whole → 200; truncated in its image data → 422 bad_image, truncated`, async () => {
    const file = seed(name);
    await detected(await post('/api/detect', file, { 'content-type': type }), 12, 8);
    for (const cut of [Math.floor(file.length / 2), file.length - 1]) {
      await truncated(await post('/api/detect', file.subarray(0, cut), { 'content-type': type }));
    }
  });
}

hostile('a truncated overlay PNG → 422 bad_overlay, truncated', async () => {
  const overlay = fs.readFileSync(path.join(SHARED, 'data/overlays/glup-tutorial_01_shades.png'));
  const cut = overlay.subarray(0, overlay.length / 2);
  const res = await post('/api/hipsterize', form([['cat', CAT, 'image/jpeg'], ['glasses', cut, 'image/png']]));
  await truncated(res, 'bad_overlay');
});

hostile('PNG declaring 60,000×60,000 (decompression bomb) → 413 image_too_large', async () => {
  await problem(await post('/api/detect', pngHeaderOnly(60000, 60000), { 'content-type': 'image/png' }), 413, 'image_too_large');
});

hostile('JPEG declaring 65,000×65,000 → 413 image_too_large', async () => {
  await problem(await post('/api/detect', jpegClaiming(CAT, 65000, 65000), { 'content-type': 'image/jpeg' }), 413, 'image_too_large');
});

hostile('GIF declaring 65,535×65,535 → 413 image_too_large', async () => {
  await problem(await post('/api/detect', gifClaiming(65535, 65535), { 'content-type': 'image/gif' }), 413, 'image_too_large');
});

hostile('BMP declaring 60,000×60,000 → 413 image_too_large', async () => {
  await problem(await post('/api/detect', bmpClaiming(60000, 60000), { 'content-type': 'image/bmp' }), 413, 'image_too_large');
});

hostile('WebP declaring 16,000×16,000 (256 MP) → 413 image_too_large', async () => {
  await problem(await post('/api/detect', webpClaiming(16000, 16000), { 'content-type': 'image/webp' }), 413, 'image_too_large');
});

// Within 40 MP, but over what the isolate's 128 MB leave for one photo
// (codec::MEMORY_BUDGET): refused from the header, before any pixel.
hostile('16-bit RGBA PNG declaring 4,000×3,000 (12 MP, ~150 MB to process) → 413 image_too_large', async () => {
  const body = await problem(await post('/api/detect', pngHeaderOnly(4000, 3000, { bitDepth: 16, colorType: 6 }), { 'content-type': 'image/png' }), 413, 'image_too_large');
  assert.match(body.detail, /4000×3000 pixels, Rgba16\) needs about 1[45]\d MB to process; the limit is 100 MB/);
});

hostile('8-bit RGB PNG declaring 6,000×6,000 (36 MP, under the 40 MP limit) → 413 image_too_large', async () => {
  const body = await problem(await post('/api/detect', pngHeaderOnly(6000, 6000), { 'content-type': 'image/png' }), 413, 'image_too_large');
  assert.match(body.detail, /needs about \d+ MB to process/);
});

hostile('24 MP JPEG turned by EXIF orientation 6 (a second full buffer) → 413 image_too_large', async () => {
  const turned = jpegClaiming(fixture('orientation-6.jpg'), 5664, 4248);
  const body = await problem(await post('/api/hipsterize', turned, { 'content-type': 'image/jpeg' }), 413, 'image_too_large');
  assert.match(body.detail, /turned by its EXIF orientation/);
});

hostile('90,000×1 PNG (90,000:1 aspect, over 16,384 px a side) → 413 image_too_large', async () => {
  await problem(await post('/api/detect', fixture('wide-90000x1.png'), { 'content-type': 'image/png' }), 413, 'image_too_large');
});

// --- huge and slow bodies -----------------------------------------------

hostile('a 25 MB body with its Content-Length → 413 payload_too_large', async () => {
  const res = await rawRequest('/api/detect', {
    headers: { 'content-type': 'image/jpeg', 'content-length': String(25 * MB) },
    chunks: zeros(25, MB),
  });
  await problem(res, 413, 'payload_too_large');
});

hostile('a chunked body (no length) passing 20 MB → 413 payload_too_large while streaming', async () => {
  const res = await rawRequest('/api/detect', {
    headers: { 'content-type': 'image/png' },
    chunks: [...zeros(20, MB), Buffer.alloc(1)],
    hold: true,
    direct: true,
  });
  await problem(res, 413, 'payload_too_large');
});

hostile('a chunked multipart body (no length) passing 20 MB → 413 payload_too_large', async () => {
  const head = '--b0undary\r\nContent-Disposition: form-data; name="cat"; filename="cat.jpg"\r\nContent-Type: image/jpeg\r\n\r\n';
  // 21 MB, not 20 MB + the head: held open, a body that passes the limit
  // only with its last ~100 bytes hung once in CI (120 s) waiting for them.
  const res = await rawRequest('/api/hipsterize', {
    headers: { 'content-type': 'multipart/form-data; boundary=b0undary' },
    chunks: [Buffer.from(head), ...zeros(21, MB)],
    hold: true,
    // Straight to workerd: held open past an early answer, this upload has
    // hung in wrangler's proxy (120 s, the worker never saw it to the end).
    direct: true,
  });
  await problem(res, 413, 'payload_too_large');
});

// An answer sent before the upload was read used to leave wrangler dev's hop
// to workerd half-read, and the next request on it failed with the
// ProxyWorker's 503 ("worker restarted"). The worker now discards what is
// left (bounded: 32 MB, 10 s, and a second without data) before answering;
// see worker/src/body.rs.
for (const [name, options, status, code] of [
  ['a chunked upload past 20 MB, ended', { headers: { 'content-type': 'image/png' }, chunks: zeros(21, MB) }, 413, 'payload_too_large'],
  // Held open, the rest can never be read, so the worker cuts it off; through
  // wrangler dev's proxy, that half-read hop then sometimes fails the next
  // request with the proxy's own 503 (1 run in 2 in a clean-clone CI run), so
  // this one goes straight to workerd, as the other held-open uploads here do.
  ['a chunked upload past 20 MB, held open', { headers: { 'content-type': 'image/png' }, chunks: zeros(21, MB), hold: true, direct: true }, 413, 'payload_too_large'],
  ['2 MB of text/plain', { headers: { 'content-type': 'text/plain', 'content-length': String(2 * MB) }, chunks: zeros(2, MB) }, 415, 'unsupported_media_type'],
  ['a 25 MB body sent with its length', { headers: { 'content-type': 'image/png', 'content-length': String(25 * MB) }, chunks: zeros(25, MB) }, 413, 'payload_too_large'],
]) {
  hostile(`early answer to ${name} → ${status}, and the next two photos are answered 200`, async () => {
    await problem(await rawRequest('/api/detect', options), status, code);
    for (let i = 0; i < 2; i++) {
      await detected(await post('/api/detect', CAT, { 'content-type': 'image/jpeg' }), 1000, 664);
    }
  });
}

hostile('slow-loris: a trickled photo does not hold up others, then is answered', async () => {
  const photo = fixture('orientation-1.jpg');
  const pieces = 20;
  const size = Math.ceil(photo.length / pieces);
  const chunks = Array.from({ length: pieces }, (_, i) => photo.subarray(i * size, (i + 1) * size));
  let trickling = true;
  let healthSeenWhileTrickling = false;
  const slow = rawRequest('/api/detect', {
    headers: { 'content-type': 'image/jpeg', 'content-length': String(photo.length) },
    chunks,
    pause: async (i) => {
      // Half way through, another client must be served in full.
      if (i === pieces / 2) {
        await healthy();
        healthSeenWhileTrickling = trickling;
      }
      await new Promise((r) => setTimeout(r, 25));
    },
  }).finally(() => { trickling = false; });
  await detected(await slow, 210, 142);
  assert.ok(healthSeenWhileTrickling, '/api/health answered while the slow upload was in progress');
});

hostile('slow-loris: a trickled upload abandoned half way leaves the worker serving', async () => {
  const chunks = Array.from({ length: 10 }, (_, i) => CAT.subarray(i * 1000, (i + 1) * 1000));
  const res = await rawRequest('/api/detect', {
    headers: { 'content-type': 'image/jpeg', 'content-length': String(CAT.length) },
    chunks,
    abortAfter: 5,
    pause: () => new Promise((r) => setTimeout(r, 20)),
  });
  assert.equal(res, null);
});

// --- valid but odd images: decoded upright, 200 -------------------------

for (const [name, type, w, h] of [
  ['cmyk.jpg', 'image/jpeg', 96, 64],
  ['grey.jpg', 'image/jpeg', 96, 64],
  ['grey-alpha.png', 'image/png', 96, 64],
  ['grey16.png', 'image/png', 96, 64],
  ['rgb16.png', 'image/png', 96, 64],
  ['palette.png', 'image/png', 96, 64],
  ['animated.gif', 'image/gif', 96, 64],
  ['one-pixel.png', 'image/png', 1, 1],
  ['wide-16384x1.png', 'image/png', 16384, 1],
]) {
  hostile(`${name} → 200 detect, ${w}×${h}`, async () => {
    const body = await detected(await post('/api/detect', fixture(name), { 'content-type': type }), w, h);
    // The full-size ones are a cat photo: the decode must be a real picture.
    if (w === 96) assert.equal(body.cats.length, 1, `${name}: the cat is found`);
    else assert.deepEqual(body.cats, []);
  });
}

hostile('a 1×16,384 PNG (1:16,384 the other way) → 200 detect', async () => {
  await detected(await post('/api/detect', blackPng1Bit(1, 16384), { 'content-type': 'image/png' }), 1, 16384);
});

// Each file stores the same upright picture transformed by the inverse of
// its EXIF Orientation: read correctly, the cat is in the same place.
const upright = { box: null };
for (let o = 1; o <= 8; o++) {
  hostile(`EXIF orientation ${o} → 200, upright 210×142, cat where orientation 1 has it`, async () => {
    const body = await detected(await post('/api/detect', fixture(`orientation-${o}.jpg`), { 'content-type': 'image/jpeg' }), 210, 142);
    assert.equal(body.cats.length, 1);
    if (o === 1) upright.box = body.cats[0].box;
    assert.ok(upright.box, 'orientation 1 ran first');
    // A wrong flip or turn moves the box by ≥ 35 px; JPEG noise by ~1 px.
    body.cats[0].box.forEach((v, i) => assert.ok(Math.abs(v - upright.box[i]) < 4, `box ${body.cats[0].box} vs ${upright.box}`));
  });
}

// --- multipart fields ---------------------------------------------------

hostile('multipart with no photo → 400 missing_field', async () => {
  await problem(await post('/api/hipsterize', form([['style', 'aviator'], ['note', MARKER]])), 400, 'missing_field');
});

hostile('multipart with two photos and no overlay → 200, the first is the photo', async () => {
  const small = fixture('orientation-1.jpg');
  const res = await post('/api/detect', form([['cat', small, 'image/jpeg'], ['cat', CAT, 'image/jpeg']]));
  await detected(res, 210, 142);
});

hostile('multipart with a text field where the photo belongs → 400 missing_field', async () => {
  await problem(await post('/api/hipsterize', form([['cat', MARKER]])), 400, 'missing_field');
});

hostile('multipart with a text field where the overlay belongs → 400 missing_field', async () => {
  await problem(await post('/api/hipsterize', form([['cat', CAT, 'image/jpeg'], ['glasses', MARKER]])), 400, 'missing_field');
});

hostile('multipart with three unnamed files → 400 missing_field', async () => {
  const f = form([['a', CAT, 'image/jpeg'], ['b', CAT, 'image/jpeg'], ['c', CAT, 'image/jpeg']]);
  await problem(await post('/api/detect', f), 400, 'missing_field');
});

// --- formats recognised but not read: 415 naming the format --------------

const NAMED_FORMATS = [
  // A real iPhone-style HEIC and an AVIF (scripts/make_fixtures.py), whatever
  // their Content-Type says.
  ['an iPhone HEIC photo', fixture('cat.heic'), 'image/heic', 'HEIC'],
  ['a HEIC photo labelled image/jpeg', fixture('cat.heic'), 'image/jpeg', 'HEIC'],
  ['an AVIF photo', fixture('cat.avif'), 'image/avif', 'AVIF'],
  ['a TIFF photo', fs.readFileSync(path.join(ROOT, 'fuzz/seeds/memory/tiff')).subarray(1), 'image/tiff', 'TIFF'],
  ['a JPEG XL photo', Buffer.from('ff0afa7f0000000000000000', 'hex'), 'image/jxl', 'JPEG XL'],
];
for (const [name, bytes, type, format] of NAMED_FORMATS) {
  hostile(`${name} → 415 unsupported_media_type naming ${format}, detect and hipsterize`, async () => {
    for (const res of [
      await post('/api/detect', bytes, { 'content-type': type }),
      await post('/api/hipsterize', form([['cat', bytes, type]])),
    ]) {
      const body = await problem(res, 415, 'unsupported_media_type');
      assert.ok(body.detail.startsWith(`the photo is a ${format} image`), body.detail);
      assert.match(body.detail, /convert it to JPEG/);
    }
  });
}

hostile('a HEIC overlay → 415 unsupported_media_type naming HEIC', async () => {
  const res = await post('/api/hipsterize', form([['cat', CAT, 'image/jpeg'], ['glasses', fixture('cat.heic'), 'image/heic']]));
  const body = await problem(res, 415, 'unsupported_media_type');
  assert.ok(body.detail.startsWith('the overlay is a HEIC image'), body.detail);
});

// --- memory bombs: the memory fuzz corpus, over HTTP --------------------------
// fuzz/seeds/memory (scripts/make_fixtures.py): an output byte, then the
// photo. Each is answered with its exact status and code, and the Wasm heap
// stays within the isolate's 128 MB (healthy(), after each).
const MEMORY_SEEDS = {
  // name: [status, code] of /api/detect, then of /api/hipsterize
  'apng-3-frames': [[200, ''], [200, '']],
  'gif-40-frames': [[200, ''], [200, '']],
  'gif-frame-beyond-screen': [[413, 'image_too_large'], [413, 'image_too_large']],
  'gif-many-comments': [[200, ''], [200, '']],
  'heic-ftyp': [[415, 'unsupported_media_type'], [415, 'unsupported_media_type']],
  'jpeg-exif-heavy': [[200, ''], [200, '']],
  'jpeg-icc-1mb': [[200, ''], [200, '']],
  'jpeg-many-app-segments': [[200, ''], [200, '']],
  'jpeg-progressive-420': [[200, ''], [200, '']],
  'jpeg-progressive-444': [[200, ''], [200, '']],
  'png-big-exif': [[200, ''], [200, '']],
  'png-iccp-bomb-1gb': [[200, ''], [200, '']],
  'png-iccp-bomb-400mb': [[200, ''], [200, '']],
  'png-interlaced-rgba': [[200, ''], [200, '']],
  'png-itxt-bomb': [[200, ''], [200, '']],
  'png-many-text-chunks': [[200, ''], [200, '']],
  'png-tiny-idat-chunks': [[200, ''], [200, '']],
  'png-ztxt-bomb': [[200, ''], [200, '']],
  'tiff': [[415, 'unsupported_media_type'], [415, 'unsupported_media_type']],
  'webp-animated': [[200, ''], [200, '']],
  'webp-exif-claims-1gb': [[422, 'bad_image'], [422, 'bad_image']],
  'webp-exif-icc': [[200, ''], [200, '']],
  'webp-lossless-alpha': [[200, ''], [200, '']],
};
for (const [name, [detectAnswer, hipsterizeAnswer]] of Object.entries(MEMORY_SEEDS)) {
  hostile(`memory corpus: ${name} → detect ${detectAnswer.join(' ')}, hipsterize ${hipsterizeAnswer.join(' ')}, within 128 MB`, async () => {
    const photo = fs.readFileSync(path.join(ROOT, 'fuzz/seeds/memory', name)).subarray(1);
    for (const [route, [status, code]] of [['/api/detect', detectAnswer], ['/api/hipsterize', hipsterizeAnswer]]) {
      const res = await post(route, photo, { 'content-type': 'image/png' });
      if (status === 200) {
        const bytes = await res.arrayBuffer();
        assert.equal(res.status, 200, `${route}: ${Buffer.from(bytes).toString().slice(0, 300)}`);
      } else {
        await problem(res, status, code);
      }
    }
  });
}

hostile('the memory corpus is all in the catalogue', async () => {
  assert.deepEqual(fs.readdirSync(path.join(ROOT, 'fuzz/seeds/memory')).sort(), Object.keys(MEMORY_SEEDS).sort());
});

hostile('a 10,000×10,000 overlay → 413 image_too_large', async () => {
  const overlay = blackPng1Bit(10000, 10000);
  const res = await post('/api/hipsterize', form([['cat', CAT, 'image/jpeg'], ['glasses', overlay, 'image/png']]));
  await problem(res, 413, 'image_too_large');
});

hostile('an overlay that is not an image → 422 bad_overlay, not echoed', async () => {
  const res = await post('/api/hipsterize', form([['cat', CAT, 'image/jpeg'], ['glasses', `<b>${MARKER}</b>`, 'image/png']]));
  await problem(res, 422, 'bad_overlay');
});

hostile('a 100 kB style value → 400 bad_request, not echoed', async () => {
  const res = await post('/api/hipsterize', form([['cat', CAT, 'image/jpeg'], ['style', MARKER.repeat(6000)]]));
  await problem(res, 400, 'bad_request');
});

// --- routes and methods -------------------------------------------------

hostile('unknown routes → 404 not_found', async () => {
  for (const route of ['/api/nope', '/api/', '/api/detect/x', '/api/%2e%2e/health', '/api/health%00']) {
    await problem(await fetch(`${BASE}${route}`), 404, 'not_found');
  }
  await problem(await post('/api/hipsterize2', CAT, { 'content-type': 'image/jpeg' }), 404, 'not_found');
});

hostile('unknown and wrong methods → 405 method_not_allowed with Allow', async () => {
  for (const [method, route, allow] of [
    ['PUT', '/api/detect', 'POST, OPTIONS'],
    ['PATCH', '/api/hipsterize', 'POST, OPTIONS'],
    ['GET', '/api/detect', 'POST, OPTIONS'],
    ['HEAD', '/api/hipsterize', 'POST, OPTIONS'],
    ['POST', '/api/health', 'GET, HEAD, OPTIONS'],
    ['DELETE', '/api/models', 'GET, HEAD, OPTIONS'],
    // Methods workers-rs has no name for (it calls them GET) stay themselves.
    ['PROPFIND', '/api/health', 'GET, HEAD, OPTIONS'],
    ['LOCK', '/api/models', 'GET, HEAD, OPTIONS'],
  ]) {
    const res = await rawRequest(route, { method, headers: { 'content-length': '0' } });
    assert.equal(res.headers.get('allow'), allow, `${method} ${route}`);
    if (method === 'HEAD') assert.equal(res.status, 405);
    else await problem(res, 405, 'method_not_allowed');
  }
});

// --- security headers ---------------------------------------------------

test('the page is served with a Content-Security-Policy and nosniff', async () => {
  for (const route of ['/', '/index.html']) {
    const res = await fetch(`${BASE}${route}`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(directive), `${route}: CSP has ${directive}: ${csp}`);
    }
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  }
  // The rules file itself is configuration, not a page.
  assert.equal((await fetch(`${BASE}/_headers`).then(async (r) => { await r.arrayBuffer(); return r; })).status, 404);
});

test('API answers carry nosniff and are not cached, success and error alike', async () => {
  for (const res of [
    await fetch(`${BASE}/api/health`),
    await fetch(`${BASE}/api/models`),
    await post('/api/detect', fixture('one-pixel.png'), { 'content-type': 'image/png' }),
    await fetch(`${BASE}/api/nope`),
  ]) {
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', res.url);
    assert.equal(res.headers.get('cache-control'), 'no-store', res.url);
  }
});
