//! Parameter sweeps: `dupsim sweep` runs a scenario over the grid of its
//! `[sweep]` table, in parallel, and writes a report; `dupsim merge` joins the
//! outputs of shards.
//!
//! - Grid (`grid.rs`): each key of `[sweep]` is a dotted scenario path with a
//!   list of values (`["30s", "60s"]`, `["off", "10s"]`, `[1, 2]`) or a range
//!   (`{ from = "15s", to = "300s", step = "15s" }`, or numbers); plus
//!   `replications` (default 1). The grid is the product of the parameters in
//!   file order, the first varying slowest. Every point is resolved before
//!   anything runs; an error names the value (file:line:col) or the point.
//! - Seeds: replication r runs with `rng::replication_seed(seed, r)` (the
//!   scenario's seed for r = 0) at *every* point: common random numbers, so two points differ only by what their
//!   parameters change, not by sampling noise, and curves are smooth.
//! - Parallelism: runs (point x replication) go to a rayon pool of
//!   `--threads` threads (default: all cores). Results are gathered and
//!   written in grid order, so the output is byte-identical for any thread
//!   count. The first failing run stops the sweep (runs not yet started are
//!   skipped) with a message naming the point's values.
//! - Resume: each finished run is written at once (temporary file, then
//!   rename; not fsynced, a damaged file is just run again) to
//!   `<out>/.partial/p<point>-r<rep>.json` (the summary without `perf`, with
//!   the scenario hash: FNV-1a 64 of the dupsim and model versions, the file text and
//!   the `--set` overrides). A later sweep of the same scenario into the same
//!   directory loads matching partial files instead of running them again;
//!   files with another hash are ignored and overwritten. `.partial` is kept
//!   after the report is written, so `merge` and re-runs can use it.
//!   `.partial/manifest.json` holds the scenario text, so `merge` needs no
//!   scenario file.
//! - Shards: `--shard K/N` runs only the points with `point % N == K - 1`,
//!   writes their partial files and `shard-K-of-N.done`, and no report.
//!   `dupsim merge DIR...` checks that all directories hold the same scenario
//!   and, once the grid is complete, writes the report an unsharded run
//!   would write. See docs/sweeps.md for Slurm and Kubernetes.
//! - Report (`report.rs`): results.csv, results.json, tradeoff.svg/.png,
//!   heatmap.svg/.png (two parameters) and index.md. No wall-clock values.

mod grid;
mod report;

pub use grid::{Grid, Param, SweepValue};
pub use report::{mean_ci, MeanCi};

use crate::config::{Override, Source};
use crate::error::{Error, InputError};
use crate::output::write_atomic;
use crate::progress::Progress;
use crate::rng::replication_seed;
use crate::scenario::Scenario;
use crate::sim::{run, RunOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// What `dupsim sweep` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    pub scenario: PathBuf,
    /// `--set` overrides applied to every point.
    pub overrides: Vec<Override>,
    /// Worker threads; None = available cores.
    pub threads: Option<usize>,
    /// Output directory; None = `reports/<scenario name>/` (the name made
    /// safe by [`safe_dir_name`]).
    pub out: Option<PathBuf>,
    pub shard: Option<Shard>,
    /// Write into a directory holding a report of other inputs.
    pub force: bool,
}

/// Shard K of N (K is 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// Parse `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, InputError> {
        let flag = || format!("--shard {text}");
        let (k, n) = text.split_once('/').ok_or_else(|| InputError::flag(flag(), "expected K/N, e.g. 1/4"))?;
        let (k, n) = match (k.trim().parse::<usize>(), n.trim().parse::<usize>()) {
            (Ok(k), Ok(n)) if k >= 1 && k <= n => (k, n),
            _ => return Err(InputError::flag(flag(), "expected K/N with 1 <= K <= N, e.g. 1/4")),
        };
        Ok(Shard { k, n })
    }

    fn has(&self, point: usize) -> bool {
        point % self.n == self.k - 1
    }
}

/// A sweep ready to run: the scenario, the grid and every point resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    /// The scenario file as given on the command line.
    pub file: String,
    pub text: String,
    pub overrides: Vec<Override>,
    pub hash: String,
    /// The base scenario's seed (replication seeds derive from it).
    pub seed: u64,
    pub grid: Grid,
    /// One resolved scenario per point.
    pub scenarios: Vec<Scenario>,
}

impl Plan {
    /// Read the grid and resolve every point.
    pub fn new(source: &Source, overrides: &[Override]) -> Result<Plan, InputError> {
        let base = source.resolve(overrides, None)?;
        let grid = grid::parse(source)?;
        check_overrides(&grid, overrides)?;
        let scenarios =
            (0..grid.points()).map(|i| resolve_point(source, overrides, &grid, i)).collect::<Result<_, _>>()?;
        Ok(Plan {
            name: base.name.clone(),
            description: base.description.clone(),
            file: source.path.display().to_string(),
            text: source.text.clone(),
            overrides: overrides.to_vec(),
            hash: scenario_hash(&source.text, overrides),
            seed: base.seed,
            grid,
            scenarios,
        })
    }

    /// The seed of replication `rep` (the same at every point).
    pub fn run_seed(&self, point: usize, rep: u32) -> u64 {
        replication_seed(self.scenarios[point].seed, rep)
    }

    /// The `--set` flags as `path=value`.
    pub fn override_flags(&self) -> Vec<String> {
        self.overrides.iter().map(|o| format!("{}={}", o.path, o.value)).collect()
    }

    fn runs(&self) -> usize {
        self.grid.points() * self.grid.replications as usize
    }
}

/// A `--set` that a sweep would silently ignore is an error: one on
/// `sweep.*` (the grid is read from the file), or on a swept parameter (the
/// point's value is set after it, at every point). Paths compare by their
/// non-index segments, as `--set` applies them (`workers.0.x` is `workers.x`).
fn check_overrides(grid: &Grid, overrides: &[Override]) -> Result<(), InputError> {
    let canon = |p: &str| crate::config::canonical(p);
    for o in overrides {
        let flag = || format!("--set {}={}", o.path, o.value);
        let op = canon(&o.path);
        if op == "sweep" || op.starts_with("sweep.") {
            return Err(InputError::flag(
                flag(),
                "--set cannot change the [sweep] table (the grid is read from the file); edit the file, or --set a parameter that is not swept",
            ));
        }
        if let Some(p) = grid.params.iter().find(|p| {
            let pp = canon(&p.path);
            pp == op || pp.starts_with(&format!("{op}.")) || op.starts_with(&format!("{pp}."))
        }) {
            return Err(InputError::flag(
                flag(),
                format!(
                    "`{}` is swept ([sweep] sets it at every point), so this --set would be ignored; remove it from [sweep] to fix its value, or drop the flag",
                    p.path
                ),
            ));
        }
    }
    Ok(())
}

/// The overrides of one point: a parameter's value written as TOML, so a
/// string stays a string ("10" stays "10").
fn point_overrides(grid: &Grid, point: usize) -> Vec<Override> {
    let vals = grid.values(point);
    grid.params.iter().zip(vals).map(|(p, v)| Override { path: p.path.clone(), value: v.value.to_string() }).collect()
}

fn resolve_point(source: &Source, base: &[Override], grid: &Grid, point: usize) -> Result<Scenario, InputError> {
    let mut all = base.to_vec();
    all.extend(point_overrides(grid, point));
    source.resolve(&all, None).map_err(|e| locate_point_error(source, base, grid, point, e))
}

/// Blame the first parameter whose value alone (with the base overrides)
/// fails, at that value; else the point as a whole, at `[sweep]`.
fn locate_point_error(source: &Source, base: &[Override], grid: &Grid, point: usize, e: InputError) -> InputError {
    let at =
        |span: std::ops::Range<usize>, msg: String| InputError::at_span(&source.path, &source.text, Some(span), msg);
    for ((p, v), o) in grid.params.iter().zip(grid.values(point)).zip(point_overrides(grid, point)) {
        let mut one = base.to_vec();
        one.push(o);
        if let Err(e1) = source.resolve(&one, None) {
            return at(v.span.clone(), format!("sweep \"{}\" = {}: {}", p.path, v.text, e1.message));
        }
    }
    at(grid.span.clone(), format!("sweep point {} ({}): {e}", point, grid.label(point)))
}

/// FNV-1a 64 of the dupsim version, the model version
/// ([`crate::MODEL_VERSION`]), the scenario text and the overrides.
pub fn scenario_hash(text: &str, overrides: &[Override]) -> String {
    let mut h = crate::rng::Fnv1a::new();
    h.feed(env!("CARGO_PKG_VERSION").as_bytes());
    h.feed(&[0]);
    h.feed(format!("model {}", crate::MODEL_VERSION).as_bytes());
    h.feed(&[0]);
    h.feed(text.as_bytes());
    for o in overrides {
        h.feed(&[0]);
        h.feed(format!("{}={}", o.path, o.value).as_bytes());
    }
    format!("{:016x}", h.finish())
}

// ---------------------------------------------------------------- partial files

fn partial_dir(out: &Path) -> PathBuf {
    out.join(".partial")
}

fn partial_path(out: &Path, point: usize, rep: u32) -> PathBuf {
    partial_dir(out).join(format!("p{point}-r{rep}.json"))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: cannot write: {e}", path.display()))
}

/// The partial file's text for a finished run.
fn partial_text(plan: &Plan, point: usize, rep: u32, summary: Value) -> String {
    let doc = json!({
        "scenario_hash": plan.hash,
        "point": point,
        "replication": rep,
        "values": report::values_json(&plan.grid, point),
        "summary": summary,
    });
    serde_json::to_string(&doc).unwrap_or_default() + "\n"
}

/// The summary in a partial file's text, if it belongs to this run of `plan`.
fn parse_partial(text: &str, plan: &Plan, point: usize, rep: u32) -> Option<Value> {
    let mut doc: Value = serde_json::from_str(text).ok()?;
    let ok = doc.get("scenario_hash").and_then(Value::as_str) == Some(plan.hash.as_str())
        && doc.get("point").and_then(Value::as_u64) == Some(point as u64)
        && doc.get("replication").and_then(Value::as_u64) == Some(u64::from(rep));
    let summary = doc.get_mut("summary")?.take();
    (ok && report::has_metrics(&summary)).then_some(summary)
}

fn load_partial(dir: &Path, plan: &Plan, point: usize, rep: u32) -> Option<Value> {
    let text = std::fs::read_to_string(partial_path(dir, point, rep)).ok()?;
    parse_partial(&text, plan, point, rep)
}

/// Write a partial file: temporary name, then rename, so no reader ever
/// sees half a file. Not fsynced (a sync per run costs more than the run):
/// after a power loss a partial file may be empty or missing, and is then
/// simply run again.
fn write_partial(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = crate::output::temp_path(path);
    let result = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::write(&tmp, text))
        .and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| io_error(path, e))
}

/// Write the manifest (scenario text and overrides) that `merge` reads.
fn write_manifest(plan: &Plan, out: &Path) -> Result<(), Error> {
    let doc = json!({
        "scenario_file": plan.file,
        "scenario_hash": plan.hash,
        "overrides": plan.override_flags(),
        "text": plan.text,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    let path = partial_dir(out).join("manifest.json");
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(()); // another shard wrote the same file
    }
    write_atomic(&path, text.as_bytes()).map_err(|e| io_error(&path, e))
}

// ---------------------------------------------------------------- running

/// One run of the sweep: point and replication.
#[derive(Debug, Clone, Copy)]
struct Job {
    point: usize,
    rep: u32,
}

/// Run one job, write its partial file, and return the summary as read back
/// from that file's text (so a fresh and a resumed run give the same numbers).
/// One run of the grid: its summary without the wall-clock `perf`.
fn run_point(plan: &Plan, job: Job, progress: Option<&Arc<Progress>>) -> Result<Value, Error> {
    let mut scenario = plan.scenarios[job.point].clone();
    scenario.seed = plan.run_seed(job.point, job.rep);
    let opts = RunOptions { progress: progress.cloned(), ..RunOptions::default() };
    let result = run(&scenario, opts);
    if let Some(p) = progress {
        p.run_done();
    }
    let (summary, _) = result.map_err(|e| at_point(plan, job, e))?;
    let mut value = summary.to_json();
    if let Some(map) = value.as_object_mut() {
        map.shift_remove("perf");
    }
    Ok(value)
}

fn run_job(plan: &Plan, out: &Path, job: Job) -> Result<Value, Error> {
    let value = run_point(plan, job, None)?;
    let text = partial_text(plan, job.point, job.rep, value);
    write_partial(&partial_path(out, job.point, job.rep), &text)?;
    parse_partial(&text, plan, job.point, job.rep).ok_or_else(|| Error::Bug("partial file does not read back".into()))
}

/// Run every point and replication in memory (no files; the global rayon
/// pool), summaries without `perf`, grouped per point in grid order. Used by
/// `dupsim check` on sweep scenarios (with its progress line, if any).
pub fn run_in_memory(plan: &Plan, progress: Option<&Arc<Progress>>) -> Result<Vec<Vec<Value>>, Error> {
    let jobs: Vec<Job> = all_jobs(plan).collect();
    let summaries = jobs.par_iter().map(|&job| run_point(plan, job, progress)).collect::<Result<Vec<_>, Error>>()?;
    Ok(by_point(plan, summaries))
}

/// Name the point in a run's error.
fn at_point(plan: &Plan, job: Job, e: Error) -> Error {
    let what = format!("sweep point {} ({}), replication {}", job.point, plan.grid.label(job.point), job.rep);
    match e {
        Error::Input(i) => Error::Input(InputError::new(i.location, format!("{what}: {}", i.message))),
        Error::Limit(m) => Error::Limit(format!("{what}: {m}")),
        Error::Io(m) => Error::Io(format!("{what}: {m}")),
        Error::Bug(m) => Error::Bug(format!("{what}: {m}")),
    }
}

fn progress_bar(total: usize) -> ProgressBar {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    let template = "{bar:30} {pos}/{len} runs  {msg}  {per_sec}  ETA {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Counts finished points for the progress bar.
struct PointsDone {
    left: Vec<AtomicUsize>,
    done: AtomicUsize,
    total: usize,
}

impl PointsDone {
    fn new(jobs: &[Job]) -> PointsDone {
        let len = jobs.iter().map(|j| j.point + 1).max().unwrap_or(0);
        let left: Vec<AtomicUsize> = (0..len).map(|_| AtomicUsize::new(0)).collect();
        for j in jobs {
            left[j.point].fetch_add(1, Ordering::Relaxed);
        }
        let total = left.iter().filter(|n| n.load(Ordering::Relaxed) > 0).count();
        PointsDone { left, done: AtomicUsize::new(0), total }
    }

    /// Record a finished job; the message for the bar.
    fn finish(&self, job: Job) -> String {
        if self.left[job.point].fetch_sub(1, Ordering::Relaxed) == 1 {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        format!("points {}/{}", self.done.load(Ordering::Relaxed), self.total)
    }
}

/// Run `jobs` on a pool of `threads`; results in the order of `jobs`, or
/// the first error in that order among the runs that ran.
fn run_jobs(plan: &Plan, out: &Path, jobs: &[Job], threads: usize) -> Result<Vec<Value>, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Io(format!("cannot start {threads} threads: {e}")))?;
    let bar = progress_bar(jobs.len());
    let points = PointsDone::new(jobs);
    bar.set_message(format!("points 0/{}", points.total));
    let failed = AtomicBool::new(false);
    let results: Vec<Option<Result<Value, Error>>> = pool.install(|| {
        jobs.par_iter()
            .map(|&job| {
                if failed.load(Ordering::Relaxed) {
                    return None; // the sweep is stopping
                }
                let r = run_job(plan, out, job);
                failed.fetch_or(r.is_err(), Ordering::Relaxed);
                bar.set_message(points.finish(job));
                bar.inc(1);
                Some(r)
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut values = Vec::with_capacity(jobs.len());
    for r in results.into_iter().flatten() {
        values.push(r?);
    }
    Ok(values)
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    pub out: PathBuf,
    pub runs: usize,
    pub resumed: usize,
    /// Report files written (none for a shard).
    pub written: Vec<String>,
}

fn default_out(name: &str) -> PathBuf {
    Path::new("reports").join(safe_dir_name(name))
}

/// A scenario name made into one directory name that stays where it is put:
/// letters, digits, `-`, `_` and `.` kept, every other run of characters
/// (`/`, `\`, spaces, `..` at the start) becomes one `-`; at most 80
/// characters; "scenario" if nothing is left. An absolute name or `../..`
/// can no longer write outside `reports/`.
pub fn safe_dir_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_start_matches(['.', '-']).trim_end_matches('-').chars().take(80).collect();
    if trimmed.is_empty() {
        "scenario".into()
    } else {
        trimmed
    }
}

/// The inputs a sweep directory's outputs were made from: its manifest, or
/// the report's results.json. (scenario file, hash, overrides)
fn recorded_inputs(out: &Path) -> Option<(String, String, Vec<Value>)> {
    [partial_dir(out).join("manifest.json"), out.join("results.json")].iter().find_map(|p| {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        let field = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
        let overrides = doc.get("overrides").and_then(Value::as_array).cloned().unwrap_or_default();
        Some((field("scenario_file")?, field("scenario_hash")?, overrides))
    })
}

/// Refuse to write into `out` when it holds something other than a sweep of
/// the same scenario file with the same `--set` flags (a report of another
/// scenario, or of a quick look with other overrides, or not a sweep at
/// all), unless `force`. An edited scenario file regenerates its own report.
fn check_out(out: &Path, plan: &Plan, force: bool) -> Result<(), Error> {
    if force {
        return Ok(());
    }
    if out.exists() && !out.is_dir() {
        return Err(InputError::path(out, "exists and is not a directory").into());
    }
    let Ok(mut entries) = std::fs::read_dir(out) else { return Ok(()) };
    if entries.next().is_none() {
        return Ok(());
    }
    let flags: Vec<Value> = plan.override_flags().into_iter().map(Value::String).collect();
    let hint = "use --out DIR for another directory, or --force to write into it anyway";
    match recorded_inputs(out) {
        Some((_, hash, _)) if hash == plan.hash => Ok(()),
        Some((file, _, overrides)) if file == plan.file && overrides == flags => Ok(()),
        Some((file, _, overrides)) => {
            let shown: Vec<String> = overrides.iter().map(|o| o.as_str().unwrap_or("?").to_string()).collect();
            let sets =
                if shown.is_empty() { "no --set".to_string() } else { format!("--set {}", shown.join(" --set ")) };
            Err(InputError::path(
                out,
                format!("holds a sweep report of other inputs ({file} with {sets}); not overwriting it: {hint}"),
            )
            .into())
        }
        None => {
            Err(InputError::path(out, format!("exists and holds files that are not a sweep report; {hint}")).into())
        }
    }
}

/// Run a sweep (or one shard of it) and write its outputs.
pub fn sweep(opts: &SweepOptions) -> Result<SweepOutcome, Error> {
    let source = Source::load(&opts.scenario)?;
    let plan = Plan::new(&source, &opts.overrides)?;
    let out = opts.out.clone().unwrap_or_else(|| default_out(&plan.name));
    check_out(&out, &plan, opts.force)?;
    let threads = match opts.threads {
        Some(0) => return Err(InputError::flag("--threads 0", "expected at least 1 thread").into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    write_manifest(&plan, &out)?;
    let mine: Vec<Job> = all_jobs(&plan).filter(|j| in_shard(opts.shard, j.point)).collect();
    let mut done: Vec<Option<Value>> = mine.iter().map(|j| load_partial(&out, &plan, j.point, j.rep)).collect();
    let todo: Vec<Job> = mine.iter().zip(&done).filter(|(_, d)| d.is_none()).map(|(j, _)| *j).collect();
    let resumed = mine.len() - todo.len();
    eprintln!(
        "sweep {}: {} points x {} replications; {} of these runs: resumed {resumed} from {}, running {} on {threads} threads",
        plan.name,
        plan.grid.points(),
        plan.grid.replications,
        mine.len(),
        partial_dir(&out).display(),
        todo.len()
    );
    let mut fresh = run_jobs(&plan, &out, &todo, threads)?.into_iter();
    for slot in done.iter_mut().filter(|d| d.is_none()) {
        *slot = fresh.next();
    }
    let outcome = |written| SweepOutcome { out: out.clone(), runs: mine.len(), resumed, written };
    if let Some(shard) = opts.shard {
        write_done_marker(&plan, &out, shard, mine.len())?;
        return Ok(outcome(Vec::new()));
    }
    let runs = by_point(&plan, done.into_iter().flatten().collect());
    let written = report::write_all(&plan, &runs, &out)?;
    Ok(outcome(written))
}

/// Is `point` run by `shard` (all points without one)?
fn in_shard(shard: Option<Shard>, point: usize) -> bool {
    match shard {
        Some(s) => s.has(point),
        None => true,
    }
}

fn all_jobs(plan: &Plan) -> impl Iterator<Item = Job> + '_ {
    let reps = plan.grid.replications;
    (0..plan.grid.points()).flat_map(move |point| (0..reps).map(move |rep| Job { point, rep }))
}

/// Summaries in job order, grouped per point.
fn by_point(plan: &Plan, summaries: Vec<Value>) -> Vec<Vec<Value>> {
    let reps = plan.grid.replications as usize;
    let mut it = summaries.into_iter();
    (0..plan.grid.points()).map(|_| it.by_ref().take(reps).collect()).collect()
}

fn write_done_marker(plan: &Plan, out: &Path, shard: Shard, runs: usize) -> Result<(), Error> {
    let path = out.join(format!("shard-{}-of-{}.done", shard.k, shard.n));
    let doc = json!({ "scenario_hash": plan.hash, "shard": format!("{}/{}", shard.k, shard.n), "runs": runs });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    write_atomic(&path, text.as_bytes()).map_err(|e| io_error(&path, e))
}

// ---------------------------------------------------------------- merge

/// The plan recorded in a sweep directory's manifest.
fn plan_from_dir(dir: &Path) -> Result<Plan, Error> {
    let path = partial_dir(dir).join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        InputError::path(dir, format!("not a sweep output directory (cannot read {}: {e})", path.display()))
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| InputError::path(&path, format!("bad manifest: {e}")))?;
    let field = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
    let (Some(file), Some(scenario)) = (field("scenario_file"), field("text")) else {
        return Err(InputError::path(&path, "bad manifest: scenario_file or text missing").into());
    };
    let flags = doc.get("overrides").and_then(Value::as_array).cloned().unwrap_or_default();
    let overrides = flags.iter().filter_map(Value::as_str).map(Override::parse).collect::<Result<Vec<_>, _>>()?;
    let source = Source::from_text(Path::new(&file), scenario)?;
    Ok(Plan::new(&source, &overrides)?)
}

/// Join the partial files of `dirs` (shards of one sweep) and write the
/// report into `out` (default: the first directory).
pub fn merge(dirs: &[PathBuf], out: Option<&Path>, force: bool) -> Result<SweepOutcome, Error> {
    let first = dirs.first().ok_or_else(|| InputError::flag("merge", "give at least one directory"))?;
    let plan = plan_from_dir(first)?;
    for dir in &dirs[1..] {
        let other = plan_from_dir(dir)?;
        if other.hash != plan.hash {
            let msg = format!(
                "holds a sweep of another scenario (hash {}, not {} as in {})",
                other.hash,
                plan.hash,
                first.display()
            );
            return Err(InputError::path(dir, msg).into());
        }
    }
    let out = out.unwrap_or(first).to_path_buf();
    check_out(&out, &plan, force)?;
    write_manifest(&plan, &out)?;
    let found: Vec<Option<Value>> =
        all_jobs(&plan).map(|j| dirs.iter().find_map(|d| load_partial(d, &plan, j.point, j.rep))).collect();
    let missing: Vec<Job> = all_jobs(&plan).zip(&found).filter(|(_, f)| f.is_none()).map(|(j, _)| j).collect();
    if let Some(j) = missing.first() {
        let msg = format!(
            "the grid is incomplete: {} of {} runs missing (first: point {} ({}), replication {}); run the missing shards",
            missing.len(),
            plan.runs(),
            j.point,
            plan.grid.label(j.point),
            j.rep
        );
        return Err(InputError::path(first, msg).into());
    }
    let summaries: Vec<Value> = found.into_iter().flatten().collect();
    copy_partials(&plan, &summaries, &out)?;
    let written = report::write_all(&plan, &by_point(&plan, summaries), &out)?;
    eprintln!("merge {}: {} runs from {} directories into {}", plan.name, plan.runs(), dirs.len(), out.display());
    Ok(SweepOutcome { out, runs: plan.runs(), resumed: plan.runs(), written })
}

/// Make `out/.partial` complete, so a later sweep there resumes every run.
fn copy_partials(plan: &Plan, summaries: &[Value], out: &Path) -> Result<(), Error> {
    for (job, summary) in all_jobs(plan).zip(summaries) {
        if load_partial(out, plan, job.point, job.rep).is_none() {
            let text = partial_text(plan, job.point, job.rep, summary.clone());
            write_partial(&partial_path(out, job.point, job.rep), &text)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- commands

/// `dupsim sweep`.
pub fn cmd_sweep(
    scenario: &Path,
    overrides: &[Override],
    threads: Option<usize>,
    out: Option<&Path>,
    shard: Option<&str>,
    force: bool,
) -> Result<i32, Error> {
    let opts = SweepOptions {
        scenario: scenario.to_path_buf(),
        overrides: overrides.to_vec(),
        threads,
        out: out.map(Path::to_path_buf),
        shard: shard.map(Shard::parse).transpose()?,
        force,
    };
    let o = sweep(&opts)?;
    if o.written.is_empty() {
        eprintln!("shard done: {} runs in {}", o.runs, partial_dir(&o.out).display());
    } else {
        eprintln!("wrote {} in {}", o.written.join(", "), o.out.display());
    }
    Ok(0)
}

/// `dupsim merge`.
pub fn cmd_merge(dirs: &[PathBuf], out: Option<&Path>, force: bool) -> Result<i32, Error> {
    let o = merge(dirs, out, force)?;
    eprintln!("wrote {} in {}", o.written.join(", "), o.out.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { k: 2, n: 4 });
        for bad in ["0/4", "5/4", "x", "1/0", "1-2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let s: Vec<Shard> = (1..=3).map(|k| Shard { k, n: 3 }).collect();
        for p in 0..10 {
            assert_eq!(s.iter().filter(|s| s.has(p)).count(), 1);
        }
    }

    #[test]
    fn hostile_names_make_one_safe_directory() {
        for (name, dir) in [
            ("vt-heartbeat-sweep", "vt-heartbeat-sweep"),
            ("../../etc", "etc"),
            ("/tmp/abs", "tmp-abs"),
            ("..", "scenario"),
            ("", "scenario"),
            ("a b/c\\d", "a-b-c-d"),
            ("Zürich", "Z-rich"),
            (".hidden", "hidden"),
        ] {
            assert_eq!(safe_dir_name(name), dir, "{name}");
        }
        assert_eq!(safe_dir_name(&"x".repeat(500)).len(), 80);
        for name in ["../../x", "/abs", "..", "a/../../b", "C:\\x"] {
            let p = default_out(name);
            assert_eq!(p.components().count(), 2, "{}", p.display());
            assert!(p.starts_with("reports") && !p.components().any(|c| c == std::path::Component::ParentDir));
        }
    }

    #[test]
    fn hash_depends_on_text_and_overrides() {
        let o = |v: &str| vec![Override { path: "queue.visibility_timeout".into(), value: v.into() }];
        assert_eq!(scenario_hash("a", &o("1s")), scenario_hash("a", &o("1s")));
        assert_ne!(scenario_hash("a", &o("1s")), scenario_hash("a", &o("2s")));
        assert_ne!(scenario_hash("a", &[]), scenario_hash("b", &[]));
    }
}
