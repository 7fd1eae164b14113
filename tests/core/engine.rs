//! The engine the worker ships (NNEF tars, read by tract-nnef alone) against
//! the ONNX files they are converted from (models/*.int8.onnx, the source of
//! truth):
//! - the committed tars are exactly what converting the committed ONNX gives
//!   (so they cannot go stale: `make nnef` regenerates them), and keep the
//!   weights int8;
//! - both engines give the same outputs, bit for bit, on the parity fixtures
//!   and on every held-out photo the model tests use.

use crate::models::{cat_landmarks, fixture_png, floats, hujingyu_val, listed, orienfish_test, pets_held_out, photo, root};
use edgecat::detector::{decode, Face};
use edgecat::pipeline::{self, Engine};
use edgecat::preprocess::{self, Crop};
use edgecat::{convert, models};
use image::RgbImage;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use tract_nnef::prelude::*;

fn nnef_engine() -> &'static Engine {
    pipeline::engine().expect("the embedded NNEF models load")
}

fn onnx_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load_onnx().expect("the embedded ONNX models load"))
}

fn model_file(name: &str, key: &str) -> (String, Vec<u8>) {
    let file = models::manifest()[name][key].as_str().unwrap_or_else(|| panic!("manifest: {name}.{key}")).to_string();
    let bytes = std::fs::read(root().join("models").join(&file)).unwrap_or_else(|e| panic!("models/{file}: {e}"));
    (file, bytes)
}

#[test]
fn committed_nnef_is_the_converted_onnx_with_int8_weights() {
    for name in ["detector", "landmarks"] {
        let (onnx_file, onnx) = model_file(name, "file");
        let (nnef_file, nnef) = model_file(name, "nnef");
        let (converted, report) = convert::onnx_to_nnef_tar_with_report(&onnx).unwrap();
        assert!(
            converted == nnef,
            "models/{nnef_file} is not what converting models/{onnx_file} gives ({} vs {} bytes): `make nnef` regenerates it",
            nnef.len(),
            converted.len()
        );
        assert_eq!(models::embedded(name).unwrap().nnef, &nnef[..], "the build embedded another models/{nnef_file}");

        // Every int8 weight of the ONNX stays int8 in the NNEF: what is
        // left in f32 is biases (int32 in the ONNX), scales, anchors, the
        // soft-argmax grid and the few weights the ONNX keeps in float.
        let proto = tract_nnef::nnef().proto_model_for_read(&mut &nnef[..]).unwrap();
        let count = |dt: DatumType| proto.tensors.values().filter(|t| t.datum_type() == dt).map(|t| t.len()).sum::<usize>();
        let (int8, f32s) = (count(DatumType::I8), count(DatumType::F32));
        let onnx_proto: tract_onnx::pb::ModelProto = tract_onnx::onnx().proto_model_for_read(&mut &onnx[..]).unwrap();
        let graph = onnx_proto.graph.unwrap();
        let dequantized: Vec<&str> =
            graph.node.iter().filter(|n| n.op_type == "DequantizeLinear").map(|n| n.input[0].as_str()).collect();
        let onnx_int8: usize = graph
            .initializer
            .iter()
            .filter(|t| t.data_type == tract_onnx::pb::tensor_proto::DataType::Int8 as i32)
            .filter(|t| dequantized.contains(&t.name.as_str()))
            .map(|t| t.dims.iter().product::<i64>() as usize)
            .sum();
        println!(
            "{name}: {onnx_file} {} bytes → {nnef_file} {} bytes; {} int8 tensors ({int8} params, the ONNX has {onnx_int8}), {f32s} f32 params",
            onnx.len(),
            nnef.len(),
            report.int8_tensors.len()
        );
        assert_eq!(int8, report.int8_params);
        assert_eq!(int8, onnx_int8, "{name}: the ONNX has {onnx_int8} int8 weights, the NNEF {int8}");
    }
}

/// Largest |a - b|, and whether a and b are the same bits.
fn diff(a: &[f32], b: &[f32]) -> (f32, bool) {
    assert_eq!(a.len(), b.len());
    let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    (max, a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()))
}

/// The detector's raw outputs: (scores, boxes).
type DetectorOut = (Vec<f32>, Vec<f32>);

#[derive(Default)]
struct Parity {
    detector_runs: usize,
    landmark_runs: usize,
    faces: usize,
    /// Runs whose outputs differ in any bit.
    differing: Vec<String>,
    worst_detector: f32,
    worst_landmarks: f32,
}

impl Parity {
    fn detector(&mut self, what: &str, canvas: &RgbImage) -> (DetectorOut, DetectorOut) {
        let a = nnef_engine().detector.run_canvas(canvas).unwrap();
        let b = onnx_engine().detector.run_canvas(canvas).unwrap();
        let (ds, same_s) = diff(&a.0, &b.0);
        let (db, same_b) = diff(&a.1, &b.1);
        self.detector_runs += 1;
        self.worst_detector = self.worst_detector.max(ds).max(db);
        if !(same_s && same_b) {
            self.differing.push(format!("{what}: detector Δscore {ds:e}, Δbox {db:e}"));
        }
        (a, b)
    }

    fn landmarks(&mut self, what: &str, canvas: &RgbImage) {
        let a = nnef_engine().landmarker.run_canvas(canvas).unwrap();
        let b = onnx_engine().landmarker.run_canvas(canvas).unwrap();
        // The points, then the face check's score.
        let (a, b) = ([&a.points[..], &[a.face]].concat(), [&b.points[..], &[b.face]].concat());
        let (d, same) = diff(&a, &b);
        self.landmark_runs += 1;
        self.worst_landmarks = self.worst_landmarks.max(d);
        if !same {
            self.differing.push(format!("{what}: landmarks Δ {d:e}"));
        }
    }

    /// The whole pipeline on a photo: detector outputs, the faces kept after
    /// NMS, and the landmark outputs for each face.
    fn photo(&mut self, what: &str, img: &RgbImage) {
        let d = &nnef_engine().detector;
        let (canvas, lb) = preprocess::letterbox(img, d.size, d.pad);
        let (a, b) = self.detector(what, &canvas);
        let faces = |(scores, boxes): &DetectorOut| {
            decode(scores, boxes, d.threshold, d.nms_iou, |x, y| lb.to_photo(x, y), img.dimensions())
        };
        let (fa, fb): (Vec<Face>, Vec<Face>) = (faces(&a), faces(&b));
        if fa != fb {
            self.differing.push(format!("{what}: faces {fa:?} vs {fb:?}"));
        }
        let l = &nnef_engine().landmarker;
        for face in &fa {
            self.faces += 1;
            let crop = preprocess::crop_square(img, Crop::around(face.bbox, l.crop_scale), l.size, l.pad);
            self.landmarks(what, &crop);
        }
    }
}

#[test]
fn nnef_engine_gives_the_onnx_engines_outputs_bit_for_bit() {
    let mut p = Parity::default();
    // The parity fixtures: stored canvases, and their photos end to end.
    let text = std::fs::read_to_string(root().join("models/fixtures/parity.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    for case in &cases {
        let name = case["photo"].as_str().unwrap();
        p.detector(name, &fixture_png(case["det_canvas"].as_str().unwrap()));
        if let Some(lmk) = case["lmk_canvas"].as_str() {
            p.landmarks(name, &fixture_png(lmk));
            // And the crop made here from the stored box.
            let b = floats(&case["lmk_box"]);
            let l = &nnef_engine().landmarker;
            let img = photo(&root().join(name));
            p.landmarks(name, &preprocess::crop_square(&img, Crop::around([b[0], b[1], b[2], b[3]], l.crop_scale), l.size, l.pad));
        }
        p.photo(name, &photo(&root().join(name)));
    }
    // Every held-out photo of tests/core/models.rs.
    let mut paths: Vec<PathBuf> = Vec::new();
    paths.extend(hujingyu_val().into_iter().map(|l| l.path));
    paths.extend(orienfish_test().into_iter().map(|l| l.path));
    paths.extend(cat_landmarks().into_iter().map(|(path, _, _)| path));
    paths.extend(listed("data/cats-vs-dogs/dog", |i| i % 2 == 1));
    paths.extend(listed("data/non-cat-photos", |_| true));
    paths.extend(pets_held_out("dogs"));
    paths.extend(pets_held_out("cats"));
    let n_photos = paths.len();
    for path in &paths {
        p.photo(&path.display().to_string(), &photo(path));
    }
    println!(
        "NNEF vs ONNX engine: {} fixture cases + {n_photos} photos, {} detector runs, {} faces, {} landmark runs: \
         {} differ; max |Δ| detector {:e}, landmarks {:e}",
        cases.len(),
        p.detector_runs,
        p.faces,
        p.landmark_runs,
        p.differing.len(),
        p.worst_detector,
        p.worst_landmarks
    );
    for d in p.differing.iter().take(20) {
        println!("  {d}");
    }
    assert!(p.differing.is_empty(), "{} of the runs differ (above)", p.differing.len());
}

/// How long `Engine::load` takes from the NNEF tars and from the ONNX:
/// median of 5 each. A measurement, not a check: run it alone with
/// `cargo test --test core -- --ignored --nocapture load_time`.
#[test]
#[ignore]
fn load_time_nnef_vs_onnx() {
    let median = |load: fn() -> Result<Engine, String>| {
        let mut ms: Vec<f64> = (0..5).map(|_| load().unwrap().load_ms).collect();
        ms.sort_by(f64::total_cmp);
        ms[2]
    };
    let (nnef, onnx) = (median(Engine::load), median(Engine::load_onnx));
    println!("Engine::load, median of 5: NNEF {nnef:.1} ms, ONNX {onnx:.1} ms");
    // Where the NNEF load goes: the framework (its stdlib parsed), reading
    // both tars (graph.nnef parsed, tensors read), building the typed
    // models, optimising them.
    let mut stages: Vec<[f64; 4]> = (0..5)
        .map(|_| {
            let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
            let t = std::time::Instant::now();
            let nnef = edgecat::reader::nnef();
            let framework = ms(t);
            let t = std::time::Instant::now();
            let protos: Vec<_> = ["detector", "landmarks"]
                .iter()
                .map(|n| nnef.proto_model_for_read(&mut &models::embedded(n).unwrap().nnef[..]).unwrap())
                .collect();
            let read = ms(t);
            let t = std::time::Instant::now();
            let typed: Vec<TypedModel> = protos.iter().map(|p| nnef.model_for_proto_model(p).unwrap()).collect();
            let build = ms(t);
            let t = std::time::Instant::now();
            for mut m in typed {
                // As detector::load_plan: codegen only.
                m.optimize().unwrap();
                m.into_runnable().unwrap();
            }
            [framework, read, build, ms(t)]
        })
        .collect();
    stages.sort_by(|a, b| a.iter().sum::<f64>().total_cmp(&b.iter().sum::<f64>()));
    let [framework, read, build, optimise] = stages[2];
    println!(
        "  NNEF (the median run): framework {framework:.1} ms, read tars {read:.1} ms, build typed {build:.1} ms, \
         optimise + plan {optimise:.1} ms"
    );
    // And running them: the same plan either way, so the same speed.
    let canvas = fixture_png("det_hj_val.png");
    let run_ms = |e: &Engine| {
        let mut ms: Vec<f64> = (0..21)
            .map(|_| {
                let t = std::time::Instant::now();
                e.detector.run_canvas(&canvas).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms[10]
    };
    println!("  detector run, median of 21: NNEF {:.2} ms, ONNX {:.2} ms", run_ms(nnef_engine()), run_ms(onnx_engine()));
}
