//! `dupsim sweep` and `dupsim merge` end to end, through the binary: output
//! independent of the thread count, shards merged equal to one run, resume,
//! charts, input errors, and common random numbers across points.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPORT_FILES: [&str; 5] = ["results.csv", "results.json", "index.md", "tradeoff.svg", "heatmap.svg"];

/// A small scenario: 200 messages, a 2x2 grid, 2 replications.
fn small_scenario(dir: &Path, sweep: &str) -> PathBuf {
    let text = format!(
        r#"name = "small"
description = "a small sweep for tests"
seed = 11

[run]
messages = 200

[producer]
arrival = {{ kind = "poisson", rate = 2.0 }}

[queue]
visibility_timeout = "5s"

[[workers]]
name = "w"
count = 4
receive = {{ max = 10, wait = "20s" }}
heartbeat = {{ kind = "fixed", interval = "1s", extend = "6s" }}

[handler]
duration = {{ kind = "lognormal", median = "1s", p99 = "8s" }}
fail_probability = 0.05

[sweep]
{sweep}
"#
    );
    let path = dir.join("small.toml");
    fs::write(&path, text).expect("write scenario");
    path
}

const GRID: &str = "\"queue.visibility_timeout\" = [\"2s\", \"10s\"]\n\"workers.heartbeat.interval\" = [\"off\", \"1s\"]\nreplications = 2";

fn dupsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dupsim")).args(args).output().expect("run dupsim")
}

fn ok(args: &[&str]) -> String {
    let out = dupsim(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dupsim {args:?} failed: {stderr}");
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn sweep(scenario: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["sweep", s(scenario), "--out", s(out)];
    args.extend_from_slice(extra);
    ok(&args)
}

fn assert_same_reports(a: &Path, b: &Path) {
    for name in REPORT_FILES {
        let (x, y) = (fs::read(a.join(name)).expect(name), fs::read(b.join(name)).expect(name));
        assert!(x == y, "{name} differs between {} and {}", a.display(), b.display());
    }
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("results.json")).expect("results.json")).expect("json")
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), GRID);
    let (one, two) = (dir.path().join("t1"), dir.path().join("t2"));
    sweep(&scenario, &one, &["--threads", "1"]);
    sweep(&scenario, &two, &["--threads", "2"]);
    assert_same_reports(&one, &two);
    let csv = fs::read_to_string(one.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "a header and one row per point");
    assert!(
        csv.starts_with("point,queue.visibility_timeout,workers.heartbeat.interval,replications,duplicate_rate_mean,")
    );
    let json = results(&one);
    assert_eq!(json["points"].as_array().unwrap().len(), 4);
    let run = &json["points"][0]["runs"][1]["summary"];
    assert!(run["duplicate_rate"].is_number() && run.get("perf").is_none(), "summaries without perf");
    assert!(!fs::read_to_string(one.join("results.json")).unwrap().contains("wall_s"));
}

#[test]
fn shards_merged_equal_an_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), GRID);
    let [full, a, b, merged] = ["full", "a", "b", "merged"].map(|n| dir.path().join(n));
    sweep(&scenario, &full, &[]);
    sweep(&scenario, &a, &["--shard", "1/2"]);
    assert!(a.join("shard-1-of-2.done").exists());
    assert!(!a.join("results.csv").exists(), "a shard writes no report");
    // An incomplete grid is refused.
    let out = dupsim(&["merge", s(&a)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("incomplete"));
    sweep(&scenario, &b, &["--shard", "2/2"]);
    ok(&["merge", s(&a), s(&b), "--out", s(&merged)]);
    assert_same_reports(&full, &merged);
    // Into the first directory by default.
    ok(&["merge", s(&a), s(&b)]);
    assert_same_reports(&full, &a);
}

#[test]
fn merge_refuses_shards_of_another_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), GRID);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    sweep(&scenario, &a, &["--shard", "1/2"]);
    sweep(&scenario, &b, &["--shard", "2/2", "--set", "run.messages=100"]);
    let out = dupsim(&["merge", s(&a), s(&b)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another scenario"));
}

#[test]
fn resumed_sweep_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), GRID);
    let (full, d) = (dir.path().join("full"), dir.path().join("d"));
    sweep(&scenario, &full, &[]);
    let log = sweep(&scenario, &d, &[]);
    assert!(log.contains("resumed 0 "), "{log}");
    // Lose two runs and the report; a third partial file is from another scenario.
    for f in ["p0-r1.json", "p3-r0.json"] {
        fs::remove_file(d.join(".partial").join(f)).unwrap();
    }
    let p2 = d.join(".partial/p2-r0.json");
    let text = fs::read_to_string(&p2).unwrap();
    let hash = results(&d)["scenario_hash"].as_str().unwrap().to_string();
    fs::write(&p2, text.replace(&hash, "0000000000000000")).unwrap();
    for name in REPORT_FILES {
        fs::remove_file(d.join(name)).unwrap();
    }
    let log = sweep(&scenario, &d, &["--threads", "2"]);
    assert!(log.contains("resumed 5 "), "{log}");
    assert_same_reports(&full, &d);
    assert_eq!(fs::read_to_string(&p2).unwrap(), text, "a mismatching partial file is overwritten");
}

#[test]
fn full_sweep_resumes_the_runs_of_a_shard() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), GRID);
    let (full, d) = (dir.path().join("full"), dir.path().join("d"));
    sweep(&scenario, &full, &[]);
    sweep(&scenario, &d, &["--shard", "2/2"]);
    let log = sweep(&scenario, &d, &[]);
    assert!(log.contains("resumed 4 "), "{log}");
    assert_same_reports(&full, &d);
}

#[test]
fn charts_have_one_marker_per_point() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), GRID);
    let out = dir.path().join("out");
    sweep(&scenario, &out, &[]);
    let svg = fs::read_to_string(out.join("tradeoff.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let markers = svg.lines().filter(|l| l.contains("<circle") && l.contains("r=\"5\"")).count();
    assert_eq!(markers, 4);
    // Only the Pareto-optimal points are labelled (the table names the rest).
    let results: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let front: Vec<u64> = results["pareto"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(!front.is_empty());
    for (i, p) in results["points"].as_array().unwrap().iter().enumerate() {
        let label = p["label"].as_str().unwrap();
        let shown = svg.lines().any(|l| l.trim() == label);
        assert_eq!(shown, front.contains(&(i as u64)), "label {label}");
    }
    let heat = fs::read_to_string(out.join("heatmap.svg")).unwrap();
    assert!(heat.trim_end().ends_with("</svg>") && heat.contains("queue.visibility_timeout"));
    for png in ["tradeoff.png", "heatmap.png"] {
        assert!(fs::read(out.join(png)).unwrap().starts_with(b"\x89PNG"), "{png}");
    }
    let index = fs::read_to_string(out.join("index.md")).unwrap();
    for part in ["```toml", "![", "(tradeoff.svg)", "(heatmap.svg)", "Pareto", "dupsim sweep "] {
        assert!(index.contains(part), "index.md lacks {part}");
    }
}

#[test]
fn one_parameter_gives_no_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let scenario =
        small_scenario(dir.path(), "\"queue.visibility_timeout\" = { from = \"2s\", to = \"6s\", step = \"2s\" }");
    let out = dir.path().join("out");
    sweep(&scenario, &out, &[]);
    assert!(!out.join("heatmap.svg").exists());
    let json = results(&out);
    assert_eq!(json["grid"]["points"], 3);
    assert_eq!(json["points"][2]["values"]["queue.visibility_timeout"], "6s");
    assert_eq!(json["points"][0]["duplicate_rate_ci95_lo"], Value::Null, "one replication: no interval");
}

#[test]
fn malformed_sweeps_are_input_errors_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    for (sweep, needle) in [
        ("\"queue.visibilty_timeout\" = [\"30s\"]", "visibilty_timeout"),
        ("\"queue.visibility_timeout\" = []", "empty list"),
        ("\"queue.visibility_timeout\" = [\"30s\", \"30x\"]", "30x"),
        ("\"queue.visibility_timeout\" = [\"30s\", \"13h\"]", "13h"),
        ("\"queue.visibility_timeout\" = { from = \"1s\", to = \"5s\" }", "step"),
        ("\"queue.visibility_timeout\" = [\"30s\"]\nreplications = \"3\"", "replications"),
    ] {
        let scenario = small_scenario(dir.path(), sweep);
        let out = dupsim(&["sweep", s(&scenario), "--out", s(&dir.path().join("o"))]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sweep}: {stderr}");
        // The [sweep] table starts at line 24; errors point into it.
        let located = stderr.lines().any(|l| {
            let rest = l.split("small.toml:").nth(1).unwrap_or("");
            let mut parts = rest.splitn(3, ':');
            let line: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let col: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            line >= 25 && col >= 1
        });
        assert!(located, "{sweep}: no file:line:col in [sweep]: {stderr}");
        assert!(stderr.contains(needle), "{sweep}: {stderr}");
    }
    let scenario = small_scenario(dir.path(), GRID);
    for bad in [&["--threads", "0"][..], &["--shard", "3/2"], &["--set", "queue.nope=1"]] {
        let mut args = vec!["sweep", s(&scenario)];
        args.extend_from_slice(bad);
        assert_eq!(dupsim(&args).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn a_failing_run_stops_the_sweep_naming_the_point() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), GRID);
    let out = dupsim(&["sweep", s(&scenario), "--out", s(&dir.path().join("o")), "--set", "run.max_events=50"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sweep point 0 (vt=2s hb=off)") && stderr.contains("max_events"), "{stderr}");
}

#[test]
fn points_share_random_numbers() {
    // A time-bounded producer: how many messages are sent depends on the
    // seed. The handler takes 1s, far below VT and both heartbeat intervals,
    // so the heartbeat never fires and both points must see the same runs.
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), "\"workers.heartbeat.interval\" = [\"10s\", \"20s\"]\nreplications = 3");
    let out = dir.path().join("out");
    let set = ["--set", "run.messages=100000", "--set", "run.duration=2m", "--set", "handler.duration=1s"];
    let set2 = [
        "--set",
        "handler.fail_probability=0",
        "--set",
        "queue.visibility_timeout=30s",
        "--set",
        "workers.heartbeat.extend=60s",
    ];
    sweep(&scenario, &out, &[&set[..], &set2[..]].concat());
    let json = results(&out);
    let run = |p: usize, r: usize| &json["points"][p]["runs"][r]["summary"];
    let sent = |p: usize, r: usize| run(p, r)["sent"].as_u64().unwrap();
    for r in 0..3 {
        for key in ["sent", "deliveries", "effects", "e2e_latency_s", "sim_time_s"] {
            assert_eq!(run(0, r)[key], run(1, r)[key], "replication {r}: {key}");
        }
        assert_eq!(run(0, r)["heartbeats"], 0);
    }
    assert!(sent(0, 0) != sent(0, 1) || sent(0, 1) != sent(0, 2), "replications must differ");
}
