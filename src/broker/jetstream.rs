//! A NATS JetStream stream with one pull consumer, explicit acks
//! (`kind = "jetstream"`; docs/model.md, "NATS JetStream").
//!
//! Rules followed, with where they come from (nats-server `server/consumer.go`
//! unless noted; \[S\] = read in the server source, not stated in the docs):
//! - A delivered message is *pending* until acked. Its redelivery timer is
//!   AckWait (default 30 s), or with a BackOff list, delivery n waits
//!   BackOff\[min(n-1, len-1)\] and AckWait is BackOff\[0\] \[S checkPending,
//!   trackPending].
//! - MaxAckPending (default 1000) caps pending messages (delivered or waiting
//!   for redelivery): at the cap, new messages are not delivered (silently);
//!   redeliveries still are [S getNextMsg].
//! - Redeliveries go before new messages, in the order they were queued
//!   (the redelivery queue); new messages go in stream order [S getNextMsg].
//! - `+ACK` removes the message; `+WPI` resets the pending timestamp to now,
//!   so the full AckWait/BackOff step starts again, with no limit
//!   [S progressUpdate]. A `+WPI` for a message already queued for
//!   redelivery changes nothing.
//! - `-NAK` queues the message for redelivery at once, ignoring BackOff
//!   [S processNak; nats-server issues 4726, 5856]. `-NAK <delay>` sets the
//!   timestamp to now - AckWait + delay, so with BackOff the redelivery comes
//!   at delay + BackOff\[n-1\] - BackOff\[0\] \[S\]; `nak_delay = "plain"` uses the
//!   delay alone (the documentation's reading).
//! - `+TERM` acks and publishes a MSG_TERMINATED advisory [S processTerm].
//! - MaxDeliver (default unlimited): a message whose AckWait/BackOff step
//!   ends after its last allowed delivery, or that is taken from the
//!   redelivery queue past it, leaves pending and one max-deliveries
//!   advisory is published [S hasMaxDeliveries, getNextMsg]. JetStream has no
//!   DLQ; the model reports the message as final state `dlq`.
//! - Replies are matched by stream sequence while the message is pending: a
//!   stale delivery's `+ACK`, `+WPI`, `-NAK` or `+TERM` acts on the newest
//!   delivery [S processAckMsg, progressUpdate, processNak; nats-server issue
//!   4786]. `late_ack = "ignored"` drops such replies, for comparison.
//! - A consumer that disconnects or crashes causes no redelivery before its
//!   step ends (nats-server issues 4627, 4716): nothing here reacts to a crash.
//! - Publish deduplication: a `Nats-Msg-Id` seen within `duplicate_window`
//!   (default 2 min) is acknowledged as a duplicate and not stored
//!   [S server/stream.go]; the window is `dedup.rs`.
//! - A publish whose subject the stream's `subjects` do not capture is stored
//!   nowhere: with core NATS publish it is fire-and-forget, final state `lost`.
//!
//! Messages live in a `store.rs` store by stream sequence (message id), as
//! in `sqs.rs`: a finished message is freed at once, and the store's index
//! is compacted (delivered messages at its front move to a map by id, never
//! past the cursor), so a message redelivered without end (no MaxDeliver)
//! does not pin memory for every message after it.

use super::dedup::Dedup;
use super::store::{Id48, Store, Stored, SHRINK_ABOVE};
use super::{Batch, ChangeOutcome, DeleteOutcome, Delivery, Fate, Handle, SendOutcome, Timer};
use crate::duration::Nanos;
use crate::engine::Events;
use crate::metrics::Obs;
use crate::scenario::{LateAck, NakDelay, Queue};
use crate::sim::Event;
use crate::trace::Kind;
use serde::Serialize;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Stored, never delivered.
    New,
    /// Pending, its AckWait/BackOff step running.
    InFlight,
    /// Pending, on the redelivery queue.
    Redeliver,
    Gone,
}

/// A late reply that re-queued the message (shown on its next receive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    None,
    Nak,
}

#[derive(Debug, Clone, Copy)]
struct Msg {
    /// The stream sequence (0 once freed: see `store.rs`).
    id: Id48,
    key: u64,
    first_send_ns: Nanos,
    /// Deliveries so far (the delivery count of the newest delivery).
    dc: u32,
    /// Timer and redelivery-queue generation: a stale entry does nothing.
    gen: u32,
    state: State,
    fate: Fate,
    fate_end_ns: Nanos,
    late: Late,
}

impl Stored for Msg {
    #[inline]
    fn id48(&self) -> Id48 {
        self.id
    }
    #[inline]
    fn id48_mut(&mut self) -> &mut Id48 {
        &mut self.id
    }
}

/// Counters of NATS-specific events, reported under `nats` in the summary.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct NatsStats {
    /// Max-deliveries advisories published (messages that left pending).
    pub max_deliveries_advisories: u64,
    /// Messages acked by +TERM (MSG_TERMINATED advisories).
    pub terminated: u64,
    /// Stale deliveries' replies that acted on the newest delivery, by verb.
    pub late_acks: LateAcks,
    /// Stale deliveries' replies dropped (`late_ack = "ignored"`).
    pub late_acks_ignored: u64,
    /// Pulls that stopped at MaxAckPending with new messages waiting.
    pub max_ack_pending_stalls: u64,
    /// Publishes the stream did not capture (subject mismatch): lost.
    pub not_captured: u64,
    /// Core NATS: messages dropped past a subscription's pending limits.
    pub dropped: u64,
    /// Core NATS: slow-consumer episodes (drops since the last accepted message count once).
    pub slow_consumer_episodes: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LateAcks {
    /// +ACK (and +TERM) of a stale delivery that acked the newest one.
    pub ack: u64,
    /// +WPI of a stale delivery that restarted the newest one's step.
    pub progress: u64,
    /// -NAK of a stale delivery that re-queued the newest one.
    pub nak: u64,
}

impl NatsStats {
    pub fn add(&mut self, o: &NatsStats) {
        self.max_deliveries_advisories += o.max_deliveries_advisories;
        self.terminated += o.terminated;
        self.late_acks.ack += o.late_acks.ack;
        self.late_acks.progress += o.late_acks.progress;
        self.late_acks.nak += o.late_acks.nak;
        self.late_acks_ignored += o.late_acks_ignored;
        self.max_ack_pending_stalls += o.max_ack_pending_stalls;
        self.not_captured += o.not_captured;
        self.dropped += o.dropped;
        self.slow_consumer_episodes += o.slow_consumer_episodes;
    }
}

pub struct JetStream {
    cfg: Queue,
    q: u16,
    /// The stream's messages by stream sequence; the next one is
    /// `store.next_id()`.
    store: Store<Msg>,
    /// The first stream sequence never delivered (the consumer's cursor).
    cursor: u64,
    /// The redelivery queue: (id, gen) in the order messages were queued.
    rdq: VecDeque<(u64, u32)>,
    redeliver: u64,
    in_flight: u64,
    live: u64,
    dedup: Option<Dedup>,
    pub stats: NatsStats,
}

/// How a stale reply is matched.
enum Match {
    /// The reply's own delivery is the newest.
    Current,
    /// A stale delivery's reply acts on the newest (by stream sequence).
    Late,
    /// A stale delivery's reply is dropped.
    Ignored,
}

impl JetStream {
    /// Bytes held by the stream's store, the redelivery queue and the
    /// deduplication window, for the memory limit.
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        self.store.footprint()
            + bytes_of::<(u64, u32)>(self.rdq.capacity())
            + self.dedup.as_ref().map_or(0, Dedup::footprint)
    }

    pub fn new(cfg: Queue, q: u16) -> JetStream {
        let dedup = cfg.nats.msg_id.then(|| Dedup::new(cfg.nats.duplicate_window_ns));
        JetStream {
            cfg,
            q,
            store: Store::new(),
            cursor: 1,
            rdq: VecDeque::with_capacity(256),
            redeliver: 0,
            in_flight: 0,
            live: 0,
            dedup,
            stats: NatsStats::default(),
        }
    }

    pub fn config(&self) -> &Queue {
        &self.cfg
    }

    pub fn live(&self) -> u64 {
        self.live
    }

    /// Pending messages whose step is running (held by a consumer, or lost with it).
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// New messages and messages waiting for redelivery.
    pub fn visible_or_delayed(&self) -> u64 {
        self.live - self.in_flight
    }

    /// Pending: delivered and not acked (the MaxAckPending count).
    pub fn pending(&self) -> u64 {
        self.in_flight + self.redeliver
    }

    fn new_waiting(&self) -> bool {
        self.cursor < self.store.next_id()
    }

    fn under_cap(&self) -> bool {
        self.cfg.nats.max_ack_pending == 0 || self.pending() < self.cfg.nats.max_ack_pending
    }

    /// Whether a pull now could return a message.
    #[inline]
    pub fn can_deliver(&self) -> bool {
        self.redeliver > 0 || (self.new_waiting() && self.under_cap())
    }

    fn get(&self, id: u64) -> Option<&Msg> {
        self.store.get(id)
    }

    /// Start loading the message at slot `at` (a handle's) into the cache
    /// (a hint: see `prefetch.rs`).
    #[inline]
    pub fn prefetch(&self, at: u32) {
        self.store.prefetch(at);
    }

    /// See [`super::Broker::shrink`]: the store's slab, the redelivery
    /// queue and the deduplication window.
    pub fn shrink(&mut self, now: Nanos) {
        if self.store.oversized() {
            self.store.shrink();
        }
        if let Some(d) = &mut self.dedup {
            d.shrink(now, SHRINK_ABOVE);
        }
        if let Some(keep) = crate::limits::give_back(self.rdq.len(), self.rdq.capacity(), SHRINK_ABOVE) {
            self.rdq.shrink_to(keep);
        }
    }

    pub fn set_shrink_above(&mut self, slots: usize) {
        self.store.set_shrink_above(slots);
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Msg> {
        self.store.get_mut(id)
    }

    /// The message of reply `h` (whichever delivery it answers), from the
    /// slot the handle names.
    fn by_handle(&self, h: Handle) -> Option<&Msg> {
        self.store.get_at(h.at, h.id)
    }

    fn by_handle_mut(&mut self, h: Handle) -> Option<&mut Msg> {
        self.store.get_at_mut(h.at, h.id)
    }

    fn lease_end(&self, id: u64, gen: u32) -> Event {
        Event::Broker { q: self.q, t: Timer::LeaseEnd { id, gen } }
    }

    /// Publish: store the message unless its Nats-Msg-Id is a duplicate
    /// inside the window, or the stream does not capture the subject.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        key: u64,
        first_send_ns: Nanos,
        _delay_ns: Nanos,
        repeat: bool,
    ) -> SendOutcome {
        let now = ev.now();
        let q = self.q as usize;
        if !self.cfg.nats.captures_producer {
            self.stats.not_captured += 1;
            let m = &mut obs.m[q];
            m.enqueued(now, repeat);
            m.lost += 1;
            obs.trace(q, now, Kind::Lost, None, "", None, "subject not captured by the stream: fire-and-forget");
            return SendOutcome::Deduplicated;
        }
        if self.dedup.as_mut().is_some_and(|d| !d.accept(now, key)) {
            obs.m[q].deduplicated += 1;
            obs.trace(q, now, Kind::Send, None, "", None, "duplicate Nats-Msg-Id: PubAck duplicate; not stored");
            return SendOutcome::Deduplicated;
        }
        let id = self.store.next_id();
        self.store.push(Msg {
            id: Id48::default(),
            key,
            first_send_ns,
            dc: 0,
            gen: 0,
            state: State::New,
            fate: Fate::New,
            fate_end_ns: 0,
            late: Late::None,
        });
        self.live += 1;
        obs.m[q].enqueued(now, repeat);
        obs.trace(q, now, Kind::Send, Some(id), "", None, "");
        SendOutcome::Accepted(id)
    }

    /// A pull (fetch) of up to `max` messages: redeliveries first, then new
    /// messages in stream order while under MaxAckPending. JetStream has no
    /// per-pull lease, so `vt_ns` is ignored, and no short-poll misses.
    #[allow(clippy::too_many_arguments)]
    pub fn receive(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        max: usize,
        _vt_ns: Option<Nanos>,
        worker: &str,
        _short_poll: bool,
        out: &mut Batch,
    ) {
        out.len = 0;
        while out.len < max {
            if let Some((id, gen)) = self.rdq.pop_front() {
                let Some(&m) = self.get(id) else { continue };
                if m.state != State::Redeliver || m.gen != gen {
                    continue;
                }
                self.redeliver -= 1;
                if self.cfg.nats.max_deliver.is_some_and(|max| m.dc >= max) {
                    self.max_deliveries(obs, ev.now(), id);
                    continue;
                }
                self.deliver(ev, obs, id, worker, out);
            } else if self.new_waiting() {
                if !self.under_cap() {
                    self.stats.max_ack_pending_stalls += 1;
                    break;
                }
                let id = self.cursor;
                self.cursor += 1;
                self.deliver(ev, obs, id, worker, out);
            } else {
                break;
            }
        }
    }

    fn deliver(&mut self, ev: &mut Events<Event>, obs: &mut Obs, id: u64, worker: &str, out: &mut Batch) {
        let now = ev.now();
        let q = self.q as usize;
        let Some(at) = self.store.slot_of(id) else { return };
        let m = self.store.at_mut(at);
        debug_assert!(matches!(m.state, State::New | State::Redeliver));
        let (previous, fate, fate_end, late) = (m.dc, m.fate, m.fate_end_ns, m.late);
        m.dc += 1;
        m.state = State::InFlight;
        m.gen = m.gen.wrapping_add(1);
        m.fate = Fate::Processing;
        m.late = Late::None;
        let (dc, gen, key, first_send_ns) = (m.dc, m.gen, m.key, m.first_send_ns);
        self.in_flight += 1;
        let step = self.cfg.nats.step_ns(dc);
        ev.after(step, self.lease_end(id, gen));
        super::count_delivery(&mut obs.m[q], now, previous, fate, fate_end);
        let detail = if late == Late::Nak { "after a late -NAK re-queued the newest delivery" } else { "" };
        obs.trace(q, now, Kind::Receive, Some(id), worker, Some(dc), detail);
        out.push(Delivery { handle: Handle { id, receive: dc, at }, key, first_send_ns, group: 0, seq: 0 });
    }

    /// Record what became of delivery `h` (only for the newest delivery).
    pub fn set_fate(&mut self, h: Handle, fate: Fate, now: Nanos) {
        if let Some(m) = self.by_handle_mut(h).filter(|m| m.dc == h.receive) {
            m.fate = fate;
            m.fate_end_ns = now;
        }
    }

    fn matching(&mut self, h: Handle) -> Option<Match> {
        let late_ack = self.cfg.nats.late_ack;
        let m = self.by_handle(h)?;
        debug_assert!(h.receive <= m.dc, "a reply from a future delivery");
        Some(match (m.dc == h.receive, late_ack) {
            (true, _) => Match::Current,
            (false, LateAck::BySequence) => Match::Late,
            (false, LateAck::Ignored) => {
                self.stats.late_acks_ignored += 1;
                Match::Ignored
            }
        })
    }

    /// An AckWait/BackOff step ends: the message goes on the redelivery
    /// queue, or past MaxDeliver leaves pending with an advisory.
    /// Whether timer `t` may still act when it fires (false: a no-op for
    /// good). An AckWait timer is stale once its message is gone (acked,
    /// terminated, past MaxDeliver: JetStream never brings a message back)
    /// or has had a newer delivery (generations only grow).
    pub fn timer_due(&self, t: Timer) -> bool {
        match t {
            Timer::LeaseEnd { id, gen } => self.get(id).is_some_and(|m| m.gen == gen),
            Timer::DelayEnd { .. } | Timer::RetentionCheck | Timer::Redrive => true,
        }
    }

    fn on_lease_end(&mut self, ev: &Events<Event>, obs: &mut Obs, id: u64, gen: u32) {
        let now = ev.now();
        let q = self.q as usize;
        let max_deliver = self.cfg.nats.max_deliver;
        let Some(m) = self.get_mut(id) else { return };
        if m.state != State::InFlight || m.gen != gen {
            return;
        }
        let premature = m.fate == Fate::Processing;
        let dc = m.dc;
        self.in_flight -= 1;
        if premature {
            obs.m[q].premature_expiries += 1;
            obs.m[q].bucket(now).premature_expiries += 1;
        }
        let detail = if premature { "holder still processing" } else { "" };
        obs.trace(q, now, Kind::Expire, Some(id), "", Some(dc), detail);
        if max_deliver.is_some_and(|max| dc >= max) {
            return self.max_deliveries(obs, now, id);
        }
        self.queue_redelivery(id);
    }

    fn queue_redelivery(&mut self, id: u64) {
        let Some(m) = self.get_mut(id) else { return };
        m.state = State::Redeliver;
        m.gen = m.gen.wrapping_add(1);
        let gen = m.gen;
        self.redeliver += 1;
        self.rdq.push_back((id, gen));
    }

    /// MaxDeliver reached: the message leaves pending, one advisory.
    fn max_deliveries(&mut self, obs: &mut Obs, now: Nanos, id: u64) {
        let Some(at) = self.store.slot_of(id) else { return };
        let dc = self.store.at(at).dc;
        self.stats.max_deliveries_advisories += 1;
        obs.m[self.q as usize].dlq_moved(dc);
        self.remove(id, at);
        obs.trace(self.q as usize, now, Kind::Dlq, Some(id), "", Some(dc), "max deliveries advisory");
    }

    /// +WPI: restart the newest delivery's AckWait/BackOff step from now.
    pub fn progress(&mut self, ev: &mut Events<Event>, _obs: &mut Obs, h: Handle) -> ChangeOutcome {
        let Some(how) = self.matching(h) else { return ChangeOutcome::Gone };
        if matches!(how, Match::Ignored) {
            return ChangeOutcome::Stale;
        }
        let Some(m) = self.by_handle_mut(h) else { return ChangeOutcome::Gone };
        if m.state != State::InFlight {
            return ChangeOutcome::LeaseEnded;
        }
        m.gen = m.gen.wrapping_add(1);
        let (gen, dc) = (m.gen, m.dc);
        let step = self.cfg.nats.step_ns(dc);
        ev.after(step, self.lease_end(h.id, gen));
        if matches!(how, Match::Late) {
            self.stats.late_acks.progress += 1;
            return ChangeOutcome::LateBySequence;
        }
        ChangeOutcome::Changed
    }

    /// -NAK (`delay_ns` = 0: redeliver at once, BackOff ignored) or -NAK
    /// with a delay (shifted by BackOff under `nak_delay = "shifted"`).
    pub fn nak(&mut self, ev: &mut Events<Event>, _obs: &mut Obs, h: Handle, delay_ns: Nanos) -> ChangeOutcome {
        let now = ev.now();
        let Some(how) = self.matching(h) else { return ChangeOutcome::Gone };
        if matches!(how, Match::Ignored) {
            return ChangeOutcome::Stale;
        }
        let nats = &self.cfg.nats;
        let redeliver_at = match nats.nak_delay {
            _ if delay_ns == 0 => now,
            NakDelay::Plain => now + delay_ns,
            // ts = now - AckWait + delay; the step of delivery dc ends at ts + step(dc).
            NakDelay::Shifted => {
                let dc = self.by_handle(h).map_or(1, |m| m.dc);
                (now + delay_ns + nats.step_ns(dc)).saturating_sub(nats.ack_wait_ns).max(now)
            }
        };
        let late = matches!(how, Match::Late);
        let Some(state) = self.by_handle(h).map(|m| m.state) else { return ChangeOutcome::Gone };
        match state {
            State::InFlight => self.in_flight -= 1,
            // Already queued: a plain -NAK is ignored; one with a delay takes it off the queue.
            State::Redeliver if delay_ns == 0 => return ChangeOutcome::LeaseEnded,
            State::Redeliver => self.redeliver -= 1,
            State::New | State::Gone => return ChangeOutcome::Gone,
        }
        if late {
            self.stats.late_acks.nak += 1;
        }
        let Some(m) = self.by_handle_mut(h) else { return ChangeOutcome::Gone };
        if late {
            m.late = Late::Nak;
        }
        if delay_ns == 0 {
            self.queue_redelivery(h.id);
        } else {
            m.state = State::InFlight;
            m.gen = m.gen.wrapping_add(1);
            let gen = m.gen;
            self.in_flight += 1;
            ev.at(redeliver_at, self.lease_end(h.id, gen));
        }
        if late {
            ChangeOutcome::LateBySequence
        } else {
            ChangeOutcome::Changed
        }
    }

    /// +ACK: remove the pending message (a stale delivery's ack acks the newest).
    pub fn delete(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str) -> DeleteOutcome {
        self.ack(ev, obs, h, worker, false)
    }

    /// +TERM: ack, and a MSG_TERMINATED advisory.
    pub fn term(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str) -> DeleteOutcome {
        self.ack(ev, obs, h, worker, true)
    }

    fn ack(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str, term: bool) -> DeleteOutcome {
        let now = ev.now();
        let q = self.q as usize;
        let Some(how) = self.matching(h) else {
            obs.trace(q, now, Kind::DeleteStale, Some(h.id), worker, Some(h.receive), "already acked");
            return DeleteOutcome::Gone;
        };
        // The message's slot now (a shrink may have moved it since the delivery).
        let at = self.store.find(h.at, h.id).expect("matching found the message");
        let (dc, state) = (self.store.at(at).dc, self.store.at(at).state);
        let detail = match how {
            Match::Ignored => {
                let detail =
                    if term { "late +TERM ignored; message stays" } else { "late +ACK ignored; message stays" };
                obs.trace(q, now, Kind::DeleteStale, Some(h.id), worker, Some(h.receive), detail);
                return DeleteOutcome::StaleKept;
            }
            Match::Late => {
                self.stats.late_acks.ack += 1;
                if term {
                    "late +TERM: terminated the newest delivery (by stream sequence)"
                } else {
                    "late +ACK: acked the newest delivery (by stream sequence)"
                }
            }
            Match::Current if term => "+TERM",
            Match::Current => "",
        };
        debug_assert!(dc >= h.receive);
        match state {
            State::InFlight => self.in_flight -= 1,
            State::Redeliver => self.redeliver -= 1,
            _ => {}
        }
        if term {
            self.stats.terminated += 1;
        }
        obs.trace(q, now, Kind::Delete, Some(h.id), worker, Some(h.receive), detail);
        self.remove(h.id, at);
        obs.m[q].deleted += 1;
        DeleteOutcome::Deleted
    }

    /// Free message `id`, held at slot `at` (the caller has taken it out of
    /// its count).
    fn remove(&mut self, id: u64, at: u32) {
        let m = self.store.at_mut(at);
        debug_assert_eq!(m.id(), id);
        debug_assert!(m.state != State::New, "only pending messages are removed");
        m.state = State::Gone;
        self.live -= 1;
        self.store.free(at);
        let cursor = self.cursor;
        self.store.removed(id, cursor, |m| m.state == State::Gone);
        if self.store.sparse(self.live as usize) {
            // Never past the cursor: messages not yet delivered stay in the index, in stream order.
            self.store.compact(self.live as usize, cursor, |m| m.state == State::Gone);
        }
    }

    pub fn on_timer(&mut self, ev: &mut Events<Event>, obs: &mut Obs, t: Timer) {
        match t {
            Timer::LeaseEnd { id, gen } => self.on_lease_end(ev, obs, id, gen),
            Timer::DelayEnd { .. } | Timer::RetentionCheck | Timer::Redrive => {}
        }
    }

    /// The books `--paranoid` checks after every event (`paranoid.rs`), the
    /// first broken one described: the counts agree with the messages (live,
    /// in flight, queued for redelivery, new exactly past the cursor, none
    /// finished but held); an in-flight message has exactly one live
    /// AckWait/BackOff timer (`timers`: the pending `LeaseEnd` timers by
    /// (queue, message), as (gen, due)), due now or later, and no other message has
    /// one; a message queued for redelivery is on the redelivery queue
    /// exactly once with its generation; delivery counts only grow
    /// (`seen`: the last count seen per message). Returns the live count.
    pub fn check_books(
        &self,
        now: Nanos,
        timers: &crate::paranoid::LeaseTimers,
        seen: &mut std::collections::HashMap<(u16, u64), u32>,
    ) -> Result<u64, String> {
        let mut queued: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
        for &(id, gen) in &self.rdq {
            if self.get(id).is_some_and(|m| m.state == State::Redeliver && m.gen == gen) {
                *queued.entry(id).or_insert(0) += 1;
            }
        }
        let (mut live, mut in_flight, mut redeliver, mut new) = (0u64, 0u64, 0u64, 0u64);
        for (id, m) in self.store.iter() {
            live += 1;
            let last = seen.entry((self.q, id)).or_insert(0);
            if m.dc < *last {
                return Err(format!("message {id}'s delivery count went down from {last} to {}", m.dc));
            }
            *last = m.dc;
            let live_timers: Vec<Nanos> = crate::paranoid::live_timers(timers, (self.q, id), m.gen);
            if (m.state == State::New) != (id >= self.cursor) {
                return Err(format!("message {id} is {:?} and the cursor is at {}", m.state, self.cursor));
            }
            match m.state {
                State::InFlight => {
                    in_flight += 1;
                    match live_timers.as_slice() {
                        [t] if *t >= now => {}
                        [t] => {
                            return Err(format!("in-flight message {id}'s AckWait timer was due at {t}, before now"))
                        }
                        ts => return Err(format!("in-flight message {id} has {} live AckWait timers", ts.len())),
                    }
                }
                State::Redeliver | State::New => {
                    if m.state == State::Redeliver {
                        redeliver += 1;
                        let n = queued.get(&id).copied().unwrap_or(0);
                        if n != 1 {
                            return Err(format!("message {id} awaits redelivery but is queued {n} times"));
                        }
                    } else {
                        new += 1;
                    }
                    if !live_timers.is_empty() {
                        return Err(format!("message {id} is {:?} but has a live AckWait timer", m.state));
                    }
                }
                State::Gone => return Err(format!("finished message {id} is still held")),
            }
        }
        let counts = (self.live, self.in_flight, self.redeliver, self.store.next_id() - self.cursor);
        if counts != (live, in_flight, redeliver, new) {
            return Err(format!(
                "stream {}: counts (live, in flight, redeliver, new) {counts:?} disagree with its messages {:?}",
                self.q,
                (live, in_flight, redeliver, new)
            ));
        }
        Ok(live)
    }

    /// Internal consistency (debug builds and tests).
    pub fn check_invariants(&self) {
        self.store.check_invariants();
        let count = |s: State| self.store.iter().filter(|(_, m)| m.state == s).count() as u64;
        assert!(
            self.store.far_iter().all(|(_, m)| matches!(m.state, State::InFlight | State::Redeliver)),
            "far holds delivered messages"
        );
        assert_eq!(count(State::Gone), 0, "finished messages are freed");
        assert_eq!(self.live, self.store.len() as u64, "live count");
        assert_eq!(self.in_flight, count(State::InFlight), "in-flight count");
        assert_eq!(self.redeliver, count(State::Redeliver), "redelivery count");
        assert_eq!(self.store.next_id() - self.cursor, count(State::New), "new messages are the ones past the cursor");
        for (id, m) in self.store.iter() {
            assert_eq!(m.state == State::New, id >= self.cursor, "message {id} new iff past the cursor");
        }
    }
}
