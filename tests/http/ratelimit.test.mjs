// The hostile catalogue's abuse limit: 429 rate_limited (README, "API").
// Its own `wrangler dev` on tests/http/ratelimit.wrangler.toml, the root
// config with a limit of 3 photo requests a minute per client; the suite's
// shared worker runs with RATE_LIMIT=off (tests/harness.mjs).
//
// Under wrangler dev (4.164, miniflare's simulated binding):
// - a client's own CF-Connecting-IP header reaches the worker unchanged (it
//   is set to the peer's address, 127.0.0.1, only when absent or empty), so
//   each test here is a client of its own, from the documentation ranges;
// - counts live in the wrangler dev process, in fixed windows of the period
//   aligned to the clock (floor(now / 60 s)): every count is reset on the
//   minute. A test whose counts must stay in one window first waits for a
//   fresh minute if less than WINDOW_MARGIN_MS of this one is left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ROOT, SHARED, startWorker } from '../harness.mjs';

const LIMIT = 3; // simple.limit in ratelimit.wrangler.toml
const PERIOD_MS = 60_000; // simple.period
const WINDOW_MARGIN_MS = 25_000;
const MB = 1000 * 1000;
const CAT = fs.readFileSync(path.join(SHARED, 'data/cat-photos/kairess_001.jpg'));
const T = { timeout: 120_000 };

let worker;
before(async () => {
  worker = await startWorker({
    config: path.join(ROOT, 'tests/http/ratelimit.wrangler.toml'),
    vars: { RATE_LIMIT: 'on' },
  });
});
after(() => worker?.stop());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function freshWindow() {
  const left = PERIOD_MS - (Date.now() % PERIOD_MS);
  if (left < WINDOW_MARGIN_MS) await sleep(left + 250);
}

const send = (client, route, { method = 'POST', body, headers = {} } = {}) =>
  fetch(`${worker.url}${route}`, { method, body, headers: { 'cf-connecting-ip': client, ...headers } });

/** Asserts a 429 rate_limited problem+json answer with a usable Retry-After. */
async function limited(res, what) {
  const text = await res.text();
  assert.equal(res.status, 429, `${what}: expected 429 rate_limited, got ${res.status}: ${text.slice(0, 300)}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json', what);
  const body = JSON.parse(text);
  assert.equal(body.code, 'rate_limited', what);
  assert.equal(body.status, 429, what);
  assert.match(body.detail, /try again in \d+ s/, what);
  const retryAfter = res.headers.get('retry-after');
  assert.match(retryAfter ?? '', /^[1-9]\d*$/, `${what}: Retry-After is a positive number of seconds`);
  assert.ok(Number(retryAfter) <= 60, `${what}: Retry-After ${retryAfter} s is at most the longest period`);
}

async function ok(res, what, status = 200) {
  const text = await res.text();
  assert.equal(res.status, status, `${what}: ${text.slice(0, 300)}`);
}

/**
 * POST over node:http that declares `declared` bytes, sends `sent` of them
 * and never ends the body: only an answer decided before the body is read
 * can come back (the worker gives up the rest of it after a second without
 * data; body.rs).
 */
function heldUpload(client, route, { declared, sent, type }) {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(`${worker.url}${route}`, {
      method: 'POST',
      agent: false,
      headers: { 'cf-connecting-ip': client, 'content-type': type, 'content-length': String(declared) },
    });
    req.on('response', (res) => {
      answered = true;
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        req.destroy();
        const text = Buffer.concat(parts).toString('utf8');
        resolve({ status: res.statusCode, headers: new Headers(res.headers), text: async () => text });
      });
    });
    req.on('error', (err) => { if (!answered) reject(err); });
    req.write(Buffer.alloc(sent));
  });
}

test(`past ${LIMIT} photo requests a minute, detect, hipsterize and warm answer 429 before reading the body`, T, async () => {
  const client = '198.51.100.1';
  await freshWindow();
  // Every photo route counts, whatever it answers: the check comes first.
  await ok(await send(client, '/api/warm'), 'warm 1');
  await ok(await send(client, '/api/detect', { body: CAT, headers: { 'content-type': 'image/jpeg' } }), 'detect 2');
  await ok(await send(client, '/api/hipsterize', { body: 'x', headers: { 'content-type': 'text/plain' } }), 'hipsterize 3', 415);

  await limited(await send(client, '/api/warm'), 'warm 4');
  await limited(await send(client, '/api/detect', { body: CAT, headers: { 'content-type': 'image/jpeg' } }), 'a cat photo to detect');
  // 5 MB of zeros as a JPEG: read and decoded, it would be 422 bad_image.
  await limited(await send(client, '/api/hipsterize', { body: Buffer.alloc(5 * MB), headers: { 'content-type': 'image/jpeg' } }),
    'a 5 MB upload to hipsterize');
  // 5 MB declared, 1 MB sent, never finished: reading the body, the worker
  // could not answer at all.
  await limited(await heldUpload(client, '/api/hipsterize', { declared: 5 * MB, sent: MB, type: 'image/jpeg' }),
    'an unfinished 5 MB upload to hipsterize');
  // Checked before the content type and the declared length too.
  await limited(await send(client, '/api/detect', { body: 'x', headers: { 'content-type': 'text/plain' } }), 'text to detect');

  // Not counted: health, models, CORS preflights.
  await ok(await send(client, '/api/health', { method: 'GET' }), 'health, same client');
  await ok(await send(client, '/api/models', { method: 'GET' }), 'models, same client');
  await ok(await send(client, '/api/hipsterize', {
    method: 'OPTIONS',
    headers: { origin: 'https://page.test', 'access-control-request-method': 'POST' },
  }), 'preflight, same client', 204);
  // Another client, in the same minute, is served.
  await ok(await send('198.51.100.2', '/api/warm'), 'warm from another client');
  // A cross-origin page can read Retry-After.
  const cross = await send(client, '/api/warm', { headers: { origin: 'https://page.test' } });
  await limited(cross, 'warm from a page on another origin');
  assert.match(cross.headers.get('access-control-expose-headers') ?? '', /Retry-After/);
});

test('an IPv6 client is counted by its /64', T, async () => {
  await freshWindow();
  for (let i = 1; i <= LIMIT; i++) await ok(await send(`2001:db8:18:1::${i}`, '/api/warm'), `warm from ::${i}`);
  await limited(await send('2001:db8:18:1:ffff::9', '/api/warm'), 'warm from elsewhere in the same /64');
  await ok(await send('2001:db8:18:2::1', '/api/warm'), 'warm from the next /64');
});
