//! Workers: polling (long and short), concurrency slots, the handler's steps,
//! heartbeats, failure policies, crashes and restarts (SEMANTICS.md section 4),
//! and the consumer's use of the idempotency store (section 5).
//!
//! One attempt on a slot goes: receive -> [idempotency check] -> steps (delays
//! and dependency calls; the effect commits at the effect step) -> delete, or
//! -> fail (leave to expire, release, or back off), or is cut short by a crash.

use crate::broker::{Batch, Fate, Handle};
use crate::dependency::CallOutcome;
use crate::duration::Nanos;
use crate::idempotency::{Check, Commit};
use crate::metrics::Breach;
use crate::rng::{chance, hash_unit, stream, Stream};
use crate::scenario::{ApiKind, FailurePolicy, Heartbeat, Scenario, Step, Strategy};
use crate::sim::{Event, World};
use crate::trace::Kind;

/// A parked long poll, waiting for a visible message.
#[derive(Debug, Clone, Copy)]
pub struct Waiter {
    pub w: u32,
    pub gen: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// Waiting for the idempotency store's answer.
    Checking,
    Working,
    /// Deleting or releasing: the handler is done.
    Finishing,
}

/// One concurrency slot and the attempt it runs.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub gen: u32,
    pub phase: Phase,
    pub handle: Handle,
    pub key: u64,
    pub first_send_ns: Nanos,
    pub started_ns: Nanos,
    pub step: u32,
    /// Why the current step failed, if it did.
    pub failed: Option<&'static str>,
    pub check: Check,
    /// claim_first: this attempt holds the claim.
    pub claimed: bool,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            gen: 0,
            phase: Phase::Idle,
            handle: Handle::default(),
            key: 0,
            first_send_ns: 0,
            started_ns: 0,
            step: 0,
            failed: None,
            check: Check::Proceed { forgotten: false },
            claimed: false,
        }
    }
}

pub struct Worker {
    pub name: String,
    pub group: usize,
    pub alive: bool,
    pub polling: bool,
    pub parked: bool,
    pub poll_gen: u32,
    pub life: u32,
    pub want: usize,
    pub poll_start_ns: Nanos,
    pub response_lost: bool,
    pub down_ns: Nanos,
    /// The last receive's messages; `inbox_in_flight` while its response travels.
    pub inbox: Batch,
    pub inbox_in_flight: bool,
    pub slots: Vec<Slot>,
    pub free_slots: Vec<u32>,
    pub rng: Stream,
    pub crash_rng: Stream,
}

/// Processing times observed by one worker group, for adaptive heartbeats.
/// The p99 is cached until the next record: heartbeats far outnumber
/// finished attempts, and `value_at_quantile` scans thousands of HDR
/// buckets (recomputing it on every heartbeat made adaptive heartbeats
/// about 3.8x slower than fixed ones). The value is the histogram's own, so
/// results do not change.
pub struct Observed {
    hist: hdrhistogram::Histogram<u64>,
    p99: std::cell::Cell<Option<u64>>,
}

impl Observed {
    pub fn new() -> Observed {
        let hist = hdrhistogram::Histogram::new_with_bounds(1, 1 << 50, 2).expect("valid histogram bounds");
        Observed { hist, p99: std::cell::Cell::new(None) }
    }

    pub fn record(&mut self, ns: Nanos) {
        self.hist.saturating_record(ns);
        self.p99.set(None);
    }

    /// The 99th percentile of the recorded times (0 before any).
    pub fn p99(&self) -> u64 {
        match self.p99.get() {
            Some(v) => v,
            None => {
                let v = self.hist.value_at_quantile(0.99);
                self.p99.set(Some(v));
                v
            }
        }
    }
}

impl Default for Observed {
    fn default() -> Self {
        Observed::new()
    }
}

/// An adaptive heartbeat's extension: `multiple` x the observed p99, at
/// least `min_extend_ns`, saturated at the broker's 12 h limit (a huge
/// multiple once overflowed `now + extension`). Asking for 12 h is asking
/// for the most SQS allows; the broker then applies its own cap.
pub fn adaptive_extend_ns(p99_ns: f64, multiple: f64, min_extend_ns: Nanos) -> Nanos {
    let want = p99_ns * multiple; // a float-to-int cast saturates; NaN is 0
    min_extend_ns.max(want as Nanos).min(crate::broker::sqs::MAX_HIDDEN_NS)
}

/// Salt of the poison-message hash.
const POISON_SALT: u64 = 0x706f_6973_6f6e;

impl Worker {
    /// Every worker of every group, named `group` (count 1) or `group-i`.
    pub fn build_all(s: &Scenario, seed: u64) -> Vec<Worker> {
        let mut out = Vec::new();
        for (g, group) in s.workers.iter().enumerate() {
            for i in 0..group.count {
                let name = if group.count == 1 { group.name.clone() } else { format!("{}-{i}", group.name) };
                out.push(Worker {
                    rng: stream(seed, &format!("worker:{name}")),
                    crash_rng: stream(seed, &format!("crash:{name}")),
                    name,
                    group: g,
                    alive: false,
                    polling: false,
                    parked: false,
                    poll_gen: 0,
                    life: 0,
                    want: 0,
                    poll_start_ns: 0,
                    response_lost: false,
                    down_ns: 0,
                    inbox: Batch::default(),
                    inbox_in_flight: false,
                    slots: vec![Slot::default(); group.concurrency as usize],
                    free_slots: (0..group.concurrency).rev().collect(),
                });
            }
        }
        out
    }
}

impl World {
    fn group_of(&self, w: u32) -> &crate::scenario::WorkerGroup {
        &self.groups[self.workers[w as usize].group]
    }

    pub(crate) fn on_worker_start(&mut self, w: u32) {
        self.workers[w as usize].alive = true;
        self.schedule_random_crash(w);
        self.poll(w);
    }

    // ------------------------------------------------------------ polling

    /// Start a receive call if the worker is alive, idle-polling and has room.
    fn poll(&mut self, w: u32) {
        let max = self.group_of(w).receive.max as usize;
        let wait = self.group_of(w).receive.wait_ns;
        let worker = &mut self.workers[w as usize];
        if !worker.alive || worker.polling || worker.free_slots.is_empty() {
            return;
        }
        worker.polling = true;
        worker.poll_gen = worker.poll_gen.wrapping_add(1);
        worker.want = max.min(worker.free_slots.len());
        worker.poll_start_ns = self.ev.now();
        let gen = worker.poll_gen;
        let call = self.net.call(ApiKind::Receive);
        let worker = &mut self.workers[w as usize];
        worker.response_lost = call.response_lost;
        worker.down_ns = call.down_ns;
        if call.request_lost {
            self.ev.after(wait + self.net.timeout_ns(), Event::Poll { w, gen });
        } else if call.up_ns == 0 {
            self.on_receive_at_broker(w, gen);
        } else {
            self.ev.after(call.up_ns, Event::ReceiveAtBroker { w, gen });
        }
    }

    /// A retry or backoff timer: poll again unless the worker moved on.
    pub(crate) fn on_poll_timer(&mut self, w: u32, gen: u32) {
        let worker = &mut self.workers[w as usize];
        if worker.poll_gen == gen && worker.polling {
            worker.polling = false;
            self.poll(w);
        }
    }

    /// Bill the rest of a receive: one request per 64 KiB of returned
    /// payload; the first was billed when the request arrived.
    fn bill_receive(&mut self, messages: usize) {
        self.obs.m.api.billed += (messages as u64 * self.producer.payload_bytes()).div_ceil(64 * 1024).max(1) - 1;
    }

    pub(crate) fn on_receive_at_broker(&mut self, w: u32, gen: u32) {
        self.obs.m.api.receive += 1;
        self.obs.m.api.billed += 1;
        let (wait, vt) = (self.group_of(w).receive.wait_ns, self.group_of(w).receive.visibility_timeout_ns);
        let now = self.ev.now();
        let worker = &mut self.workers[w as usize];
        if worker.poll_gen != gen {
            // The worker crashed after sending this request: the broker still
            // hands out a message, to nobody.
            let mut batch = Batch::default();
            self.sqs.receive(&mut self.ev, &mut self.obs, 1, vt, &worker.name, wait == 0, &mut batch);
            for d in batch.as_slice() {
                self.sqs.set_fate(d.handle, Fate::Crashed, now);
            }
            self.bill_receive(batch.len);
            return;
        }
        self.sqs.receive(&mut self.ev, &mut self.obs, worker.want, vt, &worker.name, wait == 0, &mut worker.inbox);
        if worker.inbox.len > 0 || wait == 0 {
            self.respond(w, gen);
        } else {
            worker.parked = true;
            self.park(Waiter { w, gen });
            self.ev.after(wait, Event::PollExpire { w, gen });
        }
    }

    /// Park a long poll. A poll whose wait ran out leaves a stale entry
    /// behind (skipped when served); once stale entries outnumber the
    /// workers they are dropped, in order, so the queue holds at most about
    /// two entries per worker however many polls expire (a `wait` of 1 ns
    /// once grew it by one entry per poll).
    fn park(&mut self, waiter: Waiter) {
        if self.waiters.len() >= 2 * self.workers.len() + 16 {
            let workers = &self.workers;
            self.waiters.retain(|x| {
                let worker = &workers[x.w as usize];
                worker.parked && worker.poll_gen == x.gen
            });
        }
        self.waiters.push_back(waiter);
    }

    /// Hand newly visible messages to parked long polls, first come first served.
    pub(crate) fn serve_waiters(&mut self) {
        while self.sqs.can_deliver() {
            let Some(waiter) = self.waiters.pop_front() else { return };
            let worker = &mut self.workers[waiter.w as usize];
            if !worker.parked || worker.poll_gen != waiter.gen {
                continue;
            }
            let vt = self.groups[worker.group].receive.visibility_timeout_ns;
            self.sqs.receive(&mut self.ev, &mut self.obs, worker.want, vt, &worker.name, false, &mut worker.inbox);
            if worker.inbox.len == 0 {
                // Every visible message went to the DLQ or expired: keep waiting.
                self.waiters.push_front(waiter);
                return;
            }
            worker.parked = false;
            self.respond(waiter.w, waiter.gen);
        }
    }

    pub(crate) fn on_poll_expire(&mut self, w: u32, gen: u32) {
        let worker = &mut self.workers[w as usize];
        if worker.parked && worker.poll_gen == gen {
            worker.parked = false;
            worker.inbox.len = 0;
            self.respond(w, gen);
        }
    }

    /// The broker answers a receive (the batch is in the worker's inbox).
    fn respond(&mut self, w: u32, gen: u32) {
        let now = self.ev.now();
        self.bill_receive(self.workers[w as usize].inbox.len);
        let worker = &mut self.workers[w as usize];
        if worker.inbox.len == 0 {
            self.obs.m.api.empty_receive += 1;
        }
        if !worker.alive || worker.poll_gen != gen {
            for d in worker.inbox.as_slice() {
                self.sqs.set_fate(d.handle, Fate::Crashed, now);
            }
            return;
        }
        if worker.response_lost {
            for d in worker.inbox.as_slice() {
                self.sqs.set_fate(d.handle, Fate::ReceiveLost, now);
            }
            let wait = self.groups[worker.group].receive.wait_ns;
            let at = (worker.poll_start_ns + wait + self.net.timeout_ns()).max(now);
            self.ev.at(at, Event::Poll { w, gen });
        } else if worker.down_ns == 0 {
            self.on_receive_done(w, gen);
        } else {
            worker.inbox_in_flight = true;
            self.ev.after(worker.down_ns, Event::ReceiveDone { w, gen });
        }
    }

    pub(crate) fn on_receive_done(&mut self, w: u32, gen: u32) {
        let worker = &mut self.workers[w as usize];
        if worker.poll_gen != gen || !worker.alive {
            return; // the crash already settled these messages
        }
        worker.inbox_in_flight = false;
        worker.polling = false;
        let received = worker.inbox.len;
        for i in 0..received {
            let d = self.workers[w as usize].inbox.items[i];
            self.start_attempt(w, d.handle, d.key, d.first_send_ns);
        }
        let receive = &self.group_of(w).receive;
        if received == 0 && receive.wait_ns == 0 {
            let backoff = receive.idle_backoff_ns;
            self.workers[w as usize].polling = true;
            self.ev.after(backoff, Event::Poll { w, gen });
        } else {
            self.poll(w);
        }
    }

    // ------------------------------------------------------------ attempts

    fn start_attempt(&mut self, w: u32, handle: Handle, key: u64, first_send_ns: Nanos) {
        let now = self.ev.now();
        let strategy = self.store.strategy();
        let interval = match self.group_of(w).heartbeat {
            Heartbeat::None => None,
            Heartbeat::Fixed { interval_ns, .. } | Heartbeat::Adaptive { interval_ns, .. } => Some(interval_ns),
        };
        let worker = &mut self.workers[w as usize];
        let Some(s) = worker.free_slots.pop() else {
            debug_assert!(false, "a receive returned more messages than free slots");
            return;
        };
        let slot = &mut worker.slots[s as usize];
        slot.gen = slot.gen.wrapping_add(1);
        let gen = slot.gen;
        *slot = Slot { gen, handle, key, first_send_ns, started_ns: now, phase: Phase::Working, ..Slot::default() };
        self.busy_slots += 1;
        if let Some(i) = interval {
            self.ev.after(i, Event::Heartbeat { w, slot: s, gen });
        }
        if matches!(strategy, Strategy::CheckThenMark | Strategy::ClaimFirst) {
            let check = self.store.check(now, key);
            let latency = self.store.cfg.latency.sample(&mut worker.rng);
            let slot = &mut worker.slots[s as usize];
            slot.phase = Phase::Checking;
            slot.check = check;
            slot.claimed = strategy == Strategy::ClaimFirst && matches!(check, Check::Proceed { .. });
            self.ev.after(latency, Event::StoreDone { w, slot: s, gen });
        } else {
            self.run_step(w, s, 0);
        }
    }

    /// The slot's current attempt, if `gen` still names it.
    fn live_slot(&self, w: u32, s: u32, gen: u32) -> Option<Slot> {
        let slot = self.workers[w as usize].slots[s as usize];
        (slot.gen == gen && slot.phase != Phase::Idle).then_some(slot)
    }

    pub(crate) fn on_store_done(&mut self, w: u32, s: u32, gen: u32) {
        let Some(slot) = self.live_slot(w, s, gen) else { return };
        match slot.check {
            Check::Done => {
                self.obs.m.idempotency.suppressed += 1;
                self.attempt_succeeded(w, s);
            }
            Check::InProgress => {
                self.obs.m.idempotency.rejected_in_progress += 1;
                self.attempt_failed(w, s, "idempotency claim held by another attempt");
            }
            Check::Proceed { .. } => self.run_step(w, s, 0),
        }
    }

    fn run_step(&mut self, w: u32, s: u32, i: u32) {
        let now = self.ev.now();
        let worker = &mut self.workers[w as usize];
        let (duration, failed) = match &mut self.handler.steps[i as usize] {
            Step::Delay(d) => (d.sample(&mut worker.rng), None),
            Step::Call { dependency } => {
                let r = self.deps[*dependency].call(now);
                let failed = match r.outcome {
                    CallOutcome::Ok => None,
                    CallOutcome::Error => Some("dependency error"),
                    CallOutcome::Timeout => Some("dependency timeout"),
                };
                (r.duration_ns, failed)
            }
        };
        let slot = &mut worker.slots[s as usize];
        slot.phase = Phase::Working;
        slot.step = i;
        slot.failed = failed;
        let gen = slot.gen;
        self.ev.after(duration, Event::StepDone { w, slot: s, gen });
    }

    pub(crate) fn on_step_done(&mut self, w: u32, s: u32, gen: u32) {
        let Some(slot) = self.live_slot(w, s, gen) else { return };
        if let Some(reason) = slot.failed {
            return self.attempt_failed(w, s, reason);
        }
        let i = slot.step as usize;
        let last = i + 1 == self.handler.steps.len();
        if last {
            if hash_unit(self.seed, POISON_SALT, slot.key) < self.handler.poison_fraction {
                return self.attempt_failed(w, s, "poison message");
            }
            if chance(&mut self.workers[w as usize].rng, self.handler.fail_probability) {
                return self.attempt_failed(w, s, "handler error");
            }
        }
        if i == self.handler.effect_step {
            self.commit_effect(w, slot);
        }
        if last {
            self.attempt_succeeded(w, s);
        } else {
            self.run_step(w, s, i as u32 + 1);
        }
    }

    fn commit_effect(&mut self, w: u32, slot: Slot) {
        let now = self.ev.now();
        let strategy = self.store.strategy();
        let mut forgotten = matches!(slot.check, Check::Proceed { forgotten: true });
        if strategy != Strategy::None {
            match self.store.commit(now, slot.key) {
                Commit::Suppress => {
                    self.obs.m.idempotency.suppressed += 1;
                    return;
                }
                Commit::Apply { forgotten: f } => forgotten |= f,
            }
        }
        let duplicate = self.obs.m.effect(now, slot.key, slot.first_send_ns);
        let name = &self.workers[w as usize].name;
        let h = slot.handle;
        if duplicate {
            let breach = match strategy {
                _ if forgotten && strategy != Strategy::None => Breach::KeyExpired,
                Strategy::None => Breach::Unprotected,
                Strategy::CheckThenMark => Breach::Race,
                Strategy::ClaimFirst => Breach::ClaimExpired,
                Strategy::Atomic => Breach::KeyExpired,
            };
            self.obs.m.idempotency.breaches[breach as usize] += 1;
            self.obs.trace(now, Kind::DuplicateEffect, Some(h.id), name, Some(h.receive), "");
        } else {
            self.obs.trace(now, Kind::Effect, Some(h.id), name, Some(h.receive), "");
        }
    }

    fn record_processing(&mut self, w: u32, slot: &Slot) {
        let took = self.ev.now().saturating_sub(slot.started_ns).max(1);
        let g = self.workers[w as usize].group;
        if matches!(self.groups[g].heartbeat, Heartbeat::Adaptive { .. }) {
            self.observed[g].record(took);
        }
        self.obs.m.processing.saturating_record(took);
    }

    fn attempt_succeeded(&mut self, w: u32, s: u32) {
        let now = self.ev.now();
        let slot = self.workers[w as usize].slots[s as usize];
        self.record_processing(w, &slot);
        self.sqs.set_fate(slot.handle, Fate::Succeeded, now);
        self.workers[w as usize].slots[s as usize].phase = Phase::Finishing;
        let call = self.net.call(ApiKind::Delete);
        if !call.request_lost {
            if call.up_ns == 0 {
                self.delete_at_broker(w, slot.handle);
            } else {
                self.ev.after(call.up_ns, Event::DeleteAtBroker { w, h: slot.handle });
            }
        }
        self.finish_call(w, s, slot.gen, call);
    }

    fn attempt_failed(&mut self, w: u32, s: u32, reason: &'static str) {
        let now = self.ev.now();
        let slot = self.workers[w as usize].slots[s as usize];
        self.record_processing(w, &slot);
        self.obs.m.failures += 1;
        self.sqs.set_fate(slot.handle, Fate::Failed, now);
        if slot.claimed {
            self.store.release_claim(slot.key);
        }
        let name = &self.workers[w as usize].name;
        self.obs.trace(now, Kind::Fail, Some(slot.handle.id), name, Some(slot.handle.receive), reason);
        self.workers[w as usize].slots[s as usize].phase = Phase::Finishing;
        if self.release_ns(w, slot.handle).is_none() {
            return self.free_slot(w, s);
        }
        let call = self.net.call(ApiKind::ChangeVisibility);
        let h = slot.handle;
        if !call.request_lost {
            if call.up_ns == 0 {
                self.change_visibility_at_broker(w, h, false);
            } else {
                self.ev.after(call.up_ns, Event::ChangeVisibilityAtBroker { w, h, heartbeat: false });
            }
        }
        self.finish_call(w, s, slot.gen, call);
    }

    /// The visibility a failed attempt sets under the group's failure policy
    /// (None: leave the message to expire).
    fn release_ns(&self, w: u32, h: Handle) -> Option<Nanos> {
        match self.group_of(w).on_failure {
            FailurePolicy::Expire => None,
            FailurePolicy::Release => Some(0),
            FailurePolicy::Backoff { base_ns, max_ns } => {
                let doublings = h.receive.saturating_sub(1).min(40);
                Some(base_ns.saturating_mul(1u64 << doublings).min(max_ns))
            }
        }
    }

    /// The lease a heartbeat asks for: fixed, or a multiple of the group's
    /// observed p99 processing time (adaptive).
    fn heartbeat_extend_ns(&self, w: u32) -> Nanos {
        let g = self.workers[w as usize].group;
        match self.groups[g].heartbeat {
            Heartbeat::None => 0,
            Heartbeat::Fixed { extend_ns, .. } => extend_ns,
            Heartbeat::Adaptive { multiple, min_extend_ns, .. } => {
                let p99 = self.observed[g].p99() as f64;
                adaptive_extend_ns(p99, multiple, min_extend_ns)
            }
        }
    }

    /// Free the slot when the caller sees the call end (its response, or the
    /// client timeout when the request or response was lost).
    fn finish_call(&mut self, w: u32, s: u32, gen: u32, call: crate::network::Call) {
        let wait =
            if call.request_lost || call.response_lost { self.net.timeout_ns() } else { call.up_ns + call.down_ns };
        if wait == 0 {
            self.free_slot(w, s);
        } else {
            self.ev.after(wait, Event::SlotFree { w, slot: s, gen });
        }
    }

    pub(crate) fn delete_at_broker(&mut self, w: u32, h: Handle) {
        self.obs.m.api.delete += 1;
        self.obs.m.api.billed += 1;
        let name = &self.workers[w as usize].name;
        self.sqs.delete(&mut self.ev, &mut self.obs, h, name);
    }

    /// A ChangeMessageVisibility request reaches the broker: a heartbeat's
    /// extension, or a failed attempt's release. The visibility asked for is
    /// worked out here (it keeps the event small).
    pub(crate) fn change_visibility_at_broker(&mut self, w: u32, h: Handle, heartbeat: bool) {
        use crate::broker::ChangeOutcome;
        let t_ns = if heartbeat { self.heartbeat_extend_ns(w) } else { self.release_ns(w, h).unwrap_or(0) };
        self.obs.m.api.change_visibility += 1;
        self.obs.m.api.billed += 1;
        let now = self.ev.now();
        let outcome = self.sqs.change_visibility(&mut self.ev, h, t_ns);
        let name = &self.workers[w as usize].name;
        let (kind, detail) = match (heartbeat, outcome) {
            (true, ChangeOutcome::Changed) => (Kind::Heartbeat, ""),
            (true, ChangeOutcome::Stale) => (Kind::Heartbeat, "stale handle: no change"),
            (true, ChangeOutcome::Rejected) => (Kind::Heartbeat, "rejected: past 12h after the receive"),
            (false, ChangeOutcome::Changed) if t_ns == 0 => (Kind::Visible, "released"),
            (false, _) => return,
        };
        self.obs.trace(now, kind, Some(h.id), name, Some(h.receive), detail);
    }

    pub(crate) fn on_heartbeat(&mut self, w: u32, s: u32, gen: u32) {
        let Some(slot) = self.live_slot(w, s, gen) else { return };
        if slot.phase == Phase::Finishing {
            return;
        }
        let interval_ns = match self.group_of(w).heartbeat {
            Heartbeat::None => return,
            Heartbeat::Fixed { interval_ns, .. } | Heartbeat::Adaptive { interval_ns, .. } => interval_ns,
        };
        self.obs.m.heartbeats += 1;
        let call = self.net.call(ApiKind::ChangeVisibility);
        if !call.request_lost {
            let h = slot.handle;
            if call.up_ns == 0 {
                self.change_visibility_at_broker(w, h, true);
            } else {
                self.ev.after(call.up_ns, Event::ChangeVisibilityAtBroker { w, h, heartbeat: true });
            }
        }
        self.ev.after(interval_ns, Event::Heartbeat { w, slot: s, gen });
    }

    pub(crate) fn on_slot_free(&mut self, w: u32, s: u32, gen: u32) {
        if self.live_slot(w, s, gen).is_some() {
            self.free_slot(w, s);
        }
    }

    fn free_slot(&mut self, w: u32, s: u32) {
        let worker = &mut self.workers[w as usize];
        let slot = &mut worker.slots[s as usize];
        debug_assert!(slot.phase != Phase::Idle, "freeing an idle slot");
        slot.phase = Phase::Idle;
        slot.gen = slot.gen.wrapping_add(1);
        worker.free_slots.push(s);
        self.busy_slots -= 1;
        self.poll(w);
    }

    // ------------------------------------------------------------ crashes

    fn schedule_random_crash(&mut self, w: u32) {
        let Some(mtbf) = self.group_of(w).crash.mtbf_ns else { return };
        let worker = &mut self.workers[w as usize];
        let gap = crate::duration::from_secs_f64(mtbf as f64 / 1e9 * crate::dist::exp1(&mut worker.crash_rng));
        let life = worker.life;
        self.ev.after(gap.max(1), Event::Crash { w, life });
    }

    /// The worker dies: every slot's attempt is abandoned, the poll is cut.
    pub(crate) fn on_crash(&mut self, w: u32, life: Option<u32>) {
        let now = self.ev.now();
        let worker = &mut self.workers[w as usize];
        if !worker.alive || life.is_some_and(|l| l != worker.life) {
            return;
        }
        worker.alive = false;
        worker.life = worker.life.wrapping_add(1);
        worker.poll_gen = worker.poll_gen.wrapping_add(1);
        worker.polling = false;
        worker.parked = false;
        self.obs.m.crashes += 1;
        if worker.inbox_in_flight {
            worker.inbox_in_flight = false;
            for d in worker.inbox.as_slice() {
                self.sqs.set_fate(d.handle, Fate::Crashed, now);
            }
        }
        let mut held = 0;
        for s in 0..worker.slots.len() {
            let slot = worker.slots[s];
            if slot.phase == Phase::Idle {
                continue;
            }
            held += 1;
            if slot.phase != Phase::Finishing {
                self.sqs.set_fate(slot.handle, Fate::Crashed, now);
            }
            self.obs.trace(now, Kind::Crash, Some(slot.handle.id), &worker.name, Some(slot.handle.receive), "");
            let slot = &mut worker.slots[s];
            slot.phase = Phase::Idle;
            slot.gen = slot.gen.wrapping_add(1);
            worker.free_slots.push(s as u32);
            self.busy_slots -= 1;
        }
        if held == 0 {
            self.obs.trace(now, Kind::Crash, None, &worker.name, None, "");
        }
        let delay = self.group_of(w).crash.restart_delay_ns;
        self.ev.after(delay, Event::Restart { w });
    }

    pub(crate) fn on_restart(&mut self, w: u32) {
        let now = self.ev.now();
        let worker = &mut self.workers[w as usize];
        if worker.alive {
            return;
        }
        worker.alive = true;
        self.obs.trace(now, Kind::Restart, None, &worker.name, None, "");
        self.schedule_random_crash(w);
        self.poll(w);
    }
}
