//! AWS Lambda functions consuming an SQS queue through an event source
//! mapping (ESM), with the rules of docs/model.md "Lambda event source
//! mapping" (sources there):
//!
//! - The mapping runs *pollers*, one per concurrent batch. A poller
//!   long-polls the queue (20 s), gathers up to `batch_size` records (several
//!   receives of at most 10 while the batching window is open, Standard
//!   only), then invokes the function with the batch and waits for it.
//! - Scaling: 5 concurrent batches at first, +300 per minute (checked once a
//!   second, +5 each time) while the queue has messages to deliver, up to
//!   `maximum_concurrency` or the account limit; a second in which an
//!   invocation failed halves the concurrency instead (never below the
//!   start), unless the function reports batch item failures.
//! - Throttles: more running invocations than the reserved concurrency (or
//!   the account limit) refuse the invocation; the mapping retries it every
//!   `throttle_retry` until its first record's visibility timeout would pass,
//!   then gives the batch up unrun. Its records were received, so they count
//!   toward maxReceiveCount and can reach the DLQ without ever running.
//! - An invocation runs its records one after the other with the handler
//!   (the idempotency check, the steps, the effect: `attempt.rs`, as workers
//!   do), under the function timeout. An exception (a failed record) or a
//!   timeout fails the whole batch: every record returns after its VT, those
//!   whose effects committed too. With `report_batch_item_failures` a failed
//!   record is reported and the rest go on (Standard); on FIFO processing
//!   stops at the first failure, which returns with every later record.
//! - On success the mapping deletes the batch's successful records with
//!   DeleteMessageBatch, one request per 10 records.
//!
//! The mapping's calls are made inside AWS: no network loss or latency, and
//! FIFO API quotas are not applied to them.

use crate::broker::{Batch, Delivery, Fate, Handle};
use crate::consumer::attempt::{self, Attempt, Checked};
use crate::duration::{Nanos, NS_PER_S};
use crate::idempotency::Check;
use crate::rng::{stream, Stream};
use crate::scenario::Function;
use crate::sim::{Event, World};
use crate::trace::Kind;
use std::collections::VecDeque;

/// How long one receive of the mapping waits for messages (long polling).
const LONG_POLL_NS: Nanos = 20 * NS_PER_S;

/// How often the mapping revises its concurrency.
const SCALE_TICK_NS: Nanos = NS_PER_S;

/// The largest payload of one invocation.
const MAX_PAYLOAD_BYTES: u64 = 6 * 1024 * 1024;

/// The timers of a mapping, carried by `Event::Lambda`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaTimer {
    /// The mapping is enabled (`start_at`).
    Start,
    /// A long poll's wait, or the batching window, ran out.
    PollEnd,
    /// The idempotency store answered the current record's check.
    StoreDone,
    /// The current record's handler step completed.
    StepDone,
    /// The function timeout of invocation `gen` (its number's low bits).
    Timeout,
    /// Retry a throttled invocation.
    InvokeRetry,
    /// Revise the mapping's concurrency.
    Scale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not among the mapping's current concurrency.
    Off,
    /// A receive call is under way (parked in a long poll).
    Polling,
    /// The invocation was throttled; it is retried later.
    Throttled,
    /// Waiting for the idempotency store on the current record.
    Checking,
    /// Running a handler step of the current record.
    Working,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Succeeded,
    Failed,
}

/// One concurrent batch of the mapping: its receives, then its invocation.
struct Poller {
    /// Names the poller's pending wait, store answer or step; stale timers do nothing.
    gen: u32,
    phase: Phase,
    /// The records gathered, then invoked.
    batch: Vec<Delivery>,
    outcome: Vec<Outcome>,
    /// Number of the batch (one per invocation attempt), for the trace.
    number: u64,
    /// Receive time of the batch's first records (their VT ends first).
    first_receive_ns: Nanos,
    /// The batching window closes here.
    gather_until_ns: Nanos,
    /// The current receive call has returned no message yet.
    call_empty: bool,
    invoke_ns: Nanos,
    /// The record being processed, its step and the step's failure.
    record: usize,
    step: u32,
    step_failed: Option<attempt::StepFailure>,
    record_ns: Nanos,
    check: Check,
    claimed: bool,
}

/// What an invocation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Returned: every record not reported as failed is deleted.
    Returned,
    /// An exception: the whole batch returns.
    Error,
    /// The function timeout: the whole batch returns.
    Timeout,
}

/// Counters of one function, reported under the summary's `lambda`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub invocations: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Invocation attempts refused for lack of concurrency.
    pub throttles: u64,
    /// Batches given up after throttles, returned to the queue unrun.
    pub throttled_batches: u64,
    /// Records handed to invocations.
    pub records: u64,
    /// Records reported as failed by partial batch responses (or left
    /// unprocessed behind a FIFO failure).
    pub records_reported_failed: u64,
    pub delete_batch_requests: u64,
    pub concurrency_max: u32,
    /// Most invocations running at once, per time-series bucket.
    pub concurrency: Vec<u32>,
    /// Billed duration x memory, in MB-milliseconds (durations rounded up to 1 ms).
    pub mb_ms: u64,
}

/// A function and its event source mapping.
pub struct Esm {
    pub cfg: Function,
    /// Index into `World::handlers`.
    handler: usize,
    pollers: Vec<Poller>,
    /// Pollers parked in a long poll (poller, gen), first come first served.
    waiting: VecDeque<(u32, u32)>,
    /// Concurrent batches the mapping aims for, in thousandths.
    target_milli: u64,
    /// Fewest and most concurrent batches.
    floor: u32,
    cap: u32,
    /// Invocations refused beyond this many running.
    limit: u32,
    /// Records per invocation at most (batch size, 6 MB payload).
    batch_max: usize,
    active: u32,
    ticking: bool,
    failed_since_tick: bool,
    next_number: u64,
    bucket_ns: Nanos,
    rng: Stream,
    pub stats: Stats,
}

impl Esm {
    pub fn new(cfg: Function, handler: usize, seed: u64, payload_bytes: u64, bucket_ns: Nanos) -> Esm {
        let cap = cfg.maximum_concurrency.unwrap_or(cfg.account_limit).min(cfg.account_limit);
        let floor = cfg.initial_concurrency.min(cap);
        let by_payload = (MAX_PAYLOAD_BYTES / payload_bytes.max(1)).max(1);
        Esm {
            rng: stream(seed, &format!("function:{}", cfg.name)),
            handler,
            pollers: Vec::new(),
            waiting: VecDeque::new(),
            target_milli: u64::from(floor) * 1000,
            floor,
            cap,
            limit: cfg.reserved_concurrency.unwrap_or(cfg.account_limit),
            batch_max: (cfg.batch_size as u64).min(by_payload) as usize,
            active: 0,
            ticking: false,
            failed_since_tick: false,
            next_number: 1,
            bucket_ns,
            stats: Stats::default(),
            cfg,
        }
    }

    /// Concurrent batches now.
    fn target(&self) -> u32 {
        (self.target_milli / 1000) as u32
    }

    /// Record the number of running invocations in the concurrency series
    /// (call before and after each change).
    fn note_active(&mut self, now: Nanos) {
        let b = (now / self.bucket_ns) as usize;
        while self.stats.concurrency.len() <= b {
            self.stats.concurrency.push(self.active);
        }
        let c = &mut self.stats.concurrency[b];
        *c = (*c).max(self.active);
        self.stats.concurrency_max = self.stats.concurrency_max.max(self.active);
    }

    /// Pollers holding a batch (received, not yet deleted or returned):
    /// each counts as one busy slot in `World::busy_slots` (`--paranoid`).
    pub fn busy_batches(&self) -> usize {
        self.pollers.iter().filter(|p| !p.batch.is_empty()).count()
    }

    /// The concurrency series up to the bucket of `now` (the last level carried on).
    pub fn concurrency_until(&self, now: Nanos) -> Vec<u32> {
        let mut out = self.stats.concurrency.clone();
        let b = (now / self.bucket_ns) as usize;
        while out.len() <= b {
            out.push(self.active);
        }
        out
    }
}

/// The trace name of batch `number` of function `name` (empty when not tracing).
fn invocation_name(tracing: bool, name: &str, number: u64) -> String {
    if tracing {
        format!("{name}#{number}")
    } else {
        String::new()
    }
}

impl World {
    pub(crate) fn on_lambda(&mut self, f: u16, p: u32, gen: u32, t: LambdaTimer) {
        let fi = f as usize;
        match t {
            LambdaTimer::Start => {
                self.start_pollers(fi);
                self.ensure_tick(fi);
            }
            LambdaTimer::Scale => self.on_scale(fi),
            LambdaTimer::Timeout => {
                let poller = &self.functions[fi].pollers[p as usize];
                if matches!(poller.phase, Phase::Checking | Phase::Working) && poller.number as u32 == gen {
                    self.on_function_timeout(fi, p as usize);
                }
            }
            _ => {
                if self.functions[fi].pollers[p as usize].gen != gen {
                    return;
                }
                match t {
                    LambdaTimer::PollEnd => self.on_poll_end(fi, p as usize),
                    LambdaTimer::StoreDone => self.on_record_checked(fi, p as usize),
                    LambdaTimer::StepDone => self.on_record_step_done(fi, p as usize),
                    LambdaTimer::InvokeRetry => self.invoke(fi, p as usize),
                    _ => {}
                }
            }
        }
    }

    fn lambda_event(&mut self, f: usize, p: usize, t: LambdaTimer, after: Nanos) {
        let gen = self.functions[f].pollers[p].gen;
        self.ev.after(after, Event::Lambda { f: f as u16, p: p as u32, gen, t });
    }

    // ------------------------------------------------------------ scaling

    /// Start every poller below the target that is off.
    fn start_pollers(&mut self, f: usize) {
        let target = self.functions[f].target() as usize;
        for p in 0..target {
            let esm = &mut self.functions[f];
            if p == esm.pollers.len() {
                // Batches grow as records arrive (and keep their capacity):
                // reserving `batch_max` (up to 10,000) for each of up to
                // 100,000 pollers up front could take tens of GiB.
                esm.pollers.push(Poller {
                    gen: 0,
                    phase: Phase::Off,
                    batch: Vec::new(),
                    outcome: Vec::new(),
                    number: 0,
                    first_receive_ns: 0,
                    gather_until_ns: 0,
                    call_empty: true,
                    invoke_ns: 0,
                    record: 0,
                    step: 0,
                    step_failed: None,
                    record_ns: 0,
                    check: Check::Proceed { forgotten: false },
                    claimed: false,
                });
            }
            if self.functions[f].pollers[p].phase == Phase::Off {
                self.receive_call(f, p);
            }
        }
    }

    /// Keep the once-a-second scaling check going (aligned to the mapping's start).
    fn ensure_tick(&mut self, f: usize) {
        let now = self.ev.now();
        let esm = &mut self.functions[f];
        if esm.ticking {
            return;
        }
        esm.ticking = true;
        let since = now.saturating_sub(esm.cfg.start_at_ns);
        let next = esm.cfg.start_at_ns + (since / SCALE_TICK_NS + 1) * SCALE_TICK_NS;
        self.ev.at(next, Event::Lambda { f: f as u16, p: 0, gen: 0, t: LambdaTimer::Scale });
    }

    /// The scaling check: back off after a failed invocation, else grow
    /// while the queue has messages to deliver.
    fn on_scale(&mut self, f: usize) {
        let q = self.functions[f].cfg.queue;
        let backlog = self.brokers[q].can_deliver();
        let esm = &mut self.functions[f];
        esm.ticking = false;
        let cap_milli = u64::from(esm.cap) * 1000;
        if esm.failed_since_tick {
            esm.failed_since_tick = false;
            let half = (esm.target() / 2).max(esm.floor);
            esm.target_milli = u64::from(half) * 1000;
        } else if backlog && esm.target_milli < cap_milli {
            let step = u64::from(esm.cfg.scale_per_minute) * 1000 / 60;
            esm.target_milli = (esm.target_milli + step).min(cap_milli);
        }
        let again = backlog && esm.target_milli < cap_milli && esm.cfg.scale_per_minute > 0;
        self.start_pollers(f);
        if again {
            self.ensure_tick(f);
        }
    }

    // ------------------------------------------------------------ polling

    /// One ReceiveMessage call of poller `p`: take what is visible, or park
    /// for up to 20 s (or until the batching window closes).
    fn receive_call(&mut self, f: usize, p: usize) {
        let now = self.ev.now();
        let q = self.functions[f].cfg.queue;
        self.obs.m[q].api.receive += 1;
        self.obs.m[q].api.billed += 1;
        let esm = &mut self.functions[f];
        let poller = &mut esm.pollers[p];
        poller.phase = Phase::Polling;
        poller.gen = poller.gen.wrapping_add(1);
        poller.call_empty = true;
        if self.brokers[q].can_deliver() && self.take_records(f, p) {
            return;
        }
        let esm = &mut self.functions[f];
        let poller = &esm.pollers[p];
        let wait = if poller.batch.is_empty() {
            LONG_POLL_NS
        } else {
            LONG_POLL_NS.min(poller.gather_until_ns.saturating_sub(now))
        };
        esm.waiting.push_back((p as u32, poller.gen));
        self.lambda_event(f, p, LambdaTimer::PollEnd, wait);
    }

    /// The broker hands poller `p` what it has (up to 10, up to the batch's
    /// room); true if the call returned.
    fn take_records(&mut self, f: usize, p: usize) -> bool {
        let now = self.ev.now();
        let esm = &mut self.functions[f];
        let q = esm.cfg.queue;
        let poller = &mut esm.pollers[p];
        let room = (esm.batch_max - poller.batch.len()).min(10);
        let number = if poller.batch.is_empty() { esm.next_number } else { poller.number };
        let name = invocation_name(self.obs.tracing(), &esm.cfg.name, number);
        let mut got = Batch::default();
        self.brokers[q].receive(&mut self.ev, &mut self.obs, room, None, &name, false, &mut got);
        if got.len == 0 {
            return false;
        }
        self.bill_receive(q, got.len);
        let esm = &mut self.functions[f];
        let poller = &mut esm.pollers[p];
        if poller.batch.is_empty() {
            esm.next_number += 1;
            poller.number = number;
            poller.first_receive_ns = now;
            poller.gather_until_ns = now + esm.cfg.batching_window_ns;
            self.busy_slots += 1;
        }
        poller.batch.extend_from_slice(got.as_slice());
        poller.call_empty = false;
        poller.gen = poller.gen.wrapping_add(1);
        let full = poller.batch.len() >= esm.batch_max;
        if self.brokers[q].can_deliver() {
            self.ensure_tick(f);
        }
        if full || now >= self.functions[f].pollers[p].gather_until_ns {
            self.invoke(f, p);
        } else {
            self.receive_call(f, p);
        }
        true
    }

    /// Hand newly visible messages to parked pollers, first come first served.
    pub(crate) fn serve_pollers(&mut self) {
        for f in 0..self.functions.len() {
            let q = self.functions[f].cfg.queue;
            while self.brokers[q].can_deliver() {
                let Some((p, gen)) = self.functions[f].waiting.pop_front() else { break };
                let poller = &self.functions[f].pollers[p as usize];
                if poller.gen != gen || poller.phase != Phase::Polling {
                    continue;
                }
                if p >= self.functions[f].target() && poller.batch.is_empty() {
                    // The mapping backed off below this poller: it stops.
                    let poller = &mut self.functions[f].pollers[p as usize];
                    poller.phase = Phase::Off;
                    poller.gen = poller.gen.wrapping_add(1);
                    continue;
                }
                if !self.take_records(f, p as usize) {
                    // Every visible message went to the DLQ or expired: keep waiting.
                    let esm = &mut self.functions[f];
                    esm.waiting.push_front((p, esm.pollers[p as usize].gen));
                    break;
                }
            }
        }
    }

    /// A long poll's wait or the batching window ran out.
    fn on_poll_end(&mut self, f: usize, p: usize) {
        let q = self.functions[f].cfg.queue;
        let poller = &self.functions[f].pollers[p];
        if poller.call_empty && poller.batch.is_empty() {
            self.obs.m[q].api.empty_receive += 1;
        }
        if poller.batch.is_empty() {
            self.next_batch(f, p);
        } else {
            self.invoke(f, p);
        }
    }

    /// The poller is done with its batch: poll again, or stop if the
    /// mapping's concurrency dropped below it.
    fn next_batch(&mut self, f: usize, p: usize) {
        let esm = &mut self.functions[f];
        if p as u32 >= esm.target() {
            let poller = &mut esm.pollers[p];
            poller.phase = Phase::Off;
            poller.gen = poller.gen.wrapping_add(1);
        } else {
            self.receive_call(f, p);
        }
    }

    // ------------------------------------------------------------ invocations

    /// Invoke the function with poller `p`'s batch, unless it is throttled.
    fn invoke(&mut self, f: usize, p: usize) {
        let now = self.ev.now();
        let esm = &mut self.functions[f];
        let q = esm.cfg.queue;
        let poller = &mut esm.pollers[p];
        poller.gen = poller.gen.wrapping_add(1);
        if esm.active >= esm.limit {
            esm.stats.throttles += 1;
            let vt = self.brokers[q].config().visibility_timeout_ns;
            let retry = esm.cfg.throttle_retry_ns;
            if now + retry < poller.first_receive_ns + vt {
                poller.phase = Phase::Throttled;
                return self.lambda_event(f, p, LambdaTimer::InvokeRetry, retry);
            }
            esm.stats.throttled_batches += 1;
            let name = invocation_name(self.obs.tracing(), &esm.cfg.name, poller.number);
            for d in poller.batch.drain(..) {
                self.brokers[q].set_fate(d.handle, Fate::Failed, now);
                let h = d.handle;
                self.obs.trace(q, now, Kind::Fail, Some(h.id), &name, Some(h.receive), "throttled: returned unrun");
            }
            self.busy_slots -= 1;
            // Poll again from the event loop (a retry interval longer than
            // the VT must not recurse through the whole backlog).
            poller.phase = Phase::Polling;
            poller.call_empty = false;
            return self.lambda_event(f, p, LambdaTimer::PollEnd, 0);
        }
        poller.invoke_ns = now;
        let records = poller.batch.len() as u64;
        esm.note_active(now);
        esm.active += 1;
        esm.note_active(now);
        esm.stats.invocations += 1;
        esm.stats.records += records;
        let poller = &mut esm.pollers[p];
        poller.outcome.clear();
        poller.outcome.resize(poller.batch.len(), Outcome::Pending);
        let timeout = esm.cfg.timeout_ns;
        let gen = poller.number as u32;
        self.ev.after(timeout, Event::Lambda { f: f as u16, p: p as u32, gen, t: LambdaTimer::Timeout });
        self.start_record(f, p, 0);
    }

    /// Record `i` of the batch starts (or the invocation returns after the last).
    fn start_record(&mut self, f: usize, p: usize, i: usize) {
        let now = self.ev.now();
        let esm = &mut self.functions[f];
        let q = esm.cfg.queue;
        let poller = &mut esm.pollers[p];
        if i == poller.batch.len() {
            return self.end_invocation(f, p, End::Returned);
        }
        poller.record = i;
        poller.record_ns = now;
        poller.check = Check::Proceed { forgotten: false };
        poller.claimed = false;
        poller.gen = poller.gen.wrapping_add(1);
        let key = poller.batch[i].key;
        match attempt::start_check(&mut self.stores[q], now, key, &mut esm.rng) {
            Some((check, latency, claimed)) => {
                poller.phase = Phase::Checking;
                poller.check = check;
                poller.claimed = claimed;
                self.lambda_event(f, p, LambdaTimer::StoreDone, latency);
            }
            None => self.record_step(f, p, 0),
        }
    }

    fn on_record_checked(&mut self, f: usize, p: usize) {
        let q = self.functions[f].cfg.queue;
        let check = self.functions[f].pollers[p].check;
        match attempt::checked(&mut self.obs.m[q], check) {
            Checked::Done => self.record_succeeded(f, p),
            Checked::InProgress => self.record_failed(f, p, attempt::CLAIM_HELD),
            Checked::Proceed => self.record_step(f, p, 0),
        }
    }

    fn record_step(&mut self, f: usize, p: usize, i: u32) {
        let now = self.ev.now();
        let esm = &mut self.functions[f];
        let (duration, failed) =
            attempt::run_step(&mut self.handlers[esm.handler], i as usize, &mut self.deps, &mut esm.rng, now);
        let poller = &mut esm.pollers[p];
        poller.phase = Phase::Working;
        poller.step = i;
        poller.step_failed = failed;
        poller.gen = poller.gen.wrapping_add(1);
        self.lambda_event(f, p, LambdaTimer::StepDone, duration);
    }

    fn on_record_step_done(&mut self, f: usize, p: usize) {
        let now = self.ev.now();
        let esm = &mut self.functions[f];
        let poller = &esm.pollers[p];
        if let Some(failure) = poller.step_failed {
            return self.record_failed(f, p, failure.reason());
        }
        let i = poller.step as usize;
        let d = poller.batch[poller.record];
        let handler = &self.handlers[esm.handler];
        let last = i + 1 == handler.steps.len();
        if last {
            if let Some(reason) = attempt::fails_at_end(handler, self.seed, d.key, &mut esm.rng) {
                return self.record_failed(f, p, reason);
            }
        }
        if i == handler.effect_step {
            let a = Attempt {
                handle: d.handle,
                key: d.key,
                first_send_ns: d.first_send_ns,
                group: d.group,
                seq: d.seq,
                check: poller.check,
            };
            let q = esm.cfg.queue;
            let name = invocation_name(self.obs.tracing(), &esm.cfg.name, poller.number);
            attempt::commit_effect(&mut self.stores[q], &mut self.obs, now, q, a, &name);
        }
        if last {
            self.record_succeeded(f, p);
        } else {
            self.record_step(f, p, i as u32 + 1);
        }
    }

    /// How long the current record took, into the queue's processing times.
    fn record_time(&mut self, f: usize, p: usize) {
        let esm = &self.functions[f];
        let took = self.ev.now().saturating_sub(esm.pollers[p].record_ns).max(1);
        self.obs.m[esm.cfg.queue].processing.saturating_record(took);
    }

    fn record_succeeded(&mut self, f: usize, p: usize) {
        self.record_time(f, p);
        let poller = &mut self.functions[f].pollers[p];
        let i = poller.record;
        poller.outcome[i] = Outcome::Succeeded;
        self.start_record(f, p, i + 1);
    }

    /// The current record failed: without partial batch responses the
    /// exception fails the invocation; with them the record is reported and
    /// the next one runs (Standard), or the rest are reported too (FIFO).
    fn record_failed(&mut self, f: usize, p: usize, reason: &'static str) {
        let now = self.ev.now();
        self.record_time(f, p);
        let esm = &mut self.functions[f];
        let q = esm.cfg.queue;
        let poller = &mut esm.pollers[p];
        let i = poller.record;
        let h = poller.batch[i].handle;
        self.obs.m[q].failures += 1;
        if poller.claimed {
            self.stores[q].release_claim(poller.batch[i].key);
        }
        poller.outcome[i] = Outcome::Failed;
        let name = invocation_name(self.obs.tracing(), &esm.cfg.name, poller.number);
        self.obs.trace(q, now, Kind::Fail, Some(h.id), &name, Some(h.receive), reason);
        if !esm.cfg.report_batch_item_failures {
            return self.end_invocation(f, p, End::Error);
        }
        if self.brokers[q].ordered() {
            // The records after it stay pending: returned unprocessed.
            return self.end_invocation(f, p, End::Returned);
        }
        self.start_record(f, p, i + 1);
    }

    fn on_function_timeout(&mut self, f: usize, p: usize) {
        let now = self.ev.now();
        self.record_time(f, p);
        let esm = &mut self.functions[f];
        let q = esm.cfg.queue;
        let poller = &esm.pollers[p];
        let h = poller.batch[poller.record].handle;
        // The sandbox stops mid-record: a claim it holds stays until its TTL, as after a crash.
        let name = invocation_name(self.obs.tracing(), &esm.cfg.name, poller.number);
        self.obs.trace(q, now, Kind::Fail, Some(h.id), &name, Some(h.receive), "function timeout");
        self.obs.m[q].failures += 1;
        let i = poller.record;
        self.functions[f].pollers[p].outcome[i] = Outcome::Failed;
        self.end_invocation(f, p, End::Timeout);
    }

    /// The invocation is over: bill it, delete what succeeded (or nothing
    /// after an error or a timeout), and let the poller go on.
    fn end_invocation(&mut self, f: usize, p: usize, end: End) {
        let now = self.ev.now();
        let tracing = self.obs.tracing();
        let esm = &mut self.functions[f];
        let q = esm.cfg.queue;
        esm.note_active(now);
        esm.active -= 1;
        esm.note_active(now);
        let poller = &mut esm.pollers[p];
        poller.gen = poller.gen.wrapping_add(1);
        let billed_ms = now.saturating_sub(poller.invoke_ns).div_ceil(1_000_000).max(1);
        esm.stats.mb_ms += billed_ms * u64::from(esm.cfg.memory_mb);
        let name = invocation_name(tracing, &esm.cfg.name, poller.number);
        let whole_batch = end != End::Returned;
        match end {
            End::Returned => {}
            End::Error => esm.stats.errors += 1,
            End::Timeout => esm.stats.timeouts += 1,
        }
        if whole_batch {
            esm.failed_since_tick = true;
        }
        let mut deleted = 0u64;
        for (d, o) in poller.batch.iter().zip(poller.outcome.iter()) {
            let h: Handle = d.handle;
            if !whole_batch && *o == Outcome::Succeeded {
                self.brokers[q].set_fate(h, Fate::Succeeded, now);
                self.brokers[q].delete(&mut self.ev, &mut self.obs, h, &name);
                deleted += 1;
                continue;
            }
            // Returned: the record shows again when its visibility timeout ends.
            self.brokers[q].set_fate(h, Fate::Failed, now);
            if !whole_batch {
                esm.stats.records_reported_failed += 1;
            }
            let detail = match (whole_batch, *o) {
                (_, Outcome::Failed) => continue, // traced when it failed
                (true, Outcome::Succeeded) => "batch failed: returned although it succeeded",
                (true, Outcome::Pending) => "batch failed: not processed",
                (false, _) => "not processed: an earlier record failed (FIFO)",
            };
            self.obs.trace(q, now, Kind::Fail, Some(h.id), &name, Some(h.receive), detail);
        }
        let requests = deleted.div_ceil(10);
        esm.stats.delete_batch_requests += requests;
        self.obs.m[q].api.delete += requests;
        self.obs.m[q].api.billed += requests;
        poller.batch.clear();
        self.busy_slots -= 1;
        if whole_batch {
            self.ensure_tick(f);
        }
        self.next_batch(f, p);
    }
}
