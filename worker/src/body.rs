//! Reading request bodies: the streamed size limit, the runtime's multipart
//! parser, and discarding what an early answer leaves unread.

use std::time::Duration;

use edgecat::http::budget::Reservation;
use edgecat::http::input::{self, Part};
use edgecat::ApiError;
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use wasm_bindgen::JsCast;
use worker::{ByteStream, Delay};

use crate::header;
use crate::incoming::Incoming;

/// At most this much more of an upload is read and thrown away after an
/// early answer, for at most this long, and only while it keeps coming.
const DRAIN_MAX_BYTES: u64 = 32 * 1000 * 1000;
const DRAIN_MAX_MS: f64 = 10_000.0;
const DRAIN_IDLE_MS: u64 = 1_000;
/// A timer that fires this much after it was due was held up by the
/// isolate (another request's pixels), not by the client.
const LATE_MS: f64 = 200.0;

/// Whether a timer armed at `asked` for `wait` ms and fired now was held up
/// by the isolate (`LATE_MS`).
fn fired_late(asked: f64, wait: f64) -> bool {
    js_sys::Date::now() - asked >= wait + LATE_MS
}

/// Read and discard the rest of a body before answering ("lingering close",
/// as HTTP/1.1 servers do after an early error). An answer sent while the
/// client is still uploading is lost in a reset (the client sees EPIPE, not
/// the answer), and under `wrangler dev` the proxy reuses that half-read
/// connection for the next request, which then fails with a 503 ("worker
/// restarted"). Bounded in bytes and time, so a huge or
/// never-ending upload is cut off (cancelled) instead: an upload that stops
/// sending is cut off after a second, one that keeps sending after 10 s.
///
/// An idle wait is judged by a timer that fired on time: one held up by the
/// isolate (another request's pixels) is not taken for an idle client.
pub async fn drain(mut stream: ByteStream, declared_length: Option<&str>) {
    if declared_length.and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > DRAIN_MAX_BYTES) {
        return; // dropping the stream cancels it
    }
    // Real time (workerd's clock moves at each I/O, so at each chunk).
    let started = js_sys::Date::now();
    let mut seen = 0u64;
    // The end, an error, or a second with nothing: dropping the stream
    // cancels whatever is left.
    let give_up = started + DRAIN_MAX_MS;
    while let Next::Chunk(Ok(chunk)) = next_within(&mut stream, DRAIN_IDLE_MS, give_up).await {
        seen += chunk.len() as u64;
        if seen > DRAIN_MAX_BYTES || js_sys::Date::now() - started > DRAIN_MAX_MS {
            break;
        }
    }
}

enum Next {
    Chunk(worker::Result<Vec<u8>>),
    End,
    Idle,
}

/// The stream's next chunk, its end, or `Idle` after `idle_ms` without one.
/// A timer that fires late (the isolate was busy and could not look at its
/// sockets meanwhile) does not count: the wait starts again, the read still
/// pending, so no data is lost and no client is cut off for our slowness.
/// It starts again only until `give_up` (a `Date::now()` instant: the
/// caller's overall deadline), so that a client stalled on an isolate that
/// is never idle still meets that deadline.
async fn next_within(stream: &mut ByteStream, idle_ms: u64, give_up: f64) -> Next {
    let mut next = stream.next();
    loop {
        let asked = js_sys::Date::now();
        match select(next, Delay::from(Duration::from_millis(idle_ms))).await {
            Either::Left((Some(chunk), _)) => return Next::Chunk(chunk),
            Either::Left((None, _)) => return Next::End,
            Either::Right((_, pending)) => {
                if !fired_late(asked, idle_ms as f64) || js_sys::Date::now() >= give_up {
                    return Next::Idle;
                }
                next = pending;
            }
        }
    }
}

/// How long an upload may take: with no data at all for `idle_ms`, or in
/// all for more than `total_ms`, it is answered 408 and everything it held
/// is dropped (the rest of the upload is cancelled, not read).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub idle_ms: u64,
    pub total_ms: u64,
}

/// Stream the body, failing as soon as it passes the limit (a chunked upload
/// declares no length), stalls or takes too long. Every byte is reserved
/// from the isolate's memory budget before it is held (`held` grows with
/// the body; waiting for room if need be).
///
/// One timer serves the whole read: it is armed for what is left of the
/// idle wait (or of the overall deadline, if that comes first) and armed
/// again only when it fires, not once a chunk (with a timer a chunk, the
/// timers and the chunk loop cost 0.5-1 ms of a 220 KB photo's CPU;
/// BENCHMARKS.md). A timer that fires late (the isolate was busy, not the
/// client) does not count, as in `next_within`.
pub async fn read_limited(
    req: &mut Incoming,
    held: &mut Reservation<'_>,
    deadlines: Deadlines,
    admission: crate::admission::Admission,
) -> std::result::Result<Vec<u8>, ApiError> {
    let mut stream = req.stream().map_err(|e| ApiError::BadRequest(format!("no body: {e}")))?;
    let mut body = Vec::new();
    // workerd's clock moves on at each I/O: each chunk's arrival is one.
    let started = js_sys::Date::now();
    let (idle, total) = (deadlines.idle_ms as f64, deadlines.total_ms as f64);
    // When data last came (or the read began): the idle wait runs from it.
    let mut last = started;
    let arm = |from: f64, last: f64| {
        let wait = ((last + idle).min(started + total) - from).max(1.0);
        (Delay::from(Duration::from_millis(wait.ceil() as u64)), from, wait)
    };
    let (mut timer, mut armed, mut wait) = arm(started, last);
    loop {
        // `next()` only polls the stream, which keeps its own pending read:
        // a read the timer interrupts goes on at the next call.
        let chunk = match select(stream.next(), &mut timer).await {
            Either::Left((Some(chunk), _)) => chunk,
            Either::Left((None, _)) => break,
            Either::Right(_) => {
                let now = js_sys::Date::now();
                if now - started >= total {
                    return Err(too_slow(deadlines, body.len()));
                }
                if fired_late(armed, wait) {
                    last = now; // held up by the isolate: the wait starts again
                } else if now - last >= idle {
                    // Dropping the stream (on return) cancels the rest of the upload.
                    return Err(stalled(deadlines, body.len()));
                }
                (timer, armed, wait) = arm(now, last);
                continue;
            }
        };
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body failed: {e}")))?;
        if body.len() as u64 + chunk.len() as u64 > input::MAX_BODY_BYTES {
            let err = input::check_length(body.len() as u64 + chunk.len() as u64).unwrap_err();
            drop(timer);
            drain(stream, None).await;
            return Err(err);
        }
        if let Err(busy) = admission.admit(held, (body.len() + chunk.len()) as u64).await {
            // A chunked upload outgrew what it could reserve: answered 503
            // while the client is still sending, so the rest is drained.
            drop(timer);
            drain(stream, None).await;
            return Err(busy);
        }
        body.extend_from_slice(&chunk);
        last = js_sys::Date::now();
        if last - started > total {
            return Err(too_slow(deadlines, body.len()));
        }
    }
    input::check_length(body.len() as u64)?;
    Ok(body)
}

fn stalled(d: Deadlines, got: usize) -> ApiError {
    ApiError::RequestTimeout(format!(
        "the upload stalled: no data for {} s after {got} bytes; send it again",
        d.idle_ms as f64 / 1000.0
    ))
}

fn too_slow(d: Deadlines, got: usize) -> ApiError {
    ApiError::RequestTimeout(format!(
        "the upload did not finish within {} s ({got} bytes arrived); send it again, or a smaller photo",
        d.total_ms as f64 / 1000.0
    ))
}

/// The runtime's own multipart parser, read in field order (the two-file
/// form of the tutorial depends on order).
pub async fn read_parts(
    req: &mut Incoming,
    held: &mut Reservation<'_>,
    deadlines: Deadlines,
    admission: crate::admission::Admission,
) -> std::result::Result<Vec<Part>, ApiError> {
    let bad = |what: &str| ApiError::BadRequest(format!("malformed multipart body: {what}"));
    // The body goes through the same streamed limit as a raw photo first: a
    // chunked upload declares no length, and formData() would read it all.
    let content_type = header(req.headers(), "Content-Type").unwrap_or_default();
    let body = js_sys::Uint8Array::from(&read_limited(req, held, deadlines, admission).await?[..]);
    let headers = web_sys::Headers::new().map_err(|_| bad("headers"))?;
    headers.set("Content-Type", &content_type).map_err(|_| bad("Content-Type"))?;
    let init = web_sys::ResponseInit::new();
    init.set_headers(&headers);
    let buffered = web_sys::Response::new_with_opt_buffer_source_and_init(Some(&body), &init)
        .map_err(|_| bad("unreadable"))?;
    let promise = buffered.form_data().map_err(|_| bad("unreadable"))?;
    let form: web_sys::FormData = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|_| bad("the runtime could not parse it"))?
        .unchecked_into();
    let entries = js_sys::try_iter(&form).ok().flatten().ok_or_else(|| bad("not iterable"))?;
    let mut parts = Vec::new();
    for entry in entries {
        let entry: js_sys::Array = entry.map_err(|_| bad("entry"))?.unchecked_into();
        let name = entry.get(0).as_string().unwrap_or_default();
        let value = entry.get(1);
        if let Some(text) = value.as_string() {
            parts.push(Part::Text { name, value: text });
        } else if let Ok(file) = value.dyn_into::<web_sys::File>() {
            let content_type = file.type_();
            let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
                .await
                .map_err(|_| bad("file part"))?;
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            parts.push(Part::File { name, content_type, bytes });
        }
    }
    Ok(parts)
}
