//! How many requests are being served, so that SIGTERM can exit as soon as none is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The number of requests in flight; each is counted while its [`InFlight`] guard lives.
#[derive(Default)]
pub struct InFlightCount(Arc<AtomicUsize>);

impl InFlightCount {
    /// Counts a request as in flight until the returned guard drops.
    pub fn start(&self) -> InFlight {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlight(self.0.clone())
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One request in flight: dropping it (with the request's context) ends the count.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_counts_until_its_guard_drops() {
        let count = InFlightCount::default();
        let first = count.start();
        let second = count.start();
        assert_eq!(count.get(), 2);
        drop(first);
        assert_eq!(count.get(), 1);
        drop(second);
        assert_eq!(count.get(), 0);
    }
}
