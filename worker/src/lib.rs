//! The Cloudflare Worker: turns HTTP requests into calls on the edgecat core
//! and core results (or `ApiError`s) into HTTP responses. Everything that can
//! be decided without the runtime lives in the core crate.

use edgecat::http::budget::{self, Reservation};
use edgecat::http::cors::CorsPolicy;
use edgecat::http::input::{self, BodyKind, Upload};
use edgecat::http::routes::{self, Endpoint, Route};
use edgecat::http::info;
use edgecat::{pipeline, ApiError};
use wasm_bindgen::JsCast;
use std::sync::OnceLock;
use worker::{event, Context, Env, Headers, Response, Result};

mod admission;
mod body;
mod http;
mod incoming;
mod limits;
use admission::Admission;
use body::Deadlines;
use http::Reply;
use incoming::Incoming;

/// Runs once per isolate, before its first request. The models load here,
/// and the warm-up passes run (`pipeline::preload`): on Cloudflare start-up
/// overlaps the TLS handshake, and no request pays for them (BENCHMARKS.md
/// has the figures for the choices). workerd's clock stands still outside
/// requests, so this work cannot time itself here; the start-up guard
/// (`/api/__load`) and `make bench` measure it from outside.
#[event(start)]
fn start() {
    run_constructors();
    console_error_panic_hook::set_once();
    pipeline::preload();
}

/// tract registers its kernels and transforms with `inventory`, whose
/// constructors wasm-ld runs from `__wasm_call_ctors`. A module that never
/// calls it itself counts as a "command", and wasm-ld then wraps every
/// export (malloc, free, … each JS↔Wasm call) in a call to it: ~0.3 ms per
/// warm request, re-running every constructor. Called once here, from the
/// start export, it runs once per instance, before anything else needs it.
#[cfg(target_arch = "wasm32")]
fn run_constructors() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker's constructor list; inventory's are idempotent.
    unsafe { __wasm_call_ctors() }
}

#[cfg(not(target_arch = "wasm32"))]
fn run_constructors() {}

/// Requests this Wasm instance has served. /api/health reports it: a count
/// that drops means the instance (or the isolate) was replaced.
static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[event(fetch)]
async fn fetch(mut req: Incoming, env: Env, _ctx: Context) -> Result<Response> {
    let served = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let settings = settings(&env);
    let cors = &settings.cors;
    let origin = req.headers().get("Origin")?;
    let method = req.method();
    let path = req.path();

    let resolved = routes::resolve(&method, path, settings.test_routes);
    let route = match &resolved {
        Ok(Route::Preflight(e) | Route::Call(e)) => Some(e.path()),
        Err(_) => None,
    };
    let reply = match resolved {
        Ok(Route::Preflight(endpoint)) => {
            Reply::empty(204).headers(cors.preflight_headers(origin.as_deref(), endpoint.methods()))
        }
        Ok(Route::Call(endpoint)) => match call(endpoint, &mut req, &env, settings).await {
            Ok(reply) => reply,
            Err(err) => Reply::error(&err),
        },
        Err(err) => Reply::error(&err),
    };
    // An answer sent before the body was read (415, 413 by length, 404, …)
    // is only sent once the rest of the upload is discarded; see body::drain.
    if !req.body_used() {
        if let Ok(stream) = req.stream() {
            body::drain(stream, header(req.headers(), "Content-Length").as_deref()).await;
        }
    }
    let reply = reply.headers(cors.response_headers(origin.as_deref()));
    let head = method == "HEAD";
    let mut log = reply.log(&method, head);
    log.route = route;
    log.instance_requests = served;
    if log.bytes_in.is_none() {
        log.bytes_in = header(req.headers(), "Content-Length").and_then(|v| v.trim().parse().ok());
    }
    log_record(&log.record());
    reply.into_response(head)
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(value: &wasm_bindgen::JsValue);
}

/// The request log's record, logged as an object (not a JSON string): Workers
/// Logs indexes an object's fields (src/http/reqlog.rs).
fn log_record(record: &serde_json::Value) {
    if let Ok(object) = js_sys::JSON::parse(&record.to_string()) {
        console_log(&object);
    }
}

fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|m| m.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64)
        .unwrap_or(0.0)
}

/// The version metadata binding's id, tag and timestamp (wrangler.toml
/// `[version_metadata]`), read as plain properties: the binding is a plain
/// object, whatever its constructor is called.
fn deployment(env: &Env) -> serde_json::Value {
    let meta = js_sys::Reflect::get(env, &"CF_VERSION_METADATA".into()).ok().filter(|m| m.is_object());
    let field = |name: &str| meta.as_ref().and_then(|m| js_sys::Reflect::get(m, &name.into()).ok()).and_then(|v| v.as_string());
    let (id, tag, timestamp) = (field("id"), field("tag"), field("timestamp"));
    info::deployment(id.as_deref(), tag.as_deref(), timestamp.as_deref())
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

/// What requests are served under, from wrangler.toml's `[vars]`: read once
/// per isolate (an isolate runs one version, whose vars do not change)
/// rather than from the environment six times a request.
struct Settings {
    cors: CorsPolicy,
    /// Test-only endpoints are routed (`EDGECAT_TEST_ROUTES=1`).
    test_routes: bool,
    /// The abuse limit is on (`RATE_LIMIT`).
    rate_limit: bool,
    limits: RequestLimits,
}

fn settings(env: &Env) -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| Settings {
        cors: CorsPolicy::parse(var(env, "ALLOWED_ORIGINS").as_deref()),
        test_routes: var(env, "EDGECAT_TEST_ROUTES").as_deref() == Some("1"),
        rate_limit: edgecat::http::ratelimit::enabled(var(env, edgecat::http::ratelimit::SWITCH_VAR).as_deref()),
        limits: RequestLimits::from_env(env),
    })
}

/// The limits a request is held to, each a `[vars]` entry of wrangler.toml
/// (milliseconds) with a default that suits a person on a slow link.
struct RequestLimits {
    deadlines: Deadlines,
    admission: Admission,
}

impl RequestLimits {
    fn from_env(env: &Env) -> RequestLimits {
        let ms = |name: &str, default: u64| var(env, name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        RequestLimits {
            deadlines: Deadlines {
                idle_ms: ms("UPLOAD_IDLE_TIMEOUT_MS", 10_000),
                total_ms: ms("UPLOAD_TIMEOUT_MS", 60_000),
            },
            admission: Admission { max_wait_ms: ms("QUEUE_WAIT_MS", 10_000) },
        }
    }
}

async fn call(endpoint: Endpoint, req: &mut Incoming, env: &Env, settings: &Settings) -> std::result::Result<Reply, ApiError> {
    // The abuse limit, first: before the body is read or a pixel decoded.
    limits::check(env, settings.rate_limit, endpoint, req.headers()).await?;
    let limits = &settings.limits;
    // What this request holds in the isolate's memory; given back when it
    // ends, whichever way.
    let mut held = budget::ISOLATE.reservation();
    match endpoint {
        Endpoint::Health => {
            let mut body = info::health();
            // Linear memory only grows, so this is the isolate's Wasm peak:
            // what the 128 MB limit is measured against (make bench reads it).
            body["wasm_memory_bytes"] = wasm_memory_bytes().into();
            body["instance_requests"] = SERVED.load(std::sync::atomic::Ordering::Relaxed).into();
            body["models_loaded"] = pipeline::models_loaded().into();
            body["warmed_up"] = pipeline::warmed_up().into();
            body["deployment"] = deployment(env);
            body["memory_budget"] = serde_json::json!({
                "capacity_bytes": budget::ISOLATE.capacity(),
                "held_bytes": budget::ISOLATE.held(),
                "peak_held_bytes": budget::ISOLATE.peak(),
            });
            Ok(Reply::json(200, &body))
        }
        Endpoint::Models => Ok(Reply::json(200, &info::models())),
        Endpoint::OpenApi => Ok(Reply::bytes(200, "application/json", edgecat::http::openapi::DOCUMENT.into())),
        Endpoint::Warm => {
            limits.admission.admit(&mut held, pipeline::WARM_UP_BYTES).await?;
            let w = pipeline::warm()?;
            let body = serde_json::json!({
                "models_loaded": true, "model_load_ms": w.model_load_ms, "warm_up_ms": w.warm_up_ms,
            });
            let timing = format!("model_load;dur={:.2}, warm_up;dur={:.2}", w.model_load_ms, w.warm_up_ms);
            Ok(Reply::json(200, &body).headers(vec![("Server-Timing", timing)]))
        }
        Endpoint::Panic => panic!("deliberate panic from the test-only route"),
        Endpoint::Load => {
            let again = pipeline::start_up_again()?;
            Ok(Reply::json(200, &serde_json::json!({ "model_load_ms": again.model_load_ms, "warm_up_ms": again.warm_up_ms })))
        }
        Endpoint::Detect => {
            let upload = read_upload(req, &mut held, limits).await?;
            let need = pipeline::memory_need(&upload, None)?;
            yield_to_runtime().await;
            hold_for_pipeline(limits, &mut held, need).await?;
            let detection = pipeline::detect(&upload.photo)?;
            let timing = detection.timings_ms.server_timing();
            let body = serde_json::to_value(&detection).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(Reply::json(200, &body)
                .headers(vec![("Server-Timing", timing)])
                .cats(detection.cats.len())
                .bytes_in(upload_bytes(&upload)))
        }
        Endpoint::Hipsterize => {
            let query = req.url().ok().and_then(|u| {
                u.query_pairs().find(|(k, _)| k == "format").map(|(_, v)| v.into_owned())
            });
            let accept = header(req.headers(), "Accept");
            let format = pipeline::output_format(query.as_deref(), accept.as_deref())?;
            let upload = read_upload(req, &mut held, limits).await?;
            let need = pipeline::memory_need(&upload, Some(format))?;
            yield_to_runtime().await;
            hold_for_pipeline(limits, &mut held, need).await?;
            let out = pipeline::hipsterize(&upload, format)?;
            Ok(Reply::bytes(200, out.format.content_type(), out.bytes)
                .headers(vec![
                    ("X-Cats-Found", out.cats.to_string()),
                    ("Server-Timing", out.timings.server_timing()),
                ])
                .cats(out.cats)
                .bytes_in(upload_bytes(&upload)))
        }
    }
}

/// The files of an upload as read (photo and overlay), for the request log.
fn upload_bytes(upload: &Upload) -> usize {
    upload.photo.len() + upload.overlay.as_ref().map_or(0, Vec::len)
}

/// Read the photo (and overlay/style) from the request, enforcing the body
/// limit and the deadlines before and while reading, and reserving what it
/// declares before a byte is read: a burst of big uploads queues here.
async fn read_upload(
    req: &mut Incoming,
    held: &mut Reservation<'_>,
    limits: &RequestLimits,
) -> std::result::Result<Upload, ApiError> {
    let headers = req.headers();
    let kind = input::body_kind(header(headers, "Content-Type").as_deref())?;
    let declared = input::check_declared_length(header(headers, "Content-Length").as_deref())?;
    limits.admission.admit(held, budget::upfront_estimate(declared.unwrap_or(0))).await?;
    let (deadlines, admission) = (limits.deadlines, limits.admission);
    match kind {
        BodyKind::Image => Ok(Upload { photo: body::read_limited(req, held, deadlines, admission).await?, ..Upload::default() }),
        BodyKind::Multipart => input::upload_from_parts(body::read_parts(req, held, deadlines, admission).await?),
    }
}

/// Hold what the photo needs, right before the pipeline, which then runs to
/// its end without yielding: photos are processed one at a time, so beside
/// the uploads in flight only the running photo's pixels need room, and a
/// burst of small photos never waits on memory it would not use at once.
async fn hold_for_pipeline(limits: &RequestLimits, held: &mut Reservation<'_>, need: u64) -> Result<(), ApiError> {
    limits.admission.hold_exactly(held, need).await
}

/// Let workerd look at its sockets before the CPU-heavy part of a request.
/// Its event loop polls sockets and timers only when it has nothing else to
/// run; with a steady queue of CPU-bound requests it went 20–30 s without
/// polling (strace), starving every other connection, then timed them all
/// out at once (dropped connections, and the 503s of wrangler's proxy). A
/// zero-length timer can only fire from that poll, so each request passes
/// through it once.
async fn yield_to_runtime() {
    worker::Delay::from(std::time::Duration::ZERO).await;
}

pub(crate) fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}
