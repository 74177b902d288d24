//! Resolution of the raw schema into the checked [`Scenario`]: defaults,
//! documented ranges and cross-references (queue and dependency names,
//! duplicate names, the total of worker slots) for the run limits, the
//! producer, queues, worker groups and their heartbeats, the handler and its
//! dependencies, the network and idempotency. Topology, functions, NATS and
//! Pub/Sub settings are resolved in their own modules and called from here.

use super::context::Ctx;
use super::dist::resolve_dist;
use super::schema::*;
use super::{functions, nats, pubsub, topology};
use crate::dist::Dist;
use crate::duration::{self, Nanos, NS_PER_S};
use crate::error::InputError;
use crate::scenario::*;

const H12: Nanos = 12 * 3_600 * NS_PER_S;
const MIN15: Nanos = 15 * 60 * NS_PER_S;
pub(super) const DAY: Nanos = 86_400 * NS_PER_S;

pub(super) fn resolve(ctx: &Ctx, raw: RawScenario) -> Result<Scenario, InputError> {
    let run = resolve_run(ctx, &raw.run)?;
    let (queues, topology) = match (&raw.queue, &raw.queues) {
        (Some(_), Some(_)) => {
            return Err(ctx.err("queues", "give either one `[queue]` or several `[[queues]]`, not both"));
        }
        (None, Some(list)) => (topology::resolve_queues(ctx, list)?, true),
        (one, None) => {
            (vec![resolve_queue(ctx, "queue", one.as_ref().unwrap_or(&RawQueue::default()), "queue")?], false)
        }
    };
    let attributes = topology::resolve_attributes(ctx, raw.producer.attributes.as_ref())?;
    let topics = topology::resolve_topics(ctx, &raw.topics, &queues, &attributes)?;
    let target = topology::resolve_target(ctx, &raw.producer, &queues, &topics)?;
    let mut producer = resolve_producer(ctx, &raw.producer)?;
    producer.target = target;
    producer.attributes = attributes;
    let mut queues = nats::resolve_subjects(ctx, &raw.producer, queues)?;
    producer.subject = raw.producer.subject.clone();
    for q in &mut queues {
        q.nats.payload_bytes = producer.payload_bytes;
    }
    nats::check_sqs_only(ctx, &raw.producer, &raw.workers, &queues, producer.target)?;
    if run.messages.is_none() && run.duration_ns.is_none() && !matches!(producer.arrival, Arrival::Scripted { .. }) {
        return Err(ctx.err("run", "say how much to send: run.messages or run.duration"));
    }
    let dependencies =
        raw.dependencies.iter().enumerate().map(|(i, d)| resolve_dependency(ctx, i, d)).collect::<Result<_, _>>()?;
    let dependencies: Vec<Dependency> = dependencies;
    for (i, d) in dependencies.iter().enumerate() {
        if dependencies[..i].iter().any(|o| o.name == d.name) {
            return Err(
                ctx.err(&format!("dependencies[{i}].name"), format!("dependency `{}` is defined twice", d.name))
            );
        }
    }
    if raw.workers.is_empty() && raw.functions.is_empty() {
        return Err(ctx.err("workers", "at least one [[workers]] group (or [[functions]] entry) is needed"));
    }
    let workers: Vec<WorkerGroup> = raw
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| resolve_workers(ctx, i, w, &queues, &dependencies))
        .collect::<Result<_, _>>()?;
    for (i, w) in workers.iter().enumerate() {
        if workers[..i].iter().any(|o| o.name == w.name) {
            return Err(ctx.err(&format!("workers[{i}].name"), format!("worker group `{}` is defined twice", w.name)));
        }
    }
    let functions = functions::resolve_functions(ctx, &raw.functions, &queues, &dependencies)?;
    check_slots(ctx, &workers)?;
    Ok(Scenario {
        name: raw.name.clone(),
        description: raw.description.clone(),
        seed: raw.seed.unwrap_or(1),
        run,
        producer,
        queues,
        topics,
        topology,
        handler: resolve_handler(ctx, "handler", &raw.handler, &dependencies)?,
        workers,
        functions,
        dependencies,
        network: resolve_network(ctx, &raw.network)?,
        idempotency: resolve_idempotency(ctx, &raw.idempotency)?,
    })
}

/// The smallest `run.max_memory`: the fixed-size structures of a run
/// (histograms, time series) need a few MiB.
const MIN_MEMORY: u64 = 16 << 20;

/// At most this many worker slots in all groups (count x concurrency): slots
/// are allocated before the first event.
const MAX_SLOTS: u64 = 10_000_000;

/// At most this many time-series buckets (max_sim_time / timeseries_bucket).
const MAX_BUCKETS: u64 = 1_000_000;

fn resolve_run(ctx: &Ctx, r: &RawRun) -> Result<RunSettings, InputError> {
    if r.messages == Some(0) {
        return Err(ctx.err("run.messages", "0 messages; expected at least 1"));
    }
    let max_sim_time_ns = r.max_sim_time.map_or(30 * DAY, |d| d.0);
    let bucket = r.timeseries_bucket.map_or(60 * NS_PER_S, |d| d.0);
    let bucket_ns = ctx.range("run.timeseries_bucket", bucket, NS_PER_S, DAY)?;
    if max_sim_time_ns / bucket_ns > MAX_BUCKETS {
        let needed = (max_sim_time_ns / MAX_BUCKETS).div_ceil(NS_PER_S) * NS_PER_S;
        return Err(ctx.err(
            "run.max_sim_time",
            format!(
                "{} needs more than {MAX_BUCKETS} time-series buckets of {}; set run.timeseries_bucket to at least {}",
                duration::format_human(max_sim_time_ns),
                duration::format_human(bucket_ns),
                duration::format_human(needed)
            ),
        ));
    }
    Ok(RunSettings {
        messages: r.messages,
        duration_ns: r.duration.map(|d| d.0),
        max_sim_time_ns,
        max_events: ctx.count("run.max_events", r.max_events, 2_000_000_000, 1, u64::MAX)?,
        max_live_messages: ctx.count("run.max_live_messages", r.max_live_messages, 20_000_000, 1, u64::MAX)?,
        bucket_ns,
        max_memory: {
            let m = r.max_memory.map_or(crate::limits::DEFAULT_MAX_MEMORY, |m| m.0);
            if m < MIN_MEMORY {
                return Err(ctx.err(
                    "run.max_memory",
                    format!(
                        "{} is too small; expected at least {}",
                        crate::limits::format_size(m),
                        crate::limits::format_size(MIN_MEMORY)
                    ),
                ));
            }
            m
        },
        max_wall_ns: match r.max_wall_time {
            Some(d) => Some(ctx.range("run.max_wall_time", d.0, NS_PER_S / 1000, duration::MAX_NS)?),
            None => None,
        },
    })
}

/// The product count x concurrency, summed over groups, is bounded (each
/// factor alone is checked by its range).
fn check_slots(ctx: &Ctx, workers: &[WorkerGroup]) -> Result<(), InputError> {
    let mut total = 0u64;
    for (i, w) in workers.iter().enumerate() {
        total += u64::from(w.count) * u64::from(w.concurrency);
        if total > MAX_SLOTS {
            return Err(ctx.err(
                &format!("workers[{i}].concurrency"),
                format!(
                    "{} workers x {} concurrency brings the slots of all groups to {total}; at most {MAX_SLOTS} in all",
                    w.count, w.concurrency
                ),
            ));
        }
    }
    Ok(())
}

fn resolve_producer(ctx: &Ctx, p: &RawProducer) -> Result<Producer, InputError> {
    let arrival = match &p.arrival {
        RawArrival::Poisson { rate } => Arrival::Poisson { rate_per_s: ctx.positive("producer.arrival.rate", *rate)? },
        RawArrival::Constant { rate: Some(rate), interval: None } => {
            let rate = ctx.positive("producer.arrival.rate", *rate)?;
            Arrival::Constant { interval_ns: duration::from_secs_f64(1.0 / rate).max(1) }
        }
        RawArrival::Constant { rate: None, interval: Some(i) } => {
            Arrival::Constant { interval_ns: ctx.range("producer.arrival.interval", i.0, 1, DAY)? }
        }
        RawArrival::Constant { .. } => {
            return Err(ctx.err("producer.arrival", "a constant arrival needs exactly one of `rate` or `interval`"))
        }
        RawArrival::Scripted { at } => {
            if at.is_empty() {
                return Err(ctx.err("producer.arrival.at", "a scripted arrival needs at least one time"));
            }
            let at_ns: Vec<Nanos> = at.iter().map(|d| d.0).collect();
            if at_ns.windows(2).any(|w| w[0] > w[1]) {
                return Err(ctx.err("producer.arrival.at", "scripted send times must be in increasing order"));
            }
            Arrival::Scripted { at_ns }
        }
    };
    Ok(Producer {
        arrival,
        delay_ns: ctx.range("producer.delay", p.delay.map_or(0, |d| d.0), 0, MIN15)?,
        payload_bytes: ctx.count("producer.payload_bytes", p.payload_bytes, 1024, 1, 1 << 20)?,
        max_send_retries: ctx.count("producer.max_send_retries", p.max_send_retries, 3, 0, 100)? as u32,
        target: Target::Queue(0),
        attributes: Vec::new(),
        subject: None,
    })
}

/// One queue; `at` is its path (`queue` or `queues[i]`), `name` its name.
pub(super) fn resolve_queue(ctx: &Ctx, at: &str, q: &RawQueue, name: &str) -> Result<Queue, InputError> {
    let path = |field: &str| format!("{at}.{field}");
    let kind = match q.kind.unwrap_or(RawQueueKind::SqsStandard) {
        RawQueueKind::SqsStandard => QueueKind::SqsStandard,
        RawQueueKind::SqsFifo => QueueKind::SqsFifo,
        RawQueueKind::Jetstream => QueueKind::JetStream,
        RawQueueKind::NatsCore => QueueKind::NatsCore,
        RawQueueKind::Pubsub => QueueKind::Pubsub,
    };
    let nats = nats::resolve_nats(ctx, at, q, kind)?;
    let is_pubsub = kind == QueueKind::Pubsub;
    pubsub::check_fields(ctx, at, q, is_pubsub)?;
    let sub = if is_pubsub { Some(pubsub::resolve_subscription(ctx, at, q)?) } else { None };
    let fifo = topology::resolve_fifo(ctx, at, q, kind)?;
    if kind == QueueKind::SqsFifo {
        if q.broker_duplicate.is_some_and(|p| p > 0.0) {
            return Err(ctx.err(&path("broker_duplicate"), "FIFO queues do not duplicate messages; expected 0"));
        }
        if q.delete_policy.is_some_and(|p| !matches!(p, RawDeletePolicy::Strict)) {
            return Err(ctx.err(
                &path("delete_policy"),
                "a FIFO queue rejects a delete with an expired receipt handle; only \"strict\" applies",
            ));
        }
    }
    let redrive_at_ns: Vec<Nanos> = q.redrive_at.iter().flatten().map(|d| d.0).collect();
    let mut queue = Queue {
        name: name.to_string(),
        kind,
        visibility_timeout_ns: match kind {
            // The lease of a JetStream delivery is its AckWait step.
            QueueKind::JetStream => nats.ack_wait_ns,
            _ => ctx.range(&path("visibility_timeout"), q.visibility_timeout.map_or(30 * NS_PER_S, |d| d.0), 0, H12)?,
        },
        retention_ns: ctx.range(&path("retention"), q.retention.map_or(4 * DAY, |d| d.0), 60 * NS_PER_S, 14 * DAY)?,
        max_receive_count: match q.max_receive_count {
            Some(m) => Some(ctx.count(&path("max_receive_count"), Some(m), 0, 1, 1000)? as u32),
            None => None,
        },
        delete_policy: match q.delete_policy.unwrap_or(match kind {
            QueueKind::SqsFifo => RawDeletePolicy::Strict,
            _ => RawDeletePolicy::AnyHandle,
        }) {
            RawDeletePolicy::LatestOnly => DeletePolicy::LatestOnly,
            RawDeletePolicy::AnyHandle => DeletePolicy::AnyHandle,
            RawDeletePolicy::Strict => DeletePolicy::Strict,
        },
        change_visibility_policy: match q.change_visibility_policy.unwrap_or(RawChangeVisibilityPolicy::AnyHandle) {
            RawChangeVisibilityPolicy::AnyHandle => ChangeVisibilityPolicy::AnyHandle,
            RawChangeVisibilityPolicy::LatestOnly => ChangeVisibilityPolicy::LatestOnly,
        },
        visible_order: match q.visible_order.unwrap_or(RawVisibleOrder::OldestSent) {
            RawVisibleOrder::OldestSent => VisibleOrder::OldestSent,
            RawVisibleOrder::BecameVisible => VisibleOrder::BecameVisible,
        },
        short_poll_miss: ctx.prob(&path("short_poll_miss"), q.short_poll_miss, 0.0)?,
        broker_duplicate: ctx.prob(&path("broker_duplicate"), q.broker_duplicate, 0.0)?,
        inflight_limit: ctx.count(&path("inflight_limit"), q.inflight_limit, 120_000, 1, u64::MAX)?,
        price_per_million_usd: {
            let default = match kind {
                QueueKind::SqsFifo => 0.50,
                QueueKind::SqsStandard => 0.40,
                // Self-hosted (NATS), or billed by throughput (Pub/Sub): no
                // per-request price unless one is given.
                QueueKind::JetStream | QueueKind::NatsCore | QueueKind::Pubsub => 0.0,
            };
            let p = q.price_per_million.unwrap_or(default);
            if !(p.is_finite() && p >= 0.0) {
                return Err(ctx.err(&path("price_per_million"), "expected a non-negative price in USD"));
            }
            p
        },
        redrive_at_ns,
        fifo,
        nats,
        pubsub: PubSub::default(),
    };
    if let Some(sub) = sub {
        // Pub/Sub: the ack deadline is the lease, the dead-letter policy the
        // receive limit; retention defaults to 7 days; it bills throughput,
        // not requests, so requests cost nothing unless a price is given.
        queue.visibility_timeout_ns = sub.ack_deadline_ns;
        queue.max_receive_count = sub.max_delivery_attempts;
        queue.delete_policy = sub.delete_policy;
        queue.change_visibility_policy = sub.change_visibility_policy;
        queue.fifo.api_limit_per_s = 0;
        if q.retention.is_none() {
            queue.retention_ns = 7 * DAY;
        }
        if q.price_per_million.is_none() {
            queue.price_per_million_usd = 0.0;
        }
        // Pub/Sub documents no cap on outstanding messages of a subscription
        // (flow control is the client's `max_messages`).
        if q.inflight_limit.is_none() {
            queue.inflight_limit = u64::MAX;
        }
        queue.pubsub = sub.settings;
    }
    Ok(queue)
}

fn resolve_workers(
    ctx: &Ctx,
    i: usize,
    w: &RawWorkers,
    queues: &[Queue],
    deps: &[Dependency],
) -> Result<WorkerGroup, InputError> {
    let at = |field: &str| format!("workers[{i}].{field}");
    let queue = topology::queue_index(ctx, &at("queue"), w.queue.as_deref(), queues, "worker group")?;
    let handler = match &w.handler {
        Some(h) => Some(resolve_handler(ctx, &at("handler"), h, deps)?),
        None => None,
    };
    let r = w.receive.as_ref();
    let receive = Receive {
        max: ctx.count(&at("receive.max"), r.and_then(|r| r.max), 10, 1, 10)? as u32,
        wait_ns: ctx.range(
            &at("receive.wait"),
            r.and_then(|r| r.wait).map_or(20 * NS_PER_S, |d| d.0),
            0,
            20 * NS_PER_S,
        )?,
        visibility_timeout_ns: match r.and_then(|r| r.visibility_timeout) {
            Some(d) => Some(ctx.range(&at("receive.visibility_timeout"), d.0, 0, H12)?),
            None => None,
        },
        idle_backoff_ns: ctx.range(
            &at("receive.idle_backoff"),
            r.and_then(|r| r.idle_backoff).map_or(NS_PER_S, |d| d.0),
            1,
            DAY,
        )?,
    };
    let crash = w.crash.as_ref();
    let mut crash_at: Vec<Nanos> = crash.and_then(|c| c.at.as_ref()).into_iter().flatten().map(|d| d.0).collect();
    crash_at.sort_unstable();
    Ok(WorkerGroup {
        name: w.name.clone(),
        queue,
        handler,
        count: ctx.count(&at("count"), w.count, 1, 1, 100_000)? as u32,
        concurrency: ctx.count(&at("concurrency"), w.concurrency, 1, 1, 65_535)? as u32,
        start_at_ns: w.start_at.map_or(0, |d| d.0),
        receive,
        heartbeat: resolve_heartbeat(ctx, i, w.heartbeat.as_ref(), &queues[queue])?,
        on_failure: match &w.on_failure {
            None | Some(RawOnFailure::Expire) => FailurePolicy::Expire,
            Some(RawOnFailure::Release) => FailurePolicy::Release,
            Some(RawOnFailure::Term) => {
                if queues[queue].kind != QueueKind::JetStream {
                    return Err(ctx.err(
                        &at("on_failure"),
                        "`term` (+TERM) is a JetStream verb; the queue is not kind = \"jetstream\"",
                    ));
                }
                FailurePolicy::Term
            }
            Some(RawOnFailure::Backoff { base, max }) => {
                let max_ns = ctx.range(&at("on_failure.max"), max.0, 0, H12)?;
                FailurePolicy::Backoff { base_ns: ctx.range(&at("on_failure.base"), base.0, 0, max_ns)?, max_ns }
            }
        },
        crash: Crash {
            mtbf_ns: match crash.and_then(|c| c.mtbf) {
                Some(d) => Some(ctx.range(&at("crash.mtbf"), d.0, NS_PER_S, u64::MAX)?),
                None => None,
            },
            restart_delay_ns: crash.and_then(|c| c.restart_delay).map_or(10 * NS_PER_S, |d| d.0),
            at_ns: crash_at,
        },
    })
}

fn resolve_heartbeat(ctx: &Ctx, i: usize, h: Option<&RawHeartbeat>, queue: &Queue) -> Result<Heartbeat, InputError> {
    let Some(h) = h else { return Ok(Heartbeat::None) };
    let at = |field: &str| format!("workers[{i}].heartbeat.{field}");
    let interval = h.interval.and_then(|d| d.0);
    let kind = match (h.kind, h.interval) {
        (_, Some(DurOrOff(None))) => RawHeartbeatKind::None,
        (Some(k), _) => k,
        (None, Some(_)) if h.multiple.is_some() => RawHeartbeatKind::Adaptive,
        (None, Some(_)) => RawHeartbeatKind::Fixed,
        (None, None) => RawHeartbeatKind::None,
    };
    let need_interval =
        || interval.ok_or_else(|| ctx.err(&at("interval"), "a heartbeat needs an interval (a duration, or \"off\")"));
    let lease_fields = [
        ("max_lease_duration", h.max_lease_duration.is_some()),
        ("max_messages", h.max_messages.is_some()),
        ("min_extension", h.min_extension.is_some()),
        ("max_extension", h.max_extension.is_some()),
    ];
    if let (false, Some((field, _))) =
        (matches!(kind, RawHeartbeatKind::PubsubLease), lease_fields.iter().find(|(_, given)| *given))
    {
        return Err(ctx.err(&at(field), format!("`{field}` is a setting of kind = \"pubsub_lease\"")));
    }
    let timer_fields = [
        ("interval", h.interval.is_some()),
        ("extend", h.extend.is_some()),
        ("multiple", h.multiple.is_some()),
        ("min_extend", h.min_extend.is_some()),
    ];
    if let (true, Some((field, _))) =
        (matches!(kind, RawHeartbeatKind::PubsubLease), timer_fields.iter().find(|(_, given)| *given))
    {
        return Err(ctx.err(
            &at(field),
            format!("`{field}` does not apply to kind = \"pubsub_lease\" (the client times its own modAcks)"),
        ));
    }
    match kind {
        RawHeartbeatKind::PubsubLease => pubsub::resolve_lease(
            ctx,
            &at,
            queue,
            h.max_lease_duration,
            h.max_messages,
            h.min_extension,
            h.max_extension,
        ),
        RawHeartbeatKind::None => Ok(Heartbeat::None),
        RawHeartbeatKind::Fixed => {
            let interval_ns = ctx.range(&at("interval"), need_interval()?, NS_PER_S / 1000, H12)?;
            let extend = h.extend.ok_or_else(|| ctx.err(&at("extend"), "a fixed heartbeat needs `extend`"))?;
            Ok(Heartbeat::Fixed { interval_ns, extend_ns: ctx.range(&at("extend"), extend.0, 0, H12)? })
        }
        RawHeartbeatKind::Adaptive => Ok(Heartbeat::Adaptive {
            interval_ns: ctx.range(&at("interval"), need_interval()?, NS_PER_S / 1000, H12)?,
            multiple: ctx.positive(&at("multiple"), h.multiple.unwrap_or(2.0))?,
            min_extend_ns: ctx.range(&at("min_extend"), h.min_extend.map_or(30 * NS_PER_S, |d| d.0), 0, H12)?,
        }),
    }
}

/// A handler; `at` is its path (`handler`, or `workers[i].handler`).
pub(super) fn resolve_handler(ctx: &Ctx, at: &str, h: &RawHandler, deps: &[Dependency]) -> Result<Handler, InputError> {
    let mut steps = Vec::new();
    let mut marked = None;
    match (&h.steps, &h.duration) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(&format!("{at}.duration"), "give either `steps` or `duration`, not both"))
        }
        (None, None) => return Err(ctx.err(at, "the handler needs `steps` or `duration`")),
        (None, Some(d)) => steps.push(Step::Delay(resolve_dist(ctx, &format!("{at}.duration"), d)?)),
        (Some(raw), None) => {
            if raw.is_empty() {
                return Err(ctx.err(&format!("{at}.steps"), "the handler needs at least one step"));
            }
            for (i, s) in raw.iter().enumerate() {
                let path = format!("{at}.steps[{i}]");
                steps.push(match (&s.delay, &s.call) {
                    (Some(d), None) => Step::Delay(resolve_dist(ctx, &format!("{path}.delay"), d)?),
                    (None, Some(name)) => match deps.iter().position(|d| &d.name == name) {
                        Some(dependency) => Step::Call { dependency },
                        None => {
                            let known: Vec<&str> = deps.iter().map(|d| d.name.as_str()).collect();
                            return Err(ctx.err(
                                &format!("{path}.call"),
                                format!("no dependency named `{name}`; defined: [{}]", known.join(", ")),
                            ));
                        }
                    },
                    _ => return Err(ctx.err(&path, "a step has exactly one of `delay` or `call`")),
                });
                if s.effect == Some(true) {
                    if marked.is_some() {
                        return Err(ctx.err(&format!("{path}.effect"), "only one step can be the effect"));
                    }
                    marked = Some(i);
                }
            }
        }
    }
    if let (Some(e), Some(m)) = (h.effect_step, marked) {
        if e != m {
            return Err(ctx.err(&format!("{at}.effect_step"), "conflicts with the step marked `effect = true`"));
        }
    }
    let effect_step = h.effect_step.or(marked).unwrap_or(steps.len() - 1);
    if effect_step >= steps.len() {
        return Err(
            ctx.err(&format!("{at}.effect_step"), format!("expected a step index from 0 to {}", steps.len() - 1))
        );
    }
    Ok(Handler {
        steps,
        effect_step,
        fail_probability: ctx.prob(&format!("{at}.fail_probability"), h.fail_probability, 0.0)?,
        poison_fraction: ctx.prob(&format!("{at}.poison_fraction"), h.poison_fraction, 0.0)?,
    })
}

fn resolve_dependency(ctx: &Ctx, i: usize, d: &RawDependency) -> Result<Dependency, InputError> {
    let at = |field: &str| format!("dependencies[{i}].{field}");
    let window = |path: String, from: Dur, to: Dur| {
        if from.0 < to.0 {
            Ok(Window { from_ns: from.0, to_ns: to.0 })
        } else {
            Err(ctx.err(&path, "a window needs `from` before `to`"))
        }
    };
    let mut brownouts = Vec::new();
    for (j, b) in d.brownouts.iter().enumerate() {
        let p = at(&format!("brownouts[{j}]"));
        brownouts.push(Brownout {
            window: window(p.clone(), b.from, b.to)?,
            latency_multiplier: ctx
                .positive(&format!("{p}.latency_multiplier"), b.latency_multiplier.unwrap_or(1.0))?,
            error_probability: ctx.prob(&format!("{p}.error_probability"), b.error_probability, 0.0)?,
        });
    }
    let mut outages = Vec::new();
    for (j, o) in d.outages.iter().enumerate() {
        outages.push(Outage {
            window: window(at(&format!("outages[{j}]")), o.from, o.to)?,
            mode: match o.mode.unwrap_or(RawOutageMode::Error) {
                RawOutageMode::Error => OutageMode::Error,
                RawOutageMode::Hang => OutageMode::Hang,
            },
        });
    }
    Ok(Dependency {
        name: d.name.clone(),
        latency: resolve_dist(ctx, &at("latency"), &d.latency)?,
        error_probability: ctx.prob(&at("error_probability"), d.error_probability, 0.0)?,
        timeout_ns: d.timeout.map(|t| t.0),
        brownouts,
        outages,
    })
}

fn resolve_network(ctx: &Ctx, n: &RawNetwork) -> Result<Network, InputError> {
    // An error names the key that was written: `loss` when it stands for both.
    let which = |specific: Option<f64>, name: &'static str| if specific.is_some() { name } else { "network.loss" };
    let base_req = ctx.prob(which(n.request_loss, "network.request_loss"), n.request_loss.or(n.loss), 0.0)?;
    let base_resp = ctx.prob(which(n.response_loss, "network.response_loss"), n.response_loss.or(n.loss), 0.0)?;
    let base_latency = match &n.latency {
        Some(d) => resolve_dist(ctx, "network.latency", d)?,
        None => Dist::Constant(0),
    };
    let link = |name: &str, l: &Option<RawLink>| -> Result<Link, InputError> {
        let Some(l) = l else {
            return Ok(Link { request_loss: base_req, response_loss: base_resp, latency: base_latency.clone() });
        };
        let p = |f: &str| format!("network.{name}.{f}");
        Ok(Link {
            request_loss: ctx.prob(
                &p(if l.request_loss.is_some() { "request_loss" } else { "loss" }),
                l.request_loss.or(l.loss),
                base_req,
            )?,
            response_loss: ctx.prob(
                &p(if l.response_loss.is_some() { "response_loss" } else { "loss" }),
                l.response_loss.or(l.loss),
                base_resp,
            )?,
            latency: match &l.latency {
                Some(d) => resolve_dist(ctx, &p("latency"), d)?,
                None => base_latency.clone(),
            },
        })
    };
    Ok(Network {
        links: [
            link("send", &n.send)?,
            link("receive", &n.receive)?,
            link("delete", &n.delete)?,
            link("change_visibility", &n.change_visibility)?,
        ],
        timeout_ns: ctx.range("network.timeout", n.timeout.map_or(5 * NS_PER_S, |d| d.0), 1, H12)?,
    })
}

fn resolve_idempotency(ctx: &Ctx, i: &RawIdempotency) -> Result<Idempotency, InputError> {
    Ok(Idempotency {
        strategy: match i.strategy.unwrap_or(RawStrategy::None) {
            RawStrategy::None => Strategy::None,
            RawStrategy::CheckThenMark => Strategy::CheckThenMark,
            RawStrategy::ClaimFirst => Strategy::ClaimFirst,
            RawStrategy::Atomic => Strategy::Atomic,
        },
        claim_ttl_ns: ctx.range("idempotency.claim_ttl", i.claim_ttl.map_or(300 * NS_PER_S, |d| d.0), 1, 365 * DAY)?,
        key_ttl_ns: i.key_ttl.map(|d| d.0),
        latency: match &i.latency {
            Some(d) => resolve_dist(ctx, "idempotency.latency", d)?,
            None => Dist::Constant(0),
        },
    })
}
