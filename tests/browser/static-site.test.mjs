// examples/static-site: a plain page on another origin that uses the client
// module (www/edgecat.js, served by the worker's assets at /edgecat.js) in
// 3 lines and the <edgecat-hipsterizer> component in 2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, ROOT, startWorker } from '../harness.mjs';
import { imageSize } from '../images.mjs';
import { CAT, DOG, NO_CAT, DESKTOP, launch, openPage, pageBytes, screenshot, serveStatic } from './browser.mjs';

assert.ok(BASE, 'run me through `node tests/run-http.mjs tests/browser` (EDGECAT_URL)');
const T = { timeout: 120_000 };
const EXAMPLE = path.join(ROOT, 'examples', 'static-site');
// The example names `make dev`'s worker; the tests serve it pointing at theirs.
const DEV_WORKER = 'http://127.0.0.1:8787';
const COMPONENT = 'edgecat-hipsterizer';
const part = (name) => `${COMPONENT} [part~="${name}"]`; // Playwright's CSS pierces open shadow roots

let browser;
let site;
before(async () => {
  browser = await launch();
  site = await exampleSite(BASE);
});
after(async () => {
  await site?.close();
  await browser?.close();
});

async function exampleSite(workerUrl) {
  const html = fs.readFileSync(path.join(EXAMPLE, 'index.html'), 'utf8');
  assert.ok(html.includes(`${DEV_WORKER}/edgecat.js`), 'the example imports the module from the dev worker');
  const served = await serveStatic(EXAMPLE, (text) => text.replaceAll(DEV_WORKER, workerUrl));
  assert.notEqual(new URL(served.url).origin, new URL(workerUrl).origin, 'the example is on another origin');
  return served;
}

/** Open the example; collect the component's events in window.__edgecat. */
async function openExample(t, url = site.url) {
  const { page, problems } = await openPage(t, browser.context, DESKTOP);
  await page.addInitScript(() => {
    window.__edgecat = [];
    for (const type of ['edgecat-result', 'edgecat-error']) {
      document.addEventListener(type, (e) => {
        const d = e.detail;
        window.__edgecat.push(type === 'edgecat-result'
          ? { type, cats: d.cats, timings: d.timings, blobType: d.blob.type, blobSize: d.blob.size, composed: e.composed }
          : { type, code: d.code, status: d.status, message: d.message, name: d.name, composed: e.composed });
      });
    }
  });
  await page.goto(`${url}/`);
  await page.waitForFunction(() => customElements.get('edgecat-hipsterizer'));
  return { page, problems };
}

const nextEvent = (page) => page.waitForFunction(() => window.__edgecat.length > 0).then(() => page.evaluate(() => window.__edgecat[0]));

test('/edgecat.js and /edgecat.d.ts are served for cross-origin use', async () => {
  for (const [file, type] of [['edgecat.js', /^text\/javascript|^application\/javascript/], ['edgecat.d.ts', /typescript/]]) {
    const res = await fetch(`${BASE}/${file}`, { headers: { Origin: 'https://some-site.test' } });
    assert.equal(res.status, 200, file);
    assert.match(res.headers.get('content-type'), type, file);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', file);
    assert.match(res.headers.get('cache-control') || '', /max-age=\d+/, file);
    const text = await res.text();
    assert.match(text, /export (declare )?const VERSION/, file);
  }
  // The module's VERSION is the crate's, which /api/health reports.
  const js = await (await fetch(`${BASE}/edgecat.js`)).text();
  const health = await (await fetch(`${BASE}/api/health`)).json();
  assert.equal(js.match(/export const VERSION = '([^']+)'/)[1], health.version);
});

test('the 3-line module snippet hipsterizes a cat photo from another origin', T, async (t) => {
  const { page, problems } = await openExample(t);
  const hipsterize = page.waitForResponse((r) => r.url() === `${BASE}/api/hipsterize`);
  await page.setInputFiles('#photo', CAT);
  assert.equal((await hipsterize).status(), 200);
  await page.waitForFunction(() => document.getElementById('out').naturalWidth > 0 || /\D/.test(document.getElementById('found').value));
  const found = await page.evaluate(() => document.getElementById('found').value);
  const m = /^(\d+) cat\(s\)$/.exec(found);
  assert.ok(m, `the snippet says: ${found}`);
  assert.ok(Number(m[1]) >= 1, found);
  const src = await page.getAttribute('#out', 'src');
  assert.match(src, /^blob:/);
  const out = await pageBytes(page, src);
  assert.deepEqual([...out.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
  assert.deepEqual(imageSize(out), imageSize(fs.readFileSync(CAT)), 'the photo\'s size');
  assert.deepEqual(problems, []);
});

test('the component hipsterizes by clicks alone: result, download link, edgecat-result', T, async (t) => {
  const { page, problems } = await openExample(t);
  await page.setInputFiles(part('input'), CAT);
  await page.waitForFunction(() => document.querySelector('edgecat-hipsterizer').shadowRoot
    .querySelector('[part~="before-image"]').naturalWidth > 0);
  await page.locator(COMPONENT).getByRole('button', { name: 'Hipsterize' }).click();
  const event = await nextEvent(page);
  await screenshot(page, 'static-site-component');
  assert.equal(event.type, 'edgecat-result', JSON.stringify(event));
  assert.equal(event.composed, true);
  assert.ok(event.cats >= 1);
  assert.equal(event.blobType, 'image/jpeg');
  assert.equal(typeof event.timings.total, 'number');

  const result = page.locator(part('after-image'));
  await result.waitFor({ state: 'visible' });
  const natural = await result.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(natural, imageSize(fs.readFileSync(CAT)));
  const download = page.locator(part('download'));
  assert.ok(await download.isVisible());
  assert.match(await download.getAttribute('href'), /^blob:/);
  assert.equal(await download.getAttribute('download'), 'kairess_001-edgecat.jpg');
  const bytes = await pageBytes(page, await download.getAttribute('href'));
  assert.equal(bytes.length, event.blobSize);
  assert.match(await page.locator(part('status')).textContent(), /^Done: \d+ cats? in sunglasses\.$/);
  assert.equal(await page.locator(part('status')).getAttribute('role'), 'status');
  assert.deepEqual(problems, []);
});

test('a dog gives the no-cat sentence through edgecat-error', T, async (t) => {
  const { page, problems } = await openExample(t);
  await page.setInputFiles(part('input'), DOG);
  await page.locator(COMPONENT).getByRole('button', { name: 'Hipsterize' }).click();
  const event = await nextEvent(page);
  assert.deepEqual(event, {
    type: 'edgecat-error', code: 'no_cat_found', status: 422, message: NO_CAT, name: 'EdgecatError', composed: true,
  });
  assert.equal(await page.locator(part('status')).textContent(), NO_CAT);
  assert.equal(await page.locator(part('after-image')).isVisible(), false);
  assert.deepEqual(problems, []);
});

test('keyboard alone: Tab to the picker and the button, Enter without a photo says what to do', T, async (t) => {
  const { page } = await openExample(t);
  const focused = () => page.evaluate(() => {
    const inner = document.activeElement?.shadowRoot?.activeElement;
    return inner ? inner.getAttribute('part') : null;
  });
  const seen = [];
  for (let i = 0; i < 20 && !seen.includes('button'); i++) {
    await page.keyboard.press('Tab');
    const p = await focused();
    if (p) seen.push(p);
  }
  assert.ok(seen.includes('input'), `Tab reaches the photo picker: ${seen}`);
  assert.ok(seen.includes('button'), `Tab reaches the button: ${seen}`);
  await page.keyboard.press('Enter');
  const event = await nextEvent(page);
  assert.equal(event.code, 'no_photo');
  assert.equal(await page.locator(part('status')).textContent(), 'Choose a photo of your cat first.');
});

test('an API that leaves the site\'s origin out of ALLOWED_ORIGINS fails with a clear CORS error', T, async (t) => {
  const strict = await startWorker({ vars: { ALLOWED_ORIGINS: 'https://elsewhere.test' } });
  t.after(() => strict.stop());
  const strictSite = await exampleSite(strict.url);
  t.after(() => strictSite.close());
  const { page } = await openExample(t, strictSite.url); // the module itself still loads (static asset, CORS *)
  const origin = new URL(strictSite.url).origin;

  await page.setInputFiles('#photo', CAT);
  await page.waitForFunction(() => document.getElementById('found').value);
  const said = await page.evaluate(() => document.getElementById('found').value);
  assert.match(said, /not allow this site/);
  assert.ok(said.includes(origin), said);
  assert.match(said, /CORS/);

  await page.setInputFiles(part('input'), CAT);
  await page.locator(COMPONENT).getByRole('button', { name: 'Hipsterize' }).click();
  const event = await nextEvent(page);
  assert.equal(event.type, 'edgecat-error');
  assert.equal(event.code, 'network_error');
  assert.equal(event.message, said);
  assert.equal(await page.locator(part('status')).textContent(), said);
});

test('an API of another major version is refused: incompatible_api', T, async (t) => {
  const { page } = await openExample(t);
  await page.route(`${BASE}/api/health`, (route) => route.fulfill({
    status: 200, contentType: 'application/json', headers: { 'access-control-allow-origin': '*' },
    body: JSON.stringify({ status: 'ok', version: '99.0.0' }),
  }));
  await page.setInputFiles(part('input'), CAT);
  await page.locator(COMPONENT).getByRole('button', { name: 'Hipsterize' }).click();
  const event = await nextEvent(page);
  assert.equal(event.code, 'incompatible_api');
  assert.match(event.message, /different versions.*server 99\.0\.0/);
});
