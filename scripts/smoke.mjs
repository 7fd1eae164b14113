// `make smoke URL=https://…`: a read-only check of a deployed edgecat API,
// a minute after `make deploy`. Nothing is stored or changed: health and the
// deployed version, the models, the OpenAPI document, one cat and one dog
// through /api/detect (two photo requests of the rate limit's budget), one
// bad input, and CORS for an allowed origin and a refused one. One line per
// check; exit 1 if any failed. `make test` runs it against `wrangler dev`
// (tests/http/smoke.test.mjs).
//
//   node scripts/smoke.mjs URL [--origin ORIGIN] [--refused ORIGIN] [--photos DIR]
//
//   --origin   an origin ALLOWED_ORIGINS lets in (default: URL's own origin)
//   --refused  one it does not (default https://refused.invalid); with
//              ALLOWED_ORIGINS = "*" every origin is let in, and the line says so
//   --photos   the photo data set (default ../shared, as the tests read it)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The photos the HTTP suites use (tests/http/pipeline.test.mjs): one cat, one dog.
const CAT = 'data/cat-photos/kairess_001.jpg';
const DOG = 'data/cats-vs-dogs/dog/dog.4003.jpg';

function args(argv) {
  const out = { url: null, origin: null, refused: 'https://refused.invalid', photos: path.resolve(ROOT, '..', 'shared') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--origin') out.origin = argv[++i];
    else if (a === '--refused') out.refused = argv[++i];
    else if (a === '--photos') out.photos = argv[++i];
    else if (!out.url) out.url = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!out.url) throw new Error('usage: smoke.mjs URL [--origin ORIGIN] [--refused ORIGIN] [--photos DIR]');
  out.url = out.url.replace(/\/+$/, '');
  out.origin ??= new URL(out.url).origin;
  return out;
}

class Failed extends Error {}
const expect = (cond, what) => { if (!cond) throw new Failed(what); };

async function getJson(url, init) {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* checked below */ }
  return { res, body, text };
}

export async function smoke(opts) {
  const { url, origin, refused } = opts;
  const photo = (rel) => fs.readFileSync(path.join(opts.photos, rel));
  const detect = (bytes, type = 'image/jpeg') => getJson(`${url}/api/detect`, { method: 'POST', body: bytes, headers: { 'content-type': type } });
  const checks = [
    ['health', async () => {
      const { res, body, text } = await getJson(`${url}/api/health`);
      expect(res.status === 200 && body?.status === 'ok', `GET /api/health: ${res.status} ${text.slice(0, 200)}`);
      expect(/^\d+\.\d+\.\d+/.test(body.version) && body.build?.commit !== undefined, `no version or build in ${text.slice(0, 200)}`);
      expect(body.models_loaded === true, 'models not loaded');
      const d = body.deployment;
      return `${body.name} ${body.version}, commit ${body.build.commit || '(none)'}, `
        + (d ? `deployed version ${d.version_id}${d.version_tag ? ` (tag ${d.version_tag})` : ''}${d.version_timestamp ? ` of ${d.version_timestamp}` : ''}` : 'no version metadata binding');
    }],
    ['models', async () => {
      const { res, body } = await getJson(`${url}/api/models`);
      expect(res.status === 200 && Array.isArray(body?.models) && body.models.length > 0, `GET /api/models: ${res.status}`);
      expect(body.models.every((m) => /^[0-9a-f]{64}$/.test(m.sha256)), 'a model without its sha256');
      return body.models.map((m) => `${m.name ?? m.source?.file} ${m.sha256.slice(0, 12)}`).join(', ');
    }],
    ['openapi', async () => {
      const { res, body } = await getJson(`${url}/api/openapi.json`);
      expect(res.status === 200 && /^3\.1\./.test(body?.openapi ?? ''), `GET /api/openapi.json: ${res.status}`);
      for (const p of ['/api/health', '/api/detect', '/api/hipsterize']) expect(body.paths?.[p], `the document has no ${p}`);
      return `OpenAPI ${body.openapi}, ${Object.keys(body.paths).length} paths`;
    }],
    ['one cat', async () => {
      const { res, body, text } = await detect(photo(CAT));
      expect(res.status === 200, `POST /api/detect (cat): ${res.status} ${text.slice(0, 200)}`);
      expect(body.cats?.length >= 1, `no cat found in ${CAT}`);
      return `${path.basename(CAT)}: ${body.cats.length} cat(s), Server-Timing ${res.headers.get('server-timing')}`;
    }],
    ['one dog', async () => {
      const { res, body, text } = await detect(photo(DOG));
      expect(res.status === 200, `POST /api/detect (dog): ${res.status} ${text.slice(0, 200)}`);
      expect(body.cats?.length === 0, `${body.cats?.length} cat(s) in a dog`);
      return `${path.basename(DOG)}: no cat`;
    }],
    ['bad input', async () => {
      const { res, body } = await detect(Buffer.from('this is not a photo'), 'text/plain');
      expect(res.status === 415, `text/plain to /api/detect: ${res.status}, not 415`);
      expect(res.headers.get('content-type') === 'application/problem+json' && body?.code === 'unsupported_media_type', `not a problem+json unsupported_media_type: ${JSON.stringify(body)}`);
      return `415 ${body.code}`;
    }],
    ['CORS, allowed origin', async () => {
      const res = await fetch(`${url}/api/health`, { headers: { origin } });
      await res.arrayBuffer();
      const allow = res.headers.get('access-control-allow-origin');
      expect(allow === origin || allow === '*', `Origin ${origin}: Access-Control-Allow-Origin ${allow} (is it in ALLOWED_ORIGINS? pass --origin)`);
      const pre = await fetch(`${url}/api/detect`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      await pre.arrayBuffer();
      expect(pre.status === 204 && pre.headers.get('access-control-allow-origin') === allow, `preflight from ${origin}: ${pre.status}`);
      return `${origin} → ${allow}, preflight 204`;
    }],
    ['CORS, refused origin', async () => {
      const res = await fetch(`${url}/api/health`, { headers: { origin: refused } });
      await res.arrayBuffer();
      const allow = res.headers.get('access-control-allow-origin');
      if (allow === '*') return `n/a: ALLOWED_ORIGINS is "*", which lets every origin in (set the calling sites' origins for production)`;
      expect(allow === null, `Origin ${refused}: Access-Control-Allow-Origin ${allow}`);
      const pre = await fetch(`${url}/api/detect`, { method: 'OPTIONS', headers: { origin: refused, 'access-control-request-method': 'POST' } });
      await pre.arrayBuffer();
      expect(pre.headers.get('access-control-allow-origin') === null, `preflight from ${refused} allowed`);
      return `${refused} → no Access-Control-Allow-Origin`;
    }],
  ];
  const results = [];
  for (const [name, check] of checks) {
    try {
      results.push({ name, ok: true, detail: await check() });
    } catch (err) {
      results.push({ name, ok: false, detail: err instanceof Failed ? err.message : `${err.name}: ${err.message}${err.cause ? ` (${err.cause.code ?? err.cause.message})` : ''}` });
    }
  }
  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let opts;
  try { opts = args(process.argv.slice(2)); } catch (err) { console.error(err.message); process.exit(2); }
  console.log(`smoke: ${opts.url}`);
  const results = await smoke(opts);
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(failed ? `smoke: ${failed} of ${results.length} checks failed` : `smoke: all ${results.length} checks passed`);
  process.exit(failed ? 1 : 0);
}
