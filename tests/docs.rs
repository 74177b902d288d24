//! The documentation a user gets with a clone: it names no file outside the
//! repository, its relative links resolve, and docs/output.md lists every
//! summary key a real run emits and every trace event name.

use std::path::{Path, PathBuf};

/// README.md, ARCHITECTURE.md and every docs/*.md.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("ARCHITECTURE.md")];
    for entry in std::fs::read_dir("docs").unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            files.push(p);
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    files
}

#[test]
fn docs_name_no_path_outside_the_repository() {
    for f in doc_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for bad in ["../", "/work/", "shared/SEMANTICS", "shared/INTERFACE", "shared/BROKERS"] {
                assert!(!line.contains(bad), "{}:{}: names a path outside the repository: {line}", f.display(), n + 1);
            }
        }
    }
}

/// Markdown links `[text](target)` to a relative path must point at a file
/// in the repository.
#[test]
fn relative_links_resolve() {
    for f in doc_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let dir = f.parent().unwrap_or(Path::new(""));
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            assert!(dir.join(target).exists(), "{}: link to `{target}` does not resolve", f.display());
        }
    }
}

/// Every key of a real run's summary JSON, at any depth.
fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
    if let serde_json::Value::Object(map) = v {
        for (k, x) in map {
            out.push(k.clone());
            keys(x, out);
        }
    }
}

#[test]
fn output_doc_lists_every_summary_key() {
    let doc = std::fs::read_to_string("docs/output.md").unwrap();
    // poison.toml reaches the DLQ, so `dlq_deliveries` has its inner keys.
    let s = dupsim::run_file(Path::new("scenarios/poison.toml"), &[], None).unwrap();
    let mut all = Vec::new();
    keys(&s.to_json(), &mut all);
    assert!(all.len() > 60 && all.iter().any(|k| k == "min"), "{all:?}");
    // A Pub/Sub subscription with ordering adds `ordering_replays`.
    let s = dupsim::run_file(Path::new("scenarios/pubsub-ordering-replay.toml"), &[], None).unwrap();
    keys(&s.to_json(), &mut all);
    assert!(all.iter().any(|k| k == "ordering_replays"), "{all:?}");
    let missing: Vec<&String> = all.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "summary keys missing from docs/output.md: {missing:?}");
}

/// The NATS keys (`nats`), from a scenario with both NATS kinds.
#[test]
fn output_doc_lists_the_nats_summary_keys() {
    let doc = std::fs::read_to_string("docs/output.md").unwrap();
    let s = dupsim::run_file(Path::new("scenarios/nats-slow-consumer.toml"), &[], None).unwrap();
    let mut all = Vec::new();
    keys(&s.to_json()["nats"], &mut all);
    assert!(all.iter().any(|k| k == "slow_consumer_episodes") && all.iter().any(|k| k == "nak"), "{all:?}");
    let missing: Vec<&String> = all.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "summary keys missing from docs/output.md: {missing:?}");
}

#[test]
fn output_doc_lists_every_trace_event() {
    let doc = std::fs::read_to_string("docs/output.md").unwrap();
    for kind in dupsim::trace::Kind::ALL {
        let row = format!("| `{}` |", kind.name());
        assert!(doc.contains(&row), "trace event `{}` has no row in docs/output.md", kind.name());
    }
    assert!(doc.contains(dupsim::trace::HEADER));
}
