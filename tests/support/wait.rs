//! Waiting on facts (a log line, a metric, a file), never on time alone, with one patience
//! multiplier for every deadline: `PASSTHRU_TEST_PATIENCE` (default 1; an integer or a float)
//! stretches them all, so a loaded CI machine slows the tests down instead of failing them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The multiplier from `PASSTHRU_TEST_PATIENCE`; 1 when unset. A value that is not a positive
/// number is a mistake worth stopping for, not one to ignore.
pub fn patience() -> f64 {
    static PATIENCE: OnceLock<f64> = OnceLock::new();
    *PATIENCE.get_or_init(|| match std::env::var("PASSTHRU_TEST_PATIENCE") {
        Err(_) => 1.0,
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => factor,
            _ => panic!("PASSTHRU_TEST_PATIENCE={text:?} is not a positive number"),
        },
    })
}

/// `timeout` stretched by [`patience`].
pub fn patient(timeout: Duration) -> Duration {
    timeout.mul_f64(patience())
}

/// Polls `check` every `every` until it gives Some; None once `timeout` (stretched by
/// [`patience`]) has passed. For callers that report the timeout themselves.
pub fn poll<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + patient(timeout);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Polls `condition` every 10 ms until it holds; panics with `what` after `timeout` (stretched
/// by [`patience`]).
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    if poll(timeout, Duration::from_millis(10), || {
        condition().then_some(())
    })
    .is_none()
    {
        panic!("timed out after {:?} waiting for {what}", patient(timeout));
    }
}

/// [`wait_until`] for async tests: polls `check` every 5 ms until it gives Some, without
/// blocking the runtime.
pub async fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patient(timeout);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {:?} waiting for {what}",
            patient(timeout)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
