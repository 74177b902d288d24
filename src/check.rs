//! `dupsim check`: run every scenario that has an `[expect]` table, evaluate
//! its expectations (`expect/`), print one line per expectation and a final
//! "N passed, N failed" line, and explain failures with the trace events that
//! broke them so they can be replayed with `dupsim run --trace`.

use crate::config::Source;
use crate::error::{Error, InputError};
use crate::expect::{self, Expect, Outcome, PointResult};
use crate::rng::replication_seed;
use crate::sim::{run, RunOptions};
use crate::trace::{self, Trace};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Result of checking one scenario file.
pub struct FileCheck {
    pub path: PathBuf,
    pub name: String,
    pub outcomes: Vec<Outcome>,
    /// Explanations of failed outcomes (same order as the failures).
    pub notes: Vec<String>,
}

/// Scenario files named by `paths`: files as given, directories searched
/// recursively for `*.toml` (sorted). Directory entries without `[expect]`
/// are skipped.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, InputError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| InputError::path(p, format!("cannot list: {e}")))?;
            found.sort();
            out.extend(found.into_iter().map(|f| (f, false)));
        } else if p.exists() {
            out.push((p.clone(), true));
        } else {
            return Err(InputError::path(p, "no such file or directory"));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

fn expect_error(source: &Source, e: expect::ExpectError) -> InputError {
    InputError::at_span(&source.path, &source.text, e.span, format!("[expect]: {}", e.message))
}

/// Parse a file's `[expect]`; `None` when it has none. Everything `check`
/// could reject after its runs is rejected here, before any run (this is
/// what `validate` calls): see `dry_run`.
pub fn load(path: &Path) -> Result<Option<(Source, Expect)>, InputError> {
    let source = Source::load(path)?;
    let parsed = validate_source(&source)?;
    Ok(parsed.map(|e| (source, e)))
}

/// What `validate` checks of a loaded file: the scenario, its grid, and
/// its expectations (dry run); the expectations, if any.
pub fn validate_source(source: &Source) -> Result<Option<Expect>, InputError> {
    let parsed = expect::parse(&source.text).map_err(|e| expect_error(source, e))?;
    let scenario = source.resolve(&[], None)?;
    let plan = match source.table.contains_key("sweep") {
        true => Some(crate::sweep::Plan::new(source, &[])?),
        false => None,
    };
    if let Some(e) = &parsed {
        dry_run(source, &scenario, plan.as_ref(), e)?;
    }
    Ok(parsed)
}

/// The summary of a scenario before its first event: every key `check`
/// will see, with values of the right types (`dlq_deliveries` filled in, as
/// a run with dead letters has it).
fn schema_summary(s: &crate::scenario::Scenario) -> Result<serde_json::Value, crate::error::Error> {
    crate::limits::check_start(s)?;
    let world = crate::sim::World::new(s, RunOptions::default());
    let summary = crate::summary::Summary::build(s, &world, crate::sim::StopReason::Drained, Default::default())?;
    let mut json = summary.to_json();
    if let Some(map) = json.as_object_mut() {
        map.insert("dlq_deliveries".into(), serde_json::json!({ "min": 0, "max": 0 }));
    }
    Ok(json)
}

/// Evaluate the expectations against placeholder summaries of the right
/// shape (one per point and replication, as `check` would run them): an
/// unknown summary path, a type mismatch, `mean` with one replication, a
/// `where` or `along` on a parameter that is not swept or on a value not in
/// the grid is an error now, not after the whole run. Pass or fail is not
/// decided here.
fn dry_run(
    source: &Source,
    scenario: &crate::scenario::Scenario,
    plan: Option<&crate::sweep::Plan>,
    e: &Expect,
) -> Result<(), InputError> {
    let first = plan.and_then(|p| p.scenarios.first()).unwrap_or(scenario);
    let schema = schema_summary(first).map_err(|err| InputError::path(&source.path, err.to_string()))?;
    let points: Vec<PointResult> = match plan {
        Some(plan) => (0..plan.grid.points())
            .map(|i| PointResult {
                params: plan
                    .grid
                    .params
                    .iter()
                    .zip(plan.grid.values(i))
                    .map(|(p, v)| (p.path.clone(), v.text.clone()))
                    .collect(),
                summaries: vec![&schema; plan.grid.replications as usize],
            })
            .collect(),
        None => vec![PointResult {
            params: Vec::new(),
            summaries: vec![&schema; e.replications().unwrap_or(1).max(1) as usize],
        }],
    };
    expect::evaluate(e, &points).map(|_| ()).map_err(|err| expect_error(source, err))
}

/// How `check` runs scenarios (nothing here changes a result).
#[derive(Default, Clone)]
pub struct CheckOptions {
    /// `--max-wall`: each run's wall-clock limit (overrides `run.max_wall_time`).
    pub max_wall_ns: Option<crate::duration::Nanos>,
    /// The progress line on a terminal.
    pub progress: Option<std::sync::Arc<crate::progress::Progress>>,
}

/// Evaluate a scenario file's expectations (over its grid if it has `[sweep]`).
pub fn check_file(source: &Source, e: &Expect) -> Result<FileCheck, Error> {
    check_file_with(source, e, &CheckOptions::default())
}

/// [`check_file`] with a wall-clock limit and a progress line.
pub fn check_file_with(source: &Source, e: &Expect, opts: &CheckOptions) -> Result<FileCheck, Error> {
    if source.table.contains_key("sweep") {
        check_sweep(source, e, opts)
    } else {
        check_run(source, e, opts)
    }
}

/// Evaluate a sweep scenario: every point, every replication.
pub fn check_sweep(source: &Source, e: &Expect, opts: &CheckOptions) -> Result<FileCheck, Error> {
    let mut plan = crate::sweep::Plan::new(source, &[])?;
    if opts.max_wall_ns.is_some() {
        for s in &mut plan.scenarios {
            s.run.max_wall_ns = opts.max_wall_ns;
        }
    }
    if let Some(p) = &opts.progress {
        p.begin(&format!("check {}", plan.name), plan.grid.points() * plan.grid.replications as usize);
    }
    let runs = crate::sweep::run_in_memory(&plan, opts.progress.as_ref())?;
    let points: Vec<PointResult> = runs
        .iter()
        .enumerate()
        .map(|(i, summaries)| PointResult {
            params: plan
                .grid
                .params
                .iter()
                .zip(plan.grid.values(i))
                .map(|(p, v)| (p.path.clone(), v.text.clone()))
                .collect(),
            summaries: summaries.iter().collect(),
        })
        .collect();
    let outcomes = expect::evaluate(e, &points).map_err(|err| expect_error(source, err))?;
    let mut notes = Vec::new();
    for o in outcomes.iter().filter(|o| !o.passed) {
        notes.push(match o.witness {
            Some((point, rep)) => {
                let sets: Vec<String> = points[point].params.iter().map(|(k, v)| format!("--set {k}={v}")).collect();
                let seed = plan.run_seed(point, rep as u32);
                let mut scenario = plan.scenarios[point].clone();
                scenario.seed = seed;
                explain(source, &scenario, seed, o)
                    .replace(&format!("--seed {seed} --trace"), &format!("{} --seed {seed} --trace", sets.join(" ")))
            }
            None => "a condition over the table; see `dupsim sweep` for the per-point numbers".to_string(),
        });
    }
    Ok(FileCheck { path: source.path.clone(), name: plan.name.clone(), outcomes, notes })
}

/// Evaluate a plain (non-sweep) scenario.
pub fn check_run(source: &Source, e: &Expect, opts: &CheckOptions) -> Result<FileCheck, Error> {
    let mut scenario = source.resolve(&[], None)?;
    if opts.max_wall_ns.is_some() {
        scenario.run.max_wall_ns = opts.max_wall_ns;
    }
    let reps = e.replications().unwrap_or(1).max(1);
    if let Some(p) = &opts.progress {
        p.begin(&format!("check {}", scenario.name), reps as usize);
    }
    let summaries: Vec<serde_json::Value> = (0..reps)
        .into_par_iter()
        .map(|r| {
            let mut s = scenario.clone();
            s.seed = replication_seed(scenario.seed, r);
            let result = run(&s, RunOptions { progress: opts.progress.clone(), ..RunOptions::default() });
            if let Some(p) = &opts.progress {
                p.run_done();
            }
            result.map(|(summary, _)| summary.to_json())
        })
        .collect::<Result<_, _>>()?;
    let point = PointResult { params: Vec::new(), summaries: summaries.iter().collect() };
    let outcomes = expect::evaluate(e, &[point]).map_err(|err| expect_error(source, err))?;
    let mut notes = Vec::new();
    for o in outcomes.iter().filter(|o| !o.passed) {
        let seed = o.witness.map_or(scenario.seed, |(_, r)| replication_seed(scenario.seed, r as u32));
        notes.push(explain(source, &scenario, seed, o));
    }
    Ok(FileCheck { path: source.path.clone(), name: scenario.name.clone(), outcomes, notes })
}

/// Replay a failing run with a trace and show the first events that matter.
fn explain(source: &Source, scenario: &crate::scenario::Scenario, seed: u64, o: &Outcome) -> String {
    let mut s = scenario.clone();
    s.seed = seed;
    let buf = trace::MemoryBuffer::default();
    let replay = format!("dupsim run {} --seed {seed} --trace trace.csv", source.path.display());
    let traced = run(&s, RunOptions { trace: Some(Trace::new(Box::new(buf.clone()))), ..RunOptions::default() });
    let Ok((_, Some(t))) = traced else { return format!("replay: {replay}") };
    if t.finish().is_err() {
        return format!("replay: {replay}");
    }
    let rows = trace::parse(&buf.text()).unwrap_or_default();
    let Some(wanted) = witness_event(&o.name) else { return format!("replay: {replay}") };
    let first = rows.iter().find(|r| r.msg.is_some() && wanted.matches(r));
    let Some(first) = first else {
        return format!("no {} in the trace; replay: {replay}", wanted.describe());
    };
    let msg = first.msg.unwrap_or_default();
    let mut text = format!("first {}: message {msg} at t={}s; its timeline:\n", wanted.describe(), first.t_s);
    for r in rows.iter().filter(|r| r.msg == Some(msg)).take(30) {
        let rc = r.receive.map(|x| x.to_string()).unwrap_or_default();
        text.push_str(&format!(
            "      t={:<12} {:<17} worker={:<8} receive={:<3} {}\n",
            r.t_s, r.event, r.worker, rc, r.detail
        ));
    }
    text.push_str(&format!("    replay: {replay}"));
    text
}

/// The trace event that witnesses a failed condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Witness {
    Event(&'static str),
    /// A receive with a receive count above 1.
    Redelivery,
}

impl Witness {
    fn matches(self, r: &trace::Row) -> bool {
        match self {
            Witness::Event(e) => r.event == e,
            Witness::Redelivery => r.event == "receive" && r.receive.is_some_and(|n| n > 1),
        }
    }

    fn describe(self) -> String {
        match self {
            Witness::Event(e) => format!("`{e}`"),
            Witness::Redelivery => "redelivery".into(),
        }
    }
}

/// Which trace event explains a condition on the summary path in `name`.
fn witness_event(name: &str) -> Option<Witness> {
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&["duplicate", "effects"]) {
        Some(Witness::Event("duplicate_effect"))
    } else if has(&["dlq"]) {
        Some(Witness::Event("dlq"))
    } else if has(&["expired"]) {
        Some(Witness::Event("expired"))
    } else if has(&["after_crash", "crashes"]) {
        Some(Witness::Event("crash"))
    } else if has(&["after_failure", "failures"]) {
        Some(Witness::Event("fail"))
    } else if has(&["premature"]) {
        Some(Witness::Event("expire"))
    } else if has(&["causes", "redeliveries", "retry_latency"]) {
        Some(Witness::Redelivery)
    } else {
        None
    }
}

/// Lines for one checked file, and (passed, failed) counts.
pub fn report(fc: &FileCheck) -> (String, usize, usize) {
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    let mut notes = fc.notes.iter();
    for o in &fc.outcomes {
        let verdict = if o.passed { "PASS" } else { "FAIL" };
        out.push_str(&format!("{verdict}  {}: {}  (measured {}, expected {})\n", fc.name, o.name, o.measured, o.bound));
        if o.passed {
            passed += 1;
        } else {
            failed += 1;
            if let Some(n) = notes.next() {
                out.push_str(&format!("    {n}\n"));
            }
        }
    }
    (out, passed, failed)
}
