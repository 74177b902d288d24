//! Golden summaries: optimisations must not change results.
//!
//! These files are *regression* guards, not correctness checks (correctness
//! is checked against theory in core.rs and faults.rs): each is the summary
//! JSON (without `perf`) of a scenario as recorded when its behaviour was
//! last changed on purpose. A change to the event loop, the queue or the
//! random streams that alters any number fails here. After an intended
//! behaviour change, regenerate with `UPDATE_GOLDEN=1 cargo test --test golden`
//! and say why in the commit message.

mod common;
use common::*;

const CASES: &[(&str, &str, &[&str])] = &[
    ("seed-timeline", "scenarios/seed-timeline.toml", &[]),
    ("incident", "scenarios/incident.toml", &[]),
    ("poison", "scenarios/poison.toml", &[]),
    ("delete-lost", "scenarios/delete-lost.toml", &[]),
    ("racy-idempotency", "scenarios/racy-idempotency.toml", &[]),
    ("brownout", "scenarios/brownout.toml", &[]),
    ("crash-storm-heartbeat", "scenarios/crash-storm-heartbeat.toml", &[]),
    ("b1-baseline-50k", "scenarios/bench/b1-baseline.toml", &["run.messages=50000"]),
    ("b2-faults-50k", "scenarios/bench/b2-faults.toml", &["run.messages=50000"]),
];

#[test]
fn summaries_match_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for (name, path, sets) in CASES {
        let text = std::fs::read_to_string(path).unwrap();
        let mut v = run_text(&text, sets).to_json();
        v.as_object_mut().unwrap().remove("perf");
        let got = serde_json::to_string_pretty(&v).unwrap() + "\n";
        let golden = format!("tests/golden/{name}.json");
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(_) => mismatches.push(format!("{name}: summary differs from {golden}")),
            Err(_) => mismatches.push(format!("{name}: {golden} missing (UPDATE_GOLDEN=1 to record)")),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
