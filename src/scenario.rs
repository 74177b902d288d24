//! A resolved scenario: plain data with every default filled in and every
//! value checked. The simulator core sees only these types, never TOML.
//! Defaults are listed next to each field; `config/` applies them.

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
    /// Every queue: the one `[queue]`, or the `[[queues]]` of a topology.
    pub queues: Vec<Queue>,
    /// SNS topics fanning out to queues (`[[topics]]`).
    pub topics: Vec<Topic>,
    /// Declared with `[[queues]]`: the summary reports each queue and the
    /// trace has a `queue` column. The one-queue `[queue]` form has neither.
    pub topology: bool,
    pub workers: Vec<WorkerGroup>,
    /// Lambda functions fed by an SQS event source mapping (`[[functions]]`).
    pub functions: Vec<Function>,
    pub handler: Handler,
    pub dependencies: Vec<Dependency>,
    pub network: Network,
    pub idempotency: Idempotency,
}

impl Scenario {
    /// The first queue: the only one of a `[queue]` scenario.
    pub fn queue(&self) -> &Queue {
        &self.queues[0]
    }

    /// Configuration advice that is not an error (the summary's `warnings`).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for q in &self.queues {
            if q.max_receive_count == Some(1) {
                out.push(format!(
                    "queue {}: maxReceiveCount = 1 moves a message to the DLQ after one receive, even one that never \
                     reached a consumer (a lost response, a crash); AWS advises a higher count",
                    q.name
                ));
            }
        }
        for f in &self.functions {
            let q = &self.queues[f.queue];
            if q.visibility_timeout_ns < 6 * f.timeout_ns {
                out.push(format!(
                    "function {}: the visibility timeout of queue `{}` ({}) is below 6x the function timeout (6 x {} = {}); \
                     AWS recommends at least 6x, so that a batch retried after throttles or errors, or held by a \
                     batching window, is not received again while it still runs",
                    f.name,
                    q.name,
                    crate::duration::format_human(q.visibility_timeout_ns),
                    crate::duration::format_human(f.timeout_ns),
                    crate::duration::format_human(6 * f.timeout_ns)
                ));
            }
        }
        out
    }
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
    /// Retries of a send whose request or response was lost (or throttled). Default 3.
    pub max_send_retries: u32,
    /// Where the producer sends: a queue or a topic. Default: the only queue.
    pub target: Target,
    /// Message attributes (for SNS filter policies), drawn per logical message.
    pub attributes: Vec<Attribute>,
    /// The NATS subject published to; None: whatever the queue captures.
    pub subject: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Queue(usize),
    Topic(usize),
    /// A NATS subject: every NATS queue of the scenario gets the publish
    /// (streams that do not capture it count it as lost, subscriptions
    /// whose subjects do not match never see it).
    Subject,
}

/// A message attribute the producer sets, drawn from the message's logical
/// key by a stateless hash (a retry carries the same attributes).
#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    /// Probability that a message carries the attribute at all. Default 1.
    pub present: f64,
    pub values: AttributeValues,
}

#[derive(Debug, Clone)]
pub enum AttributeValues {
    /// String values with cumulative probabilities (the last is 1).
    Choice(Vec<(String, f64)>),
    /// A number drawn uniformly from [low, high).
    Uniform { low: f64, high: f64 },
}

/// Which receipt handles DeleteMessage accepts (docs/model.md, "Delete").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePolicy {
    /// Only the newest handle deletes; an older one "succeeds" and the message stays.
    LatestOnly,
    /// Any handle ever issued for the message deletes it (observed on AWS).
    AnyHandle,
    /// A handle whose visibility window has passed is rejected (ReceiptHandleIsInvalid).
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    SqsStandard,
    SqsFifo,
    /// A NATS JetStream stream with one pull consumer (docs/model.md, "NATS JetStream").
    JetStream,
    /// A core NATS push subscription (docs/model.md, "Core NATS").
    NatsCore,
    /// A Google Cloud Pub/Sub subscription (docs/model.md, "Google Cloud Pub/Sub").
    Pubsub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deduplication {
    /// The producer sets one MessageDeduplicationId per logical message (retries share it).
    MessageId,
    /// ContentBasedDeduplication: SHA-256 of the body, the same for a retry.
    Content,
    /// A fresh id per send attempt (a UUID made in the retry loop): nothing is removed.
    PerAttempt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupScope {
    Queue,
    MessageGroup,
}

/// SQS FIFO settings (docs/model.md, "SQS FIFO"); ignored by Standard queues.
#[derive(Debug, Clone)]
pub struct Fifo {
    /// Number of message groups; each logical message's group is drawn from
    /// its key. Default 1.
    pub groups: u32,
    /// Zipf exponent of group popularity (0 = uniform). Default 0.
    pub group_skew: f64,
    pub deduplication: Deduplication,
    pub dedup_scope: DedupScope,
    /// Deduplication interval. Fixed at 5m by SQS.
    pub dedup_window_ns: Nanos,
    /// API calls per second per action (send, receive, delete); 0 = unlimited.
    /// Default 300, or 70,000 in high-throughput mode.
    pub api_limit_per_s: u32,
    /// How long the client waits before retrying a throttled call. Default 100ms.
    pub throttle_retry_ns: Nanos,
}

/// Which receipt handles ChangeMessageVisibility accepts while the message is
/// in flight (docs/model.md, "Change visibility").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeVisibilityPolicy {
    /// Any handle ever issued changes the current lease (observed on AWS).
    AnyHandle,
    /// Only the newest handle; an older one changes nothing.
    LatestOnly,
}

/// The order in which a receive takes visible messages (docs/model.md,
/// "Receive").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibleOrder {
    /// Lowest message id (first send) first: a message whose lease expired
    /// goes back ahead of newer ones.
    OldestSent,
    /// In the order messages became visible (sent, delay ended, lease ended,
    /// released): a returning message queues behind the backlog.
    BecameVisible,
}

#[derive(Debug, Clone)]
pub struct Queue {
    /// `queue` for the one-queue form, else the `[[queues]]` name.
    pub name: String,
    pub kind: QueueKind,
    /// Default visibility timeout, 0..=12h. Default 30s.
    pub visibility_timeout_ns: Nanos,
    /// Retention period, 1m..=14d. Default 4d.
    pub retention_ns: Nanos,
    /// maxReceiveCount of the redrive policy, 1..=1000; None: no DLQ.
    pub max_receive_count: Option<u32>,
    /// Default `any_handle`.
    pub delete_policy: DeletePolicy,
    /// Default `any_handle`.
    pub change_visibility_policy: ChangeVisibilityPolicy,
    /// Default `oldest_sent`.
    pub visible_order: VisibleOrder,
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
    pub fifo: Fifo,
    /// JetStream and core NATS settings (ignored by SQS queues).
    pub nats: Nats,
    /// Pub/Sub subscription settings (`kind = "pubsub"`; default elsewhere).
    pub pubsub: PubSub,
}

/// What a stale delivery's +ACK, +WPI or -NAK does (docs/model.md, "NATS JetStream").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateAck {
    /// The server matches by stream sequence: it acts on the newest delivery.
    BySequence,
    /// Only the newest delivery's reply counts (for comparison).
    Ignored,
}

/// Where a -NAK with a delay puts the redelivery under a BackOff list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakDelay {
    /// The server: at delay + `BackOff[n-1] - BackOff[0]` (n deliveries so far).
    Shifted,
    /// The documentation's reading: at delay.
    Plain,
}

/// JetStream consumer and stream settings, and core NATS subscription limits.
#[derive(Debug, Clone)]
pub struct Nats {
    /// AckWait. Default 30s (becomes `BackOff[0]` when `backoff` is given).
    pub ack_wait_ns: Nanos,
    /// MaxDeliver; None: unlimited (-1, the default).
    pub max_deliver: Option<u32>,
    /// BackOff: delivery n waits backoff[min(n-1, len-1)]. Default empty.
    pub backoff_ns: Vec<Nanos>,
    /// MaxAckPending; 0: unlimited. Default 1000.
    pub max_ack_pending: u64,
    /// Default `by_sequence`.
    pub late_ack: LateAck,
    /// Default `shifted` (the server's behaviour).
    pub nak_delay: NakDelay,
    /// Publish deduplication window by Nats-Msg-Id. Default 2m.
    pub duplicate_window_ns: Nanos,
    /// The producer sets Nats-Msg-Id (one per logical message). Default true.
    pub msg_id: bool,
    /// The stream's (or subscription's) subjects, with `*` and `>` wildcards. Default [">"].
    pub subjects: Vec<String>,
    /// Whether `subjects` capture the producer's subject (resolved by config). Default true.
    pub captures_producer: bool,
    /// Core NATS: pending message limit per subscription. Default 500,000.
    pub pending_msgs: u64,
    /// Core NATS: pending byte limit per subscription. Default 64 MiB.
    pub pending_bytes: u64,
    /// Size of each message (the producer's `payload_bytes`), for byte limits.
    pub payload_bytes: u64,
}

impl Default for Nats {
    fn default() -> Nats {
        Nats {
            ack_wait_ns: 30_000_000_000,
            max_deliver: None,
            backoff_ns: Vec::new(),
            max_ack_pending: 1000,
            late_ack: LateAck::BySequence,
            nak_delay: NakDelay::Shifted,
            duplicate_window_ns: 120_000_000_000,
            msg_id: true,
            subjects: vec![">".to_string()],
            captures_producer: true,
            pending_msgs: 500_000,
            pending_bytes: 64 << 20,
            payload_bytes: 1024,
        }
    }
}

impl Nats {
    /// The AckWait step of delivery `n` (1-based): BackOff[min(n-1, len-1)], else AckWait.
    pub fn step_ns(&self, n: u32) -> Nanos {
        match self.backoff_ns.len() {
            0 => self.ack_wait_ns,
            len => self.backoff_ns[(n.max(1) as usize - 1).min(len - 1)],
        }
    }
}

/// A Pub/Sub subscription's own settings (docs/model.md, "Google Cloud
/// Pub/Sub"). The ack deadline is `visibility_timeout_ns` (10s..600s, default
/// 10s), `max_delivery_attempts` is `max_receive_count` (5..100), the number
/// of ordering keys is `fifo.groups`.
#[derive(Debug, Clone, Default)]
pub struct PubSub {
    /// The retry policy's exponential backoff (min, max); None: immediate
    /// redelivery. Default None; `exponential` defaults to 10s / 600s.
    pub retry_backoff_ns: Option<(Nanos, Nanos)>,
    /// Exactly-once delivery: only the latest ack id acks or modAcks, and
    /// only while its deadline runs. Default false.
    pub exactly_once: bool,
    /// Message ordering: messages of one ordering key are delivered in
    /// order, and a redelivery replays the key's later messages. Default false.
    pub ordering: bool,
}

/// An SNS topic (docs/model.md, "SNS").
#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    /// A FIFO topic: 5-minute publish deduplication, only FIFO semantics.
    pub fifo: bool,
    pub subscriptions: Vec<Subscription>,
    /// Standard topics: probability that a delivery to a queue is made twice. Default 0.
    pub duplicate_probability: f64,
    /// Probability that one delivery attempt to a queue fails (retried by
    /// the SNS delivery policy). Default 0.
    pub delivery_failure: f64,
    /// Time from publish to the queue's SendMessage. Default constant 0.
    pub delivery_latency: Dist,
    /// USD per million publishes. Default 0.50.
    pub price_per_million_usd: f64,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub queue: usize,
    /// AND across keys; an empty policy matches every message.
    pub filter: Vec<FilterKey>,
}

/// One key of a filter policy: the message matches if any condition holds (OR).
#[derive(Debug, Clone)]
pub struct FilterKey {
    /// Index into `producer.attributes`.
    pub attribute: usize,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Str(String),
    Num(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Exact(FilterValue),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(Vec<FilterValue>),
    /// Every comparison must hold (a range).
    Numeric(Vec<(Compare, f64)>),
    Exists(bool),
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
    /// The Pub/Sub client's lease management (`lease.rs`): modAck each
    /// outstanding message at receipt and every 0.9 x deadline, the deadline
    /// being the p99 of observed ack latencies clamped to 10s..600s, until
    /// `max_lease_ns` after receipt; at most `max_messages` outstanding.
    PubsubLease(PubsubLease),
}

/// The Pub/Sub client's FlowControl settings (python-pubsub types.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubsubLease {
    /// max_lease_duration. Default 60m.
    pub max_lease_ns: Nanos,
    /// max_messages outstanding per client. Default 1000.
    pub max_messages: u32,
    /// min_duration_per_lease_extension. Default 0 (off), 60s with exactly-once delivery.
    pub min_extension_ns: Nanos,
    /// max_duration_per_lease_extension; 0 = off. Default 0.
    pub max_extension_ns: Nanos,
}

#[derive(Debug, Clone)]
pub enum FailurePolicy {
    /// Leave the message to return when its visibility ends (default).
    Expire,
    /// ChangeMessageVisibility(0): the message returns at once.
    Release,
    /// ChangeMessageVisibility(min(base * 2^(receive-1), max)); on JetStream
    /// a -NAK with that delay.
    Backoff { base_ns: Nanos, max_ns: Nanos },
    /// JetStream +TERM: stop redelivering the message.
    Term,
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
    /// Index of the queue the group consumes.
    pub queue: usize,
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
    /// The group's own handler (`[workers.handler]`); None: the scenario's `[handler]`.
    pub handler: Option<Handler>,
}

/// An AWS Lambda function consuming a queue through an SQS event source
/// mapping (docs/model.md, "Lambda event source mapping").
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    /// Index of the queue the mapping reads.
    pub queue: usize,
    /// BatchSize: records per invocation. Default 10; 1..=10, up to 10,000
    /// on Standard with a batching window of at least 1s.
    pub batch_size: u32,
    /// MaximumBatchingWindowInSeconds, 0..=300s (Standard only). Default 0.
    pub batching_window_ns: Nanos,
    /// The function timeout, 1s..=15m. Default 3s. At most the queue's VT.
    pub timeout_ns: Nanos,
    /// Memory, 128..=10,240 MB (for GB-seconds). Default 128.
    pub memory_mb: u32,
    /// ScalingConfig.MaximumConcurrency, 2..=1000; None: up to the account limit.
    pub maximum_concurrency: Option<u32>,
    /// Reserved concurrency of the function; None: the account limit.
    pub reserved_concurrency: Option<u32>,
    /// Concurrent executions of the account. Default 1000.
    pub account_limit: u32,
    /// Concurrent batches the mapping starts with. Default 5.
    pub initial_concurrency: u32,
    /// Concurrent batches added per minute while messages are available. Default 300.
    pub scale_per_minute: u32,
    /// FunctionResponseTypes = ReportBatchItemFailures. Default false.
    pub report_batch_item_failures: bool,
    /// How long a throttled invocation waits before the mapping retries it. Default 1s.
    pub throttle_retry_ns: Nanos,
    /// The function's own handler (`[functions.handler]`); None: the scenario's `[handler]`.
    pub handler: Option<Handler>,
    /// The mapping is enabled at this time. Default 0.
    pub start_at_ns: Nanos,
    /// USD per million requests (invocations). Default 0.20.
    pub price_per_million_requests_usd: f64,
    /// USD per GB-second of duration. Default 0.0000166667.
    pub price_per_gb_second_usd: f64,
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
