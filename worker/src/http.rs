//! A runtime-neutral reply (status, headers, body) and its one conversion
//! into a `worker::Response`. Errors become problem+json here and only here.

use edgecat::error::PROBLEM_CONTENT_TYPE;
use edgecat::http::reqlog::RequestLog;
use edgecat::ApiError;
use worker::{Headers, Response, Result};

pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// For the request log (edgecat::http::reqlog), not sent as such.
    error_code: Option<&'static str>,
    cats: Option<usize>,
    bytes_in: Option<u64>,
}

impl Reply {
    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), error_code: None, cats: None, bytes_in: None }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::bytes(status, "application/json", value.to_string().into_bytes())
    }

    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply { headers: vec![("Content-Type", content_type.to_string())], body, ..Reply::empty(status) }
    }

    pub fn error(err: &ApiError) -> Reply {
        let mut reply = Reply::bytes(err.status(), PROBLEM_CONTENT_TYPE, err.to_json().into_bytes())
            .headers(err.headers());
        reply.error_code = Some(err.code());
        reply
    }

    /// Cats found, for the request log.
    pub fn cats(mut self, cats: usize) -> Reply {
        self.cats = Some(cats);
        self
    }

    /// The upload's size as read, for the request log.
    pub fn bytes_in(mut self, bytes: usize) -> Reply {
        self.bytes_in = Some(bytes as u64);
        self
    }

    /// The request log's view of this answer, as `into_response(head)` sends it.
    pub fn log<'a>(&'a self, method: &'a str, head: bool) -> RequestLog<'a> {
        RequestLog {
            method,
            status: self.status,
            error: self.error_code,
            cats: self.cats,
            bytes_in: self.bytes_in,
            bytes_out: if head { 0 } else { self.body.len() as u64 },
            server_timing: self.headers.iter().find(|(k, _)| *k == "Server-Timing").map(|(_, v)| v.as_str()),
            ..RequestLog::default()
        }
    }

    pub fn headers(mut self, headers: Vec<(&'static str, String)>) -> Reply {
        self.headers.extend(headers);
        self
    }

    pub fn into_response(self, head: bool) -> Result<Response> {
        let headers = Headers::new();
        headers.set("X-Content-Type-Options", "nosniff")?;
        headers.set("Cache-Control", "no-store")?;
        for (name, value) in &self.headers {
            headers.append(name, value)?;
        }
        let body = if head { Vec::new() } else { self.body };
        let response = if body.is_empty() { Response::empty()? } else { Response::from_bytes(body)? };
        Ok(response.with_status(self.status).with_headers(headers))
    }
}
