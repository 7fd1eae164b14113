// A fake camera for live mode: Chromium plays a YUV4MPEG2 file as its
// camera (--use-file-for-fake-video-capture). The file is made here from
// real cat photos: Chromium's own decoder and canvas turn each photo into a
// letterboxed RGBA frame, and this module converts it to 4:2:0 YUV.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from './browser.mjs';

export const FRAME = { width: 640, height: 480 };

/** Chromium flags for a camera that plays `y4m`, with the permission granted. */
export const fakeCameraArgs = (y4m) => [
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`,
];

/**
 * Each photo as a `width`×`height` frame (fitted whole, centred on grey):
 * [{ photo, rgba (Buffer), png (Buffer, the same frame losslessly) }].
 */
export async function photoFrames(photos, { width = FRAME.width, height = FRAME.height } = {}) {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const frames = [];
    for (const photo of photos) {
      const out = await page.evaluate(async ({ b64, width, height }) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes]), { imageOrientation: 'from-image' });
        const canvas = new OffscreenCanvas(width, height);
        const ctx = canvas.getContext('2d');
        ctx.fillStyle = '#808080';
        ctx.fillRect(0, 0, width, height);
        const scale = Math.min(width / bitmap.width, height / bitmap.height);
        const [w, h] = [bitmap.width * scale, bitmap.height * scale];
        ctx.drawImage(bitmap, (width - w) / 2, (height - h) / 2, w, h);
        const rgba = ctx.getImageData(0, 0, width, height).data;
        const png = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
        const b64of = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };
        return { rgba: b64of(new Uint8Array(rgba.buffer)), png: b64of(png) };
      }, { b64: fs.readFileSync(photo).toString('base64'), width, height });
      frames.push({ photo, width, height, rgba: Buffer.from(out.rgba, 'base64'), png: Buffer.from(out.png, 'base64') });
    }
    return frames;
  } finally { await browser.close(); }
}

/** RGBA → planar Y, U, V (4:2:0, BT.601 studio range, as cameras deliver). */
export function rgbaToI420({ rgba, width, height }) {
  const y = Buffer.alloc(width * height);
  const cw = width >> 1;
  const ch = height >> 1;
  const u = Buffer.alloc(cw * ch);
  const v = Buffer.alloc(cw * ch);
  const clamp = (x) => Math.max(0, Math.min(255, Math.round(x)));
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const p = (j * width + i) * 4;
      y[j * width + i] = clamp(16 + (65.481 * rgba[p] + 128.553 * rgba[p + 1] + 24.966 * rgba[p + 2]) / 255);
    }
  }
  for (let j = 0; j < ch; j++) {
    for (let i = 0; i < cw; i++) {
      let [r, g, b] = [0, 0, 0];
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = ((2 * j + dy) * width + 2 * i + dx) * 4;
        r += rgba[p] / 4; g += rgba[p + 1] / 4; b += rgba[p + 2] / 4;
      }
      u[j * cw + i] = clamp(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255);
      v[j * cw + i] = clamp(128 + (112 * r - 93.786 * g - 18.214 * b) / 255);
    }
  }
  return [y, u, v];
}

/** Write frames as an uncompressed YUV4MPEG2 file, each repeated `repeat` times. */
export function writeY4m(file, frames, { fps = 30, repeat = 1 } = {}) {
  const { width, height } = frames[0];
  const out = fs.openSync(file, 'w');
  try {
    fs.writeSync(out, `YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`);
    for (const frame of frames) {
      const planes = Buffer.concat(rgbaToI420(frame));
      for (let k = 0; k < repeat; k++) {
        fs.writeSync(out, 'FRAME\n');
        fs.writeSync(out, planes);
      }
    }
  } finally { fs.closeSync(out); }
  return file;
}

/**
 * A fake camera file from `photos`: { file, frames, remove() }. Chromium
 * loops the file; each photo shows for `repeat` frames at `fps`.
 */
export async function makeFakeCamera(photos, { fps = 30, repeat = 30, ...size } = {}) {
  const frames = await photoFrames(photos, size);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecat-camera-'));
  const file = writeY4m(path.join(dir, 'cats.y4m'), frames, { fps, repeat });
  return { file, frames, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// ---- a moving cat ------------------------------------------------------------
// Frame k shows the photo shifted sideways by shifts[k] px, and its index
// in 8 black-or-white 16 px squares along the top edge (the letterbox, where
// 4:2:0 keeps them crisp), so a test can tell which frame the view shows.

const CODE = { x: 8, y: 4, size: 16, bits: 8 };

function stampIndex(rgba, width, k) {
  for (let b = 0; b < CODE.bits; b++) {
    const v = (k >> b) & 1 ? 255 : 0;
    for (let j = CODE.y; j < CODE.y + CODE.size; j++) {
      for (let i = CODE.x + b * CODE.size; i < CODE.x + (b + 1) * CODE.size; i++) {
        const p = (j * width + i) * 4;
        rgba[p] = rgba[p + 1] = rgba[p + 2] = v;
      }
    }
  }
}

/** The frame index stamped in RGBA pixels of `width` (as the view shows them). */
export function frameIndex(rgba, width) {
  let k = 0;
  for (let b = 0; b < CODE.bits; b++) {
    const p = ((CODE.y + CODE.size / 2) * width + CODE.x + b * CODE.size + CODE.size / 2) * 4;
    if (0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2] > 128) k |= 1 << b;
  }
  return k;
}

function shifted({ rgba, width, height }, dx) {
  const out = Buffer.alloc(rgba.length, 128);
  const n = width - Math.abs(dx);
  for (let j = 0; j < height; j++) {
    const row = j * width;
    rgba.copy(out, (row + Math.max(0, dx)) * 4, (row + Math.max(0, -dx)) * 4, (row + Math.max(0, -dx) + n) * 4);
  }
  return out;
}

/**
 * A camera file of `photo` swaying sideways: shifts[k] = amplitude ×
 * sin(2πk / period), one frame each at `fps`. { file, base, shifts, remove() }.
 */
export async function makeMovingCamera(photo, { amplitude = 48, period = 60, fps = 30 } = {}) {
  const [base] = await photoFrames([photo]);
  const shifts = Array.from({ length: period }, (_, k) => Math.round(amplitude * Math.sin((2 * Math.PI * k) / period)));
  const frames = shifts.map((dx, k) => {
    const rgba = shifted(base, dx);
    stampIndex(rgba, base.width, k);
    return { ...base, rgba };
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecat-camera-'));
  const file = writeY4m(path.join(dir, 'moving-cat.y4m'), frames, { fps });
  return { file, base, shifts, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
