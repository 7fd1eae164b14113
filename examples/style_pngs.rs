//! Writes the built-in sunglasses styles as transparent PNGs, for the page's
//! live camera view (www/glasses/), which draws them on a canvas itself:
//!
//!     cargo run --example style_pngs -- www/glasses
//!
//! Only the public overlay API is used: each style is drawn at scale 1 onto
//! black and onto white, and alpha and colour are recovered from the two
//! (black = premultiplied colour, white − black = 255 × (1 − alpha)). The
//! eye points are the ones `overlay::draw` anchors on, so the page places
//! the PNG exactly as the server does.
use edgecat::overlay::{builtin, draw, STYLES};
use image::{Rgb, RgbImage, Rgba, RgbaImage};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "www/glasses".into());
    std::fs::create_dir_all(&dir).expect("output directory");
    let mut manifest = Vec::new();
    for style in STYLES {
        let overlay = builtin(style).expect("built-in style");
        let (w, h) = overlay.size();
        // Built-in styles put the eyes at a quarter and three quarters of the
        // width, 45 % down (src/overlay.rs, render_style): at those points
        // with eyes w/2 apart, draw() uses scale 1 and no rotation.
        let (left, right) = ((0.25 * w as f32, 0.45 * h as f32), (0.75 * w as f32, 0.45 * h as f32));
        let mut black = RgbImage::from_pixel(w, h, Rgb([0, 0, 0]));
        let mut white = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        draw(&mut black, overlay, left, right);
        draw(&mut white, overlay, left, right);
        let png = RgbaImage::from_fn(w, h, |x, y| {
            let (b, wh) = (black.get_pixel(x, y), white.get_pixel(x, y));
            let a = 255.0 - (0..3).map(|c| wh[c] as f32 - b[c] as f32).sum::<f32>() / 3.0;
            if a <= 0.5 {
                return Rgba([0, 0, 0, 0]);
            }
            let un = |c: usize| (b[c] as f32 * 255.0 / a).round().clamp(0.0, 255.0) as u8;
            Rgba([un(0), un(1), un(2), a.round().clamp(0.0, 255.0) as u8])
        });
        let path = format!("{dir}/{style}.png");
        png.save(&path).expect("write PNG");
        manifest.push(format!(
            "  \"{style}\": {{ \"file\": \"{style}.png\", \"left_eye\": [{}, {}], \"right_eye\": [{}, {}] }}",
            left.0, left.1, right.0, right.1
        ));
        eprintln!("{path}: {w}×{h}");
    }
    std::fs::write(format!("{dir}/styles.json"), format!("{{\n{}\n}}\n", manifest.join(",\n"))).expect("write manifest");
}
