//! Baseline JPEG entropy coding, both ways, for the DCT route (`recode`):
//! reading an upload's quantized coefficients block by block, and writing
//! blocks with the standard (Annex K) tables. The input is untrusted: every
//! table and value is checked, and anything odd is an error (the route then
//! falls back to the pixel encoder), never a panic.

/// Natural (row-major) index of the k-th coefficient in zigzag order.
pub(super) const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
    54, 47, 55, 62, 63,
];

/// A block of quantized coefficients in zigzag order.
pub(super) type Block = [i16; 64];

/// Why a scan could not be read or written here.
pub(super) type Fault = &'static str;

/// Codes up to this long are decoded with one table look-up.
const FAST_BITS: u32 = 9;

/// A Huffman table as DHT stores it: code counts by length, then symbols.
#[derive(Clone)]
pub(super) struct Spec {
    pub counts: [u8; 16],
    pub symbols: Vec<u8>,
}

/// Canonical codes of a table, by length (JPEG's Annex C): (code, length)
/// in symbol order. Refuses a table whose codes overflow their lengths.
fn canonical(spec: &Spec) -> Result<Vec<(u16, u8)>, Fault> {
    let mut codes = Vec::with_capacity(spec.symbols.len());
    let mut code = 0u32;
    for (i, &n) in spec.counts.iter().enumerate() {
        let len = i as u8 + 1;
        for _ in 0..n {
            if code >= 1 << len {
                return Err("a Huffman table's codes overflow");
            }
            codes.push((code as u16, len));
            code += 1;
        }
        code <<= 1;
    }
    if codes.len() != spec.symbols.len() {
        return Err("a Huffman table's symbol count is wrong");
    }
    Ok(codes)
}

/// A table for decoding: a look-up for short codes, canonical ranges for
/// the rest.
pub(super) struct Decoder {
    /// (length, symbol) for each FAST_BITS-bit prefix; length 0: longer.
    fast: Vec<(u8, u8)>,
    /// For an AC table: each FAST_BITS-bit prefix that holds a whole
    /// coefficient (its code and its value's bits), decoded at once, as
    /// value << 16 | run << 8 | bits taken; 0: not (EOB, ZRL, or longer).
    fast_ac: Vec<i32>,
    /// Largest code of each length (-1: none), and where its symbols start.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl Decoder {
    pub fn new(spec: &Spec) -> Result<Decoder, Fault> {
        let codes = canonical(spec)?;
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let (mut max_code, mut offset) = ([-1i32; 17], [0i32; 17]);
        for (i, (&(code, len), &sym)) in codes.iter().zip(&spec.symbols).enumerate() {
            let l = len as usize;
            if max_code[l] < 0 {
                offset[l] = i as i32 - code as i32;
            }
            max_code[l] = code as i32;
            if len as u32 <= FAST_BITS {
                let shift = FAST_BITS - len as u32;
                let first = (code as usize) << shift;
                for e in &mut fast[first..first + (1 << shift)] {
                    *e = (len, sym);
                }
            }
        }
        let fast_ac = (0..1usize << FAST_BITS)
            .map(|prefix| {
                let (len, rs) = fast[prefix];
                let (run, size) = ((rs >> 4) as u32, (rs & 15) as u32);
                if len == 0 || size == 0 || len as u32 + size > FAST_BITS {
                    return 0;
                }
                let bits = (prefix as u32 >> (FAST_BITS - len as u32 - size)) & ((1 << size) - 1);
                let value = if bits < 1 << (size - 1) { bits as i32 - (1 << size) + 1 } else { bits as i32 };
                value << 16 | (run << 8) as i32 | (len as u32 + size) as i32
            })
            .collect();
        Ok(Decoder { fast, fast_ac, max_code, offset, symbols: spec.symbols.clone() })
    }
}

/// Reads entropy-coded data already unstuffed (`unstuff`): bits MSB first.
/// Past the end it reads zeros, counted, so that a scan that needs them is
/// found out (`check_within`).
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    bits: u32,
    padding: u64,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, pos: 0, acc: 0, bits: 0, padding: 0 }
    }

    fn fill(&mut self) {
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            // Eight bytes at once: the bits past the whole bytes taken are
            // the next ones, ORed again identically by the next fill.
            let word = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
            self.acc |= word >> self.bits;
            let taken = (63 - self.bits) / 8;
            self.pos += taken as usize;
            self.bits += taken * 8;
            return;
        }
        while self.bits <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(&b) => {
                    self.pos += 1;
                    b
                }
                None => {
                    self.padding += 8;
                    0
                }
            };
            self.acc |= (byte as u64) << (56 - self.bits);
            self.bits += 8;
        }
    }

    /// Where the next bit is, from the data's start (zeros past the end
    /// counted as if they were there).
    pub fn bit_pos(&self) -> u64 {
        self.pos as u64 * 8 + self.padding - self.bits as u64
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.bits -= n;
    }

    /// `n` (≤ 16) raw bits.
    #[inline]
    fn receive(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.bits < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.consume(n);
        v
    }

    /// A `n`-bit magnitude as JPEG stores it (F.2.2.1, EXTEND).
    #[inline]
    fn receive_extend(&mut self, n: u32) -> i32 {
        let v = self.receive(n) as i32;
        if n > 0 && v < 1 << (n - 1) {
            v - (1 << n) + 1
        } else {
            v
        }
    }

    #[inline]
    fn symbol(&mut self, t: &Decoder) -> Result<u8, Fault> {
        if self.bits < 16 {
            self.fill();
        }
        let (len, sym) = t.fast[(self.acc >> (64 - FAST_BITS)) as usize];
        if len != 0 {
            self.consume(len as u32);
            return Ok(sym);
        }
        for l in FAST_BITS as usize + 1..=16 {
            let code = (self.acc >> (64 - l)) as i32;
            if code <= t.max_code[l] {
                self.consume(l as u32);
                let i = (t.offset[l] + code) as usize;
                return t.symbols.get(i).copied().ok_or("a Huffman code has no symbol");
            }
        }
        Err("a Huffman code is not in its table")
    }

    /// The next AC coefficient when its code and value fit one look-up
    /// (most of a photo's): its zero run and value, consumed.
    #[inline]
    fn fast_coefficient(&mut self, ac: &Decoder) -> Option<(usize, i16)> {
        if self.bits < 16 {
            self.fill();
        }
        let e = ac.fast_ac[(self.acc >> (64 - FAST_BITS)) as usize];
        if e == 0 {
            return None;
        }
        self.consume((e & 0xff) as u32);
        Some((((e >> 8) & 0xff) as usize, (e >> 16) as i16))
    }

    /// One block (zigzag order) with its DC prediction.
    pub fn block(&mut self, dc: &Decoder, ac: &Decoder, pred: &mut i32, out: &mut Block) -> Result<(), Fault> {
        *out = [0; 64];
        let s = self.symbol(dc)? as u32;
        // Category 11 is the largest an 8-bit baseline scan uses.
        if s > 11 {
            return Err("a DC difference is out of range");
        }
        *pred += self.receive_extend(s);
        if !(-2047..=2047).contains(pred) {
            return Err("a DC coefficient is out of range");
        }
        out[0] = *pred as i16;
        let mut k = 1;
        while k < 64 {
            if let Some((run, value)) = self.fast_coefficient(ac) {
                k += run;
                if k > 63 {
                    return Err("an AC coefficient is out of range");
                }
                out[k] = value;
                k += 1;
                continue;
            }
            let rs = self.symbol(ac)?;
            let (run, size) = ((rs >> 4) as usize, (rs & 15) as u32);
            if size == 0 {
                if run != 15 {
                    break; // end of block
                }
                k += 16;
                continue;
            }
            k += run;
            // Category 10 is the largest AC one the standard tables code.
            if k > 63 || size > 10 {
                return Err("an AC coefficient is out of range");
            }
            out[k] = self.receive_extend(size) as i16;
            k += 1;
        }
        if k > 64 {
            return Err("a block has more than 64 coefficients");
        }
        Ok(())
    }

    /// Past one block, keeping only its DC prediction: for blocks copied
    /// as bits, whose coefficients are not needed.
    pub fn skip_block(&mut self, dc: &Decoder, ac: &Decoder, pred: &mut i32) -> Result<(), Fault> {
        let s = self.symbol(dc)? as u32;
        if s > 11 {
            return Err("a DC difference is out of range");
        }
        *pred += self.receive_extend(s);
        if !(-2047..=2047).contains(pred) {
            return Err("a DC coefficient is out of range");
        }
        let mut k = 1;
        while k < 64 {
            if let Some((run, _)) = self.fast_coefficient(ac) {
                k += run + 1;
                if k > 64 {
                    return Err("an AC coefficient is out of range");
                }
                continue;
            }
            let rs = self.symbol(ac)?;
            let (run, size) = ((rs >> 4) as usize, (rs & 15) as u32);
            if size == 0 {
                if run != 15 {
                    break;
                }
                k += 16;
                continue;
            }
            k += run;
            if k > 63 || size > 10 {
                return Err("an AC coefficient is out of range");
            }
            self.receive(size);
            k += 1;
        }
        if k > 64 {
            return Err("a block has more than 64 coefficients");
        }
        Ok(())
    }

    /// Whether what was read lies before `end` (a byte offset: the end of
    /// the data or of its restart interval), not past it.
    pub fn check_within(&self, end: usize) -> Result<(), Fault> {
        if self.bit_pos() > end as u64 * 8 {
            return Err("the entropy-coded data ends early");
        }
        Ok(())
    }

    /// Starts afresh at `start`, the byte a restart interval begins at.
    pub fn restart(&mut self, start: usize) -> Result<(), Fault> {
        self.check_within(start)?;
        *self = BitReader { data: self.data, pos: start, acc: 0, bits: 0, padding: 0 };
        Ok(())
    }
}

/// A scan's entropy-coded data unstuffed (0xFF 0x00 → 0xFF), up to the
/// first marker that is not a restart, and where each restart interval
/// after the first starts in it.
pub(super) fn unstuff(scan: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(scan.len());
    let mut starts = Vec::new();
    let mut i = 0;
    while i < scan.len() {
        let Some(k) = scan[i..].iter().position(|&b| b == 0xFF) else {
            out.extend_from_slice(&scan[i..]);
            break;
        };
        out.extend_from_slice(&scan[i..i + k]);
        i += k;
        let mut j = i + 1;
        while scan.get(j) == Some(&0xFF) {
            j += 1;
        }
        match scan.get(j) {
            Some(0) if j == i + 1 => out.push(0xFF),
            Some(0xD0..=0xD7) => starts.push(out.len()),
            _ => break,
        }
        i = j + 1;
    }
    (out, starts)
}

/// The standard tables (ITU T.81 Annex K.3), which code every baseline
/// symbol: luma DC, luma AC, chroma DC, chroma AC.
pub(super) fn standard(table: usize) -> Spec {
    const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    let (counts, symbols): ([u8; 16], &[u8]) = match table {
        0 => ([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], &DC_SYMBOLS),
        1 => ([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D], &LUMA_AC),
        2 => ([0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], &DC_SYMBOLS),
        _ => ([0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77], &CHROMA_AC),
    };
    Spec { counts, symbols: symbols.to_vec() }
}

/// A table for encoding: (code, length) by symbol; length 0: no code.
pub(super) struct Encoder {
    codes: [(u16, u8); 256],
}

impl Encoder {
    pub fn new(spec: &Spec) -> Encoder {
        let mut codes = [(0, 0); 256];
        let canon = canonical(spec).expect("the standard tables are valid");
        for (&c, &sym) in canon.iter().zip(&spec.symbols) {
            codes[sym as usize] = c;
        }
        Encoder { codes }
    }
}

/// Writes entropy-coded data: bits MSB first, 0xFF stuffed with 0x00.
pub(super) struct BitWriter {
    pub out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    pub fn new(out: Vec<u8>) -> BitWriter {
        BitWriter { out, acc: 0, bits: 0 }
    }

    #[inline]
    fn put(&mut self, code: u32, len: u32) {
        self.acc = (self.acc << len) | code as u64;
        self.bits += len;
        while self.bits >= 8 {
            self.bits -= 8;
            let byte = (self.acc >> self.bits) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
        }
    }

    #[inline]
    fn symbol(&mut self, t: &Encoder, sym: u8) -> Result<(), Fault> {
        let (code, len) = t.codes[sym as usize];
        if len == 0 {
            return Err("a symbol has no code in the output's tables");
        }
        self.put(code as u32, len as u32);
        Ok(())
    }

    /// One block (zigzag order), its DC coded against `pred`.
    pub fn block(&mut self, dc: &Encoder, ac: &Encoder, pred: &mut i32, block: &Block) -> Result<(), Fault> {
        let diff = block[0] as i32 - *pred;
        *pred = block[0] as i32;
        let size = magnitude_bits(diff);
        if size > 11 {
            return Err("a DC difference is out of range");
        }
        self.symbol(dc, size as u8)?;
        self.put(value_bits(diff, size), size);
        let mut run = 0;
        for &v in &block[1..] {
            if v == 0 {
                run += 1;
                continue;
            }
            while run > 15 {
                self.symbol(ac, 0xF0)?;
                run -= 16;
            }
            let size = magnitude_bits(v as i32);
            if size > 10 {
                return Err("an AC coefficient is out of range");
            }
            self.symbol(ac, (run << 4 | size) as u8)?;
            self.put(value_bits(v as i32, size), size);
            run = 0;
        }
        if run > 0 {
            self.symbol(ac, 0x00)?;
        }
        Ok(())
    }

    /// Bits `from..to` of `src` (unstuffed data), as they are: blocks
    /// copied without decoding them again. Once the output is at a byte
    /// boundary, whole bytes go at once (`copy_bytes`): most of an answer is
    /// these runs (1.2 ms of a 1 MP photo, put 32 bits at a time).
    pub fn copy(&mut self, src: &[u8], from: u64, to: u64) {
        let mut at = from;
        let align = ((8 - self.bits % 8) % 8) as u64;
        if to - at > align + 64 {
            self.copy_bits(src, at, at + align);
            at += align;
            let whole = (to - at) / 8;
            // Only bytes whose source bits lie in `src` (a scan cut short
            // reads zeros past its end, below).
            let byte = (at / 8) as usize;
            let n = (whole as usize).min(src.len().saturating_sub(byte + 1));
            if n > 0 {
                self.copy_bytes(&src[byte..byte + n + 1], (at % 8) as u32);
                at += 8 * n as u64;
            }
        }
        self.copy_bits(src, at, to);
    }

    /// `src.len() - 1` bytes of `src` shifted left by `shift` bits, at a
    /// byte boundary of the output, stuffed.
    fn copy_bytes(&mut self, src: &[u8], shift: u32) {
        debug_assert_eq!(self.bits, 0);
        const CHUNK: usize = 4096;
        let mut shifted = [0u8; CHUNK];
        let n = src.len().saturating_sub(1);
        for start in (0..n).step_by(CHUNK) {
            let end = (start + CHUNK).min(n);
            let bytes = &mut shifted[..end - start];
            for ((b, &hi), &lo) in bytes.iter_mut().zip(&src[start..end]).zip(&src[start + 1..end + 1]) {
                *b = ((u16::from_be_bytes([hi, lo]) << shift) >> 8) as u8;
            }
            let mut rest = &bytes[..];
            while let Some(i) = memchr::memchr(0xFF, rest) {
                self.out.extend_from_slice(&rest[..=i]);
                self.out.push(0);
                rest = &rest[i + 1..];
            }
            self.out.extend_from_slice(rest);
        }
    }

    /// `copy`, 32 bits at a time.
    fn copy_bits(&mut self, src: &[u8], from: u64, to: u64) {
        let mut at = from;
        while at < to {
            let n = (to - at).min(32) as u32;
            let byte = (at / 8) as usize;
            let mut word = [0u8; 8];
            // Past the end (a scan cut short, refused after) reads zeros.
            if let Some(bytes) = src.get(byte..) {
                let avail = bytes.len().min(8);
                word[..avail].copy_from_slice(&bytes[..avail]);
            }
            let v = (u64::from_be_bytes(word) << (at % 8)) >> (64 - n);
            self.put(v as u32, n);
            at += n as u64;
        }
    }

    /// The last byte, padded with 1 bits.
    pub fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            let pad = 8 - self.bits;
            self.put((1 << pad) - 1, pad);
        }
        self.out
    }
}

#[inline]
fn magnitude_bits(v: i32) -> u32 {
    32 - v.unsigned_abs().leading_zeros()
}

/// The low `size` bits JPEG stores for `v` (negatives as v - 1).
#[inline]
fn value_bits(v: i32, size: u32) -> u32 {
    let v = if v < 0 { v - 1 } else { v };
    v as u32 & ((1u32 << size) - 1)
}

const LUMA_AC: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14,
    0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09,
    0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A,
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65,
    0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
    0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9,
    0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA,
    0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA,
    0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
];

const CHROMA_AC: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32,
    0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16,
    0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86,
    0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8,
    0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9,
    0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// What the writer codes, the reader reads back, DC chain included.
    #[test]
    fn photo_like_blocks_read_back_and_skip_to_the_same_place() {
        // Small values mostly (one look-up each), some large and long zero
        // runs (the table walk), as in a photo's blocks.
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            seed >> 8
        };
        let blocks: Vec<Block> = (0..400)
            .map(|_| {
                let mut b = [0i16; 64];
                b[0] = (next() % 2001) as i16 - 1000;
                for v in b.iter_mut().skip(1) {
                    *v = match next() % 16 {
                        0..=8 => 0,
                        9..=13 => (next() % 7) as i16 - 3,
                        14 => (next() % 121) as i16 - 60,
                        _ => (next() % 2001) as i16 - 1000,
                    };
                }
                b
            })
            .collect();
        let mut w = BitWriter::new(Vec::new());
        let mut pred = 0;
        for b in &blocks {
            w.block(&Encoder::new(&standard(0)), &Encoder::new(&standard(1)), &mut pred, b).unwrap();
        }
        let (data, _) = unstuff(&w.finish());
        let (dc, ac) = (Decoder::new(&standard(0)).unwrap(), Decoder::new(&standard(1)).unwrap());
        let (mut read, mut skip) = (BitReader::new(&data), BitReader::new(&data));
        let (mut p1, mut p2) = (0, 0);
        for b in &blocks {
            let mut out = [0; 64];
            read.block(&dc, &ac, &mut p1, &mut out).unwrap();
            assert_eq!(&out, b);
            skip.skip_block(&dc, &ac, &mut p2).unwrap();
            assert_eq!((skip.bit_pos(), p2), (read.bit_pos(), p1));
        }
        read.check_within(data.len()).unwrap();
    }

    /// Copying whole bytes at a time writes what copying 32 bits at a time
    /// does: any writer offset, any source shift, 0xFF bytes stuffed, and
    /// zeros past a source cut short.
    #[test]
    fn copied_runs_are_the_bits_as_they_were() {
        let mut next = super::super::fixtures::numbers(7);
        // A third of the bytes 0xFF, so that stuffing comes up often.
        let src: Vec<u8> = (0..3000).map(|_| if next() % 3 == 0 { 0xFF } else { next() as u8 }).collect();
        for _ in 0..300 {
            let lead = next() % 20;
            let from = (next() % 20000) as u64;
            let to = (from + (next() % 5000) as u64).min(8 * src.len() as u64 + 40);
            let (mut fast, mut slow) = (BitWriter::new(Vec::new()), BitWriter::new(Vec::new()));
            fast.put(0x5A5A5 & ((1 << lead) - 1), lead);
            slow.put(0x5A5A5 & ((1 << lead) - 1), lead);
            fast.copy(&src, from, to);
            slow.copy_bits(&src, from, to);
            assert_eq!(fast.finish(), slow.finish(), "lead {lead}, bits {from}..{to}");
        }
    }

    #[test]
    fn blocks_round_trip_through_the_standard_tables() {
        let (dc, ac) = (Encoder::new(&standard(0)), Encoder::new(&standard(1)));
        let mut blocks = vec![[0i16; 64]; 4];
        blocks[0][0] = -1024;
        blocks[1][0] = 1016;
        blocks[1][63] = -1023;
        blocks[2][17] = 1023;
        for (k, v) in blocks[3].iter_mut().enumerate() {
            *v = (k as i16 * 37 % 19) - 9;
        }
        let mut w = BitWriter::new(Vec::new());
        let mut pred = 0;
        for b in &blocks {
            w.block(&dc, &ac, &mut pred, b).unwrap();
        }
        let stuffed = w.finish();
        let (data, restarts) = unstuff(&stuffed);
        assert!(restarts.is_empty() && data.len() < stuffed.len(), "the 0xFF bytes were stuffed");
        let (dc, ac) = (Decoder::new(&standard(0)).unwrap(), Decoder::new(&standard(1)).unwrap());
        let mut r = BitReader::new(&data);
        let mut pred = 0;
        let mut ends = vec![];
        for b in &blocks {
            let mut out = [0; 64];
            r.block(&dc, &ac, &mut pred, &mut out).unwrap();
            assert_eq!(&out, b);
            ends.push(r.bit_pos());
        }
        r.check_within(data.len()).unwrap();
        // Copied as bits, the blocks after the first read back the same.
        let mut w = BitWriter::new(Vec::new());
        w.block(&Encoder::new(&standard(0)), &Encoder::new(&standard(1)), &mut 0, &blocks[0]).unwrap();
        w.copy(&data, ends[0], ends[3]);
        let (copied, _) = unstuff(&w.finish());
        let mut r = BitReader::new(&copied);
        let mut pred = 0;
        for b in &blocks {
            let mut out = [0; 64];
            r.block(&dc, &ac, &mut pred, &mut out).unwrap();
            assert_eq!(&out, b);
        }
        // Cut short, the reader says so rather than reading zeros as data.
        let cut = &data[..data.len() / 2];
        let mut r = BitReader::new(cut);
        let mut pred = 0;
        let read = blocks.iter().try_for_each(|_| r.block(&dc, &ac, &mut pred, &mut [0; 64]));
        assert!(read.is_err() || r.check_within(cut.len()).is_err());
    }

    /// Unstuffing ends at a marker other than a restart, and says where
    /// each restart interval starts.
    #[test]
    fn unstuffing_finds_the_restart_intervals() {
        let scan = [1, 0xFF, 0, 2, 0xFF, 0xD0, 3, 0xFF, 0xFF, 0xD1, 4, 0xFF, 0xD9, 5];
        assert_eq!(unstuff(&scan), (vec![1, 0xFF, 2, 3, 4], vec![3, 4]));
    }

    #[test]
    fn a_table_whose_codes_overflow_is_refused() {
        let spec = Spec { counts: [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], symbols: vec![1, 2, 3] };
        assert!(Decoder::new(&spec).is_err());
        let spec = Spec { counts: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], symbols: vec![] };
        assert!(Decoder::new(&spec).is_err());
        for t in 0..4 {
            Decoder::new(&standard(t)).unwrap();
        }
    }
}
