//! SQS FIFO rules of docs/model.md ("SQS FIFO") checked against the
//! documented behaviour: scripted timelines to the nanosecond (expected rows
//! worked out by hand from the rule), deduplication interval edges, quotas,
//! and group order.

mod common;
use common::{assert_rows, run_text, trace_rows};

/// One group, VT 30 s. A receives message 1 at 0 and works 45 s; B polls
/// from 0; message 2 arrives at 1 s. Attempts take 45 s, 20 s, 5 s in order.
const BLOCKING: &str = r#"
name = "fifo-blocking"
[producer]
arrival = { kind = "scripted", at = ["0s", "1s"] }
[queue]
kind = "sqs_fifo"
visibility_timeout = "30s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
[[workers]]
name = "B"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["45s", "20s", "5s"] }
"#;

/// While message 1 is in flight nobody gets message 2 (B stays parked
/// although message 2 is visible); when 1's lease expires at 30 the head comes
/// back first (to B, receive 2); A's delete at 45 with its expired handle
/// fails (InvalidParameterValue) on FIFO; message 2 goes out only once
/// message 1 is deleted at 50.
#[test]
fn a_group_is_blocked_while_its_head_is_in_flight_and_the_head_returns_first() {
    let rows = trace_rows(BLOCKING, &[]);
    assert_rows(
        &rows,
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "1,send,2,,,",
            "30,expire,1,,1,holder still processing",
            "30,receive,1,B,2,",
            "45,effect,1,A,1,",
            "45,delete_error,1,A,1,InvalidParameterValue: the receipt handle has expired",
            "50,duplicate_effect,1,B,2,",
            "50,delete,1,B,2,",
            "50,receive,2,B,1,",
            "55,effect,2,B,1,",
            "55,delete,2,B,1,",
        ],
    );
}

/// The same timeline on a Standard queue: message 2 goes to B at 1 s.
#[test]
fn a_standard_queue_does_not_block_on_groups() {
    let text = BLOCKING.replace("kind = \"sqs_fifo\"", "kind = \"sqs_standard\"");
    let rows = trace_rows(&text, &[]);
    assert_eq!(rows[2..4], ["1,send,2,,,".to_string(), "1,receive,2,B,1,".to_string()]);
}

/// One worker, VT 30 s, the first attempt takes 45 s: on FIFO its delete at
/// 45 fails because the lease ended at 30, so the message comes back (cause
/// after_success) and runs again; on Standard (delete_policy any_handle) the
/// late delete removes it.
#[test]
fn a_delete_with_an_expired_handle_fails_on_fifo() {
    let text = r#"
name = "fifo-expired-delete"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
[queue]
kind = "sqs_fifo"
visibility_timeout = "30s"
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
[handler]
duration = { kind = "sequence", values = ["45s", "1s"] }
"#;
    assert_rows(
        &trace_rows(text, &[]),
        &[
            "0,send,1,,,",
            "0,receive,1,A,1,",
            "30,expire,1,,1,holder still processing",
            "45,effect,1,A,1,",
            "45,delete_error,1,A,1,InvalidParameterValue: the receipt handle has expired",
            "45,receive,1,A,2,",
            "46,duplicate_effect,1,A,2,",
            "46,delete,1,A,2,",
        ],
    );
    let fifo = run_text(text, &[]);
    assert_eq!((fifo.causes.after_success, fifo.duplicate_effects), (1, 1));
    let standard = run_text(&text.replace("sqs_fifo", "sqs_standard"), &[]);
    assert_eq!((standard.causes.after_success, standard.duplicate_effects), (0, 0));
}

/// A worker with 10 slots receives a group's three messages in one batch and
/// runs them one after the other, in order (1 s each), not side by side.
#[test]
fn a_batch_of_one_group_is_processed_in_order() {
    let text = r#"
name = "fifo-batch"
[producer]
arrival = { kind = "scripted", at = ["0s", "0s", "0s"] }
[queue]
kind = "sqs_fifo"
[[workers]]
name = "A"
concurrency = 10
start_at = "1ms"
receive = { max = 10, wait = "20s" }
[handler]
duration = "1s"
"#;
    let effects: Vec<String> =
        trace_rows(text, &[]).into_iter().filter(|r| r.contains(",effect,") || r.contains(",receive,")).collect();
    assert_rows(
        &effects,
        &[
            "0.001,receive,1,A,1,",
            "0.001,receive,2,A,1,",
            "0.001,receive,3,A,1,",
            "1.001,effect,1,A,1,",
            "2.001,effect,2,A,1,",
            "3.001,effect,3,A,1,",
        ],
    );
}

/// Producer retries after a lost send response: inside the 5-minute
/// interval the copy is accepted and dropped; exactly 5 min or later it is
/// a new message (the interval is [t, t + 5m)).
#[test]
fn deduplication_interval_edges_to_the_nanosecond() {
    let text = r#"
name = "fifo-dedup-edges"
[producer]
arrival = { kind = "scripted", at = ["0s"] }
max_send_retries = 1
[queue]
kind = "sqs_fifo"
retention = "1h"
[[workers]]
name = "A"
start_at = "10m"
[handler]
duration = "1s"
[network.send]
response_loss = 1.0
"#;
    let at = |timeout: &str| {
        let s = run_text(text, &[&format!("network.timeout={timeout}")]);
        (s.sent, s.deduplicated.unwrap(), s.producer_duplicates, s.duplicate_effects)
    };
    assert_eq!(at("299999999999ns"), (1, 1, 0, 0), "5 min - 1 ns: removed");
    assert_eq!(at("5m"), (2, 0, 1, 1), "5 min: a new interval");
    assert_eq!(at("300000000001ns"), (2, 0, 1, 1), "5 min + 1 ns: a new message");
    let per_attempt = run_text(&text.replace("[queue]", "[queue]\ndeduplication = \"per_attempt\""), &[]);
    assert_eq!(per_attempt.producer_duplicates, 1, "a fresh id per attempt removes nothing");
}

/// 300 sends a second offered against a quota of 10 per second: no second
/// holds more than 10 accepted sends, and the throttled ones are retried.
#[test]
fn throttling_caps_the_measured_send_rate() {
    let text = r#"
name = "fifo-throttle"
[run]
messages = 200
timeseries_bucket = "1s"
max_sim_time = "1h"
[producer]
arrival = { kind = "constant", rate = 40.0 }
max_send_retries = 100
[queue]
kind = "sqs_fifo"
groups = 50
api_limit_per_s = 10
throttle_retry = "250ms"
[[workers]]
name = "w"
count = 5
concurrency = 10
[handler]
duration = "10ms"
"#;
    let s = run_text(text, &[]);
    let per_second = &s.timeseries.sent;
    assert!(per_second.iter().all(|&n| n <= 10), "sends per second: {per_second:?}");
    assert!(per_second.iter().filter(|&&n| n == 10).count() >= 10, "the quota is used: {per_second:?}");
    let t = s.throttled.unwrap();
    assert!(t.send > 100, "{t:?}");
    assert_eq!(s.final_states.deleted + s.send_gave_up, 200);
}

/// Message 1 fails at 0 s and 1 s (a dependency outage until 1.5 s; each
/// failure hides it for 1 s) and goes to the DLQ on its third receive at 2 s
/// (max_receive_count 2); its group continues without it (messages 2 and 3),
/// and redriven at 1 min its effect comes after theirs: one order violation.
/// Without the DLQ the group waits for message 1 and order holds.
#[test]
fn a_dlq_move_breaks_group_order() {
    let text = r#"
name = "fifo-dlq-order"
[producer]
arrival = { kind = "scripted", at = ["0s", "1s", "2s"] }
[queue]
kind = "sqs_fifo"
visibility_timeout = "5s"
max_receive_count = 2
redrive_at = ["1m"]
[[workers]]
name = "A"
receive = { max = 1, wait = "20s" }
on_failure = { kind = "backoff", base = "1s", max = "1s" }
[handler]
steps = [{ call = "db" }]
[[dependencies]]
name = "db"
latency = "1s"
outages = [{ from = "0s", to = "1500ms", mode = "error" }]
"#;
    let s = run_text(text, &[]);
    assert_eq!(s.order_violations, Some(1), "{}", s.to_text());
    assert_eq!(s.duplicate_effects, 0);
    let no_dlq = run_text(text, &["queue.max_receive_count=1000"]);
    assert_eq!(no_dlq.order_violations, Some(0), "{}", no_dlq.to_text());
}
