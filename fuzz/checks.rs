//! What the fuzz targets assert, shared with the native regression test
//! (tests/core/fuzz_regressions.rs) that replays fuzz/seeds and fuzz/regressions
//! through the same functions. A panic here is a finding: either the core
//! panicked or it answered something the API contract does not allow.

#![allow(dead_code)]

use edgecat::codec::{self, OutputFormat, MAX_OVERLAY_SIDE, MAX_PIXELS, MAX_SIDE};
use edgecat::http::cors::CorsPolicy;
use edgecat::http::input::{self, Part, MAX_BODY_BYTES};
use edgecat::pipeline::Upload;
use edgecat::http::routes::{self, Route};
use edgecat::{pipeline, ApiError};
use edgecat::preprocess::{Crop, Source};

/// Every error must be one the caller may see here, and serialize.
fn expect_error(err: &ApiError, allowed: &[&str]) {
    assert!(allowed.contains(&err.code()), "unexpected error {err} (allowed: {allowed:?})");
    let v: serde_json::Value = serde_json::from_str(&err.to_json()).expect("problem+json is JSON");
    assert_eq!(v["status"], err.status());
    assert_eq!(v["code"], err.code());
}

fn text(field: Option<&[u8]>) -> Option<String> {
    field.map(|f| String::from_utf8_lossy(f).into_owned())
}

/// Request line, headers and multipart fields, separated by NUL bytes:
/// method, path, Content-Type, Content-Length, ?format=, Accept,
/// ALLOWED_ORIGINS, Origin, then one multipart part per field
/// (`f` or `t` for file/text, then `name=value`). An empty header field
/// means the header is absent.
pub fn request(data: &[u8]) {
    let mut fields = data.split(|&b| b == 0);
    let mut header = || text(fields.next()).filter(|s| !s.is_empty());
    let method = header().unwrap_or_default();
    let path = header().unwrap_or_default();
    let content_type = header();
    let content_length = header();
    let format = header();
    let accept = header();
    let allowed_origins = header();
    let origin = header();

    for test_routes in [false, true] {
        match routes::resolve(&method, &path, test_routes) {
            Ok(Route::Preflight(endpoint)) => assert!(endpoint.methods().contains(&"OPTIONS")),
            Ok(Route::Call(endpoint)) => {
                assert!(endpoint.methods().contains(&method.to_ascii_uppercase().as_str()))
            }
            Err(err) => {
                expect_error(&err, &["not_found", "method_not_allowed"]);
                if err.status() == 405 {
                    assert!(err.headers().iter().any(|(k, v)| *k == "Allow" && !v.is_empty()));
                }
            }
        }
    }
    if let Err(err) = input::body_kind(content_type.as_deref()) {
        expect_error(&err, &["bad_request", "unsupported_media_type"]);
    }
    match input::check_declared_length(content_length.as_deref()) {
        Ok(Some(n)) => assert!((1..=MAX_BODY_BYTES).contains(&n)),
        Ok(None) => assert!(content_length.is_none()),
        Err(err) => expect_error(&err, &["bad_request", "payload_too_large"]),
    }
    if let Err(err) = pipeline::output_format(format.as_deref(), accept.as_deref()) {
        expect_error(&err, &["bad_request"]);
    }
    let cors = CorsPolicy::parse(allowed_origins.as_deref());
    match cors.allow_origin(origin.as_deref()) {
        Some(allow) if allow != "*" => {
            // Only ever a listed origin, reflected exactly.
            assert_eq!(Some(allow.as_str()), origin.as_deref());
            assert!(matches!(&cors, CorsPolicy::List(list) if list.contains(&allow)));
        }
        Some(_) => assert_eq!(cors, CorsPolicy::Any),
        None => assert!(cors.preflight_headers(origin.as_deref(), &["POST"]).is_empty()),
    }
    let _ = cors.response_headers(origin.as_deref());

    let parts: Vec<Part> = fields
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (kind, rest) = f.split_first().expect("non-empty");
            let eq = rest.iter().position(|&b| b == b'=').unwrap_or(rest.len());
            let name = String::from_utf8_lossy(&rest[..eq]).into_owned();
            let value = rest.get(eq + 1..).unwrap_or_default();
            if *kind == b'f' {
                Part::File { name, content_type: "application/octet-stream".into(), bytes: value.to_vec() }
            } else {
                Part::Text { name, value: String::from_utf8_lossy(value).into_owned() }
            }
        })
        .collect();
    match input::upload_from_parts(parts) {
        Ok(upload) => assert!(!upload.photo.is_empty()),
        Err(err) => expect_error(&err, &["missing_field"]),
    }
}

/// Arbitrary bytes as a photo and as an overlay.
pub fn decode(data: &[u8]) {
    match codec::decode_photo(data, None) {
        Ok(img) => {
            let (w, h) = img.dimensions();
            assert!(w >= 1 && h >= 1 && w <= MAX_SIDE && h <= MAX_SIDE, "{w}×{h}");
            assert!(w as u64 * h as u64 <= MAX_PIXELS);
        }
        Err(err) => expect_error(&err, &["bad_image", "image_too_large", "unsupported_media_type"]),
    }
    // The DCT route (a JPEG answered as JPEG keeps its own coefficients
    // away from what was drawn; any other photo takes the pixel encoder),
    // reached here without a cat: a box drawn on, and the answer must be an
    // image of the photo's size that decodes.
    if let Ok(photo) = codec::decode_upload(data, Some(OutputFormat::Jpeg)) {
        let (w, h) = photo.dimensions();
        // What the detector and the landmark model are given, made from it.
        let (canvas, _) = photo.letterbox(160, 128);
        assert_eq!(canvas.dimensions(), (160, 160));
        let (crop, _) = photo.crop_square(Crop::around([w as f32 / 3.0, h as f32 / 3.0, w as f32 / 2.0, h as f32 / 2.0], 1.3), 96, 128);
        assert_eq!(crop.dimensions(), (96, 96));
        let drawn = [w / 4, h / 4, w / 2 + 1, h / 2 + 1];
        let mut canvas = photo.canvas(data, &[drawn]).expect("a decoded photo has a canvas");
        *canvas.pixel_mut(w / 4, h / 4) = image::Rgb([255, 0, 0]);
        let out = codec::encode_result(data, &canvas, &[drawn], OutputFormat::Jpeg).expect("a decoded photo encodes");
        let back = codec::decode_photo(&out, None).expect("the answer decodes");
        assert_eq!(back.dimensions(), (w, h));
    }
    match codec::decode_overlay(data) {
        Ok(img) => {
            let (w, h) = img.dimensions();
            assert!(w >= 1 && h >= 1 && w <= MAX_OVERLAY_SIDE && h <= MAX_OVERLAY_SIDE, "{w}×{h}");
        }
        Err(err) => expect_error(&err, &["bad_overlay", "image_too_large", "unsupported_media_type"]),
    }
}

/// First byte: bit 0 = an overlay follows, bits 1–2 = style (none, aviator,
/// round, an unknown one), bit 3 = PNG output, bit 4 = hipsterize rather
/// than detect. With an overlay, a little-endian u16 gives its length; the
/// photo is the rest.
pub fn pipeline(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else { return };
    let mut overlay = None;
    if flags & 1 != 0 && rest.len() >= 2 {
        let len = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        overlay = Some(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    let style = match (flags >> 1) & 3 {
        0 => None,
        1 => Some("aviator".to_string()),
        2 => Some("round".to_string()),
        _ => Some("monocle".to_string()),
    };
    let format = if flags & 8 != 0 { OutputFormat::Png } else { OutputFormat::Jpeg };
    if flags & 16 == 0 && overlay.is_none() {
        match pipeline::detect(rest) {
            Ok(d) => {
                assert!(d.width >= 1 && d.height >= 1);
                for cat in &d.cats {
                    assert!(cat.score.is_finite());
                    let [x0, y0, x1, y1] = cat.bbox;
                    assert!(0.0 <= x0 && x0 <= x1 && x1 <= d.width as f32, "box {:?} in {}×{}", cat.bbox, d.width, d.height);
                    assert!(0.0 <= y0 && y0 <= y1 && y1 <= d.height as f32, "box {:?} in {}×{}", cat.bbox, d.width, d.height);
                    assert!(cat.landmarks.values().flatten().all(|v| v.is_finite()));
                }
            }
            Err(err) => expect_error(&err, &["bad_image", "image_too_large", "unsupported_media_type"]),
        }
        return;
    }
    let upload = Upload { photo: rest.to_vec(), overlay, style };
    match pipeline::hipsterize(&upload, format) {
        Ok(out) => {
            assert!(out.cats >= 1);
            let magic: &[u8] = if format == OutputFormat::Png { b"\x89PNG" } else { b"\xff\xd8" };
            assert!(out.bytes.starts_with(magic));
        }
        Err(err) => expect_error(
            &err,
            &["bad_image", "bad_overlay", "image_too_large", "no_cat_found", "bad_request", "unsupported_media_type"],
        ),
    }
}

/// What a step may allocate beyond the figure it is held to: metadata and
/// decoder state that the estimate leaves out (codec::METADATA_ALLOWANCE),
/// and as much again for allocator rounding and small buffers.
pub const MEMORY_SLACK: u64 = 2 * codec::METADATA_ALLOWANCE;

/// The worker's steps for one photo, under a counting allocator (`peak`
/// gives the peak bytes its closure allocated). First byte: the output
/// (0 detect, 1 JPEG, 2 PNG; modulo 3); the photo is the rest.
/// - `codec::photo_need` and then the pipeline each allocate no more than
///   the figure photo_need gives (which counts the upload the worker holds)
///   and slack;
/// - for a photo that photo_need refuses, each allocates no more than three
///   times the upload, the metadata allowance and slack: the upload's copy,
///   a metadata chunk as stored and copied (the png crate's growing buffer
///   for an eXIf, and its copy), and what compressed metadata may inflate to
///   under `codec::header_limits` (found by this target: a truncated PNG
///   whose iCCP inflated to that limit).
pub fn memory(data: &[u8], peak: &dyn Fn(&mut dyn FnMut()) -> u64) {
    static WARM: std::sync::Once = std::sync::Once::new();
    // The models are loaded once per instance, outside any photo's figure.
    WARM.call_once(|| {
        pipeline::warm().expect("the models load");
    });
    let Some((&flags, photo)) = data.split_first() else { return };
    let output = match flags % 3 {
        0 => None,
        1 => Some(OutputFormat::Jpeg),
        _ => Some(OutputFormat::Png),
    };
    let len = photo.len() as u64;
    let mut need = None;
    let measuring = peak(&mut || need = Some(codec::photo_need(photo, output)));
    let need = need.expect("measured");
    let refused = 3 * len + codec::METADATA_ALLOWANCE + MEMORY_SLACK;
    let mut result = None;
    let used = peak(&mut || {
        // The upload's copy is made inside, as the worker holds one.
        let upload = Upload { photo: photo.to_vec(), ..Upload::default() };
        result = Some(match output {
            None => pipeline::detect(&upload.photo).map(|d| d.cats.len()),
            Some(format) => pipeline::hipsterize(&upload, format).map(|h| h.cats),
        });
    });
    let allowed = ["bad_image", "image_too_large", "unsupported_media_type", "no_cat_found"];
    match need {
        Ok(need) => {
            assert!(need <= codec::MEMORY_BUDGET, "photo_need passed {need} bytes, over the budget");
            assert!(measuring <= need + MEMORY_SLACK, "photo_need allocated {measuring} bytes, and said {need}");
            assert!(used <= need + MEMORY_SLACK, "{output:?}: allocated {used} bytes, photo_need said {need}");
        }
        Err(err) => {
            expect_error(&err, &allowed[..3]);
            assert!(measuring <= refused, "refusing a {len}-byte photo, photo_need allocated {measuring} bytes ({err})");
            assert!(used <= refused, "{output:?}: refusing a {len}-byte photo allocated {used} bytes ({err})");
            // What photo_need refuses, the pipeline refuses the same way.
            assert_eq!(result.as_ref().and_then(|r| r.as_ref().err()).map(ApiError::code), Some(err.code()));
        }
    }
    if let Some(Err(err)) = &result {
        expect_error(err, &allowed);
    }
}
