// Preloaded into every HTTP test process (tests/run-http.mjs: `node --import
// ./tests/conformance.mjs --test …`): wraps globalThis.fetch so that every
// answer from a local edgecat worker under /api/ is checked against the API
// contract, src/http/openapi.json (tests/openapi.mjs). A violation makes that
// fetch throw, so the test that made the request fails and is named; all
// violations are also printed when the process exits, and make it fail even
// if a test swallowed the error. Not checked: test-only routes, the local
// tooling's own answers (see fromTooling), and answers read over raw sockets
// (node:http / node:net in hostile.test.mjs and reliability.test.mjs), which
// do not go through fetch.
import fs from 'node:fs';
import path from 'node:path';
import { checker, TEST_ONLY_PATHS } from './openapi.mjs';

const check = checker();
const original = globalThis.fetch;
const stats = { checked: 0, skipped: 0, violations: [] };
/** For tests/http/openapi.test.mjs: proof that the hook is on. */
globalThis.__edgecatConformance = stats;

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function inScope(url) {
  let u;
  try { u = new URL(url); } catch { return false; }
  if (u.protocol !== 'http:' || !LOCAL_HOSTS.has(u.hostname)) return false;
  if (!(u.pathname === '/api' || u.pathname.startsWith('/api/'))) return false;
  const route = u.pathname.length > 1 && u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname;
  return !TEST_ONLY_PATHS.includes(route);
}

/**
 * Answers the local tooling makes itself, never the worker (which puts
 * X-Content-Type-Options on every answer): wrangler's ProxyWorker's 503 when
 * its hop to workerd fails, and workerd's bare 500 "Not yet implemented" to a
 * request that arrives while a new `wrangler dev` is still starting (the
 * harness's start-up probe, which retries until it gets a 200).
 */
const fromTooling = (res, text) =>
  !res.headers.has('x-content-type-options') &&
  ((res.status === 503 && text.startsWith('Your worker restarted')) || (res.status === 500 && text === 'Not yet implemented'));

globalThis.fetch = async function conformingFetch(input, init) {
  const res = await original(input, init);
  const url = input instanceof Request ? input.url : String(input);
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
  if (!inScope(url)) return res;
  let body;
  try {
    body = method === 'HEAD' ? new Uint8Array() : new Uint8Array(await res.clone().arrayBuffer());
  } catch {
    stats.skipped++; // the caller aborted the answer: nothing whole to check
    return res;
  }
  if (fromTooling(res, Buffer.from(body).toString('utf8'))) {
    stats.skipped++;
    return res;
  }
  stats.checked++;
  const violations = check({ method, url, status: res.status, headers: res.headers, body });
  if (violations.length) {
    stats.violations.push(...violations);
    throw new Error(`the answer does not conform to src/http/openapi.json:\n  ${violations.join('\n  ')}`);
  }
  return res;
};

process.on('exit', () => {
  const file = path.relative(process.cwd(), process.argv[1] ?? '?');
  if (process.env.EDGECAT_CONFORMANCE_LOG) {
    fs.appendFileSync(process.env.EDGECAT_CONFORMANCE_LOG, `${JSON.stringify({ file, ...stats })}\n`);
  }
  if (stats.violations.length) {
    console.error(`${file}: ${stats.violations.length} answer(s) do not conform to src/http/openapi.json:\n  ${stats.violations.join('\n  ')}`);
    process.exitCode = 1;
  }
});
