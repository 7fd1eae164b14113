//! One memory budget for the whole isolate. A Worker isolate has 128 MB for
//! everything its concurrent requests hold, and Wasm memory never shrinks:
//! a burst of uploads that each fit alone could still take the isolate
//! over, and it would be killed with every request in it. Each request
//! reserves what it will hold (its upload while it arrives, then what
//! decoding and processing its photo needs, from the header) before it holds
//! it; the worker waits for room, a bounded time, then answers 503 `busy`.

use std::collections::VecDeque;
use std::sync::Mutex;

/// What the requests of one isolate may hold at once in Wasm memory: uploads,
/// decoded pixels, buffers, output. The models and the runtime's own state
/// (~15 MB of Wasm after start-up) come on top, and the rest of the 128 MB
/// is the V8 side (the JS glue, request and response bodies in flight).
/// Equal to the one-photo limit, so that any photo that fits alone is
/// admitted once the isolate is idle.
pub const ISOLATE_MEMORY_BUDGET: u64 = crate::codec::MEMORY_BUDGET;

/// What a request reserves before reading an upload of `body_bytes`: most
/// of what its photo will need, guessed from its size (a photo's JPEG is
/// ~0.1–0.5 byte a pixel, and processing needs ~7 bytes a pixel), so that a
/// burst of big uploads is read one after another instead of all at once,
/// each then holding its body while it waits for the memory its pixels
/// need (which none of them could get). The exact need, from the header,
/// replaces it once the upload has arrived.
pub fn upfront_estimate(body_bytes: u64) -> u64 {
    body_bytes.saturating_mul(UPFRONT_FACTOR).min(ISOLATE_MEMORY_BUDGET)
}

const UPFRONT_FACTOR: u64 = 12;

#[derive(Debug)]
pub struct Budget {
    capacity: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    held: u64,
    peak: u64,
    /// Requests waiting for room, first come first served: (ticket, bytes
    /// more it needs).
    queue: VecDeque<(u64, u64)>,
    next_ticket: u64,
}

impl Budget {
    pub const fn new(capacity: u64) -> Budget {
        Budget {
            capacity,
            state: Mutex::new(State { held: 0, peak: 0, queue: VecDeque::new(), next_ticket: 0 }),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes reserved now.
    pub fn held(&self) -> u64 {
        self.lock().held
    }

    /// The most ever reserved at once.
    pub fn peak(&self) -> u64 {
        self.lock().peak
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counts half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `bytes` more, if they fit now. While requests wait, the first in
    /// line takes what fits, and anyone else only what would still leave it
    /// room: first come, first served, so a big photo is not starved by a
    /// stream of small ones.
    fn take(&self, bytes: u64, ticket: Option<u64>) -> bool {
        let mut s = self.lock();
        let fits = match s.queue.front() {
            Some(&(head, _)) if Some(head) == ticket => s.held + bytes <= self.capacity,
            Some(&(_, head_needs)) => s.held + bytes + head_needs <= self.capacity,
            None => s.held + bytes <= self.capacity,
        };
        if fits {
            s.held += bytes;
            s.peak = s.peak.max(s.held);
        }
        fits
    }

    fn give_back(&self, bytes: u64) {
        let mut s = self.lock();
        s.held = s.held.saturating_sub(bytes);
    }

    /// An empty reservation, to grow as the request learns what it needs.
    pub fn reservation(&self) -> Reservation<'_> {
        Reservation { budget: self, bytes: 0 }
    }
}

/// Bytes reserved by one request; given back when dropped (on every path
/// out of the request, errors and panics included).
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl<'a> Reservation<'a> {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grow to `total` bytes if that fits now; never shrinks. False when it
    /// does not fit (the caller waits in line, `wait_in_line`, and tries
    /// again with its ticket, or gives up).
    pub fn try_grow_to(&mut self, total: u64) -> bool {
        self.grow(total, None)
    }

    /// `try_grow_to`, for a request waiting in line with `ticket`.
    pub fn try_grow_in_line(&mut self, total: u64, ticket: &Ticket<'_>) -> bool {
        self.grow(total, Some(ticket.id))
    }

    fn grow(&mut self, total: u64, ticket: Option<u64>) -> bool {
        if total <= self.bytes {
            return true;
        }
        if self.budget.take(total - self.bytes, ticket) {
            self.bytes = total;
            true
        } else {
            false
        }
    }

    /// Give back what is held above `total` (the exact need, once known,
    /// replacing an estimate).
    pub fn shrink_to(&mut self, total: u64) {
        if total < self.bytes {
            self.budget.give_back(self.bytes - total);
            self.bytes = total;
        }
    }

    /// Take a place in line to grow to `total`; the place is left when the
    /// ticket is dropped.
    pub fn wait_in_line(&self, total: u64) -> Ticket<'a> {
        let mut s = self.budget.lock();
        let id = s.next_ticket;
        s.next_ticket += 1;
        s.queue.push_back((id, total.saturating_sub(self.bytes)));
        Ticket { budget: self.budget, id }
    }

    /// Whether `total` could ever fit, with nothing else held.
    pub fn can_ever_fit(&self, total: u64) -> bool {
        total <= self.budget.capacity
    }
}

/// A request's place in line for memory.
#[derive(Debug)]
pub struct Ticket<'a> {
    budget: &'a Budget,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.budget.lock().queue.retain(|&(id, _)| id != self.id);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// The isolate's budget (one per Wasm instance).
pub static ISOLATE: Budget = Budget::new(ISOLATE_MEMORY_BUDGET);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_add_up_to_the_capacity_and_no_more() {
        let budget = Budget::new(100);
        let mut a = budget.reservation();
        assert!(a.try_grow_to(60));
        let mut b = budget.reservation();
        assert!(!b.try_grow_to(41), "60 + 41 > 100");
        assert!(b.try_grow_to(40));
        assert_eq!(budget.held(), 100);
        assert!(!a.try_grow_to(61));
        assert_eq!(a.bytes(), 60, "a failed grow keeps what was held");
        drop(b);
        assert_eq!(budget.held(), 60);
        assert!(a.try_grow_to(100));
        assert!(a.try_grow_to(10), "never shrinks");
        assert_eq!(a.bytes(), 100);
        drop(a);
        assert_eq!(budget.held(), 0);
        assert_eq!(budget.peak(), 100);
    }

    #[test]
    fn while_a_request_waits_in_line_no_later_one_passes_it() {
        let budget = Budget::new(100);
        let mut running = budget.reservation();
        assert!(running.try_grow_to(70));
        let mut big = budget.reservation();
        assert!(!big.try_grow_to(50));
        let ticket = big.wait_in_line(50);
        // 20 would fit, but the first in line (50 more) would then wait on.
        let mut small = budget.reservation();
        assert!(!small.try_grow_to(20));
        assert!(!big.try_grow_in_line(50, &ticket));
        running.shrink_to(40);
        assert_eq!(budget.held(), 40);
        assert!(!small.try_grow_to(20), "40 + 20 + the 50 in line > 100");
        assert!(big.try_grow_in_line(50, &ticket));
        drop(ticket);
        assert!(small.try_grow_to(10), "the line is empty again: 40 + 50 + 10");
    }

    #[test]
    fn upfront_estimate_is_capped_by_the_budget() {
        assert_eq!(upfront_estimate(1_000_000), 12_000_000);
        assert_eq!(upfront_estimate(20_000_000), ISOLATE_MEMORY_BUDGET);
    }

    #[test]
    fn a_reservation_is_given_back_when_its_request_panics() {
        let budget = Budget::new(10);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut r = budget.reservation();
            assert!(r.try_grow_to(10));
            panic!("handler failed");
        }));
        assert!(r.is_err());
        assert_eq!(budget.held(), 0);
        assert!(!budget.reservation().can_ever_fit(11));
    }
}
