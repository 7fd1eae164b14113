//! The HTTP layer: what only a server answering requests needs (routes,
//! request bodies, CORS, the OpenAPI contract, the isolate's memory budget,
//! the rate limit, the informational bodies). Behind the default feature
//! `http`: the worker enables it; the browser build (web/) leaves it out and
//! links the vision pipeline alone. Errors stay in `crate::error`, shared:
//! `ApiError` is what the pipeline returns, and its HTTP mapping is in one
//! place for both.

pub mod budget;
pub mod cors;
pub mod info;
pub mod input;
pub mod openapi;
pub mod ratelimit;
pub mod reqlog;
pub mod routes;
