//! Scenario topology: several named queues (`[[queues]]`), SQS FIFO settings,
//! SNS topics with subscriptions and filter policies (`[[topics]]`), the
//! producer's target and message attributes, and the queue each worker group
//! consumes. Resolution follows the same rules as the rest of `config`:
//! every error names the file, line and column of the value, or the flag.

use super::context::Ctx;
use super::dist::{resolve_dist, RawDist};
use super::resolve::resolve_queue;
use super::schema::{RawProducer, RawQueue};
use crate::duration::NS_PER_S;
use crate::error::InputError;
use crate::scenario::*;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawDeduplication {
    MessageId,
    Content,
    PerAttempt,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawDedupScope {
    Queue,
    MessageGroup,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAttribute {
    /// String values and their probabilities (summing to 1).
    values: Option<BTreeMap<String, f64>>,
    /// A number drawn uniformly from [low, high).
    uniform: Option<[f64; 2]>,
    /// Probability that a message carries the attribute. Default 1.
    present: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTopic {
    name: String,
    fifo: Option<bool>,
    #[serde(default)]
    subscriptions: Vec<RawSubscription>,
    duplicate_probability: Option<f64>,
    delivery_failure: Option<f64>,
    delivery_latency: Option<RawDist>,
    price_per_million: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    queue: String,
    filter: Option<toml::Table>,
}

/// Most message groups a FIFO queue may be given.
const MAX_GROUPS: u64 = 1_000_000;

/// `[[queues]]`: names are required and unique.
pub(super) fn resolve_queues(ctx: &Ctx, list: &[RawQueue]) -> Result<Vec<Queue>, InputError> {
    if list.is_empty() {
        return Err(ctx.err("queues", "at least one [[queues]] entry is needed"));
    }
    let mut out: Vec<Queue> = Vec::with_capacity(list.len());
    for (i, q) in list.iter().enumerate() {
        let at = format!("queues[{i}]");
        let name = q.name.as_deref().ok_or_else(|| ctx.err(&at, "a queue in [[queues]] needs a `name`"))?;
        if name.is_empty() {
            return Err(ctx.err(&format!("{at}.name"), "a queue name must not be empty"));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(ctx.err(&format!("{at}.name"), format!("queue `{name}` is defined twice")));
        }
        out.push(resolve_queue(ctx, &at, q, name)?);
    }
    if out.len() > u16::MAX as usize {
        return Err(ctx.err("queues", format!("at most {} queues", u16::MAX)));
    }
    Ok(out)
}

/// FIFO settings of a queue; given on a Standard queue they are an error.
pub(super) fn resolve_fifo(ctx: &Ctx, at: &str, q: &RawQueue, kind: QueueKind) -> Result<Fifo, InputError> {
    let path = |field: &str| format!("{at}.{field}");
    if kind != QueueKind::SqsFifo {
        // `groups` and `group_skew` are allowed: a Standard queue accepts a
        // MessageGroupId and ignores it for ordering (so a sweep can compare kinds).
        let given = [
            ("deduplication", q.deduplication.is_some()),
            ("deduplication_scope", q.deduplication_scope.is_some()),
            ("high_throughput", q.high_throughput.is_some()),
            ("api_limit_per_s", q.api_limit_per_s.is_some()),
            ("throttle_retry", q.throttle_retry.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, g)| *g) {
            return Err(ctx.err(&path(field), format!("`{field}` is a FIFO setting; set kind = \"sqs_fifo\"")));
        }
    }
    let high = q.high_throughput.unwrap_or(false);
    let skew = q.group_skew.unwrap_or(0.0);
    if !(skew.is_finite() && (0.0..=10.0).contains(&skew)) {
        return Err(ctx.err(&path("group_skew"), format!("{skew} is out of range; expected 0 (uniform) to 10")));
    }
    Ok(Fifo {
        groups: ctx.count(&path("groups"), q.groups.map(u64::from), 1, 1, MAX_GROUPS)? as u32,
        group_skew: skew,
        deduplication: match q.deduplication.unwrap_or(RawDeduplication::MessageId) {
            RawDeduplication::MessageId => Deduplication::MessageId,
            RawDeduplication::Content => Deduplication::Content,
            RawDeduplication::PerAttempt => Deduplication::PerAttempt,
        },
        dedup_scope: match q.deduplication_scope.unwrap_or(RawDedupScope::Queue) {
            RawDedupScope::Queue => DedupScope::Queue,
            RawDedupScope::MessageGroup => DedupScope::MessageGroup,
        },
        dedup_window_ns: crate::broker::dedup::FIFO_WINDOW_NS,
        api_limit_per_s: ctx.count(
            &path("api_limit_per_s"),
            q.api_limit_per_s.map(u64::from),
            if high { 70_000 } else { 300 },
            0,
            u32::MAX as u64,
        )? as u32,
        throttle_retry_ns: ctx.range(
            &path("throttle_retry"),
            q.throttle_retry.map_or(NS_PER_S / 10, |d| d.0),
            1,
            3_600 * NS_PER_S,
        )?,
    })
}

/// The index of the queue named `name` at `path`; with one queue the name may be left out.
pub(super) fn queue_index(
    ctx: &Ctx,
    path: &str,
    name: Option<&str>,
    queues: &[Queue],
    what: &str,
) -> Result<usize, InputError> {
    let names = || queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>().join(", ");
    match name {
        None if queues.len() == 1 => Ok(0),
        None => {
            Err(ctx.err(path, format!("with several queues, a {what} must say which: queue = one of [{}]", names())))
        }
        Some(n) => queues
            .iter()
            .position(|q| q.name == n)
            .ok_or_else(|| ctx.err(path, format!("no queue named `{n}`; defined: [{}]", names()))),
    }
}

/// `producer.queue` or `producer.topic`; default: the only queue.
pub(super) fn resolve_target(
    ctx: &Ctx,
    p: &RawProducer,
    queues: &[Queue],
    topics: &[Topic],
) -> Result<Target, InputError> {
    match (&p.queue, &p.topic) {
        (Some(_), Some(_)) => Err(ctx.err("producer.topic", "give either `queue` or `topic`, not both")),
        (None, Some(t)) => match topics.iter().position(|x| &x.name == t) {
            Some(i) => Ok(Target::Topic(i)),
            None => {
                let names: Vec<&str> = topics.iter().map(|x| x.name.as_str()).collect();
                Err(ctx.err("producer.topic", format!("no topic named `{t}`; defined: [{}]", names.join(", "))))
            }
        },
        // A NATS subject reaches every NATS queue (config/nats.rs checks there is one).
        (None, None) if p.subject.is_some() && queues.len() > 1 => Ok(Target::Subject),
        (q, None) => {
            let what = "producer (or `topic = ...`)";
            Ok(Target::Queue(queue_index(ctx, "producer.queue", q.as_deref(), queues, what)?))
        }
    }
}

pub(super) fn resolve_attributes(
    ctx: &Ctx,
    raw: Option<&BTreeMap<String, RawAttribute>>,
) -> Result<Vec<Attribute>, InputError> {
    let mut out = Vec::new();
    for (name, a) in raw.into_iter().flatten() {
        let at = format!("producer.attributes.{name}");
        let values = match (&a.values, &a.uniform) {
            (Some(v), None) => {
                if v.is_empty() {
                    return Err(ctx.err(&format!("{at}.values"), "give at least one value with its probability"));
                }
                let mut total = 0.0;
                let mut cumulative = Vec::with_capacity(v.len());
                for (value, p) in v {
                    total += ctx.prob(&format!("{at}.values"), Some(*p), 0.0)?;
                    cumulative.push((value.clone(), total));
                }
                if (total - 1.0).abs() > 1e-6 {
                    return Err(ctx.err(&format!("{at}.values"), format!("probabilities sum to {total}; expected 1")));
                }
                if let Some(last) = cumulative.last_mut() {
                    last.1 = 1.0;
                }
                AttributeValues::Choice(cumulative)
            }
            (None, Some([low, high])) => {
                if !(low.is_finite() && high.is_finite() && low < high) {
                    return Err(ctx.err(&format!("{at}.uniform"), "expected [low, high] with low < high"));
                }
                AttributeValues::Uniform { low: *low, high: *high }
            }
            _ => return Err(ctx.err(&at, "an attribute needs exactly one of `values` or `uniform`")),
        };
        out.push(Attribute {
            name: name.clone(),
            present: ctx.prob(&format!("{at}.present"), a.present, 1.0)?,
            values,
        });
    }
    Ok(out)
}

pub(super) fn resolve_topics(
    ctx: &Ctx,
    raw: &[RawTopic],
    queues: &[Queue],
    attributes: &[Attribute],
) -> Result<Vec<Topic>, InputError> {
    let mut out: Vec<Topic> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let at = |field: &str| format!("topics[{i}].{field}");
        if out.iter().any(|o| o.name == t.name) || t.name.is_empty() {
            return Err(ctx.err(&at("name"), format!("topic `{}` is empty or defined twice", t.name)));
        }
        let fifo = t.fifo.unwrap_or(false);
        let mut subscriptions: Vec<Subscription> = Vec::new();
        for (j, sub) in t.subscriptions.iter().enumerate() {
            let sat = at(&format!("subscriptions[{j}]"));
            let queue = queue_index(ctx, &format!("{sat}.queue"), Some(&sub.queue), queues, "subscription")?;
            if subscriptions.iter().any(|s| s.queue == queue) {
                return Err(ctx.err(&format!("{sat}.queue"), format!("queue `{}` is subscribed twice", sub.queue)));
            }
            if queues[queue].kind == QueueKind::SqsFifo && !fifo {
                return Err(ctx.err(
                    &format!("{sat}.queue"),
                    format!("FIFO queue `{}` can only subscribe to a FIFO topic (fifo = true)", sub.queue),
                ));
            }
            let filter = match &sub.filter {
                Some(table) => resolve_filter(ctx, &format!("{sat}.filter"), table, attributes)?,
                None => Vec::new(),
            };
            subscriptions.push(Subscription { queue, filter });
        }
        let duplicate_probability = ctx.prob(&at("duplicate_probability"), t.duplicate_probability, 0.0)?;
        if fifo && duplicate_probability > 0.0 {
            return Err(ctx.err(&at("duplicate_probability"), "FIFO topics deliver exactly once; expected 0"));
        }
        out.push(Topic {
            name: t.name.clone(),
            fifo,
            subscriptions,
            duplicate_probability,
            delivery_failure: {
                let p = ctx.prob(&at("delivery_failure"), t.delivery_failure, 0.0)?;
                if p >= 1.0 {
                    return Err(ctx.err(&at("delivery_failure"), "1 would retry for 23 days; expected below 1"));
                }
                p
            },
            delivery_latency: match &t.delivery_latency {
                Some(d) => resolve_dist(ctx, &at("delivery_latency"), d)?,
                None => crate::dist::Dist::Constant(0),
            },
            price_per_million_usd: {
                let p = t.price_per_million.unwrap_or(0.50);
                if !(p.is_finite() && p >= 0.0) {
                    return Err(ctx.err(&at("price_per_million"), "expected a non-negative price in USD"));
                }
                p
            },
        });
    }
    Ok(out)
}

/// A filter policy: `{ key = value | condition | [values and conditions] }`.
fn resolve_filter(
    ctx: &Ctx,
    at: &str,
    table: &toml::Table,
    attributes: &[Attribute],
) -> Result<Vec<FilterKey>, InputError> {
    let mut keys = Vec::new();
    for (name, value) in table {
        let path = format!("{at}.{name}");
        let Some(attribute) = attributes.iter().position(|a| &a.name == name) else {
            let known: Vec<&str> = attributes.iter().map(|a| a.name.as_str()).collect();
            return Err(ctx.err(
                &path,
                format!(
                    "`{name}` is not an attribute the producer sets; producer.attributes has [{}]",
                    known.join(", ")
                ),
            ));
        };
        let items: Vec<&toml::Value> = match value {
            toml::Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        if items.is_empty() {
            return Err(ctx.err(&path, "an empty list matches nothing; give at least one value or condition"));
        }
        let conditions =
            items.into_iter().map(|v| condition(v).map_err(|m| ctx.err(&path, m))).collect::<Result<Vec<_>, _>>()?;
        keys.push(FilterKey { attribute, conditions });
    }
    Ok(keys)
}

const CONDITIONS: &str = "a string, a number, or one of { prefix = \"..\" }, { suffix = \"..\" }, \
{ equals-ignore-case = \"..\" }, { anything-but = [..] }, { numeric = [\">=\", 0, \"<\", 100] }, { exists = true }";

fn filter_value(v: &toml::Value) -> Result<FilterValue, String> {
    match v {
        toml::Value::String(s) => Ok(FilterValue::Str(s.clone())),
        toml::Value::Integer(i) => Ok(FilterValue::Num(*i as f64)),
        toml::Value::Float(f) if f.is_finite() => Ok(FilterValue::Num(*f)),
        other => Err(format!("`{other}` is not a string or a number")),
    }
}

fn condition(v: &toml::Value) -> Result<Condition, String> {
    let toml::Value::Table(t) = v else { return filter_value(v).map(Condition::Exact) };
    let mut it = t.iter();
    let (Some((op, arg)), None) = (it.next(), it.next()) else {
        return Err(format!("a condition has exactly one operator; expected {CONDITIONS}"));
    };
    let text = |arg: &toml::Value| arg.as_str().map(str::to_string).ok_or(format!("`{op}` takes a string"));
    Ok(match op.as_str() {
        "prefix" => Condition::Prefix(text(arg)?),
        "suffix" => Condition::Suffix(text(arg)?),
        "equals-ignore-case" | "equals_ignore_case" => Condition::EqualsIgnoreCase(text(arg)?),
        "anything-but" | "anything_but" => Condition::AnythingBut(match arg {
            toml::Value::Array(a) => a.iter().map(filter_value).collect::<Result<_, _>>()?,
            v => vec![filter_value(v)?],
        }),
        "exists" => Condition::Exists(arg.as_bool().ok_or("`exists` takes true or false")?),
        "numeric" => {
            let toml::Value::Array(a) = arg else {
                return Err("`numeric` takes a list like [\">=\", 0, \"<\", 100]".into());
            };
            if a.is_empty() || a.len() % 2 != 0 || a.len() > 4 {
                return Err("`numeric` takes one or two (operator, number) pairs".into());
            }
            let mut pairs = Vec::new();
            for pair in a.chunks(2) {
                let cmp = match pair[0].as_str() {
                    Some("<") => Compare::Lt,
                    Some("<=") => Compare::Le,
                    Some("=") => Compare::Eq,
                    Some(">=") => Compare::Ge,
                    Some(">") => Compare::Gt,
                    _ => return Err(format!("`{}` is not one of <, <=, =, >=, >", pair[0])),
                };
                let FilterValue::Num(n) = filter_value(&pair[1])? else {
                    return Err(format!("`{}` is not a number", pair[1]));
                };
                pairs.push((cmp, n));
            }
            Condition::Numeric(pairs)
        }
        other => return Err(format!("unknown condition `{other}`; expected {CONDITIONS}")),
    })
}
