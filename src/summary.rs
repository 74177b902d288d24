//! The run summary: the numbers of docs/model.md section 7 under the keys of
//! docs/output.md, as JSON (`--json`) or as readable text. Building it checks
//! conservation: final states must sum to `sent`, in total and per queue.
//!
//! With several queues (`[[queues]]`) the top-level numbers are totals over
//! the queues (sums; latency percentiles of the merged histograms;
//! `duplicate_rate` = total duplicate effects / total logical messages
//! enqueued, each queue counting its own), `queues` gives each queue with the
//! same keys, and `topics` each SNS topic with its subscriptions.

use crate::broker::jetstream::NatsStats;
use crate::duration::{as_secs_f64, Nanos};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::scenario::{QueueKind, Scenario, Strategy};
use crate::sim::{StopReason, World};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize)]
pub struct Causes {
    pub concurrent: u64,
    pub after_failure: u64,
    pub after_crash: u64,
    pub after_success: u64,
    pub broker: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Final {
    pub deleted: u64,
    pub dlq: u64,
    pub expired: u64,
    pub lost: u64,
    pub in_flight: u64,
    pub visible: u64,
}

impl Final {
    pub fn total(&self) -> u64 {
        self.deleted + self.dlq + self.expired + self.lost + self.in_flight + self.visible
    }

    fn add(&mut self, o: &Final) {
        self.deleted += o.deleted;
        self.dlq += o.dlq;
        self.expired += o.expired;
        self.lost += o.lost;
        self.in_flight += o.in_flight;
        self.visible += o.visible;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles { count: 0, p50: 0.0, p90: 0.0, p99: 0.0, p999: 0.0, max: 0.0 };
        }
        // The middle of the quantile's bucket (within 0.05% of the true value),
        // reported to 3 significant digits.
        let q = |q: f64| round_s(h.median_equivalent(h.value_at_quantile(q)));
        Percentiles { count: h.len(), p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: q(1.0) }
    }
}

/// Seconds, rounded to the 3 significant digits the histograms keep.
fn round_s(ns: Nanos) -> f64 {
    let s = as_secs_f64(ns);
    if s == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(2 - s.abs().log10().floor() as i32);
    (s * scale).round() / scale
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiCalls {
    pub send: u64,
    pub receive: u64,
    pub empty_receive: u64,
    pub delete: u64,
    pub change_visibility: u64,
    pub billed_requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Breaches {
    pub unprotected: u64,
    pub race: u64,
    pub claim_expired: u64,
    pub key_expired: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdempotencySummary {
    pub strategy: &'static str,
    /// Duplicate attempts the store stopped before their effect.
    pub suppressed: u64,
    /// claim_first attempts turned away while another held the claim.
    pub rejected_in_progress: u64,
    /// Duplicate effects that got through, by reason.
    pub duplicates_through: Breaches,
}

#[derive(Debug, Clone, Serialize)]
pub struct DlqDeliveries {
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimeSeries {
    pub bucket_s: f64,
    pub sent: Vec<u64>,
    pub effects: Vec<u64>,
    pub duplicate_effects: Vec<u64>,
    pub redeliveries: Vec<u64>,
    pub premature_expiries: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Perf {
    pub wall_s: f64,
    pub events_per_s: f64,
    pub peak_rss_bytes: u64,
    /// The run's own estimate of the bytes its growing structures held at
    /// their largest (`limits.rs`, sampled every 16,384 events and at the end).
    pub peak_model_bytes: u64,
    /// The most messages live at once (delayed, visible or in flight), at the same samples.
    pub peak_live_messages: u64,
    /// The same estimate when the run ended: after a burst has drained, the
    /// memory given back shows here.
    pub final_model_bytes: u64,
}

/// The run summary. Field order is the JSON key order.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub sim_time_s: f64,
    pub events: u64,
    pub sent: u64,
    pub deliveries: u64,
    pub redeliveries: u64,
    pub causes: Causes,
    pub effects: u64,
    pub duplicate_effects: u64,
    pub duplicate_rate: f64,
    #[serde(rename = "final")]
    pub final_states: Final,
    pub retry_latency_s: Percentiles,
    pub e2e_latency_s: Percentiles,
    pub api_calls: ApiCalls,
    pub cost_usd: f64,
    pub stop_reason: &'static str,
    /// Distinct logical keys accepted (the denominator of duplicate_rate).
    pub logical_sent: u64,
    pub producer_duplicates: u64,
    pub send_gave_up: u64,
    /// Leases that ran out while the holder was still processing.
    pub premature_expiries: u64,
    pub failures: u64,
    pub crashes: u64,
    pub heartbeats: u64,
    pub over_limit: u64,
    /// Deliveries each DLQ'd message had (min and max), if any.
    pub dlq_deliveries: Option<DlqDeliveries>,
    pub processing_s: Percentiles,
    pub idempotency: IdempotencySummary,
    /// FIFO queues: publishes and sends removed as duplicates inside the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplicated: Option<u64>,
    /// Ordered queues: effects committed before an earlier message's effect in its group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_violations: Option<u64>,
    /// Pub/Sub ordered subscriptions: acked messages redelivered because an
    /// earlier message of their ordering key was redelivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_replays: Option<u64>,
    /// Queues with API quotas: calls refused (ThrottlingException).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled: Option<Throttled>,
    /// Lambda functions fed by event source mappings (`[[functions]]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaSummary>,
    /// NATS queues: advisories, late acks, MaxAckPending stalls, subject mismatches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<NatsStats>,
    pub timeseries: TimeSeries,
    /// Each queue of a `[[queues]]` topology, with the keys above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<serde_json::Map<String, serde_json::Value>>,
    /// Each SNS topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topics: Option<serde_json::Map<String, serde_json::Value>>,
    /// Configuration advice that is not an error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub perf: Perf,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Throttled {
    pub send: u64,
    pub receive: u64,
    pub delete: u64,
}

/// Lambda functions: totals over `[[functions]]`, and each function when there are several.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LambdaSummary {
    pub invocations: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub throttles: u64,
    pub throttled_batches: u64,
    pub records: u64,
    pub records_reported_failed: u64,
    pub delete_batch_requests: u64,
    pub concurrency_max: u32,
    /// Most invocations running at once, per time-series bucket.
    pub concurrency: Vec<u32>,
    pub gb_seconds: f64,
    pub cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl LambdaSummary {
    fn of(st: &crate::consumer::lambda::Stats, f: &crate::scenario::Function) -> LambdaSummary {
        let gb_seconds = st.mb_ms as f64 / 1024.0 / 1000.0;
        LambdaSummary {
            invocations: st.invocations,
            errors: st.errors,
            timeouts: st.timeouts,
            throttles: st.throttles,
            throttled_batches: st.throttled_batches,
            records: st.records,
            records_reported_failed: st.records_reported_failed,
            delete_batch_requests: st.delete_batch_requests,
            concurrency_max: st.concurrency_max,
            concurrency: st.concurrency.clone(),
            gb_seconds,
            cost_usd: st.invocations as f64 * f.price_per_million_requests_usd / 1e6
                + gb_seconds * f.price_per_gb_second_usd,
            functions: None,
        }
    }

    /// Totals of several functions (concurrency: the sum of their series).
    fn add(&mut self, o: &LambdaSummary) {
        self.invocations += o.invocations;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.throttles += o.throttles;
        self.throttled_batches += o.throttled_batches;
        self.records += o.records;
        self.records_reported_failed += o.records_reported_failed;
        self.delete_batch_requests += o.delete_batch_requests;
        if self.concurrency.len() < o.concurrency.len() {
            self.concurrency.resize(o.concurrency.len(), 0);
        }
        for (a, b) in self.concurrency.iter_mut().zip(&o.concurrency) {
            *a += b;
        }
        self.concurrency_max = self.concurrency.iter().copied().max().unwrap_or(0).max(o.concurrency_max);
        self.gb_seconds += o.gb_seconds;
        self.cost_usd += o.cost_usd;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionSummary {
    pub delivered: u64,
    pub filtered: u64,
    pub duplicates: u64,
    pub retries: u64,
    pub discarded: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicSummary {
    pub fifo: bool,
    pub publish_calls: u64,
    pub published: u64,
    pub deduplicated: u64,
    pub gave_up: u64,
    pub cost_usd: f64,
    /// By subscribed queue name.
    pub subscriptions: serde_json::Map<String, serde_json::Value>,
}

/// Keys of the run as a whole, left out of each queue's entry.
const RUN_KEYS: [&str; 6] = ["scenario", "seed", "sim_time_s", "events", "stop_reason", "perf"];

impl Summary {
    pub(crate) fn build(
        s: &Scenario,
        w: &World,
        stop: StopReason,
        wall: std::time::Duration,
    ) -> Result<Summary, Error> {
        let mut total = Metrics::new(s.run.bucket_ns);
        let mut per_queue = Vec::with_capacity(w.brokers.len());
        let mut total_final = Final { deleted: 0, dlq: 0, expired: 0, lost: 0, in_flight: 0, visible: 0 };
        let mut total_cost = 0.0;
        let mut throttled: Option<Throttled> = None;
        let mut nats: Option<NatsStats> = None;
        for (q, broker) in w.brokers.iter().enumerate() {
            let m = &w.obs.m[q];
            total.absorb(m);
            let (settled_deleted, settled_lost) = broker.settled();
            let final_states = Final {
                deleted: m.deleted + settled_deleted,
                dlq: m.dlq,
                expired: m.expired,
                lost: m.lost + settled_lost,
                in_flight: broker.in_flight(),
                visible: broker.visible_or_delayed(),
            };
            let name = &broker.config().name;
            if final_states.total() != m.sent {
                return Err(Error::Bug(format!(
                    "conservation violated in queue {name}: final states sum to {} but {} messages were sent ({final_states:?})",
                    final_states.total(),
                    m.sent
                )));
            }
            if stop == StopReason::Drained && final_states.in_flight + final_states.visible > 0 {
                return Err(Error::Bug(format!("run drained with messages still in queue {name}")));
            }
            let cost = m.api.billed as f64 * broker.config().price_per_million_usd / 1e6;
            total_cost += cost;
            let t = broker.throttled().map(|[send, receive, delete]| Throttled { send, receive, delete });
            if let Some(t) = &t {
                let sum = throttled.get_or_insert_with(Throttled::default);
                sum.send += t.send;
                sum.receive += t.receive;
                sum.delete += t.delete;
            }
            total_final.add(&final_states);
            let n = broker.nats_stats().copied();
            if let Some(n) = &n {
                nats.get_or_insert_with(NatsStats::default).add(n);
            }
            let dedup = matches!(broker.config().kind, QueueKind::SqsFifo | QueueKind::JetStream);
            per_queue.push((name.clone(), m, final_states, cost, t, dedup, n));
        }
        let mut topics = serde_json::Map::new();
        for t in &w.topics {
            let cost = t.stats.billed as f64 * t.cfg.price_per_million_usd / 1e6;
            total_cost += cost;
            total.send_gave_up += t.stats.gave_up;
            let mut subscriptions = serde_json::Map::new();
            for (sub, st) in t.cfg.subscriptions.iter().zip(&t.stats.subscriptions) {
                let v = SubscriptionSummary {
                    delivered: st.delivered,
                    filtered: st.filtered,
                    duplicates: st.duplicates,
                    retries: st.retries,
                    discarded: st.discarded,
                };
                subscriptions.insert(s.queues[sub.queue].name.clone(), serde_json::to_value(v).expect("serialises"));
            }
            let v = TopicSummary {
                fifo: t.cfg.fifo,
                publish_calls: t.stats.publish_calls,
                published: t.stats.published,
                deduplicated: t.stats.deduplicated,
                gave_up: t.stats.gave_up,
                cost_usd: cost,
                subscriptions,
            };
            topics.insert(t.cfg.name.clone(), serde_json::to_value(v).expect("serialises"));
        }
        let mut lambda: Option<LambdaSummary> = None;
        if !w.functions.is_empty() {
            let mut total = LambdaSummary::default();
            let mut each = serde_json::Map::new();
            for esm in &w.functions {
                let mut one = LambdaSummary::of(&esm.stats, &esm.cfg);
                one.concurrency = esm.concurrency_until(w.now());
                total.add(&one);
                each.insert(esm.cfg.name.clone(), serde_json::to_value(&one).expect("serialises"));
            }
            if w.functions.len() == 1 {
                total.concurrency_max = w.functions[0].stats.concurrency_max;
            } else {
                total.functions = Some(each);
            }
            total_cost += total.cost_usd;
            lambda = Some(total);
        }
        let any_fifo = s.queues.iter().any(|q| matches!(q.kind, QueueKind::SqsFifo | QueueKind::JetStream))
            || s.topics.iter().any(|t| t.fifo);
        let topic_dedup: u64 = w.topics.iter().map(|t| t.stats.deduplicated).sum();
        let events = w.events();
        let wall_s = wall.as_secs_f64();
        let mut summary = Summary::of(s, &total, total_final, total_cost, stop, w.now(), events, wall_s);
        summary.perf.peak_model_bytes = w.peak_footprint;
        summary.perf.peak_live_messages = w.peak_live;
        summary.perf.final_model_bytes = w.final_footprint;
        summary.deduplicated = any_fifo.then_some(total.deduplicated + topic_dedup);
        summary.throttled = throttled;
        summary.lambda = lambda;
        summary.nats = nats;
        summary.warnings = s.warnings();
        if s.topology {
            let mut queues = serde_json::Map::new();
            for (name, m, final_states, cost, t, fifo, n) in per_queue {
                let mut one = Summary::of(s, m, final_states, cost, stop, w.now(), events, wall_s);
                one.deduplicated = fifo.then_some(m.deduplicated);
                one.throttled = t;
                one.nats = n;
                let mut v = one.to_json();
                if let Some(o) = v.as_object_mut() {
                    for k in RUN_KEYS {
                        o.remove(k);
                    }
                    o.remove("warnings");
                }
                queues.insert(name, v);
            }
            summary.queues = Some(queues);
        }
        if !s.topics.is_empty() {
            summary.topics = Some(topics);
        }
        Ok(summary)
    }

    /// The summary of metrics `m` (one queue's, or the total).
    #[allow(clippy::too_many_arguments)]
    fn of(
        s: &Scenario,
        m: &Metrics,
        final_states: Final,
        cost_usd: f64,
        stop: StopReason,
        now: Nanos,
        events: u64,
        wall_s: f64,
    ) -> Summary {
        Summary {
            scenario: s.name.clone(),
            seed: s.seed,
            sim_time_s: as_secs_f64(now),
            events,
            sent: m.sent,
            deliveries: m.deliveries,
            redeliveries: m.redeliveries(),
            causes: Causes {
                concurrent: m.causes[0],
                after_failure: m.causes[1],
                after_crash: m.causes[2],
                after_success: m.causes[3],
                broker: m.causes[4],
            },
            effects: m.effects,
            duplicate_effects: m.duplicate_effects,
            duplicate_rate: if m.logical_sent == 0 { 0.0 } else { m.duplicate_effects as f64 / m.logical_sent as f64 },
            final_states,
            retry_latency_s: Percentiles::of(&m.retry_latency),
            e2e_latency_s: Percentiles::of(&m.e2e_latency),
            api_calls: ApiCalls {
                send: m.api.send,
                receive: m.api.receive,
                empty_receive: m.api.empty_receive,
                delete: m.api.delete,
                change_visibility: m.api.change_visibility,
                billed_requests: m.api.billed,
            },
            cost_usd,
            stop_reason: match stop {
                StopReason::Drained => "drained",
                StopReason::TimeLimit => "time_limit",
            },
            logical_sent: m.logical_sent,
            producer_duplicates: m.producer_duplicates,
            send_gave_up: m.send_gave_up,
            premature_expiries: m.premature_expiries,
            failures: m.failures,
            crashes: m.crashes,
            heartbeats: m.heartbeats,
            over_limit: m.over_limit,
            dlq_deliveries: m.dlq_deliveries.map(|(min, max)| DlqDeliveries { min, max }),
            processing_s: Percentiles::of(&m.processing),
            idempotency: IdempotencySummary {
                strategy: match s.idempotency.strategy {
                    Strategy::None => "none",
                    Strategy::CheckThenMark => "check_then_mark",
                    Strategy::ClaimFirst => "claim_first",
                    Strategy::Atomic => "atomic",
                },
                suppressed: m.idempotency.suppressed,
                rejected_in_progress: m.idempotency.rejected_in_progress,
                duplicates_through: Breaches {
                    unprotected: m.idempotency.breaches[0],
                    race: m.idempotency.breaches[1],
                    claim_expired: m.idempotency.breaches[2],
                    key_expired: m.idempotency.breaches[3],
                },
            },
            deduplicated: None,
            order_violations: m.order_violations,
            ordering_replays: m.ordering_replays,
            throttled: None,
            lambda: None,
            nats: None,
            timeseries: TimeSeries {
                bucket_s: as_secs_f64(m.bucket_ns()),
                sent: m.series.iter().map(|b| b.sent).collect(),
                effects: m.series.iter().map(|b| b.effects).collect(),
                duplicate_effects: m.series.iter().map(|b| b.duplicate_effects).collect(),
                redeliveries: m.series.iter().map(|b| b.redeliveries).collect(),
                premature_expiries: m.series.iter().map(|b| b.premature_expiries).collect(),
            },
            queues: None,
            topics: None,
            warnings: Vec::new(),
            perf: Perf {
                wall_s,
                events_per_s: if wall_s > 0.0 { events as f64 / wall_s } else { 0.0 },
                peak_rss_bytes: peak_rss_bytes(),
                peak_model_bytes: 0,
                peak_live_messages: 0,
                final_model_bytes: 0,
            },
        }
    }

    /// The summary as a JSON value (all keys, `perf` included).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("summary serialises")
    }

    /// The readable summary a person looks at first.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let pct = |x: f64| format!("{:.4}%", x * 100.0);
        let lat = |p: &Percentiles| {
            if p.count == 0 {
                "none".to_string()
            } else {
                format!("p50 {}s  p90 {}s  p99 {}s  max {}s  (n={})", p.p50, p.p90, p.p99, p.max, p.count)
            }
        };
        let c = &self.causes;
        let f = &self.final_states;
        let _ = writeln!(
            o,
            "scenario {}  seed {}  simulated {:.3}s  {} events ({})",
            self.scenario, self.seed, self.sim_time_s, self.events, self.stop_reason
        );
        let _ = writeln!(
            o,
            "duplicate effects  {} of {} messages ({})",
            self.duplicate_effects,
            self.logical_sent,
            pct(self.duplicate_rate)
        );
        let _ = writeln!(o, "effects            {}", self.effects);
        let _ = writeln!(o, "deliveries         {}  redeliveries {}", self.deliveries, self.redeliveries);
        let _ = writeln!(
            o,
            "  by cause         concurrent {}  after_failure {}  after_crash {}  after_success {}  broker {}",
            c.concurrent, c.after_failure, c.after_crash, c.after_success, c.broker
        );
        let _ = writeln!(
            o,
            "premature expiries {}  (lease ran out while the holder was still processing)",
            self.premature_expiries
        );
        let _ = writeln!(
            o,
            "final              deleted {}  dlq {}  expired {}  lost {}  in_flight {}  visible {}",
            f.deleted, f.dlq, f.expired, f.lost, f.in_flight, f.visible
        );
        if let Some(d) = &self.dlq_deliveries {
            let _ = writeln!(o, "  dlq after        {}..={} deliveries each", d.min, d.max);
        }
        let _ = writeln!(o, "retry latency      {}", lat(&self.retry_latency_s));
        let _ = writeln!(o, "e2e latency        {}", lat(&self.e2e_latency_s));
        let _ = writeln!(o, "processing         {}", lat(&self.processing_s));
        if self.idempotency.strategy != "none" {
            let b = &self.idempotency.duplicates_through;
            let _ = writeln!(
                o,
                "idempotency        {}: suppressed {}  rejected in progress {}  got through: race {} claim_expired {} key_expired {}",
                self.idempotency.strategy, self.idempotency.suppressed, self.idempotency.rejected_in_progress, b.race, b.claim_expired, b.key_expired
            );
        }
        if self.producer_duplicates + self.send_gave_up > 0 {
            let _ = writeln!(
                o,
                "producer           duplicates {}  gave up {}",
                self.producer_duplicates, self.send_gave_up
            );
        }
        if let Some(v) = self.order_violations {
            let _ = writeln!(o, "order violations   {v}  (effects committed before an earlier message's, per group)");
        }
        if let Some(r) = self.ordering_replays {
            let _ =
                writeln!(o, "ordering replays   {r}  (acked messages redelivered behind an earlier one of their key)");
        }
        if let Some(d) = self.deduplicated {
            let window = if self.nats.is_some() { "deduplication window" } else { "5-minute interval" };
            let _ = writeln!(o, "deduplicated       {d}  (sends removed inside the {window})");
        }
        if let Some(n) = &self.nats {
            let _ = writeln!(
                o,
                "nats               max-deliveries advisories {} (reported as dlq)  terminated {}  not captured {}  slow-consumer drops {} in {} episodes",
                n.max_deliveries_advisories, n.terminated, n.not_captured, n.dropped, n.slow_consumer_episodes
            );
            let l = &n.late_acks;
            let _ = writeln!(
                o,
                "  late replies     acted on the newest delivery: +ACK {}  +WPI {}  -NAK {}  ignored {}  MaxAckPending stalls {}",
                l.ack, l.progress, l.nak, n.late_acks_ignored, n.max_ack_pending_stalls
            );
        }
        if let Some(t) = &self.throttled {
            let _ = writeln!(o, "throttled calls    send {}  receive {}  delete {}", t.send, t.receive, t.delete);
        }
        if let Some(l) = &self.lambda {
            let _ = writeln!(
                o,
                "lambda             invocations {}  errors {}  timeouts {}  throttles {} ({} batches returned unrun)  \
                 concurrency max {}  {:.1} GB-s  ${:.6}",
                l.invocations,
                l.errors,
                l.timeouts,
                l.throttles,
                l.throttled_batches,
                l.concurrency_max,
                l.gb_seconds,
                l.cost_usd
            );
        }
        let a = &self.api_calls;
        let _ = writeln!(
            o,
            "api calls          send {}  receive {} (empty {})  delete {}  change_visibility {}",
            a.send, a.receive, a.empty_receive, a.delete, a.change_visibility
        );
        for (name, q) in self.queues.iter().flatten() {
            let n = |p: &str| q.pointer(p).and_then(|v| v.as_u64()).unwrap_or(0);
            let _ = writeln!(
                o,
                "queue {name:<12} sent {}  duplicate effects {} ({})  redeliveries {}  deleted {}  dlq {}  e2e p99 {}s",
                n("/sent"),
                n("/duplicate_effects"),
                pct(q.pointer("/duplicate_rate").and_then(|v| v.as_f64()).unwrap_or(0.0)),
                n("/redeliveries"),
                n("/final/deleted"),
                n("/final/dlq"),
                q.pointer("/e2e_latency_s/p99").and_then(|v| v.as_f64()).unwrap_or(0.0),
            );
        }
        for (name, t) in self.topics.iter().flatten() {
            let n = |p: &str| t.pointer(p).and_then(|v| v.as_u64()).unwrap_or(0);
            let _ = writeln!(o, "topic {name:<12} published {}  deduplicated {}", n("/published"), n("/deduplicated"));
            for (queue, sub) in t.pointer("/subscriptions").and_then(|v| v.as_object()).into_iter().flatten() {
                let n = |p: &str| sub.pointer(p).and_then(|v| v.as_u64()).unwrap_or(0);
                let _ = writeln!(
                    o,
                    "  -> {queue:<12} delivered {}  filtered {}  duplicates {}  retries {}  discarded {}",
                    n("/delivered"),
                    n("/filtered"),
                    n("/duplicates"),
                    n("/retries"),
                    n("/discarded")
                );
            }
        }
        for w in &self.warnings {
            let _ = writeln!(o, "warning            {w}");
        }
        let _ = writeln!(o, "cost               ${:.6}  ({} billed requests)", self.cost_usd, a.billed_requests);
        let _ = writeln!(
            o,
            "perf               {:.3}s wall  {:.0} events/s  peak RSS {:.1} MiB",
            self.perf.wall_s,
            self.perf.events_per_s,
            self.perf.peak_rss_bytes as f64 / (1 << 20) as f64
        );
        o
    }
}

/// Peak resident set size of this process (VmHWM), 0 where unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
