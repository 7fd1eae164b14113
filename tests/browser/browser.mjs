// Helpers for the page tests: Debian's Chromium via playwright-core with a
// fresh profile, small static/capture servers, and page probes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, SHARED, freePort } from '../harness.mjs';

export const WWW = path.join(ROOT, 'www');
export const SCREENSHOTS = path.join(ROOT, 'tests', 'screenshots');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

export const CAT = path.join(SHARED, 'data', 'cat-photos', 'kairess_001.jpg');
export const OVERLAY = path.join(SHARED, 'data', 'overlays', 'glup-tutorial_01_shades.png');
export const EXIF6 = path.join(ROOT, 'tests', 'fixtures', 'cat-exif-orientation-6.jpg');
// A dog from the held-out half of the dogs (odd index in sorted order; the
// even half may be used as training negatives).
export const DOG = path.join(SHARED, 'data', 'cats-vs-dogs', 'dog', 'dog.4003.jpg');

export const NO_CAT = 'No cat face found — try a photo where the cat faces the camera.';

/** `[data-testid=...]` */
export const tid = (id) => `[data-testid="${id}"]`;

/**
 * One Chromium with a fresh profile in a temp dir, removed by close().
 * `args`: extra command-line flags (the fake camera, for live mode).
 */
export async function launch({ args = [] } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecat-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', ...args],
    viewport: DESKTOP,
  });
  context.setDefaultTimeout(60_000);
  for (const p of context.pages()) await p.close();
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A new tab at `viewport`, closed after test `t`. `problems` collects page
 * script errors and CSP violations (both should never happen).
 */
export async function openPage(t, context, viewport = DESKTOP) {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`csp: ${m.text()}`);
  });
  // Chromium does not hand multipart bodies with files to Playwright, so the
  // page's own FormData is recorded as it is sent to /api/hipsterize, in the
  // shape of multipart part headers.
  await page.addInitScript(() => {
    const send = window.fetch;
    window.__hipsterizeForms = [];
    window.fetch = (url, init) => {
      if (String(url).includes('/api/hipsterize') && init && init.body instanceof FormData) {
        window.__hipsterizeForms.push([...init.body.entries()].map(([name, v]) => (typeof v === 'string'
          ? `name="${name}"\r\n\r\n${v}\r\n`
          : `name="${name}"; filename="${v.name}"\r\nContent-Type: ${v.type}\r\n`)).join(''));
      }
      return send(url, init);
    };
  });
  t.after(() => page.close().catch(() => {}));
  return { page, problems };
}

/** The multipart part headers of the i-th form the page sent to /api/hipsterize. */
export async function sentForm(page, i) {
  const forms = await page.evaluate(() => window.__hipsterizeForms);
  assert.ok(forms.length > i, `only ${forms.length} forms were sent`);
  return forms[i];
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Wait until the page shows either a loaded result image or an error message. */
export async function outcome(page, timeout = 60_000) {
  await page.waitForFunction(() => {
    const r = document.querySelector('[data-testid="result"]');
    const e = document.querySelector('[data-testid="error"]');
    return (r.getAttribute('src') && r.complete && r.naturalWidth > 0) || e.textContent.trim();
  }, null, { timeout });
  return page.evaluate(() => {
    const r = document.querySelector('[data-testid="result"]');
    return {
      error: document.querySelector('[data-testid="error"]').textContent.trim(),
      src: r.getAttribute('src') || '',
      natural: [r.naturalWidth, r.naturalHeight],
    };
  });
}

/** Bytes behind a URL as the page sees them (blob: URLs included). */
export async function pageBytes(page, url) {
  const b64 = await page.evaluate(async (u) => {
    const buf = new Uint8Array(await (await fetch(u)).arrayBuffer());
    let s = '';
    for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    return btoa(s);
  }, url);
  return Buffer.from(b64, 'base64');
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
};

async function listen(handler) {
  const port = await freePort();
  const server = http.createServer(handler);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

/**
 * Serve `dir` read-only on a free loopback port (a second origin for the
 * page). `rewrite(text)`, if given, edits each HTML file as it is served.
 */
export function serveStatic(dir = WWW, rewrite = null) {
  return listen((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(dir, rel.endsWith('/') ? `${rel}index.html` : rel);
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    const body = fs.readFileSync(file);
    res.end(rewrite && path.extname(file) === '.html' ? rewrite(body.toString('utf8')) : body);
  });
}

/**
 * A stand-in API that records every POST body (the browser's real bytes,
 * which Playwright's request.postData leaves out for file parts) and answers
 * with `reply(req)`: { status, headers, body }.
 */
export async function captureApi(reply) {
  const posts = [];
  const srv = await listen((req, res) => {
    const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'Server-Timing, X-Cats-Found' };
    if (req.method !== 'POST') {
      res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end('{"models":[],"metrics":null}');
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      posts.push({ url: req.url, type: req.headers['content-type'] || '', body, parts: multipart(req.headers['content-type'], body) });
      const { status = 200, headers = {}, body: out = '' } = reply(req);
      res.writeHead(status, { ...cors, ...headers }).end(out);
    });
  });
  return { ...srv, posts };
}

/** Parse multipart/form-data into { name: { filename, type, data } }. */
export function multipart(contentType, body) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType || '');
  if (!m) return {};
  const delim = Buffer.from(`--${m[1] || m[2]}`);
  const parts = {};
  let at = body.indexOf(delim);
  while (at >= 0) {
    const start = at + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    const chunk = body.subarray(start + 2, next - 2); // skip CRLF after delimiter and before the next
    const split = chunk.indexOf('\r\n\r\n');
    const head = chunk.subarray(0, split).toString('latin1');
    const name = /name="([^"]*)"/.exec(head)?.[1];
    if (name) {
      parts[name] = {
        filename: /filename="([^"]*)"/.exec(head)?.[1],
        type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1],
        data: chunk.subarray(split + 4),
      };
    }
    at = next;
  }
  return parts;
}
