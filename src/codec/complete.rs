//! Whether a file holds all of its image data, judged from its structure
//! alone (markers, chunks, blocks and declared sizes), before any pixel is
//! decoded: a file cut short is refused as such, never decoded as if whole.

use image::ImageFormat;

/// Whether a JPEG, PNG, GIF, WebP or BMP file holds all of its image data,
/// judged from its structure alone (markers, chunks, blocks and declared
/// sizes; no pixel is decoded). `Err` says where a file that was cut short
/// ends. Only truncation is judged: a file malformed in other ways passes,
/// and its decoder reports it. Trailing bytes after the end are allowed
/// (some cameras append data).
pub fn check_complete(bytes: &[u8], format: ImageFormat) -> Result<(), String> {
    match format {
        ImageFormat::Jpeg => jpeg_complete(bytes),
        ImageFormat::Png => png_complete(bytes),
        ImageFormat::Gif => gif_complete(bytes),
        ImageFormat::WebP => webp_complete(bytes),
        ImageFormat::Bmp => bmp_complete(bytes),
        _ => Ok(()),
    }
}

/// A JPEG must reach its end-of-image marker (FF D9) after its first scan
/// (SOS). Marker segments are skipped by their lengths (an EXIF thumbnail's
/// own FF D9 is inside one); in entropy-coded data a 0xFF byte is stuffed
/// as FF 00 and restart markers are FF D0–D7, so FF D9 there is the end.
/// Progressive JPEGs have several scans, with tables between them: the walk
/// goes on to the EOI after the last.
fn jpeg_complete(b: &[u8]) -> Result<(), String> {
    let mut scanned = false;
    let short = |scanned: bool| {
        Err(if scanned {
            "the JPEG ends inside its image data, before its end-of-image marker".to_string()
        } else {
            "the JPEG ends inside its headers, before its image data".to_string()
        })
    };
    let mut i = 2;
    loop {
        // The next marker: entropy-coded data (or stray bytes) up to a 0xFF,
        // then any fill bytes (0xFF repeated).
        let Some(ff) = b.get(i..).and_then(|rest| rest.iter().position(|&x| x == 0xFF)) else {
            return short(scanned);
        };
        i += ff;
        while b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = b.get(i + 1) else { return short(scanned) };
        match marker {
            // A stuffed 0xFF, a restart marker, TEM, another SOI: no length.
            0x00 | 0x01 | 0xD0..=0xD8 => i += 2,
            0xD9 => return Ok(()),
            _ => {
                let Some(len) = b.get(i + 2..i + 4).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return short(scanned);
                };
                if i + 2 + len > b.len() {
                    return short(scanned);
                }
                // A length under 2 is malformed, not short: the decoder's call.
                if len < 2 {
                    return Ok(());
                }
                i += 2 + len;
                scanned |= marker == 0xDA;
            }
        }
    }
}

/// A PNG's chunks (length, type, data, CRC) must fit in the file up to and
/// including IEND.
fn png_complete(b: &[u8]) -> Result<(), String> {
    let mut i: u64 = 8;
    let len = b.len() as u64;
    loop {
        let Some(head) = b.get(i as usize..i as usize + 8) else {
            return Err("the PNG ends before its IEND chunk".into());
        };
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let kind = &head[4..8];
        let end = i + 12 + size;
        if end > len {
            return Err(if kind == b"IDAT" {
                "the PNG ends inside its image data (IDAT), before its IEND chunk".into()
            } else {
                "the PNG ends inside a chunk, before its IEND chunk".into()
            });
        }
        if kind == b"IEND" {
            return Ok(());
        }
        i = end;
    }
}

/// A GIF's blocks must all be there, up to its trailer (0x3B): header,
/// logical screen descriptor and global colour table, then extensions and
/// frames (descriptor, local colour table, LZW data), each with its data
/// sub-blocks up to their terminator.
fn gif_complete(b: &[u8]) -> Result<(), String> {
    let colour_table = |flags: u8| if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
    /// Past the sub-blocks starting at `i` (sizes, then data; 0 ends them).
    fn sub_blocks(b: &[u8], mut i: usize) -> Option<usize> {
        loop {
            let n = *b.get(i)? as usize;
            i += 1 + n;
            if n == 0 {
                return Some(i);
            }
        }
    }
    let short = |inside: &str| Err(format!("the GIF ends {inside}, before its trailer"));
    let Some(&flags) = b.get(10) else { return short("inside its header") };
    let mut i = 13 + colour_table(flags);
    loop {
        let Some(&block) = b.get(i) else { return short("between its blocks") };
        i = match block {
            0x3B => return Ok(()),
            // Extension: introducer, label, sub-blocks.
            0x21 => match sub_blocks(b, i + 2) {
                Some(end) => end,
                None => return short("inside an extension block"),
            },
            // Image descriptor (10 bytes), local colour table, LZW minimum
            // code size, the image data's sub-blocks.
            0x2C => match b.get(i + 9).and_then(|&f| sub_blocks(b, i + 10 + colour_table(f) + 1)) {
                Some(end) => end,
                None => return short("inside its image data"),
            },
            // Not a block: malformed, not short; the decoder's call.
            _ => return Ok(()),
        };
    }
}

/// A WebP must be as long as its RIFF header says, and its chunks must fit.
pub(super) fn webp_complete(b: &[u8]) -> Result<(), String> {
    let u32_at = |i: usize| b.get(i..i + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64);
    let len = b.len() as u64;
    let Some(riff) = u32_at(4).map(|size| size + 8) else { return Err("the WebP ends inside its header".into()) };
    if riff > len {
        return Err(format!("the WebP is shorter than its RIFF header says ({len} of {riff} bytes)"));
    }
    let mut i: u64 = 12;
    while i + 8 <= riff {
        let size = u32_at(i as usize + 4).expect("within the file");
        let end = i + 8 + size;
        if end > len {
            return Err("the WebP ends inside its image data".into());
        }
        i = end + (size & 1);
    }
    Ok(())
}

/// An uncompressed BMP's rows (each padded to 4 bytes, as the decoder reads
/// them) must fit between the pixel data offset and the end of the file.
/// RLE-compressed ones are left to the decoder, which fails at the end of
/// the data (reported as truncated too).
fn bmp_complete(b: &[u8]) -> Result<(), String> {
    let u16_at = |i: usize| b.get(i..i + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as u64);
    let u32_at = |i: usize| b.get(i..i + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let (Some(offset), Some(header)) = (u32_at(10), u32_at(14)) else {
        return Err("the BMP ends inside its header".into());
    };
    let fields = if header == 12 {
        // BITMAPCOREHEADER: 16-bit sides, no compression.
        (u16_at(18), u16_at(20), u16_at(24), Some(0))
    } else {
        let side = |i| u32_at(i).map(|v| (v as i32).unsigned_abs() as u64);
        (side(18), side(22), u16_at(28), u32_at(30))
    };
    let (Some(w), Some(h), Some(bits), Some(compression)) = fields else {
        return Err("the BMP ends inside its header".into());
    };
    // BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS: rows of `bits` per pixel.
    if !matches!(compression, 0 | 3 | 6) {
        return Ok(());
    }
    let row = w.saturating_mul(bits).div_ceil(32) * 4;
    let need = (offset as u64).saturating_add(row.saturating_mul(h));
    let len = b.len() as u64;
    if need > len {
        return Err(format!("the BMP ends before its pixel data does ({len} of {need} bytes)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::decode::ends_early;
    use super::super::fixtures::*;
    use super::super::*;
    use image::{DynamicImage, ImageError, ImageFormat, RgbaImage};

    #[test]
    fn complete_files_decode_and_pass_the_check() {
        for (name, bytes) in complete_files() {
            let format = image::guess_format(&bytes).unwrap();
            assert_eq!(check_complete(&bytes, format), Ok(()), "{name}");
            decode_photo(&bytes, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Trailing bytes after the end (cameras append data) are allowed.
            let mut trailing = bytes.clone();
            trailing.extend(std::iter::repeat_n(0xA5, 100));
            assert_eq!(check_complete(&trailing, format), Ok(()), "{name} with trailing bytes");
            if format == ImageFormat::Jpeg {
                decode_photo(&trailing, None).unwrap_or_else(|e| panic!("{name} with trailing bytes: {e}"));
            }
        }
    }

    #[test]
    fn truncated_photos_are_bad_image_saying_truncated() {
        for (name, bytes) in complete_files() {
            for cut in cuts(bytes.len()) {
                let err = decode_photo(&bytes[..cut], None).unwrap_err();
                assert_eq!(err.code(), "bad_image", "{name} cut at {cut} of {}: {err}", bytes.len());
                assert!(err.detail().contains("truncated"), "{name} cut at {cut} of {}: {err}", bytes.len());
            }
        }
    }

    /// The structural check itself finds every cut (the RLE BMP aside: its
    /// decoder does), before the decoder sees a pixel.
    #[test]
    fn the_check_finds_every_cut() {
        for (name, bytes) in complete_files() {
            if name == "RLE8 BMP" {
                continue;
            }
            let format = image::guess_format(&bytes).unwrap();
            for cut in cuts(bytes.len()) {
                let reason = check_complete(&bytes[..cut], format).expect_err(&format!("{name} cut at {cut}"));
                assert!(!reason.is_empty());
            }
        }
    }

    #[test]
    fn where_a_jpeg_ends_is_said() {
        let bytes = jpeg(false, 0, false);
        let eoi = bytes.len() - 2;
        assert_eq!(&bytes[eoi..], [0xFF, 0xD9]);
        let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let reason = |cut: usize| check_complete(&bytes[..cut], ImageFormat::Jpeg).unwrap_err();
        assert!(reason(sos).contains("inside its headers"), "{}", reason(sos));
        assert!(reason(sos + 20).contains("inside its image data"));
        // Just before the end-of-image marker, and on its first byte.
        assert!(reason(eoi).contains("before its end-of-image marker"));
        assert!(reason(eoi + 1).contains("before its end-of-image marker"));
        let detail = decode_photo(&bytes[..(sos + eoi) / 2], None).unwrap_err().detail();
        assert_eq!(
            detail,
            "the photo is truncated: the JPEG ends inside its image data, before its end-of-image marker (an interrupted upload?)"
        );
    }

    #[test]
    fn truncated_overlays_are_bad_overlay_saying_truncated() {
        let overlay = png(&DynamicImage::ImageRgba8(RgbaImage::from_fn(60, 20, |x, y| image::Rgba([x as u8, y as u8, 0, 128]))));
        decode_overlay(&overlay).unwrap();
        for cut in cuts(overlay.len()) {
            let err = decode_overlay(&overlay[..cut]).unwrap_err();
            assert_eq!(err.code(), "bad_overlay", "cut at {cut}: {err}");
            assert!(err.detail().starts_with("the overlay is truncated: "), "cut at {cut}: {err}");
        }
    }

    /// A header that lies about a huge size is still 413, even when no
    /// pixel data follows it (checked before completeness).
    #[test]
    fn a_huge_header_alone_is_too_large_not_truncated() {
        let mut bmp = encoded(&DynamicImage::ImageRgb8(picture(4, 4)), ImageFormat::Bmp);
        bmp[18..22].copy_from_slice(&60_000i32.to_le_bytes());
        bmp[22..26].copy_from_slice(&60_000i32.to_le_bytes());
        assert_eq!(decode_photo(&bmp, None).unwrap_err().code(), "image_too_large");
    }

    #[test]
    fn decoder_errors_at_the_end_of_the_input_say_truncated() {
        let eof = ImageError::IoError(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof"));
        assert!(ends_early(&eof));
        let other = ImageError::IoError(std::io::Error::other("disk on fire"));
        assert!(!ends_early(&other));
        // The RLE BMP passes the structural check when cut; its decoder runs
        // out of data.
        let rle = bmp_rle8();
        assert_eq!(check_complete(&rle[..rle.len() - 3], ImageFormat::Bmp), Ok(()));
        assert!(decode_photo(&rle[..rle.len() - 3], None).unwrap_err().detail().contains("truncated"));
    }

    /// Uploads are arbitrary bytes: the check never panics on corrupted
    /// headers, lengths or markers (the fuzz targets reach it too).
    #[test]
    fn the_check_survives_corrupted_files() {
        for (_, bytes) in complete_files() {
            let format = image::guess_format(&bytes).unwrap();
            for at in cuts(bytes.len()) {
                for value in [0x00, 0xFF, bytes[at] ^ 0x80] {
                    let mut bad = bytes.clone();
                    bad[at] = value;
                    let _ = check_complete(&bad, format);
                    let _ = check_complete(&bad[..at + 1], format);
                }
            }
        }
    }

    /// Malformed in ways other than being short: the decoder's call, not
    /// reported as truncated.
    #[test]
    fn malformed_is_not_truncated() {
        // A JPEG segment length under 2.
        assert_eq!(check_complete(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 0, 0], ImageFormat::Jpeg), Ok(()));
        // A GIF with an unknown block where the next should be.
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0, 0x99]);
        assert_eq!(check_complete(&gif, ImageFormat::Gif), Ok(()));
        // Formats the check does not know.
        assert_eq!(check_complete(b"II*\0", ImageFormat::Tiff), Ok(()));
    }
}
