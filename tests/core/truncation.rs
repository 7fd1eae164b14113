//! The completeness check (`codec::check_complete`, which refuses truncated
//! uploads as 422 bad_image) against every real photo in ../shared/data:
//! no false positives on whole files, each one cut short is caught, and
//! where the check finds a file's end is where its image data ends.

use edgecat::codec::check_complete;
use image::ImageFormat;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A JPEG's frame (SOFn) marker: C0 baseline, C2 progressive.
fn frame_marker(b: &[u8]) -> Option<u8> {
    let mut i = 2;
    while let Some(&[0xFF, marker, hi, lo]) = b.get(i..i + 4) {
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            return Some(marker);
        }
        i += 2 + u16::from_be_bytes([hi, lo]) as usize;
    }
    None
}

/// cat-photos and cats-vs-dogs (the photos users send), and the rest of
/// data/: the CAT-dataset and face-box photos (16 of them progressive
/// JPEGs, 4 BMPs named .jpg), non-cat photos (one progressive) and the
/// overlay PNGs.
#[test]
fn every_shared_photo_is_complete_and_caught_when_cut() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let mut paths = Vec::new();
    files(&data, &mut paths);
    paths.sort();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut progressive = 0;
    let (mut wrong, mut trailing) = (Vec::new(), Vec::new());
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        // Annotations (.txt, .xml, .cat) and the SOURCES.md files.
        let Ok(format) = image::guess_format(&bytes) else { continue };
        let set = path.strip_prefix(&data).unwrap().iter().next().unwrap().to_string_lossy().into_owned();
        *counts.entry(set).or_default() += 1;
        *counts.entry(format!("{format:?}")).or_default() += 1;
        if format == ImageFormat::Jpeg && frame_marker(&bytes) == Some(0xC2) {
            progressive += 1;
        }
        if let Err(reason) = check_complete(&bytes, format) {
            wrong.push(format!("{}: whole, but {reason}", path.display()));
        }
        // Where the check finds the image's end: the shortest prefix that
        // passes (a prefix of a complete file passes from there on).
        let (mut short, mut end) = (0, bytes.len());
        while end - short > 1 {
            let mid = (short + end) / 2;
            if check_complete(&bytes[..mid], format).is_ok() {
                end = mid;
            } else {
                short = mid;
            }
        }
        // Some CAT-dataset files were written over longer ones and keep
        // their tails: those bytes must be none of the image's.
        if end < bytes.len() {
            trailing.push(format!("{} ({} bytes after {end})", path.display(), bytes.len() - end));
            let whole = image::load_from_memory(&bytes).unwrap().into_rgb8();
            if image::load_from_memory(&bytes[..end]).unwrap().into_rgb8() != whole {
                wrong.push(format!("{}: decodes differently without its last {} bytes", path.display(), bytes.len() - end));
            }
        }
        // Cut half way through its image, it is caught.
        if check_complete(&bytes[..end / 2], format).is_ok() {
            wrong.push(format!("{}: cut at {} of {end}, but passes", path.display(), end / 2));
        }
    }
    println!("completeness check: {counts:?}, {progressive} progressive JPEGs");
    println!("{} with bytes after the image's end: {trailing:#?}", trailing.len());
    assert!(wrong.is_empty(), "{wrong:#?}");
    // Every photo of the two sets users' photos are like, and the odd ones.
    assert_eq!(counts.get("cat-photos"), Some(&36));
    assert_eq!(counts.get("cats-vs-dogs"), Some(&732));
    assert!(counts.get("Bmp") >= Some(&4) && counts.get("Png") >= Some(&5) && progressive >= 17, "{counts:?}");
}
