//! `dupsim advise`: advice on synthetic loads whose answer is known from the
//! model's rules, the explanation when a budget cannot be met, the same
//! answer at any thread count, the locked-in scenario passing `check`, and
//! the durations-file reader on good and bad files.

use dupsim::advise::{advise, AdviseOptions, Budgets, Constraint, ProcessingInput};
use dupsim::observed::{read, ReadOptions, Unit};
use std::path::{Path, PathBuf};
use std::process::Command;

const NS: u64 = 1_000_000_000;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Constant 45 s processing, enough workers that nothing queues. `extra` is
/// appended (crashes, network faults).
fn constant_45(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "name = \"c45\"\nseed = 11\n[run]\nmessages = 120\n[producer]\narrival = {{ kind = \"poisson\", rate = 1.0 }}\n[[workers]]\nname = \"w\"\ncount = 80\n{extra}\n[handler]\nduration = \"45s\"\n"
    );
    write(dir, "c45.toml", &text)
}

fn budgets(dup: f64, retry_s: f64) -> Budgets {
    Budgets {
        max_duplicate_rate: dup,
        confidence: 0.95,
        max_retry_p99_s: retry_s,
        max_cost_per_million_usd: None,
        max_dlq_rate: None,
    }
}

fn opts(scenario: PathBuf, b: Budgets, threads: usize) -> AdviseOptions {
    AdviseOptions {
        scenario,
        overrides: Vec::new(),
        processing: ProcessingInput::Scenario,
        budgets: b,
        replications: 2,
        timeout_ns: None,
        threads: Some(threads),
        exhaustive: false,
    }
}

#[test]
fn constant_45s_without_crashes_needs_the_smallest_vt_above_45s_or_a_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let a = advise(&opts(constant_45(dir.path(), ""), budgets(0.05, 60.0), 2)).unwrap();
    let rec = a.recommendation.as_ref().expect("a 5% budget is met");
    // Every attempt takes exactly 45 s: a lease of 45 s or less expires under
    // every attempt (the same-instant race goes to the expiry, README), so
    // without a heartbeat the answer on the whole-second grid is 46 s.
    match rec.setting.heartbeat {
        None => assert_eq!(rec.setting.vt_s, 46, "{}", rec.setting.label()),
        Some(h) => assert!(h.interval_s < rec.setting.vt_s, "{}", rec.setting.label()),
    }
    assert_eq!(rec.duplicate_effects, 0);
    // The search bisected instead of scanning the grid.
    assert!(a.runs * 5 < a.full_grid_runs, "{} runs of {}", a.runs, a.full_grid_runs);
    // The rule "2x p99" (VT 90 s) meets this budget too; it is scored with the same keys.
    let two = a.rules.iter().find(|r| r.name == "2x p99").unwrap();
    assert_eq!(two.eval.setting.vt_s, 90);
    assert_eq!(two.eval.duplicate_effects, 0);
}

#[test]
fn a_processing_distribution_replaces_the_handler() {
    // The scenario's handler takes 1 s; --processing says 45 s, so the
    // answer is that of constant 45 s processing.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(constant_45(dir.path(), "")).unwrap().replace("\"45s\"", "\"1s\"");
    let scenario = write(dir.path(), "fast.toml", &text);
    let mut o = opts(scenario, budgets(0.05, 60.0), 2);
    o.processing = ProcessingInput::Distribution("{ kind = \"constant\", value = \"45s\" }".into());
    let a = advise(&o).unwrap();
    assert_eq!(a.processing.max_s, 45.0);
    let rec = a.recommendation.unwrap();
    assert!(rec.setting.heartbeat.is_some() || rec.setting.vt_s == 46, "{}", rec.setting.label());
    o.processing = ProcessingInput::Distribution("{ kind = \"lognormal\", median = \"20s\" }".into());
    let e = advise(&o).err().unwrap().to_string();
    assert!(e.starts_with("--processing { kind"), "{e}");
}

#[test]
fn a_retry_budget_shorter_than_processing_calls_for_a_heartbeat() {
    // Crashes: a crashed worker's message waits until its lease ends. Without
    // a heartbeat the lease must exceed 45 s (above), so crashed messages wait
    // up to ~45 s; a 20 s retry budget then needs a heartbeat with a short lease.
    let dir = tempfile::tempdir().unwrap();
    let scenario = constant_45(dir.path(), "crash = { mtbf = \"10m\", restart_delay = \"1s\" }");
    let a = advise(&opts(scenario, budgets(0.05, 20.0), 2)).unwrap();
    let rec = a.recommendation.as_ref().expect("met with a heartbeat");
    let hb = rec.setting.heartbeat.expect("no lease without a heartbeat is both > 45 s and waits < 20 s");
    assert!(rec.retries > 0, "crashes were retried");
    assert!(rec.retry_p99_s <= 20.0);
    assert!(hb.interval_s < rec.setting.vt_s);
    for e in &a.evaluated {
        if e.setting.heartbeat.is_none() && e.setting.vt_s <= 45 && e.setting.vt_s < 43_200 {
            assert!(e.duplicate_effects > 0, "VT {} without a heartbeat duplicates", e.setting.vt_s);
        }
    }
}

#[test]
fn duplicates_no_lease_can_prevent_bind_and_are_explained() {
    // 20% of delete requests are lost: those messages come back after a
    // successful attempt and are processed again, whatever the lease.
    let dir = tempfile::tempdir().unwrap();
    let scenario = constant_45(dir.path(), "[network.delete]\nrequest_loss = 0.2\n");
    let a = advise(&opts(scenario, budgets(0.001, 600.0), 1)).unwrap();
    assert!(!a.met());
    assert!(a.recommendation.is_none());
    let b = a.binding.as_ref().unwrap();
    assert_eq!(b.constraints, vec![Constraint::DuplicateRate]);
    assert!(b.explanation.contains("do not depend on the lease"), "{}", b.explanation);
    assert!(!a.closest.is_empty() && a.closest.len() <= 3);
}

#[test]
fn a_budget_below_what_the_sample_can_show_says_so() {
    // 240 messages without a duplicate: the 95% Wilson bound is
    // 1.645^2 / (240 + 1.645^2) = 1.1%, so a 0.1% budget cannot be shown.
    let dir = tempfile::tempdir().unwrap();
    let a = advise(&opts(constant_45(dir.path(), ""), budgets(0.001, 60.0), 2)).unwrap();
    assert!(!a.met());
    let b = a.binding.unwrap();
    assert_eq!(b.constraints, vec![Constraint::DuplicateRate]);
    assert!(
        b.explanation.contains("sample is too small") && b.explanation.contains("2706 messages"),
        "{}",
        b.explanation
    );
}

#[test]
fn conflicting_budgets_are_named_together() {
    // With crashes, each budget alone can be met: duplicates by a 46 s lease
    // without a heartbeat (the cheapest, about 4 calls per message), a 2.5 s
    // retry wait by a heartbeat every 1 s extending to 2 s (a crash waits at
    // most the 2 s extension), and $5 per million by the 46 s lease. Both
    // first two together need the 1 s heartbeat: about one
    // ChangeMessageVisibility per second of the 45 s processing, over $5.
    let dir = tempfile::tempdir().unwrap();
    let scenario = constant_45(dir.path(), "crash = { mtbf = \"10m\", restart_delay = \"1s\" }");
    let mut b = budgets(0.05, 2.5);
    b.max_cost_per_million_usd = Some(5.0);
    let a = advise(&opts(scenario, b, 2)).unwrap();
    assert!(!a.met());
    let binding = a.binding.unwrap();
    assert_eq!(binding.constraints, vec![Constraint::DuplicateRate, Constraint::RetryLatency, Constraint::Cost]);
    assert!(
        binding.explanation.starts_with("cost_per_million conflicts with duplicate_rate and retry_latency_p99"),
        "{}",
        binding.explanation
    );
    // Without the cost budget the same load is met, with a heartbeat.
    let a = advise(&opts(
        constant_45(dir.path(), "crash = { mtbf = \"10m\", restart_delay = \"1s\" }"),
        budgets(0.05, 2.5),
        2,
    ))
    .unwrap();
    assert!(a.recommendation.as_ref().unwrap().setting.heartbeat.is_some());
}

#[test]
fn the_answer_is_the_same_at_1_and_2_threads() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = constant_45(dir.path(), "crash = { mtbf = \"10m\", restart_delay = \"1s\" }");
    let run = |t: usize| {
        let a = advise(&opts(scenario.clone(), budgets(0.05, 30.0), t)).unwrap();
        let out = dir.path().join(format!("out{t}"));
        dupsim::advise::write_report(&a, &out).unwrap();
        std::fs::read_to_string(out.join("advice.json")).unwrap()
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one, two);
    assert!(one.contains("\"recommendation\": {"));
}

#[test]
fn the_locked_in_scenario_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let durations = write(dir.path(), "d.csv", "duration_ms\n30000\n\n44000\n41000\n20000\n43500\n");
    let mut o = opts(constant_45(dir.path(), ""), budgets(0.05, 60.0), 2);
    o.processing = ProcessingInput::File { path: durations, read: ReadOptions::default() };
    let a = advise(&o).unwrap();
    assert!(a.processing_source.contains("milliseconds"), "{}", a.processing_source);
    assert!((a.processing.max_s - 44.0).abs() < 0.1, "max {}", a.processing.max_s);
    let out = dir.path().join("out");
    dupsim::advise::write_report(&a, &out).unwrap();
    let locked = out.join("advised.toml");
    let (source, expect) = dupsim::check::load(&locked).unwrap().expect("an [expect] block");
    let fc = dupsim::check::check_file(&source, &expect).unwrap();
    assert!(fc.outcomes.iter().all(|o| o.passed), "{:?}", fc.outcomes);
    let text = std::fs::read_to_string(&locked).unwrap();
    assert!(text.contains(&format!("visibility_timeout = \"{}s\"", a.recommendation.as_ref().unwrap().setting.vt_s)));
    for f in ["advice.md", "pareto.svg", "pareto.png", "set-queue-attributes.sh", "sqs.tf", "durations.csv"] {
        assert!(out.join(f).exists(), "{f}");
    }
}

#[test]
fn cli_json_is_one_object_and_a_missed_budget_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = constant_45(dir.path(), "[network.delete]\nrequest_loss = 0.2\n");
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_dupsim"))
        .args(["advise", scenario.to_str().unwrap(), "--max-duplicate-rate", "0.001", "--max-retry-p99", "10m"])
        .args(["--replications", "2", "--json", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["met"], false);
    assert!(v["recommendation"].is_null());
    assert_eq!(v["binding"]["constraints"][0], "duplicate_rate");
    for r in v["rules_of_thumb"].as_array().unwrap() {
        for k in [
            "visibility_timeout_s",
            "heartbeat",
            "max_receive_count",
            "duplicate_rate",
            "retry_latency_p99_s",
            "cost_per_million_usd",
        ] {
            assert!(r.get(k).is_some(), "rule without {k}");
        }
    }
}

#[test]
fn cli_rejects_a_bad_durations_file_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = constant_45(dir.path(), "");
    let durations = write(dir.path(), "d.txt", "12.5\n\n13\nabc\n");
    let o = Command::new(env!("CARGO_BIN_EXE_dupsim"))
        .args(["advise", scenario.to_str().unwrap(), "--max-duplicate-rate", "0.01", "--max-retry-p99", "1m"])
        .args(["--durations", durations.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("d.txt:4: `abc` is not a number of seconds"), "{err}");
    for (flag, value) in [("--max-duplicate-rate", "0"), ("--replications", "1"), ("--unit", "h")] {
        let mut args =
            vec!["advise", scenario.to_str().unwrap(), "--max-duplicate-rate", "0.01", "--max-retry-p99", "1m"];
        args.extend(["--durations", durations.to_str().unwrap(), flag, value]);
        let o = Command::new(env!("CARGO_BIN_EXE_dupsim")).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag} {value}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(flag), "{flag}");
    }
}

// ---------------------------------------------------------------- the durations reader

fn secs(v: &[u64]) -> Vec<u64> {
    v.iter().map(|s| s * NS).collect()
}

#[test]
fn reader_accepts_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let read_with = |name: &str, text: &str, column: Option<&str>, unit: Option<Unit>| {
        let p = write(d, name, text);
        read(&p, &ReadOptions { column: column.map(String::from), unit }).unwrap()
    };
    // One value per line, seconds by default; blank lines skipped; sorted.
    let o = read_with("a.txt", "3\n1.5\n\n  \n2\n", None, None);
    assert_eq!(o.sorted, vec![1_500_000_000, 2 * NS, 3 * NS]);
    assert!(o.unit.starts_with("seconds"));
    // --unit ms.
    assert_eq!(read_with("b.txt", "1500\n250\n", None, Some(Unit::Millis)).sorted, vec![250_000_000, 1_500_000_000]);
    // A CSV column by name; the unit from the header (Lambda's @duration is in ms).
    let o = read_with(
        "c.csv",
        "@timestamp,@duration\n2024-05-01 12:00:00,1200.5\n2024-05-01 12:00:01,800\n",
        Some("@duration"),
        None,
    );
    assert_eq!(o.sorted, vec![800_000_000, 1_200_500_000]);
    assert!(o.unit.contains("milliseconds"), "{}", o.unit);
    // JSON lines with a duration field.
    let o = read_with("d.jsonl", "{\"id\":1,\"duration_ms\":2000}\n{\"id\":2,\"duration_ms\":\"500\"}\n", None, None);
    assert_eq!(o.sorted, vec![500_000_000, 2 * NS]);
    // JSON lines with ISO 8601 start/end (a worker log).
    let o = read_with(
        "e.jsonl",
        "{\"start\":\"2024-05-01T12:00:00Z\",\"end\":\"2024-05-01T12:00:45.5Z\"}\n{\"start\":\"2024-05-01T13:59:50+02:00\",\"end\":\"2024-05-01T12:00:10Z\"}\n",
        None,
        None,
    );
    assert_eq!(o.sorted, vec![20 * NS, 45_500_000_000]);
    // Epoch milliseconds (by magnitude) under other field names.
    let o = read_with("f.jsonl", "{\"startTime\":1714564800000,\"endTime\":1714564830250}\n", None, None);
    assert_eq!(o.sorted, vec![30_250_000_000]);
    // Whole numbers in the thousands read as seconds: a warning, not an error.
    let o = read_with("g.txt", "1200\n3400\n2500\n", None, None);
    assert_eq!(o.sorted, secs(&[1200, 2500, 3400]));
    assert!(o.warnings.iter().any(|w| w.contains("--unit ms")), "{:?}", o.warnings);
}

#[test]
fn reader_names_the_line_of_a_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fail = |name: &str, text: &str, column: Option<&str>| {
        let p = write(d, name, text);
        read(&p, &ReadOptions { column: column.map(String::from), unit: None }).unwrap_err().to_string()
    };
    // Blank lines count: the bad value is on line 4 of the file.
    assert!(fail("a.txt", "1\n\n2\nx2\n", None).ends_with("a.txt:4: `x2` is not a number of seconds"));
    assert!(fail("b.txt", "1\n-3\n", None).contains("b.txt:2: duration -3 must be a non-negative"));
    assert!(fail("c.csv", "a,b\n1,2\n3,\n", Some("b")).contains("c.csv:3: `` is not a number"));
    assert!(fail("c2.csv", "a,b\n1,2\n\n\n3,y\n", Some("b")).contains("c2.csv:5: `y` is not a number"));
    assert!(fail("d.csv", "a,b\n1,2\n", Some("z")).contains("d.csv:1: no column `z`; the header has [a, b]"));
    assert!(fail("e.csv", "1,2\n", Some("b")).contains("e.csv:1: no header row"));
    assert!(fail("f.jsonl", "{\"duration\":1}\n{\"duration\":2\n", None).contains("f.jsonl:2: not a JSON object"));
    assert!(fail("g.jsonl", "{\"duration\":1}\n[1]\n", None).contains("g.jsonl:2: expected one JSON object per line"));
    assert!(fail("h.jsonl", "{\"x\":1}\n", None).contains("h.jsonl:1: no duration in this object"));
    assert!(fail("i.jsonl", "{\"start\":10,\"end\":20}\n\n{\"start\":30,\"end\":20}\n", None)
        .contains("i.jsonl:3: `end` is before `start`"));
    assert!(fail("j.jsonl", "{\"start\":\"2024-05-01T12:00:00Z\",\"end\":\"noon\"}\n", None)
        .contains("j.jsonl:1: `end`: `noon` is not an ISO 8601 timestamp"));
    assert!(fail("k.jsonl", "{\"duration\":1}\n{\"other\":2}\n", None).contains("k.jsonl:2: no field `duration`"));
    assert!(fail("l.txt", "\n\n", None).contains("no durations found"));
    let missing = read(&d.join("nope.txt"), &ReadOptions::default()).unwrap_err().to_string();
    assert!(missing.contains("nope.txt: cannot read"), "{missing}");
}

#[test]
fn the_search_finds_what_the_full_grid_finds() {
    // Crashes make the lease matter for the retry wait, so the budgets cut
    // through the grid; the bisections must land on the full grid's answer.
    let dir = tempfile::tempdir().unwrap();
    let scenario = constant_45(dir.path(), "crash = { mtbf = \"10m\", restart_delay = \"1s\" }");
    let searched = advise(&opts(scenario.clone(), budgets(0.05, 30.0), 2)).unwrap();
    let mut o = opts(scenario, budgets(0.05, 30.0), 2);
    o.exhaustive = true;
    let full = advise(&o).unwrap();
    assert_eq!(full.runs, full.full_grid_runs + 2 * (1 + full.rules.len() as u64), "pilot and rules besides the grid");
    let (s, f) = (searched.recommendation.unwrap(), full.recommendation.unwrap());
    assert_eq!(s.setting, f.setting, "search {} vs full grid {}", s.setting.label(), f.setting.label());
    assert!(searched.runs * 4 < full.runs, "{} vs {}", searched.runs, full.runs);
}

#[test]
fn scenario_empirical_files_use_the_same_reader_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = |file: &str| {
        format!("name = \"e\"\n[run]\nmessages = 1\n[producer]\narrival = {{ kind = \"constant\", interval = \"1s\" }}\n[[workers]]\nname = \"w\"\n[handler]\nduration = {{ kind = \"empirical\", file = \"{file}\", column = \"latency_ms\" }}\n")
    };
    // A scenario's empirical CSV is always in seconds, whatever its header says.
    write(dir.path(), "ok.csv", "id,latency_ms\n1,2.5\n\n2,4\n");
    let path = write(dir.path(), "ok.toml", &scenario("ok.csv"));
    let s = dupsim::Source::load(&path).unwrap().resolve(&[], None).unwrap();
    match &s.handler.steps[0] {
        dupsim::scenario::Step::Delay(dupsim::dist::Dist::Empirical { sorted }) => {
            assert_eq!(sorted, &vec![2_500_000_000, 4 * NS])
        }
        other => panic!("{other:?}"),
    }
    write(dir.path(), "bad.csv", "id,latency_ms\n1,2.5\n\n2,x\n");
    let path = write(dir.path(), "bad.toml", &scenario("bad.csv"));
    let e = dupsim::Source::load(&path).unwrap().resolve(&[], None).unwrap_err().to_string();
    assert!(e.contains("bad.toml:9:") && e.contains("bad.csv:4: `x` is not a number of seconds"), "{e}");
}
