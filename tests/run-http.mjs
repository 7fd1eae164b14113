// Integration test runner: one `wrangler dev` for all HTTP/browser test
// files (node's own test runner), always stopped afterwards.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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

let status = 1;
try {
  console.log(`wrangler dev (pid ${worker.pid}) at ${worker.url}; running ${files.length} test files`);
  const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, EDGECAT_URL: worker.url, EDGECAT_DIRECT_URL: await directUrl(worker) },
  });
  status = res.status ?? 1;
} finally {
  cleanup();
}
if (status !== 0) {
  console.error('--- wrangler dev output (tail) ---');
  console.error(worker.log().split('\n').slice(-60).join('\n'));
}
process.exit(status);
