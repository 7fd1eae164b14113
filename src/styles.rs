//! The built-in sunglasses, drawn from signed distance functions (shapes,
//! so no third-party artwork ships). build.rs includes this file too and
//! draws every style once at build time: drawn at run time, the first photo
//! of an isolate paid for it in V8's baseline tier (74 ms of a 370 ms
//! warm-up profile). Plain `std` only, for that reason.

/// The built-in styles' names, in the order build.rs draws them.
pub const STYLES: [&str; 3] = ["classic", "aviator", "round"];

/// Every style is drawn on a canvas this size.
pub const STYLE_W: u32 = 600;
pub const STYLE_H: u32 = 220;

/// A layer being painted, premultiplied RGBA in f32.
struct Canvas {
    px: Vec<[f32; 4]>,
}

impl Canvas {
    /// Paint `rgb` with `alpha` where `sdf` (distance in px, < 0 inside) says.
    fn paint(&mut self, rgb: [f32; 3], alpha: impl Fn(f32, f32) -> f32, sdf: impl Fn(f32, f32) -> f32) {
        for y in 0..STYLE_H {
            for x in 0..STYLE_W {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                let coverage = (0.5 - sdf(fx, fy)).clamp(0.0, 1.0);
                if coverage == 0.0 {
                    continue;
                }
                let a = coverage * alpha(fx, fy);
                let p = &mut self.px[(y * STYLE_W + x) as usize];
                for c in 0..3 {
                    p[c] = rgb[c] * a + p[c] * (1.0 - a);
                }
                p[3] = a + p[3] * (1.0 - a);
            }
        }
    }
}

fn rounded_box(x: f32, y: f32, cx: f32, cy: f32, hw: f32, hh: f32, r: f32) -> f32 {
    let (qx, qy) = ((x - cx).abs() - hw + r, (y - cy).abs() - hh + r);
    qx.max(0.0).hypot(qy.max(0.0)) + qx.max(qy).min(0.0) - r
}

fn ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    // Scaled-circle approximation: exact on the axes, close enough for art.
    let (u, v) = ((x - cx) / rx, (y - cy) / ry);
    (u.hypot(v) - 1.0) * rx.min(ry)
}

fn ring(d: f32, half_width: f32) -> f32 {
    d.abs() - half_width
}

/// The points of every style that go on the eyes (where its lenses are).
pub fn eye_points() -> ((f32, f32), (f32, f32)) {
    let (w, h) = (STYLE_W as f32, STYLE_H as f32);
    ((0.25 * w, 0.45 * h), (0.75 * w, 0.45 * h))
}

/// Draw a style (any name but "aviator" and "round" is the classic one):
/// premultiplied RGBA, `STYLE_W` × `STYLE_H`, row by row; its lenses are
/// centred on `eye_points`.
pub fn render(style: &str) -> Vec<u8> {
    let (w, h) = (STYLE_W as f32, STYLE_H as f32);
    let ((lx, ey), (rx, _)) = eye_points();
    let mut canvas = Canvas { px: vec![[0.0; 4]; (STYLE_W * STYLE_H) as usize] };
    // Lenses darken towards the top, like real sunglasses.
    let tint = move |_x: f32, y: f32| (0.97 - 0.2 * (y / h)).clamp(0.75, 0.97);
    let opaque = |_: f32, _: f32| 1.0;
    match style {
        "aviator" => {
            // Teardrop lenses (an ellipse sagging outwards), thin gold frame,
            // double bridge.
            let lens = move |x: f32, y: f32, cx: f32| {
                let sag = 0.08 * h * ((y - ey) / (0.35 * h)).clamp(0.0, 1.0);
                let outward = if cx < w / 2.0 { -sag } else { sag };
                ellipse(x, y, cx + outward, ey + 0.04 * h, 0.2 * w, 0.36 * h)
            };
            let lenses = move |x: f32, y: f32| lens(x, y, lx).min(lens(x, y, rx));
            canvas.paint([30.0, 60.0, 70.0], tint, lenses);
            let gold = [200.0, 160.0, 60.0];
            canvas.paint(gold, opaque, move |x, y| ring(lenses(x, y), 4.0));
            canvas.paint(gold, opaque, move |x, y| rounded_box(x, y, w / 2.0, 0.14 * h, 0.09 * w, 3.0, 3.0));
            canvas.paint(gold, opaque, move |x, y| rounded_box(x, y, w / 2.0, 0.3 * h, 0.06 * w, 3.0, 3.0));
        }
        "round" => {
            let lenses = move |x: f32, y: f32| {
                ellipse(x, y, lx, ey, 0.19 * w, 0.19 * w).min(ellipse(x, y, rx, ey, 0.19 * w, 0.19 * w))
            };
            canvas.paint([20.0, 20.0, 24.0], tint, lenses);
            let frame = [15.0, 15.0, 15.0];
            canvas.paint(frame, opaque, move |x, y| ring(lenses(x, y), 5.0));
            canvas.paint(frame, opaque, move |x, y| {
                ring(ellipse(x, y, w / 2.0, ey + 0.02 * h, 0.07 * w, 0.12 * h), 4.0)
                    .max(ey - 0.02 * h - y)
            });
        }
        _ => {
            // Classic wayfarer: heavy black frame, lenses wider at the top.
            let lens = move |x: f32, y: f32, cx: f32| {
                let narrowing = 0.03 * w * ((y - ey) / (0.3 * h)).clamp(0.0, 1.0);
                rounded_box(x, y, cx, ey, 0.2 * w - narrowing, 0.3 * h, 0.08 * h)
            };
            let lenses = move |x: f32, y: f32| lens(x, y, lx).min(lens(x, y, rx));
            canvas.paint([10.0, 10.0, 12.0], tint, lenses);
            let frame = [12.0, 12.0, 12.0];
            canvas.paint(frame, opaque, move |x, y| ring(lenses(x, y), 9.0));
            canvas.paint(frame, opaque, move |x, y| rounded_box(x, y, w / 2.0, 0.28 * h, 0.08 * w, 0.07 * h, 6.0));
            // A top bar across both lenses gives the wayfarer brow.
            canvas.paint(frame, opaque, move |x, y| rounded_box(x, y, w / 2.0, 0.17 * h, 0.47 * w, 0.06 * h, 8.0));
            // A glint on each lens.
            canvas.paint([255.0, 255.0, 255.0], |_, _| 0.35, move |x, y| {
                rounded_box(x, y, lx - 0.08 * w, ey - 0.12 * h, 0.03 * w, 0.025 * h, 6.0)
                    .min(rounded_box(x, y, rx - 0.08 * w, ey - 0.12 * h, 0.03 * w, 0.025 * h, 6.0))
            });
        }
    }
    canvas.px.iter().flat_map(|p| [p[0].round() as u8, p[1].round() as u8, p[2].round() as u8, (p[3] * 255.0).round() as u8]).collect()
}
