//! Issue 28's quality test: a JPEG upload answered as JPEG keeps its own
//! coefficients outside the glasses (the DCT route, codec::recode), so the
//! output there is the decoded upload itself, where today's pixel path (a
//! quality-90 re-encode of the whole photo) loses some of it. Measured on
//! real photos: PSNR outside the glasses, against the decoded upload, for
//! both; and away from the blocks coded afresh the pixels are identical.

use edgecat::codec::{self, OutputFormat, Rect};
use edgecat::overlay::{self, Placement};
use edgecat::pipeline::{self, Upload};
use image::RgbImage;

const PHOTOS: [&str; 5] = ["kairess_001.jpg", "kairess_022.jpg", "kairess_003.jpg", "kairess_012.jpg", "kairess_025.jpg"];

/// Pixels of 4:2:0 coded afresh lie within one MCU (16 px) of what was
/// drawn; the chroma upsampling of the decoder reaches one pixel past them.
const REACH: u32 = 17;

fn psnr_outside(a: &RgbImage, b: &RgbImage, rects: &[Rect]) -> f64 {
    let (mut sum, mut n) = (0f64, 0u64);
    for (x, y, p) in a.enumerate_pixels() {
        if rects.iter().any(|r| x >= r[0] && x < r[2] && y >= r[1] && y < r[3]) {
            continue;
        }
        for (c, d) in p.0.iter().zip(b.get_pixel(x, y).0) {
            sum += (*c as f64 - d as f64).powi(2);
        }
        n += 3;
    }
    if sum == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255f64.powi(2) / (sum / n as f64)).log10()
    }
}

#[test]
fn outside_the_glasses_the_output_is_the_upload() {
    for name in PHOTOS {
        let bytes = std::fs::read(format!("../shared/data/cat-photos/{name}")).expect("../shared beside the checkout");
        assert_eq!(codec::keeps_coefficients(&bytes), Ok(()), "{name}: the DCT route reads it");
        let upload = Upload { photo: bytes.clone(), ..Upload::default() };
        let out = pipeline::hipsterize(&upload, OutputFormat::Jpeg).unwrap();
        // The glasses again, as hipsterize drew them, for where they are.
        let cats = pipeline::detect(&bytes).unwrap().cats;
        let input = codec::decode_photo(&bytes, Some(OutputFormat::Jpeg)).unwrap();
        let glasses = overlay::builtin(overlay::DEFAULT_STYLE).unwrap();
        let eyes: Vec<_> = cats.iter().map(|c| (c.landmarks["left_eye"], c.landmarks["right_eye"])).map(|(l, r)| ((l[0], l[1]), (r[0], r[1]))).collect();
        // Every pixel drawn on: today's pixel route.
        let mut drawn = input.clone();
        let rects: Vec<Rect> = eyes.iter().filter_map(|&(l, r)| overlay::draw(&mut drawn, glasses, l, r)).collect();
        assert!(!rects.is_empty(), "{name}: a cat is found");
        // As hipsterize draws: on the parts of a coded photo under the glasses.
        let photo = codec::decode_upload(&bytes, Some(OutputFormat::Jpeg)).unwrap();
        let placed: Vec<Placement> = eyes.iter().filter_map(|&(l, r)| Placement::new(glasses, l, r, input.dimensions())).collect();
        let mut canvas = photo.canvas(&bytes, &placed.iter().map(|p| p.bounds).collect::<Vec<_>>()).unwrap();
        assert_eq!(placed.iter().filter_map(|p| p.draw(&mut canvas)).collect::<Vec<_>>(), rects, "{name}");
        assert_eq!(out.bytes, codec::encode_result(&bytes, &canvas, &rects, OutputFormat::Jpeg).unwrap(), "{name}");
        let new = image::load_from_memory(&out.bytes).unwrap().into_rgb8();
        let today = image::load_from_memory(&codec::encode(&drawn, OutputFormat::Jpeg).unwrap()).unwrap().into_rgb8();
        let (psnr_new, psnr_today) = (psnr_outside(&new, &input, &rects), psnr_outside(&today, &input, &rects));
        let reach: Vec<Rect> = rects.iter().map(|r| [r[0].saturating_sub(REACH), r[1].saturating_sub(REACH), r[2] + REACH, r[3] + REACH]).collect();
        let area: u64 = rects.iter().map(|r| (r[2] - r[0]) as u64 * (r[3] - r[1]) as u64).sum();
        println!(
            "{name}: glasses {:.1} % of the photo; PSNR outside them {psnr_new:.1} dB (today {psnr_today:.1} dB), \
             away from them {:.1} dB; {} bytes (today {}, upload {})",
            100.0 * area as f64 / (input.width() * input.height()) as f64,
            psnr_outside(&new, &input, &reach),
            out.bytes.len(),
            codec::encode(&drawn, OutputFormat::Jpeg).unwrap().len(),
            bytes.len()
        );
        assert!(psnr_new >= psnr_today, "{name}: {psnr_new:.1} dB outside the glasses, today {psnr_today:.1}");
        assert_eq!(psnr_outside(&new, &input, &reach), f64::INFINITY, "{name}: pixels away from the glasses changed");
        // Under the glasses the output is the drawing, to within one JPEG coding of it.
        let under = |img: &RgbImage| {
            let mut sum = 0f64;
            let mut n = 0;
            for r in &rects {
                for y in r[1]..r[3] {
                    for x in r[0]..r[2] {
                        for (a, b) in img.get_pixel(x, y).0.iter().zip(drawn.get_pixel(x, y).0) {
                            sum += (*a as f64 - b as f64).powi(2);
                            n += 1;
                        }
                    }
                }
            }
            10.0 * (255f64.powi(2) / (sum / n as f64)).log10()
        };
        let (under_new, under_today) = (under(&new), under(&today));
        println!("{name}: PSNR under the glasses {under_new:.1} dB (today {under_today:.1} dB)");
        assert!(under_new > 30.0, "{name}: {under_new:.1} dB under the glasses");
    }
}
