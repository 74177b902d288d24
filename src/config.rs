//! Scenario files: TOML text to a checked [`Scenario`].
//!
//! Three layers: `RawScenario` (serde, unknown keys rejected, durations
//! parsed), `--set` overrides applied to the TOML tree by dotted path, and
//! `resolve` (defaults, ranges, cross-references). Every error names the file,
//! line and column of the offending value, or the `--set` flag that set it.

use crate::dist::Dist;
use crate::duration::{self, Nanos, NS_PER_S};
use crate::error::{InputError, Location};
use crate::observed::Unit;
use crate::scenario::*;
use crate::spans::Item;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

mod functions;
mod nats;
mod pubsub;
mod topology;

/// A scenario file as read: its text, its TOML tree, and where each value stands.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub table: toml::Table,
    spans: Item,
}

/// A `--set path=value` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: String,
}

impl Override {
    /// Parse `path=value`.
    pub fn parse(flag: &str) -> Result<Override, InputError> {
        match flag.split_once('=') {
            Some((p, v)) if !p.trim().is_empty() => Ok(Override { path: p.trim().into(), value: v.trim().into() }),
            _ => {
                Err(InputError::flag(format!("--set {flag}"), "expected path=value, e.g. queue.visibility_timeout=45s"))
            }
        }
    }

    fn flag(&self) -> String {
        format!("--set {}={}", self.path, self.value)
    }
}

impl Source {
    /// Read and parse a scenario file (syntax and schema are checked here).
    pub fn load(path: &Path) -> Result<Source, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| InputError::path(path, format!("cannot read: {e}")))?;
        Source::from_text(path, text)
    }

    pub fn from_text(path: &Path, text: String) -> Result<Source, InputError> {
        let toml_err = |e: toml::de::Error| {
            let span = refine_span(&text, e.span(), e.message());
            InputError::at_span(path, &text, span, crate::wording::humanize(e.message()))
        };
        let table: toml::Table = toml::from_str(&text).map_err(toml_err)?;
        let spans = Item::parse(&text).map_err(toml_err)?;
        let _: RawScenario = toml::from_str(&text).map_err(toml_err)?;
        Ok(Source { path: path.to_path_buf(), text, table, spans })
    }

    /// The scenario's name (for reports), before resolution.
    pub fn name(&self) -> String {
        match self.table.get("name") {
            Some(toml::Value::String(s)) => s.clone(),
            _ => self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }

    /// Resolve with overrides (and an optional seed override).
    pub fn resolve(&self, overrides: &[Override], seed: Option<u64>) -> Result<Scenario, InputError> {
        let mut table = self.table.clone();
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let raw: RawScenario = if overrides.is_empty() {
            toml::from_str(&self.text).map_err(|e| self.span_error(e.span(), crate::wording::humanize(e.message())))?
        } else {
            RawScenario::deserialize(toml::Value::Table(table)).map_err(|e| {
                let flags: Vec<String> = overrides.iter().map(Override::flag).collect();
                InputError::flag(flags.join(" "), crate::wording::humanize(e.message()))
            })?
        };
        let ctx = Ctx { source: self, overrides };
        let mut scenario = resolve(&ctx, raw)?;
        if let Some(seed) = seed {
            scenario.seed = seed;
        }
        Ok(scenario)
    }

    fn span_error(&self, span: Option<Range<usize>>, message: String) -> InputError {
        InputError::at_span(&self.path, &self.text, span, message)
    }

    /// The file's TOML tree with the span of every key and value.
    pub(crate) fn spans(&self) -> &Item {
        &self.spans
    }

    /// The span of the value at a dotted path such as `workers[1].receive.max`.
    pub fn span_of(&self, path: &str) -> Option<Range<usize>> {
        self.spans.lookup(path)?.span.clone()
    }

    /// An input error at the value at `path`.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> InputError {
        self.span_error(self.span_of(path).or_else(|| self.span_of(parent(path))), message.into())
    }
}

/// toml reports an unknown field at its table; point at the key itself.
fn refine_span(text: &str, span: Option<Range<usize>>, message: &str) -> Option<Range<usize>> {
    let span = span?;
    let Some(name) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) else {
        return Some(span);
    };
    let region = &text[span.start.min(text.len())..span.end.min(text.len())];
    let mut offset = 0;
    for line in region.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('=')) {
            let start = span.start + offset + indent;
            return Some(start..start + name.len());
        }
        if let Some(i) = line.find(&format!("{name} =")).or_else(|| line.find(&format!("{name}="))) {
            let start = span.start + offset + i;
            return Some(start..start + name.len());
        }
        offset += line.len();
    }
    Some(span)
}

fn parent(path: &str) -> &str {
    path.rfind(['.', '[']).map_or("", |i| &path[..i])
}

// ---------------------------------------------------------------- overrides

/// Set `o.path` in the TOML tree. In an array of tables (`workers`), the next
/// segment may be an index (`workers.0.count`), a `name` (`workers.B.count`),
/// or neither, and then the change applies to every element.
pub fn apply_override(table: &mut toml::Table, o: &Override) -> Result<(), InputError> {
    let value = parse_override_value(&o.value);
    let parts: Vec<&str> = o.path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(InputError::flag(o.flag(), "empty segment in the dotted path"));
    }
    set_in_table(table, &parts, &value).map_err(|m| InputError::flag(o.flag(), m))
}

fn parse_override_value(text: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(text.into())),
        Err(_) => toml::Value::String(text.into()),
    }
}

fn set_in_table(table: &mut toml::Table, parts: &[&str], value: &toml::Value) -> Result<(), String> {
    let (first, rest) = (parts[0], &parts[1..]);
    if rest.is_empty() {
        table.insert(first.into(), value.clone());
        return Ok(());
    }
    let entry = table.entry(first).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(entry, first, rest, value)
}

fn set_in_value(target: &mut toml::Value, name: &str, rest: &[&str], value: &toml::Value) -> Result<(), String> {
    match target {
        toml::Value::Table(t) => set_in_table(t, rest, value),
        toml::Value::Array(items) => {
            let selector = rest[0];
            if let Ok(i) = selector.parse::<usize>() {
                let len = items.len();
                let item = items.get_mut(i).ok_or(format!("`{name}` has {len} entries; index {i} is out of range"))?;
                return descend(item, name, &rest[1..], value);
            }
            let by_name = items.iter().position(|v| v.get("name").and_then(|n| n.as_str()) == Some(selector));
            match by_name {
                Some(i) => descend(&mut items[i], name, &rest[1..], value),
                None => items.iter_mut().try_for_each(|item| descend(item, name, rest, value)),
            }
        }
        _ => Err(format!("`{name}` is a value, not a table; cannot set `{}` inside it", rest.join("."))),
    }
}

fn descend(item: &mut toml::Value, name: &str, rest: &[&str], value: &toml::Value) -> Result<(), String> {
    if rest.is_empty() {
        *item = value.clone();
        Ok(())
    } else {
        set_in_value(item, name, rest, value)
    }
}

// ---------------------------------------------------------------- raw schema

/// A duration string ("30s").
#[derive(Debug, Clone, Copy)]
struct Dur(Nanos);

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
struct DurOrOff(Option<Nanos>);

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
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    seed: Option<u64>,
    #[serde(default)]
    run: RawRun,
    producer: RawProducer,
    queue: Option<RawQueue>,
    /// A topology: several named queues (instead of `[queue]`).
    queues: Option<Vec<RawQueue>>,
    #[serde(default)]
    topics: Vec<topology::RawTopic>,
    #[serde(default)]
    workers: Vec<RawWorkers>,
    /// Lambda functions fed by an SQS event source mapping.
    #[serde(default)]
    functions: Vec<functions::RawFunction>,
    handler: RawHandler,
    #[serde(default)]
    dependencies: Vec<RawDependency>,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    idempotency: RawIdempotency,
    /// Read by `sweep.rs`.
    #[allow(dead_code)]
    sweep: Option<toml::Value>,
    /// Read by `expect.rs`.
    #[allow(dead_code)]
    expect: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    messages: Option<u64>,
    duration: Option<Dur>,
    max_sim_time: Option<Dur>,
    max_events: Option<u64>,
    max_live_messages: Option<u64>,
    timeseries_bucket: Option<Dur>,
    max_memory: Option<Size>,
    max_wall_time: Option<Dur>,
}

/// A memory size: "4GiB", "512MiB" or a number of bytes.
#[derive(Debug, Clone, Copy)]
struct Size(u64);

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
struct RawProducer {
    arrival: RawArrival,
    delay: Option<Dur>,
    payload_bytes: Option<u64>,
    max_send_retries: Option<u64>,
    /// Send to this queue (by name) ...
    queue: Option<String>,
    /// ... or publish to this topic.
    topic: Option<String>,
    attributes: Option<std::collections::BTreeMap<String, topology::RawAttribute>>,
    /// The NATS subject published to (matched against `queue.subjects`).
    subject: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawArrival {
    Constant { rate: Option<f64>, interval: Option<Dur> },
    Poisson { rate: f64 },
    Scripted { at: Vec<Dur> },
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawQueueKind {
    SqsStandard,
    SqsFifo,
    Jetstream,
    NatsCore,
    Pubsub,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawDeletePolicy {
    LatestOnly,
    AnyHandle,
    Strict,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawChangeVisibilityPolicy {
    AnyHandle,
    LatestOnly,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawVisibleOrder {
    OldestSent,
    BecameVisible,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    /// Required in `[[queues]]`.
    name: Option<String>,
    kind: Option<RawQueueKind>,
    visibility_timeout: Option<Dur>,
    retention: Option<Dur>,
    max_receive_count: Option<u64>,
    delete_policy: Option<RawDeletePolicy>,
    change_visibility_policy: Option<RawChangeVisibilityPolicy>,
    visible_order: Option<RawVisibleOrder>,
    short_poll_miss: Option<f64>,
    broker_duplicate: Option<f64>,
    inflight_limit: Option<u64>,
    price_per_million: Option<f64>,
    redrive_at: Option<Vec<Dur>>,
    // SQS FIFO only (resolved in config/topology.rs).
    groups: Option<u32>,
    group_skew: Option<f64>,
    deduplication: Option<topology::RawDeduplication>,
    deduplication_scope: Option<topology::RawDedupScope>,
    high_throughput: Option<bool>,
    api_limit_per_s: Option<u32>,
    throttle_retry: Option<Dur>,
    // JetStream and core NATS only (resolved in config/nats.rs).
    ack_wait: Option<Dur>,
    max_deliver: Option<i64>,
    backoff: Option<Vec<Dur>>,
    max_ack_pending: Option<i64>,
    late_ack: Option<nats::RawLateAck>,
    nak_delay: Option<nats::RawNakDelay>,
    duplicate_window: Option<Dur>,
    msg_id: Option<bool>,
    subjects: Option<Vec<String>>,
    pending_msgs: Option<u64>,
    pending_bytes: Option<u64>,
    // Pub/Sub only (resolved in config/pubsub.rs).
    ack_deadline: Option<Dur>,
    retry_policy: Option<pubsub::RawRetryPolicy>,
    max_delivery_attempts: Option<u32>,
    exactly_once_delivery: Option<bool>,
    message_ordering: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkers {
    name: String,
    /// The queue the group consumes (required with several queues).
    queue: Option<String>,
    handler: Option<RawHandler>,
    count: Option<u64>,
    concurrency: Option<u64>,
    start_at: Option<Dur>,
    receive: Option<RawReceive>,
    heartbeat: Option<RawHeartbeat>,
    on_failure: Option<RawOnFailure>,
    crash: Option<RawCrash>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceive {
    max: Option<u64>,
    wait: Option<Dur>,
    visibility_timeout: Option<Dur>,
    idle_backoff: Option<Dur>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawHeartbeatKind {
    None,
    Fixed,
    Adaptive,
    PubsubLease,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeat {
    kind: Option<RawHeartbeatKind>,
    interval: Option<DurOrOff>,
    extend: Option<Dur>,
    multiple: Option<f64>,
    min_extend: Option<Dur>,
    // pubsub_lease only: the client's FlowControl.
    max_lease_duration: Option<Dur>,
    max_messages: Option<u32>,
    min_extension: Option<Dur>,
    max_extension: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawOnFailure {
    Expire,
    Release,
    Backoff { base: Dur, max: Dur },
    Term,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrash {
    mtbf: Option<Dur>,
    restart_delay: Option<Dur>,
    at: Option<Vec<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandler {
    steps: Option<Vec<RawStep>>,
    /// Shorthand for a single delay step.
    duration: Option<RawDist>,
    effect_step: Option<usize>,
    fail_probability: Option<f64>,
    poison_fraction: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    delay: Option<RawDist>,
    call: Option<String>,
    effect: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    name: String,
    latency: RawDist,
    error_probability: Option<f64>,
    timeout: Option<Dur>,
    #[serde(default)]
    brownouts: Vec<RawBrownout>,
    #[serde(default)]
    outages: Vec<RawOutage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrownout {
    from: Dur,
    to: Dur,
    latency_multiplier: Option<f64>,
    error_probability: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawOutageMode {
    Error,
    Hang,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutage {
    from: Dur,
    to: Dur,
    mode: Option<RawOutageMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    loss: Option<f64>,
    request_loss: Option<f64>,
    response_loss: Option<f64>,
    latency: Option<RawDist>,
    timeout: Option<Dur>,
    send: Option<RawLink>,
    receive: Option<RawLink>,
    delete: Option<RawLink>,
    change_visibility: Option<RawLink>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    loss: Option<f64>,
    request_loss: Option<f64>,
    response_loss: Option<f64>,
    latency: Option<RawDist>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawStrategy {
    None,
    CheckThenMark,
    ClaimFirst,
    Atomic,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdempotency {
    strategy: Option<RawStrategy>,
    claim_ttl: Option<Dur>,
    key_ttl: Option<Dur>,
    latency: Option<RawDist>,
}

/// A distribution: a table with `kind`, or a bare duration for a constant.
#[derive(Debug, Clone)]
enum RawDist {
    Tagged(RawDistKind),
    Constant(Dur),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawDistKind {
    Constant {
        value: Dur,
    },
    Sequence {
        values: Vec<Dur>,
    },
    Uniform {
        low: Dur,
        high: Dur,
    },
    Exponential {
        mean: Dur,
    },
    Lognormal {
        median: Dur,
        p99: Dur,
    },
    Pareto {
        scale: Dur,
        shape: f64,
    },
    /// A CSV file (relative to the scenario) whose `column` (default the
    /// first) holds observed latencies in seconds.
    Empirical {
        file: String,
        column: Option<String>,
    },
}

impl<'de> Deserialize<'de> for RawDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDist;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration (\"20s\") or a table such as { kind = \"lognormal\", median = \"20s\", p99 = \"45s\" } with kind constant, sequence, uniform, exponential, lognormal, pareto or empirical")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawDist, E> {
                duration::parse(s).map(|n| RawDist::Constant(Dur(n))).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDist, A::Error> {
                RawDistKind::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawDist::Tagged)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------- resolve

struct Ctx<'a> {
    source: &'a Source,
    overrides: &'a [Override],
}

impl Ctx<'_> {
    /// An error about the value at `path`: located in the file, or at the
    /// `--set` flag that changed it.
    /// A value the file does not write, but that a `--set` of a sibling
    /// or parent key decides (`--set network.loss=2` sets
    /// `network.request_loss`), is blamed on that flag too.
    fn err(&self, path: &str, message: impl Into<String>) -> InputError {
        let message = message.into();
        let canon = canonical(path);
        for o in self.overrides {
            let op = canonical(&o.path);
            if canon.starts_with(&op) || op.starts_with(&canon) {
                return InputError::new(Location::Flag(o.flag()), format!("{path}: {message}"));
            }
        }
        if self.source.span_of(path).is_none() {
            let table = canonical(parent(path));
            let near = self.overrides.iter().rev().find(|o| {
                let op = canonical(&o.path);
                op.starts_with(&table) && (table.is_empty() || op[table.len()..].starts_with('.'))
            });
            if let Some(o) = near.filter(|_| !table.is_empty()) {
                return InputError::new(Location::Flag(o.flag()), format!("{path}: {message}"));
            }
        }
        let e = self.source.error_at(path, message.clone());
        InputError::new(e.location, format!("{path}: {message}"))
    }

    fn prob(&self, path: &str, v: Option<f64>, default: f64) -> Result<f64, InputError> {
        let p = v.unwrap_or(default);
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(self.err(path, format!("{p} is not a probability; expected a number from 0 to 1")))
        }
    }

    /// A duration from `lo` to `hi`; a `hi` at or past the longest duration
    /// a file can write is not shown ("expected at least 1s").
    fn range(&self, path: &str, v: Nanos, lo: Nanos, hi: Nanos) -> Result<Nanos, InputError> {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else if hi >= duration::MAX_NS {
            Err(self.err(
                path,
                format!(
                    "{} is out of range; expected at least {}",
                    duration::format_human(v),
                    duration::format_human(lo)
                ),
            ))
        } else {
            Err(self.err(
                path,
                format!(
                    "{} is out of range; expected {} to {}",
                    duration::format_human(v),
                    duration::format_human(lo),
                    duration::format_human(hi)
                ),
            ))
        }
    }

    fn count(&self, path: &str, v: Option<u64>, default: u64, lo: u64, hi: u64) -> Result<u64, InputError> {
        let n = v.unwrap_or(default);
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else if hi == u64::MAX {
            Err(self.err(path, format!("{n} is out of range; expected at least {lo}")))
        } else {
            Err(self.err(path, format!("{n} is out of range; expected {lo} to {hi}")))
        }
    }

    fn positive(&self, path: &str, v: f64) -> Result<f64, InputError> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(path, format!("{v} must be a positive number")))
        }
    }
}

/// `workers[1].x` and `workers.1.x` and `workers.B.x` compare by their
/// non-index segments only.
pub fn canonical(path: &str) -> String {
    path.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty() && s.parse::<usize>().is_err())
        .collect::<Vec<_>>()
        .join(".")
}

const H12: Nanos = 12 * 3_600 * NS_PER_S;
const MIN15: Nanos = 15 * 60 * NS_PER_S;
const DAY: Nanos = 86_400 * NS_PER_S;

fn resolve(ctx: &Ctx, raw: RawScenario) -> Result<Scenario, InputError> {
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
fn resolve_queue(ctx: &Ctx, at: &str, q: &RawQueue, name: &str) -> Result<Queue, InputError> {
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
fn resolve_handler(ctx: &Ctx, at: &str, h: &RawHandler, deps: &[Dependency]) -> Result<Handler, InputError> {
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

fn resolve_dist(ctx: &Ctx, path: &str, d: &RawDist) -> Result<Dist, InputError> {
    let kind = match d {
        RawDist::Constant(v) => return Ok(Dist::Constant(v.0)),
        RawDist::Tagged(k) => k,
    };
    Ok(match kind {
        RawDistKind::Constant { value } => Dist::Constant(value.0),
        RawDistKind::Sequence { values } => {
            if values.is_empty() {
                return Err(ctx.err(&format!("{path}.values"), "a sequence needs at least one value"));
            }
            Dist::Sequence { values: values.iter().map(|v| v.0).collect(), next: 0 }
        }
        RawDistKind::Uniform { low, high } => {
            if low.0 > high.0 {
                return Err(ctx.err(&format!("{path}.low"), "`low` must not exceed `high`"));
            }
            Dist::Uniform { low: low.0, high: high.0 }
        }
        RawDistKind::Exponential { mean } => {
            if mean.0 == 0 {
                return Err(ctx.err(&format!("{path}.mean"), "the mean must be positive"));
            }
            Dist::Exponential { mean_s: duration::as_secs_f64(mean.0) }
        }
        RawDistKind::Lognormal { median, p99 } => {
            if median.0 == 0 || p99.0 <= median.0 {
                return Err(ctx.err(&format!("{path}.p99"), "a lognormal needs 0 < median < p99"));
            }
            Dist::lognormal(median.0, p99.0)
        }
        RawDistKind::Pareto { scale, shape } => {
            if scale.0 == 0 {
                return Err(ctx.err(&format!("{path}.scale"), "the scale must be positive"));
            }
            Dist::Pareto {
                scale_s: duration::as_secs_f64(scale.0),
                shape: ctx.positive(&format!("{path}.shape"), *shape)?,
            }
        }
        RawDistKind::Empirical { file, column } => {
            let base = ctx.source.path.parent().unwrap_or(Path::new("."));
            let sorted = crate::observed::read_csv_column(&base.join(file), column.as_deref(), Some(Unit::Seconds))
                .map_err(|e| ctx.err(&format!("{path}.file"), e.to_string()))?;
            Dist::Empirical { sorted }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
[run]
messages = 10
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[[workers]]
name = "w"
count = 2
[handler]
duration = "1s"
"#;

    fn load(text: &str) -> Result<Source, InputError> {
        Source::from_text(Path::new("s.toml"), text.to_string())
    }

    #[test]
    fn minimal_scenario_gets_defaults() {
        let s = load(MINIMAL).unwrap().resolve(&[], None).unwrap();
        assert_eq!(s.queue().visibility_timeout_ns, 30 * NS_PER_S);
        assert_eq!(s.queue().retention_ns, 4 * DAY);
        assert_eq!(s.workers[0].receive.wait_ns, 20 * NS_PER_S);
        assert_eq!(s.queue().delete_policy, DeletePolicy::AnyHandle);
        assert_eq!(s.queue().change_visibility_policy, ChangeVisibilityPolicy::AnyHandle);
        assert_eq!(s.queue().visible_order, VisibleOrder::OldestSent);
        assert!(matches!(s.workers[0].heartbeat, Heartbeat::None));
    }

    #[test]
    fn unknown_key_is_located() {
        let text = MINIMAL.replace("count = 2", "count = 2\ncolour = \"red\"");
        let e = load(&text).unwrap_err();
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(matches!(e.location, Location::File { line: 10, column: 1, .. }), "{e:?}");
    }

    #[test]
    fn out_of_range_vt_is_located_at_its_value() {
        let text = MINIMAL.replace("[[workers]]", "[queue]\nvisibility_timeout = \"13h\"\n[[workers]]");
        let e = load(&text).unwrap().resolve(&[], None).unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        assert!(matches!(e.location, Location::File { line: 8, column: 22, .. }), "{e:?}");
    }

    #[test]
    fn overrides_set_values_and_errors_name_the_flag() {
        let src = load(MINIMAL).unwrap();
        let set = |s: &str| Override::parse(s).unwrap();
        let s = src.resolve(&[set("queue.visibility_timeout=45s"), set("workers.concurrency=4")], None).unwrap();
        assert_eq!(s.queue().visibility_timeout_ns, 45 * NS_PER_S);
        assert_eq!(s.workers[0].concurrency, 4);
        let s = src.resolve(&[set("workers.w.heartbeat.interval=10s"), set("workers.0.heartbeat.extend=20s")], None);
        assert!(matches!(s.unwrap().workers[0].heartbeat, Heartbeat::Fixed { .. }));
        let e = src.resolve(&[set("queue.visibility_timeout=-3s")], None).unwrap_err();
        assert!(matches!(&e.location, Location::Flag(f) if f.contains("visibility_timeout")), "{e:?}");
        let e = src.resolve(&[set("queue.colour=1")], None).unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn span_lookup_follows_arrays() {
        let src = load(MINIMAL).unwrap();
        let span = src.span_of("workers[0].count").unwrap();
        assert_eq!(&src.text[span], "2");
    }
}
