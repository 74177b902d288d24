//! The command-line contract: exit codes, error locations, JSON and trace output.

use std::path::Path;
use std::process::{Command, Output};

fn dupsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dupsim")).args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const GOOD: &str = r#"name = "t"
[run]
messages = 20
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "30s"
[[workers]]
name = "w"
[handler]
duration = "1s"
"#;

/// (what is wrong, the file text, the expected line:column, a word the message must contain)
fn bad_inputs() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        ("unknown key", GOOD.replace("name = \"w\"", "name = \"w\"\ncolour = 3"), ":10:1:", "unknown field `colour`"),
        ("negative duration", GOOD.replace("\"30s\"", "\"-30s\""), ":7:22:", "negative"),
        ("VT over 12h", GOOD.replace("\"30s\"", "\"13h\""), ":7:22:", "12h"),
        ("bad unit", GOOD.replace("\"1s\"", "\"1 parsec\""), ":11:", "unit"),
        ("unknown kind", GOOD.replace("poisson", "poison"), ":5:", "poisson"),
        ("syntax", GOOD.replace("messages = 20", "messages = = 20"), ":3:", ""),
        ("probability", GOOD.replace("[queue]", "[queue]\nbroker_duplicate = 1.5"), ":7:20:", "probability"),
        (
            "dangling call",
            GOOD.replace("duration = \"1s\"", "steps = [{ call = \"nope\" }]"),
            ":11:",
            "no dependency named `nope`",
        ),
    ]
}

#[test]
fn bad_inputs_exit_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    for (what, text, at, word) in bad_inputs() {
        let path = write(dir.path(), "s.toml", &text);
        for cmd in ["validate", "run"] {
            let o = dupsim(&[cmd, &path]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{what} ({cmd}): {err}");
            assert!(err.contains(&format!("{path}{at}")), "{what}: location {at} missing in: {err}");
            assert!(err.contains(word), "{what}: `{word}` missing in: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
        }
    }
}

#[test]
fn missing_file_and_bad_flags_exit_2() {
    let o = dupsim(&["run", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/file.toml"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", GOOD);
    for set in ["queue.visibility_timeout=-1s", "queue.nope=1", "queue", "workers.5.count=2"] {
        let o = dupsim(&["run", &path, "--set", set]);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {}", stderr(&o));
        assert!(stderr(&o).contains("--set"), "--set {set}: {}", stderr(&o));
    }
    assert_eq!(dupsim(&["run", &path, "--seed", "x"]).status.code(), Some(2));
    assert_eq!(dupsim(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn json_is_one_object_with_the_contract_keys() {
    let o = dupsim(&["run", "scenarios/seed-timeline.toml", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is only JSON");
    for key in [
        "scenario",
        "seed",
        "sim_time_s",
        "events",
        "sent",
        "deliveries",
        "redeliveries",
        "causes",
        "effects",
        "duplicate_effects",
        "duplicate_rate",
        "final",
        "retry_latency_s",
        "e2e_latency_s",
        "api_calls",
        "cost_usd",
        "perf",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    for (obj, keys) in [
        ("causes", &["concurrent", "after_failure", "after_crash", "after_success", "broker"][..]),
        ("final", &["deleted", "dlq", "expired", "lost", "in_flight", "visible"][..]),
        ("retry_latency_s", &["count", "p50", "p90", "p99", "p999", "max"][..]),
        ("api_calls", &["send", "receive", "empty_receive", "delete", "change_visibility"][..]),
        ("perf", &["wall_s", "events_per_s", "peak_rss_bytes"][..]),
    ] {
        for k in keys {
            assert!(v[obj].get(k).is_some(), "missing {obj}.{k}");
        }
    }
}

#[test]
fn trace_file_is_written_and_runs_repeat_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    for p in [&a, &b] {
        let o = dupsim(&["run", "scenarios/incident.toml", "--trace", p.to_str().unwrap(), "--seed", "3"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(ta.len() > 10_000);
    assert_eq!(ta, tb);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn timeline_chart_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("t.svg");
    let o = dupsim(&["run", "scenarios/seed-timeline.toml", "--timeline", svg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("m1#2"), "{}", &text[..200.min(text.len())]);
}

#[test]
fn check_passes_shipped_scenarios_and_fails_a_broken_one() {
    let o = dupsim(&["check", "scenarios/seed-timeline.toml", "scenarios/incident-fixed.toml"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.lines().last().unwrap().ends_with(" passed, 0 failed"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("scenarios/incident-fixed.toml").unwrap().replace("\"180s\"", "\"30s\"");
    let path = write(dir.path(), "broken.toml", &text);
    let junit = dir.path().join("j.xml");
    let o = dupsim(&["check", &path, "--junit", junit.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL") && out.contains("duplicate_effect") && out.contains("replay: dupsim run"), "{out}");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
    let bad = write(dir.path(), "bad.toml", &format!("{GOOD}[expect]\nduplicate_effects = \"<> 3\"\n"));
    let o = dupsim(&["check", &bad]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("{bad}:13:")), "{}", stderr(&o));
}

/// Every shipped scenario states its point in `[expect]`, and it holds.
/// (The benchmark scenarios under scenarios/bench/ are large; CI checks
/// them with the release binary: `dupsim check scenarios/`.)
#[test]
fn shipped_scenarios_pass_their_expectations() {
    let mut files: Vec<String> = std::fs::read_dir("scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let o = dupsim(&args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    let expectations = out.lines().filter(|l| l.starts_with("PASS")).count();
    for f in &files {
        let name = Path::new(f).file_stem().unwrap().to_string_lossy().into_owned();
        assert!(out.contains(&format!("PASS  {name}:")), "{name} has no expectation:\n{out}");
    }
    assert!(out.lines().last().unwrap() == format!("{expectations} passed, 0 failed"), "{out}");
}

/// Configuration advice that is not an error goes to stderr and into the
/// summary's `warnings`; the run still succeeds.
#[test]
fn warnings_go_to_stderr_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "w.toml", &GOOD.replace("visibility_timeout = \"30s\"", "max_receive_count = 1"));
    let o = dupsim(&["run", &file, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: queue queue: maxReceiveCount = 1"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(1));
    let o = dupsim(&["run", &write(dir.path(), "ok.toml", GOOD), "--json"]);
    assert!(!stderr(&o).contains("warning") && !String::from_utf8_lossy(&o.stdout).contains("warnings"));
}
