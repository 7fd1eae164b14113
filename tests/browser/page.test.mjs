// The static page (www/) in a real browser against the real worker: photo in,
// sunglasses out, human error sentences, cross-origin use, small screens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { BASE } from '../harness.mjs';
import { imageSize } from '../images.mjs';
import {
  CAT, DOG, EXIF6, NO_CAT, OVERLAY, PHONE, DESKTOP, WWW,
  captureApi, launch, openPage, outcome, pageBytes, screenshot, sentForm, serveStatic, tid,
} from './browser.mjs';

assert.ok(BASE, 'run me through `node tests/run-http.mjs tests/browser` (EDGECAT_URL)');
const T = { timeout: 120_000 };
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const isApi = (name) => (req) => req.method() === 'POST' && new URL(req.url()).pathname === `/api/${name}`;
const apiAnswer = (name) => (res) => isApi(name)(res.request());

async function hipsterizeOnce(page) {
  const [response] = await Promise.all([
    page.waitForResponse(apiAnswer('hipsterize')),
    page.click(tid('hipsterize')),
  ]);
  return { response, result: await outcome(page) };
}

test('a cat photo comes back with sunglasses, shown and downloadable', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  // The page asks the worker to load its models as soon as it opens.
  const warm = page.waitForResponse((r) => isApi('warm')(r.request()));
  await page.goto(`${BASE}/`);
  assert.equal((await warm).status(), 200);
  const requests = [];
  page.on('request', (r) => { if (isApi('hipsterize')(r)) requests.push(r); });
  await page.setInputFiles(tid('photo-input'), CAT);
  // The preview is there at once, before any upload.
  await page.waitForFunction(() => document.getElementById('preview').naturalWidth > 0);
  assert.equal(requests.length, 0);

  const { response, result } = await hipsterizeOnce(page);
  await screenshot(page, 'result-desktop');
  await page.setViewportSize(PHONE);
  await screenshot(page, 'result-phone');
  assert.equal(result.error, '', `the page shows an error: ${result.error}`);
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['content-type'], 'image/jpeg');
  assert.ok(Number(response.headers()['x-cats-found']) >= 1);

  // A small photo is sent as is (no re-encoding), in field `cat`.
  const sent = await sentForm(page, 0);
  assert.match(sent, /name="cat"; filename="kairess_001\.jpg"\r\nContent-Type: image\/jpeg/);
  assert.match(sent, /name="style"\r\n\r\nclassic\r\n/);

  const input = fs.readFileSync(CAT);
  assert.match(result.src, /^blob:/);
  assert.deepEqual(result.natural, imageSize(input), 'result has the upright size of the photo');
  const out = await pageBytes(page, result.src);
  assert.deepEqual([...out.subarray(0, 3)], [0xff, 0xd8, 0xff], 'result is a JPEG');
  assert.ok(!out.equals(input), 'result differs from the photo');

  const href = await page.getAttribute(tid('download'), 'href');
  const filename = await page.getAttribute(tid('download'), 'download');
  assert.match(href, /^blob:/);
  assert.match(filename, /^kairess_001.*\.jpe?g$/);
  const downloaded = await pageBytes(page, href);
  assert.deepEqual([...downloaded.subarray(0, 3)], [0xff, 0xd8, 0xff], 'download is a JPEG');
  assert.deepEqual(imageSize(downloaded), imageSize(input));
  // Timings from Server-Timing are shown.
  assert.match(await page.textContent('#timings'), /total \d+(\.\d+)? ms/);
  assert.deepEqual(problems, []);
});

test('a dog photo gets the no-cat sentence', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  await page.setInputFiles(tid('photo-input'), DOG);
  const { response, result } = await hipsterizeOnce(page);
  await screenshot(page, 'no-cat-desktop');
  assert.equal(result.error, NO_CAT);
  assert.equal(response.status(), 422);
  assert.equal(result.src, '', 'no result image');
  assert.deepEqual(problems, []);
});

test('a text file is refused in the page, without calling the API', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, PHONE);
  await page.goto(`${BASE}/`);
  const calls = [];
  page.on('request', (r) => { if (r.method() === 'POST') calls.push(r.url()); });
  await page.setInputFiles(tid('photo-input'), {
    name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('meow, not a photo\n'),
  });
  const error = page.locator(tid('error'));
  await page.waitForFunction(() => document.querySelector('[data-testid="error"]').textContent.trim());
  assert.match(await error.textContent(), /^That file is not an image\b/);
  await page.click(tid('hipsterize'));
  assert.match(await error.textContent(), /^That file is not an image\b/);
  await screenshot(page, 'not-an-image-phone');
  assert.deepEqual(calls, [], 'no request left the page');
  assert.ok(await error.isVisible());
  assert.doesNotMatch(await error.textContent(), /[{}]/);
  assert.deepEqual(problems, []);
});

test('an uploaded overlay PNG is sent as `glasses` and changes the result', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  const requests = [];
  page.on('request', (r) => { if (isApi('hipsterize')(r)) requests.push(r); });
  await page.setInputFiles(tid('photo-input'), CAT);

  const first = await hipsterizeOnce(page);
  assert.equal(first.result.error, '', `built-in style: ${first.result.error}`);
  const plain = await pageBytes(page, first.result.src);
  assert.doesNotMatch(await sentForm(page, 0), /name="glasses"/);

  await page.setInputFiles(tid('overlay-input'), OVERLAY);
  assert.ok(await page.isChecked('input[name="style"][value="own"]'), 'choosing a PNG selects "own"');
  const second = await hipsterizeOnce(page);
  await screenshot(page, 'own-overlay-desktop');
  assert.equal(second.result.error, '', `own overlay: ${second.result.error}`);
  const sent = await sentForm(page, 1);
  assert.match(sent, /name="glasses"; filename="glup-tutorial_01_shades\.png"\r\nContent-Type: image\/png/);
  assert.match(sent, /name="cat"; filename="kairess_001\.jpg"/);
  assert.doesNotMatch(sent, /name="style"/);
  const shaded = await pageBytes(page, second.result.src);
  assert.deepEqual(imageSize(shaded), imageSize(plain));
  assert.ok(!shaded.equals(plain), 'the own overlay gives another picture than the built-in one');
  assert.deepEqual(problems, []);
});

test('served from another origin, ?api= points the page at the worker', T, async (t) => {
  const site = await serveStatic(WWW);
  t.after(() => site.close());
  assert.notEqual(new URL(site.url).origin, new URL(BASE).origin);
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${site.url}/?api=${encodeURIComponent(BASE)}`);
  assert.equal(await page.textContent('#api-base'), BASE);
  // Model info comes cross-origin from the worker.
  await page.waitForFunction(() => !/Loading/.test(document.getElementById('models').textContent));
  assert.doesNotMatch(await page.textContent('#models'), /not available/);

  await page.setInputFiles(tid('photo-input'), CAT);
  const { response, result } = await hipsterizeOnce(page);
  await screenshot(page, 'cross-origin-desktop');
  assert.ok(response.url().startsWith(`${BASE}/api/hipsterize`), response.url());
  assert.equal(result.error, '', `cross-origin: ${result.error}`);
  assert.equal(response.status(), 200);
  assert.deepEqual(result.natural, imageSize(fs.readFileSync(CAT)));
  // Server-Timing and X-Cats-Found are readable cross-origin (exposed by CORS).
  assert.match(await page.textContent('#timings'), /total \d+(\.\d+)? ms/);
  assert.match(await page.textContent('#cats-found'), /\d+ cats?/);
  assert.deepEqual(problems, []);
});

test('at 360 px: no sideways scrolling, and the button is reachable by keyboard', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, PHONE);
  await page.goto(`${BASE}/`);
  const scrollWidth = () => page.evaluate(() => document.scrollingElement.scrollWidth);
  assert.ok(await scrollWidth() <= PHONE.width, `page is ${await scrollWidth()} px wide`);
  await screenshot(page, 'start-phone');

  let reached = false;
  for (let i = 0; i < 30 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.dataset.testid === 'hipsterize');
  }
  assert.ok(reached, 'Tab reaches the Hipsterize button');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused button shows a focus ring');
  await page.keyboard.press('Enter');
  assert.equal((await page.textContent(tid('error'))).trim(), 'Choose a photo of your cat first.');
  await screenshot(page, 'keyboard-phone');

  // Still no sideways scrolling with a photo and a message on screen.
  await page.setInputFiles(tid('photo-input'), CAT);
  await page.waitForFunction(() => document.getElementById('preview').naturalWidth > 0);
  assert.ok(await scrollWidth() <= PHONE.width, `page is ${await scrollWidth()} px wide with a photo`);
  await page.setViewportSize(DESKTOP);
  await screenshot(page, 'photo-chosen-desktop');
  assert.deepEqual(problems, []);
});

test('the worker\'s own refusals become sentences: unreadable photo, bad overlay', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  // Claims to be a JPEG, is not: the browser cannot shrink it, the worker cannot read it.
  await page.setInputFiles(tid('photo-input'), {
    name: 'broken.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('definitely not a jpeg'),
  });
  let { response, result } = await hipsterizeOnce(page);
  assert.equal(response.status(), 422);
  assert.equal(result.error, 'We could not read that photo. Please use a JPEG, PNG, WebP or GIF image.');

  await page.setInputFiles(tid('photo-input'), CAT);
  await page.setInputFiles(tid('overlay-input'), {
    name: 'shades.png', mimeType: 'image/png', buffer: Buffer.from('not a png either'),
  });
  ({ response, result } = await hipsterizeOnce(page));
  assert.equal(response.status(), 422);
  assert.match(result.error, /^The sunglasses overlay must be an image/);
  assert.equal(result.src, '');
  assert.deepEqual(problems, []);
});

test('every error code, network failure and timeout read as plain sentences', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  // A 1.5 s timeout instead of 30 s, so the timeout case is quick.
  await page.route('**/config.js', (route) => route.fulfill({
    contentType: 'text/javascript',
    body: fs.readFileSync(`${WWW}/config.js`, 'utf8').replace(/timeoutMs:\s*\d+/, 'timeoutMs: 1500'),
  }));
  let answer = null;
  await page.route('**/api/hipsterize', (route) => answer(route));
  await page.goto(`${BASE}/`);
  // The page states the abuse limit (its number is checked against
  // wrangler.toml natively, in src/http/ratelimit.rs).
  assert.match(await page.textContent(tid('fair-use')), /up to \d+ photos a minute/);
  await page.setInputFiles(tid('photo-input'), CAT);
  const cases = {
    no_cat_found: [422, /^No cat face found — try a photo where the cat faces the camera\.$/],
    bad_image: [422, /could not read that photo.*JPEG, PNG, WebP or GIF/],
    unsupported_media_type: [415, /not supported/],
    payload_too_large: [413, /too large/],
    image_too_large: [413, /too many pixels/],
    bad_overlay: [422, /overlay must be an image.*PNG/],
    missing_field: [400, /did not reach the server/],
    bad_request: [400, /could not understand/],
    rate_limited: [429, /^That is a lot of photos in a short time\. Please wait a minute and try again\.$/],
    busy: [503, /^The server is busy with other photos/],
    request_timeout: [408, /upload stalled before the whole photo arrived/],
    internal_error: [500, /^Something went wrong on our side/],
    some_future_code: [503, /^Something went wrong on our side/],
  };
  const seen = new Set();
  for (const [code, [status, sentence]] of Object.entries(cases)) {
    answer = (route) => route.fulfill({
      status,
      headers: { 'Retry-After': '60' },
      contentType: 'application/problem+json',
      body: JSON.stringify({ type: `https://edgecat.dev/problems/${code}`, title: 'T', status, detail: 'raw detail', code }),
    });
    const { result } = await hipsterizeOnce(page);
    assert.match(result.error, sentence, code);
    assert.doesNotMatch(result.error, /[{}]|raw detail|_/, `${code}: no raw JSON or codes`);
    seen.add(result.error);
  }
  assert.ok(seen.size >= 8, 'codes get their own sentences');

  // Out of reach or out of time, the edge's photo is done on the device
  // instead, and the page says why (tests/browser/device.test.mjs has more).
  answer = (route) => route.abort('connectionrefused');
  await page.click(tid('hipsterize'));
  await page.waitForFunction(() => /^The edge could not be reached, so this photo was hipsterized on your device/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  assert.equal(await page.textContent(tid('error')), '');

  answer = () => { /* never answer */ };
  const started = Date.now();
  await page.click(tid('hipsterize'));
  await page.waitForFunction(() => /^The edge did not answer within 2 seconds, so this photo was hipsterized on your device/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  assert.ok(Date.now() - started >= 1400, 'waited for the timeout');
  assert.equal(await page.textContent(tid('error')), '');
  await screenshot(page, 'timeout-desktop');
  assert.deepEqual(problems, []);
});

test('large photos are shrunk upright before upload, small ones sent untouched', T, async (t) => {
  // A stand-in API records the exact bytes the browser sends.
  const api = await captureApi(() => ({
    status: 422, headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: 'x', title: 'No cat found', status: 422, detail: 'd', code: 'no_cat_found' }),
  }));
  t.after(() => api.close());
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/?api=${encodeURIComponent(api.url)}`);

  // Within the default 2048 px limit: the original file, byte for byte.
  await page.setInputFiles(tid('photo-input'), EXIF6);
  let { result } = await hipsterizeOnce(page);
  assert.equal(result.error, NO_CAT);
  let cat = api.posts.at(-1).parts.cat;
  assert.ok(cat.data.equals(fs.readFileSync(EXIF6)), 'small photo sent as is');
  assert.equal(cat.filename, 'cat-exif-orientation-6.jpg');

  // Over the limit: an upright JPEG (EXIF 6 = stored 319×480, upright 480×319).
  await page.click('summary:has-text("Settings")');
  await page.fill('#max-side', '200');
  ({ result } = await hipsterizeOnce(page));
  assert.equal(result.error, NO_CAT);
  cat = api.posts.at(-1).parts.cat;
  assert.equal(cat.type, 'image/jpeg');
  assert.match(cat.filename, /\.jpg$/);
  assert.deepEqual(imageSize(cat.data), [200, 133]);
  assert.equal(api.posts.at(-1).parts.style.data.toString(), 'classic');
  assert.deepEqual(problems, []);
});

test('"show detections" draws boxes and eye points from /api/detect', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  await page.setInputFiles(tid('photo-input'), CAT);
  await page.click('summary:has-text("Settings")');
  // Ticking the box asks /api/detect at once when the photo is already read, and after
  // hipsterize otherwise: either way there is one detect answer, so wait for it from here.
  const detectAnswer = page.waitForResponse(apiAnswer('detect'));
  await page.check('#show-detections');
  // A detect asked by the tick keeps the page busy (the button is aria-disabled) until it is answered.
  await page.waitForFunction(() => document.getElementById('hipsterize').getAttribute('aria-disabled') !== 'true');
  const [detect] = await Promise.all([
    detectAnswer,
    page.waitForResponse(apiAnswer('hipsterize')),
    page.click(tid('hipsterize')),
  ]);
  const result = await outcome(page);
  assert.equal(result.error, '', result.error);
  assert.equal(detect.status(), 200);
  const body = await detect.json();
  await page.waitForSelector('#detections:not([hidden])');
  await screenshot(page, 'detections-desktop');
  const canvas = await page.evaluate(() => {
    const c = document.getElementById('detections');
    return { size: [c.width, c.height], label: c.getAttribute('aria-label') };
  });
  assert.deepEqual(canvas.size, [body.width, body.height]);
  assert.equal(canvas.label, `${body.cats.length} cat face${body.cats.length === 1 ? '' : 's'} detected`);
  assert.ok(body.cats.length >= 1);
  assert.deepEqual(problems, []);
});

test('an AVIF photo is converted to JPEG in the page; a HEIC this browser cannot open gets a sentence naming HEIC', T, async (t) => {
  const fixture = (name) => new URL(`../fixtures/hostile/${name}`, import.meta.url).pathname;
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  const sent = [];
  page.on('request', (r) => { if (isApi('hipsterize')(r)) sent.push(r); });
  // AVIF, which the API refuses (415) and Chromium decodes: sent as JPEG, the cat found.
  await page.setInputFiles(tid('photo-input'), fixture('cat.avif'));
  const { response, result } = await hipsterizeOnce(page);
  assert.equal(result.error, '', `the page shows an error: ${result.error}`);
  assert.equal(response.status(), 200);
  assert.ok(Number(response.headers()['x-cats-found']) >= 1);
  const form = await sentForm(page, 0);
  assert.match(form, /name="cat"; filename="cat\.jpg"\r\nContent-Type: image\/jpeg/);
  assert.match(await page.locator('#timings').textContent(), /converted from AVIF/);
  // HEIC, which Chromium cannot decode: a sentence naming it, nothing sent.
  await page.setInputFiles(tid('photo-input'), fixture('cat.heic'));
  await page.click(tid('hipsterize'));
  await page.waitForFunction(() => /HEIC/.test(document.querySelector('[data-testid="error"]').textContent));
  const error = await page.locator(tid('error')).textContent();
  assert.match(error, /^That is a HEIC photo, which this browser cannot convert/);
  assert.match(error, /save it as a JPEG/);
  assert.equal(sent.length, 1, 'the HEIC photo was not uploaded');
  await screenshot(page, 'heic-desktop');
  assert.deepEqual(problems, []);
});
