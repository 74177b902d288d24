//! Google Cloud Pub/Sub subscriptions (`kind = "pubsub"`; docs/model.md,
//! "Google Cloud Pub/Sub"; rules and sources in BROKERS.md section 5).
//!
//! A subscription leases messages like an SQS queue, so the message store,
//! leases with generation-stamped timers, redelivery causes and the DLQ are
//! those of `sqs.rs`, configured by `config/pubsub.rs`:
//! - the ack deadline is the lease (`ackDeadlineSeconds`, 10..600 s);
//!   modifyAckDeadline is change visibility, a nack is modAck 0;
//! - the retry policy delays a redelivery after an expiry or a nack
//!   (`Sqs::return_to_queue`);
//! - `max_delivery_attempts` is the receive limit of the DLQ (attempts =
//!   1 + nacks + expiries = deliveries);
//! - without exactly-once delivery any ack id acks, even late (`any_handle`);
//!   with it, only the latest ack id acks or modAcks, while its deadline runs
//!   (`strict` / `latest_only`), and no duplicate follows an ack;
//! - ordering keys are message groups (`sqs_fifo.rs`).
//!
//! This module adds what SQS has no counterpart for: with message ordering,
//! redelivering message k of a key redelivers every later message of the key,
//! acked ones included. An acked message with an earlier message of its key
//! still live is remembered (the store keeps it, marked finished, while that
//! earlier message lives); when a message of the key is delivered again
//! (after its deadline ran out, or a nack), the remembered later ones come
//! back, behind it in the key's order.
//! Each such replay is traced `visible` with detail `ordering replay` and
//! counted in `ordering_replays`; its redelivery's cause is `after_success`.

use super::sqs::Sqs;
use super::{Batch, ChangeOutcome, DeleteOutcome, Handle, SendOutcome, Timer};
use crate::duration::Nanos;
use crate::engine::Events;
use crate::metrics::Obs;
use crate::rng::Stream;
use crate::scenario::Queue;
use crate::sim::Event;

/// `repr(C)`: `sub` first, at the same offset as an `Sqs` broker's queue,
/// so the compiler may fold `Broker`'s two arms of a queue read into one.
#[repr(C)]
pub struct PubSub {
    sub: Sqs,
    /// Ordering: per key (group), ids of acked messages acked while an
    /// earlier message of the key was live, in id order.
    acked_behind: Vec<Vec<u64>>,
}

impl PubSub {
    pub fn new(cfg: Queue, q: u16, seed: u64, rng: Stream) -> PubSub {
        let keys = if cfg.pubsub.ordering { cfg.fifo.groups as usize } else { 0 };
        PubSub { sub: Sqs::new(cfg, q, seed, rng), acked_behind: vec![Vec::new(); keys] }
    }

    /// The subscription's queue machinery (reads, and the calls that need
    /// nothing of this module).
    #[inline(always)]
    pub fn sub(&self) -> &Sqs {
        &self.sub
    }

    #[inline(always)]
    pub fn sub_mut(&mut self) -> &mut Sqs {
        &mut self.sub
    }

    pub fn ordered(&self) -> bool {
        !self.acked_behind.is_empty()
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn send(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        key: u64,
        first_send_ns: Nanos,
        delay_ns: Nanos,
        repeat: bool,
    ) -> SendOutcome {
        self.sub.send(ev, obs, key, first_send_ns, delay_ns, repeat)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn receive(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        max: usize,
        vt_ns: Option<Nanos>,
        worker: &str,
        short_poll: bool,
        out: &mut Batch,
    ) {
        self.sub.receive(ev, obs, max, vt_ns, worker, short_poll, out);
        if self.ordered() {
            for d in out.as_slice() {
                if d.handle.receive > 1 {
                    self.replay_after(ev, obs, d.handle.id);
                }
            }
        }
    }

    /// modifyAckDeadline(h, t); t = 0 is a nack.
    pub fn change_visibility(&mut self, ev: &mut Events<Event>, h: Handle, t_ns: Nanos) -> ChangeOutcome {
        self.sub.change_visibility(ev, h, t_ns)
    }

    /// Acknowledge `h`.
    pub fn delete(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str) -> DeleteOutcome {
        let group = self.ordered().then(|| self.sub.get(h.id).map(|m| m.group)).flatten();
        let outcome = self.sub.delete(ev, obs, h, worker);
        let Some(g) = group else { return outcome };
        let groups = self.sub.groups().expect("an ordered subscription has groups");
        let head = groups.head(g);
        let behind = &mut self.acked_behind[g as usize];
        if outcome == DeleteOutcome::Deleted && self.sub.get(h.id).is_none() && head.is_some_and(|first| first < h.id) {
            let i = behind.partition_point(|&x| x < h.id);
            behind.insert(i, h.id);
        }
        // Acked messages with no live message before them can no longer be replayed.
        let keep_from = behind.partition_point(|&x| head.is_none_or(|first| x < first));
        behind.drain(..keep_from);
        outcome
    }

    pub fn on_timer(&mut self, ev: &mut Events<Event>, obs: &mut Obs, t: Timer) {
        self.sub.on_timer(ev, obs, t);
    }

    /// Message `id` was delivered again: every acked later message of its
    /// key comes back too, behind it in the key's order.
    fn replay_after(&mut self, ev: &mut Events<Event>, obs: &mut Obs, id: u64) {
        if !self.ordered() {
            return;
        }
        let Some(g) = self.sub.get(id).map(|m| m.group) else { return };
        let behind = &mut self.acked_behind[g as usize];
        let from = behind.partition_point(|&x| x <= id);
        if from == behind.len() {
            return;
        }
        let q = self.sub.queue_index();
        for i in from..self.acked_behind[g as usize].len() {
            let r = self.acked_behind[g as usize][i];
            if self.sub.resurrect(ev, obs, r, "ordering replay") {
                *obs.m[q].ordering_replays.get_or_insert(0) += 1;
            }
        }
        self.acked_behind[g as usize].truncate(from);
    }

    pub fn check_invariants(&self) {
        self.sub.check_invariants();
        for (g, behind) in self.acked_behind.iter().enumerate() {
            assert!(behind.windows(2).all(|w| w[0] < w[1]), "key {g}: acked list out of order");
            for &id in behind {
                assert!(self.sub.get(id).is_none(), "key {g}: acked message {id} is live");
            }
        }
    }
}
