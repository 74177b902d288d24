//! Self-validation against theory (`dupsim theory`): built-in scenarios whose
//! results have a closed form, run over independent replications and
//! compared with that form (docs/model.md, section "Self-validation").
//!
//! Each case is a scenario text, a statistic measured per replication (from
//! the summary, or from the trace for per-message times), and a closed form
//! computed from the *resolved* scenario, so that `--set` overrides (another
//! distribution, another VT) move the closed form with the simulation. The
//! statistic's mean over replications gets a two-sided Student-t interval at
//! [`CONFIDENCE`]; a closed form outside it fails the case (exit 1).
//! Replication seeds are fixed (`rng::replication_seed`), so the output is
//! deterministic.

use crate::config::{Override, Source};
use crate::dist::Dist;
use crate::duration::{Nanos, NS_PER_S};
use crate::error::{Error, InputError};
use crate::scenario::{Arrival, DeletePolicy, Heartbeat, Scenario, Step};
use crate::summary::Summary;
use crate::trace::Trace;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Two-sided confidence of the intervals.
pub const CONFIDENCE: f64 = 0.999;

/// What a case measures in one replication.
#[derive(Clone, Copy)]
pub enum Measure {
    /// A number from the run summary.
    Summary(fn(&Summary) -> f64),
    /// A number from the trace's per-message times.
    Trace(fn(&TraceStats) -> f64),
}

/// A closed form of the resolved scenario, or why it does not apply.
pub type ClosedForm = fn(&Scenario) -> Result<f64, String>;

/// One built-in case.
#[derive(Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    /// What is measured, in words.
    pub measured: &'static str,
    /// The closed form, in words.
    pub formula: &'static str,
    pub scenario: &'static str,
    pub replications: u32,
    pub measure: Measure,
    pub closed_form: ClosedForm,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: &'static str,
    pub replications: u32,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub closed_form: f64,
    pub pass: bool,
}

// ------------------------------------------------------------------ cases

/// 200 idle workers long-polling one message each: every visible message
/// is received the instant it becomes visible (no queueing), each copy by a
/// free worker. No heartbeat, no failure, an ideal network.
const IDLE: &str = r#"
name = "theory-idle"
seed = 101
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "30s"
[[workers]]
name = "w"
count = 200
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "lognormal", median = "12s", p99 = "45s" }
"#;

const EXPIRY_LOGNORMAL: &str = r#"
name = "theory-expiry-lognormal"
seed = 101
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "30s"
delete_policy = "latest_only"
[[workers]]
name = "w"
count = 200
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "lognormal", median = "12s", p99 = "45s" }
"#;

const EXPIRY_EXPONENTIAL: &str = r#"
name = "theory-expiry-exponential"
seed = 102
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "30s"
delete_policy = "latest_only"
[[workers]]
name = "w"
count = 200
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "exponential", mean = "10s" }
"#;

const REDELIVERY_ANY: &str = r#"
name = "theory-redeliveries-any-handle"
seed = 103
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "10s"
delete_policy = "any_handle"
[[workers]]
name = "w"
count = 200
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "exponential", mean = "10s" }
"#;

const DLQ: &str = r#"
name = "theory-dlq"
seed = 105
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 50.0 }
[queue]
visibility_timeout = "10m"
max_receive_count = 3
[[workers]]
name = "w"
count = 20
concurrency = 10
on_failure = { kind = "release" }
[handler]
duration = "100ms"
fail_probability = 0.5
"#;

/// M/M/c: Poisson arrivals, c = 10 single-slot workers served first come
/// first served (parked long polls in arrival order, the oldest visible
/// message first), exponential service, a VT far beyond any service time.
const MMC: &str = r#"
name = "theory-mmc"
seed = 107
[run]
messages = 50000
[producer]
arrival = { kind = "poisson", rate = 8.0 }
[queue]
visibility_timeout = "12h"
[[workers]]
name = "w"
count = 10
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "exponential", mean = "1s" }
"#;

const RETRY: &str = r#"
name = "theory-retry-latency"
seed = 109
[run]
messages = 5000
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "30s"
[[workers]]
name = "w"
count = 100
receive = { max = 1, wait = "20s" }
on_failure = { kind = "expire" }
[handler]
duration = "12s"
fail_probability = 0.3
"#;

/// Every built-in case, in the order they run.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "expiry-lognormal",
            measured: "premature expiries per delivery (no heartbeat)",
            formula: "P(S > VT)",
            scenario: EXPIRY_LOGNORMAL,
            replications: 20,
            measure: Measure::Summary(|s| s.premature_expiries as f64 / s.deliveries as f64),
            closed_form: expiry_fraction,
        },
        Case {
            name: "expiry-exponential",
            measured: "premature expiries per delivery (no heartbeat)",
            formula: "P(S > VT)",
            scenario: EXPIRY_EXPONENTIAL,
            replications: 20,
            measure: Measure::Summary(|s| s.premature_expiries as f64 / s.deliveries as f64),
            closed_form: expiry_fraction,
        },
        Case {
            name: "redeliveries-any-handle",
            measured: "redeliveries per message, idle workers, delete_policy any_handle",
            formula: "sum_k prod_{i<=k} P(S > i*VT)",
            scenario: REDELIVERY_ANY,
            replications: 20,
            measure: Measure::Summary(|s| s.redeliveries as f64 / s.sent as f64),
            closed_form: redeliveries_idle,
        },
        Case {
            name: "redeliveries-latest-only",
            measured: "redeliveries per message, idle workers, delete_policy latest_only",
            formula: "p/(1-p), p = P(S > VT)",
            scenario: REDELIVERY_LATEST,
            replications: 20,
            measure: Measure::Summary(|s| s.redeliveries as f64 / s.sent as f64),
            closed_form: redeliveries_idle,
        },
        Case {
            name: "duplicates-any-handle",
            measured: "duplicate effects per message, idle workers, no idempotency",
            formula: "sum_k prod_{i<=k} P(S > i*VT)",
            scenario: IDLE,
            replications: 20,
            measure: Measure::Summary(|s| s.duplicate_effects as f64 / s.sent as f64),
            closed_form: redeliveries_idle,
        },
        Case {
            name: "dlq-fraction",
            measured: "fraction of messages moved to the DLQ",
            formula: "f^M",
            scenario: DLQ,
            replications: 20,
            measure: Measure::Summary(|s| s.final_states.dlq as f64 / s.sent as f64),
            closed_form: dlq_fraction,
        },
        Case {
            name: "dlq-redeliveries",
            measured: "redeliveries per message with a DLQ after M receives",
            formula: "f + f^2 + ... + f^(M-1)",
            scenario: DLQ,
            replications: 20,
            measure: Measure::Summary(|s| s.redeliveries as f64 / s.sent as f64),
            closed_form: dlq_redeliveries,
        },
        Case {
            name: "mmc-wait-probability",
            measured: "fraction of messages that wait for a worker (first receive after send)",
            formula: "Erlang C: C(c, lambda/mu)",
            scenario: MMC,
            replications: 20,
            measure: Measure::Trace(|t| t.waited as f64 / t.waits as f64),
            closed_form: erlang_c_probability,
        },
        Case {
            name: "mmc-mean-wait",
            measured: "mean wait from send to first receive, seconds",
            formula: "C(c, lambda/mu) / (c*mu - lambda)",
            scenario: MMC,
            replications: 20,
            measure: Measure::Trace(|t| t.wait_sum_ns as f64 / t.waits as f64 / NS_PER_S as f64),
            closed_form: erlang_c_mean_wait,
        },
        Case {
            name: "retry-latency",
            measured: "mean time from a failed attempt to the next delivery, seconds",
            formula: "VT - E[S] (S always below VT)",
            scenario: RETRY,
            replications: 10,
            measure: Measure::Trace(|t| t.retry_sum_ns as f64 / t.retries as f64 / NS_PER_S as f64),
            closed_form: retry_latency,
        },
    ]
}

const REDELIVERY_LATEST: &str = r#"
name = "theory-redeliveries-latest-only"
seed = 104
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "10s"
delete_policy = "latest_only"
[[workers]]
name = "w"
count = 200
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "exponential", mean = "10s" }
"#;

// ------------------------------------------------------------ closed forms

/// The processing time S: a handler of one delay step, no failures needed.
fn service(s: &Scenario) -> Result<&Dist, String> {
    match s.handler.steps.as_slice() {
        [Step::Delay(d)] => Ok(d),
        _ => Err("needs a handler of one delay step (handler.duration)".into()),
    }
}

/// The VT every delivery gets: the queue's, unless a worker group overrides it.
fn vt(s: &Scenario) -> Result<Nanos, String> {
    let vt = s.queue().visibility_timeout_ns;
    if s.workers.iter().any(|g| g.receive.visibility_timeout_ns.is_some_and(|v| v != vt)) {
        return Err("needs one visibility timeout (no receive.visibility_timeout override)".into());
    }
    Ok(vt)
}

fn no_heartbeat(s: &Scenario) -> Result<(), String> {
    if s.workers.iter().any(|g| !matches!(g.heartbeat, Heartbeat::None)) {
        return Err("needs workers without heartbeat".into());
    }
    Ok(())
}

fn survival(d: &Dist, x: Nanos) -> Result<f64, String> {
    d.survival(x).ok_or_else(|| "needs a distribution with a closed-form tail (not sequence)".into())
}

/// P(S > VT): without a heartbeat a lease runs out under its holder exactly
/// when the processing time exceeds the VT, whatever the load.
pub fn expiry_fraction(s: &Scenario) -> Result<f64, String> {
    no_heartbeat(s)?;
    if s.queue().delete_policy == DeletePolicy::AnyHandle {
        // A first holder's delete would end a later copy's lease early.
        return Err("needs delete_policy latest_only or strict (each lease then ends on its own)".into());
    }
    survival(service(s)?, vt(s)?)
}

/// Redeliveries per message with idle workers (each copy received the
/// instant its predecessor's lease ends), no heartbeat and no failures.
/// Copy j is received at (j-1)*VT and finishes at (j-1)*VT + S_j.
/// - any_handle: the first holder to finish deletes the message, so the k-th
///   redelivery (at k*VT) needs every earlier copy still working:
///   P = prod_{i<=k} P(S > i*VT).
/// - latest_only, strict: only the newest copy's delete counts, so the k-th
///   redelivery needs copies 1..k each slower than VT: P = p^k, p = P(S > VT).
///
/// Duplicate effects per message equal redeliveries: every copy commits.
pub fn redeliveries_idle(s: &Scenario) -> Result<f64, String> {
    no_heartbeat(s)?;
    if s.handler.fail_probability > 0.0 || s.handler.poison_fraction > 0.0 {
        return Err("needs a handler that never fails".into());
    }
    let (d, vt) = (service(s)?, vt(s)?);
    let mut total = 0.0;
    let mut term = 1.0;
    for k in 1..=100_000u64 {
        let p = match s.queue().delete_policy {
            DeletePolicy::AnyHandle => survival(d, vt.saturating_mul(k))?,
            DeletePolicy::LatestOnly | DeletePolicy::Strict => survival(d, vt)?,
        };
        term *= p;
        total += term;
        if term < 1e-15 {
            return Ok(total);
        }
    }
    Err("the series does not converge (P(S > VT) too close to 1)".into())
}

fn dlq_params(s: &Scenario) -> Result<(f64, i32), String> {
    let m = s.queue().max_receive_count.ok_or("needs queue.max_receive_count")?;
    if s.handler.poison_fraction > 0.0 {
        return Err("needs handler.poison_fraction = 0".into());
    }
    Ok((s.handler.fail_probability, m as i32))
}

/// Every delivery fails independently with probability f; after M failed
/// deliveries the next receive moves the message to the DLQ.
pub fn dlq_fraction(s: &Scenario) -> Result<f64, String> {
    let (f, m) = dlq_params(s)?;
    Ok(f.powi(m))
}

/// Deliveries are min(first success, M): `E[redeliveries] = sum_{k=1}^{M-1} f^k`.
pub fn dlq_redeliveries(s: &Scenario) -> Result<f64, String> {
    let (f, m) = dlq_params(s)?;
    Ok((1..m).map(|k| f.powi(k)).sum())
}

/// (lambda, mu, c) of an M/M/c scenario.
fn mmc(s: &Scenario) -> Result<(f64, f64, u32), String> {
    let lambda = match s.producer.arrival {
        Arrival::Poisson { rate_per_s } => rate_per_s,
        _ => return Err("needs Poisson arrivals".into()),
    };
    let mu = match service(s)? {
        Dist::Exponential { mean_s } => 1.0 / mean_s,
        _ => return Err("needs exponential processing times".into()),
    };
    let c: u32 = s.workers.iter().map(|g| g.count * g.concurrency).sum();
    if s.workers.iter().any(|g| g.receive.max != 1) {
        return Err("needs receive.max = 1 (no batches held by one worker)".into());
    }
    if lambda >= f64::from(c) * mu {
        return Err(format!("needs a stable queue: lambda {lambda} >= c*mu {}", f64::from(c) * mu));
    }
    Ok((lambda, mu, c))
}

/// Erlang C: the probability that an arrival finds all c servers busy.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let c = f64::from(c);
    c * b / (c - a * (1.0 - b))
}

pub fn erlang_c_probability(s: &Scenario) -> Result<f64, String> {
    let (lambda, mu, c) = mmc(s)?;
    Ok(erlang_c(c, lambda / mu))
}

pub fn erlang_c_mean_wait(s: &Scenario) -> Result<f64, String> {
    let (lambda, mu, c) = mmc(s)?;
    Ok(erlang_c(c, lambda / mu) / (f64::from(c) * mu - lambda))
}

/// A failed attempt (on_failure expire) leaves its message hidden until its
/// lease ends, VT after the receive; an idle worker receives it then. So the
/// retry latency is VT - S for an attempt that took S < VT.
pub fn retry_latency(s: &Scenario) -> Result<f64, String> {
    no_heartbeat(s)?;
    if s.workers.iter().any(|g| !matches!(g.on_failure, crate::scenario::FailurePolicy::Expire)) {
        return Err("needs on_failure = { kind = \"expire\" }".into());
    }
    let (d, vt) = (service(s)?, vt(s)?);
    let below = match d {
        Dist::Constant(v) => *v < vt,
        Dist::Uniform { high, .. } => *high < vt,
        _ => false,
    };
    if !below {
        return Err("needs a processing time always below VT (constant or uniform)".into());
    }
    let mean = d.mean_s().ok_or("needs a processing time with a known mean")?;
    Ok(vt as f64 / NS_PER_S as f64 - mean)
}

// ------------------------------------------------------------------ trace tap

/// Per-message times read from the trace as it is written.
#[derive(Debug, Default, Clone)]
pub struct TraceStats {
    /// Messages whose first receive was seen (after the warm-up).
    pub waits: u64,
    /// Of those, how many waited a positive time.
    pub waited: u64,
    pub wait_sum_ns: u128,
    /// Failed attempts followed by a delivery, and the time in between.
    pub retries: u64,
    pub retry_sum_ns: u128,
}

#[derive(Default)]
struct TapState {
    partial: Vec<u8>,
    /// Messages with an id up to this are the warm-up: not counted.
    warmup: u64,
    sent_at: HashMap<u64, Nanos>,
    failed_at: HashMap<u64, Nanos>,
    stats: TraceStats,
}

impl TapState {
    fn line(&mut self, line: &str) {
        let mut f = line.splitn(6, ',');
        let (Some(t), Some(event), Some(msg), Some(_worker), Some(receive)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            return;
        };
        let (Some(t), Ok(id)) = (parse_ns(t), msg.parse::<u64>()) else { return };
        match event {
            "send" => {
                self.sent_at.insert(id, t);
            }
            "fail" => {
                self.failed_at.insert(id, t);
            }
            "receive" => {
                if let Some(sent) = self.sent_at.remove(&id) {
                    if receive == "1" && id > self.warmup {
                        let wait = t - sent;
                        self.stats.waits += 1;
                        self.stats.waited += u64::from(wait > 0);
                        self.stats.wait_sum_ns += u128::from(wait);
                    }
                }
                if let Some(failed) = self.failed_at.remove(&id) {
                    self.stats.retries += 1;
                    self.stats.retry_sum_ns += u128::from(t - failed);
                }
            }
            _ => {}
        }
    }
}

/// Exact nanoseconds of a trace time (`s` or `s.fraction`, up to 9 digits).
fn parse_ns(t: &str) -> Option<Nanos> {
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if frac.len() > 9 {
        return None;
    }
    let mut ns = whole.parse::<u64>().ok()?.checked_mul(NS_PER_S)?;
    if !frac.is_empty() {
        ns += frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32);
    }
    Some(ns)
}

/// A trace destination that keeps statistics instead of text.
#[derive(Clone, Default)]
struct Tap(Arc<Mutex<TapState>>);

impl Write for Tap {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.0.lock().map_err(|_| io::Error::other("tap poisoned"))?;
        st.partial.extend_from_slice(buf);
        let text = std::mem::take(&mut st.partial);
        let mut rest = &text[..];
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if let Ok(line) = std::str::from_utf8(&rest[..i]) {
                st.line(line);
            }
            rest = &rest[i + 1..];
        }
        st.partial = rest.to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ------------------------------------------------------------------ running

/// The scenario of a case with the user's overrides (and replication seed).
pub fn resolve(case: &Case, overrides: &[Override], seed: Option<u64>) -> Result<Scenario, InputError> {
    let source = Source::from_text(Path::new(&format!("theory:{}", case.name)), case.scenario.to_string())?;
    source.resolve(overrides, seed)
}

/// One replication's statistic.
fn replicate(case: &Case, scenario: &Scenario) -> Result<f64, Error> {
    match case.measure {
        Measure::Summary(f) => Ok(f(&crate::run(scenario, crate::RunOptions::default())?.0)),
        Measure::Trace(f) => {
            let tap = Tap::default();
            // The first 5% of messages are the warm-up (the queue starts empty).
            let warmup = scenario.run.messages.unwrap_or(0) / 20;
            tap.0.lock().expect("fresh tap").warmup = warmup;
            let opts = crate::RunOptions { trace: Some(Trace::new(Box::new(tap.clone()))), ..Default::default() };
            let (_, trace) = crate::run(scenario, opts)?;
            if let Some(t) = trace {
                t.finish().map_err(|e| Error::Io(format!("theory trace: {e}")))?;
            }
            let st = tap.0.lock().map_err(|_| Error::Bug("theory tap poisoned".into()))?;
            Ok(f(&st.stats))
        }
    }
}

/// Run one case: replications in parallel (deterministic: fixed seeds,
/// results gathered in order), interval, verdict.
pub fn run_case(case: &Case, overrides: &[Override], replications: Option<u32>) -> Result<Outcome, Error> {
    let base = resolve(case, overrides, None)?;
    let closed_form = (case.closed_form)(&base).map_err(|m| {
        Error::Input(InputError::new(
            crate::error::Location::None,
            format!("theory case `{}`: its closed form does not apply: {m}", case.name),
        ))
    })?;
    let r = replications.unwrap_or(case.replications).max(2);
    let values = (0..r)
        .into_par_iter()
        .map(|rep| {
            let seed = crate::rng::replication_seed(base.seed, rep);
            let mut s = base.clone();
            s.seed = seed;
            replicate(case, &s)
        })
        .collect::<Result<Vec<f64>, Error>>()?;
    let (mean, low, high) = interval(&values);
    Ok(Outcome { name: case.name, replications: r, mean, low, high, closed_form, pass: covers(low, high, closed_form) })
}

/// Mean and two-sided [`CONFIDENCE`] Student-t interval of replication values.
pub fn interval(values: &[f64]) -> (f64, f64, f64) {
    crate::expect::mean_ci(values, 1.0 - (1.0 - CONFIDENCE) / 2.0)
}

/// Whether [low, high] holds `x` (up to rounding of the last bits, so that a
/// deterministic statistic equal to its closed form passes).
pub fn covers(low: f64, high: f64, x: f64) -> bool {
    let slack = 1e-9 * x.abs().max(1e-12);
    x.is_finite() && low - slack <= x && x <= high + slack
}

/// The table `dupsim theory` prints.
pub fn report(outcomes: &[Outcome]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<26} {:>4} {:>12} {:>27} {:>12}  result",
        "case",
        "reps",
        "simulated",
        format!("{}% interval", CONFIDENCE * 100.0),
        "closed form"
    );
    for r in outcomes {
        let _ = writeln!(
            o,
            "{:<26} {:>4} {:>12} {:>27} {:>12}  {}",
            r.name,
            r.replications,
            sig(r.mean),
            format!("[{}, {}]", sig(r.low), sig(r.high)),
            sig(r.closed_form),
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    let failed = outcomes.iter().filter(|r| !r.pass).count();
    let _ = writeln!(o, "{} passed, {} failed", outcomes.len() - failed, failed);
    o
}

/// Six significant digits.
fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

/// Descriptions of the cases (`dupsim theory --list`).
pub fn list() -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    for c in cases() {
        let _ = writeln!(o, "{:<26} {}\n{:<26} closed form: {}", c.name, c.measured, "", c.formula);
    }
    o
}

/// Pick cases by name (all when `names` is empty).
pub fn select(names: &[String]) -> Result<Vec<Case>, InputError> {
    let all = cases();
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|c| c.name == n).copied().ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|c| c.name).collect();
                InputError::flag(n.clone(), format!("unknown theory case; expected one of: {}", known.join(", ")))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_known_values() {
        // M/M/1: C = rho.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // M/M/2 with a = 1: C = a^2/(2-a) / (1 + a + a^2/(2-a)) = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn trace_times_parse_to_exact_nanoseconds() {
        assert_eq!(parse_ns("31"), Some(31 * NS_PER_S));
        assert_eq!(parse_ns("31.5"), Some(31 * NS_PER_S + 500_000_000));
        assert_eq!(parse_ns("0.000000001"), Some(1));
        assert_eq!(parse_ns("1.0000000001"), None);
    }

    #[test]
    fn the_tap_measures_waits_and_retries_across_split_writes() {
        let mut tap = Tap::default();
        let text = "t_s,event,msg,worker,receive,detail\n0,send,1,,,\n0.5,receive,1,w,1,\n1,send,2,,,\n1,receive,2,w,1,\n2,fail,2,w,1,handler error\n30.25,receive,2,v,2,\n";
        let (a, b) = text.as_bytes().split_at(40);
        tap.write_all(a).unwrap();
        tap.write_all(b).unwrap();
        let st = tap.0.lock().unwrap().stats.clone();
        assert_eq!((st.waits, st.waited, st.wait_sum_ns), (2, 1, 500_000_000));
        assert_eq!((st.retries, st.retry_sum_ns), (1, 28_250_000_000));
    }
}
