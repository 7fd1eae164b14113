//! The request as workerd hands it over. `worker::Request` copies the
//! request's `cf` object on arrival, which workerd builds afresh (from JSON)
//! at each read; edgecat never reads it, so the fetch handler takes the raw
//! request through this thin view instead.

use edgecat::http::routes;
use worker::{ByteStream, Error, FromRequest, Headers, Result, Url};

pub struct Incoming {
    raw: web_sys::Request,
    headers: Headers,
    /// The URL as serialized, crossed from JS once (path and query read it).
    url: String,
    /// The body's stream was taken (a second reader would find it locked).
    taken: bool,
}

impl FromRequest for Incoming {
    fn from_raw(request: web_sys::Request) -> std::result::Result<Self, impl Into<Box<dyn std::error::Error>>> {
        Ok::<_, Error>(Incoming { headers: Headers(request.headers()), url: request.url(), raw: request, taken: false })
    }
}

impl Incoming {
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The method as sent (workers-rs maps any it does not know to GET,
    /// which would answer PROPFIND, LOCK, … as GETs).
    pub fn method(&self) -> String {
        self.raw.method()
    }

    pub fn path(&self) -> &str {
        routes::path_of(&self.url)
    }

    pub fn url(&self) -> Result<Url> {
        self.url.parse().map_err(|e| Error::RustError(format!("{e}: {}", self.url)))
    }

    /// Whether the body has been read (from JS's point of view).
    pub fn body_used(&self) -> bool {
        self.raw.body_used()
    }

    /// The body, once.
    pub fn stream(&mut self) -> Result<ByteStream> {
        if self.taken {
            return Err(Error::BodyUsed);
        }
        let body = self.raw.body().ok_or_else(|| Error::RustError("no body for request".into()))?;
        self.taken = true;
        Ok(ByteStream::from(body))
    }
}
