// Types for edgecat.js, the edgecat client module (served beside it at /edgecat.d.ts).
//
//   // @deno-types="https://edgecat.example/edgecat.d.ts"
//   import { hipsterize } from 'https://edgecat.example/edgecat.js';

/** The client's version; the API's /api/health `version` must share its major. */
export declare const VERSION: string;

/** The built-in overlay styles. */
export type Style = 'classic' | 'aviator' | 'round';
export declare const STYLES: readonly Style[];

/** A photo: a File (its name is sent along), a Blob, or raw bytes. */
export type Photo = File | Blob | ArrayBuffer | ArrayBufferView;

export interface CallOptions {
  /** Base URL of the edgecat API; default: the origin that served edgecat.js. */
  api?: string;
  /** Cancels the call: rejects with code `aborted`. */
  signal?: AbortSignal;
  /** Give up after this many ms (rejects with code `timeout`); default 30000, 0 = never. */
  timeoutMs?: number;
}

export interface PhotoOptions extends CallOptions {
  /** Shrink the photo (upright, EXIF orientation applied) so that its longest side is at most this, in px, before upload; 0 or absent = send the original. */
  maxSide?: number;
  /** JPEG quality of a shrunk photo, 0..1; default 0.92. */
  quality?: number;
}

export interface HipsterizeOptions extends PhotoOptions {
  /** A built-in overlay; the server's default is `classic`. Ignored when `glasses` is given. */
  style?: Style;
  /** Your own overlay image (ideally a PNG with a transparent background). */
  glasses?: File | Blob | ArrayBuffer;
  /** Result format; default 'jpeg'. */
  format?: 'jpeg' | 'png';
}

/** Server-Timing durations by name, in ms: { decode: 3.1, detect: 20.5, ..., total: 40.2 }. */
export type Timings = Record<string, number>;

export interface Shrunk {
  /** What was uploaded: the original photo, or the shrunk JPEG. */
  file: Blob;
  /** null when the original was sent. */
  shrunk: null | { from: [number, number]; to: [number, number] };
  /** '' or the format converted from to JPEG ('HEIC', 'AVIF', …): the server cannot read those. */
  converted: '' | UnreadableFormat;
}

/** Photo formats the server answers 415 for, by their first bytes. */
export type UnreadableFormat = 'HEIC' | 'HEIF' | 'AVIF' | 'TIFF' | 'JPEG XL';
/** The format of a photo the server cannot read, or '' (any other file). */
export declare function unreadableFormat(blob: Blob): Promise<'' | UnreadableFormat>;

export interface HipsterizeResult {
  /** The photo with sunglasses (image/jpeg, or image/png with format 'png'). */
  blob: Blob;
  /** Cats found (X-Cats-Found). */
  cats: number;
  /** Parsed from Server-Timing. */
  timings: Timings;
  /** What was uploaded. */
  sent: Shrunk;
}

export interface Cat {
  score: number;
  /** [x0, y0, x1, y1] in the upright photo's pixels. */
  box: [number, number, number, number];
  landmarks: { left_eye?: [number, number]; right_eye?: [number, number]; [name: string]: [number, number] | undefined };
}

export interface DetectResult {
  width: number;
  height: number;
  cats: Cat[];
  timings_ms: Record<string, number>;
}

export interface Health {
  status: string;
  version?: string;
  [key: string]: unknown;
}

export type EdgecatErrorCode =
  // from the API (problem+json `code`)
  | 'no_cat_found' | 'bad_image' | 'unsupported_media_type' | 'payload_too_large' | 'image_too_large'
  | 'bad_overlay' | 'missing_field' | 'bad_request' | 'busy' | 'request_timeout' | 'rate_limited'
  | 'internal_error'
  // the client's own
  | 'not_an_image' | 'overlay_not_an_image' | 'no_photo' | 'no_overlay'
  | 'network_error' | 'timeout' | 'aborted' | 'incompatible_api'
  // an error answer without a known code
  | 'http_error'
  | (string & {});

/** Every function here rejects with this. `message` is a sentence to show people. */
export declare class EdgecatError extends Error {
  constructor(code: EdgecatErrorCode, message?: string, extra?: { status?: number; retryAfter?: number; cause?: unknown });
  readonly name: 'EdgecatError';
  readonly code: EdgecatErrorCode;
  /** The HTTP status, 0 when there was no answer (network_error, timeout, aborted, client checks). */
  readonly status: number;
  /** Seconds, from Retry-After (rate_limited). */
  readonly retryAfter?: number;
}

/** One human sentence per error code. */
export declare const MESSAGES: Readonly<Record<string, string>>;

/** The photo with sunglasses on every cat. */
export declare function hipsterize(photo: Photo, options?: HipsterizeOptions): Promise<HipsterizeResult>;
/** The cat faces in a photo (POST /api/detect). */
export declare function detect(photo: Photo, options?: PhotoOptions): Promise<DetectResult>;
/** Ready the worker's models and hot code (POST /api/warm); call it on page load. */
export declare function warm(options?: CallOptions): Promise<{ models_loaded: boolean; model_load_ms: number; warm_up_ms?: number }>;
/** GET /api/health once per API and check its version (rejects `incompatible_api`). */
export declare function health(options?: CallOptions): Promise<Health>;
/** The photo as it would be uploaded with `maxSide`. */
export declare function shrink(photo: Photo, options?: { maxSide?: number; quality?: number }): Promise<Shrunk>;
/** Whether a File/Blob claims to be an image (by type, else by name). */
export declare function looksLikeImage(file: Blob | null | undefined): boolean;
/** "decode;dur=3.1, detect;dur=20.5" → { decode: 3.1, detect: 20.5 } */
export declare function parseServerTiming(header: string | null | undefined): Timings;
/** A download name for a photo's result: "kitty.jpg" → "kitty-edgecat.jpg". */
export declare function resultFileName(name: string | undefined, format?: 'jpeg' | 'png'): string;

/**
 * <edgecat-hipsterizer api="…" styles="classic,round" max-side="2048" format="jpeg">
 *
 * Defined by importing edgecat.js (where customElements exists).
 *
 * Parts (style with `edgecat-hipsterizer::part(name)`): container, dropzone, picker
 * (the "Choose a photo…" label), input, file-name, styles, style (each choice),
 * button, status (also `error` while it shows an error), stage, before,
 * before-image, after, after-image, cats-found, download.
 *
 * Custom properties: --edgecat-accent, --edgecat-accent-ink, --edgecat-ink,
 * --edgecat-muted, --edgecat-line, --edgecat-bg, --edgecat-focus,
 * --edgecat-radius, --edgecat-error-bg, --edgecat-error-ink, --edgecat-font.
 */
export interface EdgecatHipsterizerElement extends HTMLElement {
  /** The chosen photo; assign a File to choose one from script. */
  photo: File | null;
  /** The styles offered (from the `styles` attribute). */
  readonly styles: Style[];
  /** Hipsterize the chosen photo; resolves to the result, or null after an `edgecat-error`. */
  hipsterize(): Promise<{ blob: Blob; cats: number; timings: Timings } | null>;
}

export interface EdgecatResultEvent extends CustomEvent<{ blob: Blob; cats: number; timings: Timings }> {}
export interface EdgecatErrorEvent extends CustomEvent<EdgecatError> {}

declare global {
  interface HTMLElementTagNameMap {
    'edgecat-hipsterizer': EdgecatHipsterizerElement;
  }
  interface HTMLElementEventMap {
    'edgecat-result': EdgecatResultEvent;
    'edgecat-error': EdgecatErrorEvent;
  }
}
