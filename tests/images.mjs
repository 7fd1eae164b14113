// Readers and writers for what the tests check in images: sizes from JPEG/PNG
// headers, decoded pixels, and JPEGs re-encoded with an EXIF orientation.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** [width, height] of a JPEG (first SOFn) or PNG (IHDR). */
export function imageSize(buf) {
  const b = Buffer.from(buf);
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return [b.readUInt32BE(16), b.readUInt32BE(20)];
  }
  if (b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i < b.length) {
      if (b[i] !== 0xff) { i++; continue; }
      const marker = b[i + 1];
      const len = b.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return [b.readUInt16BE(i + 7), b.readUInt16BE(i + 5)];
      }
      i += 2 + len;
    }
  }
  throw new Error('not a JPEG or PNG');
}

/** A PNG that is only a header declaring width×height (a decompression bomb's shape). */
export function pngHeaderOnly(width, height, { bitDepth = 8, colorType = 2 } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth; ihdr[9] = colorType; // default 8-bit RGB; 6 is RGBA
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(zlib.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const idat = zlib.deflateSync(Buffer.alloc(1024));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Pixels: decode/encode and EXIF orientation, to compare what the worker
// returns with what it was sent (jpeg-js and pngjs are pure JS).

/** Decode a JPEG or PNG to { width, height, data } with RGBA bytes. */
export function decodeImage(buf) {
  const b = Buffer.from(buf);
  if (b[0] === 0xff && b[1] === 0xd8) {
    const { width, height, data } = jpeg.decode(b, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    return { width, height, data };
  }
  const png = PNG.sync.read(b);
  return { width: png.width, height: png.height, data: png.data };
}

/** Baseline JPEG (4:4:4) of RGBA pixels. */
export function encodeJpeg(img, quality = 95) {
  return Buffer.from(jpeg.encode(img, quality).data);
}

/**
 * A large valid photo for concurrency and load runs: `catJpeg` scaled up 4×
 * (the bench photo, 1000×664, becomes 4000×2656), with pixel noise so that the JPEG
 * stays large (~7 MB). Made once, then read from `cacheFile`.
 */
export function bigCatJpeg(catJpeg, cacheFile) {
  if (fs.existsSync(cacheFile)) return fs.readFileSync(cacheFile);
  const src = decodeImage(catJpeg);
  const k = 4;
  const out = { width: src.width * k, height: src.height * k, data: Buffer.alloc(src.width * k * src.height * k * 4) };
  let seed = 7;
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      const s = ((y / k | 0) * src.width + (x / k | 0)) * 4;
      const d = (y * out.width + x) * 4;
      for (let c = 0; c < 3; c++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        out.data[d + c] = Math.max(0, Math.min(255, src.data[s + c] + ((seed >>> 24) % 25) - 12));
      }
      out.data[d + 3] = 255;
    }
  }
  const jpegBytes = encodeJpeg(out, 92);
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.writeFileSync(cacheFile, jpegBytes);
  return jpegBytes;
}

/** The pixels cropped to [x, y, w, h]. */
export function crop(img, x, y, w, h) {
  const data = Buffer.alloc(w * h * 4);
  for (let r = 0; r < h; r++) {
    data.set(img.data.subarray(((y + r) * img.width + x) * 4, ((y + r) * img.width + x + w) * 4), r * w * 4);
  }
  return { width: w, height: h, data };
}

/** Two images side by side (heights may differ; the gap is black). */
export function sideBySide(a, b) {
  const width = a.width + b.width, height = Math.max(a.height, b.height);
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [src, sx] = x < a.width ? [a, x] : [b, x - a.width];
      const o = (y * width + x) * 4;
      if (y < src.height) for (let c = 0; c < 4; c++) data[o + c] = src.data[(y * src.width + sx) * 4 + c];
      else data[o + 3] = 255;
    }
  }
  return { width, height, data };
}

/**
 * Where the upright pixel (x, y) of a w×h image is stored in a file whose
 * EXIF Orientation is `o` (the stored image is what a reader must transform
 * by `o` to show it upright). Returns [sx, sy].
 */
export function storedPosition(o, x, y, w, h) {
  switch (o) {
    case 1: return [x, y];
    case 2: return [w - 1 - x, y]; // mirrored
    case 3: return [w - 1 - x, h - 1 - y]; // upside down
    case 4: return [x, h - 1 - y]; // mirrored vertically
    case 5: return [y, x]; // transposed
    case 6: return [y, w - 1 - x]; // rotated 90° counter-clockwise (shown after 90° clockwise)
    case 7: return [h - 1 - y, w - 1 - x]; // transversed
    case 8: return [h - 1 - y, x]; // rotated 90° clockwise
    default: throw new Error(`no EXIF orientation ${o}`);
  }
}

/** The stored pixels for an upright image and EXIF orientation `o`. */
export function toStored(img, o) {
  const { width: w, height: h } = img;
  const [sw, sh] = o >= 5 ? [h, w] : [w, h];
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [sx, sy] = storedPosition(o, x, y, w, h);
      const from = (y * w + x) * 4, to = (sy * sw + sx) * 4;
      for (let c = 0; c < 4; c++) data[to + c] = img.data[from + c];
    }
  }
  return { width: sw, height: sh, data };
}

/** The JPEG with an APP1 Exif segment (IFD0: Orientation = o) right after SOI. */
export function withExifOrientation(jpegBytes, o) {
  const b = Buffer.from(jpegBytes);
  if (b[0] !== 0xff || b[1] !== 0xd8) throw new Error('not a JPEG');
  // TIFF, big-endian: header, IFD0 at 8 with one entry (0x0112 SHORT 1 = o), no next IFD.
  const tiff = Buffer.from([
    0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08,
    0x00, 0x01,
    0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, o, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
  ]);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([b.subarray(0, 2), head, body, b.subarray(2)]);
}
