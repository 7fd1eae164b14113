//! The reading side of the DCT route: an upload's scan read once into its
//! quantized coefficients, from which pixels are made only where, and at
//! the scale, each stage needs them. The detector sees the whole photo at
//! 1/2 to 1/8 of its size, made by scaled inverse DCTs (a block's lowest
//! frequencies give its smaller picture, as libjpeg's scaled decoding
//! does); only the landmark crops and the pixels under the glasses are made
//! at full size. The chroma is upsampled as libjpeg does by default
//! ("fancy": each output sample ¾ its nearer and ¼ its farther neighbour,
//! each way), and converted with JFIF's YCbCr.

use super::baseline::{self, Frame};
use super::huffman::{unstuff, BitReader, Block, Fault, ZIGZAG};
use super::recode::Rect;
use image::RgbImage;
use std::sync::OnceLock;

/// A JPEG upload's coefficients, every block of every component.
pub struct Blocks {
    frame: Frame,
    planes: Vec<Plane>,
    /// The scan unstuffed, and where each MCU's bits start and end in it:
    /// the answer copies the untouched MCUs' bits from here (`recode`),
    /// with no second pass over the scan.
    data: Vec<u8>,
    spans: Vec<(u64, u64)>,
}

/// One component's blocks, in rows of whole MCUs (the padding included).
struct Plane {
    /// Blocks a row, and rows.
    bw: usize,
    bh: usize,
    /// Zigzag order, as read.
    coefs: Vec<i16>,
    /// Photo pixels one sample covers, each way (1, or 2 for subsampled
    /// chroma).
    sx: usize,
    sy: usize,
    /// Samples that lie in the photo, each way.
    width: usize,
    height: usize,
    /// The dequantization table in natural order.
    quant: [i32; 64],
}

/// The scales pixels are made at: 1/1, 1/2, 1/4 and 1/8.
pub const SCALES: [u32; 4] = [1, 2, 4, 8];

/// What reading holds in memory for a frame (`width` × `height`, its
/// components' sampling `(h, v)`): two bytes a coefficient, whole MCUs.
pub fn coefficient_bytes(width: u64, height: u64, sampling: &[(u64, u64)]) -> u64 {
    let (h_max, v_max) = sampling.iter().fold((1, 1), |m, s| (m.0.max(s.0), m.1.max(s.1)));
    let (mx, my) = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
    sampling.iter().map(|(h, v)| mx * h * my * v * 64 * 2).sum()
}

impl Blocks {
    /// Reads the upload's one scan; a `Fault` when the route does not read
    /// this coding (`baseline`) or its data is bad or cut short.
    pub fn read(upload: &[u8]) -> Result<Blocks, Fault> {
        let f = baseline::parse(upload)?;
        let (data, restarts) = unstuff(&upload[f.scan_start.min(upload.len())..]);
        if f.restart_interval == 0 && !restarts.is_empty() {
            return Err("restart markers without an interval");
        }
        let (h_max, v_max) = (f.h_max(), f.v_max());
        let (mcus_x, mcus_y) = (f.width.div_ceil(8 * h_max), f.height.div_ceil(8 * v_max));
        let mut planes: Vec<Plane> = f
            .components
            .iter()
            .map(|c| {
                let (bw, bh) = (mcus_x * c.h, mcus_y * c.v);
                let zigzag = f.quant[c.tq].expect("checked");
                let mut quant = [0i32; 64];
                for (k, &q) in zigzag.iter().enumerate() {
                    quant[ZIGZAG[k]] = q as i32;
                }
                Plane {
                    bw,
                    bh,
                    coefs: vec![0; bw * bh * 64],
                    sx: h_max / c.h,
                    sy: v_max / c.v,
                    width: (f.width * c.h).div_ceil(h_max),
                    height: (f.height * c.v).div_ceil(v_max),
                    quant,
                }
            })
            .collect();
        let mut reader = BitReader::new(&data);
        let mut pred = [0i32; 3];
        let mut mcu = 0;
        let mut spans = Vec::with_capacity(mcus_x * mcus_y);
        for my in 0..mcus_y {
            for mx in 0..mcus_x {
                if f.restart_interval > 0 && mcu > 0 && mcu % f.restart_interval == 0 {
                    let start = *restarts.get(mcu / f.restart_interval - 1).ok_or("a restart marker is missing")?;
                    reader.restart(start)?;
                    pred = [0; 3];
                }
                mcu += 1;
                let start = reader.bit_pos();
                for (ci, c) in f.components.iter().enumerate() {
                    let (dc, ac) = (&f.dc[c.dc].as_ref().expect("checked").0, &f.ac[c.ac].as_ref().expect("checked").0);
                    let p = &mut planes[ci];
                    for by in 0..c.v {
                        for bx in 0..c.h {
                            let at = ((my * c.v + by) * p.bw + mx * c.h + bx) * 64;
                            let block: &mut Block = (&mut p.coefs[at..at + 64]).try_into().expect("64 coefficients");
                            reader.block(dc, ac, &mut pred[ci], block)?;
                        }
                    }
                }
                spans.push((start, reader.bit_pos()));
            }
        }
        reader.check_within(data.len())?;
        Ok(Blocks { frame: f, planes, data, spans })
    }

    pub(super) fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The scan unstuffed, and MCU `i`'s bits in it (raster order).
    pub(super) fn data(&self) -> &[u8] {
        &self.data
    }

    pub(super) fn span(&self, i: usize) -> (u64, u64) {
        self.spans[i]
    }

    /// The blocks of the MCU at (`mx`, `my`), in scan order, into `out`.
    pub(super) fn mcu_blocks(&self, mx: usize, my: usize, out: &mut [Block]) {
        let mut b = 0;
        for (c, p) in self.frame.components.iter().zip(&self.planes) {
            for by in 0..c.v {
                for bx in 0..c.h {
                    let at = ((my * c.v + by) * p.bw + mx * c.h + bx) * 64;
                    out[b].copy_from_slice(&p.coefs[at..at + 64]);
                    b += 1;
                }
            }
        }
    }

    /// Each component's DC after the MCU at (`mx`, `my`): that of its last
    /// block, as a decoder's prediction holds it.
    pub(super) fn last_dc(&self, mx: usize, my: usize) -> [i32; 3] {
        let mut dc = [0; 3];
        for ((c, p), d) in self.frame.components.iter().zip(&self.planes).zip(&mut dc) {
            let at = ((my * c.v + c.v - 1) * p.bw + mx * c.h + c.h - 1) * 64;
            *d = p.coefs[at] as i32;
        }
        dc
    }

    pub fn width(&self) -> u32 {
        self.frame.width as u32
    }

    pub fn height(&self) -> u32 {
        self.frame.height as u32
    }

    /// An MCU's size in photo pixels.
    pub fn mcu(&self) -> (u32, u32) {
        (8 * self.frame.h_max() as u32, 8 * self.frame.v_max() as u32)
    }

    /// The pixels of `rect` (photo pixels, clipped to the photo) at 1/`k`
    /// scale (`SCALES`): output pixel (i, j) is the photo's square of `k`
    /// pixels at (x0/k + i, y0/k + j) × k, so the output is
    /// ⌈x1/k⌉ − ⌊x0/k⌋ wide.
    pub fn pixels(&self, rect: Rect, k: u32) -> RgbImage {
        assert!(SCALES.contains(&k), "scale 1/{k}");
        let [x0, y0, x1, y1] = [rect[0].min(self.width()), rect[1].min(self.height()), rect[2].min(self.width()), rect[3].min(self.height())];
        let (ox, oy) = ((x0 / k) as usize, (y0 / k) as usize);
        let (ow, oh) = ((x1.div_ceil(k) as usize).saturating_sub(ox), (y1.div_ceil(k) as usize).saturating_sub(oy));
        let mut out = RgbImage::new(ow as u32, oh as u32);
        if ow == 0 || oh == 0 {
            return out;
        }
        let samples: Vec<Samples> = self.planes.iter().map(|p| p.samples(k as usize, ox..ox + ow, oy..oy + oh)).collect();
        let mut rows = vec![0u8; 3 * ow];
        for (j, row) in out.chunks_exact_mut(3 * ow).enumerate() {
            let (y, rest) = rows.split_at_mut(ow);
            let (cb, cr) = rest.split_at_mut(ow);
            samples[0].row(j, y);
            samples[1].row(j, cb);
            samples[2].row(j, cr);
            for (p, ((&y, &cb), &cr)) in row.chunks_exact_mut(3).zip(y.iter().zip(cb.iter()).zip(cr.iter())) {
                p.copy_from_slice(&to_rgb(y, cb, cr));
            }
        }
        out
    }
}

/// JFIF's YCbCr → RGB, in 16-bit fixed point.
#[inline]
fn to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = ((y as i32) << 16, cb as i32 - 128, cr as i32 - 128);
    let half = 1 << 15;
    let r = (y + 91_881 * cr + half) >> 16;
    let g = (y - 22_554 * cb - 46_802 * cr + half) >> 16;
    let b = (y + 116_130 * cb + half) >> 16;
    [r.clamp(0, 255) as u8, g.clamp(0, 255) as u8, b.clamp(0, 255) as u8]
}

/// One component's samples over an output area, and how each output pixel
/// takes them (`Axis`).
struct Samples {
    buf: Vec<u8>,
    stride: usize,
    x: Axis,
    y: Axis,
}

/// How output pixels take a plane's samples along one axis: from sample
/// `at[i]` and the next, in quarters (`w[i]` of 0, 1 or 3 for the next).
struct Axis {
    at: Vec<usize>,
    w: Vec<u8>,
    /// Sample `at[0] + i` for output pixel i, alone.
    contiguous: bool,
}

impl Samples {
    /// Output row `j` into `out`.
    #[inline]
    fn row(&self, j: usize, out: &mut [u8]) {
        let (r0, wy) = (self.y.at[j] * self.stride, self.y.w[j] as u32);
        let top = &self.buf[r0..r0 + self.stride];
        let bottom = if wy > 0 { &self.buf[r0 + self.stride..r0 + 2 * self.stride] } else { top };
        if self.x.contiguous {
            // One sample an output pixel: a copy, or two rows blended.
            let from = self.x.at[0];
            let (t, b) = (&top[from..from + out.len()], &bottom[from..from + out.len()]);
            if wy == 0 {
                out.copy_from_slice(t);
            } else {
                for ((o, &a), &c) in out.iter_mut().zip(t).zip(b) {
                    *o = (((4 - wy) * a as u32 + wy * c as u32 + 2) >> 2) as u8;
                }
            }
            return;
        }
        for ((o, &a), &wx) in out.iter_mut().zip(&self.x.at).zip(&self.x.w) {
            let wx = wx as u32;
            let b = if wx > 0 { a + 1 } else { a };
            let t = (4 - wx) * top[a] as u32 + wx * top[b] as u32;
            let d = (4 - wx) * bottom[a] as u32 + wx * bottom[b] as u32;
            *o = (((4 - wy) * t + wy * d + 8) >> 4) as u8;
        }
    }
}

impl Plane {
    /// The samples output pixels `xs` × `ys` (at 1/`k` scale) need: the
    /// blocks that hold them, inverse-transformed at the size that gives
    /// one sample an output pixel, or at full size for a subsampled
    /// component read at 1/1 (then upsampled ×2 in `Samples::row`).
    fn samples(&self, k: usize, xs: std::ops::Range<usize>, ys: std::ops::Range<usize>) -> Samples {
        // Samples a block gives, each way, and the output pixels between
        // neighbouring samples' centres (1, or ½ when upsampled).
        let (nx, ny) = ((8 * self.sx / k).min(8), (8 * self.sy / k).min(8));
        let axis = |range: std::ops::Range<usize>, s: usize, n: usize, valid: usize| {
            // Samples in the photo at this size (the rest is padding).
            let valid = (valid * n).div_ceil(8).max(1);
            let upsampled = 8 * s / k > 8;
            let (mut at, mut w) = (Vec::with_capacity(range.len()), Vec::with_capacity(range.len()));
            for o in range {
                // The output pixel's centre in samples (×4): o, or o/2 − ¼.
                let t4 = if upsampled { 2 * o as i64 - 1 } else { 4 * o as i64 };
                let t4 = t4.clamp(0, 4 * (valid as i64 - 1));
                let (i, f) = ((t4 / 4) as usize, (t4 % 4) as u8);
                at.push(i);
                w.push(if i + 1 < valid { f } else { 0 });
            }
            (at, w)
        };
        let (ax, wx) = axis(xs, self.sx, nx, self.width);
        let (ay, wy) = axis(ys, self.sy, ny, self.height);
        // The blocks that hold samples first..=last, each way.
        let span = |at: &[usize], w: &[u8], n: usize, blocks: usize| {
            let first = at.iter().min().copied().unwrap_or(0);
            let last = at.iter().zip(w).map(|(&a, &w)| if w > 0 { a + 1 } else { a }).max().unwrap_or(0);
            (first / n, (last / n + 1).min(blocks))
        };
        let (bx0, bx1) = span(&ax, &wx, nx, self.bw);
        let (by0, by1) = span(&ay, &wy, ny, self.bh);
        let stride = (bx1 - bx0) * nx;
        let mut buf = vec![0u8; stride * (by1 - by0) * ny];
        for by in by0..by1 {
            for bx in bx0..bx1 {
                let at = (by * self.bw + bx) * 64;
                let coefs = &self.coefs[at..at + 64];
                let origin = (by - by0) * ny * stride + (bx - bx0) * nx;
                // A block of its mean alone (smooth parts, most chroma): flat.
                if coefs[1..].iter().all(|&c| c == 0) {
                    let v = ((coefs[0] as i32 * self.quant[0] + 128 * 8 + 4) >> 3).clamp(0, 255) as u8;
                    for row in buf[origin..].chunks_mut(stride).take(ny) {
                        row[..nx].fill(v);
                    }
                    continue;
                }
                let mut block = [0i32; 64];
                for (kz, &c) in coefs.iter().enumerate() {
                    if c != 0 {
                        let n = ZIGZAG[kz];
                        block[n] = c as i32 * self.quant[n];
                    }
                }
                match (nx, ny) {
                    (8, 8) => idct8(&block, &mut buf[origin..], stride),
                    (4, 4) => idct_square::<4>(&block, &mut buf[origin..], stride),
                    (2, 2) => idct_square::<2>(&block, &mut buf[origin..], stride),
                    _ => idct_scaled(&block, nx, ny, &mut buf[origin..], stride),
                }
            }
        }
        let axis = |at: Vec<usize>, w: Vec<u8>, by: usize| {
            let at: Vec<usize> = at.into_iter().map(|a| a - by).collect();
            let contiguous = w.iter().all(|&w| w == 0) && at.windows(2).all(|p| p[1] == p[0] + 1);
            Axis { at, w, contiguous }
        };
        Samples { buf, stride, x: axis(ax, wx, bx0 * nx), y: axis(ay, wy, by0 * ny) }
    }
}

/// basis[n][u][x] = C(u)/2 · cos((2x+1)uπ/2n) for n = 1, 2, 4: the 8-point
/// inverse DCT's weights at the centres of n samples (C(0) = 1/√2), so a
/// block's n × n lowest frequencies give its picture at n × n.
fn basis(n: usize) -> &'static [[f32; 8]; 8] {
    static BASES: OnceLock<[[[f32; 8]; 8]; 4]> = OnceLock::new();
    let bases = BASES.get_or_init(|| {
        std::array::from_fn(|level| {
            let n = 1usize << level;
            let mut b = [[0f32; 8]; 8];
            for (u, row) in b.iter_mut().enumerate().take(n) {
                let c = if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
                for (x, v) in row.iter_mut().enumerate().take(n) {
                    *v = (c / 2.0 * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / (2 * n) as f64).cos()) as f32;
                }
            }
            b
        })
    });
    &bases[n.trailing_zeros() as usize]
}

/// A dequantized block (natural order) at `nx` × `ny` samples (each 1, 2 or
/// 4; 8 × 8 is `idct8`), written at `out` with `stride`.
fn idct_scaled(block: &[i32; 64], nx: usize, ny: usize, out: &mut [u8], stride: usize) {
    let (bx, by) = (basis(nx), basis(ny));
    // Rows of frequencies v < ny, transformed along x.
    let mut rows = [[0f32; 8]; 8];
    for v in 0..ny {
        for x in 0..nx {
            rows[v][x] = (0..nx).map(|u| bx[u][x] * block[v * 8 + u] as f32).sum();
        }
    }
    for y in 0..ny {
        for x in 0..nx {
            let s: f32 = (0..ny).map(|v| by[v][y] * rows[v][x]).sum();
            out[y * stride + x] = (s + 128.5).clamp(0.0, 255.0) as u8;
        }
    }
}

/// `idct_scaled` at N × N, unrolled.
fn idct_square<const N: usize>(block: &[i32; 64], out: &mut [u8], stride: usize) {
    let b = basis(N);
    let mut rows = [[0f32; N]; N];
    for (v, row) in rows.iter_mut().enumerate() {
        for (x, r) in row.iter_mut().enumerate() {
            let mut s = 0.0;
            for u in 0..N {
                s += b[u][x] * block[v * 8 + u] as f32;
            }
            *r = s;
        }
    }
    for y in 0..N {
        for x in 0..N {
            let mut s = 0.0;
            for (v, row) in rows.iter().enumerate() {
                s += b[v][y] * row[x];
            }
            out[y * stride + x] = (s + 128.5).clamp(0.0, 255.0) as u8;
        }
    }
}

/// The full 8 × 8 inverse DCT of a dequantized block (natural order), in
/// fixed point: the separable factorisation of libjpeg's "islow" (constants
/// × 4096), as stb_image has it, with its shortcut for columns of DC alone.
fn idct8(block: &[i32; 64], out: &mut [u8], stride: usize) {
    const fn f2f(x: f64) -> i32 {
        (x * 4096.0 + 0.5) as i32
    }
    #[inline(always)]
    fn idct_1d(s: [i32; 8]) -> ([i32; 4], [i32; 4]) {
        let p1 = (s[2] + s[6]) * f2f(0.541_196_1);
        let t2 = p1 + s[6] * f2f(-1.847_759_065);
        let t3 = p1 + s[2] * f2f(0.765_366_865);
        let t0 = (s[0] + s[4]) * 4096;
        let t1 = (s[0] - s[4]) * 4096;
        let x = [t0 + t3, t1 + t2, t1 - t2, t0 - t3];
        let (t0, t1, t2, t3) = (s[7], s[5], s[3], s[1]);
        let (p3, p4, p1, p2) = (t0 + t2, t1 + t3, t0 + t3, t1 + t2);
        let p5 = (p3 + p4) * f2f(1.175_875_602);
        let (t0, t1, t2, t3) = (t0 * f2f(0.298_631_336), t1 * f2f(2.053_119_869), t2 * f2f(3.072_711_026), t3 * f2f(1.501_321_110));
        let p1 = p5 + p1 * f2f(-0.899_976_223);
        let p2 = p5 + p2 * f2f(-2.562_915_447);
        let p3 = p3 * f2f(-1.961_570_560);
        let p4 = p4 * f2f(-0.390_180_644);
        (x, [t0 + p1 + p3, t1 + p2 + p4, t2 + p2 + p3, t3 + p1 + p4])
    }
    let mut v = [0i32; 64];
    for c in 0..8 {
        let col: [i32; 8] = std::array::from_fn(|r| block[r * 8 + c]);
        if col[1..].iter().all(|&a| a == 0) {
            for r in 0..8 {
                v[r * 8 + c] = col[0] * 4;
            }
            continue;
        }
        let (x, t) = idct_1d(col);
        let x = x.map(|a| a + 512);
        // t: t0, t1, t2, t3 (outputs 3 and 4, 2 and 5, 1 and 6, 0 and 7).
        v[c] = (x[0] + t[3]) >> 10;
        v[56 + c] = (x[0] - t[3]) >> 10;
        v[8 + c] = (x[1] + t[2]) >> 10;
        v[48 + c] = (x[1] - t[2]) >> 10;
        v[16 + c] = (x[2] + t[1]) >> 10;
        v[40 + c] = (x[2] - t[1]) >> 10;
        v[24 + c] = (x[3] + t[0]) >> 10;
        v[32 + c] = (x[3] - t[0]) >> 10;
    }
    for r in 0..8 {
        let row: [i32; 8] = std::array::from_fn(|c| v[r * 8 + c]);
        let (x, t) = idct_1d(row);
        // 1 << 17 to remove (4096² × 4 / 8), rounded, with +128 for 0..255.
        let x = x.map(|a| a + 65_536 + (128 << 17));
        let o = &mut out[r * stride..r * stride + 8];
        let clamp = |a: i32| (a >> 17).clamp(0, 255) as u8;
        o[0] = clamp(x[0] + t[3]);
        o[7] = clamp(x[0] - t[3]);
        o[1] = clamp(x[1] + t[2]);
        o[6] = clamp(x[1] - t[2]);
        o[2] = clamp(x[2] + t[1]);
        o[5] = clamp(x[2] - t[1]);
        o[3] = clamp(x[3] + t[0]);
        o[4] = clamp(x[3] - t[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;
    use jpeg_encoder::SamplingFactor as S;

    fn jpeg_of(img: &RgbImage, sampling: S, restarts: u16) -> Vec<u8> {
        fixtures::jpeg_of(img, sampling, restarts, 90)
    }

    /// Smooth shapes and some detail, like a photo more than noise.
    fn scene(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let ring = (((fx - 0.4).hypot(fy - 0.5) * 20.0).sin() * 60.0) as i32;
            image::Rgb([(90 + ring + (x % 7) as i32) as u8, (60.0 + 150.0 * fy) as u8, (200.0 - 120.0 * fx) as u8 ^ ((x / 16 + y / 16) % 2 * 40) as u8])
        })
    }

    fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let se: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum();
        10.0 * (255f64.powi(2) / (se / a.as_raw().len() as f64).max(1e-9)).log10()
    }

    /// The photo at 1/k, each output pixel the mean of its k × k square.
    fn box_down(img: &RgbImage, k: u32) -> RgbImage {
        let (w, h) = (img.width().div_ceil(k), img.height().div_ceil(k));
        RgbImage::from_fn(w, h, |i, j| {
            let (mut sum, mut n) = ([0u32; 3], 0);
            for y in j * k..((j + 1) * k).min(img.height()) {
                for x in i * k..((i + 1) * k).min(img.width()) {
                    let p = img.get_pixel(x, y).0;
                    (0..3).for_each(|c| sum[c] += p[c] as u32);
                    n += 1;
                }
            }
            image::Rgb(sum.map(|s| ((s + n / 2) / n) as u8))
        })
    }

    /// At full size the pixels are those the image crate's decoder gives,
    /// to within rounding; every sampling the route reads, odd sizes and
    /// restart intervals included.
    #[test]
    fn full_size_pixels_are_the_decoder_s() {
        for (sampling, w, h, restarts) in [(S::F_2_2, 203, 131, 0), (S::F_1_1, 96, 80, 3), (S::F_2_1, 77, 64, 0), (S::F_1_2, 64, 77, 5)] {
            let bytes = jpeg_of(&scene(w, h), sampling, restarts);
            let reference = image::load_from_memory(&bytes).unwrap().into_rgb8();
            let ours = Blocks::read(&bytes).unwrap().pixels([0, 0, w, h], 1);
            let p = psnr(&ours, &reference);
            assert!(p > 40.0, "{sampling:?} {w}×{h}: {p:.1} dB");
        }
    }

    /// At 1/2 to 1/8 they are the full picture's k × k means, to within
    /// what a block's lowest frequencies leave out.
    #[test]
    fn scaled_pixels_are_the_picture_s_means() {
        for sampling in [S::F_2_2, S::F_1_1] {
            let bytes = jpeg_of(&scene(321, 243), sampling, 0);
            let full = image::load_from_memory(&bytes).unwrap().into_rgb8();
            let blocks = Blocks::read(&bytes).unwrap();
            for k in [2, 4, 8] {
                let ours = blocks.pixels([0, 0, 321, 243], k);
                let p = psnr(&ours, &box_down(&full, k));
                assert!(p > 28.0, "{sampling:?} 1/{k}: {p:.1} dB");
            }
        }
    }

    /// A part of the photo is exactly that part of the whole, at any scale.
    #[test]
    fn a_region_is_that_part_of_the_whole() {
        let bytes = jpeg_of(&scene(200, 150), S::F_2_2, 0);
        let blocks = Blocks::read(&bytes).unwrap();
        for k in SCALES {
            let whole = blocks.pixels([0, 0, 200, 150], k);
            assert_eq!(whole.dimensions(), (200u32.div_ceil(k), 150u32.div_ceil(k)));
            for rect in [[17, 9, 90, 61], [0, 0, 5, 3], [150, 100, 200, 150], [190, 140, 400, 400]] {
                let part = blocks.pixels(rect, k);
                let (x0, y0) = (rect[0] / k, rect[1] / k);
                let expected = image::imageops::crop_imm(&whole, x0, y0, part.width(), part.height()).to_image();
                assert_eq!(part, expected, "1/{k} {rect:?}");
            }
        }
    }

    #[test]
    fn the_full_inverse_dct_is_the_float_one() {
        let mut block = [0i32; 64];
        for (i, v) in block.iter_mut().enumerate() {
            *v = ((i as i32 * 37) % 61 - 30) * if i < 10 { 8 } else { 1 };
        }
        let mut fixed = [0u8; 64];
        idct8(&block, &mut fixed, 8);
        let c = |u: usize| if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
        for y in 0..8 {
            for x in 0..8 {
                let mut s = 0.0;
                for v in 0..8 {
                    for u in 0..8 {
                        let cos = |p: usize, f: usize| ((2 * p + 1) as f64 * f as f64 * std::f64::consts::PI / 16.0).cos();
                        s += c(u) * c(v) / 4.0 * block[v * 8 + u] as f64 * cos(x, u) * cos(y, v);
                    }
                }
                let exact = (s + 128.0).round().clamp(0.0, 255.0);
                assert!((fixed[y * 8 + x] as f64 - exact).abs() <= 1.0, "({x}, {y}): {} vs {exact}", fixed[y * 8 + x]);
            }
        }
    }

    #[test]
    fn what_it_does_not_read_is_a_fault() {
        let bytes = jpeg_of(&scene(64, 64), S::F_2_2, 0);
        assert!(Blocks::read(&bytes[..bytes.len() / 2]).is_err());
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 80);
        encoder.set_progressive(true);
        encoder.encode(scene(64, 64).as_raw(), 64, 64, jpeg_encoder::ColorType::Rgb).unwrap();
        assert!(Blocks::read(&progressive).is_err());
        assert_eq!(coefficient_bytes(64, 64, &[(2, 2), (1, 1), (1, 1)]), (64 + 16 + 16) * 128);
    }
}
