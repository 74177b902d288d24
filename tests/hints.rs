//! Cache hints (`prefetch.rs`, `World::hints`) change no result: every
//! scenario below gives the same trace and the same summary with hints
//! forced on and forced off. By default hints start only once a model holds
//! more than 8 MiB or its workers and slots more than 1 MiB, which most tests
//! do not reach, so without this test their code would hardly run in one.

mod common;
use common::trace_and_summary_of_file;
use dupsim::RunOptions;

/// The trace text and the summary JSON without `perf` of `path` with
/// `sets`, hints on or off.
fn run(path: &str, sets: &[&str], hints: bool) -> (String, String) {
    trace_and_summary_of_file(path, sets, RunOptions { cache_hints: Some(hints), ..Default::default() })
}

#[test]
fn hints_change_no_trace_and_no_summary() {
    let cases: &[(&str, &[&str])] = &[
        ("scenarios/seed-timeline.toml", &[]),
        ("scenarios/crash-storm-heartbeat.toml", &["run.messages=2000"]),
        ("scenarios/fifo-group-blocking.toml", &[]),
        ("scenarios/jetstream-backoff.toml", &[]),
        ("scenarios/pubsub-lease.toml", &[]),
        ("scenarios/pubsub-ordering-replay.toml", &[]),
        ("scenarios/nats-slow-consumer.toml", &[]),
        ("scenarios/lambda-partial-batch.toml", &[]),
        ("scenarios/sns-fanout.toml", &[]),
        // Parked long polls served one after another (the waiter hints),
        // and many slots per worker (the free-slot hint).
        (
            "scenarios/bench/b5-workers.toml",
            &["run.messages=20000", "workers.count=2000", "producer.arrival.rate=1495"],
        ),
        ("scenarios/bench/b6-inflight.toml", &["run.messages=20000", "workers.count=20", "producer.arrival.rate=120"]),
    ];
    for (path, sets) in cases {
        let (trace_on, summary_on) = run(path, sets, true);
        let (trace_off, summary_off) = run(path, sets, false);
        assert!(trace_on.lines().count() > 5, "{path}: the trace is nearly empty");
        assert!(trace_on == trace_off, "{path}: the trace differs with cache hints");
        assert_eq!(summary_on, summary_off, "{path}: the summary differs with cache hints");
    }
}
