//! `--paranoid`: the model's invariants checked after every event, for
//! tests and bug hunts (slow: each check walks the live messages and the
//! pending events, so a run costs O(events x (messages + events))).
//!
//! After each event, for every SQS queue (Standard or FIFO) and Pub/Sub
//! subscription (which runs on the same `sqs.rs` machinery):
//! - the broker's counts agree with its messages: live, in flight, visible
//!   or delayed (each message is in exactly one state, so none is both
//!   visible and in flight), and an in-flight message is hidden until now
//!   or later;
//! - every in-flight message has exactly one live lease timer (a pending
//!   `Timer::LeaseEnd` carrying its current `timer_gen`) due when its lease
//!   ends, and no other message has one;
//! - receive counts only grow;
//! - nothing is lost or invented: deleted + dlq + expired + lost + live = sent.
//!
//! For every JetStream stream (`JetStream::check_books`): the counts agree
//! with the messages (live, in flight, queued for redelivery, new exactly
//! past the consumer's cursor); each in-flight message has exactly one live
//! AckWait/BackOff timer, due now or later, and no other message has one;
//! each message awaiting redelivery is on the redelivery queue once;
//! delivery counts only grow; and the same conservation.
//!
//! For every core NATS subject (`NatsCore::check_books`): the counts agree
//! with the messages (buffered, in handlers); each subscription's buffer
//! lists, in order, exactly the messages buffered for it, none when its
//! connection is closed; its pending count and bytes are its buffer plus
//! its handlers; and conservation, counting the messages the broker settled
//! itself (consumed, failed).
//!
//! And for the consumers:
//! - workers' slot books balance: busy slots = slots not idle plus Lambda
//!   pollers holding a batch, and each worker's free list and busy slots
//!   make its concurrency.
//!
//! A broken invariant stops the run with `Error::Bug` (exit 70), naming the
//! event after which it broke. Checking changes no result.

use crate::broker::sqs::State;
use crate::broker::Timer;
use crate::sim::{Event, World};
use crate::worker::Phase;
use std::collections::HashMap;

#[derive(Default)]
pub struct Paranoid {
    /// The last receive count seen per (queue, message id).
    receive_counts: HashMap<(u16, u64), u32>,
    checked: u64,
}

impl Paranoid {
    /// Check every invariant; the first broken one, described.
    pub fn check(&mut self, w: &World, after: &Event) -> Result<(), String> {
        self.checked += 1;
        let n = self.checked;
        let at = || format!("at t = {} ns, after event #{n} ({after:?})", w.now());
        self.check_messages(w).map_err(|m| format!("{m} {}", at()))?;
        check_slots(w).map_err(|m| format!("{m} {}", at()))
    }

    fn check_messages(&mut self, w: &World) -> Result<(), String> {
        // Every pending lease timer (SQS and Pub/Sub leases, JetStream's
        // AckWait), by (queue, message id), as (gen, due): one pass over the
        // pending events serves every queue.
        let mut timers: LeaseTimers = HashMap::new();
        for (t, e) in w.ev.pending() {
            if let Event::Broker { q, t: Timer::LeaseEnd { id, gen } } = e {
                timers.entry((q, id)).or_default().push((gen, t));
            }
        }
        for (q, broker) in w.brokers.iter().enumerate() {
            if let Some(sqs) = broker.as_sqs() {
                self.check_queue(w, q as u16, sqs, &timers)?;
            }
            if let Some(js) = broker.as_jetstream() {
                let live = js.check_books(w.now(), &timers, &mut self.receive_counts)?;
                conservation(w, q as u16, live)?;
            }
            if let Some(nats) = broker.as_nats_core() {
                let live = nats.check_books()?;
                let (consumed, failed) = nats.settled();
                conservation(w, q as u16, live + consumed + failed)?;
            }
        }
        Ok(())
    }

    /// One SQS queue's messages, counts and conservation.
    fn check_queue(
        &mut self,
        w: &World,
        q: u16,
        sqs: &crate::broker::sqs::Sqs,
        timers: &LeaseTimers,
    ) -> Result<(), String> {
        let now = w.now();
        let (mut live, mut in_flight, mut waiting) = (0u64, 0u64, 0u64);
        for id in sqs.ids() {
            let Some(m) = sqs.get(id) else {
                self.receive_counts.remove(&(q, id));
                continue;
            };
            live += 1;
            let seen = self.receive_counts.entry((q, id)).or_insert(0);
            if m.receive_count < *seen {
                return Err(format!("message {id}'s receive count went down from {seen} to {}", m.receive_count));
            }
            *seen = m.receive_count;
            let lease = live_timers(timers, (q, id), m.timer_gen);
            match m.state {
                State::InFlight => {
                    in_flight += 1;
                    if m.hidden_until_ns < now {
                        return Err(format!("message {id} is in flight but its lease ended at {}", m.hidden_until_ns));
                    }
                    match lease.as_slice() {
                        [t] if *t == m.hidden_until_ns => {}
                        [] => return Err(format!("in-flight message {id} has no live lease timer")),
                        [t, ..] => {
                            return Err(format!(
                                "in-flight message {id} has {} live lease timers (first due {t}, lease ends {})",
                                lease.len(),
                                m.hidden_until_ns
                            ))
                        }
                    }
                }
                State::Visible | State::Delayed => {
                    waiting += 1;
                    if !lease.is_empty() {
                        return Err(format!("message {id} is {:?} but has {} live lease timers", m.state, lease.len()));
                    }
                }
                State::Gone => unreachable!("get() skips finished messages"),
            }
        }
        if (live, in_flight, waiting) != (sqs.live(), sqs.in_flight(), sqs.visible_or_delayed()) {
            return Err(format!(
                "queue {q}: broker counts (live {}, in flight {}, visible or delayed {}) disagree with its messages ({live}, {in_flight}, {waiting})",
                sqs.live(),
                sqs.in_flight(),
                sqs.visible_or_delayed()
            ));
        }
        conservation(w, q, live)
    }
}

/// Pending lease timers by (queue, message id), as (gen, due).
pub(crate) type LeaseTimers = HashMap<(u16, u64), Vec<(u32, u64)>>;

/// The due times of message `key`'s live lease timers: those that carry its
/// current generation `gen`.
pub(crate) fn live_timers(timers: &LeaseTimers, key: (u16, u64), gen: u32) -> Vec<u64> {
    timers.get(&key).into_iter().flatten().filter(|(g, _)| *g == gen).map(|&(_, t)| t).collect()
}

/// Nothing lost or invented on queue `q`, which holds `live` messages.
fn conservation(w: &World, q: u16, live: u64) -> Result<(), String> {
    let m = &w.obs.m[q as usize];
    let settled = m.deleted + m.dlq + m.expired + m.lost;
    if settled + live != m.sent {
        return Err(format!(
            "queue {q}: conservation: deleted {} + dlq {} + expired {} + lost {} + live {live} != sent {}",
            m.deleted, m.dlq, m.expired, m.lost, m.sent
        ));
    }
    Ok(())
}

fn check_slots(w: &World) -> Result<(), String> {
    let mut busy = 0u64;
    for (i, worker) in w.workers.iter().enumerate() {
        let used = worker.slots.iter().filter(|s| s.phase != Phase::Idle).count();
        if used + worker.slots.free() != worker.slots.len() {
            return Err(format!(
                "worker {i} ({}) has {used} busy and {} free of {} slots",
                worker.name,
                worker.slots.free(),
                worker.slots.len()
            ));
        }
        if worker.slots.free_iter().any(|s| worker.slots[s as usize].phase != Phase::Idle) {
            return Err(format!("worker {i} ({}) lists a busy slot as free", worker.name));
        }
        busy += used as u64;
    }
    // A Lambda function's poller holding a batch is busy too.
    busy += w.functions.iter().map(|f| f.busy_batches() as u64).sum::<u64>();
    if busy != w.busy_slots {
        return Err(format!("busy_slots is {} but {busy} slots are busy", w.busy_slots));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;
    use crate::sim::RunOptions;
    use std::path::Path;

    fn world() -> (World, crate::scenario::Scenario) {
        let text = "name = \"t\"\n[run]\nmessages = 3\n[producer]\narrival = { kind = \"scripted\", at = [\"0s\"] }\n[[workers]]\nname = \"w\"\nconcurrency = 2\n[handler]\nduration = \"1s\"\n";
        let s = Source::from_text(Path::new("t.toml"), text.into()).unwrap().resolve(&[], None).unwrap();
        (World::new(&s, RunOptions::default()), s)
    }

    #[test]
    fn a_fresh_world_passes_and_each_broken_book_is_caught() {
        let (mut w, _) = world();
        let mut p = Paranoid::default();
        p.check(&w, &Event::Produce).unwrap();
        w.busy_slots = 1;
        let e = p.check(&w, &Event::Produce).unwrap_err();
        assert!(e.contains("busy_slots is 1 but 0 slots are busy"), "{e}");
        w.busy_slots = 0;
        w.obs.m[0].sent = 1;
        let e = p.check(&w, &Event::Produce).unwrap_err();
        assert!(e.contains("conservation"), "{e}");
        w.obs.m[0].sent = 0;
        w.workers[0].slots.pop_free();
        let e = p.check(&w, &Event::Produce).unwrap_err();
        assert!(e.contains("0 busy and 1 free of 2 slots"), "{e}");
    }

    #[test]
    fn a_paranoid_run_gives_the_same_summary() {
        let (_, s) = world();
        let plain = crate::sim::run(&s, RunOptions::default()).unwrap().0.to_json();
        let checked = crate::sim::run(&s, RunOptions { paranoid: true, ..RunOptions::default() }).unwrap().0.to_json();
        assert_eq!(plain["final"], checked["final"]);
        assert_eq!(plain["events"], checked["events"]);
    }
}
