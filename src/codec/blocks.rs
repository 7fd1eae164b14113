//! The reading side of the DCT route: an upload's scan read once into its
//! quantized coefficients, from which pixels are made only where, and at
//! the scale, each stage needs them. The detector sees the whole photo at
//! 1/2 to 1/4 of its size, made by scaled inverse DCTs (a block's lowest
//! frequencies give its smaller picture, as libjpeg's scaled decoding
//! does); only the landmark crops and the pixels under the glasses are made
//! at full size. At full size the pixels are libjpeg's to the bit (its
//! default "islow" inverse DCT, "fancy" upsampling of the chroma with its
//! rounding, JFIF's YCbCr): what Pillow, and so the models' training, saw.

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
    /// The dequantization table in zigzag order, as the coefficients are.
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
                let quant: [i32; 64] = std::array::from_fn(|k| zigzag[k] as i32);
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
        let mut samples: Vec<Samples> = self.planes.iter().map(|p| p.samples(k as usize, ox..ox + ow, oy..oy + oh)).collect();
        let mut rows = vec![0u8; 3 * ow];
        for (j, row) in out.chunks_exact_mut(3 * ow).enumerate() {
            let (y, rest) = rows.split_at_mut(ow);
            let (cb, cr) = rest.split_at_mut(ow);
            samples[0].row(j, y);
            samples[1].row(j, cb);
            samples[2].row(j, cr);
            to_rgb_row(y, cb, cr, row);
        }
        out
    }
}

/// JFIF's YCbCr → RGB weights in 16-bit fixed point (jdcolor.c's): Cr in
/// R, Cb and Cr in G, Cb in B.
const R_CR: i32 = 91_881;
const G_CB: i32 = 22_554;
const G_CR: i32 = 46_802;
const B_CB: i32 = 116_130;

/// JFIF's YCbCr → RGB, in 16-bit fixed point.
#[inline(always)]
fn to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = ((y as i32) << 16, cb as i32 - 128, cr as i32 - 128);
    let half = 1 << 15;
    let r = (y + R_CR * cr + half) >> 16;
    let g = (y - G_CB * cb - G_CR * cr + half) >> 16;
    let b = (y + B_CB * cb + half) >> 16;
    [r.clamp(0, 255) as u8, g.clamp(0, 255) as u8, b.clamp(0, 255) as u8]
}

/// `to_rgb` along a row of planar samples into RGB, eight pixels at a time
/// (each channel's arithmetic on eight lanes, which the compiler makes
/// SIMD; the interleaving after it is plain stores).
fn to_rgb_row(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    const N: usize = 8;
    let mut px = out.chunks_exact_mut(3 * N);
    let (mut ys, mut cbs, mut crs) = (y.chunks_exact(N), cb.chunks_exact(N), cr.chunks_exact(N));
    for (((o, y), cb), cr) in (&mut px).zip(&mut ys).zip(&mut cbs).zip(&mut crs) {
        let (y, cb, cr): ([i32; N], [i32; N], [i32; N]) =
            (std::array::from_fn(|i| (y[i] as i32) << 16), std::array::from_fn(|i| cb[i] as i32 - 128), std::array::from_fn(|i| cr[i] as i32 - 128));
        let half = 1 << 15;
        let r: [u8; N] = std::array::from_fn(|i| ((y[i] + R_CR * cr[i] + half) >> 16).clamp(0, 255) as u8);
        let g: [u8; N] = std::array::from_fn(|i| ((y[i] - G_CB * cb[i] - G_CR * cr[i] + half) >> 16).clamp(0, 255) as u8);
        let b: [u8; N] = std::array::from_fn(|i| ((y[i] + B_CB * cb[i] + half) >> 16).clamp(0, 255) as u8);
        for i in 0..N {
            o[3 * i..3 * i + 3].copy_from_slice(&[r[i], g[i], b[i]]);
        }
    }
    let rest = px.into_remainder();
    for (p, ((&y, &cb), &cr)) in rest.chunks_exact_mut(3).zip(ys.remainder().iter().zip(cbs.remainder()).zip(crs.remainder())) {
        p.copy_from_slice(&to_rgb(y, cb, cr));
    }
}

/// One component's samples over an output area, and how each output pixel
/// takes them (`Axis`).
struct Samples {
    buf: Vec<u8>,
    stride: usize,
    x: Axis,
    y: Axis,
    /// A doubled row's two rows blended, and the row doubled.
    scratch: (Vec<u16>, Vec<u8>),
}

/// A row of a component upsampled ×2 across (`Doubled`), from rows `top`
/// and `bottom` blended by `wy` quarters, made as whole rows (blend, then
/// the even and odd pixels) that the compiler makes SIMD.
fn doubled(top: &[u8], bottom: &[u8], wy: u32, d: Doubled, scratch: &mut (Vec<u16>, Vec<u8>), out: &mut [u8]) {
    let n = d.valid.min(top.len());
    let (col, up) = scratch;
    col.clear();
    col.extend(top[..n].iter().zip(&bottom[..n]).map(|(&a, &c)| ((4 - wy) * a as u32 + wy * c as u32) as u16));
    up.clear();
    up.resize(2 * n, 0);
    // Sixteenths: jdsample.c's h2v2 rounds even pixels by 8 and odd ones by
    // 7, its h2v1 (here × 4) by 1 and 2 quarters.
    let (even, odd) = if d.vertical { (8, 7) } else { (4, 8) };
    up[0] = ((4 * col[0] as u32 + even) >> 4) as u8;
    for (pair, c) in up[2..].chunks_exact_mut(2).zip(col.windows(2)) {
        pair[0] = ((c[0] as u32 + 3 * c[1] as u32 + even) >> 4) as u8;
    }
    for (pair, c) in up.chunks_exact_mut(2).zip(col.windows(2)) {
        pair[1] = ((3 * c[0] as u32 + c[1] as u32 + odd) >> 4) as u8;
    }
    up[2 * n - 1] = ((4 * col[n - 1] as u32 + odd) >> 4) as u8;
    out.copy_from_slice(&up[d.offset..d.offset + out.len()]);
}

/// How output pixels take a plane's samples along one axis: from sample
/// `at[i]` and the next, in quarters (`w[i]` of 0, 1 or 3 for the next).
struct Axis {
    at: Vec<usize>,
    w: Vec<u8>,
    /// Sample `at[0] + i` for output pixel i, alone.
    contiguous: bool,
    /// Upsampled ×2 (a subsampled component at full size): the pattern
    /// `Samples::doubled` makes row by row.
    doubled: Option<Doubled>,
}

/// Output pixel 2i of a doubled row takes samples i − 1 and i (¼, ¾), pixel
/// 2i + 1 samples i and i + 1 (¾, ¼); at the photo's edges, the edge sample.
/// In buffer samples: `valid` of them lie in the photo (the rest is block
/// padding), and output pixel 0 is doubled pixel `offset`.
#[derive(Clone, Copy)]
struct Doubled {
    offset: usize,
    valid: usize,
    /// Upsampled ×2 down too (4:2:0): libjpeg rounds the even and odd
    /// pixels of its two cases differently, and so does this.
    vertical: bool,
}

impl Samples {
    /// Output row `j` into `out`.
    #[inline]
    fn row(&mut self, j: usize, out: &mut [u8]) {
        let (r0, wy) = (self.y.at[j] * self.stride, self.y.w[j] as u32);
        let top = &self.buf[r0..r0 + self.stride];
        let bottom = if wy > 0 { &self.buf[r0 + self.stride..r0 + 2 * self.stride] } else { top };
        if let Some(d) = self.x.doubled {
            doubled(top, bottom, wy, d, &mut self.scratch, out);
            return;
        }
        // Otherwise one sample an output pixel (`Plane::samples`): a copy,
        // or two rows blended.
        debug_assert!(self.x.contiguous);
        let from = self.x.at[0];
        let (t, b) = (&top[from..from + out.len()], &bottom[from..from + out.len()]);
        if wy == 0 {
            out.copy_from_slice(t);
        } else {
            for ((o, &a), &c) in out.iter_mut().zip(t).zip(b) {
                *o = (((4 - wy) * a as u32 + wy * c as u32 + 2) >> 2) as u8;
            }
        }
    }
}

impl Plane {
    /// The samples output pixels `xs` × `ys` (at 1/`k` scale) need: the
    /// blocks that hold them, inverse-transformed at the size that gives
    /// one sample an output pixel, or at full size for a subsampled
    /// component read at 1/1 (then upsampled ×2 in `Samples::row`).
    fn samples(&self, k: usize, xs: std::ops::Range<usize>, ys: std::ops::Range<usize>) -> Samples {
        let x_start = xs.start;
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
        // A block's picture at nx × ny takes its frequencies u < nx, v < ny
        // alone: at 1/2, 16 of the 64. Only those are read and dequantized.
        let low: Vec<usize> = (0..64).filter(|&i| ZIGZAG[i] % 8 < nx && ZIGZAG[i] / 8 < ny).collect();
        let basis = basis(nx);
        for by in by0..by1 {
            for bx in bx0..bx1 {
                let at = (by * self.bw + bx) * 64;
                let coefs: &[i16; 64] = self.coefs[at..at + 64].try_into().expect("64 coefficients");
                let out = &mut buf[(by - by0) * ny * stride + (bx - bx0) * nx..];
                match (nx, ny) {
                    (4, 4) => low_square::<4>(coefs, &self.quant, basis, out, stride),
                    (2, 2) => low_square::<2>(coefs, &self.quant, basis, out, stride),
                    _ => block_pixels(coefs, &self.quant, &low, (nx, ny), out, stride),
                }
            }
        }
        let axis = |at: Vec<usize>, w: Vec<u8>, by: usize| {
            let at: Vec<usize> = at.into_iter().map(|a| a - by).collect();
            let contiguous = w.iter().all(|&w| w == 0) && at.windows(2).all(|p| p[1] == p[0] + 1);
            Axis { at, w, contiguous, doubled: None }
        };
        let mut x = axis(ax, wx, bx0 * nx);
        if 8 * self.sx / k > 8 {
            let valid = (self.width * nx).div_ceil(8).max(1).saturating_sub(bx0 * nx);
            x.doubled = Some(Doubled { offset: x_start - 2 * bx0 * nx, valid, vertical: 8 * self.sy / k > 8 });
        }
        Samples { buf, stride, x, y: axis(ay, wy, by0 * ny), scratch: Default::default() }
    }
}

/// A block's picture at `nx` × `ny` samples (1/1, 1/8, or a subsampled
/// component's unequal sizes; `low_square` does the common 1/2 and 1/4):
/// its frequencies `low` (zigzag positions) dequantized into natural order.
fn block_pixels(coefs: &[i16; 64], quant: &[i32; 64], low: &[usize], (nx, ny): (usize, usize), out: &mut [u8], stride: usize) {
    if (nx, ny) == (8, 8) {
        // Every coefficient: the flat test and the dequantization each
        // in one sweep (no index list), which the compiler makes SIMD.
        if coefs[1..].iter().fold(0, |a, &c| a | c) == 0 {
            flat(coefs[0] as i32 * quant[0], 8, 8, out, stride);
            return;
        }
        let block: [i32; 64] = std::array::from_fn(|n| coefs[UNZIGZAG[n]] as i32 * quant[UNZIGZAG[n]]);
        idct8(&block, out, stride);
        return;
    }
    // No branch a coefficient.
    let mut block = [0i32; 64];
    block[0] = coefs[0] as i32 * quant[0];
    // Any nonzero AC coefficient among those read (`low[0]` is the DC).
    let mut ac = 0;
    for &i in &low[1..] {
        block[ZIGZAG[i]] = coefs[i] as i32 * quant[i];
        ac |= coefs[i];
    }
    // A block of its mean alone at this size (smooth parts, most chroma): flat.
    if ac == 0 {
        flat(block[0], nx, ny, out, stride);
        return;
    }
    idct_scaled(&block, nx, ny, out, stride);
}

/// A block whose read frequencies are its DC alone: its mean, `nx` × `ny`.
#[inline(always)]
fn flat(dc: i32, nx: usize, ny: usize, out: &mut [u8], stride: usize) {
    let v = ((dc + 128 * 8 + 4) >> 3).clamp(0, 255) as u8;
    for row in out.chunks_mut(stride).take(ny) {
        row[..nx].fill(v);
    }
}

/// Zigzag position of each natural (row-major) index.
const UNZIGZAG: [usize; 64] = {
    let mut inv = [0; 64];
    let mut i = 0;
    while i < 64 {
        inv[ZIGZAG[i]] = i;
        i += 1;
    }
    inv
};

/// A block's picture at N × N (N = 4 or 2: 1/2 or 1/4) from its N × N
/// lowest frequencies, read and dequantized straight from zigzag order
/// (the positions are constants once the loops unroll). `idct_scaled`'s
/// sums in the same order, so the same pixels, each pass on N lanes at
/// once: the detector's picture of every photo seen at 1/2 is made here
/// (natively, a 1 MP photo's took 3.2 ms through the index list and the
/// one-output-at-a-time `idct_square` it replaces, 2.5 now).
#[inline(always)]
fn low_square<const N: usize>(coefs: &[i16; 64], quant: &[i32; 64], b: &[[f32; 8]; 8], out: &mut [u8], stride: usize) {
    let mut ac = 0;
    let mut x = [[0f32; N]; N];
    for (v, row) in x.iter_mut().enumerate() {
        for (u, c) in row.iter_mut().enumerate() {
            let i = UNZIGZAG[v * 8 + u];
            if v + u > 0 {
                ac |= coefs[i];
            }
            *c = (coefs[i] as i32 * quant[i]) as f32;
        }
    }
    if ac == 0 {
        flat(coefs[0] as i32 * quant[0], N, N, out, stride);
        return;
    }
    // Along x: row v's lanes are its samples x.
    let mut rows = [[0f32; N]; N];
    for (r, xv) in rows.iter_mut().zip(&x) {
        for (bu, &c) in b.iter().zip(xv) {
            for (s, &w) in r.iter_mut().zip(bu) {
                *s += w * c;
            }
        }
    }
    // Along y.
    for (y, line) in out.chunks_mut(stride).take(N).enumerate() {
        let mut o = [0f32; N];
        for (bv, r) in b.iter().zip(&rows) {
            for (s, &p) in o.iter_mut().zip(r) {
                *s += bv[y] * p;
            }
        }
        for (px, s) in line[..N].iter_mut().zip(o) {
            *px = (s + 128.5).clamp(0.0, 255.0) as u8;
        }
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

/// The full 8 × 8 inverse DCT of a dequantized block (natural order):
/// libjpeg's "islow" (jidctint.c: constants × 8192, two bits more kept
/// between the passes), to the bit, so that the pixels are those libjpeg
/// (and Pillow, which the models were trained on) gives. Each pass
/// transforms all eight columns (or rows) at once, lane by lane, so that
/// the compiler makes it SIMD (two 4-lane vectors a row in Wasm): the
/// decode's hottest loop at full size.
fn idct8(block: &[i32; 64], out: &mut [u8], stride: usize) {
    const PASS1: u32 = 2;
    let rows: [Lanes; 8] = std::array::from_fn(|r| std::array::from_fn(|c| block[r * 8 + c]));
    // Columns: lane c of row r is coefficient (u = c, v = r).
    let v = idct_lanes(rows, 1 << (CONST_BITS - PASS1 - 1), CONST_BITS - PASS1);
    // Rows: transposed, lane y of row u is frequency u of output row y;
    // with +128 (the range's centre) and the final rounding.
    let t: [Lanes; 8] = std::array::from_fn(|u| std::array::from_fn(|y| v[y][u]));
    let shift = CONST_BITS + PASS1 + 3;
    let o = idct_lanes(t, (128 << shift) + (1 << (shift - 1)), shift);
    for (y, row) in out.chunks_mut(stride).take(8).enumerate() {
        for (x, px) in row[..8].iter_mut().enumerate() {
            *px = o[x][y].clamp(0, 255) as u8;
        }
    }
}

type Lanes = [i32; 8];
const CONST_BITS: u32 = 13;

/// The 8-point inverse DCT along the rows of `s` (lane by lane), each
/// output `(x + bias) >> shift`, as jidctint.c's passes compute it.
#[inline(always)]
fn idct_lanes(s: [Lanes; 8], bias: i32, shift: u32) -> [Lanes; 8] {
    const fn fix(x: f64) -> i32 {
        (x * (1 << CONST_BITS) as f64 + 0.5) as i32
    }
    let mut out = [[0i32; 8]; 8];
    for l in 0..8 {
        // Even part.
        let z1 = (s[2][l] + s[6][l]) * fix(0.541_196_100);
        let t2 = z1 + s[6][l] * -fix(1.847_759_065);
        let t3 = z1 + s[2][l] * fix(0.765_366_865);
        let t0 = (s[0][l] + s[4][l]) << CONST_BITS;
        let t1 = (s[0][l] - s[4][l]) << CONST_BITS;
        let (t10, t13, t11, t12) = (t0 + t3 + bias, t0 - t3 + bias, t1 + t2 + bias, t1 - t2 + bias);
        // Odd part.
        let (t0, t1, t2, t3) = (s[7][l], s[5][l], s[3][l], s[1][l]);
        let (z1, z2, z3, z4) = (t0 + t3, t1 + t2, t0 + t2, t1 + t3);
        let z5 = (z3 + z4) * fix(1.175_875_602);
        let (t0, t1, t2, t3) = (t0 * fix(0.298_631_336), t1 * fix(2.053_119_869), t2 * fix(3.072_711_026), t3 * fix(1.501_321_110));
        let (z1, z2) = (z1 * -fix(0.899_976_223), z2 * -fix(2.562_915_447));
        let (z3, z4) = (z3 * -fix(1.961_570_560) + z5, z4 * -fix(0.390_180_644) + z5);
        let (t0, t1, t2, t3) = (t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4);
        out[0][l] = (t10 + t3) >> shift;
        out[7][l] = (t10 - t3) >> shift;
        out[1][l] = (t11 + t2) >> shift;
        out[6][l] = (t11 - t2) >> shift;
        out[2][l] = (t12 + t1) >> shift;
        out[5][l] = (t12 - t1) >> shift;
        out[3][l] = (t13 + t0) >> shift;
        out[4][l] = (t13 - t0) >> shift;
    }
    out
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

    /// A subsampled component at full size is libjpeg's "fancy" upsampling
    /// (jdsample.c's h2v2 and h2v1, written out here as they are there),
    /// to the sample, for any part of the photo.
    #[test]
    fn doubled_rows_are_libjpeg_s_fancy_upsampling() {
        for (sampling, w, h) in [(S::F_2_2, 203, 131), (S::F_2_1, 77, 64), (S::F_2_2, 64, 48), (S::F_2_2, 17, 9)] {
            let blocks = Blocks::read(&jpeg_of(&scene(w, h), sampling, 0)).unwrap();
            let plane = &blocks.planes[1];
            let (w, h) = (w as usize, h as usize);
            let vertical = sampling == S::F_2_2;
            // The component's samples (its blocks inverse-transformed, before
            // any upsampling), and libjpeg's upsampling of them.
            let (sw, sh) = (plane.width, plane.height);
            let full = plane.samples(1, 0..w, 0..h);
            let sample = |i: usize, j: usize| full.buf[j.min(sh - 1) * full.stride + i.min(sw - 1)] as u32;
            let reference = |x: usize, y: usize| -> u8 {
                let col = |i: usize| match vertical {
                    true => 3 * sample(i, y / 2) + sample(i, if y % 2 == 0 { (y / 2).saturating_sub(1) } else { y / 2 + 1 }),
                    false => 4 * sample(i, y),
                };
                let (i, (even, odd)) = (x / 2, if vertical { (8, 7) } else { (4, 8) });
                let s = match x % 2 {
                    0 => 3 * col(i) + col(i.saturating_sub(1)) + even,
                    _ => 3 * col(i) + col(i + 1) + odd,
                };
                (s >> 4) as u8
            };
            for (xs, ys) in [(0..w, 0..h), (17.min(w - 5)..90.min(w), 3..61.min(h)), (1..2, 0..3), (150.min(w - 3)..w, 5..h)] {
                let mut fast = plane.samples(1, xs.clone(), ys.clone());
                assert!(fast.x.doubled.is_some(), "{sampling:?}");
                let mut row = vec![0u8; xs.len()];
                for (j, y) in ys.clone().enumerate() {
                    fast.row(j, &mut row);
                    let expected: Vec<u8> = xs.clone().map(|x| reference(x, y)).collect();
                    assert_eq!(row, expected, "{sampling:?} {w}×{h} {xs:?} × {ys:?}, row {y}");
                }
            }
        }
    }

    #[test]
    fn rgb_rows_are_the_per_pixel_conversion() {
        let n = 8 * 5 + 3;
        let (y, cb, cr): (Vec<u8>, Vec<u8>, Vec<u8>) = (0..n).map(|i| ((i * 37 % 256) as u8, (i * 91 % 256) as u8, (255 - i * 53 % 256) as u8)).fold(
            (vec![], vec![], vec![]),
            |(mut a, mut b, mut c), (p, q, r)| {
                a.push(p);
                b.push(q);
                c.push(r);
                (a, b, c)
            },
        );
        let mut out = vec![0u8; 3 * n];
        to_rgb_row(&y, &cb, &cr, &mut out);
        for i in 0..n {
            assert_eq!(out[3 * i..3 * i + 3], to_rgb(y[i], cb[i], cr[i]), "pixel {i}");
        }
    }

    /// The 1/2 and 1/4 pictures' blocks (`low_square`) are the general
    /// scaled inverse DCT's (`idct_scaled`), to the bit: the same sums in
    /// the same order, so the models see the pixels they saw before it.
    #[test]
    fn scaled_blocks_are_the_general_transform_s() {
        let mut numbers = fixtures::numbers(11);
        let mut next = move || numbers() as i32;
        let quant: [i32; 64] = std::array::from_fn(|i| 1 + (i as i32 * 7) % 23);
        for case in 0..400 {
            // Mostly zeros, as quantized blocks are; some flat.
            let coefs: [i16; 64] = std::array::from_fn(|i| match (case % 5, next() % 4) {
                (0, _) if i > 0 => 0,
                (_, 0) => (next() % 200 - 100) as i16,
                _ if i == 0 => (next() % 2000 - 1000) as i16,
                _ => 0,
            });
            let check = |n: usize, fast: &dyn Fn(&mut [u8])| {
                let low: Vec<usize> = (0..64).filter(|&i| ZIGZAG[i] % 8 < n && ZIGZAG[i] / 8 < n).collect();
                let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
                fast(&mut a);
                block_pixels(&coefs, &quant, &low, (n, n), &mut b, 8);
                assert_eq!(a, b, "case {case}, {n} × {n}");
            };
            check(4, &|out| low_square::<4>(&coefs, &quant, basis(4), out, 8));
            check(2, &|out| low_square::<2>(&coefs, &quant, basis(2), out, 8));
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
