//! The DCT route: a JPEG upload answered as JPEG keeps its own quantized
//! coefficients. One pass over its scan reads each block; the MCUs the
//! glasses touch are written again, their blocks under the glasses coded
//! afresh from the pixels (forward DCT, the upload's own quantization
//! tables), and the MCUs between are copied as the bits they are (the
//! output keeps the upload's Huffman tables; the first MCU after a coded
//! one is coded again, for its DC predictions). So the rest of the photo
//! decodes exactly as the upload did (no generation loss), and the pixels
//! are never encoded whole. An upload whose tables lack a code the fresh
//! blocks need is written with the standard tables, every block coded
//! again. The output is a plain baseline JPEG (JFIF, no restart markers)
//! carrying none of the upload's metadata.

use super::baseline::{self, Frame};
use super::blocks::Blocks;
use super::fdct;
use super::huffman::{standard, unstuff, BitReader, BitWriter, Block, Encoder, Fault, Spec};
use super::Paint;

/// A part of the photo that was drawn on: x0, y0, x1, y1 (x1, y1 past its
/// last pixel).
pub type Rect = [u32; 4];

/// What the output is reserved at: the upload with room to spare (the
/// upload's metadata is dropped; with the standard tables a block takes
/// about the bits an upload's optimised ones give it, a few per cent more).
pub(super) fn capacity(upload_len: u64) -> u64 {
    upload_len + upload_len / 4 + (16 << 10)
}

/// What the route holds besides the pixels: the output and the upload's
/// scan unstuffed (at most its size).
pub(super) fn held(upload_len: u64) -> u64 {
    capacity(upload_len) + upload_len
}

/// The upload with the blocks under `changed` coded afresh from `img` (the
/// upload's pixels, drawn on); a `Fault` when the route does not apply.
pub(super) fn recode(upload: &[u8], img: &(impl Paint + ?Sized), changed: &[Rect]) -> Result<Vec<u8>, Fault> {
    let f = baseline::parse(upload)?;
    if img.dimensions() != (f.width as u32, f.height as u32) {
        return Err("the pixels are not the upload's size");
    }
    let (data, restarts) = unstuff(&upload[f.scan_start.min(upload.len())..]);
    if f.restart_interval == 0 && !restarts.is_empty() {
        return Err("restart markers without an interval");
    }
    let scan = Scan { f: &f, data: &data, restarts: &restarts, coded: None, img, changed, capacity: capacity(upload.len() as u64) as usize };
    scan.write_either()
}

/// `recode` from the upload read already (`Blocks`): its coefficients and
/// where each MCU's bits are, so the scan is not read again.
pub(super) fn recode_blocks(coded: &Blocks, upload_len: usize, img: &(impl Paint + ?Sized), changed: &[Rect]) -> Result<Vec<u8>, Fault> {
    let f = coded.frame();
    if img.dimensions() != (f.width as u32, f.height as u32) {
        return Err("the pixels are not the upload's size");
    }
    let scan = Scan { f, data: coded.data(), restarts: &[], coded: Some(coded), img, changed, capacity: capacity(upload_len as u64) as usize };
    scan.write_either()
}

struct Scan<'a, P: Paint + ?Sized> {
    f: &'a Frame,
    data: &'a [u8],
    restarts: &'a [usize],
    /// The upload read already: its blocks and bits come from here, and
    /// `restarts` is not used.
    coded: Option<&'a Blocks>,
    img: &'a P,
    changed: &'a [Rect],
    capacity: usize,
}

impl<P: Paint + ?Sized> Scan<'_, P> {
    fn write_either(&self) -> Result<Vec<u8>, Fault> {
        // Baseline allows tables 0 and 1 only.
        let own = self.f.components.iter().all(|c| c.dc < 2 && c.ac < 2);
        match own.then(|| self.write(true)) {
            Some(Ok(out)) => Ok(out),
            _ => self.write(false),
        }
    }

    /// The output, with the upload's Huffman tables and its untouched MCUs
    /// copied (`own`), or with the standard tables and every block coded.
    fn write(&self, own: bool) -> Result<Vec<u8>, Fault> {
        let f = self.f;
        // Each component's (DC, AC) table in the output, and the tables.
        let selectors: Vec<(usize, usize)> =
            f.components.iter().enumerate().map(|(ci, c)| if own { (c.dc, c.ac) } else { (ci.min(1), ci.min(1)) }).collect();
        let specs: Vec<(Spec, Spec)> = (0..2)
            .map(|t| match own {
                true => {
                    let table = |set: &[Option<(_, Spec)>; 4], used: bool, fallback: usize| {
                        set[t].as_ref().filter(|_| used).map_or_else(|| standard(fallback), |d| d.1.clone())
                    };
                    (table(&f.dc, selectors.iter().any(|s| s.0 == t), 2 * t), table(&f.ac, selectors.iter().any(|s| s.1 == t), 2 * t + 1))
                }
                false => (standard(2 * t), standard(2 * t + 1)),
            })
            .collect();
        let encoders: Vec<(Encoder, Encoder)> = specs.iter().map(|(dc, ac)| (Encoder::new(dc), Encoder::new(ac))).collect();
        let mut out = Vec::with_capacity(self.capacity);
        write_headers(&mut out, f, &specs, &selectors);
        let (h_max, v_max) = (f.h_max(), f.v_max());
        let (mcus_x, mcus_y) = (f.width.div_ceil(8 * h_max), f.height.div_ceil(8 * v_max));
        let mcu_rect = |mx: usize, my: usize| {
            let (x0, y0) = ((mx * 8 * h_max) as u32, (my * 8 * v_max) as u32);
            [x0, y0, x0 + 8 * h_max as u32, y0 + 8 * v_max as u32]
        };
        let per_mcu: usize = f.components.iter().map(|c| c.h * c.v).sum();
        let mut blocks: Vec<Block> = vec![[0; 64]; per_mcu];
        let mut writer = BitWriter::new(out);
        let mut reader = BitReader::new(self.data);
        let (mut pred_in, mut pred_out) = ([0i32; 3], [0i32; 3]);
        // Where the MCUs being copied start in the upload's bits.
        let mut copying: Option<u64> = None;
        let mut mcu = 0;
        for my in 0..mcus_y {
            // MCUs of this row before it were skipped past at once.
            let mut resume = 0;
            for mx in 0..mcus_x {
                if mx < resume {
                    continue;
                }
                if f.restart_interval > 0 && mcu > 0 && mcu % f.restart_interval == 0 {
                    if let Some(from) = copying.take() {
                        let end = self.coded.map_or_else(|| reader.bit_pos(), |c| c.span(mcu - 1).1);
                        writer.copy(self.data, from, end);
                        pred_out = pred_in;
                    }
                    if self.coded.is_none() {
                        let start = *self.restarts.get(mcu / f.restart_interval - 1).ok_or("a restart marker is missing")?;
                        reader.restart(start)?;
                    }
                    pred_in = [0; 3];
                }
                let touched = self.touches(mcu_rect(mx, my));
                // An MCU inside a copied run is only skipped past.
                let skip = own && !touched && copying.is_some();
                if let (true, Some(c)) = (skip, self.coded) {
                    // The rest of the untouched run at once, up to the next
                    // MCU touched, the row's end or the next restart marker
                    // (whose test, above, must still run): only its last
                    // DC and where it ends matter.
                    let ri = f.restart_interval;
                    let limit = if ri > 0 { mcus_x.min(mx + ri - mcu % ri) } else { mcus_x };
                    let mut end = mx + 1;
                    while end < limit && !self.touches(mcu_rect(end, my)) {
                        end += 1;
                    }
                    pred_in = c.last_dc(end - 1, my);
                    mcu += end - mx;
                    resume = end;
                    continue;
                }
                let pred_before = pred_in;
                let (start, end) = match self.coded {
                    Some(c) => {
                        if !skip {
                            c.mcu_blocks(mx, my, &mut blocks);
                        }
                        pred_in = c.last_dc(mx, my);
                        c.span(mcu)
                    }
                    None => {
                        let start = reader.bit_pos();
                        let mut b = 0;
                        for (ci, c) in f.components.iter().enumerate() {
                            let (dc, ac) = (&f.dc[c.dc].as_ref().expect("checked").0, &f.ac[c.ac].as_ref().expect("checked").0);
                            for _ in 0..c.h * c.v {
                                if skip {
                                    reader.skip_block(dc, ac, &mut pred_in[ci])?;
                                } else {
                                    reader.block(dc, ac, &mut pred_in[ci], &mut blocks[b])?;
                                }
                                b += 1;
                            }
                        }
                        (start, reader.bit_pos())
                    }
                };
                mcu += 1;
                if own && !touched {
                    if copying.is_none() {
                        // Coded again, as its DC differences follow the
                        // output's blocks before it; the copy starts after it.
                        self.write_mcu(&mut writer, &encoders, &selectors, &mut pred_out, &mut blocks, mx, my, false)?;
                        copying = Some(end);
                    }
                    continue;
                }
                if let Some(from) = copying.take() {
                    writer.copy(self.data, from, start);
                    pred_out = pred_before;
                }
                self.write_mcu(&mut writer, &encoders, &selectors, &mut pred_out, &mut blocks, mx, my, touched)?;
            }
        }
        if let Some(from) = copying.take() {
            let end = self.coded.map_or_else(|| reader.bit_pos(), |c| c.span(mcu - 1).1);
            writer.copy(self.data, from, end);
        }
        if self.coded.is_none() {
            reader.check_within(self.data.len())?;
        }
        let mut out = writer.finish();
        out.extend_from_slice(&[0xFF, 0xD9]);
        Ok(out)
    }

    fn touches(&self, b: Rect) -> bool {
        self.changed.iter().any(|r| r[0] < b[2] && b[0] < r[2] && r[1] < b[3] && b[1] < r[3])
    }

    /// One MCU's blocks, those under the glasses (when `touched`) coded
    /// afresh from the pixels.
    #[allow(clippy::too_many_arguments)]
    fn write_mcu(
        &self,
        writer: &mut BitWriter,
        encoders: &[(Encoder, Encoder)],
        selectors: &[(usize, usize)],
        pred: &mut [i32; 3],
        blocks: &mut [Block],
        mx: usize,
        my: usize,
        touched: bool,
    ) -> Result<(), Fault> {
        let f = self.f;
        let (h_max, v_max) = (f.h_max(), f.v_max());
        let mut b = 0;
        for (ci, c) in f.components.iter().enumerate() {
            let (dc, ac) = (&encoders[selectors[ci].0].0, &encoders[selectors[ci].1].1);
            // Pixels a sample of this component covers, each way.
            let (sx, sy) = (h_max / c.h, v_max / c.v);
            for by in 0..c.v {
                for bx in 0..c.h {
                    let (gx, gy) = (mx * c.h + bx, my * c.v + by);
                    let (x0, y0) = ((gx * 8 * sx) as u32, (gy * 8 * sy) as u32);
                    if touched && self.touches([x0, y0, x0 + 8 * sx as u32, y0 + 8 * sy as u32]) {
                        let quant = f.quant[c.tq].as_ref().expect("checked");
                        blocks[b] = fdct::forward(&samples(self.img, ci, x0, y0, sx, sy), quant);
                    }
                    writer.block(dc, ac, &mut pred[ci], &blocks[b])?;
                    b += 1;
                }
            }
        }
        Ok(())
    }
}

/// One block of component `ci` (0 Y, 1 Cb, 2 Cr, JFIF's conversion) from
/// the pixels at `x0, y0`, each sample the mean of `sx × sy` pixels; past
/// the photo's edge, its last row and column repeat.
fn samples(img: &(impl Paint + ?Sized), ci: usize, x0: u32, y0: u32, sx: usize, sy: usize) -> [f32; 64] {
    let (w, h) = img.dimensions();
    let (w, h) = (w - 1, h - 1);
    let weights: [f32; 3] = match ci {
        0 => [0.299, 0.587, 0.114],
        1 => [-0.168_736, -0.331_264, 0.5],
        _ => [0.5, -0.418_688, -0.081_312],
    };
    let offset = if ci == 0 { 0.0 } else { 128.0 };
    let area = (sx * sy) as f32;
    std::array::from_fn(|k| {
        let (i, j) = ((k % 8) as u32, (k / 8) as u32);
        let mut sum = 0.0;
        for dy in 0..sy as u32 {
            for dx in 0..sx as u32 {
                let x = (x0 + i * sx as u32 + dx).min(w);
                let y = (y0 + j * sy as u32 + dy).min(h);
                let p = img.pixel(x, y).0;
                sum += weights[0] * p[0] as f32 + weights[1] * p[1] as f32 + weights[2] * p[2] as f32;
            }
        }
        sum / area + offset
    })
}

/// SOI, JFIF (as the pixel encoder writes it), the upload's quantization
/// tables, the frame, the Huffman tables (`specs`, DC and AC by index) and
/// the scan header.
fn write_headers(out: &mut Vec<u8>, f: &Frame, specs: &[(Spec, Spec)], selectors: &[(usize, usize)]) {
    let segment = |out: &mut Vec<u8>, marker: u8, body: &[u8]| {
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(body);
    };
    out.extend_from_slice(&[0xFF, 0xD8]);
    segment(out, 0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0");
    for (id, q) in f.quant.iter().enumerate() {
        if let Some(q) = q.filter(|_| f.components.iter().any(|c| c.tq == id)) {
            let mut body = vec![id as u8];
            body.extend(q.iter().map(|&v| v as u8));
            segment(out, 0xDB, &body);
        }
    }
    let mut sof = vec![8];
    sof.extend_from_slice(&(f.height as u16).to_be_bytes());
    sof.extend_from_slice(&(f.width as u16).to_be_bytes());
    sof.push(f.components.len() as u8);
    for c in &f.components {
        sof.extend_from_slice(&[c.id, (c.h << 4 | c.v) as u8, c.tq as u8]);
    }
    segment(out, 0xC0, &sof);
    for (t, (dc, ac)) in specs.iter().enumerate() {
        for (class, spec) in [(0x00, dc), (0x10, ac)] {
            let mut body = vec![class | t as u8];
            body.extend_from_slice(&spec.counts);
            body.extend_from_slice(&spec.symbols);
            segment(out, 0xC4, &body);
        }
    }
    let mut sos = vec![f.components.len() as u8];
    for (c, s) in f.components.iter().zip(selectors) {
        sos.extend_from_slice(&[c.id, (s.0 << 4 | s.1) as u8]);
    }
    sos.extend_from_slice(&[0, 63, 0]);
    segment(out, 0xDA, &sos);
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use image::RgbImage;

    fn jpeg_of(img: &RgbImage, sampling: jpeg_encoder::SamplingFactor, restarts: u16) -> Vec<u8> {
        super::super::fixtures::jpeg_of(img, sampling, restarts, 85)
    }

    /// Detail everywhere (so every block has AC coefficients), any size.
    fn texture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 + y * 3) as u8, (x * y % 251) as u8, (255 - (5 * y) % 256) as u8]))
    }

    fn decoded(bytes: &[u8]) -> RgbImage {
        image::load_from_memory(bytes).unwrap().into_rgb8()
    }

    /// From the upload read already, the answer is the very bytes that
    /// reading its scan again gives: every sampling, restart intervals too
    /// (shorter and longer than a row: the untouched runs it skips past at
    /// once stop at each marker).
    #[test]
    fn the_blocks_read_give_the_same_answer() {
        use jpeg_encoder::SamplingFactor as S;
        for (sampling, restarts) in [(S::F_2_2, 0), (S::F_1_1, 0), (S::F_2_1, 3), (S::F_1_2, 1), (S::F_2_2, 7), (S::F_1_1, 37), (S::F_2_2, 2)] {
            let upload = jpeg_of(&texture(203, 117), sampling, restarts);
            let mut img = decoded(&upload);
            for y in 21..60 {
                for x in 37..90 {
                    img.put_pixel(x, y, image::Rgb([255, 0, (x + y) as u8]));
                }
            }
            let blocks = Blocks::read(&upload).unwrap();
            for changed in [vec![], vec![[37, 21, 90, 60]], vec![[0, 0, 5, 5], [37, 21, 90, 60], [190, 100, 203, 117]]] {
                let again = recode(&upload, &img, &changed).unwrap();
                assert_eq!(recode_blocks(&blocks, upload.len(), &img, &changed).unwrap(), again, "{sampling:?} {restarts} {changed:?}");
            }
        }
    }

    /// Drawn on in `rect`, the output is the drawing there (to within the
    /// upload's quantization) and the upload exactly away from it: outside
    /// the blocks coded afresh and the chroma samples beside them.
    #[test]
    fn only_the_blocks_drawn_on_change() {
        use jpeg_encoder::SamplingFactor as S;
        for (sampling, restarts) in [(S::F_2_2, 0), (S::F_1_1, 0), (S::F_2_1, 3), (S::F_1_2, 1), (S::F_2_2, 7)] {
            let upload = jpeg_of(&texture(203, 117), sampling, restarts);
            let mut img = decoded(&upload);
            let before = img.clone();
            // Unchanged, it decodes to the very pixels of the upload.
            assert_eq!(decoded(&recode(&upload, &img, &[]).unwrap()), before, "{sampling:?}");
            let rect = [37, 21, 90, 60];
            for y in rect[1]..rect[3] {
                for x in rect[0]..rect[2] {
                    img.put_pixel(x, y, image::Rgb([10, 10, 10]));
                }
            }
            let out = decoded(&recode(&upload, &img, &[rect]).unwrap());
            let near = |x: u32, y: u32| x + 18 > rect[0] && x < rect[2] + 18 && y + 18 > rect[1] && y < rect[3] + 18;
            let (mut inside, mut err) = (0, 0);
            for (x, y, p) in out.enumerate_pixels() {
                if !near(x, y) {
                    assert_eq!(p, before.get_pixel(x, y), "{sampling:?} restarts {restarts} at {x},{y}");
                } else if x >= rect[0] && x < rect[2] && y >= rect[1] && y < rect[3] {
                    // Ringing at the hard edge, as any JPEG of it has.
                    assert!(p.0.iter().all(|&c| c < 90), "{sampling:?} at {x},{y}: {p:?}");
                    inside += 3;
                    err += p.0.iter().map(|&c| (c as i32 - 10).unsigned_abs()).sum::<u32>();
                }
            }
            assert!(err / inside < 6, "{sampling:?}: mean error {} inside", err / inside);
        }
    }

    /// An upload whose optimised Huffman tables lack codes the glasses'
    /// blocks need is written with the standard tables, every block coded
    /// again: the same pixels away from the glasses as when they are copied.
    #[test]
    fn tables_without_a_code_fall_back_to_the_standard_ones() {
        // A flat grey 32×16 JPEG (4:4:4) whose tables hold only the codes it
        // uses: DC difference 0 and end of block, one bit each.
        let mut upload = vec![0xFF, 0xD8, 0xFF, 0xDB, 0, 67, 0];
        upload.extend([1u8; 64]);
        upload.extend([0xFF, 0xC0, 0, 17, 8, 0, 16, 0, 32, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
        for class in [0x00, 0x10] {
            upload.extend([0xFF, 0xC4, 0, 20, class, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        upload.extend([0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0, 3, 0, 0, 63, 0]);
        upload.extend([0, 0, 0, 0, 0, 0, 0xFF, 0xD9]); // 8 MCUs × 3 blocks × 2 bits
        let mut drawn = decoded(&upload);
        let before = drawn.clone();
        assert!(before.pixels().all(|p| p.0 == [128, 128, 128]));
        let rect = [18, 2, 30, 14];
        for y in rect[1]..rect[3] {
            for x in rect[0]..rect[2] {
                drawn.put_pixel(x, y, image::Rgb([(x * 37 % 256) as u8, (y * 91 % 256) as u8, 0]));
            }
        }
        let f = baseline::parse(&upload).unwrap();
        let (data, restarts) = unstuff(&upload[f.scan_start..]);
        let scan = Scan { f: &f, data: &data, restarts: &restarts, coded: None, img: &drawn, changed: &[rect], capacity: 0 };
        assert_eq!(scan.write(true).unwrap_err(), "a symbol has no code in the output's tables");
        let out = decoded(&recode(&upload, &drawn, &[rect]).unwrap());
        assert_eq!(decoded(&scan.write(false).unwrap()), out);
        for (x, y, p) in out.enumerate_pixels() {
            if x < 16 {
                assert_eq!(p, before.get_pixel(x, y), "{x},{y}");
            }
        }
        assert!(out.get_pixel(24, 8).0 != [128, 128, 128]);
        // Unchanged, its own tables do: the same bits.
        assert_eq!(decoded(&recode(&upload, &before, &[]).unwrap()), before);
    }

    /// The output is JFIF, the upload's tables, frame and scan: its EXIF and
    /// other segments are not carried over.
    #[test]
    fn the_upload_s_metadata_is_not_carried_over() {
        let upload = jpeg(false, 0, true); // an APP1 "Exif" segment
        assert!(upload.windows(4).any(|w| w == b"Exif"));
        let out = recode(&upload, &decoded(&upload), &[]).unwrap();
        assert!(!out.windows(4).any(|w| w == b"Exif"));
        let mut i = 2;
        let mut markers = vec![];
        while out[i + 1] != 0xDA {
            markers.push(out[i + 1]);
            i += 2 + u16::from_be_bytes([out[i + 2], out[i + 3]]) as usize;
        }
        assert_eq!(markers, [0xE0, 0xDB, 0xDB, 0xC0, 0xC4, 0xC4, 0xC4, 0xC4]);
        assert!(out.ends_with(&[0xFF, 0xD9]));
    }

    /// What the route does not read is a fault (the pixel encoder then
    /// answers): progressive, grey, cut short, another size, not a JPEG.
    #[test]
    fn what_the_route_does_not_read_is_refused() {
        let img = decoded(&jpeg(false, 0, false));
        assert!(recode(&jpeg(true, 0, false), &img, &[]).is_err());
        let grey = encoded(&image::DynamicImage::ImageLuma8(image::GrayImage::new(64, 48)), image::ImageFormat::Jpeg);
        assert_eq!(recode(&grey, &img, &[]).unwrap_err(), "not three components");
        let whole = jpeg(false, 2, false);
        for cut in [whole.len() - 2, whole.len() * 2 / 3, whole.len() / 2, 200] {
            assert!(recode(&whole[..cut], &img, &[]).is_err() || cut == whole.len() - 2, "cut at {cut}");
        }
        assert_eq!(recode(&whole, &RgbImage::new(63, 48), &[]).unwrap_err(), "the pixels are not the upload's size");
        assert!(recode(b"\xFF\xD8\xFF", &img, &[]).is_err());
        assert!(recode(&png(&image::DynamicImage::ImageRgb8(img.clone())), &img, &[]).is_err());
    }
}
