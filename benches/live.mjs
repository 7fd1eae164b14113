// Live camera mode's speed: the page in Chromium with a fake camera playing
// cat photos, live mode started, and the page's own counters read every
// half second: frames drawn with sunglasses per second (`live-fps`) and
// detector passes per second (`live-passes`), each measured by the page
// over its last second. Issue 19's target: live mode ≥ 15 fps median.
//
//   node benches/live.mjs [URL]   (default: starts `wrangler dev` itself)
//
// `measureLiveFps({ url, y4m, seconds })` (also the default export, which
// benches/device.mjs calls in make bench) is for make bench; without `y4m`
// it makes one from four cat photos (tests/browser/camera.mjs), each shown
// for a second.
import path from 'node:path';
import { SHARED, startWorker } from '../tests/harness.mjs';
import { launch, tid } from '../tests/browser/browser.mjs';
import { fakeCameraArgs, makeFakeCamera } from '../tests/browser/camera.mjs';
import { median } from './stats.mjs';

const PHOTOS = ['kairess_001.jpg', 'kairess_003.jpg', 'kairess_005.jpg', 'glup_cat_01.jpg']
  .map((f) => path.join(SHARED, 'data', 'cat-photos', f));

export async function measureLiveFps({ url, y4m, seconds = 10 }) {
  const made = y4m ? null : await makeFakeCamera(PHOTOS, { fps: 30, repeat: 30 });
  const browser = await launch({ args: fakeCameraArgs(y4m || made.file) });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${url}/`);
    const started = performance.now();
    await page.click(tid('live-start'));
    // Timed from the first frame the detector has answered for.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="live-passes"]').textContent) > 0, null, { timeout: 120_000 });
    const readyMs = performance.now() - started;
    const samples = [];
    const frames0 = Number(await page.getAttribute(tid('live-view'), 'data-frames'));
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await page.waitForTimeout(500);
      samples.push(await page.evaluate(() => ({
        fps: Number(document.querySelector('[data-testid="live-fps"]').textContent),
        passes: Number(document.querySelector('[data-testid="live-passes"]').textContent),
        cats: Number(document.querySelector('[data-testid="live-cats"]').textContent),
      })));
    }
    const frames = Number(await page.getAttribute(tid('live-view'), 'data-frames')) - frames0;
    const wall = (performance.now() - t0) / 1000;
    return {
      fps: median(samples.map((s) => s.fps)),
      passes: median(samples.map((s) => s.passes)),
      // Share of samples with glasses on at least one cat.
      withCats: samples.filter((s) => s.cats > 0).length / samples.length,
      // Cross-check of the page's own counter: frames drawn over the whole run.
      fpsOverall: frames / wall,
      readyMs, samples: samples.length, seconds: wall,
    };
  } finally {
    await browser.close();
    made?.remove();
  }
}

export default measureLiveFps;

if (import.meta.url === `file://${process.argv[1]}`) {
  const own = process.argv[2] ? null : await startWorker();
  try {
    const r = await measureLiveFps({ url: process.argv[2] || own.url, seconds: Number(process.env.LIVE_SECONDS || 10) });
    console.log(`live mode: ${r.fps.toFixed(1)} fps median (target ≥ 15), ${r.passes.toFixed(1)} detector passes/s median, `
      + `${r.fpsOverall.toFixed(1)} fps over the whole ${r.seconds.toFixed(1)} s, glasses on in ${(r.withCats * 100).toFixed(0)} % of samples; `
      + `camera + models ready in ${(r.readyMs / 1000).toFixed(1)} s`);
  } finally { own?.stop(); }
}
