//! The Google Cloud Pub/Sub client's lease management (docs/model.md,
//! "Google Cloud Pub/Sub"), as the official Python client does it
//! (python-pubsub `subscriber/_protocol/histogram.py`, `leaser.py`,
//! `streaming_pull_manager.py`; the Go and Java clients follow the same
//! scheme):
//!
//! - The client records each message's ack latency (time from receipt to
//!   ack, rounded up to whole seconds, clamped to 10..600 s) in a histogram
//!   of whole seconds.
//! - The lease deadline is the histogram's 99th percentile (10 s while it is
//!   empty), raised to `min_duration_per_lease_extension` and lowered to
//!   `max_duration_per_lease_extension` when those are set, clamped to
//!   10..600 s.
//! - Every outstanding message is modAcked to that deadline at receipt and
//!   then again before it runs out: the client sleeps uniform(0.01 s,
//!   0.9 x deadline); we take the upper end, 0.9 x deadline (our choice: the
//!   latest renewal the client may make, so jitter could only renew earlier).
//! - A message held longer than `max_lease_duration` since receipt is dropped
//!   from lease management (no more modAcks) and comes back when its last
//!   deadline runs out.

use crate::duration::{Nanos, NS_PER_S};
use crate::scenario::PubsubLease;

/// Shortest and longest ack deadline, seconds (MIN_ACK_DEADLINE, MAX_ACK_DEADLINE).
pub const MIN_DEADLINE_S: u64 = 10;
pub const MAX_DEADLINE_S: u64 = 600;

/// The client's histogram of ack latencies, in whole seconds 10..=600.
#[derive(Debug, Clone)]
pub struct AckHistogram {
    counts: Vec<u64>,
    len: u64,
}

impl Default for AckHistogram {
    fn default() -> Self {
        AckHistogram { counts: vec![0; (MAX_DEADLINE_S + 1) as usize], len: 0 }
    }
}

impl AckHistogram {
    /// Record an ack `latency_ns` after receipt: rounded up to whole
    /// seconds (`math.ceil` in the client), then clamped to 10..600 s.
    pub fn record(&mut self, latency_ns: Nanos) {
        let s = latency_ns.div_ceil(NS_PER_S).clamp(MIN_DEADLINE_S, MAX_DEADLINE_S);
        self.counts[s as usize] += 1;
        self.len += 1;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `Histogram.percentile(percent)`: walk the values from the largest
    /// down, taking `len - len x percent / 100` off their counts; the value
    /// at which the rest goes below zero. 10 s when empty.
    pub fn percentile(&self, percent: f64) -> u64 {
        let n = self.len as f64;
        let mut target = n - n * (percent.min(100.0) / 100.0);
        for s in (MIN_DEADLINE_S..=MAX_DEADLINE_S).rev() {
            let c = self.counts[s as usize];
            if c == 0 {
                continue;
            }
            target -= c as f64;
            if target < 0.0 {
                return s;
            }
        }
        MIN_DEADLINE_S
    }

    /// The deadline each lease extension asks for, seconds.
    pub fn deadline_s(&self, cfg: &PubsubLease) -> u64 {
        let mut d = self.percentile(99.0);
        if cfg.max_extension_ns > 0 {
            d = d.min(cfg.max_extension_ns / NS_PER_S);
        }
        if cfg.min_extension_ns > 0 {
            d = d.max(cfg.min_extension_ns / NS_PER_S);
        }
        d.clamp(MIN_DEADLINE_S, MAX_DEADLINE_S)
    }
}

/// When the next renewal comes after one that asked for `deadline_s`.
pub fn renewal_after_ns(deadline_s: u64) -> Nanos {
    deadline_s * NS_PER_S / 10 * 9
}

/// Whether a message received at `received_ns` has outlived `max_lease_ns`
/// at `now` (the client drops items sent before `now - max_lease_duration`).
pub fn past_max_lease(cfg: &PubsubLease, received_ns: Nanos, now: Nanos) -> bool {
    now.saturating_sub(received_ns) > cfg.max_lease_ns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PubsubLease {
        PubsubLease { max_lease_ns: 3_600 * NS_PER_S, max_messages: 1000, min_extension_ns: 0, max_extension_ns: 0 }
    }

    #[test]
    fn empty_histogram_gives_the_minimum_deadline() {
        assert_eq!(AckHistogram::default().deadline_s(&cfg()), 10);
    }

    /// 100 acks at 10..=109 s: the target is 100 - 100 x 0.99 = 1 (exact in
    /// floating point), so the largest value (109) takes it to 0, not below,
    /// and the next (108) below zero: p99 = 108.
    #[test]
    fn p99_follows_the_clients_walk() {
        let mut h = AckHistogram::default();
        for s in 10..110 {
            h.record(s * NS_PER_S);
        }
        assert_eq!(h.percentile(99.0), 108);
        // Values under 10 s count as 10 s; above 600 s as 600 s.
        let mut h = AckHistogram::default();
        h.record(1);
        h.record(2_000 * NS_PER_S);
        assert_eq!((h.counts[10], h.counts[600]), (1, 1));
        // Two values: target 2 - 1.98 = 0.02; the largest takes it below zero.
        assert_eq!(h.percentile(99.0), 600);
    }

    #[test]
    fn latencies_round_up_to_whole_seconds() {
        let mut h = AckHistogram::default();
        h.record(44 * NS_PER_S + 1);
        assert_eq!(h.percentile(99.0), 45);
    }

    #[test]
    fn extension_bounds_apply_then_the_clamp() {
        let mut h = AckHistogram::default();
        h.record(45 * NS_PER_S);
        let mut c = cfg();
        c.max_extension_ns = 20 * NS_PER_S;
        assert_eq!(h.deadline_s(&c), 20);
        c.max_extension_ns = 0;
        c.min_extension_ns = 60 * NS_PER_S;
        assert_eq!(h.deadline_s(&c), 60);
        assert_eq!(renewal_after_ns(10), 9 * NS_PER_S);
        assert!(!past_max_lease(&c, 0, 3_600 * NS_PER_S) && past_max_lease(&c, 0, 3_600 * NS_PER_S + 1));
    }
}
