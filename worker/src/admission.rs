//! Waiting for room in the isolate's memory budget (`edgecat::http::budget`): a
//! request that does not fit waits its turn, a bounded time, then is
//! answered 503 `busy` with `Retry-After`.

use std::time::Duration;

use edgecat::http::budget::Reservation;
use edgecat::ApiError;
use worker::Delay;

/// How often a waiting request looks again (only another request's end can
/// make room; a photo takes tens of ms, so a few ms of lag is noise).
const STEP_MS: u64 = 5;
/// What a 503 `busy` asks the client to wait: a photo takes tens of ms.
const RETRY_AFTER_S: u32 = 2;

#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// How long a request may wait for room before it is answered 503.
    pub max_wait_ms: u64,
}

impl Admission {
    /// Hold exactly `total` bytes: give back any excess of an earlier
    /// estimate, or grow, waiting for room if need be.
    pub async fn hold_exactly(self, held: &mut Reservation<'_>, total: u64) -> Result<(), ApiError> {
        held.shrink_to(total);
        self.admit(held, total).await
    }

    /// Grow `held` to `total` bytes, waiting for room if need be.
    pub async fn admit(self, held: &mut Reservation<'_>, total: u64) -> Result<(), ApiError> {
        if held.try_grow_to(total) {
            return Ok(());
        }
        if !held.can_ever_fit(total) {
            return Err(ApiError::ImageTooLarge(format!(
                "this request needs about {} MB; the worker has {} MB for all its requests",
                total.div_ceil(1_000_000),
                edgecat::http::budget::ISOLATE.capacity() / 1_000_000
            )));
        }
        // First come, first served: the ticket keeps this request's place
        // (others pass only with what leaves it room) until it is dropped.
        // Polled on this request's own timer: a waker woken by another
        // request would resume this one inside that request's I/O context,
        // which workerd cancels as a hung request.
        let ticket = held.wait_in_line(total);
        // Real time, not a count of polls: a poll can come late, after
        // another request's photo (workerd's clock moves at each timer).
        let started = js_sys::Date::now();
        while js_sys::Date::now() - started < self.max_wait_ms as f64 {
            Delay::from(Duration::from_millis(STEP_MS)).await;
            if held.try_grow_in_line(total, &ticket) {
                return Ok(());
            }
        }
        Err(ApiError::Busy {
            detail: format!(
                "the worker is busy: this photo needs {} MB of its memory, and other photos hold it; try again in {RETRY_AFTER_S} s",
                total.div_ceil(1_000_000)
            ),
            retry_after_s: RETRY_AFTER_S,
        })
    }
}
