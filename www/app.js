// edgecat front end: choose a photo, pick sunglasses, POST it to the API,
// show before/after. No framework, no build step.
import config from './config.js';

const $ = (id) => document.getElementById(id);
const el = {
  dropzone: $('dropzone'), photoInput: $('photo-input'), cameraInput: $('camera-input'),
  photoName: $('photo-name'), overlayInput: $('overlay-input'), overlayPreview: $('overlay-preview'),
  overlayName: $('overlay-name'), styleOwn: $('style-own'), maxSide: $('max-side'),
  showDetections: $('show-detections'), button: $('hipsterize'), progress: $('progress'),
  status: $('status'), error: $('error'), stage: $('stage'), before: $('before'), after: $('after'),
  preview: $('preview'), canvas: $('detections'), detectSummary: $('detect-summary'),
  result: $('result'), catsFound: $('cats-found'), download: $('download'),
  timings: $('timings'), models: $('models'), apiBase: $('api-base'), apiVersion: $('api-version'),
};

// ---- human sentences -------------------------------------------------------

const IMAGE_KINDS = 'JPEG, PNG, WebP or GIF';
const MESSAGES = {
  no_cat_found: 'No cat face found — try a photo where the cat faces the camera.',
  bad_image: `We could not read that photo. Please use a ${IMAGE_KINDS} image.`,
  unsupported_media_type: `That kind of file is not supported. Please choose a ${IMAGE_KINDS} photo.`,
  payload_too_large: 'That photo is too large. Please choose a smaller one, or lower “Shrink photos” in Settings.',
  image_too_large: 'That photo has too many pixels. Please choose a smaller one, or lower “Shrink photos” in Settings.',
  bad_overlay: 'The sunglasses overlay must be an image — ideally a PNG with a transparent background.',
  missing_field: 'The photo did not reach the server. Please choose it again and retry.',
  bad_request: 'The server could not understand the request. Please reload the page and try again.',
  busy: 'The server is busy with other photos right now. Please try again in a few seconds.',
  request_timeout: 'The upload stalled before the whole photo arrived. Please check your connection and try again.',
};
const TEXT = {
  notImage: `That file is not an image. Please choose a photo (${IMAGE_KINDS}).`,
  overlayNotImage: 'That overlay file is not an image. Please choose a PNG with a transparent background.',
  noPhoto: 'Choose a photo of your cat first.',
  noOverlay: 'Upload your own sunglasses PNG first, or pick one of the built-in styles.',
  offline: 'Could not reach the edgecat server. Check your connection and try again.',
  timeout: (s) => `The server did not answer within ${s} seconds. Please try again, perhaps with a smaller photo.`,
  // 429: Retry-After says how long (the worker sends 60 s).
  rateLimited: (s) => `That is a lot of photos in a short time. Please wait ${s > 0 && s !== 60 ? `${s} seconds` : 'a minute'} and try again.`,
  generic: (status) => `Something went wrong on our side${status ? ` (error ${status})` : ''}. Please try again in a moment.`,
};

// ---- settings --------------------------------------------------------------

/** API base: ?api= wins, then config.js, else same origin. No trailing slash. */
function apiBase() {
  const fromUrl = new URLSearchParams(location.search).get('api');
  for (const candidate of [fromUrl, config.apiBase]) {
    if (!candidate) continue;
    try {
      const u = new URL(candidate, location.href);
      if (u.protocol === 'http:' || u.protocol === 'https:') return u.href.replace(/\/+$/, '');
    } catch { /* ignore a malformed value */ }
  }
  return '';
}
const API = apiBase();
const api = (path) => `${API}${path}`;
el.apiBase.textContent = API || location.origin;
el.maxSide.value = String(config.maxSide);

// ---- state -----------------------------------------------------------------

const state = {
  photo: null,          // the chosen File (image)
  photoError: '',       // why the last chosen file was refused
  overlay: null,        // the chosen overlay File
  busy: false,
  urls: { preview: '', overlay: '', result: '' },
  detection: null,      // last /api/detect answer for the current photo
  detectionFor: null,   // the photo it belongs to
};

function setUrl(kind, blob) {
  if (state.urls[kind]) URL.revokeObjectURL(state.urls[kind]);
  state.urls[kind] = blob ? URL.createObjectURL(blob) : '';
  return state.urls[kind];
}

// ---- status and errors -------------------------------------------------------

function showError(message) {
  el.error.textContent = message || '';
}
function setStatus(message, working = false) {
  el.status.textContent = message;
  el.progress.hidden = !working;
}

const looksLikeImage = (file) =>
  file.type ? file.type.startsWith('image/') : /\.(jpe?g|png|webp|gif|avif|heic|heif|bmp)$/i.test(file.name);

// ---- choosing a photo --------------------------------------------------------

function choosePhoto(file) {
  if (!file) return;
  showError('');
  clearResult();
  if (!looksLikeImage(file)) {
    state.photo = null;
    state.photoError = TEXT.notImage;
    el.photoName.textContent = '';
    el.stage.hidden = true;
    showError(TEXT.notImage);
    return;
  }
  state.photo = file;
  state.photoError = '';
  state.detection = null;
  el.photoName.textContent = `${file.name || 'Pasted photo'} · ${formatBytes(file.size)}`;
  el.preview.src = setUrl('preview', file);
  el.stage.hidden = false;
  el.canvas.hidden = true;
  el.detectSummary.textContent = '';
  setStatus('Photo ready. Press “Hipsterize”.');
}

function clearResult() {
  el.after.hidden = true;
  el.result.removeAttribute('src');
  el.download.setAttribute('href', '#');
  el.catsFound.textContent = '';
  setUrl('result', null);
}

for (const input of [el.photoInput, el.cameraInput]) {
  input.addEventListener('change', () => {
    choosePhoto(input.files[0]);
    input.value = ''; // choosing the same file again fires change again
  });
}

// Drag and drop anywhere on the page; the drop zone lights up.
let dragDepth = 0;
document.addEventListener('dragenter', (e) => {
  if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
  dragDepth++;
  el.dropzone.classList.add('dragging');
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) el.dropzone.classList.remove('dragging');
});
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  el.dropzone.classList.remove('dragging');
  const file = e.dataTransfer?.files?.[0];
  if (file) choosePhoto(file);
});

// Paste a photo from the clipboard.
document.addEventListener('paste', (e) => {
  const items = [...(e.clipboardData?.items || [])].filter((i) => i.kind === 'file');
  if (!items.length) return;
  e.preventDefault();
  const image = items.find((i) => i.type.startsWith('image/')) || items[0];
  const file = image.getAsFile();
  if (file && !file.name) {
    choosePhoto(new File([file], `pasted.${(file.type.split('/')[1] || 'png')}`, { type: file.type }));
  } else {
    choosePhoto(file);
  }
});

// ---- overlay -----------------------------------------------------------------

el.overlayInput.addEventListener('change', () => {
  const file = el.overlayInput.files[0];
  el.overlayInput.value = '';
  if (!file) return;
  showError('');
  if (!looksLikeImage(file)) {
    showError(TEXT.overlayNotImage);
    return;
  }
  state.overlay = file;
  el.overlayPreview.src = setUrl('overlay', file);
  el.overlayPreview.alt = `Your overlay: ${file.name}`;
  el.overlayPreview.hidden = false;
  el.overlayName.textContent = file.name;
  el.styleOwn.checked = true;
});

const chosenStyle = () => document.querySelector('input[name="style"]:checked')?.value || 'classic';

// ---- preparing the upload ------------------------------------------------------

/**
 * The photo as sent: the original file if its longest upright side is within
 * the limit (or it cannot be decoded here), else an upright JPEG shrunk to it.
 */
async function prepareUpload(file) {
  const limit = Math.max(0, Math.floor(Number(el.maxSide.value) || 0));
  const original = { blob: file, name: file.name || 'photo' };
  if (!limit || typeof createImageBitmap !== 'function') return original;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    return original; // the server decides what it can read
  }
  const { width, height } = bitmap;
  const scale = limit / Math.max(width, height);
  if (scale >= 1) {
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
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', config.jpegQuality));
  if (!blob) return original;
  return { blob, name: `${baseName(file.name)}.jpg`, shrunk: [width, height, w, h] };
}

function buildForm(upload, withOverlay) {
  const form = new FormData();
  form.append('cat', upload.blob, upload.name);
  if (withOverlay) {
    const style = chosenStyle();
    if (style === 'own' && state.overlay) form.append('glasses', state.overlay, state.overlay.name || 'glasses.png');
    else if (style !== 'own') form.append('style', style);
  }
  return form;
}

// ---- talking to the API --------------------------------------------------------

class ApiFailure extends Error {}

/** POST a form; resolves to the Response if 2xx, else throws ApiFailure with a human sentence. */
async function post(path, form) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; controller.abort(); }, config.timeoutMs);
  let res;
  try {
    res = await fetch(api(path), { method: 'POST', body: form, signal: controller.signal });
  } catch {
    throw new ApiFailure(timedOut ? TEXT.timeout(Math.round(config.timeoutMs / 1000)) : TEXT.offline);
  } finally {
    clearTimeout(timer);
  }
  if (res.ok) return res;
  throw new ApiFailure(await problemMessage(res));
}

async function problemMessage(res) {
  let code = '';
  try {
    if (/json/i.test(res.headers.get('content-type') || '')) code = String((await res.json()).code || '');
  } catch { /* not JSON after all */ }
  if (!code && res.status === 413) code = 'payload_too_large';
  if (!code && res.status === 415) code = 'unsupported_media_type';
  if (code === 'rate_limited' || (!code && res.status === 429)) {
    return TEXT.rateLimited(Math.ceil(Number(res.headers.get('retry-after'))));
  }
  return MESSAGES[code] || TEXT.generic(res.status);
}

/** "decode;dur=3.1, detect;dur=20.5" -> [["decode", 3.1], ["detect", 20.5]] */
function parseServerTiming(header) {
  return (header || '').split(',').map((entry) => {
    const [name, ...params] = entry.trim().split(';');
    const dur = params.map((p) => p.trim().match(/^dur=([\d.]+)$/)).find(Boolean);
    return name && dur ? [name.trim(), Number(dur[1])] : null;
  }).filter(Boolean);
}

// ---- hipsterize ----------------------------------------------------------------

el.button.addEventListener('click', hipsterize);

async function hipsterize() {
  if (state.busy) return;
  showError('');
  if (!state.photo) {
    showError(state.photoError || TEXT.noPhoto);
    return;
  }
  if (chosenStyle() === 'own' && !state.overlay) {
    showError(TEXT.noOverlay);
    return;
  }
  const photo = state.photo;
  setBusy(true);
  clearResult();
  try {
    setStatus('Preparing the photo…', true);
    const upload = await prepareUpload(photo);
    setStatus(upload.shrunk ? `Shrunk to ${upload.shrunk[2]}×${upload.shrunk[3]} px. Putting on sunglasses…`
      : 'Putting on sunglasses…', true);
    const started = performance.now();
    const res = await post('/api/hipsterize', buildForm(upload, true));
    const blob = await res.blob();
    const elapsed = performance.now() - started;
    if (photo !== state.photo) return; // a new photo was chosen meanwhile
    const cats = Number(res.headers.get('x-cats-found')) || 0;
    const timings = parseServerTiming(res.headers.get('server-timing'));
    await showResult(blob, cats, photo);
    el.after.scrollIntoView({ block: 'nearest' });
    showTimings(timings, elapsed, upload);
    setStatus(`Done: ${cats === 1 ? '1 cat' : `${cats} cats`} in sunglasses.`);
    if (el.showDetections.checked) await showDetections(upload, photo);
  } catch (err) {
    setStatus('');
    showError(err instanceof ApiFailure ? err.message : TEXT.generic());
    if (!(err instanceof ApiFailure)) console.error(err);
  } finally {
    setBusy(false);
  }
}

function setBusy(busy) {
  state.busy = busy;
  el.button.setAttribute('aria-disabled', String(busy));
  el.stage.setAttribute('aria-busy', String(busy));
  if (!busy) el.progress.hidden = true;
}

function showResult(blob, cats, photo) {
  const url = setUrl('result', blob);
  el.download.href = url;
  el.download.download = `${baseName(photo.name)}-edgecat.jpg`;
  el.catsFound.textContent = cats ? `· ${cats === 1 ? '1 cat' : `${cats} cats`}` : '';
  return new Promise((resolve) => {
    el.result.onload = el.result.onerror = () => resolve();
    el.result.src = url;
    el.after.hidden = false;
    el.stage.hidden = false;
  });
}

function showTimings(timings, elapsed, upload) {
  const parts = timings.map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`);
  const sent = upload.shrunk ? `, sent ${upload.shrunk[2]}×${upload.shrunk[3]} px (${formatBytes(upload.blob.size)})`
    : `, sent the original (${formatBytes(upload.blob.size)})`;
  el.timings.textContent = `Server: ${parts.join(' · ') || 'no timings'}. Round trip ${Math.round(elapsed)} ms${sent}.`;
}

// ---- detections ----------------------------------------------------------------

el.showDetections.addEventListener('change', async () => {
  if (!el.showDetections.checked) {
    el.canvas.hidden = true;
    el.detectSummary.textContent = '';
    return;
  }
  if (!state.photo || state.busy) return;
  setBusy(true);
  try {
    const upload = state.detectionFor === state.photo ? null : await prepareUpload(state.photo);
    await showDetections(upload, state.photo);
  } catch (err) {
    showError(err instanceof ApiFailure ? err.message : TEXT.generic());
  } finally {
    setBusy(false);
  }
});

async function showDetections(upload, photo) {
  if (state.detectionFor !== photo || !state.detection) {
    setStatus('Looking for cat faces…', true);
    const res = await post('/api/detect', buildForm(upload, false));
    state.detection = await res.json();
    state.detectionFor = photo;
    setStatus('');
  }
  if (photo !== state.photo || !el.showDetections.checked) return;
  drawDetections(state.detection);
}

function drawDetections({ width, height, cats = [] }) {
  const c = el.canvas;
  c.width = width;
  c.height = height;
  const ctx = c.getContext('2d');
  const line = Math.max(2, Math.round(Math.max(width, height) / 150));
  ctx.lineWidth = line;
  ctx.font = `${line * 7}px system-ui, sans-serif`;
  for (const cat of cats) {
    const [x0, y0, x1, y1] = cat.box;
    ctx.strokeStyle = '#ffd23f';
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.fillStyle = '#ffd23f';
    ctx.fillText(`${Math.round(cat.score * 100)}%`, x0 + line, Math.max(line * 7, y0 - line));
    for (const [x, y] of Object.values(cat.landmarks || {})) {
      ctx.beginPath();
      ctx.arc(x, y, line * 2, 0, Math.PI * 2);
      ctx.fillStyle = '#ff3f8e';
      ctx.fill();
    }
  }
  c.hidden = false;
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', `${cats.length} cat face${cats.length === 1 ? '' : 's'} detected`);
  el.detectSummary.textContent = `· ${cats.length} face${cats.length === 1 ? '' : 's'} detected`;
}

// ---- footer: models and version ------------------------------------------------

async function loadInfo() {
  try {
    const res = await fetch(api('/api/models'));
    if (!res.ok) throw new Error(String(res.status));
    renderModels(await res.json());
  } catch {
    el.models.replaceChildren(paragraph('Model info is not available right now.'));
  }
  try {
    const res = await fetch(api('/api/health'));
    const h = await res.json();
    if (h.version) el.apiVersion.textContent = `· edgecat ${h.version}`;
  } catch { /* optional */ }
}

function renderModels({ models = [], metrics } = {}) {
  const nodes = [];
  if (!models.length) {
    nodes.push(paragraph('No models are loaded yet.'));
  } else {
    const list = document.createElement('ul');
    for (const m of models) {
      const li = document.createElement('li');
      const shape = Array.isArray(m.input_shape) ? `, input ${m.input_shape.join('×')}` : '';
      const sha = m.sha256 ? `, sha256 ${String(m.sha256).slice(0, 12)}…` : '';
      li.textContent = `${m.name || m.file}: ${formatBytes(m.bytes || 0)}${shape}${sha}`;
      list.append(li);
    }
    nodes.push(list);
  }
  const flat = flatten(metrics);
  if (flat.length) nodes.push(paragraph(`Metrics: ${flat.map(([k, v]) => `${k} ${v}`).join(' · ')}`));
  el.models.replaceChildren(...nodes);
}

function flatten(value, prefix = '', out = []) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix && (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')) {
    out.push([prefix, typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(3) : String(value)]);
  }
  return out;
}

// ---- small helpers -------------------------------------------------------------

function paragraph(text) {
  const p = document.createElement('p');
  p.textContent = text;
  return p;
}
function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
function baseName(name) {
  const base = String(name || 'photo').replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '');
  return base.slice(0, 60) || 'photo';
}

loadInfo();
// Have the worker ready its models and hot code now, while the user picks a
// photo, so the first hipsterize is as quick as the next. Best effort:
// failures are silent.
fetch(api('/api/warm'), { method: 'POST' }).catch(() => {});
