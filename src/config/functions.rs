//! `[[functions]]`: AWS Lambda functions consuming a queue through an SQS
//! event source mapping. The ranges are those of CreateEventSourceMapping and
//! of Lambda itself (docs/model.md, "Lambda event source mapping"); a
//! function timeout above the queue's visibility timeout is rejected as AWS
//! rejects the mapping. Every error names the file, line and column of the
//! value, or the flag.

use super::context::Ctx;
use super::resolve::resolve_handler;
use super::schema::{Dur, RawHandler};
use crate::duration::{format_human, Nanos, NS_PER_S};
use crate::error::InputError;
use crate::scenario::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFunction {
    name: String,
    /// The queue the mapping reads (required with several queues).
    queue: Option<String>,
    batch_size: Option<u32>,
    batching_window: Option<Dur>,
    timeout: Option<Dur>,
    memory_mb: Option<u32>,
    maximum_concurrency: Option<u32>,
    reserved_concurrency: Option<u32>,
    account_limit: Option<u32>,
    initial_concurrency: Option<u32>,
    scale_per_minute: Option<u32>,
    report_batch_item_failures: Option<bool>,
    throttle_retry: Option<Dur>,
    start_at: Option<Dur>,
    price_per_million_requests: Option<f64>,
    price_per_gb_second: Option<f64>,
    handler: Option<RawHandler>,
}

const MIN15: Nanos = 15 * 60 * NS_PER_S;

pub(super) fn resolve_functions(
    ctx: &Ctx,
    list: &[RawFunction],
    queues: &[Queue],
    deps: &[Dependency],
) -> Result<Vec<Function>, InputError> {
    let mut out: Vec<Function> = Vec::with_capacity(list.len());
    for (i, f) in list.iter().enumerate() {
        let one = resolve_function(ctx, i, f, queues, deps)?;
        if out.iter().any(|o| o.name == one.name) {
            return Err(ctx.err(&format!("functions[{i}].name"), format!("function `{}` is defined twice", one.name)));
        }
        out.push(one);
    }
    if out.len() > u16::MAX as usize {
        return Err(ctx.err("functions", format!("at most {} functions", u16::MAX)));
    }
    Ok(out)
}

fn resolve_function(
    ctx: &Ctx,
    i: usize,
    f: &RawFunction,
    queues: &[Queue],
    deps: &[Dependency],
) -> Result<Function, InputError> {
    let at = |field: &str| format!("functions[{i}].{field}");
    if f.name.is_empty() || f.name.contains(['#', ',', '"', '\n']) {
        return Err(ctx.err(&at("name"), "a function name must be non-empty, without `#`, `,`, `\"` or newlines"));
    }
    let queue = super::topology::queue_index(ctx, &at("queue"), f.queue.as_deref(), queues, "function")?;
    let q = &queues[queue];
    let fifo = q.kind == QueueKind::SqsFifo;
    let window = f.batching_window.map_or(0, |d| d.0);
    if fifo && f.batching_window.is_some() {
        return Err(ctx.err(&at("batching_window"), "a batching window is not supported on FIFO queues (AWS)"));
    }
    let batching_window_ns = ctx.range(&at("batching_window"), window, 0, 300 * NS_PER_S)?;
    let max_batch = if fifo {
        10
    } else if batching_window_ns >= NS_PER_S {
        10_000
    } else {
        10
    };
    let batch_size = f.batch_size.unwrap_or(10);
    if !(1..=max_batch).contains(&batch_size) {
        let why = if fifo {
            "on a FIFO queue"
        } else if max_batch == 10 {
            "(above 10 needs batching_window of at least 1s)"
        } else {
            "on a Standard queue"
        };
        return Err(
            ctx.err(&at("batch_size"), format!("{batch_size} is out of range; expected 1 to {max_batch} {why}"))
        );
    }
    let timeout_ns = ctx.range(&at("timeout"), f.timeout.map_or(3 * NS_PER_S, |d| d.0), NS_PER_S, MIN15)?;
    if timeout_ns > q.visibility_timeout_ns {
        return Err(ctx.err(
            &at("timeout"),
            format!(
                "the function timeout ({}) is above the visibility timeout of queue `{}` ({}); AWS rejects such an event \
                 source mapping: the queue's visibility timeout must be at least the function timeout",
                format_human(timeout_ns),
                q.name,
                format_human(q.visibility_timeout_ns)
            ),
        ));
    }
    let account_limit = ctx.count(&at("account_limit"), f.account_limit.map(u64::from), 1000, 1, 100_000)? as u32;
    let maximum_concurrency = match f.maximum_concurrency {
        Some(m) => Some(ctx.count(&at("maximum_concurrency"), Some(u64::from(m)), 2, 2, 1000)? as u32),
        None => None,
    };
    let reserved_concurrency = match f.reserved_concurrency {
        Some(r) => {
            Some(ctx.count(&at("reserved_concurrency"), Some(u64::from(r)), 0, 0, u64::from(account_limit))? as u32)
        }
        None => None,
    };
    let price = |field: &str, v: Option<f64>, default: f64| -> Result<f64, InputError> {
        let p = v.unwrap_or(default);
        if p.is_finite() && p >= 0.0 {
            Ok(p)
        } else {
            Err(ctx.err(&at(field), "expected a non-negative price in USD"))
        }
    };
    Ok(Function {
        name: f.name.clone(),
        queue,
        batch_size,
        batching_window_ns,
        timeout_ns,
        memory_mb: ctx.count(&at("memory_mb"), f.memory_mb.map(u64::from), 128, 128, 10_240)? as u32,
        maximum_concurrency,
        reserved_concurrency,
        account_limit,
        initial_concurrency: ctx.count(&at("initial_concurrency"), f.initial_concurrency.map(u64::from), 5, 1, 1000)?
            as u32,
        scale_per_minute: ctx.count(&at("scale_per_minute"), f.scale_per_minute.map(u64::from), 300, 0, 60_000)? as u32,
        report_batch_item_failures: f.report_batch_item_failures.unwrap_or(false),
        throttle_retry_ns: ctx.range(
            &at("throttle_retry"),
            f.throttle_retry.map_or(NS_PER_S, |d| d.0),
            1,
            3_600 * NS_PER_S,
        )?,
        handler: match &f.handler {
            Some(h) => Some(resolve_handler(ctx, &at("handler"), h, deps)?),
            None => None,
        },
        start_at_ns: f.start_at.map_or(0, |d| d.0),
        price_per_million_requests_usd: price("price_per_million_requests", f.price_per_million_requests, 0.20)?,
        price_per_gb_second_usd: price("price_per_gb_second", f.price_per_gb_second, 0.000_016_666_7)?,
    })
}
