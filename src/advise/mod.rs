//! `dupsim advise`: the cheapest lease, heartbeat and delivery cap that meet
//! a duplicate-rate and retry-latency budget on the user's own load.
//!
//! Input: a scenario (queue, workers, load, faults) and the processing times,
//! either the scenario's handler, a distribution (`--processing`, written as
//! in a scenario file) or a file of observed durations (`--durations`,
//! read by `observed.rs` into an empirical distribution). Budgets:
//! `budget.rs`. The knobs per broker kind: `knobs.rs`. The search (pilot,
//! bisections, common random numbers, rayon): `search.rs`. The reports
//! (text, JSON, Markdown, chart, snippets, a scenario with `[expect]`):
//! `output.rs`. docs/advise.md describes the method and its limits.
//!
//! The recommendation is the cheapest simulated setting meeting every
//! budget; costs within 1% of the cheapest count as equal (noise), and among
//! those the shortest retry wait wins, then the fewest duplicates.
//! Runners-up are the next in that order with another lease or heartbeat. When none meets the
//! budgets, [`Binding`] names the constraint that binds and the closest
//! settings are shown. The answer is a pure function of the inputs: the
//! same for any `--threads`.

mod budget;
mod knobs;
mod output;
mod search;

pub use budget::{Budgets, Constraint, RateBound};
pub use knobs::{Heartbeat, Knobs, Setting, KNOBS};
pub use search::{Evaluation, Processing};

use crate::config::{Override, Source};
use crate::dist::Dist;
use crate::duration::{as_secs_f64, Nanos};
use crate::error::{Error, InputError};
use crate::observed::{self, Observed, ReadOptions, Unit};
use crate::scenario::Step;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use search::{Evaluator, Load};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the processing times come from.
#[derive(Debug, Clone, Default)]
pub enum ProcessingInput {
    /// The scenario's own handler.
    #[default]
    Scenario,
    /// A distribution written as in a scenario file, e.g. `{ kind = "lognormal", median = "20s", p99 = "45s" }`.
    Distribution(String),
    /// A file of observed durations.
    File { path: PathBuf, read: ReadOptions },
}

/// What `dupsim advise` was asked.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    pub scenario: PathBuf,
    pub overrides: Vec<Override>,
    pub processing: ProcessingInput,
    pub budgets: Budgets,
    /// Replications per setting (at least 2). Default 3.
    pub replications: u32,
    /// The handler's timeout for the "6x timeout" rule; None: derived from
    /// the scenario's handler where every step is bounded.
    pub timeout_ns: Option<Nanos>,
    pub threads: Option<usize>,
    /// Simulate the full grid instead of searching it (to check the search).
    pub exhaustive: bool,
}

/// A rule of thumb, as simulated.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: &'static str,
    /// How the setting was derived, e.g. "VT = 2 x p99 processing (44.8 s)".
    pub derivation: String,
    pub eval: Arc<Evaluation>,
}

/// Why nothing meets the budgets.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The constraint(s) that cannot be met (two when they conflict).
    pub constraints: Vec<Constraint>,
    pub explanation: String,
}

/// The answer.
pub struct Advice {
    pub name: String,
    pub scenario_file: PathBuf,
    pub knobs: &'static Knobs,
    pub budgets: Budgets,
    pub replications: u32,
    pub processing: Processing,
    /// "the scenario's handler", "--durations FILE (...)", ...
    pub processing_source: String,
    /// The durations file, read (its values are written next to the locked scenario).
    pub observed: Option<Observed>,
    pub processing_text: Option<String>,
    pub scenario_mrc: Option<u32>,
    pub recommendation: Option<Arc<Evaluation>>,
    pub runners_up: Vec<Arc<Evaluation>>,
    /// When nothing meets the budgets: the settings nearest to meeting them.
    pub closest: Vec<Arc<Evaluation>>,
    pub binding: Option<Binding>,
    pub rules: Vec<Rule>,
    pub evaluated: Vec<Arc<Evaluation>>,
    pub runs: u64,
    pub full_grid_runs: u64,
    pub search: search::Found,
    pub overrides: Vec<Override>,
    pub warnings: Vec<String>,
}

impl Advice {
    pub fn met(&self) -> bool {
        self.recommendation.is_some()
    }
}

/// A distribution from its scenario-file text (a flag's value): resolved as
/// the handler of a stub scenario, so it is checked exactly like the file.
pub fn parse_distribution(text: &str) -> Result<Dist, InputError> {
    let flag = format!("--processing {text}");
    let stub = format!(
        "name = \"processing\"\n[run]\nmessages = 1\n[producer]\narrival = {{ kind = \"constant\", interval = \"1s\" }}\n[[workers]]\nname = \"w\"\n[handler]\nduration = {text}\n"
    );
    let source = Source::from_text(Path::new(""), stub).map_err(|e| InputError::flag(&flag, e.message))?;
    let s = source.resolve(&[], None).map_err(|e| InputError::flag(&flag, e.message))?;
    match s.handler.steps.first() {
        Some(Step::Delay(d)) => Ok(d.clone()),
        _ => Err(InputError::flag(flag, "expected a distribution")),
    }
}

fn queue_kind(source: &Source) -> String {
    source.table.get("queue").and_then(|q| q.get("kind")).and_then(|k| k.as_str()).unwrap_or("sqs_standard").to_string()
}

fn check_budgets(b: &Budgets, replications: u32) -> Result<(), InputError> {
    if !(b.max_duplicate_rate > 0.0 && b.max_duplicate_rate <= 1.0) {
        return Err(InputError::flag(
            format!("--max-duplicate-rate {}", b.max_duplicate_rate),
            "expected a rate in (0, 1], e.g. 0.001; a rate of exactly 0 cannot be shown by a finite sample",
        ));
    }
    if !(b.confidence > 0.0 && b.confidence < 1.0) {
        return Err(InputError::flag(
            format!("--confidence {}", b.confidence),
            "expected a number in (0, 1), e.g. 0.95",
        ));
    }
    if !(b.max_retry_p99_s.is_finite() && b.max_retry_p99_s >= 0.0) {
        return Err(InputError::flag("--max-retry-p99", "expected a duration such as \"2m\""));
    }
    if let Some(c) = b.max_cost_per_million_usd.filter(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(InputError::flag(format!("--max-cost-per-million {c}"), "expected a positive number of USD"));
    }
    if let Some(d) = b.max_dlq_rate.filter(|d| !(*d > 0.0 && *d <= 1.0)) {
        return Err(InputError::flag(format!("--max-dlq-rate {d}"), "expected a rate in (0, 1]"));
    }
    if !(2..=1000).contains(&replications) {
        return Err(InputError::flag(
            format!("--replications {replications}"),
            "expected 2 to 1000 (a confidence bound needs at least 2)",
        ));
    }
    Ok(())
}

/// The processing input, read.
struct ProcessingRead {
    /// Replaces the handler (None: the scenario's own).
    dist: Option<Dist>,
    description: String,
    observed: Option<Observed>,
    /// The `--processing` text.
    text: Option<String>,
}

fn processing(input: &ProcessingInput) -> Result<ProcessingRead, InputError> {
    Ok(match input {
        ProcessingInput::Scenario => {
            ProcessingRead { dist: None, description: "the scenario's handler".into(), observed: None, text: None }
        }
        ProcessingInput::Distribution(text) => ProcessingRead {
            dist: Some(parse_distribution(text)?),
            description: format!("--processing {text}"),
            observed: None,
            text: Some(text.clone()),
        },
        ProcessingInput::File { path, read } => {
            let o = observed::read(path, read)?;
            let description = format!("{} ({} durations, {}, in {})", path.display(), o.sorted.len(), o.source, o.unit);
            ProcessingRead {
                dist: Some(Dist::Empirical { sorted: o.sorted.clone() }),
                description,
                observed: Some(o),
                text: None,
            }
        }
    })
}

/// The handler's timeout, where one applies: the handler calls at least one
/// dependency with a client timeout and every step is bounded (a constant
/// delay, or a call with a timeout); the sum of the bounds. None otherwise.
fn handler_timeout_ns(s: &crate::scenario::Scenario) -> Option<Nanos> {
    let has_timeout = s.handler.steps.iter().any(|step| {
        matches!(step, Step::Call { dependency } if s.dependencies.get(*dependency).is_some_and(|d| d.timeout_ns.is_some()))
    });
    if !has_timeout {
        return None;
    }
    s.handler.steps.iter().try_fold(0u64, |sum, step| {
        let bound = match step {
            Step::Delay(Dist::Constant(c)) => Some(*c),
            Step::Delay(_) => None,
            Step::Call { dependency } => s.dependencies.get(*dependency).and_then(|d| d.timeout_ns),
        }?;
        Some(sum.saturating_add(bound))
    })
}

/// The rules of thumb, on the pilot's processing times. maxReceiveCount:
/// the scenario's own, or 5 when it sets none.
fn rule_settings(
    p: &Processing,
    timeout_ns: Option<Nanos>,
    k: &Knobs,
    mrc: Option<u32>,
) -> Vec<(&'static str, String, Setting)> {
    let mrc = Some(mrc.unwrap_or(5));
    let at =
        |vt: f64, heartbeat| Setting { vt_s: search::ceil_s(vt, k.lease_max_s), heartbeat, max_receive_count: mrc };
    let mut rules = vec![
        ("2x p99", format!("VT = 2 x p99 processing ({:.1} s), no heartbeat", p.p99_s), at(2.0 * p.p99_s, None)),
        (
            "4x p99 + heartbeat 30s/60s",
            format!("VT = 4 x p99 processing ({:.1} s), heartbeat every 30 s extending to 60 s", p.p99_s),
            at(4.0 * p.p99_s, Some(Heartbeat { interval_s: 30, extension_s: 60 })),
        ),
    ];
    if let Some(t) = timeout_ns {
        let t = as_secs_f64(t);
        rules.push((
            "6x timeout",
            format!("VT = 6 x the handler timeout ({t:.1} s), no heartbeat (AWS's advice for Lambda)"),
            at(6.0 * t, None),
        ));
    }
    rules
}

fn progress_bar() -> ProgressBar {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(None, target);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} runs  {msg}  {per_sec}  {elapsed}") {
        bar.set_style(style);
    }
    bar
}

/// Run the search and judge the results.
pub fn advise(opts: &AdviseOptions) -> Result<Advice, Error> {
    check_budgets(&opts.budgets, opts.replications)?;
    let source = Source::load(&opts.scenario)?;
    let base = source.resolve(&opts.overrides, None)?;
    let kind = queue_kind(&source);
    let knobs = knobs::for_broker(&kind).ok_or_else(|| {
        let known: Vec<&str> = KNOBS.iter().map(|k| k.broker).collect();
        source.error_at("queue.kind", format!("advise knows the brokers [{}], not `{kind}`", known.join(", ")))
    })?;
    let ProcessingRead { dist, description: processing_source, observed, text: processing_text } =
        processing(&opts.processing)?;
    let mut warnings: Vec<String> = observed.iter().flat_map(|o| o.warnings.clone()).collect();
    let timeout_ns = opts.timeout_ns.or_else(|| if dist.is_none() { handler_timeout_ns(&base) } else { None });
    let scenario_mrc = base.queue().max_receive_count;
    let load =
        Load { source, overrides: opts.overrides.clone(), knobs, processing: dist, replications: opts.replications };
    let threads = match opts.threads {
        Some(0) => return Err(InputError::flag("--threads 0", "expected at least 1 thread").into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Io(format!("cannot start {threads} threads: {e}")))?;
    let bar = progress_bar();
    let ev = Evaluator::new(&load, opts.budgets, bar.clone());
    let (found, rules) = pool.install(|| -> Result<_, Error> {
        let found = search::search(&ev, scenario_mrc, opts.exhaustive)?;
        bar.set_message("rules of thumb");
        let rules: Vec<(&'static str, String, Setting)> =
            rule_settings(&found.processing, timeout_ns, knobs, scenario_mrc);
        let evals = rules.par_iter().map(|(_, _, s)| ev.eval(*s)).collect::<Result<Vec<_>, Error>>()?;
        let rules = rules.into_iter().zip(evals).map(|((name, derivation, _), eval)| Rule { name, derivation, eval });
        // Nothing met: also try the shortest lease (the shortest possible wait
        // after a crash), so the binding analysis knows whether the retry
        // budget can be met at all.
        let met = ev.evaluated().iter().any(|e| is_search_point(e, &found) && opts.budgets.meets_all(&e.measured()));
        if !met {
            let mrc = found.max_receive_counts.last().copied();
            ev.eval(Setting { vt_s: 1, heartbeat: None, max_receive_count: mrc })?;
        }
        Ok((found, rules.collect::<Vec<Rule>>()))
    })?;
    bar.finish_and_clear();
    // The pilot and rules of thumb outside the search space are scored, not recommended.
    let evaluated: Vec<Arc<Evaluation>> = ev.evaluated();
    let searched: Vec<Arc<Evaluation>> = evaluated.iter().filter(|e| is_search_point(e, &found)).cloned().collect();
    let mut feasible: Vec<Arc<Evaluation>> =
        searched.iter().filter(|e| opts.budgets.meets_all(&e.measured())).cloned().collect();
    search::order_feasible(&mut feasible);
    let recommendation = feasible.first().cloned();
    let runners_up = runners_up(&feasible, 3);
    let (closest, binding) = if recommendation.is_some() {
        (Vec::new(), None)
    } else {
        (closest(&opts.budgets, &searched, 3), Some(binding(&opts.budgets, &searched)))
    };
    if found.processing.max_s <= 0.0 {
        warnings.push("the pilot run processed nothing; check the scenario's load".into());
    }
    let runs = evaluated.len() as u64 * u64::from(opts.replications);
    let full_grid_runs = search::full_grid_runs(&found, opts.replications);
    Ok(Advice {
        name: base.name.clone(),
        scenario_file: opts.scenario.clone(),
        knobs,
        budgets: opts.budgets,
        replications: opts.replications,
        processing: found.processing,
        processing_source,
        observed,
        processing_text,
        scenario_mrc,
        recommendation,
        runners_up,
        closest,
        binding,
        rules,
        evaluated,
        runs,
        full_grid_runs,
        search: found,
        overrides: opts.overrides.clone(),
        warnings,
    })
}

/// A setting of the search space (the pilot and the rules of thumb may lie outside it).
fn is_search_point(e: &Evaluation, found: &search::Found) -> bool {
    let s = &e.setting;
    let mrc_ok = s.max_receive_count.is_some_and(|m| found.max_receive_counts.contains(&m));
    let lease_ok = match s.heartbeat {
        None => s.vt_s <= found.vt_hi_s,
        Some(h) => {
            found.ladder.contains(&h.interval_s)
                && search::EXTENSION_MULTIPLES.iter().any(|m| h.extension_s == m * h.interval_s)
                && s.vt_s <= h.interval_s + 1
        }
    };
    mrc_ok && lease_ok
}

/// The settings after the first, each with a VT and heartbeat interval not
/// shown before.
fn runners_up(feasible: &[Arc<Evaluation>], n: usize) -> Vec<Arc<Evaluation>> {
    let mut shown = Vec::new();
    let mut out = Vec::new();
    for e in feasible {
        let key = (e.setting.vt_s, e.setting.heartbeat.map(|h| h.interval_s));
        if shown.contains(&key) {
            continue;
        }
        shown.push(key);
        out.push(Arc::clone(e));
        if out.len() > n {
            break;
        }
    }
    out.into_iter().skip(1).collect()
}

/// The `n` settings nearest to meeting every budget (smallest largest
/// value-to-budget ratio), distinct in lease and heartbeat.
fn closest(b: &Budgets, evaluated: &[Arc<Evaluation>], n: usize) -> Vec<Arc<Evaluation>> {
    let mut all: Vec<&Arc<Evaluation>> = evaluated.iter().collect();
    all.sort_by(|x, y| b.excess(&x.measured()).total_cmp(&b.excess(&y.measured())).then(search::rank(x, y)));
    let mut shown = Vec::new();
    let mut out = Vec::new();
    for e in all {
        let key = (e.setting.vt_s, e.setting.heartbeat);
        if !shown.contains(&key) && out.len() < n {
            shown.push(key);
            out.push(Arc::clone(e));
        }
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.3}%", x * 100.0)
}

/// Which constraint binds: one that no simulated setting meets on its own,
/// or else the pair that no setting meets together.
fn binding(b: &Budgets, evaluated: &[Arc<Evaluation>]) -> Binding {
    let meets = |e: &Evaluation, c: Constraint| b.meets(c, &e.measured());
    let best_by = |c: Constraint, pool: &[&Arc<Evaluation>]| -> Option<Arc<Evaluation>> {
        pool.iter()
            .min_by(|x, y| {
                Budgets::value(c, &x.measured()).total_cmp(&Budgets::value(c, &y.measured())).then(search::rank(x, y))
            })
            .map(|e| Arc::clone(e))
    };
    let all: Vec<&Arc<Evaluation>> = evaluated.iter().collect();
    for c in Constraint::ALL {
        let Some(limit) = b.limit(c) else { continue };
        if all.iter().any(|e| meets(e, c)) {
            continue;
        }
        let Some(e) = best_by(c, &all) else { break };
        let explanation = match c {
            Constraint::DuplicateRate if e.duplicate_effects == 0 => {
                let z = crate::dist::inverse_normal_cdf(b.confidence);
                format!(
                    "duplicate rate: the sample is too small to show a rate of {} or below: with no duplicate in {} messages the {:.0}% upper bound is still {} (at {}). Simulate about {:.0} messages or more (run.messages x --replications).",
                    pct(limit),
                    e.logical_sent,
                    b.confidence * 100.0,
                    pct(e.duplicate_rate.upper),
                    e.setting.label(),
                    (z * z / limit).ceil()
                )
            }
            Constraint::DuplicateRate => format!(
                "duplicate rate: no setting tried brings its {:.0}% upper bound to {} or below; the lowest is {} at {} (mean {}). {}",
                b.confidence * 100.0,
                pct(limit),
                pct(e.duplicate_rate.upper),
                e.setting.label(),
                pct(e.duplicate_rate.mean),
                causes_note(&e)
            ),
            Constraint::RetryLatency => format!(
                "retry latency: every setting tried lets a failed or crashed message wait longer than {limit:.1} s (p99); the shortest is {:.1} s at {}",
                e.retry_p99_s,
                e.setting.label()
            ),
            Constraint::Cost => format!(
                "cost: every setting tried costs more than ${limit:.4} per million messages; the cheapest is ${:.4} at {}",
                e.cost_per_million_usd,
                e.setting.label()
            ),
            Constraint::DlqRate => format!(
                "DLQ rate: every setting tried dead-letters more than {} of messages (upper bound); the lowest is {} at {}",
                pct(limit),
                pct(e.dlq_rate.upper),
                e.setting.label()
            ),
        };
        return Binding { constraints: vec![c], explanation };
    }
    // Each budget alone can be met: find the first that conflicts with the ones before it.
    let mut pool: Vec<&Arc<Evaluation>> = all.clone();
    let mut before: Vec<Constraint> = Vec::new();
    for c in Constraint::ALL {
        if b.limit(c).is_none() {
            continue;
        }
        let next: Vec<&Arc<Evaluation>> = pool.iter().copied().filter(|e| meets(e, c)).collect();
        if next.is_empty() {
            let e = best_by(c, &pool);
            let names: Vec<&str> = before.iter().map(|c| c.key()).collect();
            let value = e.as_ref().map_or(f64::NAN, |e| Budgets::value(c, &e.measured()));
            let at = e.as_ref().map_or(String::new(), |e| e.setting.label());
            let explanation = format!(
                "{} conflicts with {}: each can be met alone, but the settings meeting {} reach at best {} = {} (at {}), over the budget {}",
                c.key(),
                names.join(" and "),
                names.join(" and "),
                c.key(),
                fmt_value(c, value),
                at,
                fmt_value(c, b.limit(c).unwrap_or(f64::NAN))
            );
            let mut constraints = before.clone();
            constraints.push(c);
            return Binding { constraints, explanation };
        }
        pool = next;
        before.push(c);
    }
    Binding { constraints: Vec::new(), explanation: "no setting was simulated".into() }
}

fn fmt_value(c: Constraint, v: f64) -> String {
    match c {
        Constraint::DuplicateRate | Constraint::DlqRate => pct(v),
        Constraint::RetryLatency => format!("{v:.1} s"),
        Constraint::Cost => format!("${v:.4}/million"),
    }
}

/// Where the duplicates of a setting come from, and whether a lease can help.
fn causes_note(e: &Evaluation) -> String {
    let [concurrent, failure, crash, success, broker] = e.causes;
    let fixed = success + broker;
    let mut s = format!(
        "Its redeliveries: {concurrent} concurrent (lease expired under a working handler), {failure} after a failure, {crash} after a crash, {success} after a success (delete lost or late), {broker} broker duplicates."
    );
    if fixed > 0 && fixed >= concurrent {
        s.push_str(" Deletes that are lost or late and broker duplicates do not depend on the lease: only idempotency removes them.");
    }
    s
}

/// Write every report file of `a` into `out` (see `output.rs`); the names written.
pub fn write_report(a: &Advice, out: &Path) -> Result<Vec<String>, Error> {
    output::write_all(a, out)
}

/// `dupsim advise`.
pub fn cmd_advise(opts: &AdviseOptions, out: Option<&Path>, json: bool) -> Result<i32, Error> {
    let advice = advise(opts)?;
    let out =
        out.map(Path::to_path_buf).unwrap_or_else(|| Path::new("reports").join(format!("{}-advise", advice.name)));
    let written = write_report(&advice, &out)?;
    for w in &advice.warnings {
        eprintln!("warning: {w}");
    }
    if json {
        crate::cli::print_stdout(&(serde_json::to_string_pretty(&output::json(&advice)).unwrap_or_default() + "\n"));
    } else {
        crate::cli::print_stdout(&output::text(&advice));
    }
    eprintln!("wrote {} in {}", written.join(", "), out.display());
    Ok(if advice.met() { 0 } else { 1 })
}

/// The `--unit` flag.
pub fn parse_unit(text: &str) -> Result<Unit, InputError> {
    Unit::parse(text).ok_or_else(|| InputError::flag(format!("--unit {text}"), "expected s or ms"))
}
