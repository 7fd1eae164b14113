// What `wrangler deploy` would deploy, from wrangler's own reading of
// wrangler.toml (its `unstable_readConfig`) and the files of a dry run's
// --outdir: the modules, the assets and how they are routed, the bindings,
// observability and limits. `make deploy DRY_RUN=1` prints it; it also
// writes it as JSON for tests/http/deploy.test.mjs. Runs on wrangler's Node
// (scripts/wrangler-node), as wrangler's module needs it.
//
//   scripts/wrangler-node scripts/deploy-plan.mjs OUTDIR [JSON_OUT]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [outdir, jsonOut] = process.argv.slice(2);
if (!outdir) {
  console.error('usage: deploy-plan.mjs OUTDIR [JSON_OUT]');
  process.exit(2);
}
const wrangler = createRequire(import.meta.url)(path.join(ROOT, 'node_modules', 'wrangler'));
const config = wrangler.unstable_readConfig({ config: path.join(ROOT, 'wrangler.toml') }, { hideWarnings: true });

const modules = fs.readdirSync(outdir)
  .filter((f) => /\.(m?js|wasm)$/.test(f))
  .map((f) => ({ file: f, bytes: fs.statSync(path.join(outdir, f)).size, type: f.endsWith('.wasm') ? 'wasm' : 'esm' }));
const assetsDir = config.assets?.directory ? path.resolve(ROOT, config.assets.directory) : null;

const plan = {
  name: config.name,
  compatibility_date: config.compatibility_date,
  compatibility_flags: config.compatibility_flags ?? [],
  main: path.relative(ROOT, config.main),
  modules,
  assets: config.assets ? { ...config.assets, directory: path.relative(ROOT, assetsDir) } : null,
  routes: config.routes ?? [],
  workers_dev: config.workers_dev ?? null,
  bindings: {
    ratelimits: config.ratelimits ?? [],
    version_metadata: config.version_metadata ?? null,
    vars: config.vars ?? {},
  },
  observability: config.observability ?? null,
  limits: config.limits ?? null,
};
if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify(plan, null, 2)}\n`);

const kb = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`);
const lines = [
  `would deploy: Worker "${plan.name}", compatibility_date ${plan.compatibility_date}${plan.compatibility_flags.length ? `, flags ${plan.compatibility_flags.join(' ')}` : ''}`,
  `  modules (${path.relative(ROOT, path.resolve(outdir))}): ${modules.map((m) => `${m.file} (${m.type}, ${kb(m.bytes)})`).join(', ')}`,
  plan.assets
    ? `  assets: ${plan.assets.directory}/, run_worker_first ${JSON.stringify(plan.assets.run_worker_first ?? false)}, not_found_handling ${plan.assets.not_found_handling ?? 'none'}`
    : '  assets: none',
  `  where: ${plan.routes.length ? `routes ${plan.routes.map((r) => (typeof r === 'string' ? r : r.pattern + (r.custom_domain ? ' (custom domain)' : ''))).join(', ')}` : 'no routes'}; workers.dev ${plan.workers_dev === false ? 'off' : 'on'}`,
  ...plan.bindings.ratelimits.map((r) => `  binding ${r.name}: rate limit, namespace_id ${r.namespace_id}, ${r.simple.limit} per ${r.simple.period} s`),
  ...(plan.bindings.version_metadata ? [`  binding ${plan.bindings.version_metadata.binding}: version metadata (/api/health's deployment)`] : []),
  ...Object.entries(plan.bindings.vars).map(([k, v]) => `  var ${k} = ${JSON.stringify(v)}`),
  `  observability: ${plan.observability?.enabled ? `on, head_sampling_rate ${plan.observability.head_sampling_rate ?? 1}` : 'off'}`,
  `  limits.cpu_ms: ${plan.limits?.cpu_ms ?? 'not set (the plan\'s default: 10 ms Free, 30 s Paid)'}`,
];
console.log(lines.join('\n'));
