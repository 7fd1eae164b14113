//! A runtime-neutral reply (status, headers, body) and its one conversion
//! into a `worker::Response`. Errors become problem+json here and only here.

use edgecat::error::PROBLEM_CONTENT_TYPE;
use edgecat::ApiError;
use worker::{Headers, Response, Result};

pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::bytes(status, "application/json", value.to_string().into_bytes())
    }

    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply { status, headers: vec![("Content-Type", content_type.to_string())], body }
    }

    pub fn error(err: &ApiError) -> Reply {
        Reply::bytes(err.status(), PROBLEM_CONTENT_TYPE, err.to_json().into_bytes())
            .headers(err.headers())
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
