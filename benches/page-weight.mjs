// The page's first load, as Chromium fetches it: every response's bytes on
// the wire (headers + body, as `wrangler dev` serves them, uncompressed) and
// what the same bodies weigh gzipped (as a deployment compresses them).
//
//   node benches/page-weight.mjs [URL]   (default: starts `wrangler dev` itself)
//
// `measurePageWeight({ url })` is for make bench. The page's on-device code
// (device.js, its worker and Wasm; live.js) must not be in this list: it is
// fetched only when the user asks for it.
import zlib from 'node:zlib';
import { launch } from '../tests/browser/browser.mjs';
import { startWorker } from '../tests/harness.mjs';

export async function measurePageWeight({ url }) {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const rows = [];
    page.on('requestfinished', async (req) => {
      const res = await req.response();
      const sizes = await req.sizes();
      let body = Buffer.alloc(0);
      try { body = await res.body(); } catch { /* no body */ }
      rows.push({
        url: req.url().replace(url, ''), type: req.resourceType(), status: res.status(),
        wire: sizes.responseHeadersSize + sizes.responseBodySize, body: body.length, gzip: zlib.gzipSync(body, { level: 9 }).length,
      });
    });
    await page.goto(`${url}/`, { waitUntil: 'networkidle' });
    await page.waitForTimeout(500); // let the last requestfinished handlers settle
    const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
    return { rows, wire: sum('wire'), body: sum('body'), gzip: sum('gzip') };
  } finally { await browser.close(); }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const own = process.argv[2] ? null : await startWorker();
  try {
    const w = await measurePageWeight({ url: process.argv[2] || own.url });
    for (const r of w.rows) console.log(`${String(r.status).padEnd(4)} ${r.type.padEnd(10)} ${String(r.wire).padStart(8)} B wire ${String(r.gzip).padStart(8)} B gzip  ${r.url}`);
    console.log(`first load: ${w.rows.length} requests, ${w.wire} B on the wire (${w.body} B of bodies), ${w.gzip} B gzipped`);
  } finally { own?.stop(); }
}
