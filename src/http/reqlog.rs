//! The request log: one structured record per request, which the worker
//! hands to `console.log` as an object. Workers Logs indexes the fields of a
//! logged object (a JSON string would be one opaque `message`), so an
//! operator can filter and group by route, status, error code or stage.
//!
//! What goes in is fixed here, natively tested: never the photo, never a
//! header, never the client's address; the route is the endpoint's own path
//! (a bounded set), not the request's, and the method is cut short.

use serde_json::{json, Map, Value};

/// Marks the worker's own records among everything else in the logs.
pub const EVENT: &str = "request";
/// Unknown paths share one route, so the field's values stay a small set.
pub const OTHER_ROUTE: &str = "other";
/// A method is a token of any length; a longer one is cut to this.
pub const METHOD_MAX: usize = 16;

/// What the worker knows about a request once it has answered it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestLog<'a> {
    /// The endpoint's path (`Endpoint::path`), `None` when no route matched.
    pub route: Option<&'static str>,
    pub method: &'a str,
    pub status: u16,
    /// The problem+json `code` of an error answer.
    pub error: Option<&'static str>,
    /// Cats found, for the photo endpoints that got that far.
    pub cats: Option<usize>,
    /// The body's size: the bytes read, else its declared Content-Length.
    pub bytes_in: Option<u64>,
    /// The answer's body as sent (0 for HEAD).
    pub bytes_out: u64,
    /// The answer's Server-Timing header, if any.
    pub server_timing: Option<&'a str>,
    /// Requests this instance has served, this one included.
    pub instance_requests: u64,
}

impl RequestLog<'_> {
    /// The record, as the object to log.
    pub fn record(&self) -> Value {
        let method: String = self.method.chars().take(METHOD_MAX).collect();
        json!({
            "event": EVENT,
            "route": self.route.unwrap_or(OTHER_ROUTE),
            "method": method,
            "status": self.status,
            "error": self.error,
            "cats": self.cats,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "timing_ms": self.server_timing.map(stages).unwrap_or_default(),
            "instance_requests": self.instance_requests,
        })
    }
}

/// Server-Timing (`name;dur=1.23, other;dur=4.5`) as `{name: ms, ...}`;
/// entries without a readable `dur` are left out.
pub fn stages(header: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for entry in header.split(',') {
        let mut params = entry.split(';').map(str::trim);
        let Some(name) = params.next().filter(|n| !n.is_empty()) else { continue };
        let dur = params.find_map(|p| p.strip_prefix("dur=")).and_then(|d| d.parse::<f64>().ok());
        if let Some(ms) = dur.filter(|d| d.is_finite()) {
            out.insert(name.to_string(), json!(ms));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_request_logs_its_outcome_and_stages() {
        let log = RequestLog {
            route: Some("/api/hipsterize"),
            method: "POST",
            status: 200,
            cats: Some(2),
            bytes_in: Some(123_456),
            bytes_out: 98_765,
            server_timing: Some("decode;dur=1.50, detect;dur=20.25, total;dur=30.00"),
            instance_requests: 7,
            ..RequestLog::default()
        };
        assert_eq!(
            log.record(),
            json!({
                "event": "request", "route": "/api/hipsterize", "method": "POST", "status": 200,
                "error": null, "cats": 2, "bytes_in": 123_456, "bytes_out": 98_765,
                "timing_ms": {"decode": 1.5, "detect": 20.25, "total": 30.0},
                "instance_requests": 7,
            })
        );
    }

    #[test]
    fn an_error_logs_its_code_and_no_timing() {
        let r = RequestLog { route: Some("/api/detect"), method: "POST", status: 415, error: Some("unsupported_media_type"), ..RequestLog::default() }.record();
        assert_eq!(r["error"], "unsupported_media_type");
        assert_eq!(r["status"], 415);
        assert_eq!(r["cats"], Value::Null);
        assert_eq!(r["bytes_in"], Value::Null);
        assert_eq!(r["timing_ms"], json!({}));
    }

    #[test]
    fn unknown_routes_and_long_methods_stay_bounded() {
        let method = "X".repeat(200);
        let r = RequestLog { method: &method, status: 404, error: Some("not_found"), ..RequestLog::default() }.record();
        assert_eq!(r["route"], OTHER_ROUTE);
        assert_eq!(r["method"].as_str().unwrap().len(), METHOD_MAX);
    }

    #[test]
    fn the_record_has_exactly_the_documented_fields() {
        // Nothing else (no header, no address) can slip in through a new field.
        let r = RequestLog::default().record();
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["bytes_in", "bytes_out", "cats", "error", "event", "instance_requests", "method", "route", "status", "timing_ms"]
        );
    }

    #[test]
    fn stages_skip_entries_without_a_duration() {
        let s = stages("cache;desc=hit, decode;dur=2, bad;dur=x, ;dur=1, load;desc=\"a\";dur=3.5");
        assert_eq!(Value::Object(s), json!({"decode": 2.0, "load": 3.5}));
    }
}
