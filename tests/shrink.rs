//! Giving message slabs back after a burst (`broker/store.rs`,
//! `Store::shrink`) changes no result: every scenario below gives the same
//! trace and the same summary whether slabs shrink as soon as they hold
//! more than four times their messages or only past the default threshold
//! (16,384 slots beyond that, which these runs never reach). Shrinking
//! moves messages to other slots, so receipt handles issued before must
//! still find them: deletes, visibility changes, acks and nacks below come
//! back with handles from before a move. The forced runs of the small
//! scenarios are also `--paranoid` (every broker's invariants after every
//! event; a minute for the burst alone, so not there).

mod common;
use common::trace_and_summary_of_file;
use dupsim::RunOptions;

/// The trace text and the summary JSON without `perf` of `path` with
/// `sets`, shrinking at once (`forced`) or by default.
fn run(path: &str, sets: &[&str], forced: bool) -> (String, String) {
    let opts = RunOptions {
        shrink_stores_above: forced.then_some(0),
        paranoid: forced && !path.contains("/bench/"),
        ..Default::default()
    };
    trace_and_summary_of_file(path, sets, opts)
}

#[test]
fn shrinking_message_slabs_changes_no_trace_and_no_summary() {
    let cases: &[(&str, &[&str])] = &[
        ("scenarios/seed-timeline.toml", &[]),
        ("scenarios/crash-storm-heartbeat.toml", &["run.messages=2000"]),
        ("scenarios/delete-lost.toml", &["run.messages=2000"]),
        ("scenarios/poison.toml", &["run.messages=2000"]),
        ("scenarios/fifo-group-blocking.toml", &[]),
        ("scenarios/fifo-dedup.toml", &[]),
        ("scenarios/jetstream-backoff.toml", &[]),
        ("scenarios/jetstream-late-ack.toml", &[]),
        ("scenarios/pubsub-lease.toml", &[]),
        ("scenarios/pubsub-ordering-replay.toml", &[]),
        ("scenarios/lambda-partial-batch.toml", &[]),
        ("scenarios/sns-fanout.toml", &[]),
        // Bursts: many messages in flight for minutes, then a drain.
        ("scenarios/bench/b6-inflight.toml", &["run.messages=20000", "workers.count=20", "producer.arrival.rate=120"]),
    ];
    for (path, sets) in cases {
        let (trace_forced, summary_forced) = run(path, sets, true);
        let (trace, summary) = run(path, sets, false);
        assert!(trace.lines().count() > 5, "{path}: the trace is nearly empty");
        assert!(trace_forced == trace, "{path}: the trace differs when slabs shrink");
        assert_eq!(summary_forced, summary, "{path}: the summary differs when slabs shrink");
    }
}
