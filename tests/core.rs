//! The core engine against the canonical timeline, theory, and determinism.

mod common;
use common::*;
use dupsim::dist::Dist;
use dupsim::duration::NS_PER_S;
use dupsim::trace::{MemoryBuffer, Trace};

fn trace_of(path: &str) -> String {
    let source = dupsim::Source::load(std::path::Path::new(path)).unwrap();
    let scenario = source.resolve(&[], None).unwrap();
    let buf = MemoryBuffer::default();
    let opts = dupsim::RunOptions { trace: Some(Trace::new(Box::new(buf.clone()))), ..Default::default() };
    let (_, trace) = dupsim::run(&scenario, opts).unwrap();
    trace.unwrap().finish().unwrap();
    buf.text()
}

/// The story of the README: t=0 A receives, t=30 the lease expires,
/// t=31 B receives, t=45 A commits and deletes, t=60 B commits again and its
/// delete finds the message gone.
#[test]
fn seed_timeline_is_reproduced_exactly() {
    let text = trace_of("scenarios/seed-timeline.toml");
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').take(5).collect()).collect();
    let expected: Vec<Vec<&str>> = [
        "0,send,1,,",
        "0,receive,1,A,1",
        "30,expire,1,,1",
        "31,receive,1,B,2",
        "45,effect,1,A,1",
        "45,delete,1,A,1",
        "60,duplicate_effect,1,B,2",
        "60,delete_stale,1,B,2",
    ]
    .iter()
    .map(|l| l.split(',').collect())
    .collect();
    assert_eq!(rows, expected, "trace:\n{text}");
    assert_eq!(text.lines().next().unwrap(), "t_s,event,msg,worker,receive,detail");
}

#[test]
fn seed_timeline_summary_counts_one_concurrent_duplicate() {
    let s = dupsim::run_file(std::path::Path::new("scenarios/seed-timeline.toml"), &[], None).unwrap();
    assert_eq!((s.sent, s.deliveries, s.redeliveries), (1, 2, 1));
    assert_eq!(s.causes.concurrent, 1);
    assert_eq!((s.effects, s.duplicate_effects), (2, 1));
    assert_eq!(s.sim_time_s, 60.0);
}

#[test]
fn latest_only_keeps_the_message_after_a_stale_delete() {
    // Under the documented contract A's stale delete does nothing; B's current
    // handle deletes at 60.
    let text = std::fs::read_to_string("scenarios/seed-timeline.toml").unwrap();
    let s = run_text(&text, &["queue.delete_policy=latest_only"]);
    assert_eq!((s.final_states.deleted, s.duplicate_effects), (1, 1));
    let s = run_text(&text, &["queue.delete_policy=strict"]);
    assert_eq!((s.final_states.deleted, s.duplicate_effects), (1, 1));
}

#[test]
fn the_fix_has_no_duplicates_and_the_incident_has_many() {
    let bad = dupsim::run_file(std::path::Path::new("scenarios/incident.toml"), &[], None).unwrap();
    let good = dupsim::run_file(std::path::Path::new("scenarios/incident-fixed.toml"), &[], None).unwrap();
    assert!(bad.duplicate_effects > 50 && bad.causes.concurrent > 50, "{}", bad.to_text());
    assert_eq!((good.duplicate_effects, good.redeliveries), (0, 0), "{}", good.to_text());
    assert_eq!(good.final_states.deleted, good.sent);
}

#[test]
fn same_seed_same_json_other_seed_differs() {
    let path = std::path::Path::new("scenarios/incident.toml");
    let a = dupsim::run_file(path, &[], None).unwrap();
    let b = dupsim::run_file(path, &[], None).unwrap();
    let c = dupsim::run_file(path, &[], Some(8)).unwrap();
    assert_eq!(json_without_perf(&a), json_without_perf(&b));
    assert_ne!(json_without_perf(&a), json_without_perf(&c));
}

#[test]
fn adding_a_worker_does_not_move_the_producers_arrivals() {
    let text = std::fs::read_to_string("scenarios/incident.toml").unwrap();
    let a = run_text(&text, &[]);
    let b = run_text(&text, &["workers.count=41"]);
    // The runs may end in different buckets (more workers drain sooner):
    // compare the arrivals, not the empty buckets after the last one.
    let arrivals = |v: &[u64]| v[..v.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1)].to_vec();
    assert_eq!(arrivals(&a.timeseries.sent), arrivals(&b.timeseries.sent));
    assert!(a.timeseries.sent.iter().sum::<u64>() > 0);
    assert_ne!(json_without_perf(&a), json_without_perf(&b));
}

const IDLE: &str = r#"
name = "idle"
seed = 3
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[queue]
visibility_timeout = "30s"
[[workers]]
name = "w"
count = 200
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "lognormal", median = "12s", p99 = "45s" }
"#;

/// With no heartbeat and idle workers, each delivery's lease runs out under
/// it exactly when its processing time exceeds VT.
#[test]
fn premature_expiry_fraction_matches_the_lognormal_tail() {
    let s = run_text(IDLE, &[]);
    let p = Dist::lognormal(12 * NS_PER_S, 45 * NS_PER_S).survival(30 * NS_PER_S).unwrap();
    assert_binomial(s.premature_expiries, s.deliveries, p, 4.0, "premature expiries");
    // Idle workers are always parked on a long poll, so every premature
    // expiry is redelivered at once, to another worker: a `concurrent` cause.
    assert!(s.premature_expiries > 0);
    assert_eq!(s.causes.concurrent, s.premature_expiries);
    assert_eq!(s.redeliveries, s.causes.concurrent);
}

#[test]
fn premature_expiry_fraction_matches_the_exponential_tail() {
    let s = run_text(IDLE, &["handler.duration={ kind = \"exponential\", mean = \"10s\" }"]);
    let p = (-3.0f64).exp();
    assert_binomial(s.premature_expiries, s.deliveries, p, 4.0, "premature expiries (exponential)");
}

/// With failure probability f per attempt and max_receive_count M, a message
/// reaches the DLQ with probability f^M.
#[test]
fn dlq_fraction_is_f_to_the_m() {
    for (f, m) in [(0.5, 3u32), (0.3, 2), (0.8, 5)] {
        let text = r#"
name = "dlq"
seed = 5
[run]
messages = 20000
[producer]
arrival = { kind = "poisson", rate = 50.0 }
[queue]
visibility_timeout = "10m"
[[workers]]
name = "w"
count = 20
concurrency = 10
on_failure = { kind = "release" }
[handler]
duration = "100ms"
"#;
        let s = run_text(text, &[&format!("handler.fail_probability={f}"), &format!("queue.max_receive_count={m}")]);
        assert_binomial(s.final_states.dlq, s.sent, f64::powi(f, m as i32), 4.0, &format!("dlq f={f} M={m}"));
        let d = s.dlq_deliveries.expect("some DLQ");
        assert_eq!((d.min, d.max), (m, m));
        assert_eq!(s.duplicate_effects, 0);
    }
}

#[test]
fn poison_messages_reach_the_dlq_after_exactly_max_receive_count() {
    let s = dupsim::run_file(std::path::Path::new("scenarios/poison.toml"), &[], None).unwrap();
    let d = s.dlq_deliveries.expect("poison reached the DLQ");
    assert_eq!((d.min, d.max), (3, 3));
    assert_binomial(s.final_states.dlq, s.sent, 0.02, 4.0, "poison fraction");
    assert_eq!(s.final_states.dlq + s.final_states.deleted, s.sent);
}

#[test]
fn retention_expires_messages_nobody_receives() {
    let text = r#"
name = "retention"
[run]
messages = 10
[producer]
arrival = { kind = "constant", interval = "1s" }
[queue]
retention = "1m"
[[workers]]
name = "late"
start_at = "2m"
[handler]
duration = "1s"
"#;
    let s = run_text(text, &[]);
    assert_eq!(s.final_states.expired, 10);
    assert_eq!(s.deliveries, 0);
}

#[test]
fn send_delay_postpones_the_first_receive() {
    let text = r#"
name = "delay"
[run]
messages = 1
[producer]
arrival = { kind = "constant", interval = "1s" }
delay = "90s"
[[workers]]
name = "w"
[handler]
duration = "1s"
"#;
    let s = run_text(text, &[]);
    assert_eq!(s.e2e_latency_s.p50, 91.0);
}

#[test]
fn time_limit_reports_in_flight_and_visible() {
    let text = std::fs::read_to_string("scenarios/incident.toml").unwrap();
    let s = run_text(&text, &["run.max_sim_time=10m"]);
    assert_eq!(s.stop_reason, "time_limit");
    assert!(s.final_states.in_flight + s.final_states.visible > 0, "{}", s.to_text());
    assert_eq!(s.final_states.total(), s.sent);
}

#[test]
fn event_limit_stops_a_runaway_run_with_a_message() {
    let text = std::fs::read_to_string("scenarios/incident.toml").unwrap();
    let e = try_run_text(&text, &["run.max_events=1000"]).unwrap_err();
    assert!(e.to_string().contains("run.max_events"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn heartbeat_twelve_hour_cap_is_enforced() {
    let text = r#"
name = "cap"
[run]
messages = 1
[producer]
arrival = { kind = "constant", interval = "1s" }
[queue]
visibility_timeout = "1h"
delete_policy = "any_handle"
[[workers]]
name = "w"
count = 2
heartbeat = { kind = "fixed", interval = "30m", extend = "1h" }
[handler]
duration = "13h"
"#;
    let s = run_text(text, &[]);
    // The lease cannot pass 12 h after the receive, so a 13 h job is received
    // again by the idle worker at 12 h, and both commit.
    assert_eq!(s.causes.concurrent, 1);
    assert_eq!(s.duplicate_effects, 1);
}

#[test]
fn in_flight_cap_turns_receives_away_and_slows_the_queue() {
    let text = std::fs::read_to_string("scenarios/incident.toml").unwrap();
    let free = run_text(&text, &[]);
    let capped = run_text(&text, &["queue.inflight_limit=5"]);
    assert_eq!(free.over_limit, 0);
    assert!(capped.over_limit > 0, "{}", capped.to_text());
    assert_eq!(capped.final_states.deleted, capped.sent);
    // Five messages at a time with a 12 s median: the backlog takes hours.
    assert!(capped.e2e_latency_s.p50 > 10.0 * free.e2e_latency_s.p50, "{}", capped.to_text());
}
