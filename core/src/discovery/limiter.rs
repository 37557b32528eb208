//! Bounds how often Ferry answers announcements, so that a flood of datagrams (with forged
//! source addresses, perhaps) cannot turn it into a traffic amplifier.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Per source at most one answer per `per_source`; overall at most `burst` answers, refilled
/// at `per_second`. The table of sources is bounded.
pub struct AnswerLimiter {
    per_source: Duration,
    per_second: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
    last: HashMap<IpAddr, Instant>,
    max_sources: usize,
}

impl AnswerLimiter {
    pub fn new(per_source: Duration, per_second: u32, max_sources: usize) -> AnswerLimiter {
        AnswerLimiter {
            per_source,
            per_second: per_second as f64,
            burst: per_second as f64,
            tokens: per_second as f64,
            refilled: Instant::now(),
            last: HashMap::new(),
            max_sources,
        }
    }

    /// Whether to answer `source` now (and counts it if so).
    pub fn allow(&mut self, source: IpAddr) -> bool {
        self.allow_at(source, Instant::now())
    }

    fn allow_at(&mut self, source: IpAddr, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled = now;
        if let Some(t) = self.last.get(&source) {
            if now.saturating_duration_since(*t) < self.per_source {
                return false;
            }
        }
        if self.tokens < 1.0 {
            return false;
        }
        if self.last.len() >= self.max_sources && !self.last.contains_key(&source) {
            let window = self.per_source;
            self.last.retain(|_, t| now.saturating_duration_since(*t) < window);
            if self.last.len() >= self.max_sources {
                return false;
            }
        }
        self.tokens -= 1.0;
        self.last.insert(source, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_per_source_per_window() {
        let mut l = AnswerLimiter::new(Duration::from_secs(1), 100, 16);
        let t = Instant::now();
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.allow_at(a, t));
        assert!(!l.allow_at(a, t + Duration::from_millis(500)));
        assert!(l.allow_at(a, t + Duration::from_millis(1100)));
    }

    #[test]
    fn global_rate_and_table_are_bounded() {
        let mut l = AnswerLimiter::new(Duration::from_secs(1), 20, 64);
        let t = Instant::now();
        let allowed = (0..10_000u32).filter(|i| l.allow_at(IpAddr::from(i.to_be_bytes()), t)).count();
        assert_eq!(allowed, 20);
        assert!(l.last.len() <= 64);
        // tokens come back with time
        assert!(l.allow_at("10.9.9.9".parse().unwrap(), t + Duration::from_millis(200)));
    }
}
