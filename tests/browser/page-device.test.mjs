// The page's "on this device" choice: it runs the core in a Web Worker (www/device.js,
// the browser Wasm) and the photo never leaves the browser; and when the
// edge cannot be reached, the page does the photo on the device and says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { BASE } from '../harness.mjs';
import { imageSize } from '../images.mjs';
import { CAT, DESKTOP, OVERLAY, WWW, launch, openPage, outcome, pageBytes, screenshot, tid } from './browser.mjs';

assert.ok(BASE, 'run me through `node tests/run-http.mjs tests/browser` (EDGECAT_URL)');
const T = { timeout: 180_000 };
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const status = (page) => page.textContent('#status');

/** Every request the page (and its workers) makes from now on, with what it carried. */
function recordRequests(context) {
  const seen = [];
  const onRequest = (req) => seen.push(req);
  context.on('request', onRequest);
  return {
    stop: () => context.off('request', onRequest),
    async list() {
      return Promise.all(seen.map(async (r) => {
        const sizes = await r.sizes().catch(() => ({ requestBodySize: -1 }));
        return {
          method: r.method(), url: r.url(), bodyBytes: sizes.requestBodySize,
          postData: r.postDataBuffer()?.length ?? 0, contentLength: Number(r.headers()['content-length'] || 0),
        };
      }));
    },
  };
}

/** /api/detect on the same bytes, straight from node. */
async function apiDetect(bytes) {
  const res = await fetch(`${BASE}/api/detect`, { method: 'POST', body: bytes, headers: { 'content-type': 'image/jpeg' } });
  assert.equal(res.status, 200);
  return res.json();
}

/** Same cats within the int8 tolerance: count, score, box and eyes. */
function assertSameCats(device, api) {
  assert.equal(device.cats.length, api.cats.length, 'same number of cats');
  assert.deepEqual([device.width, device.height], [api.width, api.height]);
  for (const want of api.cats) {
    const d = Math.hypot(want.landmarks.right_eye[0] - want.landmarks.left_eye[0], want.landmarks.right_eye[1] - want.landmarks.left_eye[1]);
    const side = Math.max(want.box[2] - want.box[0], want.box[3] - want.box[1]);
    const got = device.cats.find((c) => c.box.every((v, i) => Math.abs(v - want.box[i]) <= 0.05 * side));
    assert.ok(got, `a device cat with the API's box ${want.box} (device: ${JSON.stringify(device.cats.map((c) => c.box))})`);
    assert.ok(Math.abs(got.score - want.score) <= 0.05, `score ${got.score} vs ${want.score}`);
    for (const eye of ['left_eye', 'right_eye']) {
      const off = Math.hypot(got.landmarks[eye][0] - want.landmarks[eye][0], got.landmarks[eye][1] - want.landmarks[eye][1]);
      assert.ok(off <= 0.1 * d, `${eye} ${got.landmarks[eye]} vs ${want.landmarks[eye]} (eye distance ${d.toFixed(0)})`);
    }
  }
}

test('on this device: the same cats as /api/detect, and no request carries the photo', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  assert.ok(await page.isChecked(tid('where-edge')), 'the edge is the default');
  // The device code is not part of the first load.
  const firstLoad = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  assert.ok(!firstLoad.some((u) => /device|\.wasm|live\.js|\/pkg\//.test(u)), `first load fetched device code: ${firstLoad}`);

  // A radio group: reachable and operable by keyboard.
  await page.focus(tid('where-edge'));
  await page.keyboard.press('ArrowRight');
  assert.ok(await page.isChecked(tid('where-device')), 'arrow key moves the choice to "on this device"');
  assert.match(await page.textContent(tid('where-hint')), /never leaves this browser/);

  const photo = fs.readFileSync(CAT);
  const requests = recordRequests(browser.context);
  t.after(() => requests.stop());
  await page.setInputFiles(tid('photo-input'), CAT);
  await page.click('summary:has-text("Settings")');
  await page.check('#show-detections');
  await page.click(tid('hipsterize'));
  const result = await outcome(page, 120_000);
  assert.equal(result.error, '', `the page shows an error: ${result.error}`);
  await page.waitForSelector('#detections:not([hidden])');
  await screenshot(page, 'device-result-desktop');
  requests.stop();

  assert.match(await status(page), /^Done on this device: \d+ cats? in sunglasses\. Your photo did not leave this browser\.$/);
  assert.match(await page.textContent('#timings'), /^On this device: .*Device total \d+ ms\. Model load \d+ ms \(the Wasm and its models, first use only\)\. Nothing was sent/);
  assert.deepEqual(result.natural, imageSize(photo), 'result has the size of the photo');
  const out = await pageBytes(page, result.src);
  assert.deepEqual([...out.subarray(0, 3)], [0xff, 0xd8, 0xff], 'result is a JPEG');
  assert.ok(!out.equals(photo));
  assert.match(await page.getAttribute(tid('download'), 'download'), /^kairess_001.*\.jpe?g$/);

  // The cats: the device's detector (the one the page used) against the edge's, same bytes.
  const device = await page.evaluate(async (b64) => {
    const { loadDevice } = await import('/device.js');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return (await loadDevice()).detect(bytes);
  }, photo.toString('base64'));
  const api = await apiDetect(photo);
  assert.ok(api.cats.length >= 1);
  assertSameCats(device, api);
  assert.equal((await page.textContent('#cats-found')).trim(), `· ${api.cats.length === 1 ? '1 cat' : `${api.cats.length} cats`}`);
  assert.equal(await page.getAttribute('#detections', 'aria-label'), `${api.cats.length} cat face${api.cats.length === 1 ? '' : 's'} detected`);

  // Nothing went out with a body: no API photo route, no POST, no upload.
  const sent = await requests.list();
  assert.ok(sent.length > 0, 'the device code was fetched (so requests were recorded)');
  for (const r of sent) {
    const where = `${r.method} ${r.url}`;
    assert.ok(!/\/api\/(hipsterize|detect)/.test(r.url), `photo route called: ${where}`);
    assert.ok(r.method === 'GET' || r.method === 'HEAD', `only fetches: ${where}`);
    assert.ok(r.bodyBytes <= 0 && r.postData === 0 && r.contentLength === 0, `no body: ${where} (${r.bodyBytes} B)`);
    assert.ok(r.url.length < 2048, `no data in the URL: ${r.url.slice(0, 80)}…`);
  }
  assert.deepEqual(await page.evaluate(() => window.__hipsterizeForms), [], 'no form was built for the API');

  // The choice is remembered.
  await page.reload();
  assert.ok(await page.isChecked(tid('where-device')), 'the choice survives a reload');
  await page.check(tid('where-edge'));
  assert.deepEqual(problems, []);
});

test('with the API unreachable, the page still hipsterizes, on the device, and says so', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  // Every API call fails as a dead network would.
  await page.route('**/api/**', (route) => route.abort('connectionrefused'));
  await page.goto(`${BASE}/`);
  await page.check(tid('where-edge'));
  await page.setInputFiles(tid('photo-input'), CAT);
  await page.click(tid('hipsterize'));
  const result = await outcome(page, 120_000);
  await screenshot(page, 'fallback-desktop');
  assert.equal(result.error, '', `the page shows an error: ${result.error}`);
  assert.match(await status(page), /^The edge could not be reached, so this photo was hipsterized on your device: \d+ cats? in sunglasses\.$/);
  assert.deepEqual(result.natural, imageSize(fs.readFileSync(CAT)));
  assert.match(await page.textContent('#timings'), /^On this device: /);
  assert.deepEqual(problems, []);
});

test('with the API not answering in time, the page falls back to the device and says so', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.route('**/config.js', (route) => route.fulfill({
    contentType: 'text/javascript',
    body: fs.readFileSync(`${WWW}/config.js`, 'utf8').replace(/timeoutMs:\s*\d+/, 'timeoutMs: 1500'),
  }));
  await page.route('**/api/hipsterize', () => { /* never answered */ });
  await page.goto(`${BASE}/`);
  await page.check(tid('where-edge'));
  await page.setInputFiles(tid('photo-input'), CAT);
  await page.click(tid('hipsterize'));
  const result = await outcome(page, 120_000);
  assert.equal(result.error, '', `the page shows an error: ${result.error}`);
  assert.match(await status(page), /^The edge did not answer within 2 seconds, so this photo was hipsterized on your device: \d+ cats? in sunglasses\.$/);
  assert.deepEqual(problems, []);
});

test('on this device, your own PNG goes on the cats too, and stays in the browser', T, async (t) => {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.goto(`${BASE}/`);
  await page.check(tid('where-device'));
  const posts = [];
  page.on('request', (r) => { if (r.method() !== 'GET') posts.push(`${r.method()} ${r.url()}`); });
  await page.setInputFiles(tid('photo-input'), CAT);
  await page.click(tid('hipsterize'));
  const plain = await outcome(page, 120_000);
  assert.equal(plain.error, '', plain.error);
  const classic = await pageBytes(page, plain.src);
  await page.setInputFiles(tid('overlay-input'), OVERLAY);
  await page.click(tid('hipsterize'));
  await page.waitForFunction((before) => {
    const r = document.querySelector('[data-testid="result"]');
    return r.getAttribute('src') && r.getAttribute('src') !== before && r.complete && r.naturalWidth > 0;
  }, plain.src);
  const own = await outcome(page);
  assert.equal(own.error, '', own.error);
  assert.match(await page.textContent('#status'), /^Done on this device: /);
  const shaded = await pageBytes(page, own.src);
  assert.deepEqual(imageSize(shaded), imageSize(classic));
  assert.ok(!shaded.equals(classic), 'your own PNG gives another picture than the built-in style');
  assert.deepEqual(posts, [], 'nothing was sent');
  await page.check(tid('where-edge')); // the choice is remembered: leave the default for the next test
  assert.deepEqual(problems, []);
});
