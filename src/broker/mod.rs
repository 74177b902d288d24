//! Brokers: the queue services that hold messages and lease them to workers.
//!
//! One interface, [`Broker`], over every kind of queue in a scenario's
//! topology: send, receive (lease), delete (ack), change visibility (extend,
//! or release/nack with 0), and the broker's own timers ([`Timer`]). The
//! outcomes ([`SendOutcome`], [`DeleteOutcome`], [`ChangeOutcome`], [`Fate`])
//! are what workers act on; a broker records into its queue's metrics.
//!
//! - `sqs.rs`: SQS Standard and FIFO queues (docs/model.md), with `sqs_fifo.rs` (message groups),
//!   `dedup.rs` (deduplication interval) and `throttle.rs` (API quotas).
//! - `jetstream.rs`: a NATS JetStream stream with one pull consumer (docs/model.md, "NATS JetStream").
//! - `nats_core.rs`: core NATS push subscriptions and slow consumers (docs/model.md, "Core NATS").
//! - `pubsub.rs`: Google Cloud Pub/Sub subscriptions (docs/model.md), on the queue machinery of `sqs.rs`.
//! - `sns.rs`, `sns_filter.rs`: SNS topics fanning out to queues (docs/model.md). A topic is not a [`Broker`]: it holds no messages.
//!
//! A new broker is a module here and a [`Broker`] variant whose arms call it;
//! see ARCHITECTURE.md for how JetStream, core NATS and Pub/Sub fit.

pub mod dedup;
pub mod jetstream;
pub mod nats_core;
pub mod pubsub;
pub mod sns;
pub mod sns_filter;
pub mod sqs;
pub mod sqs_fifo;
pub mod store;
pub mod throttle;

use crate::duration::Nanos;
use crate::engine::Events;
use crate::metrics::{Cause, Metrics, Obs};
use crate::scenario::{Queue, QueueKind};
use crate::sim::Event;
pub use throttle::Action;

/// A queue of the topology, whatever its kind.
pub enum Broker {
    /// SQS Standard or FIFO.
    Sqs(sqs::Sqs),
    /// A NATS JetStream stream and its pull consumer.
    JetStream(jetstream::JetStream),
    /// Core NATS push subscriptions.
    NatsCore(nats_core::NatsCore),
    /// A Google Cloud Pub/Sub subscription.
    PubSub(pubsub::PubSub),
}

impl Broker {
    pub fn new(cfg: Queue, q: u16, seed: u64) -> Broker {
        let rng = crate::rng::stream(seed, &broker_stream_name(q, &cfg.name));
        match cfg.kind {
            QueueKind::JetStream => Broker::JetStream(jetstream::JetStream::new(cfg, q)),
            QueueKind::NatsCore => Broker::NatsCore(nats_core::NatsCore::new(cfg, q, rng)),
            QueueKind::Pubsub => Broker::PubSub(pubsub::PubSub::new(cfg, q, seed, rng)),
            _ => Broker::Sqs(sqs::Sqs::new(cfg, q, seed, rng)),
        }
    }

    pub fn config(&self) -> &Queue {
        match self {
            Broker::Sqs(b) => b.config(),
            Broker::JetStream(b) => b.config(),
            Broker::NatsCore(b) => b.config(),
            Broker::PubSub(b) => b.sub().config(),
        }
    }

    /// Messages held (delayed, visible or in flight).
    #[inline]
    pub fn live(&self) -> u64 {
        match self {
            Broker::Sqs(b) => b.live(),
            Broker::JetStream(b) => b.live(),
            Broker::NatsCore(b) => b.live(),
            Broker::PubSub(b) => b.sub().live(),
        }
    }

    #[inline]
    pub fn in_flight(&self) -> u64 {
        match self {
            Broker::Sqs(b) => b.in_flight(),
            Broker::JetStream(b) => b.in_flight(),
            Broker::NatsCore(b) => b.in_flight(),
            Broker::PubSub(b) => b.sub().in_flight(),
        }
    }

    pub fn visible_or_delayed(&self) -> u64 {
        match self {
            Broker::Sqs(b) => b.visible_or_delayed(),
            Broker::JetStream(b) => b.visible_or_delayed(),
            Broker::NatsCore(b) => b.visible_or_delayed(),
            Broker::PubSub(b) => b.sub().visible_or_delayed(),
        }
    }

    /// Whether a receive now could return a message.
    #[inline]
    pub fn can_deliver(&self) -> bool {
        match self {
            Broker::Sqs(b) => b.can_deliver(),
            Broker::JetStream(b) => b.can_deliver(),
            Broker::NatsCore(b) => b.can_deliver(),
            Broker::PubSub(b) => b.sub().can_deliver(),
        }
    }

    /// Whether deliveries of one message group must be processed in order.
    pub fn ordered(&self) -> bool {
        match self {
            Broker::Sqs(b) => b.is_fifo(),
            Broker::JetStream(_) | Broker::NatsCore(_) => false,
            Broker::PubSub(b) => b.ordered(),
        }
    }

    /// Calls refused by API quotas, per [`Action`], if the broker has quotas.
    pub fn throttled(&self) -> Option<[u64; 3]> {
        match self {
            Broker::Sqs(b) => b.throttled(),
            Broker::JetStream(_) | Broker::NatsCore(_) | Broker::PubSub(_) => None,
        }
    }

    /// How long a client waits before retrying a call this queue throttled.
    pub fn throttle_retry_ns(&self) -> Nanos {
        self.config().fifo.throttle_retry_ns
    }

    /// Whether an API call of `action` now is within the broker's quota.
    #[inline]
    pub fn admit(&mut self, action: Action, now: Nanos) -> bool {
        match self {
            Broker::Sqs(b) => b.admit(action, now),
            Broker::JetStream(_) | Broker::NatsCore(_) | Broker::PubSub(_) => true,
        }
    }

    /// Enqueue a message; `repeat`: the sender had this key accepted before.
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
        match self {
            Broker::Sqs(b) => b.send(ev, obs, key, first_send_ns, delay_ns, repeat),
            Broker::JetStream(b) => b.send(ev, obs, key, first_send_ns, delay_ns, repeat),
            Broker::NatsCore(b) => b.send(ev, obs, key, first_send_ns, delay_ns, repeat),
            Broker::PubSub(b) => b.send(ev, obs, key, first_send_ns, delay_ns, repeat),
        }
    }

    /// Lease up to `max` messages to `worker` into `out`.
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
        match self {
            Broker::Sqs(b) => b.receive(ev, obs, max, vt_ns, worker, short_poll, out),
            Broker::JetStream(b) => b.receive(ev, obs, max, vt_ns, worker, short_poll, out),
            Broker::NatsCore(b) => b.receive(ev, obs, max, vt_ns, worker, short_poll, out),
            Broker::PubSub(b) => b.receive(ev, obs, max, vt_ns, worker, short_poll, out),
        }
    }

    /// Whether `h` is the current lease of a message in flight (an ack with
    /// it now would be accepted under every ack policy).
    pub fn holds(&self, h: Handle) -> bool {
        let inner = match self {
            Broker::Sqs(b) => b,
            Broker::PubSub(b) => b.sub(),
            Broker::JetStream(_) | Broker::NatsCore(_) => return true,
        };
        inner.by_handle(h).is_some_and(|m| m.receive_count == h.receive && m.state == sqs::State::InFlight)
    }

    /// Start loading the message at slot `at` (a handle's `at`) into the
    /// cache (a hint; changes nothing).
    #[inline]
    pub fn prefetch(&self, at: u32) {
        match self {
            Broker::Sqs(b) => b.prefetch(at),
            Broker::JetStream(b) => b.prefetch(at),
            Broker::NatsCore(_) => {}
            Broker::PubSub(b) => b.sub().prefetch(at),
        }
    }

    /// Give back memory held for a burst of messages: the store's slab
    /// (`store.rs`, [`store::Store::shrink`]), the visible set, JetStream's
    /// redelivery queue and the send deduplication window (forgetting ids
    /// whose interval ended by `now`). Between events only. Changes no
    /// result.
    pub fn shrink(&mut self, now: Nanos) {
        match self {
            Broker::Sqs(b) => b.shrink(now),
            Broker::JetStream(b) => b.shrink(now),
            Broker::NatsCore(_) => {}
            Broker::PubSub(b) => b.sub_mut().shrink(now),
        }
    }

    /// Shrink the message store once its slab holds more than four times
    /// its messages plus `slots` (tests lower it to shrink often).
    pub fn set_shrink_above(&mut self, slots: usize) {
        match self {
            Broker::Sqs(b) => b.set_shrink_above(slots),
            Broker::JetStream(b) => b.set_shrink_above(slots),
            Broker::NatsCore(_) => {}
            Broker::PubSub(b) => b.sub_mut().set_shrink_above(slots),
        }
    }

    /// Record what became of delivery `h` (decides the next redelivery's cause).
    #[inline]
    pub fn set_fate(&mut self, h: Handle, fate: Fate, now: Nanos) {
        match self {
            Broker::Sqs(b) => b.set_fate(h, fate, now),
            Broker::JetStream(b) => b.set_fate(h, fate, now),
            Broker::NatsCore(b) => b.set_fate(h, fate, now),
            Broker::PubSub(b) => b.sub_mut().set_fate(h, fate, now),
        }
    }

    /// Extend (t > 0) or release (t = 0) the lease of `h`: a failed
    /// attempt's release or backoff (JetStream: -NAK, with a delay if t > 0).
    #[inline]
    pub fn change_visibility(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        h: Handle,
        t_ns: Nanos,
    ) -> ChangeOutcome {
        match self {
            Broker::Sqs(b) => b.change_visibility(ev, h, t_ns),
            Broker::JetStream(b) => b.nak(ev, obs, h, t_ns),
            // No ack, no redelivery: the handler's return settled the message.
            Broker::NatsCore(_) => ChangeOutcome::Gone,
            Broker::PubSub(b) => b.change_visibility(ev, h, t_ns),
        }
    }

    /// Delete (ack) `h`.
    #[inline]
    pub fn delete(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str) -> DeleteOutcome {
        match self {
            Broker::Sqs(b) => b.delete(ev, obs, h, worker),
            Broker::JetStream(b) => b.delete(ev, obs, h, worker),
            Broker::NatsCore(_) => DeleteOutcome::Gone,
            Broker::PubSub(b) => b.delete(ev, obs, h, worker),
        }
    }

    /// A heartbeat: extend the lease of `h` to now + `extend_ns` (JetStream:
    /// +WPI, which restarts the delivery's AckWait or BackOff step instead).
    #[inline]
    pub fn heartbeat(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, extend_ns: Nanos) -> ChangeOutcome {
        match self {
            Broker::Sqs(b) => b.change_visibility(ev, h, extend_ns),
            Broker::JetStream(b) => b.progress(ev, obs, h),
            Broker::NatsCore(_) => ChangeOutcome::Gone,
            Broker::PubSub(b) => b.change_visibility(ev, h, extend_ns),
        }
    }

    /// JetStream +TERM: stop redelivering `h`'s message (config allows it nowhere else).
    pub fn term(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str) -> DeleteOutcome {
        match self {
            Broker::Sqs(_) | Broker::NatsCore(_) | Broker::PubSub(_) => {
                unreachable!("config allows on_failure = term on JetStream only")
            }
            Broker::JetStream(b) => b.term(ev, obs, h, worker),
        }
    }

    /// NATS counters (advisories, late acks, slow consumers), if a NATS broker.
    pub fn nats_stats(&self) -> Option<&jetstream::NatsStats> {
        match self {
            Broker::Sqs(_) | Broker::PubSub(_) => None,
            Broker::JetStream(b) => Some(&b.stats),
            Broker::NatsCore(b) => Some(&b.stats),
        }
    }

    /// Final states a push broker settled outside the metrics: (deleted, lost).
    pub fn settled(&self) -> (u64, u64) {
        match self {
            Broker::NatsCore(b) => b.settled(),
            _ => (0, 0),
        }
    }

    /// Whether messages are pushed to particular consumers (core NATS), so
    /// parked polls are woken per worker rather than first come first served.
    pub fn push(&self) -> bool {
        matches!(self, Broker::NatsCore(_))
    }

    /// Worker `w` consumes this queue (core NATS: a subscription).
    pub fn add_subscriber(&mut self, w: u32, name: &str, connected: bool) {
        if let Broker::NatsCore(b) = self {
            b.add_subscriber(w, name, connected);
        }
    }

    /// Worker `w` connected (started, restarted) or crashed (core NATS).
    pub fn set_connected(&mut self, obs: &mut Obs, now: Nanos, w: u32, connected: bool) {
        if let Broker::NatsCore(b) = self {
            b.set_connected(obs, now, w, connected);
        }
    }

    /// Core NATS: the next worker with new messages in its buffer.
    pub fn take_woken(&mut self) -> Option<u32> {
        match self {
            Broker::NatsCore(b) => b.take_woken(),
            _ => None,
        }
    }

    #[inline]
    pub fn on_timer(&mut self, ev: &mut Events<Event>, obs: &mut Obs, t: Timer) {
        match self {
            Broker::Sqs(b) => b.on_timer(ev, obs, t),
            Broker::JetStream(b) => b.on_timer(ev, obs, t),
            Broker::NatsCore(_) => {}
            Broker::PubSub(b) => b.on_timer(ev, obs, t),
        }
    }

    /// Whether timer `t` may still act when it fires (false: a no-op for
    /// good, dropped by `World::drop_stale_timers`). Core NATS has no timers.
    pub fn timer_due(&self, t: Timer) -> bool {
        match self {
            Broker::Sqs(b) => b.timer_due(t),
            Broker::JetStream(b) => b.timer_due(t),
            Broker::NatsCore(_) => true,
            Broker::PubSub(b) => b.sub().timer_due(t),
        }
    }

    /// Bytes held, for the memory limit (`limits.rs`).
    pub fn footprint(&self) -> u64 {
        match self {
            Broker::Sqs(b) => b.footprint(),
            Broker::JetStream(b) => b.footprint(),
            Broker::NatsCore(b) => b.footprint(),
            Broker::PubSub(b) => b.sub().footprint(),
        }
    }

    /// The SQS queue behind this broker: an SQS queue, or the `sqs.rs`
    /// machinery a Pub/Sub subscription runs on (`--paranoid` checks).
    pub fn as_nats_core(&self) -> Option<&nats_core::NatsCore> {
        match self {
            Broker::NatsCore(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_jetstream(&self) -> Option<&jetstream::JetStream> {
        match self {
            Broker::JetStream(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_sqs(&self) -> Option<&sqs::Sqs> {
        match self {
            Broker::Sqs(b) => Some(b),
            Broker::PubSub(b) => Some(b.sub()),
            Broker::JetStream(_) | Broker::NatsCore(_) => None,
        }
    }

    pub fn check_invariants(&self) {
        match self {
            Broker::Sqs(b) => b.check_invariants(),
            Broker::JetStream(b) => b.check_invariants(),
            Broker::NatsCore(b) => b.check_invariants(),
            Broker::PubSub(b) => b.check_invariants(),
        }
    }
}

/// Count a delivery into `m`: the first of its message, or a redelivery
/// whose cause is the fate of the previous delivery (`previous` deliveries
/// before this one; the fate was set at `fate_end_ns`).
#[inline]
pub(crate) fn count_delivery(m: &mut Metrics, now: Nanos, previous: u32, fate: Fate, fate_end_ns: Nanos) {
    m.deliveries += 1;
    if previous == 0 {
        m.first_deliveries += 1;
        return;
    }
    let (cause, retry) = match fate {
        Fate::Processing => (Cause::Concurrent, None),
        Fate::Failed | Fate::ReceiveLost | Fate::New => (Cause::AfterFailure, Some(now - fate_end_ns)),
        Fate::Crashed => (Cause::AfterCrash, Some(now - fate_end_ns)),
        Fate::Succeeded => (Cause::AfterSuccess, None),
        Fate::BrokerDuplicate => (Cause::Broker, None),
    };
    m.redelivery(now, cause, retry);
}

/// The random stream of queue `q`: `broker` for the first queue (as before
/// topologies existed, so one-queue results are unchanged), else `broker:<name>`.
fn broker_stream_name(q: u16, name: &str) -> String {
    if q == 0 {
        "broker".to_string()
    } else {
        format!("broker:{name}")
    }
}

/// A broker's own timers, carried by `Event::Broker`.
#[derive(Debug, Clone, Copy)]
pub enum Timer {
    /// A delayed message becomes visible.
    DelayEnd { id: u64 },
    /// A lease (visibility timeout, AckWait, ack deadline) runs out, unless
    /// `gen` is stale.
    LeaseEnd { id: u64, gen: u32 },
    /// Remove messages past retention.
    RetentionCheck,
    /// Move the DLQ back into the queue.
    Redrive,
}

/// What a send did at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Enqueued with this message id.
    Accepted(u64),
    /// Accepted, but a duplicate inside the deduplication interval: not enqueued.
    Deduplicated,
    /// Refused by an API quota (ThrottlingException): the client retries.
    Throttled,
}

/// A receipt handle: a message and the receive that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Handle {
    pub id: u64,
    pub receive: u32,
    /// Where the broker keeps the message (its slot in `store.rs`), so that
    /// a reply finds it without a lookup by id (unless a shrink has moved
    /// it since: then by id); 0 where unused.
    pub at: u32,
}

/// What became of a message's most recent delivery; decides the cause of the
/// next redelivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Never delivered.
    New,
    /// The holder is still working on it.
    Processing,
    /// The attempt failed or released the message.
    Failed,
    /// The holder crashed (or died before the receive reached it).
    Crashed,
    /// The attempt succeeded; the delete was lost, rejected or late.
    Succeeded,
    /// The receive response was lost: nobody got this delivery.
    ReceiveLost,
    /// A replica missed the delete.
    BrokerDuplicate,
}

/// One message handed out by a receive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery {
    pub handle: Handle,
    pub key: u64,
    pub first_send_ns: u64,
    /// Message group and place in it (ordered brokers; 0 otherwise).
    pub group: u32,
    pub seq: u32,
}

/// Up to ten messages from one receive (no allocation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch {
    pub len: usize,
    pub items: [Delivery; 10],
}

impl Batch {
    pub fn push(&mut self, d: Delivery) {
        self.items[self.len] = d;
        self.len += 1;
    }

    pub fn as_slice(&self) -> &[Delivery] {
        &self.items[..self.len]
    }
}

/// Outcome of a DeleteMessage call at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// Accepted, but the handle was stale and the message stays (latest_only).
    StaleKept,
    /// The message was already gone.
    Gone,
    /// Rejected: ReceiptHandleIsInvalid (strict).
    Rejected,
}

/// Outcome of a ChangeMessageVisibility call at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The lease now ends at the requested time (or the message is visible).
    Changed,
    /// Changed, with an older handle than the newest (`any_handle`): the
    /// lease of the current holder moved.
    ChangedByOlderHandle,
    /// Nothing changed: an older handle under `latest_only` (JetStream:
    /// a stale delivery's reply under `late_ack = "ignored"`).
    Stale,
    /// JetStream: a stale delivery's +WPI or -NAK acted on the newest
    /// delivery (the server matches replies by stream sequence).
    LateBySequence,
    /// Nothing changed: the message is visible again (its lease ended).
    LeaseEnded,
    /// Nothing changed: the message was deleted, moved to the DLQ or expired.
    Gone,
    /// Rejected: would hide the message past 12 h after its latest receive.
    Rejected,
}

impl ChangeOutcome {
    pub fn changed(self) -> bool {
        matches!(self, ChangeOutcome::Changed | ChangeOutcome::ChangedByOlderHandle | ChangeOutcome::LateBySequence)
    }

    /// The trace detail: why nothing changed, or that an older handle acted.
    pub fn reason(self) -> &'static str {
        match self {
            ChangeOutcome::Changed => "",
            ChangeOutcome::ChangedByOlderHandle => "older handle",
            ChangeOutcome::Stale => "stale handle",
            ChangeOutcome::LateBySequence => "late reply: acted on the newest delivery (by stream sequence)",
            ChangeOutcome::LeaseEnded => "lease already ended",
            ChangeOutcome::Gone => "message gone",
            ChangeOutcome::Rejected => "over 12h",
        }
    }
}
