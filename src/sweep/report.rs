//! Sweep results: per-point statistics over replications, and the files
//! `results.csv`, `results.json`, `tradeoff.svg/.png`, `heatmap.svg/.png`
//! (two parameters only) and `index.md`. Everything written here is a pure
//! function of the plan and the run summaries: no wall-clock values.

use super::grid::Grid;
use super::Plan;
use crate::error::Error;
use crate::output::write_atomic;
use crate::report::chart::{heatmap_chart, pareto_front, tradeoff_chart, Heatmap, TradeoffPoint};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

/// Columns averaged over replications: (column name, JSON pointer into a summary).
const MEANS: &[(&str, &str)] = &[
    ("redeliveries_mean", "/redeliveries"),
    ("concurrent_mean", "/causes/concurrent"),
    ("after_failure_mean", "/causes/after_failure"),
    ("after_crash_mean", "/causes/after_crash"),
    ("after_success_mean", "/causes/after_success"),
    ("broker_mean", "/causes/broker"),
    ("retry_p50_s_mean", "/retry_latency_s/p50"),
    ("retry_p99_s_mean", "/retry_latency_s/p99"),
    ("e2e_p99_s_mean", "/e2e_latency_s/p99"),
    ("dlq_mean", "/final/dlq"),
    ("cost_usd_mean", "/cost_usd"),
];

const DUP_RATE: &str = "/duplicate_rate";
const DUP_EFFECTS: &str = "/duplicate_effects";

/// True if a (loaded) summary has every number the report needs.
pub fn has_metrics(summary: &Value) -> bool {
    let ptrs = MEANS.iter().map(|(_, p)| *p).chain([DUP_RATE, DUP_EFFECTS]);
    ptrs.into_iter().all(|p| summary.pointer(p).and_then(Value::as_f64).is_some())
}

fn metric(summary: &Value, pointer: &str) -> f64 {
    summary.pointer(pointer).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// A mean with its two-sided 95% Student-t interval (None with fewer than 2 samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanCi {
    pub mean: f64,
    pub ci: Option<(f64, f64)>,
}

/// Mean and two-sided 95% confidence interval of `xs`: the one-sided 97.5%
/// Student-t bounds of `expect::mean_ci`, so sweeps and checks share one
/// implementation of the t quantile.
pub fn mean_ci(xs: &[f64]) -> MeanCi {
    let (mean, lower, upper) = crate::expect::mean_ci(xs, 0.975);
    let ci = (xs.len() >= 2 && lower.is_finite() && upper.is_finite()).then_some((lower, upper));
    MeanCi { mean, ci }
}

/// The statistics of one grid point.
#[derive(Debug, Clone)]
pub struct PointStats {
    pub point: usize,
    pub label: String,
    pub dup_rate: MeanCi,
    pub dup_effects_total: u64,
    /// Aligned with `MEANS`.
    pub means: Vec<f64>,
}

impl PointStats {
    fn mean(&self, column: &str) -> f64 {
        MEANS.iter().position(|(c, _)| *c == column).map_or(f64::NAN, |i| self.means[i])
    }
}

/// Aggregate the summaries of one point's replications.
pub fn point_stats(grid: &Grid, point: usize, runs: &[Value]) -> PointStats {
    let col = |p: &str| runs.iter().map(|s| metric(s, p)).collect::<Vec<f64>>();
    let means = MEANS.iter().map(|(_, p)| mean_ci(&col(p)).mean).collect();
    let dup_effects_total = runs.iter().filter_map(|s| s.pointer(DUP_EFFECTS).and_then(Value::as_u64)).sum();
    PointStats { point, label: grid.label(point), dup_rate: mean_ci(&col(DUP_RATE)), dup_effects_total, means }
}

/// Write every report file of a finished sweep into `out`. `runs[point][rep]`
/// holds the summaries (without `perf`). Returns the names written.
pub fn write_all(plan: &Plan, runs: &[Vec<Value>], out: &Path) -> Result<Vec<String>, Error> {
    let stats: Vec<PointStats> = runs.iter().enumerate().map(|(i, r)| point_stats(&plan.grid, i, r)).collect();
    let points = tradeoff_points(&stats);
    let front = pareto_front(&points);
    let mut written =
        vec!["results.csv".to_string(), "results.json".into(), "tradeoff.svg".into(), "tradeoff.png".into()];
    write(out, "results.csv", &csv_text(plan, &stats)?)?;
    write(out, "results.json", &json_text(plan, &stats, runs, &front))?;
    let title = format!("{}: duplicate rate vs retry latency p99", plan.name);
    tradeoff_chart(&points, &title, &out.join("tradeoff")).map_err(|e| Error::Io(e.to_string()))?;
    if let Some(h) = heatmap(plan, &stats) {
        heatmap_chart(&h, &out.join("heatmap")).map_err(|e| Error::Io(e.to_string()))?;
        written.extend(["heatmap.svg".into(), "heatmap.png".into()]);
    }
    write(out, "index.md", &index_md(plan, &stats, &front, written.iter().any(|w| w == "heatmap.svg")))?;
    written.push("index.md".into());
    Ok(written)
}

fn write(out: &Path, name: &str, text: &str) -> Result<(), Error> {
    let path = out.join(name);
    write_atomic(&path, text.as_bytes()).map_err(|e| Error::Io(format!("{}: cannot write: {e}", path.display())))
}

fn tradeoff_points(stats: &[PointStats]) -> Vec<TradeoffPoint> {
    stats
        .iter()
        .map(|s| {
            let (lo, hi) = s.dup_rate.ci.unwrap_or((s.dup_rate.mean, s.dup_rate.mean));
            TradeoffPoint {
                label: s.label.clone(),
                retry_p99_s: s.mean("retry_p99_s_mean"),
                dup_rate_mean: s.dup_rate.mean,
                dup_rate_lo: lo,
                dup_rate_hi: hi,
            }
        })
        .collect()
}

/// Chart 2, when exactly two parameters are swept: x the first, y the second.
fn heatmap(plan: &Plan, stats: &[PointStats]) -> Option<Heatmap> {
    let [px, py] = plan.grid.params.as_slice() else { return None };
    let texts = |p: &super::grid::Param| p.values.iter().map(|v| v.text.clone()).collect::<Vec<_>>();
    let cell = |xi: usize, yi: usize| Some(stats[xi * py.values.len() + yi].dup_rate.mean);
    Some(Heatmap {
        title: format!("{}: mean duplicate rate ({} replications)", plan.name, plan.grid.replications),
        x_label: px.path.clone(),
        y_label: py.path.clone(),
        x_values: texts(px),
        y_values: texts(py),
        cells: (0..py.values.len()).map(|yi| (0..px.values.len()).map(|xi| cell(xi, yi)).collect()).collect(),
        value_label: "duplicate rate".into(),
    })
}

/// CSV numbers: shortest round-trip form, empty when unknown.
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn csv_header(plan: &Plan) -> Vec<String> {
    let mut h = vec!["point".to_string()];
    h.extend(plan.grid.params.iter().map(|p| p.path.clone()));
    h.extend(
        [
            "replications",
            "duplicate_rate_mean",
            "duplicate_rate_ci95_lo",
            "duplicate_rate_ci95_hi",
            "duplicate_effects_total",
        ]
        .map(String::from),
    );
    h.extend(MEANS.iter().map(|(c, _)| c.to_string()));
    h
}

fn csv_text(plan: &Plan, stats: &[PointStats]) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::Bug(format!("csv: {e}"));
    w.write_record(csv_header(plan)).map_err(csv_err)?;
    for s in stats {
        let mut row = vec![s.point.to_string()];
        row.extend(plan.grid.values(s.point).iter().map(|v| v.text.clone()));
        let (lo, hi) = s.dup_rate.ci.map_or((String::new(), String::new()), |(lo, hi)| (num(lo), num(hi)));
        row.extend([plan.grid.replications.to_string(), num(s.dup_rate.mean), lo, hi, s.dup_effects_total.to_string()]);
        row.extend(s.means.iter().map(|&m| num(m)));
        w.write_record(row).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Bug(format!("csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Bug(format!("csv: {e}")))
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        other => Value::String(other.to_string()),
    }
}

fn jnum(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// The swept values of a point as a JSON object keyed by dotted path.
pub fn values_json(grid: &Grid, point: usize) -> Value {
    let map = grid.params.iter().zip(grid.values(point)).map(|(p, v)| (p.path.clone(), toml_to_json(&v.value)));
    Value::Object(map.collect())
}

fn point_json(plan: &Plan, s: &PointStats, runs: &[Value]) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("point".into(), json!(s.point));
    o.insert("label".into(), json!(s.label));
    o.insert("values".into(), values_json(&plan.grid, s.point));
    o.insert("duplicate_rate_mean".into(), jnum(s.dup_rate.mean));
    o.insert("duplicate_rate_ci95_lo".into(), s.dup_rate.ci.map_or(Value::Null, |c| jnum(c.0)));
    o.insert("duplicate_rate_ci95_hi".into(), s.dup_rate.ci.map_or(Value::Null, |c| jnum(c.1)));
    o.insert("duplicate_effects_total".into(), json!(s.dup_effects_total));
    for ((column, _), &m) in MEANS.iter().zip(&s.means) {
        o.insert((*column).into(), jnum(m));
    }
    let reps = runs
        .iter()
        .enumerate()
        .map(|(r, summary)| json!({ "replication": r, "seed": plan.run_seed(s.point, r as u32), "summary": summary }));
    o.insert("runs".into(), Value::Array(reps.collect()));
    Value::Object(o)
}

fn json_text(plan: &Plan, stats: &[PointStats], runs: &[Vec<Value>], front: &[usize]) -> String {
    let params: Vec<Value> = plan
        .grid
        .params
        .iter()
        .map(|p| json!({ "path": p.path, "short": p.short, "values": p.values.iter().map(|v| toml_to_json(&v.value)).collect::<Vec<_>>() }))
        .collect();
    let doc = json!({
        "scenario": plan.name,
        "scenario_file": plan.file,
        "scenario_hash": plan.hash,
        "overrides": plan.override_flags(),
        "seed": plan.seed,
        "grid": { "parameters": params, "replications": plan.grid.replications, "points": plan.grid.points() },
        "common_random_numbers": "replication r runs with the same seed at every point: the scenario seed for r = 0, derive_seed(seed, 0, r) after",
        "pareto": front,
        "points": stats.iter().zip(runs).map(|(s, r)| point_json(plan, s, r)).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn pct(x: f64) -> String {
    format!("{:.3}%", x * 100.0)
}

fn md_table(plan: &Plan, stats: &[PointStats]) -> String {
    let mut t = String::new();
    let params: Vec<&str> = plan.grid.params.iter().map(|p| p.path.as_str()).collect();
    let metrics = [
        "duplicate rate",
        "95% CI",
        "dup. effects (total)",
        "concurrent",
        "after failure",
        "after crash",
        "retry p50 (s)",
        "retry p99 (s)",
        "e2e p99 (s)",
        "DLQ",
        "cost (USD)",
    ];
    let _ = writeln!(t, "| # | {} | {} |", params.join(" | "), metrics.join(" | "));
    let _ = writeln!(t, "|{}", "---|".repeat(1 + params.len() + metrics.len()));
    for s in stats {
        let values: Vec<String> = plan.grid.values(s.point).iter().map(|v| format!("`{}`", v.text)).collect();
        let ci = s.dup_rate.ci.map_or("-".into(), |(lo, hi)| format!("{} .. {}", pct(lo), pct(hi)));
        let _ = writeln!(
            t,
            "| {} | {} | {} | {ci} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {:.6} |",
            s.point,
            values.join(" | "),
            pct(s.dup_rate.mean),
            s.dup_effects_total,
            s.mean("concurrent_mean"),
            s.mean("after_failure_mean"),
            s.mean("after_crash_mean"),
            s.mean("retry_p50_s_mean"),
            s.mean("retry_p99_s_mean"),
            s.mean("e2e_p99_s_mean"),
            s.mean("dlq_mean"),
            s.mean("cost_usd_mean"),
        );
    }
    t
}

fn md_pareto(stats: &[PointStats], front: &[usize]) -> String {
    let mut t = String::from("Minimising both the mean duplicate rate and the mean retry latency p99, no other point is better in one and as good in the other:\n\n");
    for &i in front {
        let s = &stats[i];
        let _ = writeln!(
            t,
            "- `{}`: duplicate rate {}, retry p99 {:.2} s",
            s.label,
            pct(s.dup_rate.mean),
            s.mean("retry_p99_s_mean")
        );
    }
    t
}

fn md_reproduce(plan: &Plan) -> String {
    let sets: String = plan.override_flags().iter().map(|f| format!(" --set '{f}'")).collect();
    let mut t = String::new();
    let _ = writeln!(t, "```sh\ndupsim sweep {}{sets}\n```\n", plan.file);
    let _ = writeln!(
        t,
        "The output is the same byte for byte whatever `--threads` is, and whether the grid ran in one process \
         or as shards (`--shard K/N`, joined with `dupsim merge`); see docs/sweeps.md."
    );
    let seeds: Vec<String> = (0..plan.grid.replications).map(|r| format!("{r}: `{}`", plan.run_seed(0, r))).collect();
    let _ = writeln!(
        t,
        "Replication r runs with the same seed at every point (common random numbers; the scenario seed {} for r = 0): {}.\n",
        plan.seed,
        seeds.join(", ")
    );
    let point: String = plan
        .grid
        .params
        .iter()
        .zip(plan.grid.values(0))
        .map(|(p, v)| format!(" --set '{}={}'", p.path, v.value))
        .collect();
    let _ = writeln!(t, "One run on its own, e.g. replication 0 of point 0:\n");
    let _ = writeln!(t, "```sh\ndupsim run {}{sets}{point} --seed {}\n```", plan.file, plan.run_seed(0, 0));
    t
}

fn index_md(plan: &Plan, stats: &[PointStats], front: &[usize], has_heatmap: bool) -> String {
    let mut t = format!("# Sweep: {}\n\n", plan.name);
    if !plan.description.is_empty() {
        let _ = writeln!(t, "{}\n", plan.description);
    }
    let sizes: Vec<String> =
        plan.grid.params.iter().map(|p| format!("`{}` ({} values)", p.path, p.values.len())).collect();
    let _ = writeln!(
        t,
        "{} points ({}) x {} replications, seed {}.\n",
        plan.grid.points(),
        sizes.join(" x "),
        plan.grid.replications,
        plan.seed
    );
    let _ = writeln!(t, "## Scenario\n\n`{}`:\n\n```toml\n{}\n```\n", plan.file, plan.text.trim_end());
    let _ = writeln!(t, "## Results\n\nMeans over replications; the 95% interval of the duplicate rate is Student's t. Full numbers: [results.csv](results.csv), [results.json](results.json).\n");
    let _ = writeln!(t, "{}", md_table(plan, stats));
    let _ = writeln!(t, "## Charts\n\n![duplicate rate versus retry latency p99](tradeoff.svg)\n");
    if has_heatmap {
        let _ = writeln!(t, "![duplicate rate over the grid](heatmap.svg)\n");
    }
    let _ = writeln!(t, "## Pareto-optimal points\n\n{}", md_pareto(stats, front));
    let _ = write!(t, "## Reproduce\n\n{}", md_reproduce(plan));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_interval() {
        let m = mean_ci(&[1.0, 2.0, 3.0]);
        assert_eq!(m.mean, 2.0);
        let (lo, hi) = m.ci.unwrap();
        // sd 1, se 1/sqrt(3), t(2) 4.3027
        assert!((hi - 2.0 - 4.302_652_73 / 3f64.sqrt()).abs() < 1e-9);
        assert!((2.0 - lo - (hi - 2.0)).abs() < 1e-12);
        assert_eq!(mean_ci(&[5.0]).ci, None);
        assert_eq!(mean_ci(&[4.0, 4.0]).ci, Some((4.0, 4.0)));
    }
}
