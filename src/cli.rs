//! Command-line interface: the clap flags of docs/output.md, mapped onto the
//! library. Nothing here is simulation logic; errors become exit codes
//! (0 ok, 1 failed expectation, 2 bad input).

use crate::config::{Override, Source};
use crate::error::{Error, InputError};
use crate::output::{write_atomic, OutputFile, Target};
use crate::sim::{run, RunOptions};
use crate::trace::{MemoryBuffer, Trace};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "dupsim",
    version,
    about = "Deterministic simulator of duplicate message processing in message queues"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and print its summary.
    Run {
        scenario: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Override a scenario value by dotted path, e.g. queue.visibility_timeout=45s.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Print the summary as one JSON object, nothing else.
        #[arg(long)]
        json: bool,
        /// Write the trace CSV (t_s,event,msg,worker,receive,detail); `-` is
        /// standard output (the summary then goes to standard error).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Draw a Gantt chart of the run (SVG or PNG by extension).
        #[arg(long, value_name = "FILE.svg")]
        timeline: Option<PathBuf>,
        /// Also write summary.json and summary.txt into DIR.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Stop with an error (exit 2) after this much wall-clock time, e.g. 10m
        /// (same as --set run.max_wall_time=...).
        #[arg(long, value_name = "DURATION")]
        max_wall: Option<String>,
        /// Check the model's invariants after every event (slow; a broken
        /// invariant is a bug, exit 70). Results are unchanged.
        #[arg(long)]
        paranoid: bool,
    },
    /// Run scenarios with an [expect] table and report PASS/FAIL per expectation.
    Check {
        /// Scenario files or directories (searched for *.toml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also write JUnit XML for CI systems.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Stop with an error (exit 2) when one run takes more than this
        /// wall-clock time, e.g. 10m.
        #[arg(long, value_name = "DURATION")]
        max_wall: Option<String>,
    },
    /// Parse and check scenario files without running them.
    Validate {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Run the scenario over the grid of its [sweep] table and write a report.
    Sweep {
        scenario: PathBuf,
        /// Worker threads (default: all cores); the output does not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Output directory (default reports/<scenario name>/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Run only shard K of N (points with index % N == K-1); join with `merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Override a scenario value at every point, e.g. run.messages=2000.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Write into DIR even if it holds a report made from other inputs.
        #[arg(long)]
        force: bool,
    },
    /// Check the simulator against closed forms of queueing theory: built-in
    /// cases, simulated value and confidence interval beside the closed form.
    /// Exit 1 when a closed form falls outside its interval.
    Theory {
        /// Cases to run (default: all; see --list).
        cases: Vec<String>,
        /// Override a value of every case run, e.g.
        /// 'handler.duration={ kind = "pareto", scale = "5s", shape = 2.5 }'.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Replications per case (default: the case's own, 10 or 20).
        #[arg(long, value_name = "N")]
        replications: Option<u32>,
        /// List the cases with their closed forms and exit.
        #[arg(long)]
        list: bool,
    },
    /// Find the cheapest visibility timeout, heartbeat and maxReceiveCount that
    /// meet a duplicate-rate and retry-latency budget (see docs/advise.md).
    Advise {
        scenario: PathBuf,
        /// Processing times as a distribution, e.g. '{kind="lognormal", median="20s", p99="45s"}'
        /// (default: the scenario's handler).
        #[arg(long, value_name = "DIST", conflicts_with = "durations")]
        processing: Option<String>,
        /// Observed processing times: one per line, a CSV column, or JSON lines
        /// with a duration or start/end timestamps.
        #[arg(long, value_name = "FILE")]
        durations: Option<PathBuf>,
        /// The CSV column or JSON field holding durations.
        #[arg(long, value_name = "NAME", requires = "durations")]
        column: Option<String>,
        /// Unit of duration values: s or ms (default: from the column name, else s).
        #[arg(long, value_name = "s|ms", requires = "durations")]
        unit: Option<String>,
        /// Largest acceptable duplicate rate (its upper confidence bound), e.g. 0.001.
        #[arg(long, value_name = "RATE")]
        max_duplicate_rate: f64,
        /// Confidence level of the duplicate-rate bound.
        #[arg(long, default_value_t = 0.95)]
        confidence: f64,
        /// Longest acceptable retry-latency p99 (how long a failed or crashed message may wait), e.g. 2m.
        #[arg(long, value_name = "DURATION")]
        max_retry_p99: String,
        /// Largest acceptable cost per million messages, USD.
        #[arg(long, value_name = "USD")]
        max_cost_per_million: Option<f64>,
        /// Largest acceptable fraction of messages dead-lettered (upper confidence bound).
        #[arg(long, value_name = "RATE")]
        max_dlq_rate: Option<f64>,
        /// Handler timeout for the "6x timeout" rule of thumb (default: from the scenario's handler).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        /// Replications per setting (at least 2).
        #[arg(long, default_value_t = 3)]
        replications: u32,
        /// Worker threads (default: all cores); the answer does not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Output directory (default reports/<scenario name>-advise/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the result as one JSON object, nothing else.
        #[arg(long)]
        json: bool,
        /// Simulate every setting of the full grid instead of searching it (slow; checks the search).
        #[arg(long)]
        exhaustive: bool,
        /// Override a scenario value, e.g. run.messages=2000.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Join the outputs of the shards of one sweep and write its report.
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output directory (default: the first DIR).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write into --out DIR even if it holds a report made from other inputs.
        #[arg(long)]
        force: bool,
    },
}

/// Parse the process arguments, run, and return the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn dispatch(command: Command) -> Result<i32, Error> {
    match command {
        Command::Run { scenario, seed, set, json, trace, timeline, out, max_wall, paranoid } => {
            let mut overrides = parse_overrides(&set)?;
            if let Some(w) = max_wall {
                parse_max_wall(&w)?;
                overrides.push(Override { path: "run.max_wall_time".into(), value: format!("\"{w}\"") });
            }
            let outputs =
                RunOutputs { json, trace: trace.as_deref(), timeline: timeline.as_deref(), out: out.as_deref() };
            cmd_run(&scenario, &overrides, seed, outputs, paranoid)
        }
        Command::Check { paths, junit, max_wall } => {
            let opts = crate::check::CheckOptions {
                max_wall_ns: max_wall.as_deref().map(parse_max_wall).transpose()?,
                progress: crate::progress::Progress::on_terminal("check"),
            };
            cmd_check(&paths, junit.as_deref(), &opts)
        }
        Command::Validate { scenarios } => {
            for path in &scenarios {
                crate::check::load(path)?;
                print_stdout(&format!("{}: ok\n", path.display()));
            }
            Ok(0)
        }
        Command::Sweep { scenario, threads, out, shard, set, force } => crate::sweep::cmd_sweep(
            &scenario,
            &parse_overrides(&set)?,
            threads,
            out.as_deref(),
            shard.as_deref(),
            force,
        ),
        Command::Merge { dirs, out, force } => crate::sweep::cmd_merge(&dirs, out.as_deref(), force),
        Command::Theory { cases, set, replications, list } => cmd_theory(&cases, &set, replications, list),
        Command::Advise {
            scenario,
            processing,
            durations,
            column,
            unit,
            max_duplicate_rate,
            confidence,
            max_retry_p99,
            max_cost_per_million,
            max_dlq_rate,
            timeout,
            replications,
            threads,
            out,
            json,
            exhaustive,
            set,
        } => {
            use crate::advise::{AdviseOptions, Budgets, ProcessingInput};
            let duration_flag = |flag: &str, text: &str| {
                crate::duration::parse(text).map_err(|m| InputError::flag(format!("{flag} {text}"), m))
            };
            let processing = match (processing, durations) {
                (Some(text), _) => ProcessingInput::Distribution(text),
                (None, Some(path)) => ProcessingInput::File {
                    path,
                    read: crate::observed::ReadOptions {
                        column,
                        unit: unit.as_deref().map(crate::advise::parse_unit).transpose()?,
                    },
                },
                (None, None) => ProcessingInput::Scenario,
            };
            let opts = AdviseOptions {
                scenario,
                overrides: parse_overrides(&set)?,
                processing,
                budgets: Budgets {
                    max_duplicate_rate,
                    confidence,
                    max_retry_p99_s: crate::duration::as_secs_f64(duration_flag("--max-retry-p99", &max_retry_p99)?),
                    max_cost_per_million_usd: max_cost_per_million,
                    max_dlq_rate,
                },
                replications,
                timeout_ns: timeout.as_deref().map(|t| duration_flag("--timeout", t)).transpose()?,
                threads,
                exhaustive,
            };
            crate::advise::cmd_advise(&opts, out.as_deref(), json)
        }
    }
}

/// `--max-wall DURATION`.
fn parse_max_wall(text: &str) -> Result<crate::duration::Nanos, InputError> {
    match crate::duration::parse(text) {
        Ok(ns) if ns >= crate::duration::NS_PER_S / 1000 => Ok(ns),
        Ok(_) => Err(InputError::flag(format!("--max-wall {text}"), "expected at least 1ms")),
        Err(m) => Err(InputError::flag(format!("--max-wall {text}"), m)),
    }
}

pub fn parse_overrides(set: &[String]) -> Result<Vec<Override>, InputError> {
    set.iter().map(|s| Override::parse(s)).collect()
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: cannot write: {e}", path.display()))
}

/// Where `run` writes.
struct RunOutputs<'a> {
    json: bool,
    trace: Option<&'a Path>,
    timeline: Option<&'a Path>,
    out: Option<&'a Path>,
}

fn cmd_run(
    path: &Path,
    overrides: &[Override],
    seed: Option<u64>,
    outputs: RunOutputs,
    paranoid: bool,
) -> Result<i32, Error> {
    let RunOutputs { json, trace: trace_path, timeline, out } = outputs;
    let source = Source::load(path)?;
    let scenario = source.resolve(overrides, seed)?;
    for w in scenario.warnings() {
        eprintln!("warning: {w}");
    }
    // The trace goes to its output (a regular file under a temporary name);
    // a timeline reads the trace back from that file, or from a copy in
    // memory when there is no file to read (none, `-`, a FIFO).
    let memory = MemoryBuffer::default();
    let (file, trace) = match trace_path {
        Some(p) => {
            let (file, f) = OutputFile::create(p).map_err(|e| io_err(p, e))?;
            let regular = file.target().regular_file().is_some();
            let writer: Box<dyn Write + Send> =
                if timeline.is_some() && !regular { Box::new(Tee(f, memory.clone())) } else { f };
            (Some(file), Some(Trace::new(writer)))
        }
        None if timeline.is_some() => (None, Some(Trace::new(Box::new(memory.clone())))),
        None => (None, None),
    };
    let to_stdout = file.as_ref().is_some_and(|f| *f.target() == Target::Stdout);
    let progress = crate::progress::Progress::on_terminal(&format!("run {}", scenario.name));
    let result = run(&scenario, RunOptions { trace, progress: progress.clone(), paranoid, ..RunOptions::default() });
    if let Some(p) = &progress {
        p.clear();
    }
    let (summary, trace) = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(f) = file {
                f.abandon();
            }
            return Err(e);
        }
    };
    if let Some(t) = trace {
        match t.finish() {
            Err(e) if !(to_stdout && e.kind() == std::io::ErrorKind::BrokenPipe) => {
                return Err(io_err(trace_path.unwrap_or(Path::new("trace")), e));
            }
            _ => {}
        }
    }
    let mut reread = None;
    if let (Some(f), Some(p)) = (file, trace_path) {
        reread = f.target().regular_file().map(Path::to_path_buf);
        f.commit().map_err(|e| io_err(p, e))?;
    }
    if let Some(tl) = timeline {
        let text = match &reread {
            Some(p) => std::fs::read_to_string(p).map_err(|e| io_err(p, e))?,
            None => memory.text(),
        };
        crate::report::timeline::draw(&text, &scenario.name, tl).map_err(Error::Io)?;
    }
    let json_text = serde_json::to_string_pretty(&summary.to_json()).expect("json");
    if let Some(dir) = out {
        write_atomic(&dir.join("summary.json"), json_text.as_bytes()).map_err(|e| io_err(dir, e))?;
        write_atomic(&dir.join("summary.txt"), summary.to_text().as_bytes()).map_err(|e| io_err(dir, e))?;
    }
    let text = if json { json_text + "\n" } else { summary.to_text() };
    if to_stdout {
        eprint!("{text}"); // standard output holds the trace
    } else {
        print_stdout(&text);
    }
    Ok(0)
}

fn cmd_theory(names: &[String], set: &[String], replications: Option<u32>, list: bool) -> Result<i32, Error> {
    use crate::theory;
    if list {
        print_stdout(&theory::list());
        return Ok(0);
    }
    let overrides = parse_overrides(set)?;
    let cases = theory::select(names)?;
    let mut outcomes = Vec::new();
    for case in &cases {
        outcomes.push(theory::run_case(case, &overrides, replications)?);
    }
    print_stdout(&theory::report(&outcomes));
    Ok(if outcomes.iter().all(|o| o.pass) { 0 } else { 1 })
}

/// Writes to an output and keeps a copy in memory (a timeline of a trace
/// written to standard output or a FIFO).
struct Tee(Box<dyn Write + Send>, MemoryBuffer);

impl Write for Tee {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.1.write_all(b)?;
        self.0.write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Print, treating a closed pipe (e.g. `| head`) as success.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

fn cmd_check(paths: &[PathBuf], junit: Option<&Path>, opts: &crate::check::CheckOptions) -> Result<i32, Error> {
    use crate::check;
    let files = check::collect(paths)?;
    let (mut passed, mut failed) = (0, 0);
    let mut suites = Vec::new();
    for (path, explicit) in files {
        let Some((source, expect)) = check::load(&path)? else {
            if explicit {
                return Err(InputError::path(
                    &path,
                    "no [expect] table, so there is nothing to check; add one (see README, Expectations) or use `dupsim run`",
                )
                .into());
            }
            continue;
        };
        let fc = check::check_file_with(&source, &expect, opts);
        if let Some(p) = &opts.progress {
            p.clear();
        }
        let fc = fc?;
        let (text, p, f) = check::report(&fc);
        print_stdout(&text);
        passed += p;
        failed += f;
        suites.push((fc.name.clone(), fc.outcomes));
    }
    if suites.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(InputError::new(
            crate::error::Location::None,
            format!("no scenario with an [expect] table in {}; nothing was checked", names.join(" ")),
        )
        .into());
    }
    if let Some(j) = junit {
        write_atomic(j, crate::expect::junit_xml(&suites).as_bytes()).map_err(|e| io_err(j, e))?;
    }
    print_stdout(&format!("{passed} passed, {failed} failed\n"));
    Ok(if failed > 0 { 1 } else { 0 })
}
