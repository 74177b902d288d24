//! Golden summaries: optimisations must not change results.
//!
//! These files are *regression* guards, not correctness checks (correctness
//! is checked against theory in core.rs and faults.rs): each is the summary
//! JSON (without `perf`) of a scenario as recorded when its behaviour was
//! last changed on purpose. A change to the event loop, the queue or the
//! random streams that alters any number fails here. After an intended
//! behaviour change, raise `dupsim::MODEL_VERSION`, regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test golden` and say why in the commit
//! message. `tests/golden/MODEL_VERSION` records the model version and a hash
//! of the golden files it produced: new goldens under the same version are
//! refused (a resumed sweep would mix two models' results).

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

/// FNV-1a 64 of the golden texts, in `CASES` order.
fn hash_of(texts: &[String]) -> String {
    let mut h = dupsim::rng::Fnv1a::new();
    for t in texts {
        h.feed(t.as_bytes());
        h.feed(&[0]);
    }
    format!("{:016x}", h.finish())
}

const RECORD: &str = "tests/golden/MODEL_VERSION";

#[test]
fn summaries_match_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    let mut texts = Vec::new();
    for (name, path, sets) in CASES {
        let text = std::fs::read_to_string(path).unwrap();
        let mut v = run_text(&text, sets).to_json();
        v.as_object_mut().unwrap().remove("perf");
        let got = serde_json::to_string_pretty(&v).unwrap() + "\n";
        texts.push(got.clone());
        let golden = format!("tests/golden/{name}.json");
        if update {
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(_) => mismatches.push(format!("{name}: summary differs from {golden}")),
            Err(_) => mismatches.push(format!("{name}: {golden} missing (UPDATE_GOLDEN=1 to record)")),
        }
    }
    let record = format!("{} {}\n", dupsim::MODEL_VERSION, hash_of(&texts));
    let recorded = std::fs::read_to_string(RECORD).unwrap_or_default();
    if update {
        let old_version = recorded.split_whitespace().next().unwrap_or("");
        assert!(
            recorded == record || old_version != dupsim::MODEL_VERSION.to_string(),
            "the golden summaries change but dupsim::MODEL_VERSION is still {old_version}: raise it (src/lib.rs)"
        );
        for ((name, _, _), text) in CASES.iter().zip(&texts) {
            std::fs::write(format!("tests/golden/{name}.json"), text).unwrap();
        }
        std::fs::write(RECORD, &record).unwrap();
        return;
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(
        recorded, record,
        "{RECORD} is out of date: regenerate with UPDATE_GOLDEN=1 (and raise dupsim::MODEL_VERSION if results changed)"
    );
}
