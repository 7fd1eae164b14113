//! The trivial worker of `make bench`: answers 200 "ok" to anything. Built
//! the way edgecat's worker is (same workers-rs, wasm-bindgen, profile and
//! worker-build), its start-to-first-answer time under `wrangler dev` is what
//! the runtime costs on its own, which the bench subtracts from edgecat's.

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(mut req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    // Read the upload, as edgecat does, so both pay for receiving the photo.
    let _ = req.bytes().await;
    Response::ok("ok")
}
