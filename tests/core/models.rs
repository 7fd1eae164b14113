//! The committed int8 models, run by tract natively (the shipped engine:
//! the NNEF tars; tests/core/engine.rs checks them against the ONNX):
//! - parity with onnxruntime on stored reference outputs (models/fixtures),
//! - the Rust preprocessing equals the training preprocessing,
//! - accuracy on the held-out splits in ../shared (printed, and checked
//!   against the targets).

use edgecat::codec;
use edgecat::detector::iou;
use edgecat::pipeline::{self, Cat, Engine};
use edgecat::preprocess::{self, Crop};
use image::RgbImage;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared(rel: &str) -> PathBuf {
    root().join("..").join("shared").join(rel)
}

fn engine() -> &'static Engine {
    pipeline::engine().expect("the embedded models load")
}

pub(crate) fn photo(path: &Path) -> RgbImage {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    codec::decode_photo(&bytes, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn fixture_png(name: &str) -> RgbImage {
    image::open(root().join("models/fixtures").join(name)).unwrap().into_rgb8()
}

pub(crate) fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// (max, mean) absolute difference of two same-sized images.
fn pixel_diff(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let mut max = 0u8;
    let mut sum = 0u64;
    for (p, q) in a.as_raw().iter().zip(b.as_raw()) {
        let d = p.abs_diff(*q);
        max = max.max(d);
        sum += d as u64;
    }
    (max, sum as f64 / a.as_raw().len() as f64)
}

#[test]
fn int8_models_match_onnxruntime_and_preprocessing_matches_training() {
    let e = engine();
    let text = std::fs::read_to_string(root().join("models/fixtures/parity.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 3);
    let (mut worst_score, mut worst_box, mut worst_lmk, mut worst_face, mut worst_eye) = (0f32, 0f32, 0f32, 0f32, 0f32);
    for case in &cases {
        let path = root().join(case["photo"].as_str().unwrap());
        let img = photo(&path);

        // Same photo → same detector input as training made.
        let canvas = fixture_png(case["det_canvas"].as_str().unwrap());
        let (ours, _) = preprocess::letterbox(&img, e.detector.size, e.detector.pad);
        let (max, mean) = pixel_diff(&ours, &canvas);
        println!("{}: detector canvas vs Python: max {max}, mean {mean:.3}", path.display());
        // Pillow and `image` round their antialiased bilinear resizes differently: up to 3 levels
        // on a pixel (4 on tract_grace_hopper at 256 px), about 0.2-0.26 on average (cat.111 at
        // 256 px: 0.257). A real contract mismatch (offset, filter, pad colour) is many levels off.
        assert!(max <= 4 && mean < 0.35, "letterbox differs from training: max {max} mean {mean}");

        // tract on the stored canvas vs onnxruntime's int8 outputs.
        let (scores, boxes) = e.detector.run_canvas(&canvas).unwrap();
        let want = &case["det_int8_ort"];
        for (k, idx) in want["top_indices"].as_array().unwrap().iter().enumerate() {
            let i = idx.as_u64().unwrap() as usize;
            let ds = (scores[i] - want["top_scores"][k].as_f64().unwrap() as f32).abs();
            worst_score = worst_score.max(ds);
            let wb = floats(&want["top_boxes"][k]);
            for c in 0..4 {
                worst_box = worst_box.max((boxes[4 * i + c] - wb[c]).abs());
            }
        }

        // The whole detector path on the photo finds the same faces.
        let faces = e.detector.detect(&img).unwrap();
        let want_faces = case["faces_after_nms"].as_array().unwrap();
        assert_eq!(faces.len(), want_faces.len(), "{}: faces {faces:?} vs {want_faces:?}", path.display());
        for (f, w) in faces.iter().zip(want_faces) {
            let w = floats(w);
            assert!(iou(&f.bbox, &[w[0], w[1], w[2], w[3]]) > 0.9, "{f:?} vs {w:?}");
        }

        if let Some(lmk) = case["lmk_canvas"].as_str() {
            let canvas = fixture_png(lmk);
            let b = floats(&case["lmk_box"]);
            let crop = Crop::around([b[0], b[1], b[2], b[3]], e.landmarker.crop_scale);
            let ours = preprocess::crop_square(&img, crop, e.landmarker.size, e.landmarker.pad);
            let (max, mean) = pixel_diff(&ours, &canvas);
            println!("{}: landmark crop vs Python: max {max}, mean {mean:.3}", path.display());
            // Rounding-level differences between Pillow's and `image`'s antialiased bilinear
            // resize grow with the downscale factor: a 256 px crop (val_1019) gives mean 0.27,
            // max 2. A real contract mismatch (offset, filter, pad colour) is many levels off.
            assert!(max <= 3 && mean < 0.35, "landmark crop differs from training: max {max} mean {mean}");
            let got = e.landmarker.run_canvas(&canvas).unwrap();
            for (g, w) in got.points.iter().zip(floats(&case["lmk_int8_ort"])) {
                worst_lmk = worst_lmk.max((g - w).abs());
            }
            if let Some(want) = case["face_int8_ort"].as_f64() {
                worst_face = worst_face.max((got.face - want as f32).abs());
            }
            // The second pass on the fixture's box places the eyes where training's evaluation
            // did, and the whole pipeline finds that face.
            if let Some(want) = case["eyes_pipeline_int8"].as_array() {
                let fixture_box = [b[0], b[1], b[2], b[3]];
                let points = e.landmarker.locate(&img, fixture_box).unwrap();
                worst_eye = worst_eye.max(eye_distance(&points.into_iter().collect(), want));
                // (Found by the first pass, or, when its face check fails, by the tile pass.)
                let cats = pipeline::find_cats(e, &img, &mut Default::default()).unwrap();
                assert!(cats.iter().any(|c| iou(&c.bbox, &fixture_box) > 0.5), "the fixture's cat is found: {cats:?}");
            }
        }
    }
    println!("tract vs onnxruntime (int8): max |Δscore| {worst_score:.4}, max |Δbox| {worst_box:.3} px, max |Δlandmark| {worst_lmk:.4}, max |Δface check| {worst_face:.4}, pipeline eyes {worst_eye:.4} IOD");
    assert!(worst_score <= 0.02, "scores differ by {worst_score}");
    assert!(worst_box <= 2.0, "boxes differ by {worst_box} px");
    assert!(worst_lmk <= 0.01, "landmarks differ by {worst_lmk}");
    assert!(worst_face <= 0.02, "face check scores differ by {worst_face}");
    // The Rust crop of the photo is not Pillow's to the last level (above), so the eyes may move a
    // little more than the model's outputs on the stored canvas.
    assert!(worst_eye <= 0.03, "eyes on the fixture's box differ from training's by {worst_eye} IOD");
}

/// The tile pass (manifest `detector.tiles`) on the photo that training's
/// evaluation found only with it (models/fixtures/tiles.json): the same
/// tiles and tile canvases, and the same faces and eyes from the pipeline.
#[test]
fn the_tile_pass_finds_what_training_found() {
    let e = engine();
    let path = root().join("models/fixtures/tiles.json");
    let Some(t) = e.detector.tiles else {
        assert!(!path.exists(), "a tile fixture, but the manifest has no tile pass");
        return;
    };
    let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("a tile pass has its fixture")).unwrap();
    let img = photo(&root().join(case["photo"].as_str().unwrap()));

    // The first pass keeps nothing: every face it finds fails the face check.
    for face in e.detector.detect(&img).unwrap() {
        assert!(e.landmarker.check_and_locate(&img, face.bbox).unwrap().is_none(), "the first pass keeps {face:?}");
    }

    // The tiles, and their canvases, are training's.
    let crops = edgecat::detector::tiles(img.width(), img.height(), t.max);
    let want: Vec<Vec<i64>> = serde_json::from_value(case["tiles"].clone()).unwrap();
    assert_eq!(crops.iter().map(|c| vec![c.left, c.top, c.side as i64]).collect::<Vec<_>>(), want);
    for (crop, name) in crops.iter().zip(case["tile_canvases"].as_array().unwrap()) {
        let ours = preprocess::crop_square(&img, *crop, e.detector.size, e.detector.pad);
        let (max, mean) = pixel_diff(&ours, &fixture_png(name.as_str().unwrap()));
        println!("tile {crop:?} vs Python: max {max}, mean {mean:.3}");
        assert!(max <= 4 && mean < 0.35, "tile canvas differs from training: max {max} mean {mean}");
    }

    // The pipeline answers what training's evaluation did.
    same_answer(&img, &case);
}

/// The largest distance of two named eyes from a fixture's, over its
/// inter-ocular distance.
fn eye_distance(points: &std::collections::BTreeMap<String, [f32; 2]>, want: &[Value]) -> f32 {
    let (l, r) = (floats(&want[0]), floats(&want[1]));
    let iod = (r[0] - l[0]).hypot(r[1] - l[1]);
    [("left_eye", l), ("right_eye", r)]
        .iter()
        .map(|(name, w)| {
            let g = points[*name];
            (g[0] - w[0]).hypot(g[1] - w[1]) / iod
        })
        .fold(0.0, f32::max)
}

/// The whole pipeline on `img` keeps the faces of a fixture (`faces`:
/// box and score), and their eyes (`eyes_pipeline_int8`) are training's.
fn same_answer(img: &RgbImage, case: &Value) {
    let e = engine();
    let cats = pipeline::find_cats(e, img, &mut Default::default()).unwrap();
    let want = case["faces"].as_array().unwrap();
    assert_eq!(cats.len(), want.len(), "cats {cats:?} vs {want:?}");
    for ((cat, w), eyes) in cats.iter().zip(want).zip(case["eyes_pipeline_int8"].as_array().unwrap()) {
        let w = floats(w);
        let fixture_box = [w[0], w[1], w[2], w[3]];
        assert!(iou(&cat.bbox, &fixture_box) > 0.9, "{cat:?} vs {w:?}");
        assert!((cat.score - w[4]).abs() <= 0.02, "score {} vs {}", cat.score, w[4]);
        // On the fixture's box, as training placed them: within what the
        // photo's decode (zune-jpeg against Pillow's libjpeg, a level here
        // and there) leaves after the refine pass re-crops on the first
        // pass's eyes: 0.038 IOD on the tile fixture, whose canvases differ
        // from Python's by 0.28-0.29 levels on average (the resize itself
        // is Pillow's: 0.05-0.07 on cat.134, a JPEG that decodes alike).
        let points = e.landmarker.locate(img, fixture_box).unwrap();
        let d = eye_distance(&points.into_iter().collect(), eyes.as_array().unwrap());
        assert!(d <= 0.045, "eyes on the fixture's box: {d} IOD from training's");
        // On the pipeline's own box, which Rust's letterbox (a level or two from Pillow's) may move
        // by a fraction of a canvas pixel, several photo pixels at 160 input: the second pass
        // follows (0.10 IOD on cat.11's fixture in session 11), so only a gross error fails here.
        let d = eye_distance(&cat.landmarks, eyes.as_array().unwrap());
        assert!(d <= 0.15, "pipeline eyes {d} IOD from training's");
    }
}

// ---- accuracy on the held-out splits ------------------------------------

pub(crate) struct Labelled {
    pub(crate) path: PathBuf,
    pub(crate) faces: Vec<[f32; 4]>,
    /// (left, right) eye centres per face, where known.
    pub(crate) eyes: Vec<Option<([f32; 2], [f32; 2])>>,
}

pub(crate) fn hujingyu_val() -> Vec<Labelled> {
    let dir = shared("data/cat-face-boxes/hujingyu-yolo-catface");
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir.join("labels")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.starts_with("val_") && n.ends_with(".txt")).collect();
    names.sort();
    for name in names {
        let path = dir.join("images").join(name.replace(".txt", ".jpg"));
        let (w, h) = photo(&path).dimensions();
        let text = std::fs::read_to_string(dir.join("labels").join(&name)).unwrap();
        let faces: Vec<[f32; 4]> = text
            .lines()
            .filter_map(|l| {
                let v: Vec<f32> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
                (v.len() == 4).then(|| {
                    let (cx, cy, bw, bh) = (v[0] * w as f32, v[1] * h as f32, v[2] * w as f32, v[3] * h as f32);
                    [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0]
                })
            })
            .collect();
        let eyes = vec![None; faces.len()];
        out.push(Labelled { path, faces, eyes });
    }
    out
}

fn xml_boxes(xml: &str, class: &str) -> Vec<[f32; 4]> {
    let num = |obj: &str, tag: &str| -> f32 {
        let start = obj.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
        let end = obj[start..].find('<').unwrap() + start;
        obj[start..end].trim().parse().unwrap()
    };
    xml.split("<object>")
        .skip(1)
        .filter(|obj| obj.contains(&format!("<name>{class}</name>")))
        .map(|obj| [num(obj, "xmin"), num(obj, "ymin"), num(obj, "xmax"), num(obj, "ymax")])
        .collect()
}

pub(crate) fn orienfish_test() -> Vec<Labelled> {
    let dir = shared("data/cat-face-boxes/orienfish-kaggle-catface");
    let split = std::fs::read_to_string(dir.join("split.txt")).unwrap();
    let mut out = Vec::new();
    for line in split.lines() {
        let mut it = line.split_whitespace();
        let (Some(id), Some("test")) = (it.next(), it.next()) else { continue };
        let xml = std::fs::read_to_string(dir.join("labels").join(format!("{id}.xml"))).unwrap();
        let faces = xml_boxes(&xml, "cat_face");
        let eye_boxes = xml_boxes(&xml, "cat_eyes");
        let centre = |b: &[f32; 4]| [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0];
        let eyes = faces
            .iter()
            .map(|f| {
                let mut inside: Vec<[f32; 2]> = eye_boxes
                    .iter()
                    .map(centre)
                    .filter(|c| c[0] >= f[0] && c[0] <= f[2] && c[1] >= f[1] && c[1] <= f[3])
                    .collect();
                inside.sort_by(|a, b| a[0].total_cmp(&b[0]));
                (inside.len() == 2).then(|| (inside[0], inside[1]))
            })
            .collect();
        out.push(Labelled { path: dir.join("images").join(format!("{id}.jpg")), faces, eyes });
    }
    out
}

pub(crate) fn cat_landmarks() -> Vec<(PathBuf, [f32; 2], [f32; 2])> {
    let dir = shared("data/cat-landmarks");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.ends_with(".jpg")).collect();
    names.sort();
    names
        .into_iter()
        // 00000003_015.jpg is 976×1024 but its .cat points are at half scale
        // (they land on the ear of a 2× copy), so it cannot be scored.
        .filter(|n| n != "00000003_015.jpg")
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.cat"))).unwrap();
            let v: Vec<f32> = text.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
            let (a, b) = ([v[0], v[1]], [v[2], v[3]]);
            let (l, r) = if a[0] <= b[0] { (a, b) } else { (b, a) };
            (dir.join(n), l, r)
        })
        .collect()
}

pub(crate) fn listed(dir: &str, keep: impl Fn(usize) -> bool) -> Vec<PathBuf> {
    let dir = shared(dir);
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names.into_iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, n)| dir.join(n)).collect()
}

/// pets/ (session 9), split by models/README.md's rule, fixed before any training on it: a photo's key
/// is its path under data/pets ("dogs/breed/dog_….jpg"); FNV-1a 32-bit of the key mod 10 in {0, 1}
/// is held out, 2 is internal validation, the rest is training.
pub(crate) fn fnv1a32(s: &str) -> u32 {
    s.bytes().fold(0x811C_9DC5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

pub(crate) fn pets_held_out(kind: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["breed", "kaggle"] {
        let rel = format!("{kind}/{sub}");
        out.extend(listed(&format!("data/pets/{rel}"), |_| true).into_iter().filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            fnv1a32(&format!("{rel}/{name}")) % 10 < 2
        }));
    }
    out
}

#[test]
fn pets_split_rule() {
    // FNV-1a 32-bit reference values, and the split sizes models/README.md gives.
    assert_eq!(fnv1a32(""), 0x811C_9DC5);
    assert_eq!(fnv1a32("a"), 0xE40C_292C);
    assert_eq!(fnv1a32("foobar"), 0xBF9C_F968);
    assert_eq!(pets_held_out("dogs").len(), 1_077);
    assert_eq!(pets_held_out("cats").len(), 631);
}

/// Eye error of a found cat / the inter-ocular distance.
fn eyes_error(cat: &Cat, l: [f32; 2], r: [f32; 2]) -> f32 {
    let (pl, pr) = (cat.landmarks["left_eye"], cat.landmarks["right_eye"]);
    let iod = (r[0] - l[0]).hypot(r[1] - l[1]);
    let d = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    (d(pl, l) + d(pr, r)) / 2.0 / iod
}

/// The photo as the shipped pipeline reads it: a large JPEG stored upright
/// as its coefficients, made into pixels where and at the scale each model
/// input needs (codec::Coded); any other as every pixel.
fn shipped(path: &Path) -> codec::Decoded {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoded = codec::decode_upload(&bytes, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let codec::Decoded::Coded(c) = &decoded {
        CODED[c.scale().trailing_zeros() as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    decoded
}

/// How many photos `shipped` read as coefficients, by scale (1/1 to 1/8).
static CODED: [std::sync::atomic::AtomicUsize; 4] = [const { std::sync::atomic::AtomicUsize::new(0) }; 4];

/// `b` in a labelled source's box convention `[dx, dy, lw, lh]`: the centre
/// moved by (dx × width, dy × height), the sides scaled by (e^lw, e^lh).
/// models/train/conventions.py's `apply`.
fn in_convention(b: &[f32; 4], [dx, dy, lw, lh]: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let (cx, cy) = ((b[0] + b[2]) / 2.0 + dx * w, (b[1] + b[3]) / 2.0 + dy * h);
    let (w, h) = (w * lw.exp(), h * lh.exp());
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

/// The cats the shipped pipeline finds: detector, face check, landmarks (second pass included).
fn cats(e: &Engine, img: &codec::Decoded) -> Vec<Cat> {
    pipeline::find_cats(e, img, &mut Default::default()).unwrap()
}

#[test]
fn accuracy_on_held_out_splits() {
    let e = engine();
    let (mut tp, mut fp, mut n_gt) = (0usize, 0usize, 0usize);
    // Eye errors of the labelled faces found; a face the pipeline misses counts 1.0 below, so that
    // misses are not hidden.
    let mut found_errors = Vec::new();
    let mut missed_eyes = 0;
    // Each source's box convention (models/train/conventions.py, fitted on its training photos): a
    // box is put in its label's convention before the IoU >= 0.5 match. The eyes come from the
    // pipeline's own box.
    let conventions = &edgecat::models::manifest()["metrics"]["label_conventions"];
    for (source, set) in [("hujingyu", hujingyu_val()), ("orienfish", orienfish_test())] {
        let convention: [f32; 4] = floats(&conventions[source]).try_into().unwrap_or_else(|_| panic!("the manifest has no {source} convention"));
        for item in set {
            let img = shipped(&item.path);
            let found = cats(e, &img);
            n_gt += item.faces.len();
            let mut used = vec![false; item.faces.len()];
            for cat in &found {
                let bbox = in_convention(&cat.bbox, convention);
                // Greedy: best detections first take their best unmatched face.
                let best = item
                    .faces
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !used[*i])
                    .map(|(i, g)| (i, iou(&bbox, g)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                match best {
                    Some((i, v)) if v >= 0.5 => {
                        used[i] = true;
                        tp += 1;
                        if let Some((l, r)) = item.eyes[i] {
                            found_errors.push(eyes_error(cat, l, r));
                        }
                    }
                    _ => fp += 1,
                }
            }
            missed_eyes += item.eyes.iter().zip(&used).filter(|(eyes, u)| eyes.is_some() && !**u).count();
        }
    }
    for (path, l, r) in cat_landmarks() {
        let img = shipped(&path);
        let found = cats(e, &img);
        let holds = |c: &&Cat| [l, r].iter().all(|p| p[0] >= c.bbox[0] && p[0] <= c.bbox[2] && p[1] >= c.bbox[1] && p[1] <= c.bbox[3]);
        match found.iter().find(holds) {
            Some(c) => found_errors.push(eyes_error(c, l, r)),
            None => missed_eyes += 1,
        }
    }
    let false_faces = |paths: Vec<PathBuf>| {
        let n = paths.len();
        let total: usize = paths.iter().map(|p| cats(e, &shipped(p)).len()).sum();
        (total as f32 / n as f32, n)
    };
    // Held-out dogs: cats-vs-dogs' odd-index dogs and pets/'s held-out dogs (1,260).
    let mut dogs = listed("data/cats-vs-dogs/dog", |i| i % 2 == 1);
    dogs.extend(pets_held_out("dogs"));
    let (dog_fp, n_dogs) = false_faces(dogs);
    let (noncat_fp, n_noncat) = false_faces(listed("data/non-cat-photos", |_| true));
    let pet_cats = pets_held_out("cats");
    let n_pet_cats = pet_cats.len();
    let pets_found = pet_cats.iter().filter(|p| !cats(e, &shipped(p)).is_empty()).count() as f32 / n_pet_cats as f32;

    let recall = tp as f32 / n_gt as f32;
    let precision = tp as f32 / (tp + fp).max(1) as f32;
    let mut eye_errors: Vec<f32> = found_errors.iter().copied().chain(std::iter::repeat_n(1.0, missed_eyes)).collect();
    eye_errors.sort_by(|a, b| a.total_cmp(b));
    let mean_eye = eye_errors.iter().sum::<f32>() / eye_errors.len() as f32;
    let p90 = eye_errors[((eye_errors.len() as f32 * 0.9).ceil() as usize).min(eye_errors.len()) - 1];
    println!("held-out faces: {n_gt}; recall@IoU0.5 {recall:.3}; precision {precision:.3} ({tp} TP, {fp} FP)");
    println!("false faces per photo: dogs {dog_fp:.4} ({n_dogs} photos), non-cat {noncat_fp:.3} ({n_noncat} photos)");
    println!("held-out pets/cats photos with a find: {pets_found:.4} of {n_pet_cats}");
    let coded: Vec<usize> = CODED.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).collect();
    println!("photos read as coefficients, seen at 1/2, 1/4, 1/8: {:?} (the rest as every pixel)", &coded[1..]);
    println!(
        "eye error / inter-ocular distance over {} labelled faces ({missed_eyes} missed, counted as 1.0): mean {mean_eye:.3}, p90 {p90:.3}",
        eye_errors.len()
    );
    // The figures must be the model card's (measured with onnxruntime in
    // models/train/evaluate.py): tract in Rust reproduces them.
    let card = &edgecat::models::manifest()["metrics"];
    let close = |name: &str, got: f32, tol: f32| {
        let want = card[name].as_f64().unwrap_or_else(|| panic!("card lacks {name}")) as f32;
        println!("  {name}: Rust/tract {got:.4}, model card {want:.4}");
        assert!((got - want).abs() <= tol, "{name}: measured {got}, model card says {want}");
    };
    close("face_recall_iou50", recall, 0.03);
    close("face_precision_iou50", precision, 0.03);
    close("false_faces_per_dog_photo", dog_fp, 0.03);
    close("false_faces_per_noncat_photo", noncat_fp, 0.06);
    close("eye_error_iod_mean", mean_eye, 0.03);
    close("pets_cats_found", pets_found, 0.02);
    let mean_found = found_errors.iter().sum::<f32>() / found_errors.len().max(1) as f32;
    println!("  eye error over the {} faces found: mean {mean_found:.3}", found_errors.len());
    // Issue 25's targets, each printed; models/README.md says by how much the missed ones are missed.
    let targets = [
        ("face recall >= 0.95", recall >= 0.95),
        ("face precision >= 0.98", precision >= 0.98),
        ("false faces <= 0.01 per dog photo over >= 1,000 dogs", dog_fp <= 0.01 && n_dogs >= 1000),
        ("no false face on a non-cat photo", noncat_fp == 0.0),
        (">= 0.96 of held-out pets/cats photos get a find", pets_found >= 0.96),
        ("mean eye error <= 0.08 IOD", mean_eye <= 0.08),
        ("p90 eye error <= 0.15 IOD", p90 <= 0.15),
    ];
    for (what, met) in targets {
        println!("  issue 25 target {what}: {}", if met { "met" } else { "MISSED" });
    }
    assert!(n_dogs >= 1000, "only {n_dogs} held-out dogs");
    // Met, so held: no false face on a non-cat photo; since session 20, with each source's box
    // convention, precision (tract: 160 of 162) and the eye error's p90 (tract: 0.133).
    assert!(noncat_fp == 0.0, "false faces on non-cat photos: {noncat_fp:.3} per photo");
    assert!(precision >= 0.98, "face precision {precision:.3} < 0.98");
    assert!(p90 <= 0.15, "p90 eye error, misses counted as 1.0: {p90:.3} > 0.15 IOD");
    // Missed (models/README.md says by how much, and why); held at the level session 20 measured
    // (onnxruntime: recall 0.856, 0.021 false faces per dog photo over 1,260 dogs, 0.853 of pets/
    // cats found, eye error 0.080 over the faces found and 0.098 with misses as 1.0), less a face
    // or two of tract/onnxruntime difference, so that a regression shows.
    assert!(recall >= 0.84, "face recall {recall:.3} < 0.84");
    assert!(dog_fp <= 0.025, "false faces per dog photo {dog_fp:.4} > 0.025");
    assert!(pets_found >= 0.84, "pets/cats photos with a find {pets_found:.3} < 0.84");
    assert!(mean_found <= 0.09, "mean eye error over the faces found {mean_found:.3} > 0.09 IOD");
    assert!(mean_eye <= 0.12, "mean eye error, misses counted as 1.0: {mean_eye:.3} > 0.12 IOD");
}

/// The photos large enough to be read as coefficients (a short side of 640
/// px or more since session 16: the detector sees them at 1/2 or less)
/// give the cats every pixel gives: the same faces (IoU > 0.9). Where the
/// eyes are clear (the curated cats, tests/curated-cats.json), they stay
/// within 0.1 of their distance apart of every pixel's. Elsewhere they are
/// only printed: the eyes of a cat in profile or with its eyes shut are
/// not a point the model can place, and a box a fraction of a canvas pixel
/// off moves them by up to 0.4 (kairess_030, kairess_008).
#[test]
fn the_coded_route_finds_what_every_pixel_finds() {
    let e = engine();
    let curated: Value = serde_json::from_str(&std::fs::read_to_string(root().join("tests/curated-cats.json")).unwrap()).unwrap();
    let curated: Vec<&str> = curated["photos"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let (mut coded, mut eye_moves) = (0, Vec::new());
    for path in listed("data/cat-photos", |_| true) {
        let decoded = shipped(&path);
        let codec::Decoded::Coded(_) = &decoded else { continue };
        coded += 1;
        let clear = curated.contains(&path.file_name().unwrap().to_str().unwrap());
        let (ours, every) = (cats(e, &decoded), pipeline::find_cats(e, &photo(&path), &mut Default::default()).unwrap());
        assert_eq!(ours.len(), every.len(), "{}", path.display());
        for (a, b) in ours.iter().zip(&every) {
            assert!(iou(&a.bbox, &b.bbox) > 0.9, "{}: {a:?} vs {b:?}", path.display());
            let (l, r) = (b.landmarks["left_eye"], b.landmarks["right_eye"]);
            let moved = eyes_error(a, l, r);
            println!("  {}{}: eyes moved {moved:.4} IOD, box IoU {:.3}", path.display(), if clear { " (curated)" } else { "" }, iou(&a.bbox, &b.bbox));
            if clear {
                eye_moves.push(moved);
            }
        }
    }
    assert!(coded >= 10, "only {coded} photos of cat-photos/ read as coefficients");
    assert!(eye_moves.len() >= 10, "only {} curated cats read as coefficients", eye_moves.len());
    eye_moves.sort_by(f32::total_cmp);
    assert!(eye_moves.iter().all(|&m| m <= 0.1), "{eye_moves:?}");
    println!("coded route on {coded} photos: {} curated cats, eyes moved by a median {:.4} IOD, at most {:.4}", eye_moves.len(), eye_moves[eye_moves.len() / 2], eye_moves.last().unwrap());
}

/// The model budget (issue 25): both models together <= 600 KB as shipped
/// (the NNEF tars the worker embeds), and <= 80 MFLOPs for a photo with one
/// cat (one detector pass, the landmark passes of one face), counted by
/// tract from the graphs the engine runs.
#[test]
fn models_fit_the_budget() {
    use tract_nnef::internal::Cost;
    use tract_nnef::prelude::*;
    let bytes: usize = ["detector", "landmarks"].iter().map(|n| edgecat::models::embedded(n).unwrap().nnef.len()).sum();
    let mflops = |name: &str| -> f64 {
        let nnef = edgecat::reader::nnef();
        let model = nnef.model_for_read(&mut &edgecat::models::embedded(name).unwrap().nnef[..]).unwrap();
        let mut fma = 0.0;
        for node in model.eval_order().unwrap() {
            let node = &model.nodes[node];
            let facts = model.node_input_facts(node.id).unwrap();
            for (cost, n) in node.op.cost(&facts).unwrap() {
                if let Cost::FMA(_) = cost {
                    fma += n.to_i64().unwrap() as f64;
                }
            }
        }
        2.0 * fma / 1e6
    };
    let passes = match engine().landmarker.second_pass {
        edgecat::landmarks::SecondPass::None => 1.0,
        _ => 2.0,
    };
    let (det, lmk) = (mflops("detector"), mflops("landmarks"));
    let total = det + passes * lmk;
    println!("models: {bytes} bytes as shipped; {det:.1} MFLOPs detector + {passes} x {lmk:.1} landmarks = {total:.1} MFLOPs for one cat");
    // A photo where the first pass keeps nothing also pays the tile pass: up to `max` more
    // detector passes (a 4:3 or 3:2 photo: 2), and a face check for each face they find.
    if let Some(t) = engine().detector.tiles {
        println!("  a wide photo with no face kept: {:.1} MFLOPs and a face check per face found", det * (1 + t.max.min(2)) as f64);
    }
    assert!(bytes <= 600_000, "models are {bytes} bytes together (> 600 KB)");
    // Issue 25's target: <= 80 MFLOPs for a photo with one cat (session 11: the 160-input detector).
    println!("  issue 25 target <= 80 MFLOPs for one cat: {}", if total <= 80.0 { "met" } else { "MISSED" });
    assert!(total <= 80.0, "{total:.1} MFLOPs for a photo with one cat (> 80)");
}
