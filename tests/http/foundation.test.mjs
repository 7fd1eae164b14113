// The worker's skeleton under wrangler dev: routes, problem+json errors,
// CORS, static assets and panic recovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, SHARED, startWorker } from '../harness.mjs';

const PROBLEM = 'application/problem+json';

async function problem(res, status, code) {
  assert.equal(res.status, status, `status for ${code}`);
  assert.equal(res.headers.get('content-type'), PROBLEM);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const body = await res.json();
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  assert.ok(body.title && body.detail && body.type, JSON.stringify(body));
  return body;
}

test('GET /api/health answers JSON with version and build info', async () => {
  const res = await fetch(`${BASE}/api/health`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const body = await res.json();
  assert.equal(body.status, 'ok');
  assert.match(body.version, /^\d+\.\d+\.\d+/);
  assert.equal(body.build.target, 'wasm32-unknown-unknown');
  assert.equal(body.build.profile, 'release');
  // Wasm pages are 64 KiB; the worker has at least its data and stack.
  assert.ok(body.wasm_memory_bytes >= 1 << 20 && body.wasm_memory_bytes % 65536 === 0, `${body.wasm_memory_bytes}`);
  // The same instance answers the next request and has counted both.
  const again = await (await fetch(`${BASE}/api/health`)).json();
  assert.ok(body.instance_requests >= 1 && again.instance_requests > body.instance_requests, `${body.instance_requests} → ${again.instance_requests}`);
});

test('a fresh isolate has loaded its models before its first request', async (t) => {
  const worker = await startWorker({ probe: '/' });
  t.after(() => worker.stop());
  const body = await (await fetch(`${worker.url}/api/health`)).json();
  assert.equal(body.instance_requests, 1, 'this is the first request of the instance');
  assert.equal(body.models_loaded, true);
  // So the first photo does not pay for them.
  const photo = fs.readFileSync(path.join(SHARED, 'data/cat-photos/kairess_001.jpg'));
  const res = await fetch(`${worker.url}/api/detect`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
  assert.equal(res.status, 200);
  assert.doesNotMatch(res.headers.get('server-timing'), /model_load/);
});

test('HEAD /api/health has no body', async () => {
  const res = await fetch(`${BASE}/api/health`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 0);
});

test('GET /api/models lists the embedded models', async () => {
  const res = await fetch(`${BASE}/api/models`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(Array.isArray(body.models));
  for (const m of body.models) {
    assert.match(m.sha256, /^[0-9a-f]{64}$/);
    assert.ok(m.bytes > 0);
    assert.equal(m.input_shape.length, 4);
  }
});

test('unknown API route is 404 not_found', async () => {
  await problem(await fetch(`${BASE}/api/nope`), 404, 'not_found');
});

test('wrong method is 405 method_not_allowed with Allow', async () => {
  const res = await fetch(`${BASE}/api/health`, { method: 'DELETE' });
  await problem(res, 405, 'method_not_allowed');
  assert.equal(res.headers.get('allow'), 'GET, HEAD, OPTIONS');
  const res2 = await fetch(`${BASE}/api/hipsterize`);
  await problem(res2, 405, 'method_not_allowed');
  assert.equal(res2.headers.get('allow'), 'POST, OPTIONS');
});

test('wrong Content-Type is 415 unsupported_media_type', async () => {
  const res = await fetch(`${BASE}/api/detect`, {
    method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'meow',
  });
  await problem(res, 415, 'unsupported_media_type');
  const res2 = await fetch(`${BASE}/api/hipsterize`, { method: 'POST', body: new Uint8Array([1, 2, 3]) });
  await problem(res2, 415, 'unsupported_media_type');
});

test('a body over 20 MB is 413 payload_too_large', async () => {
  const big = new Uint8Array(20 * 1000 * 1000 + 1);
  const res = await fetch(`${BASE}/api/detect`, {
    method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: big,
  });
  await problem(res, 413, 'payload_too_large');
});

test('empty body and boundary-less multipart are 400 bad_request', async () => {
  const res = await fetch(`${BASE}/api/detect`, {
    method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(0),
  });
  await problem(res, 400, 'bad_request');
  const res2 = await fetch(`${BASE}/api/detect`, {
    method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'x',
  });
  await problem(res2, 400, 'bad_request');
});

test('multipart without a photo is 400 missing_field', async () => {
  const form = new FormData();
  form.append('style', 'classic');
  const res = await fetch(`${BASE}/api/detect`, { method: 'POST', body: form });
  await problem(res, 400, 'missing_field');
});

test('preflight OPTIONS is 204 with CORS headers', async () => {
  const res = await fetch(`${BASE}/api/hipsterize`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://127.0.0.1:9',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(res.headers.get('access-control-allow-methods'), 'POST, OPTIONS');
  assert.match(res.headers.get('access-control-allow-headers'), /Content-Type/);
  assert.ok(Number(res.headers.get('access-control-max-age')) > 0);
});

test('API answers carry CORS headers, errors too', async () => {
  const ok = await fetch(`${BASE}/api/health`, { headers: { origin: 'https://site.test' } });
  assert.equal(ok.headers.get('access-control-allow-origin'), '*');
  assert.match(ok.headers.get('access-control-expose-headers'), /Server-Timing/);
  const err = await fetch(`${BASE}/api/nope`, { headers: { origin: 'https://site.test' } });
  assert.equal(err.status, 404);
  assert.equal(err.headers.get('access-control-allow-origin'), '*');
});

test('the static page is served at /', async () => {
  const res = await fetch(`${BASE}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/html/);
  assert.match(await res.text(), /edgecat/);
});

test('a panic in a handler does not break the next request', async () => {
  const res = await fetch(`${BASE}/api/__panic`);
  assert.ok(res.status >= 500, `panic route answered ${res.status}`);
  await res.arrayBuffer();
  for (let i = 0; i < 3; i++) {
    const health = await fetch(`${BASE}/api/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, 'ok');
  }
});

test('ALLOWED_ORIGINS as a list reflects only listed origins', async (t) => {
  const allowed = 'http://127.0.0.1:9001';
  const worker = await startWorker({ vars: { ALLOWED_ORIGINS: `${allowed},https://other.test` } });
  t.after(() => worker.stop());
  const good = await fetch(`${worker.url}/api/health`, { headers: { origin: allowed } });
  assert.equal(good.headers.get('access-control-allow-origin'), allowed);
  assert.match(good.headers.get('vary'), /Origin/);
  const foreign = await fetch(`${worker.url}/api/health`, { headers: { origin: 'https://evil.test' } });
  assert.equal(foreign.status, 200);
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  const pre = await fetch(`${worker.url}/api/detect`, {
    method: 'OPTIONS', headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), null);
  assert.equal(pre.headers.get('access-control-allow-methods'), null);
});
