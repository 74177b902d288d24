//! Helpers shared by the integration tests: run a scenario given as text.
#![allow(dead_code)]

use dupsim::trace::{MemoryBuffer, Trace};
use dupsim::{Override, Source, Summary};
use std::path::Path;

/// Resolve and run scenario `text` with `--set` style overrides.
pub fn run_text(text: &str, sets: &[&str]) -> Summary {
    try_run_text(text, sets).unwrap_or_else(|e| panic!("run failed: {e}"))
}

pub fn try_run_text(text: &str, sets: &[&str]) -> Result<Summary, dupsim::Error> {
    let source = Source::from_text(Path::new("test.toml"), text.to_string())?;
    let overrides: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    let scenario = source.resolve(&overrides, None)?;
    Ok(dupsim::run(&scenario, dupsim::RunOptions::default())?.0)
}

/// Like [`run_text`], with the invariants checked after every event
/// (`--paranoid`); a broken invariant fails the run.
pub fn run_text_paranoid(text: &str, sets: &[&str]) -> Summary {
    let source = Source::from_text(Path::new("test.toml"), text.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let overrides: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    let scenario = source.resolve(&overrides, None).unwrap_or_else(|e| panic!("{e}"));
    let opts = dupsim::RunOptions { paranoid: true, ..Default::default() };
    dupsim::run(&scenario, opts).unwrap_or_else(|e| panic!("paranoid run failed: {e}")).0
}

/// The summary JSON without the wall-clock `perf` block.
pub fn json_without_perf(s: &Summary) -> String {
    let mut v = s.to_json();
    v.as_object_mut().unwrap().remove("perf");
    serde_json::to_string(&v).unwrap()
}

/// |observed - expected| within `k` binomial standard deviations of n trials.
pub fn assert_binomial(observed: u64, n: u64, p: f64, k: f64, what: &str) {
    let expected = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt().max(1.0);
    assert!(
        (observed as f64 - expected).abs() <= k * sd,
        "{what}: observed {observed} of {n}, expected {expected:.1} (p = {p:.5}, sd {sd:.1})"
    );
}

/// The trace rows of scenario `text` with overrides, as
/// `t_s,event,msg,worker,receive,detail` strings.
pub fn trace_rows(text: &str, sets: &[&str]) -> Vec<String> {
    trace_run(text, sets).0
}

/// The trace rows (`t_s,event,msg,worker,receive,detail`, header left out)
/// and the summary of scenario `text` run with overrides.
pub fn trace_run(text: &str, sets: &[&str]) -> (Vec<String>, Summary) {
    let source = Source::from_text(Path::new("test.toml"), text.to_string()).unwrap();
    let overrides: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    let scenario = source.resolve(&overrides, None).unwrap();
    let buf = MemoryBuffer::default();
    let opts = dupsim::RunOptions { trace: Some(Trace::new(Box::new(buf.clone()))), ..Default::default() };
    let (summary, trace) = dupsim::run(&scenario, opts).unwrap();
    trace.unwrap().finish().unwrap();
    (buf.text().lines().skip(1).map(str::to_string).collect(), summary)
}

/// The whole trace text and the summary JSON without `perf` of the scenario
/// file at `path` with overrides, run with `opts` (its trace replaced): for
/// tests that an option changes no result.
pub fn trace_and_summary_of_file(path: &str, sets: &[&str], opts: dupsim::RunOptions) -> (String, String) {
    let source = Source::load(Path::new(path)).unwrap();
    let overrides: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    let scenario = source.resolve(&overrides, None).unwrap();
    let buf = MemoryBuffer::default();
    let opts = dupsim::RunOptions { trace: Some(Trace::new(Box::new(buf.clone()))), ..opts };
    let (summary, trace) = dupsim::run(&scenario, opts).unwrap_or_else(|e| panic!("{path}: {e}"));
    trace.unwrap().finish().unwrap();
    (buf.text(), json_without_perf(&summary))
}

/// Trace rows equal to `want`, with both listed on failure.
pub fn assert_rows(got: &[String], want: &[&str]) {
    let got: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got, want, "\ngot:\n{}\nwant:\n{}", got.join("\n"), want.join("\n"));
}
