//! The simulated world and its event loop.
//!
//! [`World`] owns every component: the producer (`producer.rs`), the
//! topology's queues (`broker/`, one [`Broker`] each) and topics
//! (`broker/sns.rs`), the workers (`worker.rs`), dependencies, the network,
//! the idempotency stores (one per queue) and the metrics. The loop pops the earliest
//! [`Event`] and dispatches it on a closed enum; no callbacks, no I/O other
//! than the optional trace writer, no clock reads.

use crate::broker::sns::SnsTopic;
use crate::broker::{Batch, Broker, Handle, Timer};
use crate::consumer::lambda::{Esm, LambdaTimer};
use crate::dependency::DependencyState;
use crate::duration::Nanos;
use crate::engine::{Events, Pop};
use crate::error::Error;
use crate::idempotency::Store;
use crate::metrics::{Metrics, Obs};
use crate::network::Net;
use crate::producer::Producer;
use crate::rng::stream;
use crate::scenario::{Attribute, Handler, Scenario};
use crate::summary::Summary;
use crate::trace::Trace;
use crate::worker::{Waiter, Worker};
use std::collections::VecDeque;

/// Everything that can happen. Small and `Copy`: it lives in the heap.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// The producer's next arrival.
    Produce,
    /// A send request reaches the broker.
    SendAtBroker {
        p: u32,
    },
    /// The producer learns its send was lost (request or response).
    SendLost {
        p: u32,
    },
    /// The producer gets the send response.
    SendAck {
        p: u32,
    },
    /// A timer of queue `q`'s broker (delay, lease, retention, redrive).
    Broker {
        q: u16,
        t: Timer,
    },
    /// An SNS delivery (slab entry `p` of topic `t`) is attempted.
    SnsDeliver {
        t: u16,
        p: u32,
    },
    WorkerStart {
        w: u32,
    },
    /// A worker starts a receive call (after a backoff or a failed call).
    Poll {
        w: u32,
        gen: u32,
    },
    ReceiveAtBroker {
        w: u32,
        gen: u32,
    },
    /// A long poll's wait ran out.
    PollExpire {
        w: u32,
        gen: u32,
    },
    /// The receive response (batch in the worker's inbox) arrives.
    ReceiveDone {
        w: u32,
        gen: u32,
    },
    /// The idempotency check of a slot's attempt is answered.
    StoreDone {
        w: u32,
        slot: u32,
        gen: u32,
    },
    StepDone {
        w: u32,
        slot: u32,
        gen: u32,
        /// The slot's queue and where it keeps the message (`Handle::at`),
        /// only to start loading the message into the cache while the
        /// worker's slot loads (`prefetch.rs`).
        q: u16,
        at: u32,
    },
    Heartbeat {
        w: u32,
        slot: u32,
        gen: u32,
    },
    DeleteAtBroker {
        w: u32,
        h: Handle,
    },
    /// A heartbeat (`heartbeat`) or a failed attempt's release reaches the broker.
    ChangeVisibilityAtBroker {
        w: u32,
        h: Handle,
        heartbeat: bool,
    },
    /// A Pub/Sub client with exactly-once delivery resends an ack whose
    /// request or response was lost.
    AckRetry {
        w: u32,
        h: Handle,
    },
    /// A slot's last call has completed: it takes new work.
    SlotFree {
        w: u32,
        slot: u32,
        gen: u32,
    },
    Crash {
        w: u32,
        life: u32,
    },
    ScriptedCrash {
        w: u32,
    },
    Restart {
        w: u32,
    },
    /// A timer of Lambda function `f`'s event source mapping (poller `p`; `consumer/lambda.rs`).
    Lambda {
        f: u16,
        p: u32,
        gen: u32,
        t: LambdaTimer,
    },
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every message reached a final state and no work is left.
    Drained,
    /// `run.max_sim_time` was reached.
    TimeLimit,
}

/// Options of one run that are not part of the scenario.
#[derive(Default)]
pub struct RunOptions {
    pub trace: Option<Trace>,
    /// A progress line to feed (`progress.rs`); never changes a result.
    pub progress: Option<std::sync::Arc<crate::progress::Progress>>,
    /// Check the invariants after every event (`paranoid.rs`; slow).
    pub paranoid: bool,
    /// Give cache hints always (`Some(true)`), never (`Some(false)`), or once
    /// the model holds more than 8 MiB or its workers and slots more than
    /// 1 MiB (`None`, the default). Hints never change a result; tests force
    /// them to check that.
    pub cache_hints: Option<bool>,
    /// Shrink a queue's message slab once it holds more than four times its
    /// messages plus this many slots (default `broker::store::SHRINK_ABOVE`).
    /// Never changes a result; tests lower it to shrink often.
    pub shrink_stores_above: Option<usize>,
}

pub struct World {
    pub(crate) ev: Events<Event>,
    pub(crate) obs: Obs,
    /// One per queue of the topology, indexed like `Scenario::queues`.
    pub(crate) brokers: Vec<Broker>,
    pub(crate) topics: Vec<SnsTopic>,
    /// The producer's message attributes (SNS filter policies).
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) net: Net,
    pub(crate) producer: Producer,
    pub(crate) workers: Vec<Worker>,
    pub(crate) groups: Vec<crate::scenario::WorkerGroup>,
    /// Lambda functions and their event source mappings (`[[functions]]`).
    pub(crate) functions: Vec<Esm>,
    /// Processing times observed per worker group (adaptive heartbeats).
    pub(crate) observed: Vec<crate::worker::Observed>,
    /// Ack latencies observed per worker group (Pub/Sub lease management).
    pub(crate) leases: Vec<crate::lease::AckHistogram>,
    /// The scenario's handler, then each group's own; `group_handler` maps.
    pub(crate) handlers: Vec<Handler>,
    pub(crate) group_handler: Vec<usize>,
    pub(crate) deps: Vec<DependencyState>,
    /// The consumer's idempotency store, one per queue (consumers are independent).
    pub(crate) stores: Vec<Store>,
    /// Parked long polls, per queue.
    pub(crate) waiters: Vec<VecDeque<Waiter>>,
    /// The messages of the receive being answered (one at a time: the
    /// broker fills it, the worker takes them into its slots at once).
    pub(crate) inbox: Batch,
    /// Receive responses travelling to their workers.
    pub(crate) inboxes: crate::worker::Inboxes,
    pub(crate) busy_slots: u64,
    pub(crate) redrives_left: usize,
    pub(crate) seed: u64,
    events: u64,
    /// The largest [`World::footprint`] and live-message count sampled (`perf`).
    pub(crate) peak_footprint: u64,
    pub(crate) peak_live: u64,
    /// [`World::footprint`] when the run ended.
    pub(crate) final_footprint: u64,
    /// Whether the model is large enough for cache hints to pay
    /// ([`HINTS_ABOVE_BYTES`], [`HINTS_ABOVE_WORKER_BYTES`]); set from each
    /// footprint sample, unless `RunOptions::cache_hints` forces it
    /// (`hints_forced`).
    pub(crate) hints: bool,
    hints_forced: Option<bool>,
    /// The workers and their slots hold more than
    /// [`HINTS_ABOVE_WORKER_BYTES`] (they never grow).
    many_workers: bool,
    /// Sweep the event queue of stale timers once it is this long.
    sweep_at: usize,
    progress: Option<std::sync::Arc<crate::progress::Progress>>,
    paranoid: Option<Box<crate::paranoid::Paranoid>>,
}

impl World {
    pub fn new(s: &Scenario, opts: RunOptions) -> World {
        let mut w = World::build(s, opts.trace);
        w.progress = opts.progress;
        w.paranoid = opts.paranoid.then(Box::default);
        w.hints_forced = opts.cache_hints;
        if let Some(slots) = opts.shrink_stores_above {
            for b in &mut w.brokers {
                b.set_shrink_above(slots);
            }
        }
        w
    }

    fn build(s: &Scenario, mut trace: Option<Trace>) -> World {
        let seed = s.seed;
        let workers = Worker::build_all(s, seed);
        if let Some(t) = trace.as_mut() {
            t.with_queue_column(s.topology);
        }
        let metrics = s
            .queues
            .iter()
            .map(|q| {
                let mut m = Metrics::new(s.run.bucket_ns);
                if q.kind == crate::scenario::QueueKind::SqsFifo {
                    m.track_order(q.fifo.groups);
                }
                if q.kind == crate::scenario::QueueKind::Pubsub && q.pubsub.ordering {
                    m.track_order(q.fifo.groups);
                    m.ordering_replays = Some(0);
                }
                m
            })
            .collect();
        let queue_names = if s.topology { s.queues.iter().map(|q| q.name.clone()).collect() } else { Vec::new() };
        let mut handlers = vec![s.handler.clone()];
        let mut group_handler = Vec::with_capacity(s.workers.len());
        for g in &s.workers {
            match &g.handler {
                Some(h) => {
                    handlers.push(h.clone());
                    group_handler.push(handlers.len() - 1);
                }
                None => group_handler.push(0),
            }
        }
        let mut functions = Vec::with_capacity(s.functions.len());
        for f in &s.functions {
            let h = match &f.handler {
                Some(h) => {
                    handlers.push(h.clone());
                    handlers.len() - 1
                }
                None => 0,
            };
            functions.push(Esm::new(f.clone(), h, seed, s.producer.payload_bytes, s.run.bucket_ns));
        }
        let mut w = World {
            ev: Events::default(),
            obs: Obs { m: metrics, trace, queue_names },
            brokers: s.queues.iter().enumerate().map(|(i, q)| Broker::new(q.clone(), i as u16, seed)).collect(),
            topics: s
                .topics
                .iter()
                .map(|t| SnsTopic::new(t.clone(), stream(seed, &format!("topic:{}", t.name))))
                .collect(),
            attributes: s.producer.attributes.clone(),
            net: Net::new(s.network.clone(), stream(seed, "network")),
            producer: Producer::new(s, stream(seed, "producer")),
            workers,
            groups: s.workers.clone(),
            functions,
            observed: s.workers.iter().map(|_| crate::worker::Observed::new()).collect(),
            leases: s.workers.iter().map(|_| crate::lease::AckHistogram::default()).collect(),
            handlers,
            group_handler,
            deps: s
                .dependencies
                .iter()
                .map(|d| DependencyState::new(d.clone(), stream(seed, &format!("dependency:{}", d.name))))
                .collect(),
            stores: s.queues.iter().map(|_| Store::new(s.idempotency.clone())).collect(),
            waiters: s.queues.iter().map(|_| VecDeque::new()).collect(),
            inbox: Batch::default(),
            inboxes: crate::worker::Inboxes::default(),
            busy_slots: 0,
            redrives_left: s.queues.iter().map(|q| q.redrive_at_ns.len()).sum(),
            seed,
            events: 0,
            peak_footprint: 0,
            peak_live: 0,
            final_footprint: 0,
            hints: false,
            hints_forced: None,
            many_workers: crate::limits::worker_bytes(&s.workers).2 > HINTS_ABOVE_WORKER_BYTES,
            sweep_at: STALE_SWEEP_MIN,
            progress: None,
            paranoid: None,
        };
        for q in &s.queues {
            w.ev.add_lane(q.visibility_timeout_ns);
        }
        for g in &s.workers {
            w.ev.add_lane(g.receive.wait_ns);
            if let crate::scenario::Heartbeat::Fixed { interval_ns, .. }
            | crate::scenario::Heartbeat::Adaptive { interval_ns, .. } = g.heartbeat
            {
                w.ev.add_lane(interval_ns);
            }
        }
        w.ev.at_solo(0, Event::Produce);
        for (i, worker) in w.workers.iter().enumerate() {
            // A worker starting at 0 is subscribed before the first publish.
            let at_start = s.workers[worker.group as usize].start_at_ns == 0;
            w.brokers[worker.queue as usize].add_subscriber(i as u32, &worker.name, at_start);
        }
        for (i, worker) in w.workers.iter().enumerate() {
            let g = &s.workers[worker.group as usize];
            w.ev.at(g.start_at_ns, Event::WorkerStart { w: i as u32 });
            for &t in &g.crash.at_ns {
                w.ev.at(t, Event::ScriptedCrash { w: i as u32 });
            }
        }
        for (f, function) in s.functions.iter().enumerate() {
            w.ev.at(function.start_at_ns, Event::Lambda { f: f as u16, p: 0, gen: 0, t: LambdaTimer::Start });
        }
        for (q, queue) in s.queues.iter().enumerate() {
            for &t in &queue.redrive_at_ns {
                w.ev.at(t, Event::Broker { q: q as u16, t: Timer::Redrive });
            }
        }
        w
    }

    /// If a step is about to end, start loading its slot and its message
    /// while this event runs: with thousands of workers or hundreds of
    /// thousands of messages both are out of cache by then (issue 17). A
    /// hint only (`prefetch.rs`): it changes no result.
    #[inline(always)]
    fn prefetch_coming(&self) {
        if !self.hints {
            return;
        }
        if let Some(&Event::StepDone { w, slot, q, at, .. }) = self.ev.peek_heap() {
            // The worker's hot lines hold its flags and its first slot; a
            // slot elsewhere spans two more lines.
            let worker = &self.workers[w as usize];
            worker.prefetch();
            if slot != 0 {
                let slot: *const crate::worker::Slot = &worker.slots[slot as usize];
                crate::prefetch::prefetch(slot);
                crate::prefetch::prefetch(
                    slot.cast::<u8>().wrapping_add(std::mem::size_of::<crate::worker::Slot>() - 1),
                );
            }
            self.brokers[q as usize].prefetch(at);
        }
    }

    /// Run to the end and summarise. `limits` come from the scenario.
    pub fn run(mut self, s: &Scenario) -> Result<(Summary, Option<Trace>), Error> {
        let started = std::time::Instant::now();
        self.set_hints(self.footprint());
        let mut watch = crate::limits::Watch::new(s, self.progress.take());
        let stop = loop {
            if self.finished() {
                break StopReason::Drained;
            }
            let event = match self.ev.pop_until(s.run.max_sim_time_ns) {
                Pop::Event(e) => e,
                Pop::Empty => break StopReason::Drained,
                Pop::Beyond => {
                    self.ev.advance_to(s.run.max_sim_time_ns);
                    break StopReason::TimeLimit;
                }
            };
            self.events += 1;
            self.prefetch_coming();
            self.dispatch(event);
            self.serve_waiters();
            if !self.functions.is_empty() {
                self.serve_pollers();
            }
            if let Some(mut p) = self.paranoid.take() {
                let checked = p.check(&self, &event);
                self.paranoid = Some(p);
                checked.map_err(|m| Error::Bug(format!("--paranoid: {m}")))?;
            }
            if self.events >= s.run.max_events {
                return Err(self.limit(format!(
                    "run.max_events = {} reached at t = {}s; raise it with --set run.max_events=N",
                    s.run.max_events,
                    crate::duration::format_seconds(self.ev.now())
                )));
            }
            // The live count grows by at most one message per event: checking
            // every 256 events bounds a runaway just as well, for less work.
            if self.events & 0xff == 0 && self.ev.len() > self.sweep_at {
                self.drop_stale_timers();
            }
            if self.events & 0xff == 0 && self.live() > s.run.max_live_messages {
                return Err(self.limit(format!(
                    "run.max_live_messages = {} exceeded at t = {}s (the queue is growing without bound: add workers or lower the rate)",
                    s.run.max_live_messages,
                    crate::duration::format_seconds(self.ev.now())
                )));
            }
            if self.events.is_multiple_of(crate::limits::CHECK_EVERY) {
                self.give_back_memory();
                let used = self.sample_footprint();
                if let Some(m) = watch.check(&self, s, used) {
                    watch.finish(&self);
                    return Err(self.limit(m));
                }
            }
        };
        watch.finish(&self);
        self.final_footprint = self.sample_footprint();
        if cfg!(debug_assertions) {
            for b in &self.brokers {
                b.check_invariants();
            }
        }
        let wall = started.elapsed();
        let summary = Summary::build(s, &self, stop, wall)?;
        Ok((summary, self.obs.trace.take()))
    }

    fn limit(&mut self, message: String) -> Error {
        if let Some(t) = self.obs.trace.take() {
            let _ = t.finish();
        }
        Error::Limit(message)
    }

    /// Give cache hints from now on if the model holds `footprint` bytes,
    /// more than [`HINTS_ABOVE_BYTES`], or its workers more than
    /// [`HINTS_ABOVE_WORKER_BYTES`], unless `RunOptions::cache_hints` decided.
    fn set_hints(&mut self, footprint: u64) {
        self.hints = self.hints_forced.unwrap_or(footprint > HINTS_ABOVE_BYTES || self.many_workers);
    }

    /// After a burst, give back what the event lanes, the queues and the
    /// topics' deduplication windows held for it (before the footprint is
    /// measured). Changes no result.
    #[cold]
    #[inline(never)]
    fn give_back_memory(&mut self) {
        self.ev.shrink();
        let now = self.ev.now();
        for b in &mut self.brokers {
            b.shrink(now);
        }
        for t in &mut self.topics {
            t.shrink(now);
        }
    }

    /// Measure the footprint and live messages now, keep the peaks; the footprint.
    fn sample_footprint(&mut self) -> u64 {
        let used = self.footprint();
        self.set_hints(used);
        self.peak_footprint = self.peak_footprint.max(used);
        self.peak_live = self.peak_live.max(self.live());
        used
    }

    /// Drop the pending timers that can no longer do anything (a deleted
    /// message's lease on SQS, JetStream or Pub/Sub, an extended lease's old deadline, a served long
    /// poll's expiry, a finished attempt's step or heartbeat): they would
    /// otherwise stay queued until they fire, a visibility timeout of 12 h
    /// later. Called when the queue has doubled since the last sweep, so the
    /// cost is amortised over the events scheduled meanwhile. Dropped timers
    /// were no-ops: results do not change, only the `events` count.
    fn drop_stale_timers(&mut self) {
        let (brokers, workers) = (&self.brokers, &self.workers);
        self.ev.retain(|e| still_due(brokers, workers, e));
        self.sweep_at = (2 * self.ev.len()).max(STALE_SWEEP_MIN);
    }

    /// Messages held by every queue.
    pub(crate) fn live(&self) -> u64 {
        self.brokers.iter().map(Broker::live).sum()
    }

    /// Nothing more can happen to any message.
    fn finished(&self) -> bool {
        self.producer.done()
            && self.producer.pending() == 0
            && self.busy_slots == 0
            && self.redrives_left == 0
            && self.brokers.iter().all(|b| b.live() == 0)
            && self.topics.iter().all(|t| t.in_progress() == 0)
    }

    pub(crate) fn now(&self) -> Nanos {
        self.ev.now()
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Produce => self.on_produce(),
            Event::SendAtBroker { p } => self.on_send_at_broker(p),
            Event::SendLost { p } => self.on_send_lost(p),
            Event::SendAck { p } => self.producer.release(p),
            Event::Broker { q, t } => {
                if matches!(t, Timer::Redrive) {
                    self.redrives_left -= 1;
                }
                self.brokers[q as usize].on_timer(&mut self.ev, &mut self.obs, t);
            }
            Event::SnsDeliver { t, p } => self.on_sns_deliver(t, p),
            Event::WorkerStart { w } => self.on_worker_start(w),
            Event::Poll { w, gen } => self.on_poll_timer(w, gen),
            Event::ReceiveAtBroker { w, gen } => self.on_receive_at_broker(w, gen),
            Event::PollExpire { w, gen } => self.on_poll_expire(w, gen),
            Event::ReceiveDone { w, gen } => self.on_receive_done(w, gen),
            Event::StoreDone { w, slot, gen } => self.on_store_done(w, slot, gen),
            Event::StepDone { w, slot, gen, q, at } => {
                if self.hints {
                    self.brokers[q as usize].prefetch(at);
                }
                self.on_step_done(w, slot, gen)
            }
            Event::Heartbeat { w, slot, gen } => self.on_heartbeat(w, slot, gen),
            Event::DeleteAtBroker { w, h } => self.delete_at_broker(w, h),
            Event::ChangeVisibilityAtBroker { w, h, heartbeat } => self.change_visibility_at_broker(w, h, heartbeat),
            Event::SlotFree { w, slot, gen } => self.on_slot_free(w, slot, gen),
            Event::AckRetry { w, h } => self.on_ack_retry(w, h),
            Event::Crash { w, life } => self.on_crash(w, Some(life)),
            Event::ScriptedCrash { w } => self.on_crash(w, None),
            Event::Restart { w } => self.on_restart(w),
            Event::Lambda { f, p, gen, t } => self.on_lambda(f, p, gen, t),
        }
    }
}

/// Cache hints are given once the model holds more than this many bytes.
/// Below it, the workers, slots and messages an event touches are mostly in
/// cache already, and the hints only cost instructions (b1 measured 1.03x
/// slower with them).
const HINTS_ABOVE_BYTES: u64 = 8 << 20;

/// Cache hints are also given when the workers and their slots alone hold
/// more than this (4,096 workers of one slot), whatever the rest: a step's
/// end then finds its worker out of a 2 MiB L2 cache, and the hint pays
/// for itself. With 10,000 workers the model holds 5 MB, under
/// [`HINTS_ABOVE_BYTES`], and ran 1.11x to 1.15x slower without hints than
/// with them; with 2,000 workers (0.5 MB) hints cost 1.03x (issue 17,
/// session 8, in `reports/bench.md`). A model with few workers and many
/// messages (b2, 6.9 MB at its peak) measured 1.04x slower with hints from
/// 2 MiB of footprint, so the total's threshold stays.
const HINTS_ABOVE_WORKER_BYTES: u64 = 1 << 20;

/// The event queue is swept of stale timers when it is at least this long.
const STALE_SWEEP_MIN: usize = 4096;

/// Whether event `e` may still act when it fires. False only where the
/// handler is known to do nothing for good: generations (`poll_gen`, a
/// slot's `gen`, a worker's `life`, a message's lease) only ever grow.
fn still_due(brokers: &[Broker], workers: &[Worker], e: &Event) -> bool {
    let slot_gen = |w: u32, s: u32| workers[w as usize].slots[s as usize].gen;
    match *e {
        Event::Broker { q, t } => brokers[q as usize].timer_due(t),
        Event::Poll { w, gen } => workers[w as usize].poll_gen == gen,
        Event::PollExpire { w, gen } => workers[w as usize].parked_on(gen),
        Event::StoreDone { w, slot, gen }
        | Event::StepDone { w, slot, gen, .. }
        | Event::Heartbeat { w, slot, gen }
        | Event::SlotFree { w, slot, gen } => slot_gen(w, slot) == gen,
        Event::Crash { w, life } => workers[w as usize].life == life,
        _ => true,
    }
}

/// Heap entries are (time, seq, event): keep events small.
const _: () = assert!(std::mem::size_of::<Event>() <= 24);

/// The events a FIFO lane holds in 12 bytes (`engine.rs`): the timers
/// scheduled after a queue's visibility timeout, a long poll's wait or a
/// heartbeat interval, and the other worker events of two or three words.
/// The kind is the top 4 bits of the first word; the rest go to the heap.
impl crate::engine::Pack for Event {
    #[inline]
    fn pack(&self) -> Option<[u32; 3]> {
        const TAG: u32 = 28;
        // A queue below 2^12 and a message id below 2^48 share the first
        // word with the kind.
        let msg = |kind: u32, q: u16, id: u64| {
            (q < 1 << 12 && id < 1 << 48).then_some((kind << TAG) | u32::from(q) << 16 | (id >> 32) as u32)
        };
        let slot = |kind: u32, slot: u32| (slot < 1 << TAG).then_some((kind << TAG) | slot);
        Some(match *self {
            Event::Broker { q, t: Timer::LeaseEnd { id, gen } } => [msg(1, q, id)?, id as u32, gen],
            Event::Broker { q, t: Timer::DelayEnd { id } } => [msg(2, q, id)?, id as u32, 0],
            Event::PollExpire { w, gen } => [3 << TAG, w, gen],
            Event::Poll { w, gen } => [4 << TAG, w, gen],
            Event::ReceiveAtBroker { w, gen } => [5 << TAG, w, gen],
            Event::ReceiveDone { w, gen } => [6 << TAG, w, gen],
            Event::Heartbeat { w, slot: s, gen } => [slot(7, s)?, w, gen],
            Event::StoreDone { w, slot: s, gen } => [slot(8, s)?, w, gen],
            Event::SlotFree { w, slot: s, gen } => [slot(9, s)?, w, gen],
            Event::Crash { w, life } => [10 << TAG, w, life],
            _ => return None,
        })
    }

    #[inline]
    fn unpack([a, w, g]: [u32; 3]) -> Event {
        let (q, id) = (((a >> 16) & 0xfff) as u16, u64::from(a & 0xffff) << 32 | u64::from(w));
        let slot = a & ((1 << 28) - 1);
        match a >> 28 {
            1 => Event::Broker { q, t: Timer::LeaseEnd { id, gen: g } },
            2 => Event::Broker { q, t: Timer::DelayEnd { id } },
            3 => Event::PollExpire { w, gen: g },
            4 => Event::Poll { w, gen: g },
            5 => Event::ReceiveAtBroker { w, gen: g },
            6 => Event::ReceiveDone { w, gen: g },
            7 => Event::Heartbeat { w, slot, gen: g },
            8 => Event::StoreDone { w, slot, gen: g },
            9 => Event::SlotFree { w, slot, gen: g },
            10 => Event::Crash { w, life: g },
            k => unreachable!("lane entry of unknown kind {k}"),
        }
    }
}

/// Run a scenario: the one entry point of the simulator core.
pub fn run(s: &Scenario, opts: RunOptions) -> Result<(Summary, Option<Trace>), Error> {
    crate::limits::check_start(s)?;
    World::new(s, opts).run(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Pack;

    #[test]
    fn lane_events_unpack_as_they_were_packed() {
        let id = (1u64 << 48) - 1;
        let packable = [
            Event::Broker { q: 4095, t: Timer::LeaseEnd { id, gen: u32::MAX } },
            Event::Broker { q: 0, t: Timer::LeaseEnd { id: 1, gen: 0 } },
            Event::Broker { q: 7, t: Timer::DelayEnd { id: 0x1234_5678_9abc } },
            Event::PollExpire { w: u32::MAX, gen: 3 },
            Event::Poll { w: 1, gen: u32::MAX },
            Event::ReceiveAtBroker { w: 2, gen: 5 },
            Event::ReceiveDone { w: 3, gen: 6 },
            Event::Heartbeat { w: u32::MAX, slot: (1 << 28) - 1, gen: u32::MAX },
            Event::StoreDone { w: 4, slot: 0, gen: 7 },
            Event::SlotFree { w: 5, slot: 999, gen: 8 },
            Event::Crash { w: 6, life: 9 },
        ];
        for e in packable {
            let p = e.pack().unwrap_or_else(|| panic!("{e:?} does not pack"));
            assert_eq!(format!("{:?}", Event::unpack(p)), format!("{e:?}"));
        }
        let too_big = [
            Event::Broker { q: 4096, t: Timer::LeaseEnd { id: 1, gen: 0 } },
            Event::Broker { q: 0, t: Timer::LeaseEnd { id: 1 << 48, gen: 0 } },
            Event::Heartbeat { w: 0, slot: 1 << 28, gen: 0 },
            Event::Broker { q: 0, t: Timer::RetentionCheck },
            Event::StepDone { w: 0, slot: 0, gen: 0, q: 0, at: 0 },
            Event::Produce,
        ];
        for e in too_big {
            assert!(e.pack().is_none(), "{e:?} packed");
        }
    }
}
