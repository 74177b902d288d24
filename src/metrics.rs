//! Counters, latency histograms and time series of one run, with the
//! definitions of SEMANTICS.md section 6. The simulator records into
//! [`Metrics`]; `summary.rs` turns them into the reported numbers.

use crate::duration::Nanos;
use crate::trace::{Kind, Trace};
use hdrhistogram::Histogram;

/// Why a message was delivered again, from the fate of its previous delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Concurrent = 0,
    AfterFailure = 1,
    AfterCrash = 2,
    AfterSuccess = 3,
    Broker = 4,
}

/// Why a duplicate effect got past the idempotency store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Strategy `none`: nothing stopped it.
    Unprotected = 0,
    /// check_then_mark: both attempts passed the check before either marked.
    Race = 1,
    /// claim_first: the first claim expired while its holder still worked.
    ClaimExpired = 2,
    /// The mark was forgotten after its key TTL.
    KeyExpired = 3,
}

#[derive(Debug, Default, Clone)]
pub struct ApiCounts {
    pub send: u64,
    pub receive: u64,
    pub empty_receive: u64,
    pub delete: u64,
    pub change_visibility: u64,
    /// Requests billed: one per 64 KiB of payload per call.
    pub billed: u64,
}

#[derive(Debug, Default, Clone)]
pub struct IdempotencyCounts {
    /// Attempts that found the key already done and skipped the effect.
    pub suppressed: u64,
    /// claim_first attempts rejected because another attempt held the claim.
    pub rejected_in_progress: u64,
    /// Duplicate effects by [`Breach`].
    pub breaches: [u64; 4],
}

/// Per-bucket counts for the time series.
#[derive(Debug, Default, Clone, Copy)]
pub struct Bucket {
    pub sent: u64,
    pub effects: u64,
    pub duplicate_effects: u64,
    pub redeliveries: u64,
    pub premature_expiries: u64,
}

pub struct Metrics {
    pub sent: u64,
    /// Distinct logical keys accepted by the broker.
    pub logical_sent: u64,
    /// Extra messages from producer retries (same key, new message id).
    pub producer_duplicates: u64,
    /// Sends given up after all retries without the broker accepting one.
    pub send_gave_up: u64,
    pub deliveries: u64,
    pub first_deliveries: u64,
    pub causes: [u64; 5],
    /// Leases that ran out while their holder was still processing.
    pub premature_expiries: u64,
    pub effects: u64,
    pub duplicate_effects: u64,
    pub deleted: u64,
    pub dlq: u64,
    pub expired: u64,
    pub lost: u64,
    pub over_limit: u64,
    pub crashes: u64,
    pub failures: u64,
    pub heartbeats: u64,
    pub api: ApiCounts,
    pub idempotency: IdempotencyCounts,
    /// Deliveries of each message moved to the DLQ: (min, max).
    pub dlq_deliveries: Option<(u32, u32)>,
    pub retry_latency: Histogram<u64>,
    pub e2e_latency: Histogram<u64>,
    pub processing: Histogram<u64>,
    effected: Vec<u64>,
    bucket_ns: Nanos,
    pub series: Vec<Bucket>,
}

const HIST_MAX_NS: u64 = 60 * 86_400 * 1_000_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("valid histogram bounds")
}

impl Metrics {
    /// Bytes held by the effect bitset and the time series, for the memory
    /// limit (`limits.rs`); the histograms are of fixed size.
    pub fn footprint(&self) -> u64 {
        crate::limits::bytes_of::<u64>(self.effected.capacity())
            + crate::limits::bytes_of::<Bucket>(self.series.capacity())
    }

    pub fn new(bucket_ns: Nanos) -> Metrics {
        Metrics {
            sent: 0,
            logical_sent: 0,
            producer_duplicates: 0,
            send_gave_up: 0,
            deliveries: 0,
            first_deliveries: 0,
            causes: [0; 5],
            premature_expiries: 0,
            effects: 0,
            duplicate_effects: 0,
            deleted: 0,
            dlq: 0,
            expired: 0,
            lost: 0,
            over_limit: 0,
            crashes: 0,
            failures: 0,
            heartbeats: 0,
            api: ApiCounts::default(),
            idempotency: IdempotencyCounts::default(),
            dlq_deliveries: None,
            retry_latency: histogram(),
            e2e_latency: histogram(),
            processing: histogram(),
            effected: Vec::new(),
            bucket_ns,
            series: Vec::new(),
        }
    }

    pub fn bucket(&mut self, now: Nanos) -> &mut Bucket {
        let i = (now / self.bucket_ns) as usize;
        if i >= self.series.len() {
            self.series.resize(i + 1, Bucket::default());
        }
        &mut self.series[i]
    }

    pub fn bucket_ns(&self) -> Nanos {
        self.bucket_ns
    }

    /// Record a committed side effect for `key`; true if it is a duplicate.
    pub fn effect(&mut self, now: Nanos, key: u64, first_send_ns: Nanos) -> bool {
        let (word, bit) = ((key / 64) as usize, 1u64 << (key % 64));
        if word >= self.effected.len() {
            self.effected.resize((word + 1).next_power_of_two(), 0);
        }
        let duplicate = self.effected[word] & bit != 0;
        self.effected[word] |= bit;
        self.effects += 1;
        let b = self.bucket(now);
        b.effects += 1;
        if duplicate {
            b.duplicate_effects += 1;
            self.duplicate_effects += 1;
        } else {
            self.e2e_latency.saturating_record(now.saturating_sub(first_send_ns).max(1));
        }
        duplicate
    }

    /// Whether `key` has had an effect.
    pub fn has_effect(&self, key: u64) -> bool {
        let word = (key / 64) as usize;
        word < self.effected.len() && self.effected[word] & (1u64 << (key % 64)) != 0
    }

    pub fn redelivery(&mut self, now: Nanos, cause: Cause, retry_ns: Option<Nanos>) {
        self.causes[cause as usize] += 1;
        self.bucket(now).redeliveries += 1;
        if let Some(ns) = retry_ns {
            self.retry_latency.saturating_record(ns.max(1));
        }
    }

    pub fn dlq_moved(&mut self, deliveries: u32) {
        self.dlq += 1;
        self.dlq_deliveries = Some(match self.dlq_deliveries {
            None => (deliveries, deliveries),
            Some((lo, hi)) => (lo.min(deliveries), hi.max(deliveries)),
        });
    }

    pub fn redeliveries(&self) -> u64 {
        self.deliveries - self.first_deliveries
    }
}

/// What a run records into: metrics, the optional trace, and worker names.
pub struct Obs {
    pub m: Metrics,
    pub trace: Option<Trace>,
}

impl Obs {
    #[inline]
    pub fn trace(&mut self, t: Nanos, kind: Kind, msg: Option<u64>, worker: &str, receive: Option<u32>, detail: &str) {
        if let Some(tr) = self.trace.as_mut() {
            tr.row(t, kind, msg, worker, receive, detail);
        }
    }

    #[inline]
    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_effects_count_keys_once() {
        let mut m = Metrics::new(60_000_000_000);
        assert!(!m.effect(10, 5, 0));
        assert!(m.effect(20, 5, 0));
        assert!(!m.effect(30, 700, 0));
        assert_eq!((m.effects, m.duplicate_effects), (3, 1));
        assert!(m.has_effect(700) && !m.has_effect(6));
        assert_eq!(m.e2e_latency.len(), 2);
    }
}
