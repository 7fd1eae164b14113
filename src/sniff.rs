//! Photo formats edgecat recognises but cannot read, told by their
//! signatures whatever the Content-Type says: an iPhone's HEIC, AVIF, TIFF
//! (and the camera raw files built on it) and JPEG XL. They are refused as
//! 415 with the format named and what to do, rather than as "not an image".

/// A format that is recognised but not decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    Heic,
    Heif,
    Avif,
    Tiff,
    JpegXl,
}

impl Unreadable {
    /// The format's name as people know it.
    pub fn name(self) -> &'static str {
        match self {
            Unreadable::Heic => "HEIC",
            Unreadable::Heif => "HEIF",
            Unreadable::Avif => "AVIF",
            Unreadable::Tiff => "TIFF",
            Unreadable::JpegXl => "JPEG XL",
        }
    }

    /// Who usually sends one, so that the advice fits.
    fn usual_source(self) -> &'static str {
        match self {
            Unreadable::Heic | Unreadable::Heif => " (the format iPhones save photos in)",
            Unreadable::Tiff => " (or a camera raw file built on TIFF)",
            Unreadable::Avif | Unreadable::JpegXl => "",
        }
    }

    /// The 415's detail: what the file is, and what to do instead.
    pub fn detail(self, what: &str) -> String {
        format!(
            "the {what} is a {name} image{source}, which edgecat cannot read: convert it to JPEG (or PNG) and send it again{iphone}",
            name = self.name(),
            source = self.usual_source(),
            iphone = match self {
                Unreadable::Heic | Unreadable::Heif => "; on an iPhone, Settings › Camera › Formats › Most Compatible saves JPEG",
                _ => "",
            }
        )
    }
}

/// The unreadable format `bytes` start like, if any.
pub fn unreadable(bytes: &[u8]) -> Option<Unreadable> {
    if let Some(brands) = iso_bmff_brands(bytes) {
        return heif_family(brands);
    }
    match bytes {
        // Little- and big-endian TIFF, and BigTIFF.
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] | [b'I', b'I', 43, 0, ..] | [b'M', b'M', 0, 43, ..] => {
            Some(Unreadable::Tiff)
        }
        // A bare JPEG XL codestream, or its ISO BMFF-style container.
        [0xFF, 0x0A, ..] | [0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', 0x0D, 0x0A, 0x87, 0x0A, ..] => Some(Unreadable::JpegXl),
        _ => None,
    }
}

/// The major and compatible brands of an ISO BMFF file's leading `ftyp` box.
fn iso_bmff_brands(bytes: &[u8]) -> Option<impl Iterator<Item = &[u8]>> {
    if bytes.get(4..8)? != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(bytes[0..4].try_into().ok()?) as usize;
    // The box as far as it is declared and present: major brand, minor
    // version (skipped), then compatible brands.
    let body = bytes.get(8..size.clamp(16, bytes.len().max(16)))?;
    let major = body.get(0..4)?;
    let compatible = body.get(8..).unwrap_or(&[]).chunks_exact(4);
    Some(std::iter::once(major).chain(compatible))
}

/// HEIC, AVIF or another HEIF by the brands (an AVIF is also `mif1`).
fn heif_family<'a>(brands: impl Iterator<Item = &'a [u8]>) -> Option<Unreadable> {
    let mut found = None;
    for brand in brands {
        let kind = match brand {
            b"avif" | b"avis" => return Some(Unreadable::Avif),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" => Some(Unreadable::Heic),
            b"mif1" | b"msf1" | b"mif2" => Some(Unreadable::Heif),
            _ => None,
        };
        found = match (found, kind) {
            (Some(Unreadable::Heic), _) => Some(Unreadable::Heic),
            (_, Some(k)) => Some(k),
            (f, None) => f,
        };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((16 + 4 * compatible.len()) as u32).to_be_bytes());
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        b.extend_from_slice(&[0, 0, 0, 8, b'm', b'e', b't', b'a']);
        b
    }

    #[test]
    fn iphone_heic_and_avif_are_told_apart() {
        // An iPhone photo: major brand heic, compatible mif1, MiHE, miaf, heic.
        assert_eq!(unreadable(&ftyp(b"heic", &[b"mif1", b"MiHE", b"miaf", b"heic"])), Some(Unreadable::Heic));
        // Generic HEIF brands with HEVC among the compatible ones.
        assert_eq!(unreadable(&ftyp(b"mif1", &[b"mif1", b"heic"])), Some(Unreadable::Heic));
        assert_eq!(unreadable(&ftyp(b"mif1", &[b"mif1"])), Some(Unreadable::Heif));
        // An AVIF is also mif1; avif wins.
        assert_eq!(unreadable(&ftyp(b"avif", &[b"mif1", b"miaf"])), Some(Unreadable::Avif));
        assert_eq!(unreadable(&ftyp(b"mif1", &[b"avif", b"mif1", b"miaf"])), Some(Unreadable::Avif));
        assert_eq!(unreadable(&ftyp(b"avis", &[])), Some(Unreadable::Avif));
    }

    #[test]
    fn other_iso_bmff_files_are_not_photos_we_name() {
        // An MP4 video.
        assert_eq!(unreadable(&ftyp(b"isom", &[b"iso2", b"mp41"])), None);
        // A declared size past the data, or under the box's minimum.
        let mut short = ftyp(b"heic", &[]);
        short[0..4].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(unreadable(&short), Some(Unreadable::Heic));
        short[0..4].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(unreadable(&short), Some(Unreadable::Heic));
        assert_eq!(unreadable(b"\0\0\0\x18ftyp"), None);
    }

    #[test]
    fn tiff_and_jpeg_xl_by_signature() {
        assert_eq!(unreadable(b"II*\0\x08\0\0\0"), Some(Unreadable::Tiff));
        assert_eq!(unreadable(b"MM\0*\0\0\0\x08"), Some(Unreadable::Tiff));
        assert_eq!(unreadable(b"II+\0\x08\0\0\0"), Some(Unreadable::Tiff));
        assert_eq!(unreadable(&[0xFF, 0x0A, 0xFA, 0x7F]), Some(Unreadable::JpegXl));
        assert_eq!(unreadable(&[0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', 0x0D, 0x0A, 0x87, 0x0A, 0, 0]), Some(Unreadable::JpegXl));
    }

    #[test]
    fn readable_and_unknown_files_are_left_alone() {
        for bytes in [&b"\xFF\xD8\xFF\xE0"[..], b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBP", b"BM", b"", b"I", b"hello"] {
            assert_eq!(unreadable(bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn the_detail_names_the_format_and_says_what_to_do() {
        let d = Unreadable::Heic.detail("photo");
        assert!(d.starts_with("the photo is a HEIC image"), "{d}");
        assert!(d.contains("convert it to JPEG"), "{d}");
        assert!(Unreadable::JpegXl.detail("overlay").starts_with("the overlay is a JPEG XL image"));
    }
}
