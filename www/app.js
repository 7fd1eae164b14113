// edgecat front end: choose a photo, pick sunglasses, have them put on at
// the edge (POST to the API) or on this device (the same core as Wasm in a
// Web Worker, device.js), show before/after; and a live camera view
// (live.js). No framework, no build step. device.js and live.js are imported
// only when first needed, so the first load stays as light as the page.
import config from './config.js';
import { EdgecatError, MESSAGES, detect, health, hipsterize as callHipsterize, looksLikeImage, resultFileName, shrink, warm } from './edgecat.js';

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
  whereHint: $('where-hint'), whereDevice: document.querySelector('input[name="where"][value="device"]'),
  liveStart: $('live-start'), liveError: $('live-error'),
};

// ---- human sentences -------------------------------------------------------
// The sentences live in edgecat.js (MESSAGES, and EdgecatError messages); the
// page adds where its own setting is.

const SHRINK_HINT = ' Or lower “Shrink photos” in Settings.';
const errorText = (err) => {
  if (!(err instanceof EdgecatError)) return new EdgecatError('http_error').message;
  return /^(payload|image)_too_large$/.test(err.code) ? `${err.message}${SHRINK_HINT}` : err.message;
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
const API = apiBase() || location.origin;
el.apiBase.textContent = API;
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

// ---- choosing a photo --------------------------------------------------------

function choosePhoto(file) {
  if (!file) return;
  showError('');
  clearResult();
  if (!looksLikeImage(file)) {
    state.photo = null;
    state.photoError = MESSAGES.not_an_image;
    el.photoName.textContent = '';
    el.stage.hidden = true;
    showError(MESSAGES.not_an_image);
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
    showError(MESSAGES.overlay_not_an_image);
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

/** The photo as sent (edgecat.js shrinks it upright if over the limit, and converts HEIC, AVIF, … to JPEG): { file, shrunk, converted }. */
const prepareUpload = (file) => shrink(file, { maxSide: el.maxSide.value, quality: config.jpegQuality });

/** What to put on the cats: { style } or { glasses }. */
function overlayOptions() {
  const style = chosenStyle();
  return style === 'own' ? { glasses: state.overlay } : { style };
}

const apiOptions = { api: API, timeoutMs: config.timeoutMs };

// ---- where the work runs -------------------------------------------------------
// "At the edge" posts the photo to the API; "on this device" runs the same
// core in a Web Worker here, and the photo never leaves the browser. When
// the edge cannot be reached (network failure or no answer in time), the
// page does the photo on the device and says so.

const WHERE_KEY = 'edgecat.where';
const WHERE_HINTS = {
  edge: 'At the edge: your photo is sent to the edgecat server, which sends it back with sunglasses and keeps nothing.',
  device: 'On this device: your photo never leaves this browser. The on-device code and models (about 2.6 MB) are downloaded once, the first time.',
};
// A cheap check that needs no download; device.js's deviceSupported() has the last word.
const DEVICE_POSSIBLE = typeof WebAssembly === 'object' && typeof Worker === 'function';
const DEVICE_UNSUPPORTED = 'This browser cannot run edgecat on the device (it needs WebAssembly and module Web Workers), so photos go to the edge.';

const chosenWhere = () => document.querySelector('input[name="where"]:checked')?.value || 'edge';

function showWhereHint() {
  el.whereHint.textContent = DEVICE_POSSIBLE ? WHERE_HINTS[chosenWhere()] : `${WHERE_HINTS.edge} ${DEVICE_UNSUPPORTED}`;
}

for (const input of document.querySelectorAll('input[name="where"]')) {
  input.addEventListener('change', () => {
    try { localStorage.setItem(WHERE_KEY, chosenWhere()); } catch { /* storage may be off */ }
    showWhereHint();
    // Start the download now, while the user picks a photo.
    if (chosenWhere() === 'device') getDevice().catch(() => {});
  });
}
if (!DEVICE_POSSIBLE) {
  el.whereDevice.disabled = true;
} else {
  let saved = null;
  try { saved = localStorage.getItem(WHERE_KEY); } catch { /* storage may be off */ }
  if (saved === 'device') el.whereDevice.checked = true;
}
showWhereHint();

let devicePromise = null;
let deviceLoadShown = false; // the model load time is shown with the first on-device result only
/** The on-device core (device.js, loaded on first use; memoised, retried after a failure). */
function getDevice() {
  devicePromise ??= import('./device.js').then((m) => {
    if (!m.deviceSupported()) throw new EdgecatError('device_unsupported', DEVICE_UNSUPPORTED);
    return m.loadDevice();
  });
  devicePromise.catch(() => { devicePromise = null; });
  return devicePromise;
}
/** Whether the edge's failure means it is out of reach (not an answer about the photo). */
const edgeUnreachable = (err) => err instanceof EdgecatError && (err.code === 'network_error' || err.code === 'timeout');

// ---- hipsterize ----------------------------------------------------------------

el.button.addEventListener('click', hipsterize);

async function hipsterize() {
  if (state.busy) return;
  showError('');
  if (!state.photo) {
    showError(state.photoError || MESSAGES.no_photo);
    return;
  }
  if (chosenStyle() === 'own' && !state.overlay) {
    showError(MESSAGES.no_overlay);
    return;
  }
  const photo = state.photo;
  setBusy(true);
  clearResult();
  try {
    setStatus('Preparing the photo…', true);
    const upload = await prepareUpload(photo);
    const converted = upload.converted ? `Converted from ${upload.converted} to JPEG${upload.shrunk ? ` at ${upload.shrunk.to.join('×')} px` : ''}. ` : '';
    setStatus(converted ? `${converted}Putting on sunglasses…`
      : upload.shrunk ? `Shrunk to ${upload.shrunk.to.join('×')} px. Putting on sunglasses…`
        : 'Putting on sunglasses…', true);
    if (chosenWhere() === 'device' && DEVICE_POSSIBLE) {
      await onDevice(upload, photo, '');
      return;
    }
    const started = performance.now();
    let answer;
    try {
      answer = await callHipsterize(upload.file, { ...apiOptions, ...overlayOptions() });
    } catch (err) {
      if (!edgeUnreachable(err) || !DEVICE_POSSIBLE) throw err;
      const why = err.code === 'timeout'
        ? `The edge did not answer within ${Math.round(config.timeoutMs / 1000)} seconds`
        : 'The edge could not be reached';
      setStatus(`${why}, so this photo is being hipsterized on your device…`, true);
      await onDevice(upload, photo, why);
      return;
    }
    const { blob, cats, timings } = answer;
    const elapsed = performance.now() - started;
    if (photo !== state.photo) return; // a new photo was chosen meanwhile
    await showResult(blob, cats, photo);
    el.after.scrollIntoView({ block: 'nearest' });
    showTimings(timings, elapsed, upload);
    setStatus(`Done: ${plural(cats)} in sunglasses.`);
    if (el.showDetections.checked) await showDetections(upload, photo);
  } catch (err) {
    setStatus('');
    showError(errorText(err));
    if (!(err instanceof EdgecatError)) console.error(err);
  } finally {
    setBusy(false);
  }
}

const plural = (n) => (n === 1 ? '1 cat' : `${n} cats`);

/**
 * The photo with sunglasses, made here: the same result view as the edge's.
 * `why` is set when the edge failed (the sentence says what happened).
 */
async function onDevice(upload, photo, why) {
  const firstLoad = !devicePromise;
  if (firstLoad || !deviceLoadShown) setStatus(`${why ? `${why}, so` : 'On this device:'} loading the on-device models (once)…`, true);
  let device;
  try {
    device = await getDevice();
  } catch (err) {
    if (err instanceof EdgecatError && err.code === 'device_unsupported') {
      throw why ? new EdgecatError(err.code, `${why}, and this browser cannot run edgecat on the device (it needs WebAssembly and module Web Workers). Please try again later.`) : err;
    }
    console.error(err);
    throw new EdgecatError('device_unavailable', why
      ? `${why}, and the on-device models could not be loaded either. Check your connection and try again.`
      : 'The on-device models could not be loaded. Check your connection and try again, or choose “At the edge”.');
  }
  if (!why) setStatus('Putting on sunglasses on this device…', true);
  const started = performance.now();
  const { blob, cats, timings_ms: timings = {} } = await device.hipsterize(upload.file, overlayOptions());
  const elapsed = performance.now() - started;
  if (photo !== state.photo) return;
  await showResult(blob, cats, photo);
  el.after.scrollIntoView({ block: 'nearest' });
  const load = deviceLoadShown ? null : device.loadMs;
  deviceLoadShown = true;
  showDeviceTimings(timings, elapsed, load, upload);
  setStatus(why
    ? `${why}, so this photo was hipsterized on your device: ${plural(cats)} in sunglasses.`
    : `Done on this device: ${plural(cats)} in sunglasses. Your photo did not leave this browser.`);
  if (el.showDetections.checked) await showDetections(upload, photo);
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
  el.download.download = resultFileName(photo.name);
  el.catsFound.textContent = cats ? `· ${cats === 1 ? '1 cat' : `${cats} cats`}` : '';
  return new Promise((resolve) => {
    el.result.onload = el.result.onerror = () => resolve();
    el.result.src = url;
    el.after.hidden = false;
    el.stage.hidden = false;
  });
}

function showTimings(timings, elapsed, upload) {
  const parts = Object.entries(timings).map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`);
  const sent = upload.converted ? `, sent as JPEG converted from ${upload.converted}${upload.shrunk ? ` at ${upload.shrunk.to.join('×')} px` : ''} (${formatBytes(upload.file.size)})`
    : upload.shrunk ? `, sent ${upload.shrunk.to.join('×')} px (${formatBytes(upload.file.size)})`
      : `, sent the original (${formatBytes(upload.file.size)})`;
  el.timings.textContent = `At the edge. Server: ${parts.join(' · ') || 'no timings'}. Round trip ${Math.round(elapsed)} ms${sent}.`;
}

function showDeviceTimings(timings, elapsed, loadMs, upload) {
  const parts = Object.entries(timings).map(([name, ms]) => `${name} ${Number(ms).toFixed(1)} ms`);
  const load = Number.isFinite(loadMs) ? ` Model load ${Math.round(loadMs)} ms (the Wasm and its models, first use only).` : '';
  const size = upload.shrunk ? `${upload.shrunk.to.join('×')} px, ` : '';
  el.timings.textContent = `On this device: ${parts.join(' · ') || 'no timings'}. Device total ${Math.round(elapsed)} ms.${load} `
    + `Nothing was sent: the photo (${size}${formatBytes(upload.file.size)}) stayed in this browser.`;
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
    showError(errorText(err));
  } finally {
    setBusy(false);
  }
});

async function showDetections(upload, photo) {
  if (state.detectionFor !== photo || !state.detection) {
    setStatus('Looking for cat faces…', true);
    state.detection = chosenWhere() === 'device' && DEVICE_POSSIBLE
      ? await (await getDevice()).detect(upload.file)
      : await detect(upload.file, apiOptions);
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
    const res = await fetch(`${API}/api/models`);
    if (!res.ok) throw new Error(String(res.status));
    renderModels(await res.json());
  } catch {
    el.models.replaceChildren(paragraph('Model info is not available right now.'));
  }
  try {
    const h = await health(apiOptions);
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

// ---- live camera -----------------------------------------------------------------
// live.js (fetched on the first "Start the camera") runs the whole card: the
// camera on a canvas with sunglasses from the on-device core. The page only
// tells it which glasses are chosen.

let live = null;
const liveGlasses = () => {
  const style = chosenStyle();
  return style === 'own' ? (state.overlay ? { glasses: state.overlay } : { style: 'classic' }) : { style };
};
el.liveStart.addEventListener('click', async () => {
  el.liveError.textContent = '';
  try {
    live ??= (await import('./live.js')).mountLive({ getDevice, glasses: liveGlasses, devicePossible: DEVICE_POSSIBLE });
  } catch (err) {
    el.liveError.textContent = 'Live mode could not be loaded. Check your connection and try again.';
    console.error(err);
    return;
  }
  live.start();
});
// Another style (or your own PNG) changes the live glasses too.
for (const input of [...document.querySelectorAll('input[name="style"]'), el.overlayInput]) {
  input.addEventListener('change', () => setTimeout(() => live?.restyle()));
}

loadInfo();
// Have the worker ready its models and hot code now, while the user picks a
// photo, so the first hipsterize is as quick as the next. Best effort:
// failures are silent. Not when the user works on the device.
if (chosenWhere() === 'edge') warm(apiOptions).catch(() => {});
