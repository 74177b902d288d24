//! SNS topics fanning out to queues (docs/model.md, "SNS").
//!
//! Rules followed:
//! - A publish is copied to every subscribed queue whose filter policy
//!   matches the message's attributes (`sns_filter.rs`); the others count
//!   as `filtered`.
//! - Standard topics deliver at least once: with `duplicate_probability` a
//!   delivery is made twice (two queue messages, one logical key); SNS
//!   duplicates add to the queue's own.
//! - A delivery attempt to a queue that fails (`delivery_failure`, or a FIFO
//!   queue's quota) is retried by the SQS/Lambda delivery policy: 3 attempts
//!   at once, 2 one second apart, 10 with exponential backoff from 1 s to
//!   20 s, then 100,000 attempts 20 s apart: 100,015 attempts over about 23
//!   days, then the delivery is discarded (no subscription DLQ is modelled).
//!   AWS adds jitter; the model does not, so retry times are exact.
//! - FIFO topics deduplicate publishes for 5 minutes by deduplication id (the
//!   logical key) and pass the id on, so FIFO queues deduplicate too; FIFO
//!   queues may subscribe only to FIFO topics.
//!
//! A topic holds no messages: it is not a `Broker`. Its deliveries in
//! progress live in a slab indexed by `Event::SnsDeliver`.

use super::dedup::Dedup;
use super::SendOutcome;
use crate::duration::{Nanos, NS_PER_S};
use crate::rng::{chance, Stream};
use crate::scenario::Topic;
use crate::sim::{Event, World};

/// Attempts before a delivery is discarded.
pub const MAX_ATTEMPTS: u32 = 100_015;

/// Delay before attempt `n + 1` after `n` failed attempts (n >= 1).
pub fn retry_delay_ns(n: u32) -> Nanos {
    match n {
        0..=2 => 0,
        3..=4 => NS_PER_S,
        5..=14 => {
            // 1 s to 20 s in 10 steps: 20^(i/9) seconds.
            let i = f64::from(n - 5);
            crate::duration::from_secs_f64(20f64.powf(i / 9.0))
        }
        _ => 20 * NS_PER_S,
    }
}

/// Counts per subscription.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionStats {
    /// Messages enqueued in the subscribed queue (duplicates included).
    pub delivered: u64,
    /// Publishes the filter policy did not match.
    pub filtered: u64,
    /// Extra copies from at-least-once delivery.
    pub duplicates: u64,
    /// Delivery attempts after a failed one.
    pub retries: u64,
    /// Deliveries given up after every attempt failed.
    pub discarded: u64,
}

#[derive(Debug, Clone, Default)]
pub struct TopicStats {
    /// Publish calls that reached the topic.
    pub publish_calls: u64,
    /// Publishes accepted (not removed as duplicates).
    pub published: u64,
    /// FIFO topics: publishes removed inside the deduplication interval.
    pub deduplicated: u64,
    /// Publishes the producer gave up on.
    pub gave_up: u64,
    /// Requests billed (one per 64 KiB of payload per publish).
    pub billed: u64,
    pub subscriptions: Vec<SubscriptionStats>,
}

/// A delivery to one subscription, waiting for its next attempt.
#[derive(Debug, Clone, Copy)]
struct Pending {
    sub: u16,
    key: u64,
    first_send_ns: Nanos,
    /// Attempts made so far.
    attempts: u32,
    /// A copy of a publish already accepted (a producer retry).
    repeat: bool,
}

pub struct SnsTopic {
    pub cfg: Topic,
    dedup: Option<Dedup>,
    rng: Stream,
    pending: Vec<Pending>,
    free: Vec<u32>,
    pub stats: TopicStats,
}

impl SnsTopic {
    pub fn new(cfg: Topic, rng: Stream) -> SnsTopic {
        let dedup = cfg.fifo.then(|| Dedup::new(super::dedup::FIFO_WINDOW_NS));
        let stats = TopicStats {
            subscriptions: vec![SubscriptionStats::default(); cfg.subscriptions.len()],
            ..TopicStats::default()
        };
        SnsTopic { cfg, dedup, rng, pending: Vec::new(), free: Vec::new(), stats }
    }

    /// Bytes held by the deliveries in progress and the FIFO
    /// deduplication window, for the memory limit.
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        bytes_of::<Pending>(self.pending.capacity())
            + bytes_of::<u32>(self.free.capacity())
            + self.dedup.as_ref().map_or(0, Dedup::footprint)
    }

    /// Give back the deduplication window's memory after a burst of
    /// publishes, forgetting the ids whose interval ended by `now`
    /// ([`Dedup::shrink`]). Changes no result.
    pub fn shrink(&mut self, now: Nanos) {
        if let Some(d) = &mut self.dedup {
            d.shrink(now, super::store::SHRINK_ABOVE);
        }
    }

    /// Deliveries waiting for an attempt.
    pub fn in_progress(&self) -> usize {
        self.pending.len() - self.free.len()
    }

    fn park(&mut self, p: Pending) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.pending[i as usize] = p;
                i
            }
            None => {
                self.pending.push(p);
                (self.pending.len() - 1) as u32
            }
        }
    }
}

impl World {
    /// A Publish call reaches topic `t`; `repeat`: a retry of an accepted publish.
    pub(crate) fn publish(&mut self, t: usize, key: u64, first_send_ns: Nanos, repeat: bool) {
        let now = self.now();
        let chunks = self.producer.payload_chunks();
        let topic = &mut self.topics[t];
        topic.stats.publish_calls += 1;
        topic.stats.billed += chunks;
        if topic.dedup.as_mut().is_some_and(|d| !d.accept(now, key)) {
            topic.stats.deduplicated += 1;
            return;
        }
        topic.stats.published += 1;
        for sub in 0..self.topics[t].cfg.subscriptions.len() {
            let topic = &self.topics[t];
            let filter = &topic.cfg.subscriptions[sub].filter;
            if !crate::broker::sns_filter::matches(filter, &self.attributes, self.seed, key) {
                self.topics[t].stats.subscriptions[sub].filtered += 1;
                continue;
            }
            let p = Pending { sub: sub as u16, key, first_send_ns, attempts: 0, repeat };
            self.sns_schedule(t, p, 0, true);
        }
    }

    /// Attempt `p` after `delay` (plus the topic's delivery latency on the first).
    fn sns_schedule(&mut self, t: usize, p: Pending, delay: Nanos, first: bool) {
        let topic = &mut self.topics[t];
        let latency = if first { topic.cfg.delivery_latency.sample(&mut topic.rng) } else { 0 };
        let wait = delay.saturating_add(latency);
        if wait == 0 {
            self.sns_attempt(t, p);
        } else {
            let i = topic.park(p);
            self.ev.after(wait, Event::SnsDeliver { t: t as u16, p: i });
        }
    }

    pub(crate) fn on_sns_deliver(&mut self, t: u16, i: u32) {
        let topic = &mut self.topics[t as usize];
        let p = topic.pending[i as usize];
        topic.free.push(i);
        self.sns_attempt(t as usize, p);
    }

    /// One delivery attempt of `p` to its queue.
    fn sns_attempt(&mut self, t: usize, mut p: Pending) {
        let topic = &mut self.topics[t];
        let sub = p.sub as usize;
        let q = topic.cfg.subscriptions[sub].queue;
        if p.attempts > 0 {
            topic.stats.subscriptions[sub].retries += 1;
        }
        p.attempts += 1;
        let failed = chance(&mut topic.rng, topic.cfg.delivery_failure);
        let outcome = if failed {
            SendOutcome::Throttled
        } else {
            self.brokers[q].send(&mut self.ev, &mut self.obs, p.key, p.first_send_ns, 0, p.repeat)
        };
        if outcome == SendOutcome::Throttled {
            if p.attempts >= MAX_ATTEMPTS {
                self.topics[t].stats.subscriptions[sub].discarded += 1;
            } else {
                self.sns_schedule(t, p, retry_delay_ns(p.attempts), false);
            }
            return;
        }
        self.obs.m[q].api.count_send(self.producer.payload_chunks()); // SNS's SendMessage bills as the queue's
        let topic = &mut self.topics[t];
        topic.stats.subscriptions[sub].delivered += 1;
        if chance(&mut topic.rng, topic.cfg.duplicate_probability) {
            topic.stats.subscriptions[sub].duplicates += 1;
            topic.stats.subscriptions[sub].delivered += 1;
            if self.brokers[q].send(&mut self.ev, &mut self.obs, p.key, p.first_send_ns, 0, true)
                != SendOutcome::Throttled
            {
                self.obs.m[q].api.count_send(self.producer.payload_chunks()); // SNS's SendMessage bills as the queue's
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_follows_the_documented_phases() {
        let delays: Vec<Nanos> = (1..MAX_ATTEMPTS).map(retry_delay_ns).collect();
        assert_eq!(delays.len(), 100_014, "100,015 attempts: the first and 100,014 retries");
        assert_eq!(&delays[..2], &[0, 0], "immediate retries");
        assert_eq!(&delays[2..4], &[NS_PER_S, NS_PER_S], "pre-backoff: 1 s apart");
        assert_eq!(delays[4], NS_PER_S, "backoff starts at 1 s");
        assert_eq!(delays[13], 20 * NS_PER_S, "and reaches 20 s after 10 steps");
        assert!(delays[4..14].windows(2).all(|w| w[0] < w[1]), "exponential in between");
        assert!(delays[14..].iter().all(|&d| d == 20 * NS_PER_S), "post-backoff: 20 s apart");
        let total_s = delays.iter().sum::<Nanos>() as f64 / 1e9 / 86_400.0;
        assert!((23.0..23.2).contains(&total_s), "about 23 days in all: {total_s}");
    }
}
