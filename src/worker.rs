//! Workers: polling (long and short), concurrency slots, the handler's steps,
//! heartbeats, failure policies, crashes and restarts (docs/model.md section 5),
//! and the consumer's use of the idempotency store (section 6).
//!
//! One attempt on a slot goes: receive -> [idempotency check] -> steps (delays
//! and dependency calls; the effect commits at the effect step) -> delete, or
//! -> fail (leave to expire, release, or back off), or is cut short by a crash.
//!
//! On an ordered queue (SQS FIFO) a worker processes the messages of one
//! group that one receive returned one after the other, in order, as FIFO
//! consumers do: each waits on its slot (`Phase::Waiting`) for the one
//! before it to succeed; if that one fails, the rest of the group's batch
//! fails with it and returns to the queue. On a Pub/Sub subscription with
//! ordering the next message starts once the one before it is acked or
//! nacked, as the client releases it (python-pubsub `activate_ordering_keys`).

use crate::broker::{Action, Batch, ChangeOutcome, Delivery, Fate, Handle};
use crate::consumer::attempt::{self, Attempt, Checked};
use crate::duration::Nanos;
use crate::idempotency::Check;
use crate::rng::{stream, Stream};
use crate::scenario::{ApiKind, FailurePolicy, Heartbeat, Scenario};
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
    /// Holding a message until the slot before it in its group finishes.
    Waiting,
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
    pub failed: Option<attempt::StepFailure>,
    pub check: Check,
    /// claim_first: this attempt holds the claim.
    pub claimed: bool,
    /// The message's group and place in it (ordered queues).
    pub group: u32,
    pub seq: u32,
    /// The slot waiting for this one to finish ([`NO_SLOT`]: none).
    pub then: u32,
    /// When the worker got the message (Pub/Sub lease management).
    pub received_ns: Nanos,
}

/// No slot.
pub const NO_SLOT: u32 = u32::MAX;

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
            group: 0,
            seq: 0,
            then: NO_SLOT,
            received_ns: 0,
        }
    }
}

/// One consumer process, in four cache lines. The fields an event touches
/// come first (`repr(C)` keeps the order; with 20,000 workers each worker is
/// out of cache when its next event comes, issue 17): flags and counters,
/// the name, the random stream, the free list and the first slot; then the
/// parts only some groups use (more slots, a crash stream). A receive's
/// messages do not stay here: they pass through the world's inbox, and wait
/// in [`Inboxes`] only while a response travels.
#[repr(C, align(64))]
pub struct Worker {
    pub alive: bool,
    pub polling: bool,
    pub parked: bool,
    pub response_lost: bool,
    /// The receive response in flight to the worker: its place in
    /// [`Inboxes`] ([`NO_INBOX`]: none).
    pub inbox: u32,
    pub poll_gen: u32,
    pub life: u32,
    /// The worker's group (an index into the scenario's groups).
    pub group: u32,
    /// The queue the worker's group consumes.
    pub queue: u32,
    pub want: u32,
    pub poll_start_ns: Nanos,
    pub down_ns: Nanos,
    pub name: String,
    pub rng: Stream,
    /// The concurrency slots and the free list (`slots.rs`).
    pub slots: crate::slots::Slots,
    /// Only for a group with random crashes (`crash.mtbf`).
    pub crash_rng: Option<Box<Stream>>,
}

/// No receive response in flight.
pub const NO_INBOX: u32 = u32::MAX;

/// The batches of receive responses still travelling to their workers
/// (a network delay on the response): a slab, so that a worker's place
/// costs it four bytes and a delivery no allocation once warm.
#[derive(Default)]
pub struct Inboxes {
    batches: Vec<Batch>,
    free: Vec<u32>,
}

impl Inboxes {
    /// Keep `batch` until [`Inboxes::take`]; its place.
    pub fn put(&mut self, batch: &Batch) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.batches[i as usize] = *batch;
                i
            }
            None => {
                self.batches.push(*batch);
                (self.batches.len() - 1) as u32
            }
        }
    }

    /// The batch kept at `i`, which is free again.
    pub fn take(&mut self, i: u32) -> Batch {
        debug_assert!(!self.free.contains(&i), "inbox {i} taken twice");
        self.free.push(i);
        self.batches[i as usize]
    }

    /// Bytes held, for the memory limit.
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        bytes_of::<Batch>(self.batches.capacity()) + bytes_of::<u32>(self.free.capacity())
    }
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

/// The bytes of a worker that a receive, a step and a delete touch: its
/// first three cache lines (see [`Worker`]).
const HOT_LINES: usize = 3;

// The flags, the name, the stream, the free list and the first slot fit in
// the hot lines, and a worker in four.
const _: () = assert!(std::mem::offset_of!(Worker, slots) + crate::slots::HOT_BYTES <= 64 * HOT_LINES);
const _: () = assert!(std::mem::size_of::<Worker>() <= 256);

impl Worker {
    /// Start loading the worker's busy fields into the cache (a hint; see
    /// `prefetch.rs`), ahead of an event that will need them.
    #[inline]
    pub fn prefetch(&self) {
        let p = (self as *const Worker).cast::<u8>();
        for line in 0..HOT_LINES {
            crate::prefetch::prefetch(p.wrapping_add(64 * line));
        }
    }

    /// Whether long poll `gen` is still parked, waiting for a message (once
    /// served, expired or cut by a crash it never is again).
    #[inline]
    pub fn parked_on(&self, gen: u32) -> bool {
        self.parked && self.poll_gen == gen
    }

    /// Every worker of every group, named `group` (count 1) or `group-i`.
    pub fn build_all(s: &Scenario, seed: u64) -> Vec<Worker> {
        let mut out = Vec::with_capacity(s.workers.iter().map(|g| g.count as usize).sum());
        for (g, group) in s.workers.iter().enumerate() {
            for i in 0..group.count {
                let name = if group.count == 1 { group.name.clone() } else { format!("{}-{i}", group.name) };
                out.push(Worker {
                    rng: stream(seed, &format!("worker:{name}")),
                    crash_rng: group.crash.mtbf_ns.map(|_| Box::new(stream(seed, &format!("crash:{name}")))),
                    name,
                    group: g as u32,
                    queue: group.queue as u32,
                    alive: false,
                    polling: false,
                    parked: false,
                    poll_gen: 0,
                    life: 0,
                    want: 0,
                    poll_start_ns: 0,
                    response_lost: false,
                    down_ns: 0,
                    inbox: NO_INBOX,
                    slots: crate::slots::Slots::new(group.concurrency),
                });
            }
        }
        out
    }
}

impl World {
    fn group_of(&self, w: u32) -> &crate::scenario::WorkerGroup {
        &self.groups[self.workers[w as usize].group as usize]
    }

    /// The queue worker `w` consumes.
    #[inline]
    fn q(&self, w: u32) -> usize {
        self.workers[w as usize].queue as usize
    }

    /// The handler worker `w` runs.
    #[inline]
    fn handler_of(&self, w: u32) -> usize {
        self.group_handler[self.workers[w as usize].group as usize]
    }

    pub(crate) fn on_worker_start(&mut self, w: u32) {
        self.workers[w as usize].alive = true;
        let (q, now) = (self.q(w), self.ev.now());
        self.brokers[q].set_connected(&mut self.obs, now, w, true);
        self.schedule_random_crash(w);
        self.poll(w);
    }

    // ------------------------------------------------------------ polling

    /// Start a receive call if the worker is alive, idle-polling and has room.
    fn poll(&mut self, w: u32) {
        let group = self.group_of(w);
        let (max, wait) = (group.receive.max, group.receive.wait_ns);
        // Pub/Sub flow control: at most max_messages outstanding per client.
        let max_outstanding = match &group.heartbeat {
            Heartbeat::PubsubLease(l) => l.max_messages,
            _ => u32::MAX,
        };
        // The group's concurrency is the worker's slot count: reading it
        // there spares a load from the worker's cold line (`Slots::len`).
        let slots = group.concurrency.max(1);
        let worker = &mut self.workers[w as usize];
        debug_assert_eq!(slots as usize, worker.slots.len());
        let free = worker.slots.free() as u32;
        let outstanding = slots - free;
        let room = free.min(max_outstanding.saturating_sub(outstanding));
        if !worker.alive || worker.polling || room == 0 {
            return;
        }
        worker.polling = true;
        worker.poll_gen = worker.poll_gen.wrapping_add(1);
        worker.want = max.min(room);
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
    pub(crate) fn bill_receive(&mut self, q: usize, messages: usize) {
        self.obs.m[q].api.billed += (messages as u64 * self.producer.payload_bytes()).div_ceil(64 * 1024).max(1) - 1;
    }

    pub(crate) fn on_receive_at_broker(&mut self, w: u32, gen: u32) {
        let q = self.q(w);
        let now = self.ev.now();
        if !self.brokers[q].admit(Action::Receive, now) {
            // ThrottlingException: the worker's client retries after its backoff.
            let retry = self.brokers[q].throttle_retry_ns() + self.workers[w as usize].down_ns;
            self.ev.after(retry, Event::Poll { w, gen });
            return;
        }
        self.obs.m[q].api.receive += 1;
        self.obs.m[q].api.billed += 1;
        let (wait, vt) = (self.group_of(w).receive.wait_ns, self.group_of(w).receive.visibility_timeout_ns);
        let worker = &mut self.workers[w as usize];
        let broker = &mut self.brokers[q];
        if worker.poll_gen != gen {
            // The worker crashed after sending this request: the broker still
            // hands out a message, to nobody.
            broker.receive(&mut self.ev, &mut self.obs, 1, vt, &worker.name, wait == 0, &mut self.inbox);
            for d in self.inbox.as_slice() {
                broker.set_fate(d.handle, Fate::Crashed, now);
            }
            self.bill_receive(q, self.inbox.len);
            return;
        }
        let want = worker.want as usize;
        broker.receive(&mut self.ev, &mut self.obs, want, vt, &worker.name, wait == 0, &mut self.inbox);
        if self.inbox.len > 0 || wait == 0 {
            self.respond(w, gen);
        } else {
            worker.parked = true;
            self.park(q, Waiter { w, gen });
            self.ev.after(wait, Event::PollExpire { w, gen });
        }
    }

    /// Park a long poll. A poll whose wait ran out leaves a stale entry
    /// behind (skipped when served); once stale entries outnumber the
    /// workers they are dropped, in order, so the queue holds at most about
    /// two entries per worker however many polls expire (a `wait` of 1 ns
    /// once grew it by one entry per poll).
    fn park(&mut self, q: usize, waiter: Waiter) {
        let waiters = &mut self.waiters[q];
        if waiters.len() >= 2 * self.workers.len() + 16 {
            let workers = &self.workers;
            waiters.retain(|x| workers[x.w as usize].parked_on(x.gen));
        }
        waiters.push_back(waiter);
    }

    /// Hand newly visible messages to parked long polls, first come first served.
    pub(crate) fn serve_waiters(&mut self) {
        for q in 0..self.brokers.len() {
            self.serve_waiters_of(q);
        }
    }

    fn serve_waiters_of(&mut self, q: usize) {
        if self.brokers[q].push() {
            return self.serve_pushed(q);
        }
        while self.brokers[q].can_deliver() {
            let Some(waiter) = self.waiters[q].pop_front() else { return };
            // Start loading what the next two waiters' messages will need:
            // the free slot of the next (whose worker was asked for on the
            // last turn), and the worker after it.
            if self.hints {
                if let Some(next) = self.waiters[q].front() {
                    self.workers[next.w as usize].slots.prefetch_free();
                }
                if let Some(after) = self.waiters[q].get(1) {
                    self.workers[after.w as usize].prefetch();
                }
            }
            let worker = &mut self.workers[waiter.w as usize];
            if !worker.parked_on(waiter.gen) {
                continue;
            }
            let vt = self.groups[worker.group as usize].receive.visibility_timeout_ns;
            let broker = &mut self.brokers[q];
            let want = worker.want as usize;
            broker.receive(&mut self.ev, &mut self.obs, want, vt, &worker.name, false, &mut self.inbox);
            if self.inbox.len == 0 {
                // Every visible message went to the DLQ or expired: keep waiting.
                self.waiters[q].push_front(waiter);
                return;
            }
            worker.parked = false;
            self.respond(waiter.w, waiter.gen);
        }
    }

    /// Core NATS: wake each parked worker whose own buffer got messages
    /// (messages belong to one subscription; the waiter queue is not used).
    fn serve_pushed(&mut self, q: usize) {
        if !self.brokers[q].can_deliver() {
            return;
        }
        self.waiters[q].clear();
        while let Some(w) = self.brokers[q].take_woken() {
            let worker = &mut self.workers[w as usize];
            if !worker.parked {
                continue;
            }
            let broker = &mut self.brokers[q];
            let want = worker.want as usize;
            broker.receive(&mut self.ev, &mut self.obs, want, None, &worker.name, false, &mut self.inbox);
            if self.inbox.len > 0 {
                worker.parked = false;
                let gen = worker.poll_gen;
                self.respond(w, gen);
            }
        }
    }

    pub(crate) fn on_poll_expire(&mut self, w: u32, gen: u32) {
        let worker = &mut self.workers[w as usize];
        if worker.parked_on(gen) {
            worker.parked = false;
            self.inbox.len = 0;
            self.respond(w, gen);
        }
    }

    /// The broker answers a receive (the batch is in the world's inbox).
    fn respond(&mut self, w: u32, gen: u32) {
        let now = self.ev.now();
        let q = self.q(w);
        self.bill_receive(q, self.inbox.len);
        let worker = &mut self.workers[w as usize];
        if self.inbox.len == 0 {
            self.obs.m[q].api.empty_receive += 1;
        }
        if !worker.alive || worker.poll_gen != gen {
            for d in self.inbox.as_slice() {
                self.brokers[q].set_fate(d.handle, Fate::Crashed, now);
            }
            return;
        }
        if worker.response_lost {
            for d in self.inbox.as_slice() {
                self.brokers[q].set_fate(d.handle, Fate::ReceiveLost, now);
            }
            let wait = self.groups[worker.group as usize].receive.wait_ns;
            let at = (worker.poll_start_ns + wait + self.net.timeout_ns()).max(now);
            self.ev.at(at, Event::Poll { w, gen });
        } else if worker.down_ns == 0 {
            self.take_inbox(w);
        } else {
            debug_assert_eq!(worker.inbox, NO_INBOX, "a second response in flight to one worker");
            worker.inbox = self.inboxes.put(&self.inbox);
            self.ev.after(worker.down_ns, Event::ReceiveDone { w, gen });
        }
    }

    /// A receive response reaches the worker after its network delay.
    pub(crate) fn on_receive_done(&mut self, w: u32, gen: u32) {
        let worker = &mut self.workers[w as usize];
        if worker.poll_gen != gen || !worker.alive {
            return; // the crash already settled these messages
        }
        debug_assert_ne!(worker.inbox, NO_INBOX, "a response arrived that was not in flight");
        self.inbox = self.inboxes.take(worker.inbox);
        worker.inbox = NO_INBOX;
        self.take_inbox(w);
    }

    /// The worker takes the received messages (the world's inbox) into
    /// its slots, and polls again.
    fn take_inbox(&mut self, w: u32) {
        let worker = &mut self.workers[w as usize];
        worker.polling = false;
        let gen = worker.poll_gen;
        let received = self.inbox.len;
        let ordered = self.brokers[worker.queue as usize].ordered();
        let mut previous: Option<(u32, u32)> = None;
        for i in 0..received {
            let d = self.inbox.items[i];
            let after = previous.filter(|&(_, g)| ordered && g == d.group).map(|(s, _)| s);
            let Some(s) = self.start_attempt(w, d, after.is_some()) else { continue };
            if let Some(p) = after {
                self.workers[w as usize].slots[p as usize].then = s;
            }
            previous = Some((s, d.group));
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

    /// Take a slot for delivery `d` and start it, or leave it waiting for
    /// the slot before it in its group (`waiting`). Returns the slot.
    #[inline(always)]
    fn start_attempt(&mut self, w: u32, d: Delivery, waiting: bool) -> Option<u32> {
        let now = self.ev.now();
        let interval = match self.group_of(w).heartbeat {
            Heartbeat::None => None,
            Heartbeat::Fixed { interval_ns, .. } | Heartbeat::Adaptive { interval_ns, .. } => Some(interval_ns),
            // The Pub/Sub client modAcks a message as soon as it has it.
            Heartbeat::PubsubLease(_) => Some(0),
        };
        let worker = &mut self.workers[w as usize];
        let Some(s) = worker.slots.pop_free() else {
            debug_assert!(false, "a receive returned more messages than free slots");
            return None;
        };
        let slot = &mut worker.slots[s as usize];
        slot.gen = slot.gen.wrapping_add(1);
        let gen = slot.gen;
        *slot = Slot {
            gen,
            handle: d.handle,
            key: d.key,
            first_send_ns: d.first_send_ns,
            started_ns: now,
            group: d.group,
            seq: d.seq,
            phase: Phase::Waiting,
            received_ns: now,
            ..Slot::default()
        };
        self.busy_slots += 1;
        if let Some(i) = interval {
            self.ev.after(i, Event::Heartbeat { w, slot: s, gen });
        }
        if !waiting {
            self.begin(w, s);
        }
        Some(s)
    }

    /// The slot's attempt begins: the idempotency check, or the first step.
    #[inline(always)]
    fn begin(&mut self, w: u32, s: u32) {
        let now = self.ev.now();
        let q = self.q(w);
        let worker = &mut self.workers[w as usize];
        let slot = &mut worker.slots[s as usize];
        debug_assert_eq!(slot.phase, Phase::Waiting, "begin on a slot that is not waiting");
        slot.phase = Phase::Working;
        slot.started_ns = now;
        let (key, gen) = (slot.key, slot.gen);
        match attempt::start_check(&mut self.stores[q], now, key, &mut worker.rng) {
            Some((check, latency, claimed)) => {
                let slot = &mut worker.slots[s as usize];
                slot.phase = Phase::Checking;
                slot.check = check;
                slot.claimed = claimed;
                self.ev.after(latency, Event::StoreDone { w, slot: s, gen });
            }
            None => self.run_step(w, s, 0),
        }
    }

    /// The slot's attempt ended: start the next message of its group (after
    /// a success), or fail it too.
    #[inline(always)]
    fn next_in_group(&mut self, w: u32, then: u32, succeeded: bool) {
        if then == NO_SLOT || self.workers[w as usize].slots[then as usize].phase != Phase::Waiting {
            return;
        }
        // The Pub/Sub client releases a key's next message once the one
        // before it is acked or nacked; an SQS FIFO consumer stops the batch.
        let q = self.q(w);
        if succeeded || self.brokers[q].config().kind == crate::scenario::QueueKind::Pubsub {
            self.begin(w, then);
        } else {
            self.attempt_failed(w, then, "an earlier message of its group failed");
        }
    }

    /// The slot's current attempt, if `gen` still names it.
    fn live_slot(&self, w: u32, s: u32, gen: u32) -> Option<Slot> {
        let slot = self.workers[w as usize].slots[s as usize];
        (slot.gen == gen && slot.phase != Phase::Idle).then_some(slot)
    }

    pub(crate) fn on_store_done(&mut self, w: u32, s: u32, gen: u32) {
        let Some(slot) = self.live_slot(w, s, gen) else { return };
        let q = self.q(w);
        match attempt::checked(&mut self.obs.m[q], slot.check) {
            Checked::Done => self.attempt_succeeded(w, s),
            Checked::InProgress => self.attempt_failed(w, s, attempt::CLAIM_HELD),
            Checked::Proceed => self.run_step(w, s, 0),
        }
    }

    fn run_step(&mut self, w: u32, s: u32, i: u32) {
        let now = self.ev.now();
        let h = self.handler_of(w);
        let worker = &mut self.workers[w as usize];
        let (duration, failed) =
            attempt::run_step(&mut self.handlers[h], i as usize, &mut self.deps, &mut worker.rng, now);
        let q = worker.queue as u16;
        let slot = &mut worker.slots[s as usize];
        slot.phase = Phase::Working;
        slot.step = i;
        slot.failed = failed;
        let (gen, at) = (slot.gen, slot.handle.at);
        self.ev.after(duration, Event::StepDone { w, slot: s, gen, q, at });
    }

    pub(crate) fn on_step_done(&mut self, w: u32, s: u32, gen: u32) {
        let Some(slot) = self.live_slot(w, s, gen) else { return };
        if let Some(failure) = slot.failed {
            return self.attempt_failed(w, s, failure.reason());
        }
        let i = slot.step as usize;
        let handler = &self.handlers[self.handler_of(w)];
        let (last, effect_step) = (i + 1 == handler.steps.len(), handler.effect_step);
        if last {
            let handler = &self.handlers[self.handler_of(w)];
            if let Some(reason) = attempt::fails_at_end(handler, self.seed, slot.key, &mut self.workers[w as usize].rng)
            {
                return self.attempt_failed(w, s, reason);
            }
        }
        if i == effect_step {
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
        let q = self.q(w);
        let a = Attempt {
            handle: slot.handle,
            key: slot.key,
            first_send_ns: slot.first_send_ns,
            group: slot.group,
            seq: slot.seq,
            check: slot.check,
        };
        attempt::commit_effect(&mut self.stores[q], &mut self.obs, now, q, a, &self.workers[w as usize].name);
    }

    #[inline(always)]
    fn record_processing(&mut self, w: u32, slot: &Slot) {
        if slot.phase == Phase::Waiting {
            return; // never started
        }
        let took = self.ev.now().saturating_sub(slot.started_ns).max(1);
        let g = self.workers[w as usize].group as usize;
        if matches!(self.groups[g].heartbeat, Heartbeat::Adaptive { .. }) {
            self.observed[g].record(took);
        }
        let q = self.q(w);
        self.obs.m[q].processing.saturating_record(took);
    }

    fn attempt_succeeded(&mut self, w: u32, s: u32) {
        let now = self.ev.now();
        let q = self.q(w);
        let slot = self.workers[w as usize].slots[s as usize];
        self.record_processing(w, &slot);
        let g = self.workers[w as usize].group as usize;
        if matches!(self.groups[g].heartbeat, Heartbeat::PubsubLease(_)) {
            // The client's histogram of ack latencies (receipt to ack).
            self.leases[g].record(now - slot.received_ns);
        }
        self.brokers[q].set_fate(slot.handle, Fate::Succeeded, now);
        self.workers[w as usize].slots[s as usize].phase = Phase::Finishing;
        let call = self.send_ack(w, slot.handle);
        self.next_in_group(w, slot.then, true);
        self.finish_call(w, s, slot.gen, call);
    }

    /// Send an ack (DeleteMessage) for `h`. With exactly-once delivery the
    /// Pub/Sub client learns each ack's result and resends one whose request
    /// or response was lost, after the client timeout, while the ack id is
    /// still valid; without it acks are best effort.
    #[inline(always)]
    fn send_ack(&mut self, w: u32, h: Handle) -> crate::network::Call {
        let call = self.net.call(ApiKind::Delete);
        if !call.request_lost {
            if call.up_ns == 0 {
                self.delete_at_broker(w, h);
            } else {
                self.ev.after(call.up_ns, Event::DeleteAtBroker { w, h });
            }
        }
        if (call.request_lost || call.response_lost) && self.brokers[self.q(w)].config().pubsub.exactly_once {
            self.ev.after(self.net.timeout_ns(), Event::AckRetry { w, h });
        }
        call
    }

    /// An exactly-once client's ack retry: sent again unless the ack id has
    /// stopped being valid (acked, or its deadline passed: the broker would
    /// answer PERMANENT_FAILURE_INVALID_ACK_ID).
    pub(crate) fn on_ack_retry(&mut self, w: u32, h: Handle) {
        if self.brokers[self.q(w)].holds(h) {
            self.send_ack(w, h);
        }
    }

    fn attempt_failed(&mut self, w: u32, s: u32, reason: &'static str) {
        let now = self.ev.now();
        let q = self.q(w);
        let slot = self.workers[w as usize].slots[s as usize];
        self.record_processing(w, &slot);
        self.obs.m[q].failures += 1;
        self.brokers[q].set_fate(slot.handle, Fate::Failed, now);
        if slot.claimed {
            self.stores[q].release_claim(slot.key);
        }
        let name = &self.workers[w as usize].name;
        self.obs.trace(q, now, Kind::Fail, Some(slot.handle.id), name, Some(slot.handle.receive), reason);
        self.workers[w as usize].slots[s as usize].phase = Phase::Finishing;
        self.next_in_group(w, slot.then, false);
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
            FailurePolicy::Release | FailurePolicy::Term => Some(0),
            FailurePolicy::Backoff { base_ns, max_ns } => {
                let doublings = h.receive.saturating_sub(1).min(40);
                Some(base_ns.saturating_mul(1u64 << doublings).min(max_ns))
            }
        }
    }

    /// The lease a heartbeat asks for: fixed, or a multiple of the group's
    /// observed p99 processing time (adaptive).
    fn heartbeat_extend_ns(&self, w: u32) -> Nanos {
        let g = self.workers[w as usize].group as usize;
        match self.groups[g].heartbeat {
            Heartbeat::None => 0,
            Heartbeat::Fixed { extend_ns, .. } => extend_ns,
            Heartbeat::Adaptive { multiple, min_extend_ns, .. } => {
                let p99 = self.observed[g].p99() as f64;
                adaptive_extend_ns(p99, multiple, min_extend_ns)
            }
            Heartbeat::PubsubLease(l) => self.leases[g].deadline_s(&l) * crate::duration::NS_PER_S,
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

    #[inline(always)]
    pub(crate) fn delete_at_broker(&mut self, w: u32, h: Handle) {
        let q = self.q(w);
        if !self.brokers[q].admit(Action::Delete, self.ev.now()) {
            // ThrottlingException: the client retries the delete after its backoff
            // (the slot does not wait for it).
            self.ev.after(self.brokers[q].throttle_retry_ns(), Event::DeleteAtBroker { w, h });
            return;
        }
        self.obs.m[q].api.delete += 1;
        self.obs.m[q].api.billed += 1;
        let name = &self.workers[w as usize].name;
        self.brokers[q].delete(&mut self.ev, &mut self.obs, h, name);
    }

    /// A ChangeMessageVisibility request reaches the broker: a heartbeat's
    /// extension, or a failed attempt's release. The visibility asked for is
    /// worked out here (it keeps the event small). Every call is traced, with
    /// the reason when it changes nothing: a heartbeat as `heartbeat`, a
    /// release that makes the message visible as `visible` ("released"), any
    /// other release or backoff as `change_visibility`.
    pub(crate) fn change_visibility_at_broker(&mut self, w: u32, h: Handle, heartbeat: bool) {
        let t_ns = if heartbeat { self.heartbeat_extend_ns(w) } else { self.release_ns(w, h).unwrap_or(0) };
        let q = self.q(w);
        if !heartbeat && matches!(self.group_of(w).on_failure, FailurePolicy::Term) {
            // JetStream +TERM: an ack verb (the broker traces it).
            self.obs.m[q].api.delete += 1;
            self.obs.m[q].api.billed += 1;
            let name = &self.workers[w as usize].name;
            self.brokers[q].term(&mut self.ev, &mut self.obs, h, name);
            return;
        }
        self.obs.m[q].api.change_visibility += 1;
        self.obs.m[q].api.billed += 1;
        let now = self.ev.now();
        let outcome = if heartbeat {
            self.brokers[q].heartbeat(&mut self.ev, &mut self.obs, h, t_ns)
        } else {
            self.brokers[q].change_visibility(&mut self.ev, &mut self.obs, h, t_ns)
        };
        let name = &self.workers[w as usize].name;
        let (kind, detail) = match (heartbeat, outcome) {
            (true, _) => (Kind::Heartbeat, outcome.reason()),
            // A Pub/Sub nack under an exponential retry policy: visible after the backoff.
            (false, ChangeOutcome::Changed | ChangeOutcome::ChangedByOlderHandle)
                if t_ns == 0
                    && matches!(self.brokers[q].config().pubsub.retry_backoff_ns, Some((min, _)) if min > 0) =>
            {
                (Kind::ChangeVisibility, "nack: retry policy backoff")
            }
            (false, ChangeOutcome::Changed) if t_ns == 0 => (Kind::Visible, "released"),
            (false, ChangeOutcome::ChangedByOlderHandle) if t_ns == 0 => (Kind::Visible, "released by an older handle"),
            (false, ChangeOutcome::LateBySequence) if t_ns == 0 => {
                (Kind::Visible, "late -NAK: re-queued the newest delivery (by stream sequence)")
            }
            (false, ChangeOutcome::LateBySequence) => {
                (Kind::ChangeVisibility, "late -NAK with delay: moved the newest delivery (by stream sequence)")
            }
            (false, ChangeOutcome::Changed) => (Kind::ChangeVisibility, "backoff"),
            (false, ChangeOutcome::ChangedByOlderHandle) => (Kind::ChangeVisibility, "backoff by an older handle"),
            (false, _) => (Kind::ChangeVisibility, outcome.reason()),
        };
        if kind == Kind::Heartbeat && outcome.changed() && self.obs.tracing() {
            if let Heartbeat::PubsubLease(_) = self.group_of(w).heartbeat {
                // Pub/Sub: the trace says which deadline each modAck asked for.
                let detail = format!("modAck {}", crate::duration::format_seconds(t_ns));
                let name = &self.workers[w as usize].name;
                return self.obs.trace(q, now, kind, Some(h.id), name, Some(h.receive), &detail);
            }
        }
        self.obs.trace(q, now, kind, Some(h.id), name, Some(h.receive), detail);
    }

    pub(crate) fn on_heartbeat(&mut self, w: u32, s: u32, gen: u32) {
        let Some(slot) = self.live_slot(w, s, gen) else { return };
        if slot.phase == Phase::Finishing {
            return;
        }
        let q = self.q(w);
        let interval_ns = match self.group_of(w).heartbeat {
            Heartbeat::None => return,
            Heartbeat::Fixed { interval_ns, .. } | Heartbeat::Adaptive { interval_ns, .. } => interval_ns,
            Heartbeat::PubsubLease(l) => {
                let now = self.ev.now();
                if crate::lease::past_max_lease(&l, slot.received_ns, now) {
                    // Dropped from lease management: no more modAcks; the
                    // message comes back when its last deadline runs out.
                    let name = &self.workers[w as usize].name;
                    let h = slot.handle;
                    let detail = "dropped from lease management (max_lease_duration)";
                    self.obs.trace(q, now, Kind::Heartbeat, Some(h.id), name, Some(h.receive), detail);
                    return;
                }
                let g = self.workers[w as usize].group as usize;
                crate::lease::renewal_after_ns(self.leases[g].deadline_s(&l))
            }
        };
        self.obs.m[q].heartbeats += 1;
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
        worker.slots.push_free(s);
        self.busy_slots -= 1;
        self.poll(w);
    }

    // ------------------------------------------------------------ crashes

    fn schedule_random_crash(&mut self, w: u32) {
        let Some(mtbf) = self.group_of(w).crash.mtbf_ns else { return };
        let worker = &mut self.workers[w as usize];
        let Some(rng) = worker.crash_rng.as_deref_mut() else { return };
        let gap = crate::duration::from_secs_f64(mtbf as f64 / 1e9 * crate::dist::exp1(rng));
        let life = worker.life;
        self.ev.after(gap.max(1), Event::Crash { w, life });
    }

    /// The worker dies: every slot's attempt is abandoned, the poll is cut.
    pub(crate) fn on_crash(&mut self, w: u32, life: Option<u32>) {
        let now = self.ev.now();
        let q = self.q(w);
        let worker = &mut self.workers[w as usize];
        if !worker.alive || life.is_some_and(|l| l != worker.life) {
            return;
        }
        worker.alive = false;
        worker.life = worker.life.wrapping_add(1);
        worker.poll_gen = worker.poll_gen.wrapping_add(1);
        worker.polling = false;
        worker.parked = false;
        self.obs.m[q].crashes += 1;
        if worker.inbox != NO_INBOX {
            let batch = self.inboxes.take(worker.inbox);
            worker.inbox = NO_INBOX;
            for d in batch.as_slice() {
                self.brokers[q].set_fate(d.handle, Fate::Crashed, now);
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
                self.brokers[q].set_fate(slot.handle, Fate::Crashed, now);
            }
            self.obs.trace(q, now, Kind::Crash, Some(slot.handle.id), &worker.name, Some(slot.handle.receive), "");
            let slot = &mut worker.slots[s];
            slot.phase = Phase::Idle;
            slot.gen = slot.gen.wrapping_add(1);
            worker.slots.push_free(s as u32);
            self.busy_slots -= 1;
        }
        if held == 0 {
            self.obs.trace(q, now, Kind::Crash, None, &worker.name, None, "");
        }
        self.brokers[q].set_connected(&mut self.obs, now, w, false);
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
        let q = worker.queue as usize;
        self.obs.trace(q, now, Kind::Restart, None, &worker.name, None, "");
        self.brokers[q].set_connected(&mut self.obs, now, w, true);
        self.schedule_random_crash(w);
        self.poll(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(ids: &[u64]) -> Batch {
        let mut b = Batch::default();
        for &id in ids {
            b.push(Delivery { handle: Handle { id, receive: 1, at: 0 }, key: id, first_send_ns: 0, group: 0, seq: 0 });
        }
        b
    }

    fn ids(b: &Batch) -> Vec<u64> {
        b.as_slice().iter().map(|d| d.handle.id).collect()
    }

    #[test]
    fn inboxes_give_back_each_batch_and_reuse_freed_places() {
        let mut inboxes = Inboxes::default();
        let a = inboxes.put(&batch_of(&[1, 2]));
        let b = inboxes.put(&batch_of(&[3]));
        assert_ne!(a, b);
        assert_eq!(ids(&inboxes.take(a)), vec![1, 2]);
        // The freed place is used again rather than a new one.
        let c = inboxes.put(&batch_of(&[4, 5, 6]));
        assert_eq!(c, a);
        assert_eq!(ids(&inboxes.take(b)), vec![3]);
        assert_eq!(ids(&inboxes.take(c)), vec![4, 5, 6]);
        assert_eq!(inboxes.batches.len(), 2, "two responses were in flight at most");
    }

    #[test]
    fn a_worker_fits_in_four_cache_lines() {
        assert_eq!(std::mem::size_of::<Worker>(), 256);
        assert!(std::mem::size_of::<Slot>() <= 72, "a slot of {} bytes", std::mem::size_of::<Slot>());
    }
}
