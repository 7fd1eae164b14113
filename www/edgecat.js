// edgecat client: put sunglasses on the cats in a photo from any web page.
// One ES module, no build step, importable cross-origin:
//
//   import { hipsterize } from 'https://edgecat.example/edgecat.js';
//   const { blob, cats, timings } = await hipsterize(file);
//
// Importing it also defines <edgecat-hipsterizer> (where customElements
// exists). Types: ./edgecat.d.ts. The API defaults to this module's origin.

/** The client's version; the API's /api/health `version` must share its major. */
export const VERSION = '0.1.0';

/** The built-in overlay styles (src/overlay.rs). */
export const STYLES = Object.freeze(['classic', 'aviator', 'round']);

const DEFAULT_API = new URL(import.meta.url).origin;
const DEFAULTS = { timeoutMs: 30000, quality: 0.92 };

// ---- human sentences ---------------------------------------------------------

const IMAGE_KINDS = 'JPEG, PNG, WebP or GIF';

/** One plain sentence per error code (the API's problem+json codes and the client's own). */
export const MESSAGES = Object.freeze({
  // The API's codes.
  no_cat_found: 'No cat face found — try a photo where the cat faces the camera.',
  bad_image: `We could not read that photo. Please use a ${IMAGE_KINDS} image.`,
  unsupported_media_type: `That kind of file is not supported. Please choose a ${IMAGE_KINDS} photo.`,
  payload_too_large: 'That photo is too large. Please choose a smaller one.',
  image_too_large: 'That photo has too many pixels. Please choose a smaller one.',
  bad_overlay: 'The sunglasses overlay must be an image — ideally a PNG with a transparent background.',
  missing_field: 'The photo did not reach the server. Please choose it again and retry.',
  bad_request: 'The server could not understand the request. Please reload the page and try again.',
  busy: 'The server is busy with other photos right now. Please try again in a few seconds.',
  request_timeout: 'The upload stalled before the whole photo arrived. Please check your connection and try again.',
  // The client's own.
  not_an_image: `That file is not an image. Please choose a photo (${IMAGE_KINDS}).`,
  overlay_not_an_image: 'That overlay file is not an image. Please choose a PNG with a transparent background.',
  no_photo: 'Choose a photo of your cat first.',
  no_overlay: 'Upload your own sunglasses PNG first, or pick one of the built-in styles.',
  network_error: 'Could not reach the edgecat server. Check your connection and try again.',
  aborted: 'The request was cancelled.',
  incompatible_api: 'This page and the edgecat server are different versions that do not work together. Please reload the page.',
});

const SENTENCES = {
  timeout: (s) => `The server did not answer within ${s} seconds. Please try again, perhaps with a smaller photo.`,
  // 429: Retry-After says how long (the worker sends 60 s).
  rateLimited: (s) => `That is a lot of photos in a short time. Please wait ${s > 0 && s !== 60 ? `${s} seconds` : 'a minute'} and try again.`,
  generic: (status) => `Something went wrong on our side${status ? ` (error ${status})` : ''}. Please try again in a moment.`,
  // fetch() cannot tell a refused CORS request from a dead network: when the
  // API is on another origin, say both.
  crossOrigin: (api, origin) => `Could not reach the edgecat server at ${api}. Check your connection — or the server may not allow this site (${origin}) to call it (CORS: its ALLOWED_ORIGINS leaves this origin out).`,
  incompatible: (ours, theirs) => `${MESSAGES.incompatible_api} (client ${ours}, server ${theirs})`,
  // A photo format the server cannot read (415), which this browser could
  // not convert either (Chromium and Firefox cannot open HEIC; Safari can).
  unreadable: (name) => `That is a ${name} photo, which this browser cannot convert and edgecat cannot read. Please save it as a JPEG and try again${/^HEI/.test(name) ? ' (on an iPhone: Settings › Camera › Formats › Most Compatible)' : ''}.`,
};

/** The error every function here rejects with: `code`, HTTP `status` (0 if none), a human `message`. */
export class EdgecatError extends Error {
  constructor(code, message, { status = 0, retryAfter, cause } = {}) {
    super(message || sentence(code) || SENTENCES.generic(status), cause ? { cause } : undefined);
    this.name = 'EdgecatError';
    this.code = code;
    this.status = status;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

const sentence = (code) => (Object.hasOwn(MESSAGES, code) ? MESSAGES[code] : '');
const fail = (code, extra) => new EdgecatError(code, sentence(code), extra);

// ---- photos ------------------------------------------------------------------

/** Whether a File/Blob claims to be an image (by type, else by file name). */
export function looksLikeImage(file) {
  if (!file) return false;
  if (file.type) return file.type.startsWith('image/');
  return /\.(jpe?g|png|webp|gif|avif|heic|heif|bmp)$/i.test(file.name || '');
}

/**
 * The photo formats people send that the server cannot read (it answers
 * 415), told by their first bytes as the server tells them (src/sniff.rs):
 * 'HEIC', 'HEIF', 'AVIF', 'TIFF', 'JPEG XL', or '' for any other file.
 */
export async function unreadableFormat(blob) {
  const b = new Uint8Array(await blob.slice(0, 64).arrayBuffer());
  const ascii = (from, to) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 16 && ascii(4, 8) === 'ftyp') {
    const size = new DataView(b.buffer).getUint32(0);
    const end = Math.min(Math.max(size, 16), b.length);
    const brands = [ascii(8, 12)];
    for (let i = 16; i + 4 <= end; i += 4) brands.push(ascii(i, i + 4));
    if (brands.some((x) => x === 'avif' || x === 'avis')) return 'AVIF';
    if (brands.some((x) => ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis'].includes(x))) return 'HEIC';
    if (brands.some((x) => ['mif1', 'msf1', 'mif2'].includes(x))) return 'HEIF';
    return '';
  }
  const head = [...b.subarray(0, 4)].join(',');
  if (['73,73,42,0', '77,77,0,42', '73,73,43,0', '77,77,0,43'].includes(head)) return 'TIFF';
  if ((b[0] === 0xff && b[1] === 0x0a) || ascii(4, 8) === 'JXL ') return 'JPEG XL';
  return '';
}

function asBlob(photo, what = 'photo') {
  if (photo instanceof Blob) return photo;
  if (photo instanceof ArrayBuffer || ArrayBuffer.isView(photo)) return new Blob([photo]);
  throw new EdgecatError(what === 'photo' ? 'no_photo' : 'bad_overlay', undefined);
}

function baseName(name) {
  const base = String(name || 'photo').replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '');
  return base.slice(0, 60) || 'photo';
}

/** A download name for the result of a photo named `name`: "kitty-edgecat.jpg". */
export function resultFileName(name, format = 'jpeg') {
  return `${baseName(name)}-edgecat.${format === 'png' ? 'png' : 'jpg'}`;
}

/**
 * The photo as it should be sent: the original if its longest upright side
 * is within `maxSide` (or it cannot be decoded here, or `maxSide` is 0), else
 * an upright JPEG shrunk to it (EXIF orientation applied). A HEIC, AVIF,
 * TIFF or JPEG XL photo, which the server cannot read, is always sent as a
 * JPEG when this browser can decode it (AVIF in every current browser, HEIC
 * in Safari), and rejects with `unsupported_media_type` naming the format
 * when it cannot.
 * Resolves to { file, shrunk, converted }: shrunk is null or
 * { from: [w, h], to: [w, h] }; converted is '' or the format converted from.
 */
export async function shrink(photo, { maxSide = 0, quality = DEFAULTS.quality } = {}) {
  const blob = asBlob(photo);
  const name = blob.name || 'photo';
  const converted = blob.size ? await unreadableFormat(blob) : '';
  const original = { file: blob, shrunk: null, converted: '' };
  const limit = Math.max(0, Math.floor(Number(maxSide) || 0));
  const canDraw = typeof createImageBitmap === 'function' && typeof document !== 'undefined';
  const unreadable = () => new EdgecatError('unsupported_media_type', SENTENCES.unreadable(converted));
  if (!canDraw && converted) throw unreadable();
  if ((!limit && !converted) || !canDraw) return original;
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch {
    if (converted) throw unreadable();
    return original; // the server decides what it can read
  }
  const { width, height } = bitmap;
  const scale = Math.min(1, limit ? limit / Math.max(width, height) : 1);
  if (scale >= 1 && !converted) {
    bitmap.close();
    return original;
  }
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff'; // transparent PNGs become JPEG on white
  ctx.fillRect(0, 0, w, h);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  const out = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
  if (!out) {
    if (converted) throw unreadable();
    return original;
  }
  const shrunk = scale < 1 ? { from: [width, height], to: [w, h] } : null;
  return { file: new File([out], `${baseName(name)}.jpg`, { type: 'image/jpeg' }), shrunk, converted };
}

function buildForm(file, { style, glasses } = {}) {
  const form = new FormData();
  form.append('cat', file, file.name || 'photo');
  if (glasses) {
    const overlay = asBlob(glasses, 'overlay');
    form.append('glasses', overlay, overlay.name || 'glasses.png');
  } else if (style) {
    form.append('style', String(style));
  }
  return form;
}

// ---- talking to the API --------------------------------------------------------

function apiBase(api) {
  const base = api || DEFAULT_API;
  try {
    const u = new URL(base, globalThis.location?.href);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.href.replace(/\/+$/, '');
  } catch { /* below */ }
  throw new EdgecatError('bad_request', `Not an http(s) API address: ${base}`);
}

function networkError(api, cause) {
  const here = globalThis.location?.origin;
  let there = '';
  try { there = new URL(api).origin; } catch { /* stays '' */ }
  const message = here && there && here !== there && here !== 'null' ? SENTENCES.crossOrigin(api, here) : MESSAGES.network_error;
  return new EdgecatError('network_error', message, { cause });
}

/**
 * fetch() with `signal` and `timeoutMs`; `read(res)` runs under the same
 * deadline. Network failure, timeout and abort reject as EdgecatError.
 */
async function call(api, path, init, { signal, timeoutMs = DEFAULTS.timeoutMs } = {}, read) {
  if (signal?.aborted) throw fail('aborted');
  const controller = new AbortController();
  let timedOut = false;
  const timer = timeoutMs > 0 ? setTimeout(() => { timedOut = true; controller.abort(); }, timeoutMs) : null;
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort);
  try {
    let res;
    try {
      res = await fetch(`${api}${path}`, { ...init, signal: controller.signal });
    } catch (cause) {
      throw timedOut ? new EdgecatError('timeout', SENTENCES.timeout(Math.round(timeoutMs / 1000)), { cause })
        : signal?.aborted ? fail('aborted') : networkError(api, cause);
    }
    if (!res.ok) throw await problem(res);
    try {
      return await read(res);
    } catch (cause) {
      if (cause instanceof EdgecatError) throw cause;
      throw timedOut ? new EdgecatError('timeout', SENTENCES.timeout(Math.round(timeoutMs / 1000)), { cause })
        : signal?.aborted ? fail('aborted') : networkError(api, cause);
    }
  } finally {
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** An error answer (problem+json or not) as an EdgecatError with a sentence. */
async function problem(res) {
  let code = '';
  let detail = '';
  try {
    if (/json/i.test(res.headers.get('content-type') || '')) {
      const body = await res.json();
      code = String(body.code || '');
      detail = String(body.detail || '');
    }
  } catch { /* not JSON after all */ }
  if (!code && res.status === 413) code = 'payload_too_large';
  if (!code && res.status === 415) code = 'unsupported_media_type';
  if (!code && res.status === 429) code = 'rate_limited';
  const status = res.status;
  if (code === 'rate_limited') {
    const retryAfter = Math.ceil(Number(res.headers.get('retry-after')));
    return new EdgecatError(code, SENTENCES.rateLimited(retryAfter), { status, retryAfter: retryAfter || undefined });
  }
  // A 415 for a photo format the server names (HEIC, AVIF, …): say which.
  const named = code === 'unsupported_media_type' && /is an? (HEIC|HEIF|AVIF|TIFF|JPEG XL) image/.exec(detail);
  if (named) return new EdgecatError(code, SENTENCES.unreadable(named[1]), { status });
  return new EdgecatError(code || 'http_error', sentence(code) || SENTENCES.generic(status), { status });
}

/** "decode;dur=3.1, detect;dur=20.5" -> { decode: 3.1, detect: 20.5 } */
export function parseServerTiming(header) {
  const timings = {};
  for (const entry of String(header || '').split(',')) {
    const [name, ...params] = entry.trim().split(';');
    const dur = params.map((p) => p.trim().match(/^dur=([\d.]+)$/)).find(Boolean);
    if (name && name.trim() && dur) timings[name.trim()] = Number(dur[1]);
  }
  return timings;
}

const majorOf = (v) => String(v).trim().replace(/^v/, '').split('.')[0];
const checked = new Map(); // api base -> Promise of the health JSON

/**
 * GET /api/health once per API base and check its `version` shares our
 * major (rejects `incompatible_api` if not). An answer without a version is
 * taken as compatible; a failed check is retried on the next call.
 */
export function health(options = {}) {
  const api = apiBase(options.api);
  if (!checked.has(api)) {
    const pending = call(api, '/api/health', { method: 'GET' }, options, async (res) => {
      let body = {};
      try { body = await res.json(); } catch { /* not JSON: no version to compare */ }
      if (body && body.version && majorOf(body.version) !== majorOf(VERSION)) {
        throw new EdgecatError('incompatible_api', SENTENCES.incompatible(VERSION, body.version), { status: res.status });
      }
      return body;
    });
    checked.set(api, pending);
    pending.catch((err) => { if (err.code !== 'incompatible_api') checked.delete(api); });
  }
  return checked.get(api);
}

/**
 * The photo with sunglasses on every cat.
 * Resolves to { blob, cats, timings, sent } (`sent`: what was uploaded, see shrink()).
 */
export async function hipsterize(photo, options = {}) {
  const { style, glasses, format, maxSide = 0, quality } = options;
  const api = apiBase(options.api);
  const blob = asBlob(photo);
  if (blob.type && !looksLikeImage(blob)) throw fail('not_an_image');
  if (glasses && !looksLikeImage(asBlob(glasses, 'overlay'))) throw fail('overlay_not_an_image');
  await health({ ...options, api });
  const sent = await shrink(blob, { maxSide, quality });
  const path = `/api/hipsterize${format === 'png' ? '?format=png' : ''}`;
  return call(api, path, { method: 'POST', body: buildForm(sent.file, { style, glasses }) }, options, async (res) => ({
    blob: await res.blob(),
    cats: Number(res.headers.get('x-cats-found')) || 0,
    timings: parseServerTiming(res.headers.get('server-timing')),
    sent,
  }));
}

/** The /api/detect answer for a photo: { width, height, cats: [...], timings_ms }. */
export async function detect(photo, options = {}) {
  const api = apiBase(options.api);
  const blob = asBlob(photo);
  if (blob.type && !looksLikeImage(blob)) throw fail('not_an_image');
  await health({ ...options, api });
  const sent = await shrink(blob, { maxSide: options.maxSide, quality: options.quality });
  return call(api, '/api/detect', { method: 'POST', body: buildForm(sent.file) }, options, (res) => res.json());
}

/**
 * Ask the worker to ready its models and hot code now (best done on page
 * load). The warm-up is sent at once, beside the compatibility check.
 */
export async function warm(options = {}) {
  const api = apiBase(options.api);
  const [, answer] = await Promise.all([
    health({ ...options, api }),
    call(api, '/api/warm', { method: 'POST' }, options, (res) => res.json()),
  ]);
  return answer;
}

// ---- <edgecat-hipsterizer> -----------------------------------------------------
//
//   <script type="module" src="https://edgecat.example/edgecat.js"></script>
//   <edgecat-hipsterizer></edgecat-hipsterizer>
//
// Attributes: api (base URL; default this module's origin), styles (comma list
// of the built-in styles to offer; default all), max-side (shrink photos whose
// longest upright side is over this, px; default 2048, 0 = never), format
// (jpeg|png). Events (bubbling, composed): edgecat-result { blob, cats,
// timings }, edgecat-error (detail: the EdgecatError). Styling: ::part(...)
// names and --edgecat-* custom properties, listed in edgecat.d.ts.

const TAG = 'edgecat-hipsterizer';
const STYLE_LABELS = { classic: 'Classic', aviator: 'Aviator', round: 'Round' };

const CSS = `
:host {
  display: block; max-width: 100%;
  --_accent: var(--edgecat-accent, #1f5fd1); --_accent-ink: var(--edgecat-accent-ink, #fff);
  --_ink: var(--edgecat-ink, inherit); --_muted: var(--edgecat-muted, #625b53);
  --_line: var(--edgecat-line, #d9d2c7); --_bg: var(--edgecat-bg, transparent);
  --_focus: var(--edgecat-focus, #ff7a00); --_radius: var(--edgecat-radius, 12px);
  --_error-bg: var(--edgecat-error-bg, #fdecea); --_error-ink: var(--edgecat-error-ink, #8a1c12);
  font-family: var(--edgecat-font, inherit); color: var(--_ink);
}
:host([hidden]) { display: none; }
[hidden] { display: none !important; }
* { box-sizing: border-box; }
.box { display: grid; gap: .75rem; background: var(--_bg); }
.drop {
  border: 2px dashed var(--_line); border-radius: var(--_radius); padding: 1rem;
  display: grid; gap: .5rem; justify-items: center; text-align: center;
}
.drop.dragging { border-color: var(--_accent); }
.hint { margin: 0; color: var(--_muted); font-size: .875rem; overflow-wrap: anywhere; }
.button {
  display: inline-flex; align-items: center; justify-content: center; min-height: 44px;
  padding: .5rem 1.1rem; border-radius: 999px; border: 2px solid var(--_accent);
  background: var(--_accent); color: var(--_accent-ink); font: inherit; font-weight: 600;
  text-decoration: none; cursor: pointer; position: relative; max-width: 100%;
}
.button.secondary { background: transparent; color: var(--_accent); }
.button[aria-disabled="true"] { opacity: .6; cursor: progress; }
:focus-visible, .picker:focus-within { outline: 3px solid var(--_focus); outline-offset: 3px; }
.vh {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; border: 0;
}
fieldset { border: 0; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
legend { float: left; margin-right: .5rem; font-weight: 600; }
.chip {
  display: inline-flex; align-items: center; gap: .35rem; min-height: 44px; padding: .3rem .8rem;
  border: 1px solid var(--_line); border-radius: 999px; cursor: pointer;
}
.chip input { accent-color: var(--_accent); margin: 0; }
.status { margin: 0; min-height: 1.2em; }
.status.error { border-radius: 8px; background: var(--_error-bg); color: var(--_error-ink); padding: .5rem .8rem; font-weight: 600; }
.stage { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 240px), 1fr)); }
figure { margin: 0; display: grid; gap: .3rem; align-content: start; min-width: 0; }
figcaption { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; font-weight: 600; }
figcaption .button { margin-left: auto; min-height: 36px; padding: .25rem .8rem; font-size: .9rem; }
img { display: block; width: 100%; height: auto; border-radius: 8px; background: var(--_line); }
`;

const TEMPLATE = `
<div class="box" part="container">
  <div class="drop" part="dropzone">
    <p class="hint">Drop a cat photo here, or</p>
    <label class="button secondary picker" part="picker">
      <span>Choose a photo…</span>
      <input class="vh" type="file" accept="image/*" part="input">
    </label>
    <p class="hint" part="file-name"></p>
  </div>
  <fieldset part="styles"><legend>Sunglasses</legend></fieldset>
  <div><button class="button" type="button" part="button">Hipsterize</button></div>
  <p class="status" role="status" aria-live="polite" part="status"></p>
  <div class="stage" part="stage" hidden>
    <figure part="before"><img part="before-image" alt="Your photo, as chosen"><figcaption>Before</figcaption></figure>
    <figure part="after" hidden>
      <img part="after-image" alt="Your photo with sunglasses on the cats">
      <figcaption>After <span class="hint" part="cats-found"></span>
        <a class="button" part="download" href="#" download="edgecat.jpg">Download</a></figcaption>
    </figure>
  </div>
</div>`;

let sheet = null;
function styleInto(root) {
  // A constructed sheet is not inline style, so a page's strict CSP allows it.
  try {
    if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); }
    root.adoptedStyleSheets = [sheet];
  } catch {
    const style = document.createElement('style');
    style.textContent = CSS;
    root.prepend(style);
  }
}

const plural = (n) => (n === 1 ? '1 cat' : `${n} cats`);

function defineElement() {
  class EdgecatHipsterizer extends HTMLElement {
    static get observedAttributes() { return ['styles']; }

    constructor() {
      super();
      const root = this.attachShadow({ mode: 'open' });
      root.innerHTML = TEMPLATE;
      styleInto(root);
      const $ = (part) => root.querySelector(`[part~="${part}"]`);
      this._el = {
        drop: $('dropzone'), input: $('input'), name: $('file-name'), styles: $('styles'), button: $('button'),
        status: $('status'), stage: $('stage'), before: $('before-image'), after: $('after'),
        result: $('after-image'), cats: $('cats-found'), download: $('download'),
      };
      this._photo = null;
      this._busy = false;
      this._urls = { before: '', after: '' };
      this._renderStyles();
      const { input, drop, button } = this._el;
      input.addEventListener('change', () => {
        this._choose(input.files[0]);
        input.value = '';
      });
      let depth = 0;
      const dragging = (on) => drop.classList.toggle('dragging', on);
      this.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; dragging(true); });
      this.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) dragging(false); });
      this.addEventListener('dragover', (e) => { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'; });
      this.addEventListener('drop', (e) => {
        e.preventDefault();
        depth = 0;
        dragging(false);
        const file = e.dataTransfer?.files?.[0];
        if (file) this._choose(file);
      });
      button.addEventListener('click', () => this.hipsterize());
    }

    attributeChangedCallback() { this._renderStyles(); }

    disconnectedCallback() {
      for (const kind of Object.keys(this._urls)) this._setUrl(kind, null);
    }

    /** The offered styles: the `styles` attribute's known names, else all. */
    get styles() {
      const asked = (this.getAttribute('styles') || '').split(',').map((s) => s.trim().toLowerCase());
      const offered = STYLES.filter((s) => asked.includes(s));
      return offered.length ? offered : [...STYLES];
    }

    /** The chosen photo (File) or null; set to choose one from script. */
    get photo() { return this._photo; }
    set photo(file) { this._choose(file); }

    _renderStyles() {
      const box = this._el.styles;
      const current = box.querySelector('input:checked')?.value;
      const styles = this.styles;
      box.replaceChildren(box.querySelector('legend'), ...styles.map((name) => {
        const label = document.createElement('label');
        label.className = 'chip';
        label.setAttribute('part', 'style');
        const radio = document.createElement('input');
        radio.type = 'radio';
        radio.name = 'style';
        radio.value = name;
        radio.checked = name === (styles.includes(current) ? current : styles[0]);
        label.append(radio, ` ${STYLE_LABELS[name] || name}`);
        return label;
      }));
      box.hidden = styles.length < 2;
    }

    _setUrl(kind, blob) {
      if (this._urls[kind]) URL.revokeObjectURL(this._urls[kind]);
      this._urls[kind] = blob ? URL.createObjectURL(blob) : '';
      return this._urls[kind];
    }

    _status(message, isError = false) {
      const { status } = this._el;
      status.textContent = message;
      status.classList.toggle('error', isError);
      status.setAttribute('part', isError ? 'status error' : 'status');
    }

    _clearResult() {
      const { after, result, download, cats } = this._el;
      after.hidden = true;
      result.removeAttribute('src');
      download.setAttribute('href', '#');
      cats.textContent = '';
      this._setUrl('after', null);
    }

    _fail(err) {
      const error = err instanceof EdgecatError ? err : new EdgecatError('http_error', undefined, { cause: err });
      this._status(error.message, true);
      this.dispatchEvent(new CustomEvent('edgecat-error', { detail: error, bubbles: true, composed: true }));
      return error;
    }

    _choose(file) {
      if (!file) return;
      this._clearResult();
      const { name, stage, before } = this._el;
      if (!looksLikeImage(file)) {
        this._photo = null;
        name.textContent = '';
        stage.hidden = true;
        this._fail(fail('not_an_image'));
        return;
      }
      this._photo = file;
      name.textContent = file.name || '';
      before.src = this._setUrl('before', file);
      stage.hidden = false;
      this._status('Photo ready. Press “Hipsterize”.');
    }

    /** Hipsterize the chosen photo; resolves to the result or null (errors become events). */
    async hipsterize() {
      if (this._busy) return null;
      if (!this._photo) {
        this._fail(fail('no_photo'));
        return null;
      }
      const photo = this._photo;
      const { button, result, after, download, cats: found } = this._el;
      this._busy = true;
      button.setAttribute('aria-disabled', 'true');
      this.setAttribute('aria-busy', 'true');
      this._clearResult();
      this._status('Putting on sunglasses…');
      const format = this.getAttribute('format') === 'png' ? 'png' : 'jpeg';
      const maxSide = this.hasAttribute('max-side') ? Number(this.getAttribute('max-side')) : 2048;
      try {
        const style = this._el.styles.querySelector('input:checked')?.value || this.styles[0];
        const out = await hipsterize(photo, { api: this.getAttribute('api') || undefined, style, maxSide, format });
        if (photo !== this._photo) return null; // another photo was chosen meanwhile
        const url = this._setUrl('after', out.blob);
        await new Promise((resolve) => {
          result.onload = result.onerror = () => resolve();
          result.src = url;
          after.hidden = false;
        });
        download.href = url;
        download.download = resultFileName(photo.name, format);
        found.textContent = `· ${plural(out.cats)}`;
        this._status(`Done: ${plural(out.cats)} in sunglasses.`);
        const detail = { blob: out.blob, cats: out.cats, timings: out.timings };
        this.dispatchEvent(new CustomEvent('edgecat-result', { detail, bubbles: true, composed: true }));
        return detail;
      } catch (err) {
        this._fail(err);
        return null;
      } finally {
        this._busy = false;
        button.setAttribute('aria-disabled', 'false');
        this.removeAttribute('aria-busy');
      }
    }
  }
  return EdgecatHipsterizer;
}

// Guarded: a worker, Node or an old browser still gets the functions above.
if (typeof customElements !== 'undefined' && typeof HTMLElement !== 'undefined' && !customElements.get(TAG)) {
  customElements.define(TAG, defineElement());
}
