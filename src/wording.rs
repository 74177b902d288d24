//! Serde's and toml's error messages in the scenario's words.
//!
//! The schema in `config/` is serde-derived, so its errors speak Rust:
//! "expected u64", "internally tagged enum RawOnFailure", "struct RawRun".
//! [`humanize`] rewrites them in terms of the file ("a whole number", "a
//! table with `kind`", "the [run] table") and adds the nearest accepted key
//! or value to an unknown one ("did you mean `visibility_timeout`?"). The
//! phrases `unknown field` and `unknown variant` are kept: scripts and tests
//! match them.

/// Rewrite a deserialisation message for a scenario's author.
pub fn humanize(message: &str) -> String {
    let mut m = message.to_string();
    if let Some(hint) = suggestion(&m) {
        m = insert_hint(&m, &hint);
    }
    for (rust, words) in TYPES {
        m = m.replace(rust, words);
    }
    m = rewrite_found(&m);
    m
}

/// Rust type names as the scenario's author knows them. Longest first where
/// one is a prefix of another.
const TYPES: &[(&str, &str)] = &[
    ("expected internally tagged enum RawOnFailure", "expected a table with `kind` = \"expire\", \"release\" or \"backoff\", e.g. { kind = \"release\" }"),
    ("expected internally tagged enum RawArrival", "expected a table with `kind` = \"constant\", \"poisson\" or \"scripted\", e.g. { kind = \"poisson\", rate = 2.0 }"),
    ("expected internally tagged enum RawDistKind", "expected a table with `kind` = \"constant\", \"sequence\", \"uniform\", \"exponential\", \"lognormal\", \"pareto\" or \"empirical\""),
    ("expected internally tagged enum", "expected a table with `kind`"),
    ("expected struct RawScenario", "expected a scenario file (TOML tables such as [run], [producer], [[workers]], [handler])"),
    ("expected struct RawRun", "expected the [run] table, e.g. [run] messages = 1000"),
    ("expected struct RawProducer", "expected the [producer] table, e.g. [producer] arrival = { kind = \"poisson\", rate = 2.0 }"),
    ("expected struct RawQueue", "expected the [queue] table, e.g. [queue] visibility_timeout = \"30s\""),
    ("expected struct RawWorkers", "expected a [[workers]] table, e.g. [[workers]] name = \"w\""),
    ("expected struct RawReceive", "expected a table such as { max = 10, wait = \"20s\" }"),
    ("expected struct RawHeartbeat", "expected a table such as { interval = \"10s\", extend = \"30s\" }"),
    ("expected struct RawCrash", "expected a table such as { mtbf = \"1h\", restart_delay = \"10s\" }"),
    ("expected struct RawHandler", "expected the [handler] table, e.g. [handler] duration = \"1s\""),
    ("expected struct RawStep", "expected a step table such as { delay = \"1s\" } or { call = \"db\" }"),
    ("expected struct RawDependency", "expected a [[dependencies]] table, e.g. name = \"db\", latency = \"20ms\""),
    ("expected struct RawBrownout", "expected a table such as { from = \"10m\", to = \"20m\", latency_multiplier = 5.0 }"),
    ("expected struct RawOutage", "expected a table such as { from = \"10m\", to = \"20m\", mode = \"error\" }"),
    ("expected struct RawNetwork", "expected the [network] table"),
    ("expected struct RawLink", "expected a table such as { loss = 0.01, latency = \"5ms\" }"),
    ("expected struct RawIdempotency", "expected the [idempotency] table, e.g. [idempotency] strategy = \"atomic\""),
    ("expected struct", "expected a table"),
    ("number too large to fit in target type", "a whole number too large for TOML (at most 9223372036854775807)"),
    ("expected u64", "expected a whole number, 0 or more"),
    ("expected u32", "expected a whole number from 0 to 4294967295"),
    ("expected usize", "expected a whole number, 0 or more"),
    ("expected i64", "expected a whole number"),
    ("expected f64", "expected a number"),
    ("expected a sequence", "expected a list [ ... ]"),
    ("expected a map", "expected a table"),
];

/// "invalid type: integer `5`, expected ..." -> "found 5 (a whole number),
/// expected ..."; "invalid value: integer `-1`" -> "-1 is not allowed".
fn rewrite_found(m: &str) -> String {
    let found = |what: &str| -> Option<String> {
        let (kind, rest) = what.split_once(' ').unwrap_or((what, ""));
        let value = rest.trim_matches('`');
        Some(match kind {
            "integer" => format!("the whole number {value}"),
            "floating" => format!("the number {}", rest.trim_start_matches("point ").trim_matches('`')),
            "string" => format!("the string {value}"),
            "boolean" => format!("the boolean {value}"),
            "sequence" => "a list".into(),
            "map" => "a table".into(),
            _ => return None,
        })
    };
    for (prefix, verb) in [("invalid type: ", "found"), ("invalid value: ", "cannot use")] {
        if let Some(rest) = m.strip_prefix(prefix) {
            if let Some((what, expected)) = rest.split_once(", expected ") {
                if let Some(f) = found(what) {
                    return format!("{verb} {f}; expected {expected}");
                }
            }
        }
    }
    m.to_string()
}

/// For "unknown field `x`, expected one of `a`, `b`" (or `unknown
/// variant`), the nearest accepted name, if it is close.
fn suggestion(m: &str) -> Option<String> {
    let rest = m.strip_prefix("unknown field `").or_else(|| m.strip_prefix("unknown variant `"))?;
    let (name, rest) = rest.split_once('`')?;
    let accepted: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    nearest(name, &accepted).map(|n| format!("did you mean `{n}`?"))
}

fn insert_hint(m: &str, hint: &str) -> String {
    match m.split_once(", expected") {
        Some((head, tail)) => format!("{head} ({hint}); expected{tail}"),
        None => format!("{m} ({hint})"),
    }
}

/// The accepted name closest to `name` by edit distance, if it is within
/// a third of the name's length (at least 2 edits), or differs only in case,
/// `-`/`_` or a missing/extra `s`.
pub fn nearest<'a>(name: &str, accepted: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let n = norm(name);
    let best = accepted.iter().map(|a| (edit_distance(&n, &norm(a)), *a)).min_by_key(|(d, _)| *d)?;
    let limit = (name.chars().count() / 3).max(2);
    (best.0 <= limit && best.0 < name.chars().count().max(1)).then_some(best.1)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_words_become_scenario_words() {
        for (rust, needle) in [
            (
                "invalid value: integer `-1`, expected u64",
                "cannot use the whole number -1; expected a whole number, 0 or more",
            ),
            ("invalid type: string \"x\", expected u64", "found the string \"x\"; expected a whole number"),
            (
                "invalid type: floating point `1.5`, expected u32",
                "found the number 1.5; expected a whole number from 0",
            ),
            (
                "invalid type: string \"release\", expected internally tagged enum RawOnFailure",
                "expected a table with `kind` = \"expire\", \"release\" or \"backoff\"",
            ),
            ("invalid type: integer `5`, expected struct RawRun", "found the whole number 5; expected the [run] table"),
        ] {
            let h = humanize(rust);
            assert!(h.contains(needle), "{rust} -> {h}");
            for word in ["u64", "u32", "Raw", "internally tagged", "struct"] {
                assert!(!h.contains(word), "{rust} -> {h}");
            }
        }
    }

    #[test]
    fn typos_get_the_nearest_key() {
        let m = "unknown field `visiblity_timeout`, expected one of `kind`, `visibility_timeout`, `retention`";
        let h = humanize(m);
        assert!(
            h.starts_with("unknown field `visiblity_timeout` (did you mean `visibility_timeout`?); expected one of"),
            "{h}"
        );
        let h = humanize("unknown variant `fixd`, expected one of `none`, `fixed`, `adaptive`");
        assert!(h.contains("did you mean `fixed`?"), "{h}");
        assert!(humanize("unknown field `rat`, expected `rate`").contains("did you mean `rate`?"));
        // Nothing close: no guess.
        assert!(!humanize("unknown field `colour`, expected one of `name`, `count`").contains("did you mean"));
        assert_eq!(nearest("workres", &["workers", "queue"]), Some("workers"));
        assert_eq!(nearest("x", &["y"]), None);
    }
}
