// On-device mode: edgecat's core (the same pipeline and models as the
// worker, built for the browser into ./pkg/) in a Web Worker of this page.
// The photo never leaves the browser. Nothing here is loaded with the page:
// import it when on-device mode is chosen, and loadDevice() fetches the Wasm.
//
//   const { deviceSupported, loadDevice } = await import('./device.js');
//   const device = await loadDevice();
//   const { blob, cats } = await device.hipsterize(file, { style: 'aviator' });
//
// Answers and errors are the API's: detect() gives the /api/detect body,
// and a failure rejects with EdgecatError (edgecat.js) carrying the code and
// status the API would have answered (e.g. no_cat_found, 422). Types:
// ./device.d.ts. The page must be on the origin that serves this module (a
// Worker's script is same-origin only).
import { EdgecatError } from './edgecat.js';

/** Sentences for the codes only on-device mode has. */
const DEVICE_MESSAGES = {
  device_unavailable: 'On-device mode could not start in this browser. Please use the edge instead.',
};

/** Whether this browser can run on-device mode (WebAssembly and module Workers). */
export function deviceSupported() {
  return typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function' && typeof Worker === 'function';
}

let loading = null;
let live = null; // the device `loading` resolved to

/**
 * Starts the Web Worker, fetches and instantiates the Wasm and loads its
 * models; resolves to the device once they are loaded. Memoised: later
 * calls share the first one (a failed or terminated device is started anew).
 */
export function loadDevice() {
  loading ??= start().catch((err) => { loading = null; throw err; });
  return loading;
}

function failure({ code, status = 0, message = '' }, fatal = false) {
  // The API's sentence for its code (edgecat.js), as the edge path shows;
  // the core's own detail is kept beside it.
  const err = new EdgecatError(code, DEVICE_MESSAGES[code], { status });
  if (message) err.detail = message;
  if (fatal) err.fatal = true;
  return err;
}

async function start() {
  if (!deviceSupported()) throw failure({ code: 'device_unavailable', message: 'no WebAssembly or Worker' });
  const t0 = performance.now();
  const worker = new Worker(new URL('./device-worker.js', import.meta.url), { type: 'module', name: 'edgecat-device' });
  const pending = new Map(); // id -> { resolve, reject }
  let nextId = 0;
  let dead = null; // the error every call gets once the worker is gone

  const die = (err) => {
    if (dead) return;
    dead = err;
    worker.terminate();
    if (device && live === device) { live = null; loading = null; } // the next loadDevice() starts anew
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  };
  worker.onmessage = ({ data }) => {
    const call = pending.get(data.id);
    if (!call) return;
    pending.delete(data.id);
    if (data.error) {
      const err = failure(data.error, data.fatal);
      call.reject(err);
      if (data.fatal) die(err);
    } else call.resolve(data.ok);
  };
  // The script or a module it imports failed to load (offline, 404, CSP).
  worker.onerror = (e) => {
    e.preventDefault?.();
    die(failure({ code: 'device_unavailable', message: e.message || 'the device worker failed to start' }, true));
  };
  worker.onmessageerror = () => die(failure({ code: 'device_unavailable', message: 'a message could not be read' }, true));

  const send = (msg, transfer = []) => new Promise((resolve, reject) => {
    if (dead) { reject(dead); return; }
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ ...msg, id }, transfer);
  });

  let device = null;
  const ready = await send({ op: 'init' });
  device = {
    /** ms from loadDevice() to models loaded: worker start, Wasm fetch + instantiate, model load. */
    loadMs: performance.now() - t0,
    /** Of which: the models' load inside the Wasm. */
    modelLoadMs: ready.modelLoadMs,
    async detect(photo) {
      const bytes = await bytesOf(photo);
      return send({ op: 'detect', bytes }, [bytes]);
    },
    async hipsterize(photo, { style, format, glasses } = {}) {
      const bytes = await bytesOf(photo);
      const overlay = glasses ? await bytesOf(glasses, 'no_overlay') : undefined;
      const out = await send({ op: 'hipsterize', bytes, style, format, glasses: overlay }, overlay ? [bytes, overlay] : [bytes]);
      const blob = new Blob([out.bytes], { type: out.format === 'png' ? 'image/png' : 'image/jpeg' });
      return { blob, cats: out.cats, timings_ms: out.timings_ms };
    },
    detectFrame(frame) {
      if (typeof ImageBitmap === 'function' && frame instanceof ImageBitmap) {
        return send({ op: 'frame', bitmap: frame }, [frame]);
      }
      const { data, width, height } = frame || {};
      if (!data || !ArrayBuffer.isView(data)) return Promise.reject(failure({ code: 'bad_request', status: 400, message: 'a frame is ImageData, an ImageBitmap or { data, width, height }' }));
      // The pixels move to the worker: a view of a whole buffer is
      // transferred (the caller's frame is emptied), any other is copied.
      const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !(data.buffer instanceof SharedArrayBuffer_);
      const buffer = whole ? data.buffer : data.slice().buffer;
      return send({ op: 'frame', data: buffer, width, height }, [buffer]);
    },
    /** Stops the worker; calls after this reject with device_unavailable. */
    terminate() { die(failure({ code: 'device_unavailable', message: 'the device was terminated' }, true)); },
  };
  live = device;
  return device;
}

// A SharedArrayBuffer cannot be transferred (where it exists at all).
const SharedArrayBuffer_ = globalThis.SharedArrayBuffer ?? class {};

/** A photo's bytes as a fresh ArrayBuffer (the caller's own is copied, never taken). */
async function bytesOf(photo, missing = 'no_photo') {
  if (photo instanceof Blob) return photo.arrayBuffer();
  if (photo instanceof ArrayBuffer) return photo.slice(0);
  if (ArrayBuffer.isView(photo)) return new Uint8Array(photo.buffer, photo.byteOffset, photo.byteLength).slice().buffer;
  throw failure({ code: missing });
}
