//! `dupsim theory`: every built-in case passes against its closed form, and
//! the check has teeth: a wrong closed form, or a case run outside the
//! conditions its closed form assumes, is flagged.

use dupsim::theory::{self, Case, ClosedForm};
use dupsim::Override;
use std::process::Command;

fn case(name: &str) -> Case {
    theory::select(&[name.to_string()]).unwrap().remove(0)
}

fn sets(s: &[&str]) -> Vec<Override> {
    s.iter().map(|s| Override::parse(s).unwrap()).collect()
}

#[test]
fn every_case_agrees_with_its_closed_form() {
    let all = theory::cases();
    assert!(all.len() >= 8);
    let outcomes: Vec<_> = all.iter().map(|c| theory::run_case(c, &[], None).unwrap()).collect();
    let report = theory::report(&outcomes);
    assert!(outcomes.iter().all(|o| o.pass), "{report}");
    // Intervals are real intervals around the simulated mean.
    for o in &outcomes {
        assert!(o.low <= o.mean && o.mean <= o.high, "{report}");
    }
}

/// Plausible modelling mistakes, each written as the closed form the
/// simulator would have to match if the mistake were in the model.
#[test]
fn a_wrong_closed_form_is_flagged() {
    let wrong: [(&str, ClosedForm); 6] = [
        // A lease 5% longer than the VT (e.g. counted from the end of the receive call).
        ("expiry-lognormal", |s| {
            let mut s = s.clone();
            s.queues[0].visibility_timeout_ns += s.queues[0].visibility_timeout_ns / 20;
            theory::expiry_fraction(&s)
        }),
        // Ignoring that any handle deletes: the latest_only (geometric) series.
        ("redeliveries-any-handle", |s| {
            let mut s = s.clone();
            s.queues[0].delete_policy = dupsim::scenario::DeletePolicy::LatestOnly;
            theory::redeliveries_idle(&s)
        }),
        // The DLQ move one receive late: f^(M+1).
        ("dlq-fraction", |s| Ok(theory::dlq_fraction(s)? * s.handler.fail_probability)),
        // One redelivery term too many: f + ... + f^M.
        ("dlq-redeliveries", |s| {
            let m = s.queues[0].max_receive_count.unwrap() as i32;
            Ok(theory::dlq_redeliveries(s)? + s.handler.fail_probability.powi(m))
        }),
        // One worker more than the scenario has.
        ("mmc-wait-probability", |_| Ok(theory::erlang_c(11, 8.0))),
        // A retry latency one millisecond off.
        ("retry-latency", |s| Ok(theory::retry_latency(s)? + 0.001)),
    ];
    for (name, form) in wrong {
        let mut c = case(name);
        let right = theory::run_case(&c, &[], None).unwrap();
        c.closed_form = form;
        let o = theory::run_case(&c, &[], None).unwrap();
        assert!(
            right.pass && !o.pass,
            "{name}: the wrong closed form was not flagged:\n{}",
            theory::report(&[right, o])
        );
    }
}

/// With 16 workers at this load a backlog forms: a returning copy waits
/// behind it, the first holder often deletes first, and the idle-worker
/// closed form no longer holds. The check must notice.
#[test]
fn a_case_outside_its_assumptions_is_flagged() {
    let c = case("duplicates-any-handle");
    let o = theory::run_case(&c, &sets(&["workers.count=16"]), None).unwrap();
    assert!(!o.pass, "{}", theory::report(&[o]));
}

#[test]
fn overrides_move_the_closed_form_with_the_simulation() {
    let c = case("expiry-exponential");
    let o =
        theory::run_case(&c, &sets(&["handler.duration={ kind = \"exponential\", mean = \"20s\" }"]), None).unwrap();
    assert!((o.closed_form - (-1.5f64).exp()).abs() < 1e-12);
    assert!(o.pass, "{}", theory::report(&[o]));
    // A closed form that does not apply is bad input, not a failed check.
    let e = theory::run_case(&c, &sets(&["handler.duration={ kind = \"sequence\", values = [\"1s\"] }"]), None)
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
}

#[test]
fn the_command_exits_1_on_a_failure_and_2_on_an_unknown_case() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_dupsim")).args(args).output().unwrap();
    let ok = run(&["theory", "dlq-fraction", "dlq-redeliveries"]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{out}");
    assert!(out.contains("dlq-fraction") && out.contains("2 passed, 0 failed"), "{out}");
    let fail = run(&["theory", "duplicates-any-handle", "--set", "workers.count=16"]);
    assert_eq!(fail.status.code(), Some(1), "{}", String::from_utf8_lossy(&fail.stdout));
    let unknown = run(&["theory", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("expiry-lognormal"));
}
