//! A resolved scenario: plain data with every default filled in and every
//! value checked. The simulator core sees only these types, never TOML.
//! Defaults are listed next to each field; `config.rs` applies them.

use crate::dist::Dist;
use crate::duration::Nanos;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Master seed; every component stream derives from it. Default 1.
    pub seed: u64,
    pub run: RunSettings,
    pub producer: Producer,
    pub queue: Queue,
    pub workers: Vec<WorkerGroup>,
    pub handler: Handler,
    pub dependencies: Vec<Dependency>,
    pub network: Network,
    pub idempotency: Idempotency,
}

#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Messages the producer sends (logical messages). Default: from arrivals.
    pub messages: Option<u64>,
    /// The producer stops after this long.
    pub duration_ns: Option<Nanos>,
    /// The run stops here; messages still in flight or visible are reported so. Default 30d.
    pub max_sim_time_ns: Nanos,
    /// A run processing more events stops with an error. Default 2e9.
    pub max_events: u64,
    /// A run holding more live messages stops with an error. Default 20,000,000.
    pub max_live_messages: u64,
    /// Width of the time-series buckets in the summary. Default 60s.
    pub bucket_ns: Nanos,
    /// A run whose estimated memory (`limits.rs`) grows past this many
    /// bytes stops with an error. Default 4 GiB.
    pub max_memory: u64,
    /// A run taking longer than this in wall-clock time stops with an
    /// error. Default: no limit.
    pub max_wall_ns: Option<Nanos>,
}

#[derive(Debug, Clone)]
pub enum Arrival {
    /// One message every `interval_ns`, the first at 0.
    Constant { interval_ns: Nanos },
    /// Exponential gaps with this rate (per second), the first at 0.
    Poisson { rate_per_s: f64 },
    /// Exactly these send times.
    Scripted { at_ns: Vec<Nanos> },
}

#[derive(Debug, Clone)]
pub struct Producer {
    pub arrival: Arrival,
    /// DelaySeconds on each send, 0..=15m. Default 0.
    pub delay_ns: Nanos,
    /// Payload size, for cost (one request per 64 KiB). Default 1024.
    pub payload_bytes: u64,
    /// Retries of a send whose request or response was lost. Default 3.
    pub max_send_retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePolicy {
    LatestOnly,
    AnyHandle,
    Strict,
}

#[derive(Debug, Clone)]
pub struct Queue {
    /// Default visibility timeout, 0..=12h. Default 30s.
    pub visibility_timeout_ns: Nanos,
    /// Retention period, 1m..=14d. Default 4d.
    pub retention_ns: Nanos,
    /// maxReceiveCount of the redrive policy, 1..=1000; None: no DLQ.
    pub max_receive_count: Option<u32>,
    pub delete_policy: DeletePolicy,
    /// Probability that a short poll returns empty although messages exist. Default 0.
    pub short_poll_miss: f64,
    /// Probability per delete that a replica misses it. Default 0.
    pub broker_duplicate: f64,
    /// In-flight messages at most. Default 120,000.
    pub inflight_limit: u64,
    /// USD per million requests. Default 0.40.
    pub price_per_million_usd: f64,
    /// Times at which every DLQ message is moved back to the queue.
    pub redrive_at_ns: Vec<Nanos>,
}

#[derive(Debug, Clone)]
pub enum Heartbeat {
    None,
    /// Every `interval_ns`, extend visibility to now + `extend_ns`.
    Fixed {
        interval_ns: Nanos,
        extend_ns: Nanos,
    },
    /// Every `interval_ns`, extend to now + max(min_extend, multiple x observed p99 of processing).
    Adaptive {
        interval_ns: Nanos,
        multiple: f64,
        min_extend_ns: Nanos,
    },
}

#[derive(Debug, Clone)]
pub enum FailurePolicy {
    /// Leave the message to return when its visibility ends (default).
    Expire,
    /// ChangeMessageVisibility(0): the message returns at once.
    Release,
    /// ChangeMessageVisibility(min(base * 2^(receive-1), max)).
    Backoff { base_ns: Nanos, max_ns: Nanos },
}

#[derive(Debug, Clone)]
pub struct Receive {
    /// MaxNumberOfMessages, 1..=10. Default 10 (capped by free slots).
    pub max: u32,
    /// WaitTimeSeconds, 0..=20s. Default 20s.
    pub wait_ns: Nanos,
    /// Per-receive VisibilityTimeout override.
    pub visibility_timeout_ns: Option<Nanos>,
    /// Pause after an empty short poll. Default 1s.
    pub idle_backoff_ns: Nanos,
}

#[derive(Debug, Clone)]
pub struct Crash {
    /// Mean time between crashes (exponential); None: no random crashes.
    pub mtbf_ns: Option<Nanos>,
    /// Default 10s.
    pub restart_delay_ns: Nanos,
    /// Scripted crash times.
    pub at_ns: Vec<Nanos>,
}

#[derive(Debug, Clone)]
pub struct WorkerGroup {
    pub name: String,
    /// Default 1.
    pub count: u32,
    /// Slots per worker. Default 1.
    pub concurrency: u32,
    /// Default 0.
    pub start_at_ns: Nanos,
    pub receive: Receive,
    pub heartbeat: Heartbeat,
    pub on_failure: FailurePolicy,
    pub crash: Crash,
}

#[derive(Debug, Clone)]
pub enum Step {
    Delay(Dist),
    Call { dependency: usize },
}

#[derive(Debug, Clone)]
pub struct Handler {
    pub steps: Vec<Step>,
    /// The step whose completion commits the side effect. Default: the last.
    pub effect_step: usize,
    /// Probability that an attempt fails at its end (handler error). Default 0.
    pub fail_probability: f64,
    /// Fraction of logical keys whose every attempt fails. Default 0.
    pub poison_fraction: f64,
}

#[derive(Debug, Clone)]
pub struct Window {
    pub from_ns: Nanos,
    pub to_ns: Nanos,
}

#[derive(Debug, Clone)]
pub struct Brownout {
    pub window: Window,
    /// Latency multiplier inside the window. Default 1.
    pub latency_multiplier: f64,
    /// Extra error probability inside the window. Default 0.
    pub error_probability: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageMode {
    /// Calls fail at once.
    Error,
    /// Calls hang until the client timeout.
    Hang,
}

#[derive(Debug, Clone)]
pub struct Outage {
    pub window: Window,
    pub mode: OutageMode,
}

#[derive(Debug, Clone)]
pub struct Dependency {
    pub name: String,
    pub latency: Dist,
    /// Default 0.
    pub error_probability: f64,
    /// Client timeout; None: wait forever.
    pub timeout_ns: Option<Nanos>,
    pub brownouts: Vec<Brownout>,
    pub outages: Vec<Outage>,
}

/// Network behaviour of one kind of API call.
#[derive(Debug, Clone)]
pub struct Link {
    pub request_loss: f64,
    pub response_loss: f64,
    /// One-way latency of each leg. Default constant 0.
    pub latency: Dist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    Send = 0,
    Receive = 1,
    Delete = 2,
    ChangeVisibility = 3,
}

#[derive(Debug, Clone)]
pub struct Network {
    /// Indexed by [`ApiKind`].
    pub links: [Link; 4],
    /// A caller whose request or response is lost notices after this long
    /// (receives: after wait + timeout). Default 5s.
    pub timeout_ns: Nanos,
}

impl Network {
    pub fn is_ideal(&self) -> bool {
        self.links.iter().all(|l| l.request_loss == 0.0 && l.response_loss == 0.0 && l.latency == Dist::Constant(0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    None,
    CheckThenMark,
    ClaimFirst,
    Atomic,
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    pub strategy: Strategy,
    /// How long a claim holds (claim_first). Default 5m.
    pub claim_ttl_ns: Nanos,
    /// Marks are forgotten this long after they are written; None: never. Default None.
    pub key_ttl_ns: Option<Nanos>,
    /// Latency of each store operation. Default constant 0.
    pub latency: Dist,
}
