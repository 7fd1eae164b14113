// The API contract, src/http/openapi.json, as the tests use it: the document
// checked against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator),
// and a checker that says whether one real answer conforms to it (statuses,
// content types, documented headers, JSON bodies by their JSON Schema with
// Ajv's 2020-12 validator, image bodies by their signature).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DOCUMENT_PATH = path.join(ROOT, 'src/http/openapi.json');
export const DOCUMENT_TEXT = fs.readFileSync(DOCUMENT_PATH, 'utf8');
export const DOCUMENT = JSON.parse(DOCUMENT_TEXT);

/** Test-only routes (EDGECAT_TEST_ROUTES=1): not part of the contract. */
export const TEST_ONLY_PATHS = ['/api/__panic', '/api/__load'];

/** `{ valid, errors }` of the document against the OpenAPI 3.1 schema. */
export async function validateDocument(doc = DOCUMENT) {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  return { ...result, version: validator.version };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SCHEMAS_ID = 'https://edgecat.dev/openapi.json';
const SIGNATURES = {
  'image/jpeg': [0xff, 0xd8, 0xff],
  'image/png': [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
};
const isJson = (type) => type === 'application/json' || type.endsWith('+json');
const essence = (contentType) => (contentType ?? '').split(';')[0].trim().toLowerCase();

/** The schema with its `#/components/schemas/X` refs made absolute. */
function absolute(schema) {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${SCHEMAS_ID}#/$defs/`));
}

/**
 * A checker for `doc`. Compiles every component schema in Ajv's strict mode
 * (so a schema the OpenAPI validator lets through, such as an unknown
 * `type`, still fails here) and returns
 * `check({ method, url, status, headers, body })` → a list of violations
 * (strings; empty when the answer conforms). `body` is a Uint8Array (empty
 * for HEAD); `headers` a Headers.
 */
export function checker(doc = DOCUMENT) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: SCHEMAS_ID, $defs: absolute(doc.components?.schemas ?? {}) });
  for (const name of Object.keys(doc.components?.schemas ?? {})) ajv.getSchema(`${SCHEMAS_ID}#/$defs/${name}`);
  const compiled = new Map();
  const validatorFor = (schema) => {
    const key = JSON.stringify(schema);
    if (!compiled.has(key)) compiled.set(key, ajv.compile(absolute(schema)));
    return compiled.get(key);
  };
  const deref = (v) => {
    let seen = 0;
    while (v && v.$ref) {
      if (++seen > 10 || !v.$ref.startsWith('#/')) throw new Error(`cannot follow $ref ${v.$ref}`);
      v = v.$ref.slice(2).split('/').reduce((o, k) => o?.[k.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
    }
    return v;
  };
  // Compile every response's schemas now: a broken one fails at once.
  const everyResponse = [
    ...Object.values(doc.components?.responses ?? {}),
    ...Object.values(doc.paths ?? {}).flatMap((item) => METHODS.filter((m) => item[m]).flatMap((m) => Object.values(item[m].responses ?? {}))),
  ].map(deref);
  for (const response of everyResponse) {
    for (const media of Object.values(response.content ?? {})) if (media.schema) validatorFor(media.schema);
    for (const header of Object.values(response.headers ?? {})) { const h = deref(header); if (h.schema) validatorFor(h.schema); }
  }

  /** The documented response for an answer, or a violation. */
  function documented(method, pathname, status) {
    // The worker forgives one trailing slash (src/http/routes.rs).
    const route = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
    const item = doc.paths[route];
    if (!item) return { where: `${method} ${pathname} (no such path: components.responses.NotFound)`, responses: { 404: doc.components.responses.NotFound } };
    const op = item[method.toLowerCase()];
    if (!op) return { where: `${method} ${route} (no such operation: components.responses.MethodNotAllowed)`, responses: { 405: doc.components.responses.MethodNotAllowed } };
    return { where: `${method} ${route}`, responses: op.responses };
  }

  return function check({ method, url, status, headers, body }) {
    method = method.toUpperCase();
    const { pathname } = new URL(url);
    const { where, responses } = documented(method, pathname, status);
    const response = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
    if (!response) {
      const excerpt = JSON.stringify(new TextDecoder().decode(body.slice(0, 300)));
      return [`${where}: status ${status} is not documented (documented: ${Object.keys(responses).join(', ')}); headers ${JSON.stringify(Object.fromEntries(headers))}, body ${excerpt}`];
    }
    const spec = deref(response);
    const at = `${where} → ${status}`;
    const violations = [];
    const validate = (schema, value, what) => {
      const fn = validatorFor(schema);
      if (!fn(value)) violations.push(`${at}: ${what} does not match its schema: ${ajv.errorsText(fn.errors, { dataVar: what })}`);
    };
    for (const [name, header] of Object.entries(spec.headers ?? {})) {
      const h = deref(header);
      const value = headers.get(name);
      if (value === null) {
        if (h.required) violations.push(`${at}: header ${name} is missing`);
        continue;
      }
      if (!h.schema) continue;
      const typed = ['integer', 'number'].includes(h.schema.type) && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
      validate(h.schema, typed, `header ${name}`);
    }
    const type = essence(headers.get('content-type'));
    const content = spec.content ?? {};
    if (Object.keys(content).length === 0) {
      if (type) violations.push(`${at}: has Content-Type ${type}; no body is documented`);
      if (body.length) violations.push(`${at}: has a ${body.length}-byte body; none is documented`);
      return violations;
    }
    const media = content[type];
    if (!media) {
      violations.push(`${at}: Content-Type ${JSON.stringify(headers.get('content-type'))} is not documented (documented: ${Object.keys(content).join(', ')})`);
      return violations;
    }
    if (method === 'HEAD') {
      if (body.length) violations.push(`${at}: a HEAD answer has a body`);
      return violations;
    }
    if (isJson(type)) {
      let value;
      try {
        value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
      } catch (e) {
        violations.push(`${at}: the ${type} body is not JSON (${e.message}): ${JSON.stringify(new TextDecoder().decode(body.slice(0, 200)))}`);
        return violations;
      }
      if (media.schema) validate(media.schema, value, 'body');
    } else if (SIGNATURES[type]) {
      const sig = SIGNATURES[type];
      if (body.length < sig.length || sig.some((b, i) => body[i] !== b)) violations.push(`${at}: the body is not ${type} (signature ${Buffer.from(body.slice(0, 8)).toString('hex')})`);
    }
    return violations;
  };
}
