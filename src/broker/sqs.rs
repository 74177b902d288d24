//! SQS Standard queue: visibility timeouts, receipt handles, delete policies,
//! long and short polling, delay, retention, the in-flight cap, the DLQ
//! (redrive policy) and broker-side duplicates (SEMANTICS.md section 2).
//!
//! Messages live in a ring indexed by message id: ids are given in send
//! order, so the oldest live message is at the front and retention deadlines
//! come in ring order. A finished message leaves a tombstone until the front
//! passes it, so memory follows the span of live ids, not messages ever sent.

use super::{Batch, ChangeOutcome, DeleteOutcome, Delivery, Fate, Handle};
use crate::duration::{Nanos, NS_PER_S};
use crate::engine::Events;
use crate::metrics::{Cause, Obs};
use crate::rng::{chance, Stream};
use crate::scenario::{DeletePolicy, Queue};
use crate::sim::Event;
use crate::trace::Kind;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Longest total hidden time after a receive.
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
    pub key: u64,
    pub enqueue_ns: Nanos,
    pub first_send_ns: Nanos,
    pub hidden_until_ns: Nanos,
    pub received_at_ns: Nanos,
    pub fate_end_ns: Nanos,
    pub receive_count: u32,
    pub timer_gen: u32,
    pub state: State,
    pub fate: Fate,
}

/// A message parked in the dead-letter queue.
#[derive(Debug, Clone, Copy)]
struct DeadLetter {
    key: u64,
    enqueue_ns: Nanos,
    first_send_ns: Nanos,
}

pub struct Sqs {
    cfg: Queue,
    ring: VecDeque<Msg>,
    /// Id of `ring[0]`.
    base: u64,
    next_id: u64,
    /// Ids of visible messages, oldest first (stale entries skipped on pop).
    visible: BinaryHeap<Reverse<u64>>,
    visible_count: u64,
    in_flight: u64,
    live: u64,
    dlq: Vec<DeadLetter>,
    retention_check_at: Option<Nanos>,
    rng: Stream,
}

impl Sqs {
    /// Bytes held by the ring, the visible heap and the DLQ, for the memory
    /// limit (`limits.rs`).
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        bytes_of::<Msg>(self.ring.capacity())
            + bytes_of::<Reverse<u64>>(self.visible.capacity())
            + bytes_of::<DeadLetter>(self.dlq.capacity())
    }

    /// The ids the ring spans (finished ones are tombstones), for
    /// `--paranoid` checks.
    pub fn ids(&self) -> std::ops::Range<u64> {
        self.base..self.base + self.ring.len() as u64
    }

    pub fn new(cfg: Queue, rng: Stream) -> Sqs {
        Sqs {
            cfg,
            ring: VecDeque::with_capacity(1024),
            base: 1,
            next_id: 1,
            visible: BinaryHeap::with_capacity(1024),
            visible_count: 0,
            in_flight: 0,
            live: 0,
            dlq: Vec::new(),
            retention_check_at: None,
            rng,
        }
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
    pub fn can_deliver(&self) -> bool {
        self.visible_count > 0 && self.in_flight < self.cfg.inflight_limit
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    pub fn visible_or_delayed(&self) -> u64 {
        self.live - self.in_flight
    }

    #[inline]
    pub fn get(&self, id: u64) -> Option<&Msg> {
        let i = id.checked_sub(self.base)? as usize;
        self.ring.get(i).filter(|m| m.state != State::Gone)
    }

    #[inline]
    fn get_mut(&mut self, id: u64) -> Option<&mut Msg> {
        let i = id.checked_sub(self.base)? as usize;
        self.ring.get_mut(i).filter(|m| m.state != State::Gone)
    }

    /// The message if `h` is its current handle.
    fn current_mut(&mut self, h: Handle) -> Option<&mut Msg> {
        self.get_mut(h.id).filter(|m| m.receive_count == h.receive)
    }

    /// SendMessage: enqueue a message (after its optional delay).
    pub fn send(
        &mut self,
        ev: &mut Events<Event>,
        obs: &mut Obs,
        key: u64,
        first_send_ns: Nanos,
        delay_ns: Nanos,
    ) -> u64 {
        let now = ev.now();
        let id = self.next_id;
        self.next_id += 1;
        let delayed = delay_ns > 0;
        self.ring.push_back(Msg {
            key,
            enqueue_ns: now,
            first_send_ns,
            hidden_until_ns: now + delay_ns,
            received_at_ns: 0,
            fate_end_ns: 0,
            receive_count: 0,
            timer_gen: 0,
            state: if delayed { State::Delayed } else { State::Visible },
            fate: Fate::New,
        });
        self.live += 1;
        obs.m.sent += 1;
        obs.m.bucket(now).sent += 1;
        obs.trace(now, Kind::Send, Some(id), "", None, "");
        if delayed {
            ev.at(now + delay_ns, Event::DelayEnd { id });
        } else {
            self.push_visible(id);
        }
        self.schedule_retention(ev);
        id
    }

    fn push_visible(&mut self, id: u64) {
        self.visible.push(Reverse(id));
        self.visible_count += 1;
    }

    /// A delayed message becomes visible.
    pub fn on_delay_end(&mut self, ev: &Events<Event>, obs: &mut Obs, id: u64) {
        if let Some(m) = self.get_mut(id) {
            if m.state == State::Delayed {
                m.state = State::Visible;
                self.push_visible(id);
                obs.trace(ev.now(), Kind::Visible, Some(id), "", None, "");
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
        let now = ev.now();
        out.len = 0;
        if short_poll && chance(&mut self.rng, self.cfg.short_poll_miss) {
            return;
        }
        let vt = vt_ns.unwrap_or(self.cfg.visibility_timeout_ns);
        while out.len < max && self.visible_count > 0 {
            if self.in_flight >= self.cfg.inflight_limit {
                obs.m.over_limit += 1;
                break;
            }
            let Some(Reverse(id)) = self.visible.pop() else { break };
            let Some(&m) = self.get(id) else { continue };
            if m.state != State::Visible {
                continue;
            }
            self.visible_count -= 1;
            if m.enqueue_ns + self.cfg.retention_ns <= now {
                self.remove(id, Kind::Expired, obs, now);
                obs.m.expired += 1;
                continue;
            }
            if self.cfg.max_receive_count.is_some_and(|limit| m.receive_count >= limit) {
                let (key, enqueue_ns, first_send_ns, deliveries) =
                    (m.key, m.enqueue_ns, m.first_send_ns, m.receive_count);
                self.remove(id, Kind::Dlq, obs, now);
                self.dlq.push(DeadLetter { key, enqueue_ns, first_send_ns });
                obs.m.dlq_moved(deliveries);
                continue;
            }
            self.deliver(ev, obs, id, vt, worker);
            let handle = Handle { id, receive: m.receive_count + 1 };
            out.push(Delivery { handle, key: m.key, first_send_ns: m.first_send_ns });
        }
    }

    fn deliver(&mut self, ev: &mut Events<Event>, obs: &mut Obs, id: u64, vt: Nanos, worker: &str) {
        let now = ev.now();
        let Some(m) = self.get_mut(id) else { return };
        let previous = (m.receive_count, m.fate, m.fate_end_ns);
        m.receive_count += 1;
        m.state = State::InFlight;
        m.hidden_until_ns = now + vt;
        m.received_at_ns = now;
        m.timer_gen = m.timer_gen.wrapping_add(1);
        m.fate = Fate::Processing;
        let (rc, gen) = (m.receive_count, m.timer_gen);
        self.in_flight += 1;
        ev.after(vt, Event::VisibilityEnd { id, gen });
        obs.m.deliveries += 1;
        if previous.0 == 0 {
            obs.m.first_deliveries += 1;
        } else {
            let (cause, retry) = match previous.1 {
                Fate::Processing => (Cause::Concurrent, None),
                Fate::Failed | Fate::ReceiveLost | Fate::New => (Cause::AfterFailure, Some(now - previous.2)),
                Fate::Crashed => (Cause::AfterCrash, Some(now - previous.2)),
                Fate::Succeeded => (Cause::AfterSuccess, None),
                Fate::BrokerDuplicate => (Cause::Broker, None),
            };
            obs.m.redelivery(now, cause, retry);
        }
        obs.trace(now, Kind::Receive, Some(id), worker, Some(rc), "");
    }

    /// Record what became of delivery `h` (only for its current handle).
    pub fn set_fate(&mut self, h: Handle, fate: Fate, now: Nanos) {
        if let Some(m) = self.current_mut(h) {
            m.fate = fate;
            m.fate_end_ns = now;
        }
    }

    /// Whether `h` is the newest handle of a live message.
    pub fn is_current(&self, h: Handle) -> bool {
        self.get(h.id).is_some_and(|m| m.receive_count == h.receive)
    }

    /// A visibility timer fires; stale timers (extended, deleted) do nothing.
    pub fn on_visibility_end(&mut self, ev: &Events<Event>, obs: &mut Obs, id: u64, gen: u32) {
        let now = ev.now();
        let retention = self.cfg.retention_ns;
        let Some(m) = self.get_mut(id) else { return };
        if m.state != State::InFlight || m.timer_gen != gen {
            return;
        }
        debug_assert_eq!(m.hidden_until_ns, now);
        let premature = m.fate == Fate::Processing;
        let rc = m.receive_count;
        if m.enqueue_ns + retention <= now {
            self.in_flight -= 1;
            self.remove(id, Kind::Expired, obs, now);
            obs.m.expired += 1;
            return;
        }
        m.state = State::Visible;
        self.in_flight -= 1;
        self.push_visible(id);
        if premature {
            obs.m.premature_expiries += 1;
            obs.m.bucket(now).premature_expiries += 1;
        }
        obs.trace(now, Kind::Expire, Some(id), "", Some(rc), if premature { "holder still processing" } else { "" });
    }

    /// ChangeMessageVisibility(h, t).
    pub fn change_visibility(&mut self, ev: &mut Events<Event>, h: Handle, t_ns: Nanos) -> ChangeOutcome {
        let now = ev.now();
        let Some(m) = self.current_mut(h) else { return ChangeOutcome::Stale };
        if m.state != State::InFlight {
            return ChangeOutcome::Stale;
        }
        if (now + t_ns).saturating_sub(m.received_at_ns) > MAX_HIDDEN_NS {
            return ChangeOutcome::Rejected;
        }
        m.timer_gen = m.timer_gen.wrapping_add(1);
        let gen = m.timer_gen;
        if t_ns == 0 {
            m.state = State::Visible;
            self.in_flight -= 1;
            self.push_visible(h.id);
        } else {
            m.hidden_until_ns = now + t_ns;
            ev.after(t_ns, Event::VisibilityEnd { id: h.id, gen });
        }
        ChangeOutcome::Changed
    }

    /// DeleteMessage(h) under the queue's delete policy.
    pub fn delete(&mut self, ev: &mut Events<Event>, obs: &mut Obs, h: Handle, worker: &str) -> DeleteOutcome {
        let now = ev.now();
        let policy = self.cfg.delete_policy;
        let vt = self.cfg.visibility_timeout_ns;
        let replica_missed = chance(&mut self.rng, self.cfg.broker_duplicate);
        let Some(m) = self.get_mut(h.id) else {
            obs.trace(now, Kind::DeleteStale, Some(h.id), worker, Some(h.receive), "already deleted");
            return DeleteOutcome::Gone;
        };
        let current = m.receive_count == h.receive;
        let window_open = current && m.state == State::InFlight;
        let outcome = match policy {
            DeletePolicy::LatestOnly if !current => DeleteOutcome::StaleKept,
            DeletePolicy::Strict if !window_open => DeleteOutcome::Rejected,
            _ => DeleteOutcome::Deleted,
        };
        match outcome {
            DeleteOutcome::StaleKept => {
                obs.trace(now, Kind::DeleteStale, Some(h.id), worker, Some(h.receive), "stale handle; message stays")
            }
            DeleteOutcome::Rejected => {
                obs.trace(now, Kind::DeleteError, Some(h.id), worker, Some(h.receive), "ReceiptHandleIsInvalid")
            }
            _ => {}
        }
        if outcome != DeleteOutcome::Deleted {
            return outcome;
        }
        obs.trace(now, Kind::Delete, Some(h.id), worker, Some(h.receive), "");
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
            ev.after(vt, Event::VisibilityEnd { id: h.id, gen });
            return DeleteOutcome::Deleted;
        }
        match m.state {
            State::InFlight => self.in_flight -= 1,
            State::Visible => self.visible_count -= 1,
            _ => {}
        }
        self.remove(h.id, Kind::Delete, obs, now);
        obs.m.deleted += 1;
        DeleteOutcome::Deleted
    }

    /// Tombstone a message; trace `kind` unless it is `Delete` (traced by the caller).
    fn remove(&mut self, id: u64, kind: Kind, obs: &mut Obs, now: Nanos) {
        let Some(m) = self.get_mut(id) else { return };
        let rc = m.receive_count;
        m.state = State::Gone;
        self.live -= 1;
        if kind != Kind::Delete {
            obs.trace(now, kind, Some(id), "", Some(rc), "");
        }
        while self.ring.front().is_some_and(|m| m.state == State::Gone) {
            self.ring.pop_front();
            self.base += 1;
        }
    }

    fn schedule_retention(&mut self, ev: &mut Events<Event>) {
        if self.retention_check_at.is_some() {
            return;
        }
        if let Some(front) = self.ring.front() {
            let at = front.enqueue_ns + self.cfg.retention_ns;
            self.retention_check_at = Some(at);
            ev.at(at.max(ev.now()), Event::RetentionCheck);
        }
    }

    /// Remove every message past its retention period.
    pub fn on_retention_check(&mut self, ev: &mut Events<Event>, obs: &mut Obs) {
        let now = ev.now();
        self.retention_check_at = None;
        while let Some(front) = self.ring.front() {
            if front.enqueue_ns + self.cfg.retention_ns > now {
                break;
            }
            let (id, state) = (self.base, front.state);
            match state {
                State::InFlight => self.in_flight -= 1,
                State::Visible => self.visible_count -= 1,
                _ => {}
            }
            if state != State::Gone {
                self.remove(id, Kind::Expired, obs, now);
                obs.m.expired += 1;
            } else {
                self.ring.pop_front();
                self.base += 1;
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
            let id = self.next_id;
            self.next_id += 1;
            self.ring.push_back(Msg {
                key: d.key,
                enqueue_ns: d.enqueue_ns,
                first_send_ns: d.first_send_ns,
                hidden_until_ns: now,
                received_at_ns: 0,
                fate_end_ns: now,
                receive_count: 0,
                timer_gen: 0,
                state: State::Visible,
                fate: Fate::New,
            });
            self.live += 1;
            obs.m.dlq -= 1;
            self.push_visible(id);
            obs.trace(now, Kind::Visible, Some(id), "", None, "redriven from the DLQ");
        }
        self.schedule_retention(ev);
        moved.len()
    }

    /// Internal consistency (debug builds and tests).
    pub fn check_invariants(&self) {
        let live = self.ring.iter().filter(|m| m.state != State::Gone).count() as u64;
        let in_flight = self.ring.iter().filter(|m| m.state == State::InFlight).count() as u64;
        let visible = self.ring.iter().filter(|m| m.state == State::Visible).count() as u64;
        assert_eq!(live, self.live, "live count");
        assert_eq!(in_flight, self.in_flight, "in-flight count");
        assert_eq!(visible, self.visible_count, "visible count");
    }
}
