// The request log (src/http/reqlog.rs): one object per request through
// console.log, read back from `wrangler dev`'s own output. The worker logs an
// object, as Workers Logs indexes an object's fields; wrangler dev prints it
// the way Node's util.inspect does (from --log-level log on), which
// `records` turns back into JSON.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SHARED, startWorker } from '../harness.mjs';

const CAT = fs.readFileSync(path.join(SHARED, 'data/cat-photos/kairess_001.jpg'));
// A client's addresses, as Cloudflare and proxies pass them: none may be logged.
const CLIENT = { 'cf-connecting-ip': '203.0.113.77', 'x-forwarded-for': '198.51.100.23', 'x-real-ip': '192.0.2.44' };
const FIELDS = ['bytes_in', 'bytes_out', 'cats', 'error', 'event', 'instance_requests', 'method', 'route', 'status', 'timing_ms'];

let worker;
before(async () => { worker = await startWorker({ logLevel: 'log' }); });
after(() => worker?.stop());

/** util.inspect's rendering of a flat-ish object (single-quoted strings, bare keys) as JSON. */
function inspectedToJson(text) {
  let out = '';
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (c === "'") {
      let j = i + 1; let s = '';
      while (text[j] !== "'") { if (text[j] === '\\') { s += text[j + 1]; j += 2; } else s += text[j++]; }
      out += JSON.stringify(s); i = j + 1;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i;
      while (/[\w$]/.test(text[j])) j++;
      const word = text.slice(i, j);
      out += ['null', 'true', 'false'].includes(word) ? word : JSON.stringify(word);
      i = j;
    } else { out += c; i++; }
  }
  return JSON.parse(out);
}

/** The worker's request records in wrangler dev's output so far, with their text. */
function records() {
  const blocks = worker.log().match(/^\{ .*event: 'request'.* \}$|^\{\n[\s\S]*?\n\}$/gm) ?? [];
  return blocks.filter((b) => b.includes("event: 'request'")).map((text) => ({ text, record: inspectedToJson(text) }));
}

async function waitForRecords(n) {
  const deadline = Date.now() + 15_000;
  while (records().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const found = records();
  assert.ok(found.length >= n, `${found.length} request records, expected ${n}:\n${worker.log().slice(-3000)}`);
  return found;
}

test('one record per request: route, method, status, error code, cats, bytes, stages, instance count; no client address', async () => {
  const detect = await fetch(`${worker.url}/api/detect`, { method: 'POST', body: CAT, headers: { 'content-type': 'image/jpeg', ...CLIENT } });
  const detectBody = Buffer.from(await detect.arrayBuffer());
  assert.equal(detect.status, 200);
  const timing = Object.fromEntries(detect.headers.get('server-timing').split(', ').map((e) => { const [k, d] = e.split(';dur='); return [k, Number(d)]; }));
  const bad = await fetch(`${worker.url}/api/detect`, { method: 'POST', body: 'not a photo', headers: { 'content-type': 'text/plain', ...CLIENT } });
  const badBody = Buffer.from(await bad.arrayBuffer());
  assert.equal(bad.status, 415);
  const missing = await fetch(`${worker.url}/api/no-such-route?secret=1`, { headers: CLIENT });
  await missing.arrayBuffer();
  assert.equal(missing.status, 404);
  const head = await fetch(`${worker.url}/api/health`, { method: 'HEAD', headers: CLIENT });
  await head.arrayBuffer();

  // startWorker's probe was the first request (GET /api/health): five in all.
  const found = await waitForRecords(5);
  for (const { text, record } of found) {
    assert.deepEqual(Object.keys(record).sort(), FIELDS, text);
    for (const address of [...Object.values(CLIENT), '127.0.0.1']) assert.ok(!text.includes(address), `${address} in ${text}`);
  }
  const [probe, ok, refused, notFound, headRecord] = found.map((f) => f.record);
  assert.deepEqual(probe, {
    event: 'request', route: '/api/health', method: 'GET', status: 200, error: null, cats: null,
    bytes_in: null, bytes_out: probe.bytes_out, timing_ms: {}, instance_requests: 1,
  });
  assert.ok(probe.bytes_out > 100, `${probe.bytes_out}`);

  assert.equal(ok.route, '/api/detect');
  assert.equal(ok.method, 'POST');
  assert.equal(ok.status, 200);
  assert.equal(ok.error, null);
  assert.equal(ok.cats, JSON.parse(detectBody).cats.length);
  assert.equal(ok.cats, 1);
  assert.equal(ok.bytes_in, CAT.length);
  assert.equal(ok.bytes_out, detectBody.length);
  assert.deepEqual(ok.timing_ms, timing, 'the stages are the Server-Timing the client got');

  assert.equal(refused.status, 415);
  assert.equal(refused.error, 'unsupported_media_type', 'an error answer logs its problem+json code');
  assert.equal(refused.error, JSON.parse(badBody).code);
  assert.equal(refused.bytes_in, 'not a photo'.length, 'an unread body counts by its Content-Length');
  assert.equal(refused.bytes_out, badBody.length);

  assert.equal(notFound.route, 'other', 'an unknown path is not logged as such');
  assert.equal(notFound.error, 'not_found');
  assert.ok(!found[3].text.includes('no-such-route') && !found[3].text.includes('secret'));

  assert.equal(headRecord.method, 'HEAD');
  assert.equal(headRecord.bytes_out, 0);

  assert.deepEqual(found.map((f) => f.record.instance_requests), [1, 2, 3, 4, 5], 'the instance counts every request');
});
