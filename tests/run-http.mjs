// Integration test runner: one `wrangler dev` for all HTTP/browser test
// files (node's own test runner), always stopped afterwards.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, directUrl, startWorker } from './harness.mjs';

const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['tests/http'];
const found = dirs.flatMap((d) =>
  fs.readdirSync(path.join(ROOT, d)).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => path.join(d, f)));
// cli.test.mjs last: it may wait for the native CLI (EDGECAT_CLI_READY),
// which make test builds while the other files run.
const needsCli = (f) => path.basename(f) === 'cli.test.mjs';
const files = [...found.filter((f) => !needsCli(f)), ...found.filter(needsCli)];

const worker = await startWorker({ vars: { EDGECAT_TEST_ROUTES: '1' } });
const cleanup = () => worker.stop();
process.on('SIGINT', () => { cleanup(); process.exit(130); });
process.on('SIGTERM', () => { cleanup(); process.exit(143); });

// Every answer the tests fetch from the worker is checked against the API
// contract (tests/conformance.mjs); each test process appends its counts here.
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecat-conformance-'));
const conformanceLog = path.join(logDir, 'log.jsonl');
const conformance = pathToFileURL(path.join(ROOT, 'tests/conformance.mjs')).href;

let status = 1;
try {
  console.log(`wrangler dev (pid ${worker.pid}) at ${worker.url}; running ${files.length} test files`);
  const res = spawnSync(process.execPath, ['--import', conformance, '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, EDGECAT_URL: worker.url, EDGECAT_DIRECT_URL: await directUrl(worker), EDGECAT_CONFORMANCE_LOG: conformanceLog },
  });
  status = res.status ?? 1;
} finally {
  cleanup();
}
const runs = fs.existsSync(conformanceLog)
  ? fs.readFileSync(conformanceLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  : [];
fs.rmSync(logDir, { recursive: true, force: true });
const total = (k) => runs.reduce((n, r) => n + (Array.isArray(r[k]) ? r[k].length : r[k]), 0);
console.log(`OpenAPI conformance: ${total('checked')} answers checked against src/http/openapi.json in ${runs.length} test files, ${total('violations')} violations (${total('skipped')} skipped: wrangler's and workerd's own answers, aborted answers)`);
console.log(`  ${runs.map((r) => `${path.basename(r.file, '.test.mjs')} ${r.checked}`).join(', ')}`);
for (const r of runs) for (const v of r.violations) console.error(`  ${r.file}: ${v}`);
if (total('violations') > 0 && status === 0) status = 1;
if (status !== 0) {
  console.error('--- wrangler dev output (tail) ---');
  console.error(worker.log().split('\n').slice(-60).join('\n'));
}
process.exit(status);
