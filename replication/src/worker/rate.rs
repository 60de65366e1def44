//! Pacing for workers: a token bucket that bounds a worker's throughput (e.g. the auditor's
//! bytes re-hashed per second). A worker that runs out returns [`crate::Step::Throttled`] with
//! the wait [`TokenBucket::take`] gives, and the runner sleeps that long.

use std::time::{Duration, Instant};

/// Units/s limiter (bytes/s for the auditor): a bucket of one second's worth that may go
/// into debt by one item, so items larger than the rate still pass and the long-run rate
/// holds.
#[derive(Debug)]
pub struct TokenBucket {
    rate: u64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket allowing `rate` units per second (at least 1).
    pub fn new(rate: u64) -> TokenBucket {
        TokenBucket {
            rate: rate.max(1),
            tokens: rate.max(1) as f64,
            at: Instant::now(),
        }
    }

    /// Takes `units`, or says how long to wait before any may be taken.
    pub fn take(&mut self, units: u64) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.rate as f64;
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        if self.tokens <= 0.0 {
            return Err(Duration::from_secs_f64(-self.tokens / rate).max(Duration::from_millis(1)));
        }
        self.tokens -= units as f64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seconds_worth_passes_then_the_debt_is_waited_off() {
        let mut b = TokenBucket::new(1000);
        assert!(b.take(600).is_ok());
        // Goes into debt by one item rather than refusing an item larger than what is left.
        assert!(b.take(600).is_ok());
        let wait = b.take(1).expect_err("the bucket is in debt");
        assert!(wait > Duration::from_millis(150) && wait <= Duration::from_millis(200));
    }

    #[test]
    fn a_zero_rate_is_one_unit_per_second() {
        let mut b = TokenBucket::new(0);
        assert!(b.take(2).is_ok());
        let wait = b.take(1).expect_err("one unit of debt");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
    }
}
