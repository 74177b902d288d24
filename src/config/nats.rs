//! JetStream and core NATS settings of a queue (`kind = "jetstream"`,
//! `kind = "nats_core"`): AckWait, MaxDeliver, BackOff, MaxAckPending, the
//! late-ack and NAK-delay variants, the publish deduplication window, the
//! stream's subjects, and a core subscription's pending limits. Defaults
//! and limits follow docs/model.md, sections "NATS JetStream" and "Core NATS".

use super::context::Ctx;
use super::schema::{RawProducer, RawQueue, RawWorkers};
use crate::duration::{Nanos, NS_PER_S};
use crate::error::InputError;
use crate::scenario::{LateAck, NakDelay, Nats, Queue, QueueKind, Target};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawLateAck {
    BySequence,
    Ignored,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawNakDelay {
    Shifted,
    Plain,
}

const DAY: Nanos = 86_400 * NS_PER_S;

/// The NATS settings of queue `at`; NATS keys on an SQS queue (and the
/// SQS lease on a NATS queue) are errors that name the right key.
pub(super) fn resolve_nats(ctx: &Ctx, at: &str, q: &RawQueue, kind: QueueKind) -> Result<Nats, InputError> {
    let path = |field: &str| format!("{at}.{field}");
    let js = kind == QueueKind::JetStream;
    let core = kind == QueueKind::NatsCore;
    let js_keys = [
        ("ack_wait", q.ack_wait.is_some()),
        ("max_deliver", q.max_deliver.is_some()),
        ("backoff", q.backoff.is_some()),
        ("max_ack_pending", q.max_ack_pending.is_some()),
        ("late_ack", q.late_ack.is_some()),
        ("nak_delay", q.nak_delay.is_some()),
        ("duplicate_window", q.duplicate_window.is_some()),
        ("msg_id", q.msg_id.is_some()),
    ];
    let core_keys = [("pending_msgs", q.pending_msgs.is_some()), ("pending_bytes", q.pending_bytes.is_some())];
    if !js {
        if let Some((field, _)) = js_keys.iter().find(|(_, g)| *g) {
            return Err(ctx.err(&path(field), format!("`{field}` is a JetStream setting; set kind = \"jetstream\"")));
        }
    }
    if !core {
        if let Some((field, _)) = core_keys.iter().find(|(_, g)| *g) {
            return Err(ctx.err(&path(field), format!("`{field}` is a core NATS setting; set kind = \"nats_core\"")));
        }
    }
    if !js && !core && q.subjects.is_some() {
        return Err(
            ctx.err(&path("subjects"), "`subjects` is a NATS setting; set kind = \"jetstream\" or \"nats_core\"")
        );
    }
    if js || core {
        let sqs_only = [
            ("visibility_timeout", q.visibility_timeout.is_some(), "ack_wait"),
            ("max_receive_count", q.max_receive_count.is_some(), "max_deliver"),
            ("inflight_limit", q.inflight_limit.is_some(), "max_ack_pending"),
            ("redrive_at", q.redrive_at.is_some(), "max_deliver (JetStream has no DLQ)"),
            ("delete_policy", q.delete_policy.is_some(), "late_ack"),
            ("change_visibility_policy", q.change_visibility_policy.is_some(), "late_ack"),
            ("broker_duplicate", q.broker_duplicate.is_some(), "nothing (not modelled for NATS)"),
            ("short_poll_miss", q.short_poll_miss.is_some(), "nothing (not modelled for NATS)"),
        ];
        if let Some((field, _, instead)) = sqs_only.iter().find(|(_, g, _)| *g) {
            return Err(ctx.err(&path(field), format!("`{field}` is an SQS setting; on NATS use {instead}")));
        }
    }
    let mut n = Nats::default();
    if let Some(d) = q.ack_wait {
        n.ack_wait_ns = ctx.range(&path("ack_wait"), d.0, 1, DAY)?;
    }
    n.max_deliver = match q.max_deliver {
        None | Some(-1) => None,
        Some(m) if (1..=i64::from(u32::MAX)).contains(&m) => Some(m as u32),
        Some(m) => return Err(ctx.err(&path("max_deliver"), format!("{m}: expected -1 (unlimited) or at least 1"))),
    };
    if let Some(list) = &q.backoff {
        if list.is_empty() {
            return Err(ctx.err(&path("backoff"), "an empty BackOff list; leave it out, or give at least one duration"));
        }
        for d in list {
            n.backoff_ns.push(ctx.range(&path("backoff"), d.0, 1, DAY)?);
        }
        if n.max_deliver.is_some_and(|m| list.len() > m as usize) {
            return Err(ctx.err(
                &path("backoff"),
                format!(
                    "{} BackOff steps but max_deliver = {}; the server requires len(backoff) <= max_deliver",
                    list.len(),
                    n.max_deliver.unwrap_or(0)
                ),
            ));
        }
        if q.ack_wait.is_some() {
            return Err(ctx.err(&path("ack_wait"), "with `backoff`, AckWait is BackOff[0]; leave `ack_wait` out"));
        }
        n.ack_wait_ns = n.backoff_ns[0];
    }
    n.max_ack_pending = match q.max_ack_pending {
        None => 1000,
        Some(-1) => 0,
        Some(m) if m >= 1 => m as u64,
        Some(m) => return Err(ctx.err(&path("max_ack_pending"), format!("{m}: expected -1 (unlimited) or at least 1"))),
    };
    n.late_ack = match q.late_ack.unwrap_or(RawLateAck::BySequence) {
        RawLateAck::BySequence => LateAck::BySequence,
        RawLateAck::Ignored => LateAck::Ignored,
    };
    n.nak_delay = match q.nak_delay.unwrap_or(RawNakDelay::Shifted) {
        RawNakDelay::Shifted => NakDelay::Shifted,
        RawNakDelay::Plain => NakDelay::Plain,
    };
    if let Some(d) = q.duplicate_window {
        n.duplicate_window_ns = ctx.range(&path("duplicate_window"), d.0, NS_PER_S / 10, DAY)?;
    }
    n.msg_id = q.msg_id.unwrap_or(true);
    if let Some(subjects) = &q.subjects {
        if subjects.is_empty() || subjects.iter().any(|s| !valid_subject(s)) {
            return Err(ctx.err(
                &path("subjects"),
                "expected a list of subjects such as [\"orders.*\", \"audit.>\"] (tokens separated by dots; `*` one token, `>` the rest)",
            ));
        }
        n.subjects = subjects.clone();
    }
    n.pending_msgs = ctx.count(&path("pending_msgs"), q.pending_msgs, 500_000, 1, u64::MAX)?;
    n.pending_bytes = ctx.count(&path("pending_bytes"), q.pending_bytes, 64 << 20, 1, u64::MAX)?;
    Ok(n)
}

/// Work out which NATS queues capture the producer's `subject`.
pub(super) fn resolve_subjects(ctx: &Ctx, p: &RawProducer, mut queues: Vec<Queue>) -> Result<Vec<Queue>, InputError> {
    let Some(subject) = &p.subject else { return Ok(queues) };
    if !valid_subject(subject) || subject.contains(['*', '>']) {
        return Err(ctx.err("producer.subject", "expected a subject such as \"orders.created\" (no wildcards)"));
    }
    if !queues.iter().any(|q| matches!(q.kind, QueueKind::JetStream | QueueKind::NatsCore)) {
        return Err(ctx.err("producer.subject", "`subject` needs a queue of kind \"jetstream\" or \"nats_core\""));
    }
    for q in &mut queues {
        q.nats.captures_producer = q.nats.subjects.iter().any(|f| subject_matches(f, subject));
    }
    Ok(queues)
}

/// SQS-only producer and worker settings that a NATS queue would silently
/// ignore are errors: DelaySeconds, and a per-receive visibility timeout.
pub(super) fn check_sqs_only(
    ctx: &Ctx,
    p: &RawProducer,
    workers: &[RawWorkers],
    queues: &[Queue],
    target: Target,
) -> Result<(), InputError> {
    let nats = |q: &Queue| matches!(q.kind, QueueKind::JetStream | QueueKind::NatsCore);
    let to_nats = match target {
        Target::Queue(q) => nats(&queues[q]),
        Target::Subject => true,
        Target::Topic(_) => false,
    };
    if to_nats && p.delay.is_some_and(|d| d.0 > 0) {
        return Err(ctx.err("producer.delay", "`delay` is SQS DelaySeconds; NATS has no per-message delay"));
    }
    for (i, w) in workers.iter().enumerate() {
        let q = queues.iter().position(|q| Some(q.name.as_str()) == w.queue.as_deref()).unwrap_or(0);
        if nats(&queues[q]) && w.receive.as_ref().is_some_and(|r| r.visibility_timeout.is_some()) {
            return Err(ctx.err(
                &format!("workers[{i}].receive.visibility_timeout"),
                "a pull has no lease of its own on NATS; set the queue's `ack_wait`",
            ));
        }
    }
    Ok(())
}

fn valid_subject(s: &str) -> bool {
    let tokens: Vec<&str> = s.split('.').collect();
    tokens.iter().enumerate().all(|(i, t)| {
        !t.is_empty()
            && !t.contains(char::is_whitespace)
            && (*t == ">" && i + 1 == tokens.len() || !t.contains('>'))
            && (*t == "*" || !t.contains('*'))
    })
}

/// NATS subject matching: `*` matches one token, `>` one or more trailing tokens.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches(">", "orders.created"));
        assert!(subject_matches("orders.*", "orders.created"));
        assert!(subject_matches("orders.>", "orders.created.eu"));
        assert!(!subject_matches("orders.>", "orders"), "`>` needs at least one token");
        assert!(!subject_matches("orders.*", "orders.created.eu"), "`*` is exactly one token");
        assert!(!subject_matches("order.*", "orders.created"));
        assert!(subject_matches("orders.created", "orders.created"));
    }

    #[test]
    fn subjects_are_checked() {
        assert!(valid_subject("a.*.>") && valid_subject(">"));
        assert!(!valid_subject("a..b") && !valid_subject("a.>.b") && !valid_subject("a*") && !valid_subject(""));
    }
}
