//! Counters, latency histograms and time series of one run, with the
//! definitions of docs/model.md section 7. Each queue of the topology records
//! into its own [`Metrics`] (a duplicate effect is counted per consuming
//! queue and logical key); `summary.rs` reports each and their total.

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

impl ApiCounts {
    /// A SendMessage into this queue: one call, billed per 64 KiB (`chunks`).
    #[inline]
    pub fn count_send(&mut self, chunks: u64) {
        self.send += 1;
        self.billed += chunks;
    }
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
    /// Messages enqueued (after deduplication).
    pub sent: u64,
    /// Distinct logical keys accepted by the broker.
    pub logical_sent: u64,
    /// Extra messages from producer retries (same key, new message id).
    pub producer_duplicates: u64,
    /// Sends given up after all retries without the broker accepting one.
    pub send_gave_up: u64,
    /// Sends removed by the queue's deduplication interval (FIFO).
    pub deduplicated: u64,
    /// Ordered queues: effects committed after the effect of a later
    /// message of the same group (None on unordered queues).
    pub order_violations: Option<u64>,
    /// Pub/Sub ordered subscriptions: acked messages brought back because an
    /// earlier message of their ordering key was redelivered (None elsewhere).
    pub ordering_replays: Option<u64>,
    /// Per message group: 1 + the largest sequence number with an effect (0: none).
    order_front: Vec<u32>,
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
            deduplicated: 0,
            order_violations: None,
            ordering_replays: None,
            order_front: Vec::new(),
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

    /// Track group order (ordered queues with `groups` message groups).
    pub fn track_order(&mut self, groups: u32) {
        self.order_violations = Some(0);
        self.order_front = vec![0; groups as usize];
    }

    /// A message was enqueued: counts `sent`, and `logical_sent` or (for a
    /// `repeat` of a key the sender already had accepted: a producer retry,
    /// an SNS duplicate) `producer_duplicates`.
    #[inline]
    pub fn enqueued(&mut self, now: Nanos, repeat: bool) {
        self.sent += 1;
        self.bucket(now).sent += 1;
        if repeat {
            self.producer_duplicates += 1;
        } else {
            self.logical_sent += 1;
        }
    }

    /// Record a committed side effect for `key`; true if it is a duplicate.
    /// On an ordered queue, the first effect of the message at place `seq`
    /// of `group`, after the effect of a later message of that group, is an
    /// order violation.
    pub fn effect(&mut self, now: Nanos, key: u64, first_send_ns: Nanos, group: u32, seq: u32) -> bool {
        let duplicate = set_bit(&mut self.effected, key);
        if let (Some(v), false) = (self.order_violations.as_mut(), duplicate) {
            let front = &mut self.order_front[group as usize];
            if seq + 1 < *front {
                *v += 1;
            }
            *front = (*front).max(seq + 1);
        }
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

    /// Add `other`'s counts, histograms and time series (for totals over queues).
    pub fn absorb(&mut self, o: &Metrics) {
        self.sent += o.sent;
        self.logical_sent += o.logical_sent;
        self.producer_duplicates += o.producer_duplicates;
        self.send_gave_up += o.send_gave_up;
        self.deduplicated += o.deduplicated;
        if let Some(v) = o.order_violations {
            *self.order_violations.get_or_insert(0) += v;
        }
        if let Some(v) = o.ordering_replays {
            *self.ordering_replays.get_or_insert(0) += v;
        }
        self.deliveries += o.deliveries;
        self.first_deliveries += o.first_deliveries;
        for (a, b) in self.causes.iter_mut().zip(o.causes) {
            *a += b;
        }
        self.premature_expiries += o.premature_expiries;
        self.effects += o.effects;
        self.duplicate_effects += o.duplicate_effects;
        self.deleted += o.deleted;
        self.dlq += o.dlq;
        self.expired += o.expired;
        self.lost += o.lost;
        self.over_limit += o.over_limit;
        self.crashes += o.crashes;
        self.failures += o.failures;
        self.heartbeats += o.heartbeats;
        let (a, b) = (&mut self.api, &o.api);
        a.send += b.send;
        a.receive += b.receive;
        a.empty_receive += b.empty_receive;
        a.delete += b.delete;
        a.change_visibility += b.change_visibility;
        a.billed += b.billed;
        let (a, b) = (&mut self.idempotency, &o.idempotency);
        a.suppressed += b.suppressed;
        a.rejected_in_progress += b.rejected_in_progress;
        for (x, y) in a.breaches.iter_mut().zip(b.breaches) {
            *x += y;
        }
        if let Some((lo, hi)) = o.dlq_deliveries {
            self.dlq_deliveries = Some(match self.dlq_deliveries {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        for (mine, theirs) in [
            (&mut self.retry_latency, &o.retry_latency),
            (&mut self.e2e_latency, &o.e2e_latency),
            (&mut self.processing, &o.processing),
        ] {
            mine.add(theirs).expect("histograms share bounds");
        }
        if self.series.len() < o.series.len() {
            self.series.resize(o.series.len(), Bucket::default());
        }
        for (a, b) in self.series.iter_mut().zip(&o.series) {
            a.sent += b.sent;
            a.effects += b.effects;
            a.duplicate_effects += b.duplicate_effects;
            a.redeliveries += b.redeliveries;
            a.premature_expiries += b.premature_expiries;
        }
    }
}

/// Set bit `key` of a growable bitset; true if it was already set.
fn set_bit(bits: &mut Vec<u64>, key: u64) -> bool {
    let (word, bit) = ((key / 64) as usize, 1u64 << (key % 64));
    if word >= bits.len() {
        bits.resize((word + 1).next_power_of_two(), 0);
    }
    let was = bits[word] & bit != 0;
    bits[word] |= bit;
    was
}

/// What a run records into: each queue's metrics and the optional trace.
pub struct Obs {
    /// Indexed by queue.
    pub m: Vec<Metrics>,
    pub trace: Option<Trace>,
    /// Queue names for the trace's `queue` column (empty: no such column).
    pub queue_names: Vec<String>,
}

impl Obs {
    /// A trace row about queue `q`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn trace(
        &mut self,
        q: usize,
        t: Nanos,
        kind: Kind,
        msg: Option<u64>,
        worker: &str,
        receive: Option<u32>,
        detail: &str,
    ) {
        if let Some(tr) = self.trace.as_mut() {
            let queue = self.queue_names.get(q).map(String::as_str);
            tr.row(t, kind, msg, worker, receive, detail, queue);
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
        assert!(!m.effect(10, 5, 0, 0, 0));
        assert!(m.effect(20, 5, 0, 0, 0));
        assert!(!m.effect(30, 700, 0, 0, 0));
        assert_eq!((m.effects, m.duplicate_effects), (3, 1));
        assert!(m.has_effect(700) && !m.has_effect(6));
        assert_eq!(m.e2e_latency.len(), 2);
    }

    #[test]
    fn order_violations_count_late_first_effects_per_group_by_place() {
        let mut m = Metrics::new(60_000_000_000);
        m.track_order(2);
        m.effect(1, 0, 0, 0, 0);
        m.effect(2, 2, 0, 0, 2);
        m.effect(3, 1, 0, 1, 1);
        assert_eq!(m.order_violations, Some(0), "other groups and increasing places are in order");
        m.effect(4, 0, 0, 0, 0);
        assert_eq!(m.order_violations, Some(0), "a second effect of key 0 is a duplicate, not a violation");
        m.effect(5, 5, 0, 1, 5);
        m.effect(6, 4, 0, 1, 4);
        assert_eq!(m.order_violations, Some(1), "place 4 of group 1 after place 5 of group 1");
    }

    #[test]
    fn logical_sends_count_keys_once() {
        let mut m = Metrics::new(60_000_000_000);
        m.enqueued(0, false);
        m.enqueued(0, true);
        m.enqueued(0, false);
        assert_eq!((m.sent, m.logical_sent, m.producer_duplicates), (3, 2, 1));
    }
}
