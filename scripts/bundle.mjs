// The deployable bundle's size, as `wrangler deploy --dry-run --outdir` writes
// it: raw and gzip -9 of every file, the Wasm apart, and the gzip figure
// wrangler itself reports. `make test` runs this as a size guard (size is
// deterministic, so unlike time it can be a check); `make bench` reports it.
// The limit is on the uncompressed size: 64 MiB on every plan since
// 2026-09-04, when Cloudflare dropped the compressed limits (3 MB gzip on
// Free, 10 MB on Paid); gzip is reported for reference only.
//
//   node scripts/bundle.mjs        prints the sizes; exits 1 over 64 MiB uncompressed
//   node scripts/bundle.mjs --web  the browser build's (www/pkg/) sizes; exits 1 if a file is over
//                                  what a static asset may be (25 MiB)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** A Worker's bundle may be this large, uncompressed, on every plan. */
export const BUNDLE_MAX_BYTES = 64 * 1024 * 1024;

export function bundleSize(dir = path.join(ROOT, 'target', 'dry-run')) {
  fs.rmSync(dir, { recursive: true, force: true });
  // scripts/wrangler: wrangler on the Node it needs (>= 22.12).
  const res = spawnSync(path.join(ROOT, 'scripts', 'wrangler'), [
    'deploy', '--dry-run', '--outdir', dir], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' } });
  if (res.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${res.stdout}\n${res.stderr}`);
  let raw = 0; let gzip = 0; let wasmRaw = 0; let wasmGzip = 0;
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    const p = path.join(dir, f);
    if (!fs.statSync(p).isFile() || f.endsWith('.map')) continue;
    const b = fs.readFileSync(p);
    const g = zlib.gzipSync(b, { level: 9 }).length;
    raw += b.length; gzip += g;
    if (f.endsWith('.wasm')) { wasmRaw += b.length; wasmGzip += g; }
  }
  const reported = (res.stdout + res.stderr).match(/Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/);
  return {
    raw, gzip, wasmRaw, wasmGzip,
    wranglerRaw: reported ? Number(reported[1]) * 1024 : null,
    wranglerGzip: reported ? Number(reported[2]) * 1024 : null,
  };
}

// Cloudflare serves a static asset of at most 25 MiB.
export const ASSET_MAX_BYTES = 25 * 1024 * 1024;
export const WEB_PKG = path.join(ROOT, 'www', 'pkg');

/** The browser build (www/pkg/, on-device mode): raw and gzip -9, the Wasm apart. */
export function webSize(dir = WEB_PKG) {
  let raw = 0; let gzip = 0; let wasmRaw = 0; let wasmGzip = 0; let largest = 0;
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.d.ts')) continue; // types: not fetched by the page
    const b = fs.readFileSync(path.join(dir, f));
    const g = zlib.gzipSync(b, { level: 9 }).length;
    raw += b.length; gzip += g; largest = Math.max(largest, b.length);
    if (f.endsWith('.wasm')) { wasmRaw += b.length; wasmGzip += g; }
  }
  return { raw, gzip, wasmRaw, wasmGzip, largest };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[2] === '--web') {
  // `make build`'s size step for www/pkg/ (served as assets, not in the bundle).
  const w = webSize();
  const mb = (x) => `${(x / 1e6).toFixed(3)} MB`;
  console.log(`browser build (www/pkg): raw ${mb(w.raw)}, gzip -9 ${mb(w.gzip)}; of which Wasm raw ${mb(w.wasmRaw)}, gzip ${mb(w.wasmGzip)}`);
  if (w.largest > ASSET_MAX_BYTES) {
    console.error(`browser build: a file of ${mb(w.largest)} is over the ${mb(ASSET_MAX_BYTES)} a static asset may be`);
    process.exit(1);
  }
} else if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const b = bundleSize();
  const mb = (x) => `${(x / 1e6).toFixed(3)} MB`;
  const mib = (x) => `${(x / 2 ** 20).toFixed(2)} MiB`;
  // The larger of wrangler's figure and the files' sum is the one checked.
  const checked = Math.max(b.raw, b.wranglerRaw ?? 0);
  console.log(`bundle: raw ${mb(b.raw)}${b.wranglerRaw ? ` (wrangler: ${mb(b.wranglerRaw)})` : ''}, gzip -9 ${mb(b.gzip)}${b.wranglerGzip ? `, wrangler's gzip ${mb(b.wranglerGzip)}` : ''} (gzip for reference: no limit since 2026-09-04); `
    + `of which Wasm raw ${mb(b.wasmRaw)}, gzip ${mb(b.wasmGzip)}`);
  if (checked > BUNDLE_MAX_BYTES) {
    console.error(`bundle: ${mib(checked)} uncompressed is over the ${mib(BUNDLE_MAX_BYTES)} a Worker may be`);
    process.exit(1);
  }
  console.log(`bundle: ${mib(checked)} uncompressed, ${(100 * checked / BUNDLE_MAX_BYTES).toFixed(0)}% of the ${mib(BUNDLE_MAX_BYTES)} limit (margin ${mib(BUNDLE_MAX_BYTES - checked)})`);
}
