//! The one error type of the API and its mapping to HTTP (status, stable
//! `code`, RFC 9457 problem+json body). Every failure a client can see goes
//! through here, natively and in the worker.

use serde::Serialize;
use std::fmt;

/// A client-visible failure. The variant decides the status and the stable
/// `code`; the message is the human `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    BadRequest(String),
    MissingField(String),
    NotFound(String),
    MethodNotAllowed { allowed: Vec<&'static str> },
    PayloadTooLarge(String),
    ImageTooLarge(String),
    UnsupportedMediaType(String),
    BadImage(String),
    BadOverlay(String),
    NoCatFound,
    /// The upload stalled, or did not finish in time (408).
    RequestTimeout(String),
    /// This client is over the rate limit; try again after this many seconds.
    RateLimited { retry_after_s: u32 },
    /// The isolate's memory is taken by other requests; try again after
    /// this many seconds (503).
    Busy { detail: String, retry_after_s: u32 },
    Internal(String),
}

/// The problem+json body (RFC 9457) plus our stable `code`.
#[derive(Debug, Serialize, PartialEq)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) | ApiError::MissingField(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::RequestTimeout(_) => 408,
            ApiError::PayloadTooLarge(_) | ApiError::ImageTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::BadImage(_) | ApiError::BadOverlay(_) | ApiError::NoCatFound => 422,
            ApiError::RateLimited { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Busy { .. } => 503,
        }
    }

    /// Stable snake_case code clients can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::MissingField(_) => "missing_field",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::ImageTooLarge(_) => "image_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::BadImage(_) => "bad_image",
            ApiError::BadOverlay(_) => "bad_overlay",
            ApiError::NoCatFound => "no_cat_found",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Busy { .. } => "busy",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::MissingField(_) => "Missing field",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::ImageTooLarge(_) => "Image too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::BadImage(_) => "Bad image",
            ApiError::BadOverlay(_) => "Bad overlay",
            ApiError::NoCatFound => "No cat found",
            ApiError::RequestTimeout(_) => "Request timeout",
            ApiError::RateLimited { .. } => "Too many requests",
            ApiError::Busy { .. } => "Busy",
            ApiError::Internal(_) => "Internal error",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            ApiError::MethodNotAllowed { allowed } => {
                format!("this route accepts {}", allowed.join(", "))
            }
            ApiError::NoCatFound => "no cat face was found in the photo".to_string(),
            ApiError::RateLimited { retry_after_s } => {
                format!("too many photos from this client: try again in {retry_after_s} s")
            }
            ApiError::Busy { detail, .. } => detail.clone(),
            ApiError::BadRequest(d)
            | ApiError::MissingField(d)
            | ApiError::NotFound(d)
            | ApiError::PayloadTooLarge(d)
            | ApiError::ImageTooLarge(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::BadImage(d)
            | ApiError::BadOverlay(d)
            | ApiError::RequestTimeout(d)
            | ApiError::Internal(d) => d.clone(),
        }
    }

    /// Extra headers the status requires (`Allow` on 405, `Retry-After` on
    /// 429 and 503).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::MethodNotAllowed { allowed } => vec![("Allow", allowed.join(", "))],
            ApiError::RateLimited { retry_after_s } | ApiError::Busy { retry_after_s, .. } => {
                vec![("Retry-After", retry_after_s.to_string())]
            }
            _ => Vec::new(),
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("https://edgecat.dev/problems/{}", self.code().replace('_', "-")),
            title: self.title(),
            status: self.status(),
            detail: self.detail(),
            code: self.code(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.problem()).expect("problem serializes")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_status_code_and_problem_body() {
        let cases = [
            (ApiError::BadRequest("x".into()), 400, "bad_request"),
            (ApiError::MissingField("cat".into()), 400, "missing_field"),
            (ApiError::NotFound("/nope".into()), 404, "not_found"),
            (ApiError::MethodNotAllowed { allowed: vec!["GET"] }, 405, "method_not_allowed"),
            (ApiError::PayloadTooLarge("big".into()), 413, "payload_too_large"),
            (ApiError::ImageTooLarge("big".into()), 413, "image_too_large"),
            (ApiError::UnsupportedMediaType("t".into()), 415, "unsupported_media_type"),
            (ApiError::BadImage("b".into()), 422, "bad_image"),
            (ApiError::BadOverlay("b".into()), 422, "bad_overlay"),
            (ApiError::NoCatFound, 422, "no_cat_found"),
            (ApiError::RequestTimeout("slow".into()), 408, "request_timeout"),
            (ApiError::RateLimited { retry_after_s: 60 }, 429, "rate_limited"),
            (ApiError::Busy { detail: "full".into(), retry_after_s: 2 }, 503, "busy"),
            (ApiError::Internal("i".into()), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
            assert_eq!(v["status"], status, "{err}");
            assert_eq!(v["code"], code);
            assert_eq!(err.status(), status);
            assert!(v["type"].as_str().unwrap().ends_with(&code.replace('_', "-")));
            assert!(!v["title"].as_str().unwrap().is_empty());
            assert!(v["detail"].is_string());
        }
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let err = ApiError::MethodNotAllowed { allowed: vec!["GET", "HEAD", "OPTIONS"] };
        assert_eq!(err.headers(), vec![("Allow", "GET, HEAD, OPTIONS".to_string())]);
        assert!(err.detail().contains("GET, HEAD, OPTIONS"));
    }

    #[test]
    fn rate_limited_and_busy_say_when_to_retry() {
        assert_eq!(ApiError::RateLimited { retry_after_s: 60 }.headers(), vec![("Retry-After", "60".to_string())]);
        let busy = ApiError::Busy { detail: "d".into(), retry_after_s: 2 };
        assert_eq!(busy.headers(), vec![("Retry-After", "2".to_string())]);
    }
}
