// Types for device.js, on-device mode: edgecat's core (the same pipeline and
// models as the API) running in a Web Worker of this page. Same-origin only.
//
//   const { deviceSupported, loadDevice } = await import('./device.js');

import type { Cat, DetectResult, EdgecatError } from './edgecat.js';

/** Whether this browser can run on-device mode (WebAssembly and module Workers). */
export declare function deviceSupported(): boolean;

/**
 * Starts the Web Worker (device-worker.js), fetches and instantiates the Wasm
 * (pkg/) and loads its models. Memoised: every call shares the first device
 * (a failed or terminated one is started anew). Rejects with EdgecatError
 * `device_unavailable` when the worker or the Wasm cannot start.
 */
export declare function loadDevice(): Promise<Device>;

/** A photo's bytes (never sent anywhere; the caller's buffer is copied, not taken). */
export type DevicePhoto = ArrayBuffer | Uint8Array | Blob;

/** RGBA pixels, row by row, 4 bytes a pixel (what a canvas's getImageData gives). */
export interface RgbaFrame {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/** Milliseconds per stage, as /api/detect's `timings_ms` (decode is 0 for a frame). */
export type DeviceTimings = Record<'decode' | 'model_load' | 'detect' | 'landmarks' | 'overlay' | 'encode' | 'total', number>;

export interface FrameResult {
  width: number;
  height: number;
  cats: Cat[];
  timings_ms: DeviceTimings;
}

export interface DeviceHipsterizeResult {
  /** image/jpeg, or image/png with format 'png'. */
  blob: Blob;
  /** Cats found (the API's X-Cats-Found). */
  cats: number;
  timings_ms: DeviceTimings;
}

/**
 * The core on this device. Every call runs in the worker, one at a time in
 * order, and rejects with EdgecatError carrying the code and status the API
 * would answer (no_cat_found 422, bad_image 422, bad_request 400, …; its
 * `detail` is the core's own text). A Wasm trap rejects with internal_error
 * and ends the device (the next loadDevice() starts a new one).
 */
export interface Device {
  /** The /api/detect body for this photo (exactly: same cats, same shape). */
  detect(photo: DevicePhoto): Promise<DetectResult>;
  /**
   * The photo with sunglasses on every cat; no cat rejects with no_cat_found.
   * `style`: a built-in overlay (the API's default when absent); `glasses`:
   * your own overlay image, which wins (not an image: bad_overlay).
   */
  hipsterize(photo: DevicePhoto, options?: { style?: string; format?: 'jpeg' | 'png'; glasses?: DevicePhoto }): Promise<DeviceHipsterizeResult>;
  /**
   * Cats on a video frame, no decode. Its pixels are transferred to the
   * worker, not copied: an ImageData's (or a whole-buffer `data`'s) buffer
   * is emptied, an ImageBitmap is closed.
   */
  detectFrame(frame: ImageData | ImageBitmap | RgbaFrame): Promise<FrameResult>;
  /** ms from loadDevice() to models loaded: worker start, Wasm fetch and instantiation, model load. */
  readonly loadMs: number;
  /** Of which: the models' load inside the Wasm. */
  readonly modelLoadMs: number;
  /** Stops the worker; later calls reject with device_unavailable. */
  terminate(): void;
}

export type { EdgecatError };
