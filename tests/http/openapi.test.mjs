// The API contract: GET /api/openapi.json serves src/http/openapi.json as it is,
// the document is valid OpenAPI 3.1, and the conformance check that every
// other suite runs under (tests/conformance.mjs) is on and catches mistakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE } from '../harness.mjs';
import { DOCUMENT, DOCUMENT_TEXT, checker, validateDocument } from '../openapi.mjs';

test('GET /api/openapi.json serves src/http/openapi.json byte for byte', async () => {
  const res = await fetch(`${BASE}/api/openapi.json`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const served = Buffer.from(await res.arrayBuffer());
  assert.ok(served.equals(Buffer.from(DOCUMENT_TEXT, 'utf8')), 'the served document is src/http/openapi.json');
  const head = await fetch(`${BASE}/api/openapi.json`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  const pre = await fetch(`${BASE}/api/openapi.json`, { method: 'OPTIONS', headers: { origin: 'https://site.test', 'access-control-request-method': 'GET' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, HEAD, OPTIONS');
});

test('the document is valid OpenAPI 3.1', async () => {
  const served = await (await fetch(`${BASE}/api/openapi.json`)).json();
  const result = await validateDocument(served);
  assert.equal(result.version, '3.1');
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
  assert.match(served.openapi, /^3\.1\.\d+$/);
  // Every schema compiles in Ajv's strict 2020-12 mode (the OpenAPI schema
  // does not look inside JSON Schemas).
  assert.doesNotThrow(() => checker(served));
});

test('the conformance check is on in this process and has checked answers', () => {
  const stats = globalThis.__edgecatConformance;
  assert.ok(stats, 'tests/conformance.mjs is preloaded (tests/run-http.mjs)');
  assert.ok(stats.checked >= 4, `${stats.checked} answers checked`);
  assert.deepEqual(stats.violations, []);
});

test('the conformance check catches a wrong answer', () => {
  const check = checker(DOCUMENT);
  const url = 'http://127.0.0.1:1/api/health';
  const json = (v) => new TextEncoder().encode(JSON.stringify(v));
  const h = (o) => new Headers({ 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', ...o });
  const problem = (status, code, headers = {}) => ({
    status, headers: h({ 'content-type': 'application/problem+json', ...headers }),
    body: json({ type: `https://edgecat.dev/problems/${code.replaceAll('_', '-')}`, title: 'T', status, detail: 'd', code }),
  });
  // A health body missing a field, an undocumented status, a wrong type.
  assert.match(check({ method: 'GET', url, status: 200, headers: h({ 'content-type': 'application/json' }), body: json({ status: 'ok' }) }).join(), /must have required property 'name'/);
  assert.match(check({ method: 'GET', url, status: 201, headers: h({ 'content-type': 'application/json' }), body: json({}) }).join(), /status 201 is not documented/);
  assert.match(check({ method: 'GET', url, status: 200, headers: h({ 'content-type': 'text/plain' }), body: new Uint8Array([1]) }).join(), /Content-Type "text\/plain" is not documented/);
  // Error codes go with their status, and their headers are required.
  const detect = 'http://127.0.0.1:1/api/detect';
  assert.deepEqual(check({ method: 'POST', url: detect, ...problem(422, 'bad_image') }), []);
  assert.match(check({ method: 'POST', url: detect, ...problem(422, 'no_cat_found') }).join(), /must be equal to one of the allowed values/);
  assert.match(check({ method: 'POST', url: detect, ...problem(429, 'rate_limited') }).join(), /header Retry-After is missing/);
  assert.deepEqual(check({ method: 'POST', url: detect, ...problem(429, 'rate_limited', { 'retry-after': '60' }) }), []);
  // Paths and methods the document does not list: 404 and 405 only.
  assert.deepEqual(check({ method: 'GET', url: 'http://127.0.0.1:1/api/nope', ...problem(404, 'not_found') }), []);
  assert.match(check({ method: 'DELETE', url, ...problem(405, 'method_not_allowed') }).join(), /header Allow is missing/);
  // Images by their signature.
  const hip = 'http://127.0.0.1:1/api/hipsterize';
  const image = { status: 200, headers: h({ 'content-type': 'image/png', 'x-cats-found': '1', 'server-timing': 'decode;dur=1.00, total;dur=2.00' }) };
  assert.match(check({ method: 'POST', url: hip, ...image, body: new Uint8Array([0xff, 0xd8, 0xff, 0]) }).join(), /the body is not image\/png/);
  assert.match(check({ method: 'POST', url: hip, ...image, headers: h({ 'content-type': 'image/jpeg', 'x-cats-found': '0', 'server-timing': 'decode;dur=1.00' }), body: new Uint8Array([0xff, 0xd8, 0xff, 0]) }).join(), /header X-Cats-Found/);
});
