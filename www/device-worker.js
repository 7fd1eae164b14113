// On-device mode's Web Worker (started by device.js): runs the browser build
// of edgecat's core (./pkg/, `make build`) off the page's main thread, so
// the page stays responsive while a photo or a frame is processed. One
// request at a time, in order; every message is answered with its `id`.
//
//   → { id, op: 'init' }                                   ← { id, ok: { modelLoadMs, instantiateMs } }
//   → { id, op: 'detect', bytes: ArrayBuffer }             ← { id, ok: { width, height, cats, timings_ms } }
//   → { id, op: 'hipsterize', bytes, style, format, glasses? } ← { id, ok: { bytes (transferred), format, cats, timings_ms } }
//   → { id, op: 'frame', data: ArrayBuffer, width, height } or { id, op: 'frame', bitmap: ImageBitmap }
//                                                          ← { id, ok: { width, height, cats, timings_ms } }
//   a failure: { id, error: { code, message, status }, fatal? }  (fatal: the
//   Wasm instance trapped and must not be used again)
import init, * as core from './pkg/edgecat_web.js';

let canvas = null; // for ImageBitmap frames: their RGBA pixels

function pixels(bitmap) {
  const { width, height } = bitmap;
  if (!canvas || canvas.width !== width || canvas.height !== height) canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, width, height).data;
}

const ops = {
  async init() {
    const t0 = performance.now();
    await init();
    const instantiateMs = performance.now() - t0;
    return { instantiateMs, modelLoadMs: core.load_models() };
  },
  detect: ({ bytes }) => core.detect(new Uint8Array(bytes)),
  hipsterize: ({ bytes, style, format, glasses }) => core.hipsterize(new Uint8Array(bytes), style ?? undefined,
    format ?? undefined, glasses ? new Uint8Array(glasses) : undefined),
  frame({ data, width, height, bitmap }) {
    if (bitmap) {
      const { width: w, height: h } = bitmap; // before pixels() closes it
      return core.detect_frame(pixels(bitmap), w, h);
    }
    return core.detect_frame(new Uint8Array(data), width, height);
  },
};

self.onmessage = async ({ data: msg }) => {
  const { id, op } = msg;
  try {
    if (!Object.hasOwn(ops, op)) throw { code: 'bad_request', status: 400, message: `no such operation: ${op}` };
    const ok = await ops[op](msg);
    self.postMessage({ id, ok }, ok?.bytes instanceof Uint8Array ? [ok.bytes.buffer] : []);
  } catch (err) {
    // The core throws the API's { code, message, status }; anything else is
    // a trap (a Rust panic aborts) or a failed instantiation.
    if (err && typeof err.code === 'string' && !(err instanceof Error)) {
      self.postMessage({ id, error: { code: err.code, message: String(err.message ?? ''), status: Number(err.status) || 0 } });
    } else {
      const trapped = err instanceof WebAssembly.RuntimeError;
      self.postMessage({ id, fatal: true, error: { code: trapped ? 'internal_error' : 'device_unavailable', message: String(err?.message ?? err), status: trapped ? 500 : 0 } });
    }
  }
};
