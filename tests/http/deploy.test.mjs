// `make deploy`, offline: the dry run (DRY_RUN=1, no account) and what the
// bundle declares, and the preflight that names missing credentials. The
// guards (64 MiB, 1 s) are phases of `make test` of their own, so the dry run
// here skips them (DEPLOY_GUARDS=0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../harness.mjs';

const TOOLS = process.env.EDGECAT_TOOLS || path.join(os.homedir(), '.cache', 'edgecat', 'tools');
const deploy = (env) => spawnSync('bash', ['scripts/deploy.sh'], {
  cwd: ROOT, encoding: 'utf8', env: { ...process.env, EDGECAT_TOOLS: TOOLS, NO_COLOR: '1', ...env },
});

/** The `[vars]` table of README's "Deploy" section: the vars it documents. */
function documentedVars() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Deploy'));
  assert.ok(section, 'README has a "Deploy" section');
  const table = section.split(/\n\n/).find((p) => /^\| var /m.test(p));
  assert.ok(table, 'its [vars] table (a header row starting "| var ")');
  return table.split('\n').map((row) => row.match(/^\| `([A-Z][A-Z0-9_]*)`/)?.[1]).filter(Boolean);
}

test('make deploy DRY_RUN=1: offline, no account, prints what would be deployed, bindings included', () => {
  const res = deploy({ DRY_RUN: '1', DEPLOY_GUARDS: '0', CLOUDFLARE_API_TOKEN: '' });
  const out = res.stdout + res.stderr;
  assert.equal(res.status, 0, out);
  assert.match(out, /--dry-run: exiting now/);
  assert.match(out, /nothing was uploaded/);

  const plan = JSON.parse(fs.readFileSync(path.join(ROOT, 'target/deploy/plan.json'), 'utf8'));
  // The Wasm module, beside the JS that imports it.
  const wasm = plan.modules.filter((m) => m.type === 'wasm');
  assert.equal(wasm.length, 1, JSON.stringify(plan.modules));
  assert.ok(wasm[0].bytes > 1e6, `${wasm[0].file}: ${wasm[0].bytes} bytes`);
  const js = fs.readFileSync(path.join(ROOT, 'target/deploy/dry-run/index.js'), 'utf8');
  assert.ok(js.includes(wasm[0].file), `index.js imports ${wasm[0].file}`);
  const dryWasm = fs.readFileSync(path.join(ROOT, 'target/deploy/dry-run', wasm[0].file));
  assert.ok(dryWasm.equals(fs.readFileSync(path.join(ROOT, 'worker/build/index_bg.wasm'))), 'the module is the one built');

  // The page's files as assets; /api/* reaches the worker first.
  assert.equal(plan.assets.directory, 'www');
  assert.deepEqual(plan.assets.run_worker_first, ['/api/*']);
  assert.match(out, /run_worker_first \["\/api\/\*"\]/);

  // The rate limit, as a binding wrangler declares.
  assert.deepEqual(plan.bindings.ratelimits.map((r) => r.name), ['PHOTO_RATE_LIMIT']);
  assert.match(plan.bindings.ratelimits[0].namespace_id, /^[1-9]\d*$/);
  assert.match(out, /env\.PHOTO_RATE_LIMIT \(\d+ requests\/\d+s\)\s+Rate Limit/);
  assert.match(out, /env\.CF_VERSION_METADATA\s+Worker Version Metadata/);

  // Every var README documents is declared, and nothing else.
  const documented = documentedVars();
  assert.deepEqual(Object.keys(plan.bindings.vars).sort(), [...documented].sort(), 'wrangler.toml [vars] = README "Deploy" vars table');
  for (const name of documented) assert.match(out, new RegExp(`env\\.${name} \\(.*\\)\\s+Environment Variable`), name);

  assert.equal(plan.observability.enabled, true);
  assert.ok(plan.observability.head_sampling_rate > 0 && plan.observability.head_sampling_rate <= 1);
  assert.equal(plan.compatibility_date, fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8').match(/^compatibility_date = "(.*)"/m)[1]);
});

test('make deploy without credentials stops before anything, naming what is missing', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecat-nohome-'));
  try {
    const res = deploy({ HOME: home, XDG_CONFIG_HOME: '', CLOUDFLARE_API_TOKEN: '', CLOUDFLARE_API_KEY: '', DRY_RUN: '' });
    const out = res.stdout + res.stderr;
    assert.equal(res.status, 1, out);
    assert.match(out, /wrangler login/);
    assert.match(out, /CLOUDFLARE_API_TOKEN/);
    assert.match(out, /CLOUDFLARE_ACCOUNT_ID/);
    assert.doesNotMatch(out, /guard:/, 'the preflight comes first');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('README states the limits the guards enforce', async () => {
  const { BUNDLE_MAX_BYTES } = await import('../../scripts/bundle.mjs');
  const { STARTUP_LIMIT_MS } = await import('../../scripts/startup.mjs');
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const deploySection = readme.split(/^## /m).find((s) => s.startsWith('Deploy'));
  assert.equal(BUNDLE_MAX_BYTES, 64 * 2 ** 20);
  assert.equal(STARTUP_LIMIT_MS, 1000);
  assert.match(deploySection, /refuses a bundle over 64 MiB uncompressed/);
  assert.match(deploySection, /start-up work over 1 s/);
  assert.doesNotMatch(readme, /3 MB gzip/, 'the compressed limit is gone');
});
