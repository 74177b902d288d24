//! The raw schema of a scenario file: serde structs that mirror the TOML
//! tables and keys (unknown keys rejected), with durations ("30s", or "off")
//! and memory sizes parsed on the way in. Only validation of form happens
//! here; defaults and ranges are `resolve`'s job. The settings of topology,
//! functions, NATS and Pub/Sub, and distributions, have their raw forms in
//! their own modules.

use super::dist::RawDist;
use super::{functions, nats, pubsub, topology};
use crate::duration::{self, Nanos};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A duration string ("30s").
#[derive(Debug, Clone, Copy)]
pub(super) struct Dur(pub(super) Nanos);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(duration::UNITS_HELP)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                duration::parse(s).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!("a bare number ({v}) has no unit; expected {}", duration::UNITS_HELP)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!("a bare number ({v}) has no unit; expected {}", duration::UNITS_HELP)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration or "off".
#[derive(Debug, Clone, Copy)]
pub(super) struct DurOrOff(pub(super) Option<Nanos>);

impl<'de> Deserialize<'de> for DurOrOff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "off" {
            return Ok(DurOrOff(None));
        }
        duration::parse(&s).map(|n| DurOrOff(Some(n))).map_err(|m| de::Error::custom(format!("{m}, or \"off\"")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) run: RawRun,
    pub(super) producer: RawProducer,
    pub(super) queue: Option<RawQueue>,
    /// A topology: several named queues (instead of `[queue]`).
    pub(super) queues: Option<Vec<RawQueue>>,
    #[serde(default)]
    pub(super) topics: Vec<topology::RawTopic>,
    #[serde(default)]
    pub(super) workers: Vec<RawWorkers>,
    /// Lambda functions fed by an SQS event source mapping.
    #[serde(default)]
    pub(super) functions: Vec<functions::RawFunction>,
    pub(super) handler: RawHandler,
    #[serde(default)]
    pub(super) dependencies: Vec<RawDependency>,
    #[serde(default)]
    pub(super) network: RawNetwork,
    #[serde(default)]
    pub(super) idempotency: RawIdempotency,
    /// Read by `sweep.rs`.
    #[allow(dead_code)]
    pub(super) sweep: Option<toml::Value>,
    /// Read by `expect`.
    #[allow(dead_code)]
    pub(super) expect: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) messages: Option<u64>,
    pub(super) duration: Option<Dur>,
    pub(super) max_sim_time: Option<Dur>,
    pub(super) max_events: Option<u64>,
    pub(super) max_live_messages: Option<u64>,
    pub(super) timeseries_bucket: Option<Dur>,
    pub(super) max_memory: Option<Size>,
    pub(super) max_wall_time: Option<Dur>,
}

/// A memory size: "4GiB", "512MiB" or a number of bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Size(pub(super) u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a memory size such as \"4GiB\" or \"512MiB\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Size, E> {
                crate::limits::parse_size(s).map(Size).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom(format!("{v} is not a memory size; expected e.g. \"4GiB\"")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProducer {
    pub(super) arrival: RawArrival,
    pub(super) delay: Option<Dur>,
    pub(super) payload_bytes: Option<u64>,
    pub(super) max_send_retries: Option<u64>,
    /// Send to this queue (by name) ...
    pub(super) queue: Option<String>,
    /// ... or publish to this topic.
    pub(super) topic: Option<String>,
    pub(super) attributes: Option<std::collections::BTreeMap<String, topology::RawAttribute>>,
    /// The NATS subject published to (matched against `queue.subjects`).
    pub(super) subject: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawArrival {
    Constant { rate: Option<f64>, interval: Option<Dur> },
    Poisson { rate: f64 },
    Scripted { at: Vec<Dur> },
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawQueueKind {
    SqsStandard,
    SqsFifo,
    Jetstream,
    NatsCore,
    Pubsub,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawDeletePolicy {
    LatestOnly,
    AnyHandle,
    Strict,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawChangeVisibilityPolicy {
    AnyHandle,
    LatestOnly,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawVisibleOrder {
    OldestSent,
    BecameVisible,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    /// Required in `[[queues]]`.
    pub(super) name: Option<String>,
    pub(super) kind: Option<RawQueueKind>,
    pub(super) visibility_timeout: Option<Dur>,
    pub(super) retention: Option<Dur>,
    pub(super) max_receive_count: Option<u64>,
    pub(super) delete_policy: Option<RawDeletePolicy>,
    pub(super) change_visibility_policy: Option<RawChangeVisibilityPolicy>,
    pub(super) visible_order: Option<RawVisibleOrder>,
    pub(super) short_poll_miss: Option<f64>,
    pub(super) broker_duplicate: Option<f64>,
    pub(super) inflight_limit: Option<u64>,
    pub(super) price_per_million: Option<f64>,
    pub(super) redrive_at: Option<Vec<Dur>>,
    // SQS FIFO only (resolved in config/topology.rs).
    pub(super) groups: Option<u32>,
    pub(super) group_skew: Option<f64>,
    pub(super) deduplication: Option<topology::RawDeduplication>,
    pub(super) deduplication_scope: Option<topology::RawDedupScope>,
    pub(super) high_throughput: Option<bool>,
    pub(super) api_limit_per_s: Option<u32>,
    pub(super) throttle_retry: Option<Dur>,
    // JetStream and core NATS only (resolved in config/nats.rs).
    pub(super) ack_wait: Option<Dur>,
    pub(super) max_deliver: Option<i64>,
    pub(super) backoff: Option<Vec<Dur>>,
    pub(super) max_ack_pending: Option<i64>,
    pub(super) late_ack: Option<nats::RawLateAck>,
    pub(super) nak_delay: Option<nats::RawNakDelay>,
    pub(super) duplicate_window: Option<Dur>,
    pub(super) msg_id: Option<bool>,
    pub(super) subjects: Option<Vec<String>>,
    pub(super) pending_msgs: Option<u64>,
    pub(super) pending_bytes: Option<u64>,
    // Pub/Sub only (resolved in config/pubsub.rs).
    pub(super) ack_deadline: Option<Dur>,
    pub(super) retry_policy: Option<pubsub::RawRetryPolicy>,
    pub(super) max_delivery_attempts: Option<u32>,
    pub(super) exactly_once_delivery: Option<bool>,
    pub(super) message_ordering: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkers {
    pub(super) name: String,
    /// The queue the group consumes (required with several queues).
    pub(super) queue: Option<String>,
    pub(super) handler: Option<RawHandler>,
    pub(super) count: Option<u64>,
    pub(super) concurrency: Option<u64>,
    pub(super) start_at: Option<Dur>,
    pub(super) receive: Option<RawReceive>,
    pub(super) heartbeat: Option<RawHeartbeat>,
    pub(super) on_failure: Option<RawOnFailure>,
    pub(super) crash: Option<RawCrash>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReceive {
    pub(super) max: Option<u64>,
    pub(super) wait: Option<Dur>,
    pub(super) visibility_timeout: Option<Dur>,
    pub(super) idle_backoff: Option<Dur>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawHeartbeatKind {
    None,
    Fixed,
    Adaptive,
    PubsubLease,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeartbeat {
    pub(super) kind: Option<RawHeartbeatKind>,
    pub(super) interval: Option<DurOrOff>,
    pub(super) extend: Option<Dur>,
    pub(super) multiple: Option<f64>,
    pub(super) min_extend: Option<Dur>,
    // pubsub_lease only: the client's FlowControl.
    pub(super) max_lease_duration: Option<Dur>,
    pub(super) max_messages: Option<u32>,
    pub(super) min_extension: Option<Dur>,
    pub(super) max_extension: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawOnFailure {
    Expire,
    Release,
    Backoff { base: Dur, max: Dur },
    Term,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrash {
    pub(super) mtbf: Option<Dur>,
    pub(super) restart_delay: Option<Dur>,
    pub(super) at: Option<Vec<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHandler {
    pub(super) steps: Option<Vec<RawStep>>,
    /// Shorthand for a single delay step.
    pub(super) duration: Option<RawDist>,
    pub(super) effect_step: Option<usize>,
    pub(super) fail_probability: Option<f64>,
    pub(super) poison_fraction: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) delay: Option<RawDist>,
    pub(super) call: Option<String>,
    pub(super) effect: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDependency {
    pub(super) name: String,
    pub(super) latency: RawDist,
    pub(super) error_probability: Option<f64>,
    pub(super) timeout: Option<Dur>,
    #[serde(default)]
    pub(super) brownouts: Vec<RawBrownout>,
    #[serde(default)]
    pub(super) outages: Vec<RawOutage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBrownout {
    pub(super) from: Dur,
    pub(super) to: Dur,
    pub(super) latency_multiplier: Option<f64>,
    pub(super) error_probability: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawOutageMode {
    Error,
    Hang,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutage {
    pub(super) from: Dur,
    pub(super) to: Dur,
    pub(super) mode: Option<RawOutageMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub(super) loss: Option<f64>,
    pub(super) request_loss: Option<f64>,
    pub(super) response_loss: Option<f64>,
    pub(super) latency: Option<RawDist>,
    pub(super) timeout: Option<Dur>,
    pub(super) send: Option<RawLink>,
    pub(super) receive: Option<RawLink>,
    pub(super) delete: Option<RawLink>,
    pub(super) change_visibility: Option<RawLink>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub(super) loss: Option<f64>,
    pub(super) request_loss: Option<f64>,
    pub(super) response_loss: Option<f64>,
    pub(super) latency: Option<RawDist>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawStrategy {
    None,
    CheckThenMark,
    ClaimFirst,
    Atomic,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdempotency {
    pub(super) strategy: Option<RawStrategy>,
    pub(super) claim_ttl: Option<Dur>,
    pub(super) key_ttl: Option<Dur>,
    pub(super) latency: Option<RawDist>,
}
