//! What a POST to `/api/detect` or `/api/hipsterize` may carry, checked before
//! any pixel is decoded: content type, declared length, and which multipart
//! field is the photo, the overlay and the style.

use crate::error::ApiError;
/// What a request is reduced to: the pipeline's own input type.
pub use crate::pipeline::Upload;

/// Largest request body accepted (20 MB).
pub const MAX_BODY_BYTES: u64 = 20 * 1000 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// The body is the photo itself (`Content-Type: image/*`).
    Image,
    /// `multipart/form-data` with named fields.
    Multipart,
}

/// Classify a request's Content-Type; anything else is 415.
pub fn body_kind(content_type: Option<&str>) -> Result<BodyKind, ApiError> {
    let ct = content_type.unwrap_or("").trim();
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence.starts_with("image/") && essence.len() > "image/".len() {
        Ok(BodyKind::Image)
    } else if essence == "multipart/form-data" {
        if !ct.to_ascii_lowercase().contains("boundary=") {
            return Err(ApiError::BadRequest("multipart/form-data without a boundary".into()));
        }
        Ok(BodyKind::Multipart)
    } else if essence.is_empty() {
        Err(ApiError::UnsupportedMediaType(
            "missing Content-Type: send image/* or multipart/form-data".into(),
        ))
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {essence} is not accepted: send image/* or multipart/form-data"
        )))
    }
}

/// Check a declared `Content-Length` against the limit before reading.
pub fn check_declared_length(content_length: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(raw) = content_length else { return Ok(None) };
    let len: u64 = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::BadRequest("Content-Length is not a number".into()))?;
    check_length(len)?;
    Ok(Some(len))
}

/// Fails once a body is known (or seen so far) to exceed the limit.
pub fn check_length(len: u64) -> Result<(), ApiError> {
    if len > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "the body is {len} bytes; the limit is {MAX_BODY_BYTES} bytes"
        )));
    }
    if len == 0 {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    Ok(())
}

/// One multipart field, as the runtime's FormData parser returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    File { name: String, content_type: String, bytes: Vec<u8> },
    Text { name: String, value: String },
}

impl Part {
    fn name(&self) -> &str {
        match self {
            Part::File { name, .. } | Part::Text { name, .. } => name,
        }
    }
}


const PHOTO_FIELDS: [&str; 2] = ["cat", "image"];
const OVERLAY_FIELDS: [&str; 2] = ["glasses", "shades"];

/// Pick photo, overlay and style out of multipart fields.
///
/// Named fields win (`cat`/`image`, `glasses`/`shades`, `style`). Failing
/// those, the tutorial's Function app sent exactly two files with other
/// names: first the overlay, then the cat.
pub fn upload_from_parts(parts: Vec<Part>) -> Result<Upload, ApiError> {
    let mut upload = Upload::default();
    let mut photo = None;
    let mut others = Vec::new();
    for part in parts {
        let name = part.name().to_ascii_lowercase();
        match part {
            Part::File { bytes, .. } if PHOTO_FIELDS.contains(&name.as_str()) => {
                photo.get_or_insert(bytes);
            }
            Part::File { bytes, .. } if OVERLAY_FIELDS.contains(&name.as_str()) => {
                upload.overlay.get_or_insert(bytes);
            }
            Part::File { bytes, .. } => others.push(bytes),
            Part::Text { value, .. } if name == "style" => {
                let value = value.trim().to_string();
                if !value.is_empty() {
                    upload.style = Some(value);
                }
            }
            // A text value where a file belongs is a client mistake, not
            // "no overlay": silently drawing the default would hide it.
            Part::Text { .. } if PHOTO_FIELDS.contains(&name.as_str()) || OVERLAY_FIELDS.contains(&name.as_str()) => {
                return Err(ApiError::MissingField(format!(
                    "field `{name}` must be a file upload, not a text value"
                )));
            }
            Part::Text { .. } => {}
        }
    }
    match photo {
        Some(bytes) => upload.photo = bytes,
        None if others.len() == 2 && upload.overlay.is_none() => {
            let cat = others.pop().expect("two files");
            upload.overlay = others.pop();
            upload.photo = cat;
        }
        None if others.len() == 1 => upload.photo = others.pop().expect("one file"),
        None => {
            return Err(ApiError::MissingField(
                "no photo: send it in the multipart field `cat` (or `image`)".into(),
            ))
        }
    }
    if upload.photo.is_empty() {
        return Err(ApiError::MissingField("the photo field is an empty file".into()));
    }
    Ok(upload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: &[u8]) -> Part {
        Part::File { name: name.into(), content_type: "image/png".into(), bytes: bytes.to_vec() }
    }
    fn text(name: &str, value: &str) -> Part {
        Part::Text { name: name.into(), value: value.into() }
    }

    #[test]
    fn content_types() {
        assert_eq!(body_kind(Some("image/jpeg")), Ok(BodyKind::Image));
        assert_eq!(body_kind(Some("Image/PNG; q=1")), Ok(BodyKind::Image));
        assert_eq!(body_kind(Some("multipart/form-data; boundary=x")), Ok(BodyKind::Multipart));
        assert_eq!(body_kind(Some("multipart/form-data")).unwrap_err().status(), 400);
        assert_eq!(body_kind(Some("text/plain")).unwrap_err().status(), 415);
        assert_eq!(body_kind(Some("image/")).unwrap_err().status(), 415);
        assert_eq!(body_kind(None).unwrap_err().code(), "unsupported_media_type");
    }

    #[test]
    fn lengths() {
        assert_eq!(check_declared_length(None), Ok(None));
        assert_eq!(check_declared_length(Some("123")), Ok(Some(123)));
        assert_eq!(check_declared_length(Some("abc")).unwrap_err().code(), "bad_request");
        assert_eq!(check_declared_length(Some("0")).unwrap_err().code(), "bad_request");
        let big = (MAX_BODY_BYTES + 1).to_string();
        assert_eq!(check_declared_length(Some(&big)).unwrap_err().code(), "payload_too_large");
    }

    #[test]
    fn named_fields() {
        let up = upload_from_parts(vec![
            text("style", " aviator "),
            file("shades", b"o"),
            file("image", b"p"),
        ])
        .unwrap();
        assert_eq!(up, Upload { photo: b"p".to_vec(), overlay: Some(b"o".to_vec()), style: Some("aviator".into()) });
        let up = upload_from_parts(vec![file("cat", b"p"), file("glasses", b"o")]).unwrap();
        assert_eq!((up.photo, up.overlay), (b"p".to_vec(), Some(b"o".to_vec())));
    }

    #[test]
    fn two_unnamed_files_are_overlay_then_cat() {
        let up = upload_from_parts(vec![file("file1", b"overlay"), file("file2", b"cat")]).unwrap();
        assert_eq!(up.photo, b"cat");
        assert_eq!(up.overlay.as_deref(), Some(&b"overlay"[..]));
    }

    #[test]
    fn missing_or_wrong_photo() {
        assert_eq!(upload_from_parts(vec![]).unwrap_err().code(), "missing_field");
        assert_eq!(upload_from_parts(vec![text("style", "x")]).unwrap_err().code(), "missing_field");
        assert_eq!(upload_from_parts(vec![text("cat", "meow")]).unwrap_err().code(), "missing_field");
        let text_overlay = vec![file("cat", b"p"), text("glasses", "shades.png")];
        assert_eq!(upload_from_parts(text_overlay).unwrap_err().code(), "missing_field");
        assert_eq!(upload_from_parts(vec![file("cat", b"")]).unwrap_err().code(), "missing_field");
        let three = vec![file("a", b"1"), file("b", b"2"), file("c", b"3")];
        assert_eq!(upload_from_parts(three).unwrap_err().code(), "missing_field");
    }
}
