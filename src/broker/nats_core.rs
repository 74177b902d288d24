//! Core NATS push subscriptions and slow consumers (`kind = "nats_core"`;
//! docs/model.md, "Core NATS"). At most once: nothing is stored, acked or
//! redelivered.
//!
//! Rules followed (\[S\] = read in the client or server source, not stated in
//! the docs):
//! - Each worker is one subscription of a queue group: a published message
//!   goes to one connected member, chosen at random (the server's queue
//!   group pick). With no member connected the message has no interest and
//!   is dropped (final state `lost`).
//! - The client buffers delivered messages per subscription up to its
//!   pending limits, 500,000 messages and 64 MiB by default [S nats.go
//!   nats.go:5764-5767]. The pending count includes the messages inside the
//!   handler (nats.go counts a message until its callback returns), so with
//!   a limit of N and one handler, N-1 messages wait while one is handled.
//! - Past either limit the message is dropped (`dropped`, final state
//!   `lost`), never redelivered; the publisher is never slowed. The first
//!   drop after an accepted message starts a slow-consumer episode
//!   (`ErrSlowConsumer` fires once per episode) [S nats.go ~4005-4030].
//! - A crashed worker's connection closes: its buffered messages and the
//!   ones in its handlers are lost. A restart subscribes again.
//! - A message whose handler returns is consumed (final state `deleted`, no
//!   ack exists); one whose handler fails is gone too, never redelivered
//!   (final state `lost`). The broker learns both through `set_fate`.
//! - Not modelled: the server's own slow-consumer rule (64 MiB outbound per
//!   connection, 10 s write deadline, then the connection is closed) — the
//!   client reads its socket into the pending buffer, so the client limits
//!   are the ones a slow handler reaches.

use super::jetstream::NatsStats;
use super::{Batch, Delivery, Fate, Handle, SendOutcome};
use crate::duration::Nanos;
use crate::engine::Events;
use crate::metrics::Obs;
use crate::rng::Stream;
use crate::scenario::Queue;
use crate::sim::Event;
use crate::trace::Kind;
use rand::Rng;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a subscription's pending buffer.
    Buffered,
    /// Inside a handler (still counted as pending by the client).
    Handling,
    Gone,
}

#[derive(Debug, Clone, Copy)]
struct Msg {
    key: u64,
    first_send_ns: Nanos,
    sub: u32,
    state: State,
}

struct Sub {
    /// The worker (index in `World::workers`).
    w: u32,
    name: String,
    connected: bool,
    buf: VecDeque<u64>,
    pending_msgs: u64,
    pending_bytes: u64,
    /// In a slow-consumer episode (dropping since the last accepted message).
    slow: bool,
    /// Listed in `woken`.
    woken: bool,
}

pub struct NatsCore {
    cfg: Queue,
    q: u16,
    rng: Stream,
    ring: VecDeque<Msg>,
    base: u64,
    next_id: u64,
    subs: Vec<Sub>,
    /// Workers whose buffer got a message since they were last served.
    woken: Vec<u32>,
    buffered: u64,
    handling: u64,
    live: u64,
    /// Handlers returned (final `deleted`) and failed or crashed (final `lost`).
    consumed: u64,
    failed: u64,
    pub stats: NatsStats,
}

impl NatsCore {
    /// Bytes held by the message ring and the subscriptions, for the memory limit.
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        bytes_of::<Msg>(self.ring.capacity())
            + bytes_of::<Sub>(self.subs.capacity())
            + bytes_of::<u32>(self.woken.capacity())
    }

    pub fn new(cfg: Queue, q: u16, rng: Stream) -> NatsCore {
        NatsCore {
            cfg,
            q,
            rng,
            ring: VecDeque::with_capacity(1024),
            base: 1,
            next_id: 1,
            subs: Vec::new(),
            woken: Vec::new(),
            buffered: 0,
            handling: 0,
            live: 0,
            consumed: 0,
            failed: 0,
            stats: NatsStats::default(),
        }
    }

    pub fn config(&self) -> &Queue {
        &self.cfg
    }

    pub fn live(&self) -> u64 {
        self.live
    }

    /// Messages inside handlers.
    pub fn in_flight(&self) -> u64 {
        self.handling
    }

    /// Messages waiting in subscription buffers.
    pub fn visible_or_delayed(&self) -> u64 {
        self.buffered
    }

    /// Whether some subscription got messages since it was last served.
    pub fn can_deliver(&self) -> bool {
        !self.woken.is_empty()
    }

    /// Final states the broker settled without metrics access: (deleted, lost).
    pub fn settled(&self) -> (u64, u64) {
        (self.consumed, self.failed)
    }

    /// Worker `w` (named `name`) subscribes, `connected` from the start or when it starts.
    pub fn add_subscriber(&mut self, w: u32, name: &str, connected: bool) {
        self.subs.push(Sub {
            w,
            name: name.to_string(),
            connected,
            buf: VecDeque::new(),
            pending_msgs: 0,
            pending_bytes: 0,
            slow: false,
            woken: false,
        });
    }

    /// The next worker with new messages in its buffer.
    pub fn take_woken(&mut self) -> Option<u32> {
        let w = self.woken.pop()?;
        if let Some(s) = self.subs.iter_mut().find(|s| s.w == w) {
            s.woken = false;
        }
        Some(w)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Msg> {
        let i = id.checked_sub(self.base)? as usize;
        self.ring.get_mut(i).filter(|m| m.state != State::Gone)
    }

    /// Worker `w` connects (start, restart) or its connection closes (crash:
    /// everything it buffered or was handling is lost).
    pub fn set_connected(&mut self, obs: &mut Obs, now: Nanos, w: u32, connected: bool) {
        let Some(i) = self.subs.iter().position(|s| s.w == w) else { return };
        self.subs[i].connected = connected;
        if connected {
            return;
        }
        let q = self.q as usize;
        let ids: Vec<u64> = self.subs[i].buf.drain(..).collect();
        for id in ids {
            self.finish(id);
            obs.m[q].lost += 1;
            obs.trace(
                q,
                now,
                Kind::Lost,
                Some(id),
                &self.subs[i].name,
                None,
                "connection closed: buffered message lost",
            );
        }
        let s = &mut self.subs[i];
        (s.pending_msgs, s.pending_bytes, s.slow) = (0, 0, false);
    }

    /// Publish: deliver to one connected member of the queue group, or drop
    /// (no interest, or past the member's pending limits).
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
        let id = self.next_id;
        self.next_id += 1;
        obs.m[q].enqueued(now, repeat);
        obs.trace(q, now, Kind::Send, Some(id), "", None, "");
        // A subject the subscriptions do not match has no interest either.
        let connected =
            if self.cfg.nats.captures_producer { self.subs.iter().filter(|s| s.connected).count() } else { 0 };
        let pick = (connected > 0).then(|| self.rng.random_range(0..connected));
        let Some(i) =
            pick.and_then(|k| self.subs.iter().enumerate().filter(|(_, s)| s.connected).nth(k).map(|(i, _)| i))
        else {
            self.ring.push_back(Msg { key, first_send_ns, sub: 0, state: State::Gone });
            self.trim();
            obs.m[q].lost += 1;
            obs.trace(q, now, Kind::Lost, Some(id), "", None, "no subscriber connected: no interest");
            return SendOutcome::Accepted(id);
        };
        let bytes = self.cfg.nats.payload_bytes;
        let (limit_msgs, limit_bytes) = (self.cfg.nats.pending_msgs, self.cfg.nats.pending_bytes);
        let s = &mut self.subs[i];
        if s.pending_msgs + 1 > limit_msgs || s.pending_bytes + bytes > limit_bytes {
            self.stats.dropped += 1;
            if !s.slow {
                s.slow = true;
                self.stats.slow_consumer_episodes += 1;
            }
            self.ring.push_back(Msg { key, first_send_ns, sub: i as u32, state: State::Gone });
            self.trim();
            obs.m[q].lost += 1;
            let name = &self.subs[i].name;
            obs.trace(q, now, Kind::Lost, Some(id), name, None, "slow consumer: pending limit reached; dropped");
            return SendOutcome::Accepted(id);
        }
        s.slow = false;
        s.pending_msgs += 1;
        s.pending_bytes += bytes;
        s.buf.push_back(id);
        if !s.woken {
            s.woken = true;
            self.woken.push(s.w);
        }
        self.ring.push_back(Msg { key, first_send_ns, sub: i as u32, state: State::Buffered });
        self.buffered += 1;
        self.live += 1;
        SendOutcome::Accepted(id)
    }

    /// The worker named `worker` takes up to `max` messages from its buffer
    /// into its handlers.
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
        let now = ev.now();
        let q = self.q as usize;
        let Some(i) = self.subs.iter().position(|s| s.name == worker) else { return };
        while out.len < max {
            let Some(id) = self.subs[i].buf.pop_front() else { break };
            let Some(m) = self.get_mut(id) else { continue };
            m.state = State::Handling;
            let (key, first_send_ns) = (m.key, m.first_send_ns);
            self.buffered -= 1;
            self.handling += 1;
            super::count_delivery(&mut obs.m[q], now, 0, Fate::New, 0);
            obs.trace(q, now, Kind::Receive, Some(id), worker, Some(1), "");
            out.push(Delivery { handle: Handle { id, receive: 1, at: 0 }, key, first_send_ns, group: 0, seq: 0 });
        }
    }

    /// The handler of `h` returned (Succeeded: consumed), failed, or its
    /// worker crashed: the message leaves the client's pending count.
    pub fn set_fate(&mut self, h: Handle, fate: Fate, _now: Nanos) {
        if fate == Fate::Processing {
            return;
        }
        let Some(m) = self.get_mut(h.id) else { return };
        if m.state != State::Handling {
            return;
        }
        let sub = m.sub as usize;
        self.handling -= 1;
        self.finish(h.id);
        let s = &mut self.subs[sub];
        s.pending_msgs = s.pending_msgs.saturating_sub(1);
        s.pending_bytes = s.pending_bytes.saturating_sub(self.cfg.nats.payload_bytes);
        if fate == Fate::Succeeded {
            self.consumed += 1;
        } else {
            self.failed += 1;
        }
    }

    fn finish(&mut self, id: u64) {
        let Some(m) = self.get_mut(id) else { return };
        let was = m.state;
        m.state = State::Gone;
        if was == State::Buffered {
            self.buffered -= 1;
        }
        self.live -= 1;
        self.trim();
    }

    fn trim(&mut self) {
        while self.ring.front().is_some_and(|m| m.state == State::Gone) {
            self.ring.pop_front();
            self.base += 1;
        }
    }

    /// The books `--paranoid` checks after every event (`paranoid.rs`), the
    /// first broken one described: the counts agree with the messages
    /// (buffered, in handlers, live); each subscription's buffer lists, in
    /// order, messages buffered for it, and the buffers together list every
    /// buffered message; a closed connection buffers nothing; a
    /// subscription's pending count and bytes are its buffer plus the
    /// messages in its handlers (the client counts a message until its
    /// callback returns). Returns the live count.
    pub fn check_books(&self) -> Result<u64, String> {
        let count = |s: State| self.ring.iter().filter(|m| m.state == s).count() as u64;
        let (buffered, handling) = (count(State::Buffered), count(State::Handling));
        if (self.buffered, self.handling, self.live) != (buffered, handling, buffered + handling) {
            return Err(format!(
                "subject {}: counts (buffered, handling, live) {:?} disagree with its messages {:?}",
                self.q,
                (self.buffered, self.handling, self.live),
                (buffered, handling, buffered + handling)
            ));
        }
        let mut in_handlers = vec![0u64; self.subs.len()];
        for m in self.ring.iter().filter(|m| m.state == State::Handling) {
            in_handlers[m.sub as usize] += 1;
        }
        let mut listed = 0u64;
        for (i, s) in self.subs.iter().enumerate() {
            let mut last = 0;
            for &id in &s.buf {
                let held = id.checked_sub(self.base).and_then(|k| self.ring.get(k as usize));
                if id <= last || !held.is_some_and(|m| m.state == State::Buffered && m.sub as usize == i) {
                    return Err(format!(
                        "{}'s buffer lists message {id}, which is not buffered for it in order",
                        s.name
                    ));
                }
                last = id;
            }
            listed += s.buf.len() as u64;
            if !s.connected && !s.buf.is_empty() {
                return Err(format!("{} is disconnected but buffers {} messages", s.name, s.buf.len()));
            }
            let pending = s.buf.len() as u64 + in_handlers[i];
            if (s.pending_msgs, s.pending_bytes) != (pending, pending * self.cfg.nats.payload_bytes) {
                return Err(format!(
                    "{}: pending {} messages, {} bytes, but {} buffered and {} in handlers",
                    s.name,
                    s.pending_msgs,
                    s.pending_bytes,
                    s.buf.len(),
                    in_handlers[i]
                ));
            }
        }
        if listed != buffered {
            return Err(format!("buffers list {listed} messages, {buffered} are buffered"));
        }
        Ok(self.live)
    }

    /// Internal consistency (debug builds and tests).
    pub fn check_invariants(&self) {
        let count = |s: State| self.ring.iter().filter(|m| m.state == s).count() as u64;
        assert_eq!(self.buffered, count(State::Buffered), "buffered count");
        assert_eq!(self.handling, count(State::Handling), "handling count");
        assert_eq!(self.live, self.buffered + self.handling, "live count");
        let buffered: usize = self.subs.iter().map(|s| s.buf.len()).sum();
        assert_eq!(buffered as u64, self.buffered, "buffers hold the buffered messages");
    }
}
