//! SQS queues: visibility timeouts, receipt handles, delete and
//! change-visibility policies, the order of visible messages, long and short
//! polling, delay, retention, the in-flight cap, the DLQ (redrive policy) and
//! broker-side duplicates. A FIFO queue (`kind = "sqs_fifo"`) is the same
//! queue with message groups deciding what a receive takes (`sqs_fifo.rs`),
//! send deduplication (`dedup.rs`), per-action quotas (`throttle.rs`), and
//! deletes with an expired receipt handle rejected. The rules and their
//! sources are in docs/model.md, sections "SQS Standard" and "SQS FIFO".
//!
//! Messages live in a `store.rs` store by message id: ids are given in send
//! order, so the oldest live message is at the index's front (or in its
//! `far` map) and retention deadlines come in id order. A finished message
//! is freed at once, so memory follows the live messages, not the messages
//! finished since the oldest one. (A Pub/Sub subscription with ordering
//! keeps finished messages until the front passes them: an ordering replay
//! brings acked messages back.)

use super::dedup::Dedup;
use super::sqs_fifo::{GroupDraw, Groups};
use super::store::{Id48, Store, Stored, SHRINK_ABOVE};
use super::throttle::{Action, Throttle};
use super::{Batch, ChangeOutcome, DeleteOutcome, Delivery, Fate, Handle, SendOutcome, Timer};
use crate::duration::{Nanos, NS_PER_S};
use crate::engine::Events;
use crate::metrics::Obs;
use crate::rng::{chance, Stream};
use crate::scenario::{ChangeVisibilityPolicy, Deduplication, DeletePolicy, Queue, QueueKind, VisibleOrder};
use crate::sim::Event;
use crate::trace::Kind;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Longest total hidden time after the latest receive.
pub const MAX_HIDDEN_NS: Nanos = 12 * 3_600 * NS_PER_S;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Delayed,
    Visible,
    InFlight,
    Gone,
}

#[derive(Debug, Clone, Copy)]
pub struct Msg {
    /// The message id (0 once freed: see `store.rs`).
    id: Id48,
    pub key: u64,
    pub enqueue_ns: Nanos,
    pub first_send_ns: Nanos,
    pub hidden_until_ns: Nanos,
    pub received_at_ns: Nanos,
    pub fate_end_ns: Nanos,
    pub receive_count: u32,
    pub timer_gen: u32,
    /// FIFO: the message group and the message's place in it, in the order
    /// the queue accepted the group's messages (0 on Standard).
    pub group: u32,
    pub seq: u32,
    pub state: State,
    pub fate: Fate,
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

/// A message parked in the dead-letter queue.
#[derive(Debug, Clone, Copy)]
struct DeadLetter {
    key: u64,
    enqueue_ns: Nanos,
    first_send_ns: Nanos,
    /// Place in its FIFO group, kept through a redrive.
    seq: u32,
}

/// Visible messages in the order receives take them (`queue.visible_order`).
/// Entries go stale when a visible message leaves without a receive (a
/// delete, retention); they are skipped when popped.
enum VisibleSet {
    /// Message ids, lowest first.
    OldestSent(BinaryHeap<Reverse<u64>>),
    /// (id, stamp) in the order messages became visible; the stamp is the
    /// message's `timer_gen` when it became visible, so an entry left over
    /// from an earlier visible spell is recognised as stale.
    BecameVisible(VecDeque<(u64, u32)>),
}

/// What a FIFO queue adds to a Standard one.
struct Fifo {
    groups: Groups,
    draw: GroupDraw,
    dedup: Option<Dedup>,
    throttle: Throttle,
}

pub struct Sqs {
    cfg: Queue,
    /// Index of this queue in the world (events and metrics).
    q: u16,
    store: Store<Msg>,
    /// Whether finished messages are freed at once and the store's index
    /// compacted (not with Pub/Sub ordering replays).
    compactable: bool,
    visible: VisibleSet,
    visible_count: u64,
    in_flight: u64,
    live: u64,
    dlq: Vec<DeadLetter>,
    retention_check_at: Option<Nanos>,
    rng: Stream,
    fifo: Option<Box<Fifo>>,
}

impl Sqs {
    /// Bytes held by the store, the visible set, FIFO groups and the DLQ, for
    /// the memory limit (`limits.rs`).
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        let visible = match &self.visible {
            VisibleSet::OldestSent(heap) => bytes_of::<Reverse<u64>>(heap.capacity()),
            VisibleSet::BecameVisible(queue) => bytes_of::<(u64, u32)>(queue.capacity()),
        };
        let fifo = self.fifo.as_ref().map_or(0, |f| f.groups.footprint());
        self.store.footprint() + visible + fifo + bytes_of::<DeadLetter>(self.dlq.capacity())
    }

    /// The ids the store spans (finished ones included), for `--paranoid`
    /// checks.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.store.ids()
    }

    /// Queue number `q` of the world; `seed` draws FIFO message groups.
    pub fn new(cfg: Queue, q: u16, seed: u64, rng: Stream) -> Sqs {
        // A Pub/Sub subscription with message ordering keeps its ordering
        // keys as FIFO message groups (no deduplication, no quota).
        let grouped = cfg.kind == QueueKind::SqsFifo || (cfg.kind == QueueKind::Pubsub && cfg.pubsub.ordering);
        let compactable = !grouped || cfg.kind == QueueKind::SqsFifo;
        let fifo = grouped.then(|| {
            let f = &cfg.fifo;
            Box::new(Fifo {
                groups: Groups::new(f.groups),
                draw: GroupDraw::new(seed, f.groups, f.group_skew),
                dedup: (f.deduplication != Deduplication::PerAttempt).then(|| Dedup::new(f.dedup_window_ns)),
                throttle: Throttle::new(f.api_limit_per_s),
            })
        });
        let visible = match cfg.visible_order {
            VisibleOrder::OldestSent => VisibleSet::OldestSent(BinaryHeap::with_capacity(1024)),
            VisibleOrder::BecameVisible => VisibleSet::BecameVisible(VecDeque::with_capacity(1024)),
        };
        Sqs {
            q,
            cfg,
            store: Store::new(),
            compactable,
            visible,
            visible_count: 0,
            in_flight: 0,
            live: 0,
            dlq: Vec::new(),
            retention_check_at: None,
            rng,
            fifo,
        }
    }

    /// Index of this queue in the world.
    pub fn queue_index(&self) -> usize {
        self.q as usize
    }

    fn timer(&self, t: Timer) -> Event {
        Event::Broker { q: self.q, t }
    }

    /// A FIFO queue's API quota: whether a call of `action` now is admitted.
    #[inline]
    pub fn admit(&mut self, action: Action, now: Nanos) -> bool {
        self.fifo.as_mut().is_none_or(|f| f.throttle.admit(action, now))
    }

    /// Calls refused by the quota, per action (send, receive, delete).
    pub fn throttled(&self) -> Option<[u64; 3]> {
        self.fifo.as_ref().map(|f| f.throttle.throttled)
    }

    pub fn is_fifo(&self) -> bool {
        self.fifo.is_some()
    }

    pub fn config(&self) -> &Queue {
        &self.cfg
    }

    /// Messages in the queue (delayed, visible or in flight).
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Whether a receive now could return a message (something visible, and
    /// room under the in-flight limit).
    #[inline]
    pub fn can_deliver(&self) -> bool {
        let some = match &self.fifo {
            None => self.visible_count > 0,
            Some(f) => f.groups.any_ready(),
        };
        some && self.in_flight < self.cfg.inflight_limit
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    pub fn visible_or_delayed(&self) -> u64 {
        self.live - self.in_flight
    }

    #[inline]
    pub fn get(&self, id: u64) -> Option<&Msg> {
        self.store.get(id).filter(|m| m.state != State::Gone)
    }

    /// Start loading the message at slot `at` (a handle's) into the cache
    /// (a hint: see `prefetch.rs`).
    #[inline]
    pub fn prefetch(&self, at: u32) {
        self.store.prefetch(at);
    }

    /// See [`super::Broker::shrink`]: the store's slab, the visible set and
    /// the FIFO deduplication window.
    pub fn shrink(&mut self, now: Nanos) {
        if self.store.oversized() {
            self.store.shrink();
        }
        if let Some(d) = self.fifo.as_mut().and_then(|f| f.dedup.as_mut()) {
            d.shrink(now, SHRINK_ABOVE);
        }
        let (len, capacity) = match &self.visible {
            VisibleSet::OldestSent(heap) => (heap.len(), heap.capacity()),
            VisibleSet::BecameVisible(queue) => (queue.len(), queue.capacity()),
        };
        if let Some(keep) = crate::limits::give_back(len, capacity, SHRINK_ABOVE) {
            match &mut self.visible {
                VisibleSet::OldestSent(heap) => heap.shrink_to(keep),
                VisibleSet::BecameVisible(queue) => queue.shrink_to(keep),
            }
        }
    }

    pub fn set_shrink_above(&mut self, slots: usize) {
        self.store.set_shrink_above(slots);
    }

    #[inline]
    fn get_mut(&mut self, id: u64) -> Option<&mut Msg> {
        self.store.get_mut(id).filter(|m| m.state != State::Gone)
    }

    /// The message of handle `h`, whichever receive issued it, found from
    /// the slot the handle names (no lookup by id).
    #[inline]
    pub fn by_handle(&self, h: Handle) -> Option<&Msg> {
        self.store.get_at(h.at, h.id).filter(|m| m.state != State::Gone)
    }

    #[inline]
    fn by_handle_mut(&mut self, h: Handle) -> Option<&mut Msg> {
        self.store.get_at_mut(h.at, h.id).filter(|m| m.state != State::Gone)
    }

    /// The message if `h` is its current handle.
    fn current_mut(&mut self, h: Handle) -> Option<&mut Msg> {
        self.by_handle_mut(h).filter(|m| m.receive_count == h.receive)
    }

    /// SendMessage: enqueue a message (after its optional delay). A FIFO
    /// queue may refuse the call (quota) or accept it without enqueueing
    /// (a duplicate inside the deduplication interval). `repeat`: the sender
    /// had this key accepted before (it counts as a producer duplicate).
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
        let now = ev.now();
        let (mut group, mut seq) = (0, 0);
        if let Some(f) = self.fifo.as_mut() {
            if !f.throttle.admit(Action::Send, now) {
                return SendOutcome::Throttled;
            }
            // The deduplication id is the logical key: with either scope it
            // names one message of one group (the group is drawn from the key).
            if f.dedup.as_mut().is_some_and(|d| !d.accept(now, key)) {
                obs.m[self.q as usize].deduplicated += 1;
                let q = self.q as usize;
                obs.trace(q, now, Kind::Send, None, "", None, "deduplicated: accepted, not enqueued");
                return SendOutcome::Deduplicated;
            }
            group = f.draw.group_of(key);
            seq = f.groups.enqueue(group, self.store.next_id());
        }
        let id = self.store.next_id();
        let delayed = delay_ns > 0;
        self.store.push(Msg {
            id: Id48::default(),
            key,
            enqueue_ns: now,
            first_send_ns,
            hidden_until_ns: now + delay_ns,
            received_at_ns: 0,
            fate_end_ns: 0,
            receive_count: 0,
            timer_gen: 0,
            group,
            seq,
            state: if delayed { State::Delayed } else { State::Visible },
            fate: Fate::New,
        });
        self.live += 1;
        let m = &mut obs.m[self.q as usize];
        m.enqueued(now, repeat);
        obs.trace(self.q as usize, now, Kind::Send, Some(id), "", None, "");
        if delayed {
            ev.at(now + delay_ns, self.timer(Timer::DelayEnd { id }));
        } else {
            self.push_visible(id);
        }
        self.schedule_retention(ev);
        SendOutcome::Accepted(id)
    }

    /// Message `id` became visible (sent, delay over, lease ended, released, redriven).
    #[inline(always)]
    fn push_visible(&mut self, id: u64) {
        self.visible_count += 1;
        if self.fifo.is_some() {
            let g = self.get(id).map_or(0, |m| m.group);
            return self.refresh_group(g);
        }
        match &mut self.visible {
            VisibleSet::OldestSent(heap) => heap.push(Reverse(id)),
            VisibleSet::BecameVisible(_) => {
                let Some(m) = self.get_mut(id) else { return };
                // A new stamp: any pending visibility timer is stale already
                // (the message is not in flight), and older entries go stale.
                m.timer_gen = m.timer_gen.wrapping_add(1);
                let stamp = m.timer_gen;
                if let VisibleSet::BecameVisible(fifo) = &mut self.visible {
                    fifo.push_back((id, stamp));
                }
            }
        }
    }

    /// FIFO: list group `g` for receives if nothing of it is in flight and its head is visible.
    #[inline]
    fn refresh_group(&mut self, g: u32) {
        let Some(f) = self.fifo.as_ref() else { return };
        let head_visible = f.groups.head(g).and_then(|h| self.get(h)).is_some_and(|m| m.state == State::Visible);
        if let Some(f) = self.fifo.as_mut() {
            f.groups.refresh(g, head_visible);
        }
    }

    /// FIFO: an in-flight message of group `g` left flight.
    #[inline]
    fn group_left_flight(&mut self, g: u32) {
        if let Some(f) = self.fifo.as_mut() {
            f.groups.left_flight(g);
        }
    }

    /// The next visible message in `visible_order`, skipping stale entries:
    /// its id and slot.
    fn pop_visible(&mut self) -> Option<(u64, u32)> {
        loop {
            let (id, stamp) = match &mut self.visible {
                VisibleSet::OldestSent(heap) => (heap.pop()?.0, None),
                VisibleSet::BecameVisible(fifo) => {
                    let (id, stamp) = fifo.pop_front()?;
                    (id, Some(stamp))
                }
            };
            let Some(at) = self.store.slot_of(id) else { continue };
            let m = self.store.at(at);
            if m.state == State::Visible && stamp.is_none_or(|s| s == m.timer_gen) {
                return Some((id, at));
            }
        }
    }

    /// A message whose lease ended or was released goes back to the queue:
    /// visible at once, or after the redelivery backoff of a Pub/Sub retry
    /// policy (`min x 2^(deliveries - 1)`, at most `max`), as a delayed message.
    #[inline(always)]
    fn return_to_queue(&mut self, ev: &mut Events<Event>, id: u64) {
        let backoff = self.cfg.pubsub.retry_backoff_ns;
        let Some(m) = self.get_mut(id) else { return };
        match backoff {
            None => {
                m.state = State::Visible;
                self.push_visible(id);
            }
            Some((min, max)) => {
                let doublings = m.receive_count.saturating_sub(1).min(40);
                let delay = min.saturating_mul(1u64 << doublings).min(max);
                if delay == 0 {
                    m.state = State::Visible;
                    return self.push_visible(id);
                }
                m.state = State::Delayed;
                m.hidden_until_ns = ev.now() + delay;
                ev.after(delay, self.timer(Timer::DelayEnd { id }));
            }
        }
    }

    /// Bring back message `id`, deleted earlier (a Pub/Sub ordering replay):
    /// visible again with its receive count, its fate a success, its group place
    /// restored, no longer counted deleted. False if its slot is gone.
    pub fn resurrect(&mut self, ev: &Events<Event>, obs: &mut Obs, id: u64, detail: &str) -> bool {
        let now = ev.now();
        let Some(m) = self.store.get_mut(id) else { return false };
        if m.state != State::Gone {
            return false;
        }
        m.state = State::Visible;
        m.hidden_until_ns = now;
        // The lease timer of the delivery that was acked may still be
        // pending: a new generation makes it stale, as for any message that
        // is not in flight (it did nothing when it fired either way: the
        // message is visible or leased anew by then).
        m.timer_gen = m.timer_gen.wrapping_add(1);
        // It was acked: its next delivery is a redelivery after a success.
        m.fate = Fate::Succeeded;
        m.fate_end_ns = now;
        let (g, rc) = (m.group, m.receive_count);
        self.live += 1;
        if let Some(f) = self.fifo.as_mut() {
            f.groups.insert(g, id);
        }
        self.push_visible(id);
        obs.m[self.q as usize].deleted -= 1;
        obs.trace(self.q as usize, now, Kind::Visible, Some(id), "", Some(rc), detail);
        true
    }

    /// The message groups (ordered queues).
    pub fn groups(&self) -> Option<&Groups> {
        self.fifo.as_ref().map(|f| &f.groups)
    }

    /// A delayed message becomes visible.
    pub fn on_delay_end(&mut self, ev: &Events<Event>, obs: &mut Obs, id: u64) {
        if let Some(m) = self.get_mut(id) {
            if m.state == State::Delayed {
                m.state = State::Visible;
                self.push_visible(id);
                obs.trace(self.q as usize, ev.now(), Kind::Visible, Some(id), "", None, "");
            }
        }
    }

    /// One of this queue's timers fires.
    #[inline(always)]
    pub fn on_timer(&mut self, ev: &mut Events<Event>, obs: &mut Obs, t: Timer) {
        match t {
            Timer::DelayEnd { id } => self.on_delay_end(ev, obs, id),
            Timer::LeaseEnd { id, gen } => self.on_visibility_end(ev, obs, id, gen),
            Timer::RetentionCheck => self.on_retention_check(ev, obs),
            Timer::Redrive => {
                self.redrive(ev, obs);
            }
        }
    }

    /// ReceiveMessage at the broker: up to `max` visible messages, oldest
    /// first, each hidden for `vt_ns`. Messages past their receive limit go to
    /// the DLQ instead; messages past retention are removed.
    #[allow(clippy::too_many_arguments)]
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
        out.len = 0;
        if short_poll && chance(&mut self.rng, self.cfg.short_poll_miss) {
            return;
        }
        let vt = vt_ns.unwrap_or(self.cfg.visibility_timeout_ns);
        if self.fifo.is_some() {
            return self.receive_fifo(ev, obs, max, vt, worker, out);
        }
        while out.len < max && self.visible_count > 0 {
            if self.in_flight >= self.cfg.inflight_limit {
                obs.m[self.q as usize].over_limit += 1;
                break;
            }
            let Some((id, at)) = self.pop_visible() else { break };
            self.take(ev, obs, id, at, vt, worker, out);
        }
    }

    /// FIFO receive: the ready group with the oldest head gives as many of
    /// its messages as it can, in order; then the next group.
    fn receive_fifo(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        max: usize,
        vt: Nanos,
        worker: &str,
        out: &mut Batch,
    ) {
        while out.len < max {
            if self.in_flight >= self.cfg.inflight_limit {
                if self.can_deliver_ignoring_limit() {
                    obs.m[self.q as usize].over_limit += 1;
                }
                break;
            }
            let Some(g) = self.fifo.as_mut().and_then(|f| f.groups.pop_ready()) else { break };
            let mut i = 0;
            while out.len < max && self.in_flight < self.cfg.inflight_limit {
                let Some(id) = self.fifo.as_ref().and_then(|f| f.groups.nth(g, i)) else { break };
                let Some(at) = self.store.slot_of(id) else { break };
                if self.store.at(at).state != State::Visible {
                    break;
                }
                if self.take(ev, obs, id, at, vt, worker, out) {
                    i += 1;
                }
            }
            self.refresh_group(g);
        }
    }

    fn can_deliver_ignoring_limit(&self) -> bool {
        self.fifo.as_ref().is_some_and(|f| f.groups.any_ready())
    }

    /// A receive takes visible message `id`, at slot `at`: removed if past
    /// retention, moved to the DLQ past its receive limit, else delivered
    /// (true).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn take(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        id: u64,
        at: u32,
        vt: Nanos,
        worker: &str,
        out: &mut Batch,
    ) -> bool {
        let now = ev.now();
        let m = *self.store.at(at);
        debug_assert_eq!(m.state, State::Visible);
        self.visible_count -= 1;
        let metrics = &mut obs.m[self.q as usize];
        if m.enqueue_ns + self.cfg.retention_ns <= now {
            metrics.expired += 1;
            self.remove(id, at, Kind::Expired, obs, now);
            return false;
        }
        if self.cfg.max_receive_count.is_some_and(|limit| m.receive_count >= limit) {
            metrics.dlq_moved(m.receive_count);
            self.remove(id, at, Kind::Dlq, obs, now);
            self.dlq.push(DeadLetter {
                key: m.key,
                enqueue_ns: m.enqueue_ns,
                first_send_ns: m.first_send_ns,
                seq: m.seq,
            });
            return false;
        }
        self.deliver(ev, obs, id, at, vt, worker);
        let handle = Handle { id, receive: m.receive_count + 1, at };
        out.push(Delivery { handle, key: m.key, first_send_ns: m.first_send_ns, group: m.group, seq: m.seq });
        true
    }

    #[inline(always)]
    fn deliver(&mut self, ev: &mut Events<Event>, obs: &mut Obs, id: u64, at: u32, vt: Nanos, worker: &str) {
        let now = ev.now();
        let q = self.q as usize;
        let m = self.store.at_mut(at);
        let previous = (m.receive_count, m.fate, m.fate_end_ns);
        m.receive_count += 1;
        m.state = State::InFlight;
        m.hidden_until_ns = now + vt;
        m.received_at_ns = now;
        m.timer_gen = m.timer_gen.wrapping_add(1);
        m.fate = Fate::Processing;
        let (rc, gen, g) = (m.receive_count, m.timer_gen, m.group);
        self.in_flight += 1;
        if let Some(f) = self.fifo.as_mut() {
            f.groups.delivered(g);
        }
        ev.after(vt, lease_end(self.q, id, gen));
        super::count_delivery(&mut obs.m[q], now, previous.0, previous.1, previous.2);
        obs.trace(q, now, Kind::Receive, Some(id), worker, Some(rc), "");
    }

    /// Record what became of delivery `h` (only for its current handle).
    #[inline]
    pub fn set_fate(&mut self, h: Handle, fate: Fate, now: Nanos) {
        if let Some(m) = self.current_mut(h) {
            m.fate = fate;
            m.fate_end_ns = now;
        }
    }

    /// Whether `h` is the newest handle of a live message.
    pub fn is_current(&self, h: Handle) -> bool {
        self.by_handle(h).is_some_and(|m| m.receive_count == h.receive)
    }

    /// A visibility timer fires; stale timers (extended, deleted) do nothing.
    pub fn on_visibility_end(&mut self, ev: &mut Events<Event>, obs: &mut Obs, id: u64, gen: u32) {
        let now = ev.now();
        let q = self.q as usize;
        let retention = self.cfg.retention_ns;
        let Some(at) = self.store.slot_of(id) else { return };
        let m = self.store.at_mut(at);
        if m.state != State::InFlight || m.timer_gen != gen {
            return;
        }
        debug_assert_eq!(m.hidden_until_ns, now);
        let premature = m.fate == Fate::Processing;
        let (rc, g) = (m.receive_count, m.group);
        if m.enqueue_ns + retention <= now {
            self.in_flight -= 1;
            self.remove(id, at, Kind::Expired, obs, now);
            obs.m[q].expired += 1;
            return;
        }
        self.in_flight -= 1;
        self.group_left_flight(g);
        self.return_to_queue(ev, id);
        if premature {
            obs.m[q].premature_expiries += 1;
            obs.m[q].bucket(now).premature_expiries += 1;
        }
        obs.trace(q, now, Kind::Expire, Some(id), "", Some(rc), if premature { "holder still processing" } else { "" });
    }

    /// Whether timer `t` may still act when it fires (false: it is known to
    /// be a no-op for good, and may be dropped from the event queue). Only
    /// lease timers are judged: a lease whose message has had a newer lease
    /// since (generations only grow), or whose message is gone from a queue
    /// where gone messages never return.
    pub fn timer_due(&self, t: Timer) -> bool {
        match t {
            Timer::LeaseEnd { id, gen } => match self.store.slot_of(id).map(|s| self.store.at(s)) {
                Some(m) if m.state != State::Gone => m.timer_gen == gen,
                _ => !self.compactable,
            },
            Timer::DelayEnd { .. } | Timer::RetentionCheck | Timer::Redrive => true,
        }
    }

    /// ChangeMessageVisibility(h, t) under the queue's change-visibility
    /// policy: while the message is in flight, hide it until now + t (t = 0:
    /// visible at once), at most 12 h after its latest receive. Once the
    /// message is visible again or gone, nothing changes.
    pub fn change_visibility(&mut self, ev: &mut Events<Event>, h: Handle, t_ns: Nanos) -> ChangeOutcome {
        let now = ev.now();
        let qi = self.q;
        let policy = self.cfg.change_visibility_policy;
        let capped = self.cfg.kind != QueueKind::Pubsub;
        let Some(m) = self.by_handle_mut(h) else { return ChangeOutcome::Gone };
        let current = m.receive_count == h.receive;
        debug_assert!(h.receive <= m.receive_count, "a handle from the future");
        if policy == ChangeVisibilityPolicy::LatestOnly && !current {
            return ChangeOutcome::Stale;
        }
        if m.state != State::InFlight {
            return ChangeOutcome::LeaseEnded;
        }
        // Pub/Sub has no cap on a message's total lease (modAck asks 0..600 s each time).
        if (now + t_ns).saturating_sub(m.received_at_ns) > MAX_HIDDEN_NS && capped {
            return ChangeOutcome::Rejected;
        }
        m.timer_gen = m.timer_gen.wrapping_add(1);
        let (gen, g) = (m.timer_gen, m.group);
        if t_ns == 0 {
            m.hidden_until_ns = now;
            self.in_flight -= 1;
            self.group_left_flight(g);
            self.return_to_queue(ev, h.id);
        } else {
            m.hidden_until_ns = now + t_ns;
            ev.after(t_ns, lease_end(qi, h.id, gen));
        }
        if current {
            ChangeOutcome::Changed
        } else {
            ChangeOutcome::ChangedByOlderHandle
        }
    }

    /// DeleteMessage(h) under the queue's delete policy.
    pub fn delete(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str) -> DeleteOutcome {
        let now = ev.now();
        let q = self.q as usize;
        let policy = self.cfg.delete_policy;
        let vt = self.cfg.visibility_timeout_ns;
        let rejection = if self.cfg.kind == QueueKind::Pubsub {
            "PERMANENT_FAILURE_INVALID_ACK_ID: the ack id is not the latest or its deadline passed"
        } else if self.fifo.is_some() {
            "InvalidParameterValue: the receipt handle has expired"
        } else {
            "ReceiptHandleIsInvalid"
        };
        let qi = self.q;
        let replica_missed = chance(&mut self.rng, self.cfg.broker_duplicate);
        // The message's slot now (a shrink may have moved it since the receive).
        let Some(at) = self.store.find(h.at, h.id).filter(|&at| self.store.at(at).state != State::Gone) else {
            obs.trace(q, now, Kind::DeleteStale, Some(h.id), worker, Some(h.receive), "already deleted");
            return DeleteOutcome::Gone;
        };
        let m = self.store.at_mut(at);
        let current = m.receive_count == h.receive;
        let window_open = current && m.state == State::InFlight;
        let outcome = match policy {
            DeletePolicy::LatestOnly if !current => DeleteOutcome::StaleKept,
            DeletePolicy::Strict if !window_open => DeleteOutcome::Rejected,
            _ => DeleteOutcome::Deleted,
        };
        match outcome {
            DeleteOutcome::StaleKept => {
                obs.trace(q, now, Kind::DeleteStale, Some(h.id), worker, Some(h.receive), "stale handle; message stays")
            }
            DeleteOutcome::Rejected => {
                obs.trace(q, now, Kind::DeleteError, Some(h.id), worker, Some(h.receive), rejection)
            }
            _ => {}
        }
        if outcome != DeleteOutcome::Deleted {
            return outcome;
        }
        obs.trace(q, now, Kind::Delete, Some(h.id), worker, Some(h.receive), "");
        if replica_missed {
            // A replica missed the delete: the message shows again one VT later.
            let previous = m.state;
            m.state = State::InFlight;
            m.fate = Fate::BrokerDuplicate;
            m.fate_end_ns = now;
            m.hidden_until_ns = now + vt;
            m.timer_gen = m.timer_gen.wrapping_add(1);
            let gen = m.timer_gen;
            match previous {
                State::Visible => {
                    self.visible_count -= 1;
                    self.in_flight += 1;
                }
                State::Delayed => self.in_flight += 1,
                _ => {}
            }
            ev.after(vt, lease_end(qi, h.id, gen));
            return DeleteOutcome::Deleted;
        }
        let state = m.state;
        self.uncount(state);
        self.remove(h.id, at, Kind::Delete, obs, now);
        obs.m[q].deleted += 1;
        DeleteOutcome::Deleted
    }

    /// Take a message in `state` out of the in-flight or visible count (before `remove`).
    #[inline]
    fn uncount(&mut self, state: State) {
        match state {
            State::InFlight => self.in_flight -= 1,
            State::Visible => self.visible_count -= 1,
            State::Delayed | State::Gone => {}
        }
    }

    /// Remove message `id`, in `state`, past its retention period.
    fn expire(&mut self, id: u64, state: State, obs: &mut Obs, now: Nanos) {
        let Some(at) = self.store.slot_of(id) else { return };
        self.uncount(state);
        self.remove(id, at, Kind::Expired, obs, now);
        obs.m[self.q as usize].expired += 1;
    }

    /// Remove message `id`, held at slot `at`: freed, or kept finished for
    /// an ordering replay. Trace `kind` unless it is `Delete` (traced by the
    /// caller). The caller has already taken the message out of the
    /// in-flight or visible count.
    #[inline(always)]
    fn remove(&mut self, id: u64, at: u32, kind: Kind, obs: &mut Obs, now: Nanos) {
        let m = self.store.at_mut(at);
        debug_assert_eq!(m.id(), id);
        let (rc, g, was) = (m.receive_count, m.group, m.state);
        m.state = State::Gone;
        self.live -= 1;
        if self.compactable {
            self.store.free(at);
        }
        if kind != Kind::Delete {
            obs.trace(self.q as usize, now, kind, Some(id), "", Some(rc), "");
        }
        if let Some(f) = self.fifo.as_mut() {
            if was == State::InFlight {
                f.groups.left_flight(g);
            }
            f.groups.remove(g, id);
            self.refresh_group(g);
        }
        self.store.removed(id, u64::MAX, |m| m.state == State::Gone);
        if self.compactable && self.store.sparse(self.live as usize) {
            self.store.compact(self.live as usize, u64::MAX, |m| m.state == State::Gone);
        }
    }

    fn schedule_retention(&mut self, ev: &mut Events<Event>) {
        if self.retention_check_at.is_some() {
            return;
        }
        let far = self.store.far_iter().map(|(_, m)| m.enqueue_ns).min();
        let front = self.store.front().and_then(|(_, m)| m).map(|m| m.enqueue_ns);
        if let Some(enqueued) = far.into_iter().chain(front).min() {
            let at = enqueued + self.cfg.retention_ns;
            self.retention_check_at = Some(at);
            ev.at(at.max(ev.now()), self.timer(Timer::RetentionCheck));
        }
    }

    /// Remove every message past its retention period.
    pub fn on_retention_check(&mut self, ev: &mut Events<Event>, obs: &mut Obs) {
        let now = ev.now();
        self.retention_check_at = None;
        let retention = self.cfg.retention_ns;
        // Messages moved out of the index are older than all in it.
        let mut old: Vec<(u64, State)> = (self.store.far_iter())
            .filter(|(_, m)| m.enqueue_ns + retention <= now)
            .map(|(id, m)| (id, m.state))
            .collect();
        old.sort_unstable_by_key(|&(id, _)| id); // expire in id order (the trace shows it)
        for (id, state) in old {
            self.expire(id, state, obs, now);
        }
        while let Some((id, front)) = self.store.front() {
            let Some(m) = front else {
                self.store.pop_front(); // freed
                continue;
            };
            if m.enqueue_ns + retention > now {
                break;
            }
            let state = m.state;
            if state != State::Gone {
                self.expire(id, state, obs, now);
            } else {
                self.store.pop_front();
            }
        }
        self.schedule_retention(ev);
    }

    /// Move every DLQ message back to the queue (a redrive). The message gets
    /// a new id and a receive count of 0, and keeps its enqueue time.
    pub fn redrive(&mut self, ev: &mut Events<Event>, obs: &mut Obs) -> usize {
        let now = ev.now();
        let moved = std::mem::take(&mut self.dlq);
        for d in &moved {
            let id = self.store.next_id();
            let mut group = 0;
            if let Some(f) = self.fifo.as_mut() {
                group = f.draw.group_of(d.key);
                f.groups.enqueue(group, id);
            }
            // A redriven message keeps its place in its group's order: its
            // effect after those of later messages is an order violation.
            self.store.push(Msg {
                id: Id48::default(),
                key: d.key,
                enqueue_ns: d.enqueue_ns,
                first_send_ns: d.first_send_ns,
                hidden_until_ns: now,
                received_at_ns: 0,
                fate_end_ns: now,
                receive_count: 0,
                timer_gen: 0,
                group,
                seq: d.seq,
                state: State::Visible,
                fate: Fate::New,
            });
            self.live += 1;
            obs.m[self.q as usize].dlq -= 1;
            self.push_visible(id);
            obs.trace(self.q as usize, now, Kind::Visible, Some(id), "", None, "redriven from the DLQ");
        }
        self.schedule_retention(ev);
        moved.len()
    }

    /// Internal consistency (debug builds and tests).
    pub fn check_invariants(&self) {
        self.store.check_invariants();
        let all = || self.store.iter().map(|(_, m)| m);
        assert!(self.store.far_iter().all(|(_, m)| m.state != State::Gone), "a finished message in far");
        if self.compactable {
            assert!(all().all(|m| m.state != State::Gone), "a finished message kept");
        }
        let live = all().filter(|m| m.state != State::Gone).count() as u64;
        let in_flight = all().filter(|m| m.state == State::InFlight).count() as u64;
        let visible = all().filter(|m| m.state == State::Visible).count() as u64;
        assert_eq!(live, self.live, "live count");
        assert_eq!(in_flight, self.in_flight, "in-flight count");
        assert_eq!(visible, self.visible_count, "visible count");
        if let Some(f) = &self.fifo {
            f.groups.check(|g| {
                f.groups.members(g).filter(|&id| self.get(id).is_some_and(|m| m.state == State::InFlight)).count()
                    as u32
            });
            for g in 0..f.groups.len() {
                let mut last = None;
                for id in f.groups.members(g) {
                    assert!(self.get(id).is_some_and(|m| m.group == g), "message {id} listed in group {g}");
                    assert!(last < Some(id), "group {g} out of send order");
                    last = Some(id);
                }
            }
        }
    }
}

/// The lease timer of message `id` of queue `q`, generation `gen`.
#[inline]
fn lease_end(q: u16, id: u64, gen: u32) -> Event {
    Event::Broker { q, t: Timer::LeaseEnd { id, gen } }
}

/// The id fits the message's padding: a message stays 72 bytes.
const _: () = assert!(std::mem::size_of::<Msg>() == 72);
