//! What the DCT route (`recode`) reads of an uploaded JPEG before its scan:
//! the frame, the quantization and Huffman tables, the restart interval and
//! where the entropy-coded data starts. Only what the route can copy
//! coefficient for coefficient is accepted: an 8-bit sequential Huffman
//! frame, YCbCr in three components, one interleaved scan, luma at full
//! resolution and chroma at full or half resolution each way. Anything else
//! is a `Fault` and the photo takes the pixel path.

use super::huffman::{Decoder, Fault, Spec};

pub(super) struct Component {
    pub id: u8,
    pub h: usize,
    pub v: usize,
    /// The quantization table's index (its values in `Frame::quant`).
    pub tq: usize,
    pub dc: usize,
    pub ac: usize,
}

pub(super) struct Frame {
    pub width: usize,
    pub height: usize,
    pub components: Vec<Component>,
    /// Tables by index, in zigzag order, as DQT stores them (8-bit only).
    pub quant: [Option<[u16; 64]>; 4],
    /// The Huffman tables by index, to decode with, and as DHT gave them
    /// (the output reuses them when it can, so that blocks copy as bits).
    pub dc: [Option<(Decoder, Spec)>; 4],
    pub ac: [Option<(Decoder, Spec)>; 4],
    pub restart_interval: usize,
    /// Where the scan's entropy-coded data starts.
    pub scan_start: usize,
}

impl Frame {
    pub fn h_max(&self) -> usize {
        self.components.iter().map(|c| c.h).max().unwrap_or(1)
    }
    pub fn v_max(&self) -> usize {
        self.components.iter().map(|c| c.v).max().unwrap_or(1)
    }
}

fn u16_at(b: &[u8], i: usize) -> Result<usize, Fault> {
    b.get(i..i + 2).map(|s| u16::from_be_bytes([s[0], s[1]]) as usize).ok_or("a segment ends early")
}

/// Reads the segments up to the first scan.
pub(super) fn parse(b: &[u8]) -> Result<Frame, Fault> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG");
    }
    let mut frame: Option<(usize, usize, Vec<Component>)> = None;
    let mut quant = [None; 4];
    let (mut dc, mut ac): ([Option<(Decoder, Spec)>; 4], [Option<(Decoder, Spec)>; 4]) = Default::default();
    let mut restart_interval = 0;
    let mut adobe_transform = None;
    let mut i = 2;
    loop {
        // Segments follow one another, with only fill bytes (0xFF) between:
        // anything else is a file this route does not try to read.
        if b.get(i) != Some(&0xFF) {
            return Err("bytes between segments");
        }
        while b.get(i) == Some(&0xFF) {
            i += 1;
        }
        let marker = *b.get(i).ok_or("no scan")?;
        i += 1;
        let len = u16_at(b, i)?;
        let body = b.get(i + 2..i + len).filter(|_| len >= 2).ok_or("a segment ends early")?;
        match marker {
            // Baseline and extended sequential, Huffman coded.
            0xC0 | 0xC1 => {
                if frame.is_some() {
                    return Err("a second frame header");
                }
                if body.first() != Some(&8) {
                    return Err("not 8-bit");
                }
                let (height, width, n) = (u16_at(body, 1)?, u16_at(body, 3)?, *body.get(5).ok_or("short frame")? as usize);
                if height == 0 || width == 0 {
                    return Err("no height in the frame header");
                }
                if n != 3 || body.len() < 6 + 3 * n {
                    return Err("not three components");
                }
                let components = (0..n)
                    .map(|c| {
                        let s = &body[6 + 3 * c..9 + 3 * c];
                        Component { id: s[0], h: (s[1] >> 4) as usize, v: (s[1] & 15) as usize, tq: s[2] as usize, dc: 0, ac: 0 }
                    })
                    .collect();
                frame = Some((width, height, components));
            }
            // Progressive, lossless, hierarchical, arithmetic coded (and
            // their tables).
            0xC2 | 0xC3 | 0xC5..=0xCF if marker != 0xC4 => return Err("not sequential Huffman"),
            // Markers with no length have no place before the scan.
            0x01 | 0xD0..=0xD8 => return Err("a marker out of place"),
            0xC4 => {
                let mut t = body;
                while !t.is_empty() {
                    let class_id = t[0];
                    let counts: [u8; 16] = t.get(1..17).ok_or("short DHT")?.try_into().expect("16 bytes");
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let symbols = t.get(17..17 + n).ok_or("short DHT")?.to_vec();
                    let (class, id) = ((class_id >> 4) as usize, (class_id & 15) as usize);
                    if class > 1 || id > 3 || n > 256 {
                        return Err("a bad Huffman table");
                    }
                    let spec = Spec { counts, symbols };
                    let table = Some((Decoder::new(&spec)?, spec));
                    if class == 0 {
                        dc[id] = table;
                    } else {
                        ac[id] = table;
                    }
                    t = &t[17 + n..];
                }
            }
            0xDB => {
                let mut t = body;
                while !t.is_empty() {
                    let (precision, id) = (t[0] >> 4, (t[0] & 15) as usize);
                    // 16-bit tables have no place in a baseline output.
                    if precision != 0 || id > 3 {
                        return Err("a 16-bit or bad quantization table");
                    }
                    let values = t.get(1..65).ok_or("short DQT")?;
                    let mut q = [0u16; 64];
                    for (d, &s) in q.iter_mut().zip(values) {
                        *d = s as u16;
                    }
                    if q.contains(&0) {
                        return Err("a zero in a quantization table");
                    }
                    quant[id] = Some(q);
                    t = &t[65..];
                }
            }
            0xDD => restart_interval = u16_at(body, 0)?,
            // Adobe's APP14: its transform flag says whether the samples are YCbCr.
            0xEE if body.starts_with(b"Adobe") => adobe_transform = body.get(11).copied(),
            0xDA => {
                let (width, height, mut components) = frame.ok_or("a scan before the frame header")?;
                let n = *body.first().ok_or("short scan header")? as usize;
                if n != components.len() || body.len() < 1 + 2 * n + 3 {
                    return Err("not one interleaved scan");
                }
                for (c, comp) in components.iter_mut().enumerate() {
                    let (id, tables) = (body[1 + 2 * c], body[2 + 2 * c]);
                    if id != comp.id {
                        return Err("the scan's components are not in the frame's order");
                    }
                    (comp.dc, comp.ac) = ((tables >> 4) as usize, (tables & 15) as usize);
                }
                if body[1 + 2 * n..1 + 2 * n + 3] != [0, 63, 0] {
                    return Err("a scan that is not sequential");
                }
                let f = Frame { width, height, components, quant, dc, ac, restart_interval, scan_start: i + len };
                check(&f, adobe_transform)?;
                return Ok(f);
            }
            0xD9 => return Err("no scan"),
            _ => {}
        }
        i += len;
    }
}

/// Whether the route can copy this frame: YCbCr, luma at the largest
/// sampling, chroma at it or at 1×1, every table present.
fn check(f: &Frame, adobe_transform: Option<u8>) -> Result<(), Fault> {
    // Colour transforms the decoder may apply otherwise (RGB or YCCK).
    if adobe_transform == Some(0) || f.components.iter().map(|c| c.id).eq(*b"RGB") {
        return Err("RGB samples");
    }
    let (luma, chroma) = (&f.components[0], &f.components[1..]);
    if !(1..=2).contains(&luma.h) || !(1..=2).contains(&luma.v) {
        return Err("a luma sampling other than 1 or 2");
    }
    for c in chroma {
        if (c.h, c.v) != (1, 1) && (c.h, c.v) != (luma.h, luma.v) {
            return Err("a chroma sampling other than 4:4:4, 4:2:2, 4:4:0 or 4:2:0");
        }
    }
    for c in &f.components {
        if c.tq > 3 || f.quant[c.tq].is_none() || c.dc > 3 || c.ac > 3 {
            return Err("a table is missing");
        }
        if f.dc[c.dc].is_none() || f.ac[c.ac].is_none() {
            return Err("a Huffman table is missing");
        }
    }
    Ok(())
}
