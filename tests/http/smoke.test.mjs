// `make smoke URL=…` (scripts/smoke.mjs) against `wrangler dev`: a worker of
// its own with ALLOWED_ORIGINS set to a list, so that both CORS checks bite.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { BASE, ROOT, startWorker } from '../harness.mjs';

const ALLOWED = 'https://site.test';
let worker;
before(async () => { worker = await startWorker({ vars: { ALLOWED_ORIGINS: `${ALLOWED},https://other.test` } }); });
after(() => worker?.stop());

const smoke = (...args) => spawnSync(process.execPath, [path.join(ROOT, 'scripts/smoke.mjs'), ...args], { cwd: ROOT, encoding: 'utf8' });

test('make smoke passes every check against a worker with ALLOWED_ORIGINS set', () => {
  const res = smoke(worker.url, '--origin', ALLOWED);
  assert.equal(res.status, 0, res.stdout + res.stderr);
  const lines = res.stdout.split('\n');
  for (const check of ['health', 'models', 'openapi', 'one cat', 'one dog', 'bad input', 'CORS, allowed origin', 'CORS, refused origin']) {
    assert.ok(lines.some((l) => l.startsWith(`ok   ${check}:`)), `${check}:\n${res.stdout}`);
  }
  assert.match(res.stdout, /CORS, refused origin: https:\/\/refused\.invalid → no Access-Control-Allow-Origin/);
  assert.match(res.stdout, /smoke: all 8 checks passed/);
});

test('make smoke fails, and says which check, when an origin it was told is allowed is not', () => {
  const res = smoke(worker.url, '--origin', 'https://not-listed.test');
  assert.equal(res.status, 1, res.stdout);
  assert.match(res.stdout, /^FAIL CORS, allowed origin: .*not-listed\.test/m);
  assert.match(res.stdout, /smoke: 1 of 8 checks failed/);
});

test('smoke tells two deployments apart by their version id', () => {
  const id = (url) => smoke(url).stdout.match(/deployed version (\S+)/)?.[1];
  const a = id(worker.url);
  const b = id(BASE);
  assert.ok(a && b, 'both name a version');
  assert.notEqual(a, b);
});
