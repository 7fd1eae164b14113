//! The JPEG answer's two routes, timed natively on one photo: the pixel
//! encoder (`codec::encode`, quality 90, the whole photo) against the DCT
//! route (`codec::encode_result`: the upload's coefficients, only the
//! blocks under the glasses coded afresh). The glasses are drawn once, as
//! for a cat whose eyes are a tenth of the photo's width apart, mid-photo.
//!
//!     cargo run --release --example encode_routes -- PHOTO.jpg [RUNS]
use edgecat::codec::{self, OutputFormat};
use edgecat::overlay;
use web_time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: encode_routes PHOTO.jpg [RUNS]");
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let upload = std::fs::read(&path).expect("the photo");
    let mut image = codec::decode_photo(&upload, Some(OutputFormat::Jpeg)).expect("it decodes");
    let (w, h) = (image.width() as f32, image.height() as f32);
    let glasses = overlay::builtin(overlay::DEFAULT_STYLE).unwrap();
    let drawn = overlay::draw(&mut image, glasses, (0.45 * w, 0.4 * h), (0.55 * w, 0.4 * h)).expect("on the photo");
    let coded = matches!(codec::decode_upload(&upload, Some(OutputFormat::Jpeg)), Ok(codec::Decoded::Coded(_)));
    println!(
        "{path}: {w}×{h}, {} bytes, DCT route: {:?}, read as coefficients: {coded}; glasses {drawn:?}",
        upload.len(),
        codec::keeps_coefficients(&upload)
    );
    let time = |name: &str, f: &dyn Fn() -> usize| {
        let mut ms: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!("{name:16} median {:.2} ms (min {:.2}), {} bytes", ms[runs / 2], ms[0], f());
    };
    time("decode pixels", &|| codec::decode_photo(&upload, Some(OutputFormat::Jpeg)).unwrap().len());
    time("decode coded", &|| match codec::decode_upload(&upload, Some(OutputFormat::Jpeg)).unwrap() {
        codec::Decoded::Coded(c) => c.picture_bytes(),
        codec::Decoded::Pixels { image, .. } => image.len(),
    });
    let canvas = codec::Canvas::Whole { image, reoriented: false };
    let codec::Canvas::Whole { image, .. } = &canvas else { unreachable!() };
    time("pixels q90", &|| codec::encode(image, OutputFormat::Jpeg).unwrap().len());
    time("DCT route", &|| codec::encode_result(&upload, &canvas, &[drawn], OutputFormat::Jpeg).unwrap().len());
    // Both whole routes, upload to answer (no models): the pixels decoded and
    // the upload read again for its coefficients, against the upload read
    // once as coefficients.
    time("pixels + recode", &|| {
        let image = codec::decode_photo(&upload, Some(OutputFormat::Jpeg)).unwrap();
        let canvas = codec::Canvas::Whole { image, reoriented: false };
        codec::encode_result(&upload, &canvas, &[drawn], OutputFormat::Jpeg).unwrap().len()
    });
    time("coded, read once", &|| {
        let decoded = codec::decode_upload(&upload, Some(OutputFormat::Jpeg)).unwrap();
        let canvas = decoded.canvas(&upload, &[drawn]).unwrap();
        codec::encode_result(&upload, &canvas, &[drawn], OutputFormat::Jpeg).unwrap().len()
    });
}
