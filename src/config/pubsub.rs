//! `kind = "pubsub"` queues (Google Cloud Pub/Sub subscriptions) and the
//! `pubsub_lease` heartbeat (the client's lease management): their options,
//! defaults and documented ranges (docs/model.md, "Google Cloud Pub/Sub").
//! A subscription maps onto the SQS queue settings the broker reuses: the ack
//! deadline is the visibility timeout, `max_delivery_attempts` the receive
//! limit, exactly-once delivery the `strict` ack and `latest_only` modAck
//! policies, the ordering keys the message groups.

use super::context::Ctx;
use super::schema::{Dur, RawQueue};
use crate::duration::{Nanos, NS_PER_S};
use crate::error::InputError;
use crate::scenario::*;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawRetryPolicy {
    Immediate,
    Exponential { min: Option<Dur>, max: Option<Dur> },
}

/// A subscription's settings, and what they fix of the SQS-shaped queue.
pub(super) struct Subscription {
    pub settings: PubSub,
    /// ackDeadlineSeconds: 10..600 s, default 10 s.
    pub ack_deadline_ns: Nanos,
    /// maxDeliveryAttempts of the dead-letter policy: 5..100; None: no DLQ.
    pub max_delivery_attempts: Option<u32>,
    pub delete_policy: DeletePolicy,
    pub change_visibility_policy: ChangeVisibilityPolicy,
}

const MIN_DEADLINE_NS: Nanos = 10 * NS_PER_S;
const MAX_DEADLINE_NS: Nanos = 600 * NS_PER_S;

/// Options of one kind given to a queue of another are errors.
pub(super) fn check_fields(ctx: &Ctx, at: &str, q: &RawQueue, pubsub: bool) -> Result<(), InputError> {
    let path = |field: &str| format!("{at}.{field}");
    if pubsub {
        let sqs_only = [
            ("visibility_timeout", q.visibility_timeout.is_some(), "; use ack_deadline"),
            ("max_receive_count", q.max_receive_count.is_some(), "; use max_delivery_attempts"),
            ("delete_policy", q.delete_policy.is_some(), "; exactly_once_delivery decides which ack ids ack"),
            (
                "change_visibility_policy",
                q.change_visibility_policy.is_some(),
                "; exactly_once_delivery decides which ack ids modAck",
            ),
            ("short_poll_miss", q.short_poll_miss.is_some(), ""),
            ("redrive_at", q.redrive_at.is_some(), ""),
        ];
        if let Some((field, _, hint)) = sqs_only.iter().find(|(_, given, _)| *given) {
            return Err(ctx.err(&path(field), format!("`{field}` is an SQS setting, not a Pub/Sub one{hint}")));
        }
        return Ok(());
    }
    let pubsub_only = [
        ("ack_deadline", q.ack_deadline.is_some()),
        ("retry_policy", q.retry_policy.is_some()),
        ("max_delivery_attempts", q.max_delivery_attempts.is_some()),
        ("exactly_once_delivery", q.exactly_once_delivery.is_some()),
        ("message_ordering", q.message_ordering.is_some()),
    ];
    if let Some((field, _)) = pubsub_only.iter().find(|(_, given)| *given) {
        return Err(ctx.err(&path(field), format!("`{field}` is a Pub/Sub setting; set kind = \"pubsub\"")));
    }
    Ok(())
}

pub(super) fn resolve_subscription(ctx: &Ctx, at: &str, q: &RawQueue) -> Result<Subscription, InputError> {
    let path = |field: &str| format!("{at}.{field}");
    let retry_backoff_ns = match q.retry_policy {
        None | Some(RawRetryPolicy::Immediate) => None,
        Some(RawRetryPolicy::Exponential { min, max }) => {
            let max_ns =
                ctx.range(&path("retry_policy.max"), max.map_or(MAX_DEADLINE_NS, |d| d.0), 0, MAX_DEADLINE_NS)?;
            let min_ns =
                ctx.range(&path("retry_policy.min"), min.map_or(MIN_DEADLINE_NS.min(max_ns), |d| d.0), 0, max_ns)?;
            Some((min_ns, max_ns))
        }
    };
    let exactly_once = q.exactly_once_delivery.unwrap_or(false);
    if exactly_once && q.broker_duplicate.is_some_and(|p| p > 0.0) {
        return Err(
            ctx.err(&path("broker_duplicate"), "exactly-once delivery never redelivers an acked message; expected 0")
        );
    }
    Ok(Subscription {
        settings: PubSub { retry_backoff_ns, exactly_once, ordering: q.message_ordering.unwrap_or(false) },
        ack_deadline_ns: ctx.range(
            &path("ack_deadline"),
            q.ack_deadline.map_or(MIN_DEADLINE_NS, |d| d.0),
            MIN_DEADLINE_NS,
            MAX_DEADLINE_NS,
        )?,
        max_delivery_attempts: match q.max_delivery_attempts {
            Some(m) => Some(ctx.count(&path("max_delivery_attempts"), Some(u64::from(m)), 5, 5, 100)? as u32),
            None => None,
        },
        delete_policy: if exactly_once { DeletePolicy::Strict } else { DeletePolicy::AnyHandle },
        change_visibility_policy: if exactly_once {
            ChangeVisibilityPolicy::LatestOnly
        } else {
            ChangeVisibilityPolicy::AnyHandle
        },
    })
}

/// The `pubsub_lease` heartbeat of a group consuming `queue`.
#[allow(clippy::too_many_arguments)]
pub(super) fn resolve_lease(
    ctx: &Ctx,
    at: &dyn Fn(&str) -> String,
    queue: &Queue,
    max_lease_duration: Option<Dur>,
    max_messages: Option<u32>,
    min_extension: Option<Dur>,
    max_extension: Option<Dur>,
) -> Result<Heartbeat, InputError> {
    if queue.kind != QueueKind::Pubsub {
        return Err(ctx.err(
            &at("kind"),
            format!("`pubsub_lease` manages Pub/Sub ack deadlines; queue `{}` is not kind = \"pubsub\"", queue.name),
        ));
    }
    let extension = |field: &str, d: Option<Dur>, default: Nanos| match d {
        None => Ok(default),
        Some(Dur(0)) => Ok(0),
        Some(d) => ctx.range(&at(field), d.0, MIN_DEADLINE_NS, MAX_DEADLINE_NS),
    };
    // The clients raise every extension to 60 s under exactly-once delivery.
    let min_default = if queue.pubsub.exactly_once { 60 * NS_PER_S } else { 0 };
    Ok(Heartbeat::PubsubLease(PubsubLease {
        max_lease_ns: ctx.range(
            &at("max_lease_duration"),
            max_lease_duration.map_or(3_600 * NS_PER_S, |d| d.0),
            NS_PER_S,
            12 * 3_600 * NS_PER_S,
        )?,
        max_messages: ctx.count(&at("max_messages"), max_messages.map(u64::from), 1000, 1, u32::MAX as u64)? as u32,
        min_extension_ns: extension("min_extension", min_extension, min_default)?,
        max_extension_ns: extension("max_extension", max_extension, 0)?,
    }))
}
